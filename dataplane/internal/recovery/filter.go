package recovery

// maxFilter is a windowed maximum over a stream of (time, value) samples
// whose time never decreases: Kathleen Nichols' algorithm as Linux keeps it
// (lib/minmax.c), three samples — the best, second best and third best in
// successive sub-windows — so it needs neither a history nor an allocation.
// It is an approximation: Best is always a sample taken within the last
// window time units (so at most the exact windowed maximum), at least the
// newest sample and every sample taken at a later time than itself, and
// exact whenever the maximum is the most recent record; when the best ages
// out, the runner-up from a later sub-window takes over, which may be below
// a sample that shared its sub-window. The zero value is empty (Best 0).
// BBR uses it with packet-timed rounds as time (draft-ietf-ccwg-bbr §5.5.9,
// BBR.extra_acked).
type maxFilter struct {
	s [3]filterSample
}

type filterSample struct {
	t uint64
	v float64
}

// Best returns the current windowed maximum.
func (f *maxFilter) Best() float64 { return f.s[0].v }

// Reset forgets every sample and starts over with (t, v).
func (f *maxFilter) Reset(t uint64, v float64) {
	f.s = [3]filterSample{{t, v}, {t, v}, {t, v}}
}

// Update adds the sample (t, v) for a window of window time units and
// returns the new maximum.
func (f *maxFilter) Update(t, window uint64, v float64) float64 {
	smp := filterSample{t, v}
	// A new best, or nothing left inside the window: start over.
	if v >= f.s[0].v || t-f.s[2].t > window {
		f.Reset(t, v)
		return v
	}
	switch {
	case v >= f.s[1].v:
		f.s[1], f.s[2] = smp, smp
	case v >= f.s[2].v:
		f.s[2] = smp
	}
	dt := t - f.s[0].t
	switch {
	case dt > window:
		// The best aged out: promote the runners-up (twice if the second
		// is also too old).
		f.s[0], f.s[1], f.s[2] = f.s[1], f.s[2], smp
		if t-f.s[0].t > window {
			f.s[0], f.s[1], f.s[2] = f.s[1], f.s[2], smp
		}
	case f.s[1].t == f.s[0].t && dt > window/4:
		// A quarter of the window has passed with one distinct sample:
		// take a second best from the rest of the window.
		f.s[1], f.s[2] = smp, smp
	case f.s[2].t == f.s[1].t && dt > window/2:
		// Half the window has passed: take a third best as well.
		f.s[2] = smp
	}
	return f.s[0].v
}
