package ring

import (
	"fmt"
	"sync/atomic"
)

// MPSC is a bounded lock-free ring for any number of producer goroutines and
// one consumer goroutine: Dmitry Vyukov's bounded MPMC queue (per-slot
// sequence numbers, producers claim a slot with one CAS on tail) used with a
// single consumer, so Pop needs no CAS. STT uses it where several API
// goroutines hand batches or commands to one loop.
//
// Push and Pop never block and never allocate; a full ring makes Push return
// false. Any goroutine may call Push; only one goroutine may call Pop; Len and
// Cap may be called from anywhere. Elements from one producer come out in the
// order that producer pushed them; elements from different producers
// interleave in the order their Pushes claimed slots. A Push that has claimed
// a slot but not yet published it makes Pop report empty until it finishes;
// with the Notify protocol that producer's Signal then wakes the consumer, so
// no element is stranded. Popped slots are cleared.
//
// Slots are not padded to cache lines: elements are batches, so a slot is
// touched once per batch, and padding would multiply the ring's size by up to
// 16. The zero MPSC is not usable; create one with NewMPSC.
type MPSC[T any] struct {
	_ pad

	tail atomic.Uint64 // next index producers claim
	_    pad

	head atomic.Uint64 // next index to pop; written only by the consumer
	_    pad

	// Read-only after NewMPSC.
	mask  uint64
	slots []mpscSlot[T]
}

// mpscSlot is one cell. seq == index means free for the producer claiming
// index; seq == index+1 means full, ready for the consumer at index; the
// consumer then sets seq = index+capacity, freeing it for the next lap.
type mpscSlot[T any] struct {
	seq atomic.Uint64
	val T
}

// NewMPSC returns an empty ring holding up to capacity elements, rounded up to
// a power of two. It panics if capacity is less than 1 or greater than 1<<30
// (an STT configuration bug).
func NewMPSC[T any](capacity int) *MPSC[T] {
	n := ringSize(capacity)
	q := &MPSC[T]{mask: uint64(n - 1), slots: make([]mpscSlot[T], n)}
	for i := range q.slots {
		q.slots[i].seq.Store(uint64(i))
	}
	return q
}

// Push appends v and reports true, or reports false without blocking if the
// ring is full. Safe for concurrent use by many producers; lock-free (a
// failed CAS means another producer made progress). Ownership of what v
// points to passes to the consumer.
func (q *MPSC[T]) Push(v T) bool {
	pos := q.tail.Load()
	for {
		s := &q.slots[pos&q.mask]
		seq := s.seq.Load()
		switch d := int64(seq - pos); {
		case d == 0: // slot free for this lap: try to claim it
			if q.tail.CompareAndSwap(pos, pos+1) {
				s.val = v
				s.seq.Store(pos + 1) // publish to the consumer
				return true
			}
			pos = q.tail.Load()
		case d < 0: // slot still holds the previous lap's element: full
			return false
		default: // another producer claimed pos; catch up
			pos = q.tail.Load()
		}
	}
}

// Pop removes and returns the oldest published element, or the zero T and
// false without blocking if none is ready. Only the consumer goroutine may
// call Pop. The slot is cleared, so the ring no longer references the value.
func (q *MPSC[T]) Pop() (T, bool) {
	var zero T
	pos := q.head.Load() // only this goroutine writes head
	s := &q.slots[pos&q.mask]
	if s.seq.Load() != pos+1 {
		return zero, false // empty, or the producer of pos has not published yet
	}
	v := s.val
	s.val = zero
	s.seq.Store(pos + q.mask + 1) // free the slot for the next lap
	q.head.Store(pos + 1)
	return v, true
}

// Len returns the number of elements pushed (or being pushed) and not yet
// popped. Called concurrently it is a snapshot that may be stale at once; it
// is always within [0, Cap].
func (q *MPSC[T]) Len() int {
	h := q.head.Load()
	t := q.tail.Load() // loaded after head, so t >= h
	return int(min(t-h, q.mask+1))
}

// Cap returns the ring's capacity: the requested capacity rounded up to a
// power of two.
func (q *MPSC[T]) Cap() int { return int(q.mask + 1) }

// maxRingCap bounds ring capacities: far beyond any batch queue STT needs,
// and small enough that rounding up to a power of two cannot overflow.
const maxRingCap = 1 << 30

// ringSize rounds capacity up to a power of two; it panics outside
// [1, maxRingCap] (a capacity is the caller's constant, never peer input).
func ringSize(capacity int) int {
	if capacity < 1 || capacity > maxRingCap {
		panic(fmt.Sprintf("ring: capacity %d outside [1, %d]", capacity, maxRingCap))
	}
	n := 1
	for n < capacity {
		n <<= 1
	}
	return n
}
