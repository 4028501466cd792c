package ring

import (
	"fmt"
	"sync/atomic"
)

// maxRingCap bounds ring capacities: far beyond any batch queue STT needs,
// and small enough that rounding up to a power of two cannot overflow.
const maxRingCap = 1 << 30

// SPSC is a bounded lock-free ring for exactly one producer goroutine and one
// consumer goroutine. STT passes batches through it (T is typically a pointer
// such as *batch.Batch), so one Push moves a whole recvmmsg/sendmmsg batch.
//
// Push and Pop never block and never allocate; a full ring makes Push return
// false and the producer decides whether to drop, retry or back off. Only one
// goroutine may call Push and only one (possibly another) may call Pop; Len
// and Cap may be called from anywhere. The head and tail indices sit on
// separate cache lines, and each side keeps a private cached copy of the
// other side's index so that a Push or Pop touches the shared line only when
// the ring looks full or empty. Popped slots are cleared, so the ring keeps no
// popped value reachable. Use Notify to wake a sleeping consumer.
//
// The zero SPSC is not usable; create one with NewSPSC.
type SPSC[T any] struct {
	_ pad

	// Consumer line: written only by the consumer.
	head       atomic.Uint64 // next index to pop
	cachedTail uint64        // consumer's last view of tail
	_          [cacheLineSize - 16]byte

	// Producer line: written only by the producer.
	tail       atomic.Uint64 // next index to push
	cachedHead uint64        // producer's last view of head
	_          [cacheLineSize - 16]byte

	// Read-only after NewSPSC.
	mask uint64
	buf  []T
}

// NewSPSC returns an empty ring holding up to capacity elements, rounded up to
// a power of two so indices wrap with a mask. It panics if capacity is less
// than 1 or greater than 1<<30 (an STT configuration bug).
func NewSPSC[T any](capacity int) *SPSC[T] {
	n := ringSize(capacity)
	return &SPSC[T]{mask: uint64(n - 1), buf: make([]T, n)}
}

// ringSize rounds capacity up to a power of two, panicking on nonsense.
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

// Push appends v and reports true, or reports false without blocking if the
// ring is full. Only the producer goroutine may call Push. The ring holds v
// until the consumer pops it; ownership of what v points to passes with it.
func (r *SPSC[T]) Push(v T) bool {
	t := r.tail.Load() // only this goroutine writes tail
	if t-r.cachedHead > r.mask {
		r.cachedHead = r.head.Load()
		if t-r.cachedHead > r.mask {
			return false
		}
	}
	r.buf[t&r.mask] = v
	r.tail.Store(t + 1) // publishes the slot write to the consumer
	return true
}

// Pop removes and returns the oldest element, or the zero T and false without
// blocking if the ring is empty. Only the consumer goroutine may call Pop. The
// slot is cleared, so the ring no longer references the value.
func (r *SPSC[T]) Pop() (T, bool) {
	var zero T
	h := r.head.Load() // only this goroutine writes head
	if h == r.cachedTail {
		r.cachedTail = r.tail.Load()
		if h == r.cachedTail {
			return zero, false
		}
	}
	i := h & r.mask
	v := r.buf[i]
	r.buf[i] = zero
	r.head.Store(h + 1) // hands the cleared slot back to the producer
	return v, true
}

// Len returns the number of elements in the ring. Called concurrently with
// Push or Pop it is a snapshot that may be stale at once; it is always within
// [0, Cap].
func (r *SPSC[T]) Len() int {
	h := r.head.Load()
	t := r.tail.Load() // loaded after head, so t >= h
	return int(min(t-h, r.mask+1))
}

// Cap returns the ring's capacity: the requested capacity rounded up to a
// power of two.
func (r *SPSC[T]) Cap() int { return int(r.mask + 1) }
