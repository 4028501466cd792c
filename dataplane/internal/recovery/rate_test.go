package recovery

import (
	"math"
	"testing"
	"time"

	"github.com/stt-go/stt/internal/monotime"
)

// rateOp is one step of a delivery-rate scenario: send packet pn at a time,
// acknowledge ranges at a time, or mark the sender application-limited.
type rateOp struct {
	at     time.Duration
	send   []uint64   // packet numbers sent (1000 bytes each) at at
	ack    []AckRange // ACK frame received at at
	appLim bool       // MarkAppLimited at at
}

func runRate(t *testing.T, rtt *RTT, ops []rateOp) (*Sent, *RateSample) {
	t.Helper()
	s := NewSent(64, 1024)
	noop := func(*SentPacket) {}
	var rs RateSample
	for _, op := range ops {
		now := monotime.Time(time.Second) + monotime.Time(op.at)
		if op.appLim {
			s.MarkAppLimited()
		}
		for _, pn := range op.send {
			if !s.Add(&SentPacket{PN: pn, Time: now, Size: 1000, AckEliciting: true, InFlight: true}) {
				t.Fatal("Add refused")
			}
		}
		if op.ack != nil {
			if _, err := s.OnAck(now, op.ack, 0, rtt, noop, noop); err != nil {
				t.Fatal(err)
			}
			rs = *s.RateSample()
		}
	}
	return s, &rs
}

func TestRateSample(t *testing.T) {
	ms := time.Millisecond
	for _, tc := range []struct {
		name   string
		minRTT time.Duration // RTT estimator's minimum (0: no sample)
		ops    []rateOp
		want   RateSample // compared field by field (TotalLost etc. included)
	}{
		{
			// 10 packets at 1 ms spacing, each acknowledged 50 ms later: the
			// last ACK covers 10 packets delivered over the 59 ms from the
			// start of the flight (send_elapsed 9 ms < ack_elapsed 59 ms).
			name:   "steady flight: delivered over ack_elapsed",
			minRTT: 50 * ms,
			ops: []rateOp{
				{at: 0, send: []uint64{0}}, {at: 1 * ms, send: []uint64{1}}, {at: 2 * ms, send: []uint64{2}},
				{at: 3 * ms, send: []uint64{3}}, {at: 4 * ms, send: []uint64{4}}, {at: 5 * ms, send: []uint64{5}},
				{at: 6 * ms, send: []uint64{6}}, {at: 7 * ms, send: []uint64{7}}, {at: 8 * ms, send: []uint64{8}},
				{at: 9 * ms, send: []uint64{9}},
				{at: 59 * ms, ack: []AckRange{{0, 9}}},
			},
			want: RateSample{
				DeliveryRate: 10000 / 0.059, Interval: 59 * ms, SendElapsed: 9 * ms, AckElapsed: 59 * ms,
				Delivered: 10000, PriorTime: monotime.Time(time.Second), RTT: 50 * ms,
				NewlyAcked: 10000, TxInFlight: 10000, LastAckedPN: 9, TotalDelivered: 10000,
			},
		},
		{
			// Packet 3 is sent while 2 is in flight and both are
			// acknowledged in one ACK 20 ms after the previous one: the
			// ACK rate (2000 bytes in 20 ms) exceeds the rate the flight
			// was sent at (40 ms since packet 1, the first send of the
			// interval), so the sample is capped by send_elapsed.
			name:   "ACK compression capped by the send rate",
			minRTT: 1 * ms,
			ops: []rateOp{
				{at: 0, send: []uint64{0}},
				{at: 10 * ms, ack: []AckRange{{0, 0}}},
				{at: 10 * ms, send: []uint64{1}},
				{at: 30 * ms, send: []uint64{2}},
				{at: 31 * ms, ack: []AckRange{{1, 1}, {0, 0}}},
				{at: 50 * ms, send: []uint64{3}},
				{at: 51 * ms, ack: []AckRange{{2, 3}}},
			},
			want: RateSample{
				DeliveryRate: 2000 / 0.040, Interval: 40 * ms, SendElapsed: 40 * ms, AckElapsed: 20 * ms,
				Delivered: 2000, PriorDelivered: 2000, PriorTime: monotime.Time(time.Second + 31*ms), RTT: 1 * ms,
				NewlyAcked: 2000, TxInFlight: 2000, LastAckedPN: 3, TotalDelivered: 4000,
			},
		},
		{
			// Marked app-limited with 1000 bytes in flight and nothing
			// delivered: packets sent until 1000 bytes are delivered carry
			// the mark; packet 2, sent after the bubble left, does not.
			name: "app-limited mark ends once the bubble is delivered",
			ops: []rateOp{
				{at: 0, send: []uint64{0}},
				{at: 1 * ms, appLim: true, send: []uint64{1}},
				{at: 30 * ms, ack: []AckRange{{0, 1}}}, // delivered 2000 > mark 1000: cleared
				{at: 31 * ms, send: []uint64{2}},       // nothing in flight: the interval starts now
				{at: 40 * ms, ack: []AckRange{{2, 2}, {0, 1}}},
			},
			want: RateSample{
				DeliveryRate: 1000 / 0.009, Interval: 9 * ms, AckElapsed: 9 * ms, Delivered: 1000,
				PriorDelivered: 2000, PriorTime: monotime.Time(time.Second + 31*ms), RTT: 9 * ms,
				NewlyAcked: 1000, TxInFlight: 1000, LastAckedPN: 2, TotalDelivered: 3000,
			},
		},
		{
			name: "app-limited sample",
			ops: []rateOp{
				{at: 0, appLim: true, send: []uint64{0}},
				{at: 1 * ms, send: []uint64{1}},
				{at: 30 * ms, ack: []AckRange{{1, 1}, {0, 0}}},
			},
			want: RateSample{
				DeliveryRate: 2000 / 0.030, Interval: 30 * ms, SendElapsed: 1 * ms, AckElapsed: 30 * ms,
				Delivered: 2000, PriorTime: monotime.Time(time.Second), RTT: 29 * ms, IsAppLimited: true,
				NewlyAcked: 2000, TxInFlight: 2000, LastAckedPN: 1, TotalDelivered: 2000,
			},
		},
		{
			// Packets 0-4 in flight; the ACK of 4 declares 0 and 1 lost by
			// the packet threshold (3): RS.lost counts losses since packet
			// 4 was sent, TxInFlight is packet 4's (5000).
			name: "losses and tx_in_flight",
			ops: []rateOp{
				{at: 0, send: []uint64{0, 1, 2, 3, 4}},
				{at: 10 * ms, ack: []AckRange{{4, 4}}},
			},
			want: RateSample{
				DeliveryRate: 1000 / 0.010, Interval: 10 * ms, AckElapsed: 10 * ms, Delivered: 1000,
				PriorTime: monotime.Time(time.Second), RTT: 10 * ms, NewlyAcked: 1000, NewlyLost: 2000,
				Lost: 2000, TxInFlight: 5000, LastAckedPN: 4, TotalDelivered: 1000, TotalLost: 2000,
			},
		},
		{
			name: "ACK of nothing new: empty sample",
			ops: []rateOp{
				{at: 0, send: []uint64{0}},
				{at: 10 * ms, ack: []AckRange{{0, 0}}},
				{at: 11 * ms, ack: []AckRange{{0, 0}}},
			},
			want: RateSample{RTT: -1, TotalDelivered: 1000},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var rtt RTT
			if tc.minRTT > 0 {
				rtt.Update(tc.minRTT, 0, true)
			}
			_, got := runRate(t, &rtt, tc.ops)
			if math.Abs(got.DeliveryRate-tc.want.DeliveryRate) > 1e-6*tc.want.DeliveryRate {
				t.Errorf("DeliveryRate %v, want %v", got.DeliveryRate, tc.want.DeliveryRate)
			}
			got.DeliveryRate = tc.want.DeliveryRate
			if *got != tc.want {
				t.Errorf("sample\n got %+v\nwant %+v", *got, tc.want)
			}
		})
	}
}

// TestRateMinRTTGuard: a sample whose interval is shorter than the minimum
// RTT (a spurious retransmission, or an RTT drop seen only by a reordered
// packet) gives no rate.
func TestRateMinRTTGuard(t *testing.T) {
	var rtt RTT
	rtt.Update(100*time.Millisecond, 0, true)
	var d deliveryState
	p := &SentPacket{PN: 7, Time: 50 * ms, Size: 1000, InFlight: true}
	d.onSent(p, 0)
	d.startAck()
	d.onAcked(70*ms, p)
	d.finishAck(&rtt, 0)
	if d.rs.Interval != 20*time.Millisecond || d.rs.DeliveryRate != 0 || !d.rs.HasData() {
		t.Fatalf("sample %+v, want a 20 ms interval and no rate", d.rs)
	}
	d.startAck()
	d.onAcked(300*ms, &SentPacket{PN: 8, Time: 60 * ms, Size: 1000, InFlight: true, DeliveredTime: 60 * ms, FirstSentTime: 60 * ms})
	d.finishAck(&rtt, 0)
	if d.rs.DeliveryRate == 0 {
		t.Fatalf("sample %+v over 240 ms has no rate", d.rs)
	}
}

// TestRateStamps checks the per-packet snapshot Add records and the
// app-limited bookkeeping.
func TestRateStamps(t *testing.T) {
	var rtt RTT
	s := NewSent(0, 0)
	if rs := s.RateSample(); rs.HasData() || s.AppLimited() {
		t.Fatal("fresh Sent has a sample or is app-limited")
	}
	at := func(d time.Duration) monotime.Time { return monotime.Time(time.Second) + monotime.Time(d) }
	s.Add(&SentPacket{PN: 0, Time: at(0), Size: 1200, InFlight: true, AckEliciting: true})
	s.Add(&SentPacket{PN: 1, Time: at(0), Size: 300}) // ACK-only: no stamp, not counted
	s.MarkAppLimited()
	if !s.AppLimited() {
		t.Fatal("MarkAppLimited did not mark")
	}
	s.Add(&SentPacket{PN: 2, Time: at(time.Millisecond), Size: 1000, InFlight: true, AckEliciting: true,
		Delivered: 99, Lost: 99, TxInFlight: 99}) // caller's values are overwritten
	var seen []SentPacket
	rec := func(p *SentPacket) { seen = append(seen, *p) }
	if _, err := s.OnAck(at(20*time.Millisecond), []AckRange{{0, 2}}, 0, &rtt, rec, rec); err != nil {
		t.Fatal(err)
	}
	if len(seen) != 3 {
		t.Fatalf("%d packets acknowledged", len(seen))
	}
	p0, p1, p2 := seen[0], seen[1], seen[2]
	if p0.TxInFlight != 1200 || p0.AppLimited || p0.FirstSentTime != at(0) || p0.DeliveredTime != at(0) {
		t.Errorf("packet 0 stamp %+v", p0)
	}
	if p1.TxInFlight != 0 || p1.Delivered != 0 {
		t.Errorf("ACK-only packet stamped: %+v", p1)
	}
	if p2.TxInFlight != 2200 || !p2.AppLimited || p2.Delivered != 0 || p2.Lost != 0 || p2.FirstSentTime != at(0) {
		t.Errorf("packet 2 stamp %+v", p2)
	}
	if s.Delivered() != 2200 || s.Lost() != 0 || s.AppLimited() {
		t.Errorf("delivered %d lost %d app-limited %v", s.Delivered(), s.Lost(), s.AppLimited())
	}
	rs := s.RateSample()
	if !rs.HasData() || !rs.IsAppLimited || rs.NewlyAcked != 2200 || rs.LastAckedPN != 2 {
		t.Errorf("sample %+v", *rs)
	}
}

// TestRateAckBurst: ACK frames handled in a burst (within ackBurstGuard)
// after the host stalled, with a packet sent between them. Its snapshot is
// the state from before the burst, so the bytes the burst acknowledged fall
// inside its sample's interval together with the time they took, instead
// of inflating it; a packet sent after the burst settled anchors on it.
func TestRateAckBurst(t *testing.T) {
	const msD = time.Millisecond
	var rtt RTT
	rtt.Update(40*msD, 0, true)
	s := NewSent(64, 1024)
	at := func(d time.Duration) monotime.Time { return monotime.Time(time.Second) + monotime.Time(d) }
	var seen []SentPacket
	rec := func(p *SentPacket) { seen = append(seen, *p) }
	send := func(pn uint64, d time.Duration) {
		t.Helper()
		if !s.Add(&SentPacket{PN: pn, Time: at(d), Size: 1000, InFlight: true, AckEliciting: true}) {
			t.Fatal("Add refused")
		}
	}
	ack := func(d time.Duration, lo, hi uint64) *RateSample {
		t.Helper()
		if _, err := s.OnAck(at(d), []AckRange{{lo, hi}}, 0, &rtt, rec, rec); err != nil {
			t.Fatal(err)
		}
		return s.RateSample()
	}
	for pn := range uint64(10) {
		send(pn, time.Duration(pn)*msD) // 1000 bytes per ms
	}
	// The ACKs of packets 0-9 were due from 40 ms on; they are handled
	// together at 59 ms, packet 10 going out between the two frames.
	ack(59*msD, 0, 4)
	send(10, 59*msD)
	ack(59*msD, 5, 9)
	send(11, 59*msD+ackBurstGuard+msD) // after the burst settled
	rs := ack(99*msD, 10, 10)
	if rs.PriorDelivered != 0 || rs.Delivered != 11000 || rs.AckElapsed != 99*msD || rs.SendElapsed != 59*msD {
		t.Fatalf("packet 10's sample: prior %d, delivered %d over send %v / ack %v; want 0, 11000 over 59 ms / 99 ms",
			rs.PriorDelivered, rs.Delivered, rs.SendElapsed, rs.AckElapsed)
	}
	rs = ack(101*msD, 11, 11)
	if rs.PriorDelivered != 10000 || rs.Delivered != 2000 || rs.AckElapsed != 42*msD {
		t.Fatalf("packet 11's sample: prior %d, delivered %d over %v; want 10000, 2000 over 42 ms",
			rs.PriorDelivered, rs.Delivered, rs.AckElapsed)
	}
}

// TestRatePacedTime: send_elapsed is measured on the pacing schedule
// (SentPacket.PacedTime), so a burst sent late is not a fast flight.
func TestRatePacedTime(t *testing.T) {
	const msD = time.Millisecond
	var rtt RTT
	rtt.Update(40*msD, 0, true)
	s := NewSent(64, 1024)
	at := func(d time.Duration) monotime.Time { return monotime.Time(time.Second) + monotime.Time(d) }
	noop := func(*SentPacket) {}
	s.Add(&SentPacket{PN: 0, Time: at(0), PacedTime: at(0), Size: 1000, InFlight: true, AckEliciting: true})
	// Due at 2, 4, 6 and 8 ms, sent together at 8 ms after a stall.
	for pn := uint64(1); pn <= 4; pn++ {
		s.Add(&SentPacket{PN: pn, Time: at(8 * msD), PacedTime: at(time.Duration(2*pn) * msD), Size: 1000, InFlight: true, AckEliciting: true})
	}
	if _, err := s.OnAck(at(40*msD), []AckRange{{0, 0}}, 0, &rtt, noop, noop); err != nil {
		t.Fatal(err)
	}
	if _, err := s.OnAck(at(48*msD), []AckRange{{1, 4}}, 0, &rtt, noop, noop); err != nil {
		t.Fatal(err)
	}
	if rs := s.RateSample(); rs.SendElapsed != 8*msD || rs.RTT != 40*msD {
		t.Fatalf("send_elapsed %v (paced 0 to 8 ms), RTT %v (sent at 8 ms)", rs.SendElapsed, rs.RTT)
	}
}
