package recovery

import (
	"math/bits"
	"time"

	"github.com/stt-go/stt/internal/monotime"
)

const (
	// DefaultTick is the wheel resolution used by the zero Wheel and when
	// NewWheel gets tick <= 0: 1 ms matches RFC 9002's kGranularity, so no
	// recovery timer needs a finer wheel.
	DefaultTick = time.Millisecond

	// DefaultSlots is the slot count used by the zero Wheel and when NewWheel
	// gets slots <= 0: 1024 ticks of 1 ms cover about one second, which holds
	// every loss, PTO, ACK-delay and pacing deadline of a live session; idle,
	// keepalive and rotation timers go to the overflow list.
	DefaultSlots = 1024

	// maxSlots bounds the slot array (1<<20 slots = 8 MiB of list heads) so a
	// bad argument cannot make NewWheel allocate without bound.
	maxSlots = 1 << 20
)

// Timer positions (Timer.where). A positive value is a wheel slot + 1.
const (
	whereNone     = 0
	whereOverflow = -1
	whereFiring   = -2
)

// Timer is an intrusive timer: embed it in the struct that owns the deadline
// (a session), set Fire once, and schedule it on that loop's Wheel. Scheduling
// links the Timer itself into the wheel, so no operation allocates. The zero
// Timer is ready to use and not scheduled. A Timer belongs to at most one Wheel
// at a time and, like the Wheel, to one goroutine; it must not be copied while
// scheduled.
type Timer struct {
	next, prev *Timer
	w          *Wheel
	deadline   monotime.Time
	where      int32

	// Fire is called by Wheel.Advance, on the loop goroutine, once the
	// deadline has passed; now is the Advance argument. The timer is no
	// longer scheduled when Fire runs, so Fire may reschedule it, and may
	// schedule or cancel any other timer of the same wheel. Set it once
	// before the first Schedule; a nil Fire makes the expiry a no-op.
	Fire func(now monotime.Time)
}

// Scheduled reports whether t is scheduled (on any wheel). It does not allocate.
func (t *Timer) Scheduled() bool { return t.where != whereNone }

// Deadline returns the deadline t was last scheduled for, or the zero Time if
// it never was. It stays readable after t fires or is cancelled.
func (t *Timer) Deadline() monotime.Time { return t.deadline }

// timerList is a doubly linked list of timers, head-only (slots) or with a
// tail (the firing list, which keeps Advance's collection order).
type timerList struct {
	head, tail *Timer
}

func (l *timerList) push(t *Timer) {
	t.prev = l.tail
	t.next = nil
	if l.tail != nil {
		l.tail.next = t
	} else {
		l.head = t
	}
	l.tail = t
}

func (l *timerList) remove(t *Timer) {
	if t.prev != nil {
		t.prev.next = t.next
	} else {
		l.head = t.next
	}
	if t.next != nil {
		t.next.prev = t.prev
	} else {
		l.tail = t.prev
	}
	t.next, t.prev = nil, nil
}

// Wheel is a single-level hashed timer wheel with an overflow list for far
// deadlines, one per event loop (DESIGN: no time.Timer per session). Slot i
// holds the timers whose deadline falls in tick i modulo the slot count within
// the next revolution; deadlines one revolution or more away wait on the
// overflow list, which is rescanned every half revolution, so Schedule, Cancel
// and firing are O(1) and the scan costs O(overflow) per half revolution.
// Advance fires every timer whose deadline is <= now, exactly (ticks only
// bucket timers; they never delay or advance a firing past Advance's now).
//
// The zero Wheel is ready to use with DefaultTick and DefaultSlots and its
// tick origin at the zero Time. A Wheel is not safe for concurrent use: it and
// its timers are owned by one loop goroutine. No method allocates except
// NewWheel and the first use of a zero Wheel.
type Wheel struct {
	tick     int64 // ns per tick
	mask     int64 // len(slots)-1; len(slots) is a power of two
	origin   monotime.Time
	cur      int64 // current tick: every wheel timer's tick is in [cur, cur+len(slots))
	slots    []timerList
	occupied []uint64 // bit per slot: slots[i].head != nil

	overflow    timerList
	overflowMin monotime.Time // lower bound of overflow deadlines (exact after a scan)
	nextScan    int64         // tick at which the overflow list is next rescanned

	firing    timerList
	advancing bool
	firingNow monotime.Time
	n         int
}

// NewWheel returns a wheel with the given tick (resolution) and slot count
// (rounded up to a power of two, at most 1<<20), whose current tick is the one
// holding now. tick <= 0 means DefaultTick and slots <= 0 means DefaultSlots.
// Deadlines up to tick*slots ahead go straight into a slot.
func NewWheel(tick time.Duration, slots int, now monotime.Time) *Wheel {
	w := new(Wheel)
	w.init(tick, slots, now)
	return w
}

func (w *Wheel) init(tick time.Duration, slots int, now monotime.Time) {
	if tick <= 0 {
		tick = DefaultTick
	}
	if slots <= 0 {
		slots = DefaultSlots
	}
	slots = min(slots, maxSlots)
	size := 1 << bits.Len(uint(slots-1))
	if size < 64 {
		size = 64 // one occupancy word; smaller wheels buy nothing
	}
	w.tick = int64(tick)
	w.mask = int64(size - 1)
	w.origin = now
	w.cur = 0
	w.slots = make([]timerList, size)
	w.occupied = make([]uint64, size/64)
	w.nextScan = int64(size / 2)
}

func (w *Wheel) lazyInit() {
	if w.slots == nil {
		w.init(DefaultTick, DefaultSlots, 0)
	}
}

// tickOf returns the tick holding at, clamped to the current tick (deadlines
// in the past belong to the current tick and fire at the next Advance).
func (w *Wheel) tickOf(at monotime.Time) int64 {
	rel := int64(at - w.origin)
	if rel < 0 {
		return w.cur
	}
	return max(rel/w.tick, w.cur)
}

// tickStart returns the first instant of tick k.
func (w *Wheel) tickStart(k int64) monotime.Time {
	return w.origin + monotime.Time(k*w.tick)
}

// Len returns the number of scheduled timers. It does not allocate.
func (w *Wheel) Len() int { return w.n }

// Schedule arms t to fire at the first Advance whose now is >= at. If t is
// already scheduled on w it is moved; a deadline in the past fires at the next
// Advance (not during the current one, if called from a Fire callback). It
// does not allocate. It panics if t is scheduled on another Wheel (a bug in the
// owner that would corrupt both wheels).
func (w *Wheel) Schedule(t *Timer, at monotime.Time) {
	w.lazyInit()
	if t.where != whereNone {
		if t.w != w {
			panic("recovery: BUG: Timer scheduled on two Wheels")
		}
		w.unlink(t)
	} else {
		w.n++
	}
	t.w = w
	t.deadline = at
	w.insert(t)
}

// insert links an unlinked t (deadline set) into its slot or the overflow list.
func (w *Wheel) insert(t *Timer) {
	k := w.tickOf(t.deadline)
	if k-w.cur > w.mask {
		if w.overflow.head == nil || t.deadline < w.overflowMin {
			w.overflowMin = t.deadline
		}
		w.overflow.push(t)
		t.where = whereOverflow
		return
	}
	i := k & w.mask
	w.slots[i].push(t)
	w.occupied[i>>6] |= 1 << (uint(i) & 63)
	t.where = int32(i) + 1
}

// unlink removes a scheduled t from whatever list holds it (w.n unchanged).
func (w *Wheel) unlink(t *Timer) {
	switch t.where {
	case whereOverflow:
		w.overflow.remove(t)
	case whereFiring:
		w.firing.remove(t)
	default:
		i := int64(t.where - 1)
		s := &w.slots[i]
		s.remove(t)
		if s.head == nil {
			w.occupied[i>>6] &^= 1 << (uint(i) & 63)
		}
	}
	t.where = whereNone
}

// Cancel disarms t. Cancelling a timer that is not scheduled on w (never
// scheduled, already fired or cancelled) is a no-op. It does not allocate.
func (w *Wheel) Cancel(t *Timer) {
	if t.where == whereNone || t.w != w {
		return
	}
	w.unlink(t)
	t.w = nil
	w.n--
}

// Advance fires, in order of their deadline ticks, every timer whose deadline
// is <= now, calling each Fire with now. Timers (re)scheduled by a Fire
// callback for a time <= now fire at the next Advance, so a callback cannot
// make Advance loop. now must not go backwards (an earlier now fires what is
// due at that instant and moves nothing). Advance must not be called from a
// Fire callback (it panics: a bug in the loop). It does not allocate; its cost
// is O(ticks elapsed, at most the slot count) plus O(fired) plus, every half
// revolution, O(overflow).
func (w *Wheel) Advance(now monotime.Time) {
	w.lazyInit()
	if w.advancing {
		panic("recovery: BUG: Wheel.Advance called from a Fire callback")
	}
	w.advancing = true
	w.firingNow = now
	defer func() { w.advancing = false }()

	target := w.tickOf(now)
	// Visit ticks cur..target (at most one revolution: after that every slot
	// has been seen), collecting due timers into the firing list.
	last := min(target, w.cur+w.mask)
	for k := w.cur; k <= last; k++ {
		i := k & w.mask
		if w.occupied[i>>6]&(1<<(uint(i)&63)) == 0 {
			// Skip the rest of an empty occupancy word in one step.
			word := w.occupied[i>>6] >> (uint(i) & 63)
			if word == 0 {
				k += 63 - (i & 63)
			}
			continue
		}
		s := &w.slots[i]
		for t := s.head; t != nil; {
			next := t.next
			if t.deadline <= now {
				s.remove(t)
				w.firing.push(t)
				t.where = whereFiring
			}
			t = next
		}
		if s.head == nil {
			w.occupied[i>>6] &^= 1 << (uint(i) & 63)
		}
	}
	w.cur = target
	if w.cur >= w.nextScan {
		w.scanOverflow(now)
	}

	for t := w.firing.head; t != nil; t = w.firing.head {
		w.firing.remove(t)
		t.where = whereNone
		t.w = nil
		w.n--
		if t.Fire != nil {
			t.Fire(now)
		}
	}
}

// scanOverflow moves overflow timers that are due to the firing list and those
// within one revolution into their slots, and recomputes overflowMin exactly.
// Called at least every half revolution, it keeps the invariant that every
// overflow deadline is at least half a revolution after the next scan.
func (w *Wheel) scanOverflow(now monotime.Time) {
	w.nextScan = w.cur + (w.mask+1)/2
	w.overflowMin = 0
	first := true
	for t := w.overflow.head; t != nil; {
		next := t.next
		switch {
		case t.deadline <= now:
			w.overflow.remove(t)
			w.firing.push(t)
			t.where = whereFiring
		case w.tickOf(t.deadline)-w.cur <= w.mask:
			w.overflow.remove(t)
			w.insert(t)
		default:
			if first || t.deadline < w.overflowMin {
				w.overflowMin = t.deadline
				first = false
			}
		}
		t = next
	}
}

// Next returns the earliest instant at which Advance has work to do, for the
// loop's sleep, and false if no timer is scheduled. For timers within one
// revolution it is their exact earliest deadline (possibly in the past: call
// Advance at once). When only far (overflow) timers remain it may be earlier
// than their deadline, never later: Advance at that instant rescans the
// overflow list and Next then moves on. It does not allocate and costs
// O(slots/64 + timers in the first occupied slot).
func (w *Wheel) Next() (monotime.Time, bool) {
	if w.n == 0 || w.slots == nil {
		return 0, false
	}
	if w.firing.head != nil {
		return w.firingNow, true
	}
	best, ok := monotime.Time(0), false
	if i, found := w.firstOccupied(); found {
		for t := w.slots[i].head; t != nil; t = t.next {
			if !ok || t.deadline < best {
				best, ok = t.deadline, true
			}
		}
	}
	if w.overflow.head != nil {
		// overflowMin may be stale (a cancelled timer); the next scan point
		// bounds how early that can make us wake.
		at := max(w.overflowMin, w.tickStart(w.nextScan))
		if !ok || at < best {
			best, ok = at, true
		}
	}
	return best, ok
}

// firstOccupied returns the occupied slot whose tick is closest at or after
// cur, scanning the occupancy bitmap circularly.
func (w *Wheel) firstOccupied() (int64, bool) {
	nw := int64(len(w.occupied))
	start := w.cur & w.mask
	wi := start >> 6
	// First word, masked to bits >= start.
	if word := w.occupied[wi] &^ (1<<(uint(start)&63) - 1); word != 0 {
		return wi<<6 + int64(bits.TrailingZeros64(word)), true
	}
	for j := int64(1); j <= nw; j++ {
		idx := (wi + j) % nw
		word := w.occupied[idx]
		if idx == wi {
			word &= 1<<(uint(start)&63) - 1 // wrapped: bits before start
		}
		if word != 0 {
			return idx<<6 + int64(bits.TrailingZeros64(word)), true
		}
	}
	return 0, false
}
