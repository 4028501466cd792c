package stc

import (
	"math/rand/v2"
	"testing"
)

// slowReplay is the obviously-right model of ReplayWindow: every packet
// number ever recorded, and the highest.
type slowReplay struct {
	seen map[uint64]bool
	max  uint64
}

func (s *slowReplay) check(pn uint64) bool {
	if pn < s.max && s.max-pn >= ReplayWindowSize { // too old
		return false
	}
	return !s.seen[pn]
}

func (s *slowReplay) update(pn uint64) bool {
	if !s.check(pn) {
		return false
	}
	if s.seen == nil {
		s.seen = map[uint64]bool{}
	}
	s.seen[pn] = true
	s.max = max(s.max, pn)
	return true
}

func TestReplayWindowTable(t *testing.T) {
	const W = ReplayWindowSize
	type step struct {
		pn   uint64
		want bool
	}
	for _, c := range []struct {
		name  string
		steps []step
	}{
		{"zero first", []step{{0, true}, {0, false}, {1, true}, {1, false}}},
		{"in order", []step{{1, true}, {2, true}, {3, true}, {2, false}}},
		{"reorder within window", []step{{10, true}, {5, true}, {9, true}, {5, false}, {0, true}}},
		{"window edge", []step{{W + 100, true}, {101, true}, {100, false}, {101, false}, {W + 99, true}}},
		{"exact edge from zero", []step{{W - 1, true}, {0, true}, {W, true}, {0, false}, {1, true}}},
		{"huge jump", []step{{5, true}, {1 << 40, true}, {5, false}, {1<<40 - W + 1, true}, {1<<40 - W, false}}},
		{"max uint64", []step{{^uint64(0), true}, {^uint64(0), false}, {^uint64(0) - W + 1, true}, {^uint64(0) - W, false}, {0, false}}},
		{"block boundary", []step{{63, true}, {64, true}, {127, true}, {128, true}, {63, false}, {64, false}, {65, true}}},
		{"slide clears stale bits", []step{{0, true}, {W * 2, true}, {W*2 - 1, true}, {W + 1, true}, {W, false}}},
		{"slide exactly one ring", []step{{7, true}, {7 + 33*64, true}, {7 + 33*64 - W + 1, true}, {7 + 64, false}}},
	} {
		var w ReplayWindow
		for i, s := range c.steps {
			if got := w.Check(s.pn); got != s.want {
				t.Errorf("%s step %d: Check(%d) = %v, want %v", c.name, i, s.pn, got, s.want)
			}
			if got := w.Update(s.pn); got != s.want {
				t.Errorf("%s step %d: Update(%d) = %v, want %v", c.name, i, s.pn, got, s.want)
			}
		}
		w.Reset()
		if w != (ReplayWindow{}) || !w.Check(0) {
			t.Errorf("%s: Reset did not restore the zero state", c.name)
		}
	}
}

// TestReplayWindowCheckDoesNotRecord checks that Check alone never changes
// the window (forged packets are checked but not recorded).
func TestReplayWindowCheckDoesNotRecord(t *testing.T) {
	var w ReplayWindow
	w.Update(100)
	before := w
	for _, pn := range []uint64{0, 99, 100, 101, 1 << 50} {
		w.Check(pn)
	}
	if w != before {
		t.Fatal("Check modified the window")
	}
}

// TestReplayWindowDifferential drives the window and the slow model with
// random sequences: in-order runs, reordering, duplicates, old packets and
// huge jumps, checking every Check and Update answer.
func TestReplayWindowDifferential(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for seq := range 200 {
		var w ReplayWindow
		var ref slowReplay
		var next uint64
		if seq%4 == 0 {
			next = rng.Uint64() // start anywhere, including near the top
		}
		for i := range 2000 {
			var pn uint64
			switch r := rng.IntN(100); {
			case r < 50: // next in order
				next++
				pn = next
			case r < 75: // reordered, within or just past the window
				pn = next - uint64(rng.IntN(ReplayWindowSize+200))
			case r < 88: // duplicate of something recent
				pn = next - uint64(rng.IntN(64))
			case r < 95: // forward jump
				next += uint64(rng.IntN(5000))
				pn = next
			case r < 98: // very old
				pn = rng.Uint64N(next + 1)
			default: // huge jump
				next += uint64(rng.Int64N(1 << 40))
				pn = next
			}
			if got, want := w.Check(pn), ref.check(pn); got != want {
				t.Fatalf("seq %d step %d: Check(%d) = %v, model %v (max %d)", seq, i, pn, got, want, ref.max)
			}
			if rng.IntN(10) == 0 {
				continue // a forged packet: checked, never recorded
			}
			if got, want := w.Update(pn), ref.update(pn); got != want {
				t.Fatalf("seq %d step %d: Update(%d) = %v, model %v (max %d)", seq, i, pn, got, want, ref.max)
			}
		}
	}
}

// TestReplayWindowResetTo checks the compact idle state: after ResetTo(h)
// every number up to h is refused and every later one accepted exactly
// once, across block boundaries.
func TestReplayWindowResetTo(t *testing.T) {
	for _, h := range []uint64{0, 1, 62, 63, 64, 65, 127, 128, 2047, 2048, 5000, 1<<48 - 2} {
		var w ReplayWindow
		w.Update(h + 7) // stale state ResetTo must replace
		w.ResetTo(h)
		if w.Highest() != h {
			t.Fatalf("h=%d: Highest = %d", h, w.Highest())
		}
		for k := uint64(0); k <= min(h, 3000); k++ {
			if w.Check(h - k) {
				t.Fatalf("h=%d: %d accepted after ResetTo", h, h-k)
			}
		}
		for pn := h + 1; pn <= h+200; pn++ {
			if !w.Check(pn) {
				t.Fatalf("h=%d: new number %d refused", h, pn)
			}
		}
		for _, pn := range []uint64{h + 3, h + 1, h + 130, h + 2} {
			if !w.Update(pn) {
				t.Fatalf("h=%d: Update(%d) refused", h, pn)
			}
			if w.Update(pn) {
				t.Fatalf("h=%d: Update(%d) accepted twice", h, pn)
			}
		}
		if w.Check(h) || !w.Check(h+4) {
			t.Fatalf("h=%d: window lost the old floor or a gap", h)
		}
	}
}
