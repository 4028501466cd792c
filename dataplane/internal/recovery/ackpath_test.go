package recovery

import (
	"testing"
	"time"

	"github.com/stt-go/stt/internal/monotime"
)

// ackPath drives a Sent and a Controller the way the session's receive
// path does, one ACK frame per step: two new packets leave (paced, 100
// Mbit/s worth of spacing), and the frame acknowledging the two sent 80
// packets earlier arrives (a 40 ms RTT at that rate; every 64th frame also
// reveals a loss). Only the Controller interface is used, so interface
// calls are part of what is measured.
type ackPath struct {
	sent    *Sent
	rtt     RTT
	cc      Controller
	pacer   *Pacer
	now     monotime.Time
	pn      uint64
	step    int
	ranges  []AckRange
	ackedFn func(*SentPacket)
	lostFn  func(*SentPacket)
}

const ackPathInFlight = 80 // packets in flight between steps

func newAckPath(tb testing.TB, cc Controller) *ackPath {
	tb.Helper()
	a := &ackPath{sent: NewSent(1024, 4096), cc: cc, pacer: NewPacer(mss), now: monotime.Time(time.Second),
		ranges: make([]AckRange, 2)}
	a.ackedFn = func(p *SentPacket) { a.cc.OnAck(a.now, p, &a.rtt, a.sent.BytesInFlight()) }
	a.lostFn = func(p *SentPacket) { a.cc.OnLoss(a.now, p, a.sent.BytesInFlight()) }
	for range ackPathInFlight {
		a.send()
	}
	for range 2000 { // warm up: rings grown, model built
		a.ack()
	}
	return a
}

func (a *ackPath) send() {
	before := a.sent.BytesInFlight()
	a.sent.Add(&SentPacket{PN: a.pn, Time: a.now, Size: mss, AckEliciting: true, InFlight: true})
	a.cc.OnPacketSent(a.now, mss, before)
	a.pacer.OnSent(mss)
	a.pn++
}

// ack is one step: send two, receive the ACK frame for two older ones.
func (a *ackPath) ack() {
	a.now += monotime.Time(232 * time.Microsecond)
	rate := a.cc.PacingRate(&a.rtt)
	sinkInt = a.pacer.BudgetRate(a.now, rate)
	a.send()
	a.send()
	hi := a.pn - ackPathInFlight - 1
	a.step++
	if a.step%64 == 0 {
		// A loss: the frame skips hi-3, declared lost by the threshold.
		a.ranges = a.ranges[:2]
		a.ranges[0] = AckRange{hi - 2, hi}
		a.ranges[1] = AckRange{0, hi - 4}
	} else {
		a.ranges = a.ranges[:1]
		a.ranges[0] = AckRange{0, hi}
	}
	if _, err := a.sent.OnAck(a.now, a.ranges, 0, &a.rtt, a.ackedFn, a.lostFn); err != nil {
		panic(err)
	}
	for _, at := range a.sent.SpuriousInLastAck() {
		a.cc.OnSpuriousLoss(at)
	}
	a.cc.OnAckEvent(a.now, a.sent.RateSample(), &a.rtt, a.sent.BytesInFlight())
	sinkTime = a.pacer.NextSendRate(a.now, a.cc.PacingRate(&a.rtt), mss)
}

// TestNoAllocsControllers guards the per-ACK path of both controllers,
// through the interface, and BBR's loss path.
func TestNoAllocsControllers(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are not meaningful under -race")
	}
	for _, cc := range []Controller{NewBBR(&BBRConfig{Seed: 1}), NewCubic(mss)} {
		a := newAckPath(t, cc)
		if got := testing.AllocsPerRun(1000, a.ack); got != 0 {
			t.Errorf("%s: %v allocs per ACK frame, want 0", cc.Name(), got)
		}
	}
	b := NewBBR(nil)
	lost := &SentPacket{Size: mss, InFlight: true, AckEliciting: true, TxInFlight: 100 * mss}
	now := monotime.Time(time.Second)
	if got := testing.AllocsPerRun(1000, func() {
		now += monotime.Time(time.Millisecond)
		lost.PN++
		lost.Time = now - 1
		b.OnLoss(now, lost, 100*mss)
		b.OnSpuriousLoss(now)
		b.OnPersistentCongestion()
		sinkInt = b.Window()
	}); got != 0 {
		t.Errorf("BBR loss path: %v allocs, want 0", got)
	}
	s, _ := steadySent(t)
	if got := testing.AllocsPerRun(1000, func() {
		s.MarkAppLimited()
		sinkBool = s.AppLimited()
		sinkBool = s.RateSample().HasData()
	}); got != 0 {
		t.Errorf("Sent.MarkAppLimited/RateSample: %v allocs, want 0", got)
	}
}

// BenchmarkControllerAck measures one ACK frame through the session's
// receive path (Sent.OnAck with the per-packet callbacks, the per-frame
// OnAckEvent, the pacer's next send time) and, separately, the controller's
// own share: two OnAck calls and one OnAckEvent with a ready sample.
func BenchmarkControllerAck(b *testing.B) {
	for _, name := range []string{"bbr", "cubic"} {
		mk := func() Controller {
			if name == "bbr" {
				return NewBBR(&BBRConfig{Seed: 1})
			}
			return NewCubic(mss)
		}
		b.Run(name+"/frame", func(b *testing.B) {
			b.ReportAllocs()
			a := newAckPath(b, mk())
			for b.Loop() {
				a.ack()
			}
		})
		b.Run(name+"/controller", func(b *testing.B) {
			b.ReportAllocs()
			a := newAckPath(b, mk())
			rs := *a.sent.RateSample()
			p := &SentPacket{Size: mss, InFlight: true, AckEliciting: true}
			cc, now := a.cc, a.now
			for b.Loop() {
				now += monotime.Time(232 * time.Microsecond)
				p.Time = now - monotime.Time(40*time.Millisecond)
				cc.OnAck(now, p, &a.rtt, 80*mss)
				cc.OnAck(now, p, &a.rtt, 79*mss)
				rs.TotalDelivered += 2 * mss
				rs.PriorDelivered += 2 * mss
				cc.OnAckEvent(now, &rs, &a.rtt, 78*mss)
			}
		})
	}
}
