package recovery

import (
	"errors"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/stt-go/stt/internal/monotime"
)

const ms = monotime.Time(time.Millisecond)

func pkt(pn uint64, at monotime.Time) *SentPacket {
	return &SentPacket{PN: pn, Time: at, Size: 1000, AckEliciting: true, InFlight: true}
}

// recorder collects callback packet numbers.
type recorder struct{ acked, lost []uint64 }

func (r *recorder) ack(p *SentPacket)  { r.acked = append(r.acked, p.PN) }
func (r *recorder) lose(p *SentPacket) { r.lost = append(r.lost, p.PN) }

func mustAdd(t *testing.T, s *Sent, p *SentPacket) {
	t.Helper()
	if !s.Add(p) {
		t.Fatalf("Add(%d) refused", p.PN)
	}
}

func TestSentLossDetection(t *testing.T) {
	for _, tc := range []struct {
		name      string
		sendTimes []monotime.Time // packet i sent at sendTimes[i]
		ackAt     monotime.Time
		ranges    []AckRange
		wantAcked []uint64
		wantLost  []uint64
		lossTime  monotime.Time // expected LossTime after the ACK
	}{
		{
			name:      "packet threshold",
			sendTimes: []monotime.Time{0, 0, 0, 0, 0},
			ackAt:     10 * ms,
			ranges:    []AckRange{{3, 3}},
			wantAcked: []uint64{3},
			wantLost:  []uint64{0}, // 0+3 <= 3; 1 and 2 wait for the timer
			// RTT 10 ms: loss delay 11.25 ms after packet 1's send time
			lossTime: monotime.Time(11250 * time.Microsecond),
		},
		{
			name:      "time threshold",
			sendTimes: []monotime.Time{0, 20 * ms, 30 * ms},
			ackAt:     40 * ms,
			ranges:    []AckRange{{2, 2}},
			wantAcked: []uint64{2},
			// RTT 10 ms, loss delay 11.25: 0 (40 ms old) lost, 1 (20 ms) lost
			wantLost: []uint64{0, 1},
		},
		{
			name:      "no loss within both thresholds",
			sendTimes: []monotime.Time{6 * ms, 6*ms + ms/2, 7 * ms},
			ackAt:     17 * ms,
			ranges:    []AckRange{{2, 2}},
			wantAcked: []uint64{2},
			// RTT 10 ms: packet 0 is 11 ms old, under 11.25
			lossTime: monotime.Time(17250 * time.Microsecond),
		},
		{
			name:      "ranges acked in increasing order",
			sendTimes: []monotime.Time{0, 0, 0, 0, 0, 0, 0},
			ackAt:     10 * ms,
			ranges:    []AckRange{{5, 6}, {2, 3}, {0, 0}},
			wantAcked: []uint64{0, 2, 3, 5, 6},
			wantLost:  []uint64{1}, // 1+3 <= 6; 4 waits (4+3 > 6)
			lossTime:  monotime.Time(11250 * time.Microsecond),
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := NewSent(4, 64)
			var rtt RTT
			for i, at := range tc.sendTimes {
				mustAdd(t, s, pkt(uint64(i), at))
			}
			var rec recorder
			if _, err := s.OnAck(tc.ackAt, tc.ranges, 0, &rtt, rec.ack, rec.lose); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(rec.acked, tc.wantAcked) || !slices.Equal(rec.lost, tc.wantLost) {
				t.Fatalf("acked %v lost %v, want %v %v", rec.acked, rec.lost, tc.wantAcked, tc.wantLost)
			}
			if s.LossTime() != tc.lossTime {
				t.Fatalf("LossTime %d, want %d", s.LossTime(), tc.lossTime)
			}
			left := len(tc.sendTimes) - len(tc.wantAcked) - len(tc.wantLost)
			if s.Len() != left || s.BytesInFlight() != 1000*left {
				t.Fatalf("Len %d BytesInFlight %d, want %d packets", s.Len(), s.BytesInFlight(), left)
			}
			if tc.lossTime != 0 {
				rec = recorder{}
				s.DetectLost(tc.lossTime-1, &rtt, rec.lose)
				if len(rec.lost) != 0 {
					t.Fatalf("lost %v before LossTime", rec.lost)
				}
				s.DetectLost(tc.lossTime, &rtt, rec.lose)
				if len(rec.lost) == 0 {
					t.Fatal("nothing lost at LossTime")
				}
			}
		})
	}
}

func TestSentAckErrors(t *testing.T) {
	for _, tc := range []struct {
		name   string
		setup  func(s *Sent)
		ranges []AckRange
		wantPN uint64
		want   error
	}{
		{"beyond largest sent", func(s *Sent) { s.Add(pkt(0, 0)); s.Add(pkt(1, 0)) },
			[]AckRange{{0, 2}}, 2, ErrAckUnsent},
		{"nothing sent", func(*Sent) {}, []AckRange{{0, 0}}, 0, ErrAckUnsent},
		{"deliberately skipped", func(s *Sent) {
			for pn := range uint64(5) {
				s.Add(pkt(pn, 0))
			}
			s.Skip(5)
			s.Add(pkt(6, 0))
		}, []AckRange{{4, 6}}, 5, ErrAckUnsent},
		{"skipped latest", func(s *Sent) { s.Add(pkt(0, 0)); s.Skip(1) },
			[]AckRange{{0, 1}}, 1, ErrAckUnsent},
		{"implicit gap", func(s *Sent) { s.Add(pkt(0, 0)); s.Add(pkt(3, 0)) },
			[]AckRange{{1, 3}}, 1, ErrAckUnsent},
		{"ranges ascending", func(s *Sent) {
			for pn := range uint64(6) {
				s.Add(pkt(pn, 0))
			}
		}, []AckRange{{0, 1}, {3, 4}}, 4, ErrAckRanges},
		{"ranges overlapping", func(s *Sent) {
			for pn := range uint64(6) {
				s.Add(pkt(pn, 0))
			}
		}, []AckRange{{3, 5}, {1, 3}}, 3, ErrAckRanges},
		{"smallest above largest", func(s *Sent) { s.Add(pkt(0, 0)); s.Add(pkt(1, 0)) },
			[]AckRange{{1, 0}}, 0, ErrAckRanges},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := NewSent(0, 0)
			tc.setup(s)
			before, bif := s.Len(), s.BytesInFlight()
			var rtt RTT
			var rec recorder
			_, err := s.OnAck(10*ms, tc.ranges, 0, &rtt, rec.ack, rec.lose)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err %v, want %v", err, tc.want)
			}
			var ae *AckError
			if !errors.As(err, &ae) || ae.PN != tc.wantPN {
				t.Fatalf("err %v: want *AckError with PN %d", err, tc.wantPN)
			}
			if s.Len() != before || s.BytesInFlight() != bif || len(rec.acked)+len(rec.lost) != 0 || rtt.HasSample() {
				t.Fatal("a rejected ACK changed state")
			}
		})
	}
}

// TestSentSkipRememberedAfterRing checks optimistic-ACK detection for a
// skipped packet number the ring has already moved past.
func TestSentSkipRememberedAfterRing(t *testing.T) {
	var s Sent
	var rtt RTT
	var rec recorder
	for pn := range uint64(5) {
		mustAdd(t, &s, pkt(pn, 0))
	}
	s.Skip(5)
	for pn := uint64(6); pn < 10; pn++ {
		mustAdd(t, &s, pkt(pn, 0))
	}
	if _, err := s.OnAck(5*ms, []AckRange{{6, 9}, {0, 4}}, 0, &rtt, rec.ack, rec.lose); err != nil {
		t.Fatal(err)
	}
	if s.Len() != 0 {
		t.Fatalf("Len %d after acking everything", s.Len())
	}
	_, err := s.OnAck(6*ms, []AckRange{{5, 9}}, 0, &rtt, rec.ack, rec.lose)
	if !errors.Is(err, ErrAckUnsent) {
		t.Fatalf("ACK of a forgotten skipped PN: %v, want ErrAckUnsent", err)
	}
	// Re-acknowledging real packets is harmless.
	if _, err := s.OnAck(6*ms, []AckRange{{6, 9}}, 0, &rtt, rec.ack, rec.lose); err != nil {
		t.Fatal(err)
	}
}

func TestSentRTTSampleRule(t *testing.T) {
	var s Sent
	var rtt RTT
	var rec recorder
	mustAdd(t, &s, pkt(0, 0))
	mustAdd(t, &s, &SentPacket{PN: 1, Time: 5 * ms, Size: 50}) // ACK-only: not ack-eliciting
	newly, err := s.OnAck(20*ms, []AckRange{{1, 1}}, 0, &rtt, rec.ack, rec.lose)
	if err != nil || !newly {
		t.Fatalf("newly %v err %v", newly, err)
	}
	if rtt.HasSample() {
		t.Fatal("RTT sampled from an ACK of only non-ack-eliciting packets")
	}
	newly, _ = s.OnAck(30*ms, []AckRange{{0, 1}}, 2*time.Millisecond, &rtt, rec.ack, rec.lose)
	if newly {
		t.Fatal("largest (1) reported newly acked twice")
	}
	if rtt.HasSample() {
		t.Fatal("RTT sampled although the largest acknowledged was not newly acked")
	}
	mustAdd(t, &s, pkt(2, 40*ms))
	mustAdd(t, &s, &SentPacket{PN: 3, Time: 41 * ms, Size: 50})
	if newly, _ = s.OnAck(60*ms, []AckRange{{2, 3}}, 0, &rtt, rec.ack, rec.lose); !newly {
		t.Fatal("largest not reported newly acked")
	}
	// Largest (3, sent 41 ms) newly acked with an ack-eliciting packet among the newly acked.
	if rtt.Latest() != 19*time.Millisecond {
		t.Fatalf("RTT sample %v, want 19ms (from the largest acknowledged)", rtt.Latest())
	}
}

func TestSentPersistentCongestion(t *testing.T) {
	for _, tc := range []struct {
		name   string
		ranges []AckRange
		want   bool
	}{
		// Losses 1-4 span 20..400 ms > 3 PTO (150 ms).
		{"contiguous losses over 3 PTO", []AckRange{{7, 7}}, true},
		// 3 acknowledged: runs 1-2 (80 ms) and 4 alone.
		{"an ack in between", []AckRange{{7, 7}, {3, 3}}, false},
		// Only 4 lost: a single packet is no span.
		{"one loss", []AckRange{{7, 7}, {1, 3}}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var s Sent
			var rtt RTT
			var rec recorder
			mustAdd(t, &s, pkt(0, 0))
			if _, err := s.OnAck(10*ms, []AckRange{{0, 0}}, 0, &rtt, rec.ack, rec.lose); err != nil {
				t.Fatal(err)
			}
			for i, at := range []monotime.Time{20 * ms, 100 * ms, 200 * ms, 400 * ms, 3000 * ms, 3000 * ms, 3000 * ms} {
				mustAdd(t, &s, pkt(uint64(i+1), at))
			}
			// RTT stays 10 ms (var 3.75): PTO = 10+15+25 = 50 ms.
			if _, err := s.OnAck(3010*ms, tc.ranges, 0, &rtt, rec.ack, rec.lose); err != nil {
				t.Fatal(err)
			}
			if got := s.PersistentCongestion(); got != tc.want {
				t.Fatalf("PersistentCongestion %v, want %v (lost %v)", got, tc.want, rec.lost)
			}
		})
	}
}

func TestSentCapacity(t *testing.T) {
	s := NewSent(2, 8)
	for pn := range uint64(8) {
		mustAdd(t, s, pkt(pn, 0))
	}
	if s.Add(pkt(8, 0)) {
		t.Fatal("Add beyond maxCap accepted")
	}
	var rtt RTT
	var rec recorder
	if _, err := s.OnAck(ms, []AckRange{{0, 0}}, 0, &rtt, rec.ack, rec.lose); err != nil {
		t.Fatal(err)
	}
	mustAdd(t, s, pkt(8, 0)) // room again
	if p, ok := s.OldestUnacked(); !ok || p.PN != 1 {
		t.Fatalf("OldestUnacked %v %v", p, ok)
	}
	// A skip that would span beyond the cap is refused too.
	s.Skip(20)
	if s.Add(pkt(21, 0)) {
		t.Fatal("Add spanning beyond maxCap accepted")
	}
	var drained []uint64
	s.DrainAll(func(p *SentPacket) { drained = append(drained, p.PN) })
	if !slices.Equal(drained, []uint64{1, 2, 3, 4, 5, 6, 7, 8}) || s.Len() != 0 || s.BytesInFlight() != 0 {
		t.Fatalf("DrainAll gave %v, Len %d", drained, s.Len())
	}
	if _, ok := s.OldestUnacked(); ok {
		t.Fatal("OldestUnacked after DrainAll")
	}
	mustAdd(t, s, pkt(21, 0)) // empty ring restarts at any PN
}

func TestSentPNReusePanics(t *testing.T) {
	var s Sent
	s.Add(pkt(3, 0))
	defer func() {
		if recover() == nil {
			t.Fatal("reused packet number did not panic")
		}
	}()
	s.Add(pkt(3, 0))
}

// TestSentRandom drives Sent with random sends, skips and ACKs from a peer
// that received a random subset, and checks the accounting: every packet is
// reported exactly once (acked, lost or drained), skipped numbers are never
// reported, and BytesInFlight equals the size of what is outstanding.
func TestSentRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	s := NewSent(4, 1024)
	var rtt RTT
	now := monotime.Time(0)
	next := uint64(0)
	sent := map[uint64]uint32{} // outstanding per our model
	reported := map[uint64]bool{}
	received := []uint64{}
	report := func(p *SentPacket) {
		if reported[p.PN] {
			t.Fatalf("packet %d reported twice", p.PN)
		}
		if _, ok := sent[p.PN]; !ok {
			t.Fatalf("packet %d reported but not outstanding", p.PN)
		}
		if s.BytesInFlight() < int(p.Size) {
			t.Fatal("BytesInFlight excludes p during its callback")
		}
		reported[p.PN] = true
		delete(sent, p.PN)
	}
	for range 20000 {
		now += monotime.Time(rng.Int64N(int64(2 * time.Millisecond)))
		switch op := rng.IntN(10); {
		case op < 5:
			if rng.IntN(20) == 0 {
				s.Skip(next)
				next++
				continue
			}
			p := &SentPacket{PN: next, Time: now, Size: uint32(100 + rng.IntN(1300)), AckEliciting: true, InFlight: true}
			if s.Add(p) {
				sent[next] = p.Size
				if rng.IntN(10) != 0 {
					received = append(received, next) // the peer got it (10% loss)
				}
			}
			next++
		case op < 9:
			if len(received) == 0 {
				continue
			}
			// ACK the most recent received packets as descending ranges.
			var ranges []AckRange
			for i := len(received) - 1; i >= 0 && len(ranges) < 8; i-- {
				pn := received[i]
				if n := len(ranges); n > 0 && ranges[n-1].Smallest == pn+1 {
					ranges[n-1].Smallest = pn
				} else {
					ranges = append(ranges, AckRange{pn, pn})
				}
			}
			if _, err := s.OnAck(now, ranges, 0, &rtt, report, report); err != nil {
				t.Fatal(err)
			}
		default:
			s.DetectLost(now, &rtt, report)
		}
		total := 0
		for _, size := range sent {
			total += int(size)
		}
		if s.BytesInFlight() != total || s.Len() != len(sent) {
			t.Fatalf("BytesInFlight %d Len %d, model %d %d", s.BytesInFlight(), s.Len(), total, len(sent))
		}
	}
	s.DrainAll(report)
	if len(sent) != 0 {
		t.Fatalf("%d packets never reported", len(sent))
	}
}

// TestSentStartAt checks a history rebuilt mid-session: ACKs of numbers
// settled before it existed are ignored, unsent numbers are still errors,
// and new packets are tracked from pn on.
func TestSentStartAt(t *testing.T) {
	s := NewSent(0, 0)
	s.StartAt(1000)
	var rtt RTT
	var rec recorder
	if newly, err := s.OnAck(10*ms, []AckRange{{900, 999}}, 0, &rtt, rec.ack, rec.lose); err != nil || newly || len(rec.acked) != 0 {
		t.Fatalf("ACK of settled numbers: newly %v err %v acked %v", newly, err, rec.acked)
	}
	if _, err := s.OnAck(10*ms, []AckRange{{999, 1000}}, 0, &rtt, rec.ack, rec.lose); !errors.Is(err, ErrAckUnsent) {
		t.Fatalf("ACK of unsent 1000: %v", err)
	}
	mustAdd(t, s, pkt(1000, 20*ms))
	if _, err := s.OnAck(30*ms, []AckRange{{990, 1000}}, 0, &rtt, rec.ack, rec.lose); err != nil || !slices.Equal(rec.acked, []uint64{1000}) {
		t.Fatalf("ACK of 1000: err %v acked %v", err, rec.acked)
	}
	s.StartAt(5) // ignored once packets were added
	mustAdd(t, s, pkt(1001, 40*ms))
	func() {
		defer func() {
			if recover() == nil {
				t.Fatal("Add below StartAt did not panic")
			}
		}()
		f := NewSent(0, 0)
		f.StartAt(10)
		f.Add(pkt(9, 0))
	}()
}

// TestAckContains checks the binary search against the obvious linear scan
// on random descending, disjoint range lists.
func TestAckContains(t *testing.T) {
	linear := func(ranges []AckRange, pn uint64) bool {
		for _, r := range ranges {
			if pn >= r.Smallest && pn <= r.Largest {
				return true
			}
		}
		return false
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		n := rng.IntN(MaxReceivedRanges + 1)
		ranges := make([]AckRange, 0, n)
		next := uint64(rng.IntN(4)) // build ascending, then reverse
		for range n {
			lo := next + uint64(rng.IntN(3))
			hi := lo + uint64(rng.IntN(4))
			ranges = append(ranges, AckRange{lo, hi})
			next = hi + 2
		}
		slices.Reverse(ranges)
		for pn := range next + 2 {
			if got, want := ackContains(ranges, pn), linear(ranges, pn); got != want {
				t.Fatalf("ackContains(%v, %d) = %v, want %v", ranges, pn, got, want)
			}
		}
	}
}

// TestSentCongestionInFlight: path MTU probes count in BytesInFlight (they
// are on the wire, and arm the PTO) but not in CongestionInFlight, through
// acknowledgement, loss and DrainAll.
func TestSentCongestionInFlight(t *testing.T) {
	s := NewSent(0, 0)
	probe := pkt(1, 0)
	probe.Probe, probe.Size = true, 65000
	for _, p := range []*SentPacket{pkt(0, 0), probe, pkt(2, 0), pkt(3, 0), pkt(4, 0), pkt(5, 0)} {
		mustAdd(t, s, p)
	}
	check := func(when string, bytes, cc int) {
		t.Helper()
		if s.BytesInFlight() != bytes || s.CongestionInFlight() != cc {
			t.Fatalf("%s: BytesInFlight %d, CongestionInFlight %d; want %d, %d", when, s.BytesInFlight(), s.CongestionInFlight(), bytes, cc)
		}
	}
	check("sent", 70000, 5000)
	var rtt RTT
	var rec recorder
	// 5 acknowledged: 0, 1 (the probe) and 2 are lost by packet threshold.
	if _, err := s.OnAck(10*ms, []AckRange{{5, 5}}, 0, &rtt, rec.ack, rec.lose); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(rec.lost, []uint64{0, 1, 2}) {
		t.Fatalf("lost %v, want [0 1 2]", rec.lost)
	}
	check("after loss", 2000, 2000)
	probe.PN = 6
	mustAdd(t, s, probe)
	check("second probe", 67000, 2000)
	if _, err := s.OnAck(10*ms, []AckRange{{4, 6}}, 0, &rtt, rec.ack, rec.lose); err != nil {
		t.Fatal(err)
	}
	check("probe acknowledged", 0, 0) // 3 is lost by packet threshold
	probe.PN = 7
	mustAdd(t, s, probe)
	s.DrainAll(func(*SentPacket) {})
	check("drained", 0, 0)
}
