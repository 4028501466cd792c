package recovery

import (
	"math"
	"testing"
	"time"

	"github.com/stt-go/stt/internal/monotime"
)

const mss = DefaultMaxDatagramSize

// ccSim drives a Cubic like a window-limited sender: each round sends a full
// window at once and has it acknowledged one RTT later.
type ccSim struct {
	c   *Cubic
	rtt RTT
	now monotime.Time
	bif int
}

// round sends the window, then acknowledges every packet spread evenly over
// the following rttSample, and returns the window after the round.
func (s *ccSim) round(rttSample time.Duration) int {
	n := max(s.c.Window()/mss, 1)
	sentAt := s.now
	for range n {
		s.c.OnPacketSent(s.now, mss, s.bif)
		s.bif += mss
	}
	for i := range n {
		at := sentAt.Add(rttSample * time.Duration(i+1) / time.Duration(n))
		s.rtt.Update(rttSample, 0, true)
		p := &SentPacket{Time: sentAt, Size: mss, InFlight: true, AckEliciting: true}
		s.c.OnAck(at, p, &s.rtt, s.bif)
		s.bif -= mss
	}
	s.now = sentAt.Add(rttSample)
	return s.c.Window()
}

// clocked runs an ack-clocked, window-limited sender until the given time:
// every ACK arrives one RTT after its packet was sent, and the sender refills
// the window at once.
func (s *ccSim) clocked(until monotime.Time, rttSample time.Duration, inflight *[]monotime.Time) {
	for {
		for s.bif+mss <= s.c.Window() {
			s.c.OnPacketSent(s.now, mss, s.bif)
			s.bif += mss
			*inflight = append(*inflight, s.now)
		}
		sent := (*inflight)[0]
		at := sent.Add(rttSample)
		if at > until {
			return
		}
		*inflight = (*inflight)[1:]
		s.now = at
		s.rtt.Update(rttSample, 0, true)
		s.c.OnAck(at, &SentPacket{Time: sent, Size: mss, InFlight: true, AckEliciting: true}, &s.rtt, s.bif)
		s.bif -= mss
	}
}

func TestCubicInitial(t *testing.T) {
	for _, tc := range []struct {
		maxDatagram, window, minWindow int
	}{
		{1452, 14520, 2904}, // 10 * 1452 < 14720
		{0, 14520, 2904},    // default
		{1200, 12000, 2400},
		{1500, 14720, 3000}, // min(15000, max(14720, 3000))
		{9000, 18000, 18000},
	} {
		c := NewCubic(tc.maxDatagram)
		if c.Window() != tc.window || !c.InSlowStart() || c.InRecovery() {
			t.Errorf("NewCubic(%d): window %d, want %d", tc.maxDatagram, c.Window(), tc.window)
		}
		c.OnPersistentCongestion()
		if c.Window() != tc.minWindow {
			t.Errorf("NewCubic(%d): min window %d, want %d", tc.maxDatagram, c.Window(), tc.minWindow)
		}
	}
	var zero Cubic
	if zero.Window() != 14520 || !zero.CanSend(0) || zero.CanSend(14520) {
		t.Error("zero Cubic not ready with the defaults")
	}
}

func TestCubicSlowStartDoubles(t *testing.T) {
	s := &ccSim{c: NewCubic(mss), now: ms}
	w := s.c.Window()
	for r := range 5 {
		got := s.round(50 * time.Millisecond)
		if got != 2*w {
			t.Fatalf("round %d: window %d, want doubled %d", r, got, 2*w)
		}
		w = got
	}
	if !s.c.InSlowStart() || s.c.InConservativeSlowStart() {
		t.Fatal("left slow start with a constant RTT")
	}
}

func TestCubicNoGrowthWhenAppLimited(t *testing.T) {
	c := NewCubic(mss)
	var rtt RTT
	rtt.Update(10*time.Millisecond, 0, true)
	p := &SentPacket{Time: ms, Size: mss, InFlight: true}
	c.OnPacketSent(ms, mss, 0)
	w := c.Window()
	c.OnAck(20*ms, p, &rtt, mss) // 1 packet of 10 in flight: not window-limited
	if c.Window() != w {
		t.Fatalf("grew to %d while not window-limited", c.Window())
	}
	c.OnPacketSent(ms, mss, w)
	c.SetAppLimited(true)
	c.OnAck(21*ms, p, &rtt, w)
	if c.Window() != w {
		t.Fatalf("grew to %d while app-limited", c.Window())
	}
	c.SetAppLimited(false)
	c.OnAck(22*ms, p, &rtt, w)
	if c.Window() != w+mss {
		t.Fatalf("window %d after a window-limited ACK, want %d", c.Window(), w+mss)
	}
}

func TestCubicOneReductionPerRecovery(t *testing.T) {
	c := NewCubic(mss)
	var rtt RTT
	w := float64(c.Window())
	lost := func(sent monotime.Time) *SentPacket {
		return &SentPacket{Time: sent, Size: mss, InFlight: true, AckEliciting: true}
	}
	c.OnLoss(100*ms, lost(50*ms), 10*mss)
	want := int(w * 0.7)
	if c.Window() != want || !c.InRecovery() || c.InSlowStart() {
		t.Fatalf("after loss: window %d (want %d) recovery %v slowstart %v", c.Window(), want, c.InRecovery(), c.InSlowStart())
	}
	if c.SlowStartThreshold() != want {
		t.Fatalf("ssthresh %d, want %d", c.SlowStartThreshold(), want)
	}
	// Losses of packets sent before recovery began: ignored.
	c.OnLoss(110*ms, lost(60*ms), 10*mss)
	c.OnLoss(120*ms, lost(100*ms), 10*mss)
	if c.Window() != want {
		t.Fatalf("second loss in one recovery period reduced to %d", c.Window())
	}
	// ACKs of packets sent before recovery: no growth, recovery continues.
	c.OnAck(130*ms, lost(90*ms), &rtt, c.Window())
	if c.Window() != want || !c.InRecovery() {
		t.Fatal("ACK of a pre-recovery packet grew the window or ended recovery")
	}
	// ACK of a packet sent after recovery began ends it.
	c.OnAck(140*ms, lost(105*ms), &rtt, c.Window())
	if c.InRecovery() {
		t.Fatal("recovery did not end")
	}
	// A loss of a packet sent after recovery began: a new reduction.
	w2 := float64(c.Window())
	c.OnLoss(150*ms, lost(106*ms), 10*mss)
	if c.Window() != int(w2*0.7) {
		t.Fatalf("new period: window %d, want %d", c.Window(), int(w2*0.7))
	}
	// Not-in-flight packets never count.
	c.OnLoss(300*ms, &SentPacket{Time: 200 * ms, Size: 50}, 0)
	if c.Window() != int(w2*0.7) {
		t.Fatal("loss of an ACK-only packet reduced the window")
	}
	// The window never drops below the minimum.
	for i := range 50 {
		at := monotime.Time(1000+i*10) * ms
		c.OnLoss(at+5*ms, lost(at), 0)
	}
	if c.Window() != 2*mss {
		t.Fatalf("window %d after repeated loss, want the minimum %d", c.Window(), 2*mss)
	}
}

func TestCubicPersistentCongestion(t *testing.T) {
	s := &ccSim{c: NewCubic(mss), now: ms}
	s.round(10 * time.Millisecond)
	s.c.OnLoss(s.now, &SentPacket{Time: s.now - ms, Size: mss, InFlight: true}, 0)
	s.c.OnPersistentCongestion()
	if s.c.Window() != 2*mss || s.c.InRecovery() || !s.c.InSlowStart() {
		t.Fatalf("window %d recovery %v slowstart %v", s.c.Window(), s.c.InRecovery(), s.c.InSlowStart())
	}
	// Slow start again (up to ssthresh).
	if got := s.round(10 * time.Millisecond); got != 4*mss {
		t.Fatalf("after persistent congestion, one round grew to %d, want %d", got, 4*mss)
	}
}

// wCubicRef is RFC 9438 §4.2, in segments: W(t) = C*(t-K)^3 + W_max with
// K = cbrt((W_max - cwnd_epoch)/C).
func wCubicRef(t, wMax, cwndEpoch float64) float64 {
	k := math.Cbrt((wMax - cwndEpoch) / 0.4)
	return 0.4*math.Pow(t-k, 3) + wMax
}

// TestCubicGrowthShape checks congestion avoidance against W_cubic(t): concave
// below W_max, plateau around K, convex above.
func TestCubicGrowthShape(t *testing.T) {
	const rttD = 100 * time.Millisecond
	c := NewCubic(mss)
	c.cwnd = 1000 * mss // pretend slow start reached 1000 segments
	s := &ccSim{c: c, now: 1000 * ms}
	s.rtt.Update(rttD, 0, true)
	c.OnLoss(s.now, &SentPacket{Time: s.now - ms, Size: mss, InFlight: true}, 0)
	if math.Abs(c.cwnd/mss-700) > 0.01 {
		t.Fatalf("after loss %.2f segments, want 700", c.cwnd/mss)
	}
	s.now += ms
	epoch := s.now // the first ACK after recovery starts the epoch
	k := math.Cbrt(300 / 0.4)
	checks := []float64{1, 3, 6, k, 11, 13, 15}
	var prev float64
	var prevT float64
	var rates []float64
	var inflight []monotime.Time
	for _, at := range checks {
		s.clocked(epoch.Add(time.Duration(at*float64(time.Second))), rttD, &inflight)
		tt := s.now.Sub(epoch).Seconds()
		got := float64(c.Window()) / mss
		want := wCubicRef(tt, 1000, 700)
		if math.Abs(got-want)/want > 0.02 {
			t.Errorf("t=%.2fs: window %.1f segments, W_cubic %.1f", tt, got, want)
		}
		if prev != 0 {
			rates = append(rates, (got-prev)/(tt-prevT))
		}
		prev, prevT = got, tt
	}
	// Growth slows towards K (concave) and speeds up after it (convex).
	if !(rates[0] > rates[1] && rates[1] > rates[2] && rates[3] < rates[4] && rates[4] < rates[5]) {
		t.Errorf("growth rates %v are not concave then convex", rates)
	}
}

// TestCubicRenoFriendly checks that at a short RTT and small window the
// Reno-friendly estimate (RFC 9438 §4.3) leads: ~0.53 segments per RTT until
// the pre-loss window (100), then 1 per RTT.
func TestCubicRenoFriendly(t *testing.T) {
	const rttD = 10 * time.Millisecond
	c := NewCubic(mss)
	c.cwnd = 100 * mss
	s := &ccSim{c: c, now: ms}
	s.rtt.Update(rttD, 0, true)
	c.OnLoss(s.now, &SentPacket{Time: 0, Size: mss, InFlight: true}, 0)
	s.now += ms
	var inflight []monotime.Time
	s.clocked(s.now.Add(time.Second), rttD, &inflight)
	got := float64(c.Window()) / mss
	cubic := wCubicRef(1.0, 100, 70)
	// 70 + 57 rounds * 0.53 reaches 100, then +1 per round: about 143.
	if got < 135 || got > 150 || got < cubic+20 {
		t.Fatalf("window %.1f segments after 100 RTTs (W_cubic %.1f), want ~143", got, cubic)
	}
}

func TestCubicHyStart(t *testing.T) {
	s := &ccSim{c: NewCubic(mss), now: ms}
	for range 3 {
		s.round(50 * time.Millisecond)
	}
	// RTT rises by more than max(4ms, 50/8 ms): Conservative Slow Start.
	s.round(60 * time.Millisecond) // this round's samples set currentRoundMin
	w := s.round(60 * time.Millisecond)
	if !s.c.InConservativeSlowStart() || !s.c.InSlowStart() {
		t.Fatalf("no CSS after the RTT rose (window %d)", w)
	}
	// CSS grows by a quarter per round, then enters congestion avoidance.
	for i := 0; s.c.InConservativeSlowStart(); i++ {
		before := s.c.Window()
		after := s.round(60 * time.Millisecond)
		if s.c.InConservativeSlowStart() && (after < before+before/4-mss || after > before+before/4+mss) {
			t.Fatalf("CSS round %d: %d -> %d, want +25%%", i, before, after)
		}
		if i > hystartCSSRounds+1 {
			t.Fatal("CSS did not end")
		}
	}
	if s.c.InSlowStart() {
		t.Fatal("still in slow start after CSS")
	}
}

func TestCubicHyStartSpurious(t *testing.T) {
	s := &ccSim{c: NewCubic(mss), now: ms}
	for range 3 {
		s.round(50 * time.Millisecond)
	}
	s.round(60 * time.Millisecond)
	s.round(60 * time.Millisecond)
	if !s.c.InConservativeSlowStart() {
		t.Fatal("no CSS")
	}
	s.round(40 * time.Millisecond) // RTT fell below the CSS baseline
	if s.c.InConservativeSlowStart() || !s.c.InSlowStart() {
		t.Fatal("did not resume slow start after a spurious exit")
	}
}

// TestCubicUndoSpurious: a congestion event is undone once every loss of
// its recovery period proved spurious, not before, and a spurious loss of
// an earlier period changes nothing.
func TestCubicUndoSpurious(t *testing.T) {
	lost := func(sent monotime.Time) *SentPacket {
		return &SentPacket{Time: sent, Size: mss, InFlight: true, AckEliciting: true}
	}
	// Grow out of the initial window in congestion avoidance first.
	c := NewCubic(mss)
	sim := &ccSim{c: c, now: 0}
	for range 6 {
		sim.round(10 * time.Millisecond)
	}
	c.OnLoss(sim.now, lost(sim.now-5*ms), 0) // leaves slow start
	for range 4 {
		sim.round(10 * time.Millisecond)
	}
	before, ssBefore := c.Window(), c.SlowStartThreshold()

	// One period, two losses: one spurious is not enough.
	at := sim.now + 5*ms
	c.OnLoss(at, lost(sim.now+1*ms), 0)
	c.OnLoss(at+1*ms, lost(sim.now+2*ms), 0) // same period (sent before it began)
	reduced := c.Window()
	if reduced >= before {
		t.Fatalf("no reduction: %d -> %d", before, reduced)
	}
	c.OnSpuriousLoss(at)
	if c.Window() != reduced {
		t.Fatal("undone while one loss of the period may be real")
	}
	c.OnSpuriousLoss(at + 1*ms)
	if c.Window() != before || c.SlowStartThreshold() != ssBefore || c.InRecovery() {
		t.Fatalf("after both proved spurious: window %d ssthresh %d recovery %v, want %d %d false",
			c.Window(), c.SlowStartThreshold(), c.InRecovery(), before, ssBefore)
	}
	// Undone once only; a further report changes nothing.
	c.OnSpuriousLoss(at + 1*ms)
	if c.Window() != before {
		t.Fatal("second undo")
	}

	// A new period; a spurious loss declared in the old one is ignored.
	at2 := at + 100*ms
	c.OnLoss(at2, lost(at2-1*ms), 0)
	reduced = c.Window()
	c.OnSpuriousLoss(at)
	if c.Window() != reduced {
		t.Fatal("an earlier period's spurious loss undid the current reduction")
	}
	// Persistent congestion is never undone.
	c.OnPersistentCongestion()
	c.OnSpuriousLoss(at2)
	if c.Window() != 2*mss {
		t.Fatalf("persistent congestion undone: window %d", c.Window())
	}
}
