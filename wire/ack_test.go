package wire

import (
	"errors"
	"math/rand/v2"
	"slices"
	"testing"
)

func TestAckAppendRange(t *testing.T) {
	tests := []struct {
		name     string
		have     []AckRange
		smallest uint64
		largest  uint64
		err      error
	}{
		{"first", nil, 3, 9, nil},
		{"first-max-pn", nil, 0, MaxPacketNumber, nil},
		{"beyond-max-pn", nil, 0, MaxPacketNumber + 1, ErrMalformed},
		{"inverted", nil, 9, 3, ErrMalformed},
		{"below-with-gap", []AckRange{{10, 20}}, 2, 8, nil},
		{"adjacent", []AckRange{{10, 20}}, 2, 9, ErrMalformed},
		{"overlapping", []AckRange{{10, 20}}, 5, 15, ErrMalformed},
		{"above", []AckRange{{10, 20}}, 30, 40, ErrMalformed},
		{"below-zero-range", []AckRange{{1, 20}}, 0, 0, ErrMalformed},
		{"zero-below-two", []AckRange{{2, 20}}, 0, 0, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var a AckFrame
			for _, r := range tt.have {
				if err := a.AppendRange(r.Smallest, r.Largest); err != nil {
					t.Fatal(err)
				}
			}
			n := a.N
			err := a.AppendRange(tt.smallest, tt.largest)
			if !errors.Is(err, tt.err) || (err == nil && tt.err != nil) {
				t.Fatalf("AppendRange = %v, want %v", err, tt.err)
			}
			if err != nil && a.N != n {
				t.Fatalf("failed AppendRange changed N from %d to %d", n, a.N)
			}
		})
	}
}

func TestAckAppendRangeFull(t *testing.T) {
	a := maxACK()
	if a.N != MaxAckRanges+1 {
		t.Fatalf("N = %d", a.N)
	}
	if err := a.AppendRange(0, 0); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("AppendRange on a full frame = %v, want ErrTooLarge", err)
	}
	a.Reset()
	if a.N != 0 || a.Delay != 0 || a.Largest() != 0 || a.Len() != 0 {
		t.Fatalf("Reset left %+v", a)
	}
	if err := a.AppendRange(0, 0); err != nil {
		t.Fatalf("AppendRange after Reset = %v", err)
	}
}

// TestAckDifferential builds ACKs from random packet-number sets (the slow
// reference is the set itself), encodes, parses, and checks Acks against
// set membership.
func TestAckDifferential(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for iter := range 500 {
		base := uint64(r.IntN(3)) * (MaxPacketNumber - 1000) / 2
		set := map[uint64]bool{}
		for range 1 + r.IntN(300) {
			set[base+uint64(r.IntN(1000))] = true
		}
		if iter%7 == 0 {
			set[0] = true
			set[MaxPacketNumber] = true
		}
		pns := make([]uint64, 0, len(set))
		for pn := range set {
			pns = append(pns, pn)
		}
		slices.Sort(pns)
		slices.Reverse(pns)

		// Group descending packet numbers into maximal runs, newest first,
		// stopping when the frame is full, as a receiver would.
		var a AckFrame
		a.Delay = uint64(r.IntN(1 << 20))
		acked := map[uint64]bool{}
		for i := 0; i < len(pns); {
			j := i
			for j+1 < len(pns) && pns[j+1] == pns[j]-1 {
				j++
			}
			if err := a.AppendRange(pns[j], pns[i]); err != nil {
				if !errors.Is(err, ErrTooLarge) {
					t.Fatalf("AppendRange: %v", err)
				}
				break
			}
			for k := i; k <= j; k++ {
				acked[pns[k]] = true
			}
			i = j + 1
		}

		enc := a.AppendTo(nil)
		if len(enc) != a.Len() {
			t.Fatalf("Len %d, encoded %d", a.Len(), len(enc))
		}
		var f Frame
		n, err := ParseFrame(enc, &f)
		if err != nil || n != len(enc) {
			t.Fatalf("ParseFrame: %d, %v", n, err)
		}
		got := &f.Ack
		if got.Largest() != pns[0] || got.Delay != a.Delay {
			t.Fatalf("Largest %d Delay %d, want %d %d", got.Largest(), got.Delay, pns[0], a.Delay)
		}
		check := func(pn uint64) {
			if got.Acks(pn) != acked[pn] {
				t.Fatalf("Acks(%d) = %v, want %v", pn, got.Acks(pn), acked[pn])
			}
		}
		for pn := range set {
			check(pn)
			check(pn + 1)
			if pn > 0 {
				check(pn - 1)
			}
		}
		for range 200 {
			check(base + uint64(r.IntN(1100)))
		}
	}
}
