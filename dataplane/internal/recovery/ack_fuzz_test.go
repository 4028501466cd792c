package recovery

import (
	"encoding/binary"
	"errors"
	"testing"
	"time"

	"github.com/stt-go/stt/internal/monotime"
)

// FuzzRecoveryAck feeds peer-controlled ACK ranges to a sent-packet history
// (with deliberate skips) and peer-controlled packet numbers to a Received.
// Invariants: no panic; a rejected ACK changes nothing; every packet is
// reported at most once and only if it was sent; BytesInFlight matches what
// is outstanding; Received never holds more than MaxReceivedRanges ranges and
// FillAck's ranges are descending and disjoint.
func FuzzRecoveryAck(f *testing.F) {
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0, 5, 0, 0, 0, 0, 0, 0, 0, 0})
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0, 40, 0, 0, 0, 0, 0, 0, 0, 30, 0, 0, 0, 0, 0, 0, 0, 20, 0, 0, 0, 0, 0, 0, 0, 2})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		s := NewSent(8, 256)
		var rtt RTT
		sent := map[uint64]uint32{}
		for pn := range uint64(100) {
			if pn%7 == 3 {
				s.Skip(pn)
				continue
			}
			p := &SentPacket{PN: pn, Time: monotime.Time(pn) * monotime.Time(time.Millisecond),
				Size: uint32(100 + pn), AckEliciting: true, InFlight: true}
			if s.Add(p) {
				sent[pn] = p.Size
			}
		}
		reported := map[uint64]bool{}
		report := func(p *SentPacket) {
			if _, ok := sent[p.PN]; !ok || reported[p.PN] {
				t.Fatalf("packet %d reported but not outstanding", p.PN)
			}
			reported[p.PN] = true
			delete(sent, p.PN)
		}
		var rx Received
		var ranges []AckRange
		for len(data) >= 16 {
			a, b := binary.BigEndian.Uint64(data), binary.BigEndian.Uint64(data[8:])
			data = data[16:]
			rx.Add(a, 0, b&1 == 1)
			if rx.Add(a, 0, true) {
				t.Fatalf("second Add(%d) reported new", a)
			}
			ranges = append(ranges, AckRange{Smallest: min(a, b) % 128, Largest: max(a, b) % 128})
		}
		lenBefore, bifBefore := s.Len(), s.BytesInFlight()
		_, err := s.OnAck(200*monotime.Time(time.Millisecond), ranges, 0, &rtt, report, report)
		if err != nil {
			var ae *AckError
			if !errors.As(err, &ae) || !(errors.Is(err, ErrAckUnsent) || errors.Is(err, ErrAckRanges)) {
				t.Fatalf("unexpected error %v", err)
			}
			if s.Len() != lenBefore || s.BytesInFlight() != bifBefore || len(reported) != 0 {
				t.Fatal("rejected ACK changed state")
			}
		}
		total := 0
		for _, size := range sent {
			total += int(size)
		}
		if s.BytesInFlight() != total || s.Len() != len(sent) {
			t.Fatalf("BytesInFlight %d Len %d, model %d %d", s.BytesInFlight(), s.Len(), total, len(sent))
		}
		out := make([]AckRange, MaxReceivedRanges+1)
		n, _ := rx.FillAck(0, out)
		if n > MaxReceivedRanges {
			t.Fatalf("%d ranges", n)
		}
		for i := range n {
			if out[i].Smallest > out[i].Largest || (i > 0 && out[i].Largest+1 >= out[i-1].Smallest) {
				t.Fatalf("ranges not descending and disjoint: %v", out[:n])
			}
		}
	})
}
