package recovery

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/stt-go/stt/internal/monotime"
)

// receivedModel is the reference: a set of packet numbers plus a floor, with
// ranges recomputed from scratch.
type receivedModel struct {
	set   map[uint64]bool
	floor uint64
}

func (m *receivedModel) ranges() []AckRange {
	pns := make([]uint64, 0, len(m.set))
	for pn := range m.set {
		pns = append(pns, pn)
	}
	slices.Sort(pns)
	slices.Reverse(pns)
	var out []AckRange
	for _, pn := range pns {
		if n := len(out); n > 0 && out[n-1].Smallest == pn+1 {
			out[n-1].Smallest = pn
		} else {
			out = append(out, AckRange{pn, pn})
		}
	}
	return out
}

func (m *receivedModel) forgetBelow(floor uint64) {
	m.floor = max(m.floor, floor)
	for pn := range m.set {
		if pn < m.floor {
			delete(m.set, pn)
		}
	}
}

func (m *receivedModel) add(pn uint64) bool {
	if pn < m.floor || m.set[pn] {
		return false
	}
	m.set[pn] = true
	if r := m.ranges(); len(r) > MaxReceivedRanges {
		lowest := r[len(r)-1]
		if lowest.Smallest == pn && lowest.Largest == pn {
			delete(m.set, pn) // the new packet itself is the oldest range
			m.forgetBelow(pn + 1)
			return false
		}
		m.forgetBelow(lowest.Largest + 1)
	}
	return true
}

func TestReceivedDifferential(t *testing.T) {
	for _, tc := range []struct {
		name   string
		spread int // packet numbers drawn from [base, base+spread)
		seed   uint64
	}{
		{"dense", 40, 1},
		{"sparse", 400, 2},
		{"very sparse", 5000, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(tc.seed, 1))
			var r Received
			m := &receivedModel{set: map[uint64]bool{}}
			buf := make([]AckRange, MaxReceivedRanges)
			base := uint64(0)
			for step := range 6000 {
				if rng.IntN(50) == 0 {
					base += uint64(rng.IntN(tc.spread))
				}
				if rng.IntN(500) == 0 {
					p := base + uint64(rng.IntN(tc.spread)) - uint64(min(int(base), tc.spread))
					r.PruneBelow(p)
					m.forgetBelow(p)
				}
				pn := base + uint64(rng.IntN(tc.spread))
				got, want := r.Add(pn, 0, true), m.add(pn)
				if got != want {
					t.Fatalf("step %d: Add(%d) = %v, model %v", step, pn, got, want)
				}
				if again := r.Add(pn, 0, true); again {
					t.Fatalf("step %d: second Add(%d) reported new", step, pn)
				}
				n, _ := r.FillAck(0, buf)
				if wantR := m.ranges(); !slices.Equal(buf[:n], wantR) {
					t.Fatalf("step %d: ranges %v, model %v", step, buf[:n], wantR)
				}
				if n != r.Len() || n > MaxReceivedRanges {
					t.Fatalf("step %d: %d ranges, Len %d", step, n, r.Len())
				}
			}
		})
	}
}

func TestReceivedAckPolicy(t *testing.T) {
	type add struct {
		pn           uint64
		at           monotime.Time
		ackEliciting bool
	}
	for _, tc := range []struct {
		name         string
		adds         []add
		wantNow      bool
		wantDeadline monotime.Time // 0: none pending
	}{
		{"one in order: delayed", []add{{0, 5 * ms, true}}, false, 30 * ms},
		{"second ack-eliciting: now", []add{{0, 5 * ms, true}, {1, 6 * ms, true}}, true, 30 * ms},
		{"non-eliciting never triggers", []add{{0, 5 * ms, false}, {1, 6 * ms, false}, {2, 7 * ms, false}}, false, 0},
		{"gap: now", []add{{0, 5 * ms, false}, {2, 6 * ms, true}}, true, 31 * ms},
		{"reordered: now", []add{{3, 5 * ms, false}, {1, 6 * ms, true}}, true, 31 * ms},
		{"duplicate does not count", []add{{0, 5 * ms, true}, {0, 6 * ms, true}}, false, 30 * ms},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var r Received
			for _, a := range tc.adds {
				r.Add(a.pn, a.at, a.ackEliciting)
			}
			if r.ShouldAckNow() != tc.wantNow {
				t.Fatalf("ShouldAckNow %v, want %v", r.ShouldAckNow(), tc.wantNow)
			}
			d, ok := r.AckDeadline()
			if ok != (tc.wantDeadline != 0) || d != tc.wantDeadline {
				t.Fatalf("AckDeadline %d,%v, want %d", d, ok, tc.wantDeadline)
			}
			r.OnAckSent()
			if _, ok := r.AckDeadline(); ok || r.ShouldAckNow() {
				t.Fatal("OnAckSent left an ACK pending")
			}
		})
	}
}

func TestReceivedFillAck(t *testing.T) {
	var r Received
	r.SetMaxAckDelay(5 * time.Millisecond)
	for _, pn := range []uint64{1, 2, 3, 7, 9, 10} {
		r.Add(pn, monotime.Time(pn)*ms, true)
	}
	if d, _ := r.AckDeadline(); d != 6*ms {
		t.Fatalf("deadline %d, want 6ms (first packet + 5 ms)", d)
	}
	buf := make([]AckRange, 2)
	n, delay := r.FillAck(14*ms, buf)
	if n != 2 || buf[0] != (AckRange{9, 10}) || buf[1] != (AckRange{7, 7}) || delay != 4*time.Millisecond {
		t.Fatalf("FillAck = %d %v delay %v", n, buf[:n], delay)
	}
	if n, _ := r.FillAck(0, buf); n != 2 {
		t.Fatal("FillAck changed state")
	}
	r.PruneBelow(8)
	buf = make([]AckRange, 8)
	if n, _ := r.FillAck(14*ms, buf); n != 1 || buf[0] != (AckRange{9, 10}) {
		t.Fatalf("after PruneBelow(8): %v", buf[:n])
	}
	if r.Add(3, 20*ms, true) {
		t.Fatal("Add below the pruned floor reported new")
	}
	if r.Add(math.MaxUint64, 0, true) {
		t.Fatal("Add(MaxUint64) accepted")
	}
	var empty Received
	if n, d := empty.FillAck(5*ms, buf); n != 0 || d != 0 {
		t.Fatal("empty FillAck wrote ranges")
	}
	if _, ok := empty.Largest(); ok {
		t.Fatal("empty Largest")
	}
}
