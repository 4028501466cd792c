package recovery

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/stt-go/stt/internal/monotime"
)

// slowWheel is the reference: a plain slice of (id, deadline).
type slowWheel struct {
	ids       []int
	deadlines []monotime.Time
}

func (s *slowWheel) find(id int) int { return slices.Index(s.ids, id) }

func (s *slowWheel) schedule(id int, at monotime.Time) {
	if i := s.find(id); i >= 0 {
		s.deadlines[i] = at
		return
	}
	s.ids = append(s.ids, id)
	s.deadlines = append(s.deadlines, at)
}

func (s *slowWheel) cancel(id int) {
	if i := s.find(id); i >= 0 {
		s.ids = slices.Delete(s.ids, i, i+1)
		s.deadlines = slices.Delete(s.deadlines, i, i+1)
	}
}

func (s *slowWheel) advance(now monotime.Time) []int {
	var fired []int
	for i := 0; i < len(s.ids); {
		if s.deadlines[i] <= now {
			fired = append(fired, s.ids[i])
			s.ids = slices.Delete(s.ids, i, i+1)
			s.deadlines = slices.Delete(s.deadlines, i, i+1)
			continue
		}
		i++
	}
	slices.Sort(fired)
	return fired
}

func (s *slowWheel) min() (monotime.Time, bool) {
	if len(s.deadlines) == 0 {
		return 0, false
	}
	return slices.Min(s.deadlines), true
}

func TestWheelDifferential(t *testing.T) {
	for _, tc := range []struct {
		name  string
		tick  time.Duration
		slots int
		seed  uint64
	}{
		{"1ms-64", time.Millisecond, 64, 1},
		{"1ms-1024", time.Millisecond, 1024, 2},
		{"250us-100", 250 * time.Microsecond, 100, 3},
		{"10ms-64", 10 * time.Millisecond, 64, 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(tc.seed, 99))
			start := monotime.Time(12345678)
			now := start
			w := NewWheel(tc.tick, tc.slots, now)
			ref := &slowWheel{}
			const nTimers = 300
			timers := make([]Timer, nTimers)
			var fired []int
			for i := range timers {
				timers[i].Fire = func(monotime.Time) { fired = append(fired, i) }
			}
			horizon := tc.tick * time.Duration(tc.slots)
			for step := range 20000 {
				switch op := rng.IntN(10); {
				case op < 5:
					id := rng.IntN(nTimers)
					d := time.Duration(rng.Int64N(int64(3*horizon))) - 5*time.Millisecond
					w.Schedule(&timers[id], now.Add(d))
					ref.schedule(id, now.Add(d))
				case op < 7:
					id := rng.IntN(nTimers)
					w.Cancel(&timers[id])
					ref.cancel(id)
				default:
					d := time.Duration(rng.Int64N(int64(5 * time.Millisecond)))
					if rng.IntN(50) == 0 {
						d = time.Duration(rng.Int64N(int64(3 * horizon)))
					}
					now = now.Add(d)
					fired = fired[:0]
					w.Advance(now)
					want := ref.advance(now)
					slices.Sort(fired)
					if !slices.Equal(fired, want) {
						t.Fatalf("step %d now %d: fired %v, want %v", step, now, fired, want)
					}
				}
				if w.Len() != len(ref.ids) {
					t.Fatalf("step %d: Len %d, want %d", step, w.Len(), len(ref.ids))
				}
				if step%64 == 0 {
					for id := range timers {
						if got, want := timers[id].Scheduled(), ref.find(id) >= 0; got != want {
							t.Fatalf("step %d: timer %d Scheduled %v, want %v", step, id, got, want)
						}
					}
				}
				next, ok := w.Next()
				refMin, refOK := ref.min()
				if ok != refOK || (ok && next > refMin) {
					t.Fatalf("step %d: Next (%d,%v), reference earliest (%d,%v)", step, next, ok, refMin, refOK)
				}
			}
		})
	}
}

// TestWheelNextExact checks that Next is exact for deadlines within the wheel
// and that following Next always reaches the earliest far deadline.
func TestWheelNextExact(t *testing.T) {
	now := monotime.Time(time.Second)
	w := NewWheel(time.Millisecond, 64, now)
	var near, far Timer
	fired := 0
	near.Fire = func(monotime.Time) { fired++ }
	far.Fire = func(monotime.Time) { fired++ }
	w.Schedule(&near, now.Add(10*time.Millisecond+7))
	if got, ok := w.Next(); !ok || got != now.Add(10*time.Millisecond+7) {
		t.Fatalf("Next = %d,%v, want the exact near deadline", got, ok)
	}
	w.Cancel(&near)
	if _, ok := w.Next(); ok {
		t.Fatal("Next reports a timer after Cancel")
	}
	farAt := now.Add(10*time.Second + 3)
	w.Schedule(&far, farAt)
	steps := 0
	for fired == 0 {
		next, ok := w.Next()
		if !ok {
			t.Fatal("far timer lost")
		}
		if next > farAt {
			t.Fatalf("Next %d later than the deadline %d", next, farAt)
		}
		w.Advance(next)
		steps++
		if steps > 1000 {
			t.Fatal("following Next does not reach the far deadline")
		}
	}
	if far.Scheduled() || w.Len() != 0 {
		t.Fatal("fired timer still scheduled")
	}
}

func TestWheelFireReschedules(t *testing.T) {
	now := monotime.Time(0)
	var w Wheel // zero value is usable
	var a, b, c Timer
	var log []string
	a.Fire = func(n monotime.Time) {
		log = append(log, "a")
		w.Schedule(&a, n) // in the past: fires at the next Advance, not now
		w.Cancel(&b)      // b is due in the same Advance: must not fire
	}
	b.Fire = func(monotime.Time) { log = append(log, "b") }
	c.Fire = func(n monotime.Time) {
		log = append(log, "c")
		w.Schedule(&c, n.Add(5*time.Millisecond))
	}
	w.Schedule(&a, now.Add(time.Millisecond))
	w.Schedule(&b, now.Add(2*time.Millisecond))
	w.Schedule(&c, now.Add(3*time.Millisecond))
	w.Advance(now.Add(3 * time.Millisecond))
	if !slices.Equal(log, []string{"a", "c"}) {
		t.Fatalf("first Advance fired %v, want [a c]", log)
	}
	if !a.Scheduled() || b.Scheduled() || !c.Scheduled() || w.Len() != 2 {
		t.Fatalf("after Advance: a %v b %v c %v Len %d", a.Scheduled(), b.Scheduled(), c.Scheduled(), w.Len())
	}
	if c.Deadline() != now.Add(8*time.Millisecond) {
		t.Fatalf("c deadline %d", c.Deadline())
	}
	log = log[:0]
	w.Advance(now.Add(3 * time.Millisecond))
	if !slices.Equal(log, []string{"a"}) {
		t.Fatalf("second Advance fired %v, want [a]", log)
	}
	w.Cancel(&a)
	w.Cancel(&a) // idempotent
	if w.Len() != 1 {
		t.Fatalf("Len %d after cancels, want 1", w.Len())
	}
}

func TestWheelTwoWheelsPanics(t *testing.T) {
	w1 := NewWheel(0, 0, 0)
	w2 := NewWheel(0, 0, 0)
	var tm Timer
	w1.Schedule(&tm, 5)
	w2.Cancel(&tm) // not on w2: no-op
	if !tm.Scheduled() || w1.Len() != 1 {
		t.Fatal("Cancel on a foreign wheel changed the timer")
	}
	defer func() {
		if recover() == nil {
			t.Fatal("scheduling on a second wheel did not panic")
		}
	}()
	w2.Schedule(&tm, 5)
}

func TestWheelManyTimers(t *testing.T) {
	const n = 100_000
	now := monotime.Time(0)
	w := NewWheel(time.Millisecond, 1024, now)
	timers := make([]Timer, n)
	count := 0
	rng := rand.New(rand.NewPCG(7, 7))
	for i := range timers {
		timers[i].Fire = func(at monotime.Time) {
			count++
			if timers[i].Deadline() > at {
				t.Fatalf("timer %d fired at %d before its deadline %d", i, at, timers[i].Deadline())
			}
			if at.Sub(timers[i].Deadline()) >= time.Millisecond {
				t.Fatalf("timer %d fired at %d, over 1 ms after its deadline %d", i, at, timers[i].Deadline())
			}
		}
		w.Schedule(&timers[i], now.Add(time.Duration(rng.Int64N(int64(30*time.Second)))))
	}
	if w.Len() != n {
		t.Fatalf("Len %d", w.Len())
	}
	for i := 0; i < n; i += 3 {
		w.Cancel(&timers[i])
	}
	want := w.Len()
	for now < monotime.Time(31*time.Second) {
		now = now.Add(time.Millisecond)
		w.Advance(now)
	}
	if count != want || w.Len() != 0 {
		t.Fatalf("fired %d of %d, %d left", count, want, w.Len())
	}
}
