package recovery

import (
	"math/rand/v2"
	"testing"
)

func TestMaxFilter(t *testing.T) {
	type sample struct {
		t    uint64
		v    float64
		want float64
	}
	for _, tc := range []struct {
		name   string
		window uint64
		steps  []sample
	}{
		{"empty filter takes the first sample", 10, []sample{{0, 5, 5}}},
		{"larger value replaces", 10, []sample{{0, 5, 5}, {1, 7, 7}, {2, 6, 7}}},
		{"equal value refreshes the best", 10, []sample{{0, 5, 5}, {8, 5, 5}, {15, 1, 5}, {19, 1, 1}}},
		{"best ages out to the runner-up", 10, []sample{{0, 9, 9}, {3, 6, 9}, {11, 2, 6}}},
		{"everything aged out: the new sample", 10, []sample{{0, 9, 9}, {1, 8, 9}, {2, 7, 9}, {30, 1, 1}}},
		{"window 1 (BBR Startup) keeps a round", 1, []sample{{0, 9, 9}, {1, 4, 9}, {2, 3, 4}, {3, 5, 5}}},
		{"window 0 forgets at once", 0, []sample{{0, 9, 9}, {1, 4, 4}, {1, 3, 4}, {2, 1, 1}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var f maxFilter
			for i, s := range tc.steps {
				if got := f.Update(s.t, tc.window, s.v); got != s.want || f.Best() != s.want {
					t.Fatalf("step %d Update(%d, %v) = %v, want %v", i, s.t, s.v, got, s.want)
				}
			}
		})
	}
}

// TestMaxFilterBounds checks the filter against the exact windowed maximum
// of a random stream (the slow, obvious reference): the filter's value is
// always a sample from inside the window (so at most the exact maximum), at
// least the newest sample and every sample taken at a later time than it,
// and exact when the newest sample is the maximum. On average it stays
// within a few percent of the exact maximum.
func TestMaxFilterBounds(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, window := range []uint64{1, 4, 10, 64} {
		var f maxFilter
		type smp struct {
			t uint64
			v float64
		}
		var hist []smp
		now := uint64(0)
		ratioSum, n := 0.0, 0
		for range 5000 {
			now += uint64(rng.IntN(3))
			v := float64(rng.IntN(1000))
			got := f.Update(now, window, v)
			hist = append(hist, smp{now, v})
			exact, found := 0.0, false
			var at uint64
			for _, h := range hist {
				if now-h.t <= window && h.v >= exact {
					exact, at = h.v, h.t
				}
				if now-h.t <= window && h.v == got {
					found = true
				}
			}
			if !found {
				t.Fatalf("window %d t=%d: filter %v is not a sample inside the window", window, now, got)
			}
			if got > exact {
				t.Fatalf("window %d t=%d: filter %v above the exact maximum %v", window, now, got, exact)
			}
			for _, h := range hist {
				if h.t > f.s[0].t && h.v > got {
					t.Fatalf("window %d t=%d: filter %v below sample %v taken after it", window, now, got, h.v)
				}
			}
			if got < v || exact == v && got != exact {
				t.Fatalf("window %d t=%d: newest sample %v, exact maximum %v (at %d), filter %v", window, now, v, exact, at, got)
			}
			ratioSum += got / max(exact, 1)
			n++
			if len(hist) > 200 {
				hist = hist[100:]
			}
		}
		if avg := ratioSum / float64(n); avg < 0.9 {
			t.Errorf("window %d: filter averages %.3f of the exact maximum", window, avg)
		} else {
			t.Logf("window %d: filter averages %.3f of the exact maximum", window, avg)
		}
	}
}
