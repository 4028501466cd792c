package recovery

import (
	"math"
	"testing"
	"time"

	"github.com/stt-go/stt/internal/monotime"
)

// bbrDrive feeds a BBR crafted ACK events and losses, keeping the delivered
// and lost totals consistent the way a Sent would.
type bbrDrive struct {
	t         *testing.T
	b         *BBR
	rtt       RTT
	now       monotime.Time
	delivered uint64
	lost      uint64
	pn        uint64
	minRTT    time.Duration
}

func newDrive(t *testing.T, cfg *BBRConfig, minRTT time.Duration) *bbrDrive {
	d := &bbrDrive{t: t, b: NewBBR(cfg), now: monotime.Time(time.Second), minRTT: minRTT}
	d.rtt.Update(minRTT, 0, true)
	return d
}

// steady puts d's BBR in ProbeBW_CRUISE with a model of bw bytes per second
// and d.minRTT, as after a completed Startup.
func (d *bbrDrive) steady(bw float64) {
	b := d.b
	b.start(d.now)
	b.minRTT, b.probeRTTMinDelay = d.minRTT, d.minRTT
	b.bwHi[1], b.maxBw, b.bw = bw, bw, bw
	b.fullBwReached = true
	b.pacingRate = bw
	b.cwnd = b.bdpMultiple(bw, 2)
	b.startProbeBWDown(d.now)
	b.startProbeBWCruise()
	d.delivered = 1 << 20
	b.delivered = d.delivered
	b.nextRoundDelivered = d.delivered
	b.lossRoundDelivered = d.delivered
}

// ack delivers one ACK event after dt: acked bytes at a delivery rate, with
// inflight bytes left in flight. A round-starting event acknowledges a
// packet sent after the current round (and loss round) began.
func (d *bbrDrive) ack(dt time.Duration, acked int, rate float64, inflight int, round bool, opts ...func(*RateSample)) {
	d.t.Helper()
	d.now = d.now.Add(dt)
	prior := d.delivered // a packet sent after every round start so far
	if !round {
		prior = min(d.b.nextRoundDelivered, d.b.lossRoundDelivered)
		if prior > 0 {
			prior--
		}
	}
	d.delivered += uint64(acked)
	rs := RateSample{
		DeliveryRate:   rate,
		Interval:       d.minRTT,
		Delivered:      uint64(rate * d.minRTT.Seconds()),
		PriorDelivered: prior,
		RTT:            d.minRTT,
		NewlyAcked:     uint64(acked),
		TxInFlight:     uint64(inflight), // a steady flow: as much in flight then as now
		TotalDelivered: d.delivered,
		TotalLost:      d.lost,
	}
	for _, o := range opts {
		o(&rs)
	}
	d.b.OnAckEvent(d.now, &rs, &d.rtt, inflight)
}

// round delivers one round-starting ACK of a BDP's worth at rate.
func (d *bbrDrive) round(rate float64, inflight int) {
	d.ack(d.minRTT, int(rate*d.minRTT.Seconds()), rate, inflight, true)
}

// lose declares a packet of size bytes lost, sent with txInFlight in
// flight when lostBefore bytes had been lost; contiguous continues the
// previous lost range.
func (d *bbrDrive) lose(size, txInFlight int, lostBefore uint64, contiguous bool) {
	if !contiguous {
		d.pn++
	}
	d.pn++
	d.lost += uint64(size)
	p := &SentPacket{PN: d.pn, Time: d.now - 1, Size: uint32(size), InFlight: true, AckEliciting: true,
		TxInFlight: uint32(txInFlight), Lost: lostBefore}
	d.b.OnLoss(d.now, p, txInFlight)
}

func (d *bbrDrive) want(state BBRState) {
	d.t.Helper()
	if d.b.state != state {
		d.t.Fatalf("state %v, want %v", d.b.state, state)
	}
}

const bbrTestBw = 12.5e6 // 100 Mbit/s in bytes per second

func TestBBRInitial(t *testing.T) {
	var zero BBR
	b := NewBBR(nil)
	for _, c := range []*BBR{&zero, b} {
		if c.Window() != 46464 || !c.CanSend(0) || c.CanSend(46464) || c.Name() != "bbr" {
			t.Fatalf("window %d", c.Window())
		}
		if c.State() != BBRStartup || c.pacingGain != bbrStartupPacingGain || c.cwndGain != 2 {
			t.Fatalf("state %v gains %v/%v", c.State(), c.pacingGain, c.cwndGain)
		}
	}
	// Before an RTT sample: the initial window per millisecond, times 2.77;
	// after: per smoothed RTT.
	var rtt RTT
	if got, want := b.PacingRate(&rtt), 2.77*46464/0.001; math.Abs(got-want) > 1 {
		t.Fatalf("pacing %v, want %v", got, want)
	}
	rtt.Update(50*time.Millisecond, 0, true)
	if got, want := b.PacingRate(&rtt), 2.77*46464/0.05; math.Abs(got-want) > 1 {
		t.Fatalf("pacing %v, want %v", got, want)
	}
	if b.MinRTT() != 0 || b.Bandwidth() != 0 {
		t.Fatal("model before any sample")
	}
	// 32 datagrams, of at most 1452 bytes' worth each (RFC 9002's formula).
	for _, tc := range []struct{ maxDatagram, window int }{{1200, 38400}, {1452, 46464}, {9000, 46464}, {65000, 130000}} {
		if w := NewBBR(&BBRConfig{MaxDatagram: tc.maxDatagram}).Window(); w != tc.window {
			t.Errorf("MaxDatagram %d: initial window %d, want %d", tc.maxDatagram, w, tc.window)
		}
	}
	if c := NewBBR(&BBRConfig{MaxDatagram: 9000}); c.Window() != 46464 || c.minPipe != 36000 {
		t.Fatalf("9000-byte datagrams: window %d min %v", c.Window(), c.minPipe)
	}
}

// TestBBRGains checks each state's pacing and cwnd gains (draft §5.6.1's
// table) as its entry step sets them.
func TestBBRGains(t *testing.T) {
	for _, tc := range []struct {
		state       BBRState
		enter       func(b *BBR)
		pacing, cwn float64
	}{
		{BBRStartup, func(b *BBR) { b.enterStartup() }, 2.77, 2},
		{BBRDrain, func(b *BBR) { b.enterDrain() }, 0.5, 2},
		{BBRProbeBWDown, func(b *BBR) { b.startProbeBWDown(0) }, 0.9, 2},
		{BBRProbeBWCruise, func(b *BBR) { b.startProbeBWCruise() }, 1, 2},
		{BBRProbeBWRefill, func(b *BBR) { b.startProbeBWRefill() }, 1, 2},
		{BBRProbeBWUp, func(b *BBR) { b.startProbeBWUp() }, 1.25, 2.25},
		{BBRProbeRTT, func(b *BBR) {
			b.probeRTTExpired = true
			b.checkProbeRTT()
		}, 1, 0.5},
	} {
		b := NewBBR(nil)
		b.enterDrain() // leave Startup's gains behind
		b.pacingGain, b.cwndGain = 0, 0
		tc.enter(b)
		if b.state != tc.state || b.pacingGain != tc.pacing || b.cwndGain != tc.cwn {
			t.Errorf("%v: state %v gains %v/%v, want %v/%v", tc.state, b.state, b.pacingGain, b.cwndGain, tc.pacing, tc.cwn)
		}
		if tc.state.String() == "BBRState(?)" {
			t.Errorf("%d has no name", tc.state)
		}
	}
}

func TestBBRStartupPlateau(t *testing.T) {
	d := newDrive(t, nil, 40*time.Millisecond)
	d.round(1e6, 10000)
	d.round(2e6, 20000) // growing: stays
	d.round(4e6, 40000)
	d.want(BBRStartup)
	// App-limited rounds never count toward the plateau.
	for range 5 {
		d.ack(40*time.Millisecond, 10000, 4.1e6, 1000, true, func(rs *RateSample) { rs.IsAppLimited = true })
	}
	d.want(BBRStartup)
	d.round(4.1e6, 200000) // < 1.25x the baseline: 1
	d.round(4.5e6, 200000) // 2
	d.want(BBRStartup)
	d.round(4.9e6, 200000) // 3: the pipe is full
	d.want(BBRDrain)
	if !d.b.fullBwReached || d.b.pacingGain != 0.5 || d.b.maxBw != 4.9e6 {
		t.Fatalf("full %v gain %v max_bw %v", d.b.fullBwReached, d.b.pacingGain, d.b.maxBw)
	}
	// Drain lasts while more than a BDP is in flight (4.9e6 * 40 ms = 196 kB).
	d.ack(time.Millisecond, 1452, 4.9e6, 300000, false)
	d.want(BBRDrain)
	d.ack(time.Millisecond, 1452, 4.9e6, 190000, false)
	d.want(BBRProbeBWCruise) // DOWN, and below the BDP already: CRUISE
}

func TestBBRDrainTimesOut(t *testing.T) {
	d := newDrive(t, nil, 40*time.Millisecond)
	for range 6 {
		d.round(5e6, 500000)
	}
	d.want(BBRDrain)
	start := d.b.drainStartRound
	for d.b.state == BBRDrain {
		d.round(5e6, 500000) // never below a BDP
		if d.b.roundCount > start+5 {
			t.Fatal("Drain did not end after 3 rounds")
		}
	}
	if d.b.roundCount != start+4 {
		t.Fatalf("Drain ended at round %d, started %d", d.b.roundCount, start)
	}
	d.want(BBRProbeBWDown)
}

// TestBBRStartupHighLoss: Startup ends once a round spent in recovery lost
// at least 6 ranges and more than 2% of what was in flight.
func TestBBRStartupHighLoss(t *testing.T) {
	for _, tc := range []struct {
		name   string
		ranges int
		lost   uint64 // RS.lost of the round-ending ACK
		exit   bool
	}{
		{"6 ranges, 3%", 6, 3000, true},
		{"5 ranges", 5, 3000, false},
		{"6 ranges, 1.5%", 6, 1500, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := newDrive(t, nil, 40*time.Millisecond)
			d.round(1e6, 50000)
			d.round(2e6, 100000)
			for range tc.ranges {
				d.lose(1000, 100000, d.lost, false)
				d.lose(1000, 100000, d.lost, true) // contiguous: the same range
			}
			d.ack(40*time.Millisecond, 100000, 2.5e6, 99000, true, func(rs *RateSample) {
				rs.Lost, rs.TxInFlight = tc.lost, 100000
			})
			if exited := d.b.state == BBRDrain; exited != tc.exit {
				t.Fatalf("state %v, exit %v", d.b.state, tc.exit)
			}
			if tc.exit {
				bdp := d.b.bdp()
				if d.b.undoState != BBRStartup || d.b.inflightLong != max(bdp, d.b.inflightLatest) {
					t.Fatalf("undo %v inflight_longterm %v (bdp %v latest %v)", d.b.undoState, d.b.inflightLong, bdp, d.b.inflightLatest)
				}
			}
		})
	}
}

// TestBBRProbeBWCycle walks one full cycle: DOWN until the queue is gone,
// CRUISE until the randomized wait, REFILL for a round, UP until the
// bandwidth stops growing, back to DOWN.
func TestBBRProbeBWCycle(t *testing.T) {
	const minRTT = 40 * time.Millisecond
	d := newDrive(t, &BBRConfig{Seed: 9}, minRTT)
	d.steady(bbrTestBw)
	b := d.b
	b.startProbeBWDown(d.now)
	bdp := int(bbrTestBw * minRTT.Seconds())
	d.ack(time.Millisecond, 1452, bbrTestBw, bdp+20000, false)
	d.want(BBRProbeBWDown) // more than a BDP in flight
	d.ack(time.Millisecond, 1452, bbrTestBw, bdp-20000, false)
	d.want(BBRProbeBWCruise)
	if b.bwProbeWait < 2*time.Second || b.bwProbeWait >= 3*time.Second || b.roundsSinceProbeUp > 1 {
		t.Fatalf("probe wait %v, rounds %d", b.bwProbeWait, b.roundsSinceProbeUp)
	}
	wait := b.cycleStamp.Add(b.bwProbeWait)
	for d.now.Add(minRTT) <= wait {
		d.round(bbrTestBw, bdp)
		if b.state != BBRProbeBWCruise {
			// T_reno: min(BDP in packets, 63) rounds may come first.
			if b.state == BBRProbeBWRefill && b.roundsSinceProbeUp >= 63 {
				break
			}
			t.Fatalf("left CRUISE for %v at %v, before the wait %v", b.state, d.now, wait)
		}
	}
	for b.state == BBRProbeBWCruise {
		d.round(bbrTestBw, bdp)
	}
	d.want(BBRProbeBWRefill)
	if !math.IsInf(b.bwShort, 1) || !math.IsInf(b.inflightShort, 1) {
		t.Fatal("REFILL kept the short-term model")
	}
	d.ack(time.Millisecond, 1452, bbrTestBw, bdp, false)
	d.want(BBRProbeBWRefill)
	d.round(bbrTestBw, bdp) // one round of REFILL
	d.want(BBRProbeBWUp)
	if !b.isBwProbeSample || b.fullBw != bbrTestBw {
		t.Fatalf("UP: probe sample %v full_bw %v", b.isBwProbeSample, b.fullBw)
	}
	// No growth for 3 rounds: UP ends.
	d.round(bbrTestBw*1.1, bdp)
	d.round(bbrTestBw*1.1, bdp)
	d.want(BBRProbeBWUp)
	d.round(bbrTestBw*1.1, bdp)
	d.want(BBRProbeBWDown)
	if b.prevProbeTooHigh {
		t.Fatal("a loss-free probe marked too high")
	}
	// One round after UP the max-bandwidth filter moves on a cycle.
	cycle := b.cycleCount
	d.round(bbrTestBw, bdp)
	if b.cycleCount != cycle+1 || b.maxBw != bbrTestBw*1.1 {
		t.Fatalf("cycle %d -> %d, max_bw %v", cycle, b.cycleCount, b.maxBw)
	}
}

// TestBBRRenoCoexistence: with a small BDP, the Reno time scale (BDP in
// packets, here 10 rounds) starts the probe before the 2-3 s wait.
func TestBBRRenoCoexistence(t *testing.T) {
	const minRTT = 10 * time.Millisecond
	bw := 10 * 1452 / minRTT.Seconds()
	d := newDrive(t, &BBRConfig{Seed: 4}, minRTT)
	d.steady(bw)
	bdp := int(bw * minRTT.Seconds())
	rounds := 0
	for d.b.state == BBRProbeBWCruise && rounds < 100 {
		d.round(bw, bdp)
		rounds++
	}
	d.want(BBRProbeBWRefill)
	if rounds < 9 || rounds > 11 || d.now.Sub(d.b.cycleStamp) > time.Second {
		t.Fatalf("probed after %d rounds (%v)", rounds, d.now.Sub(d.b.cycleStamp))
	}
}

// TestBBRUpGrowsInflightLongterm: while the window is limited by
// inflight_longterm, UP keeps probing and raises the bound 1, 2, 4 ...
// datagrams per round.
func TestBBRUpGrowsInflightLongterm(t *testing.T) {
	const minRTT = 40 * time.Millisecond
	d := newDrive(t, nil, minRTT)
	d.steady(bbrTestBw)
	b := d.b
	bdp := bbrTestBw * minRTT.Seconds()
	b.inflightLong = 0.8 * bdp
	b.startProbeBWRefill()
	d.round(bbrTestBw, int(b.inflightLong))
	d.want(BBRProbeBWUp)
	var growth []float64
	start := b.inflightLong
	for range 5 {
		before := b.inflightLong
		// Each round acknowledges a window, two datagrams per ACK, and
		// the sender fills it up to inflight_longterm again.
		acks := int(b.cwnd) / 2904
		for i := range acks {
			b.OnPacketSent(d.now, 1452, int(b.cwnd))
			d.ack(minRTT/time.Duration(acks), 2904, bbrTestBw, int(b.cwnd), i == acks-1)
		}
		growth = append(growth, (b.inflightLong-before)/b.mss)
		d.want(BBRProbeBWUp) // cwnd-limited by the bound: no plateau exit
	}
	t.Logf("inflight_longterm growth per round: %v datagrams", growth)
	// 1, 2, 4, 8, 16 datagrams (each step lands within a round of its
	// ideal one: increments are counted in acknowledged bytes).
	total := (b.inflightLong - start) / b.mss
	if total < 20 || total > 45 || growth[4] < 2*growth[2] || growth[4] < 8 {
		t.Fatalf("inflight_longterm grew %v datagrams per round (%v in all): want about 1, 2, 4, 8, 16", growth, total)
	}
}

// TestBBRLossTooHighInUp: losses above 2% of what was in flight while
// probing end UP and set inflight_longterm to where the loss rate crossed
// 2%, never below 0.7 of the target; app-limited losses leave it alone.
func TestBBRLossTooHighInUp(t *testing.T) {
	const minRTT = 40 * time.Millisecond
	bdp := bbrTestBw * minRTT.Seconds() // 500 kB
	for _, tc := range []struct {
		name       string
		tx         int  // P.tx_in_flight of the lost packets
		losses     int  // packets of 1000 bytes lost
		appLimited bool // sent while app-limited
		wantLong   float64
		wantDown   bool
	}{
		// 12 of 600 kB lost (2%): not above the threshold.
		{"2% is tolerated", 600000, 12, false, math.Inf(1), false},
		// 13 kB lost of 600 kB: inflight_prev 599 kB, lost_prev 12 kB:
		// prefix (0.02*599000-12000)/0.98 = -20.4: crossed at 598979.6.
		{"crossed within the flight", 600000, 13, false, 599000 + (0.02*599000-12000)/0.98, true},
		// A small flight: 0.7 * min(bdp, cwnd) is the floor.
		{"floor at 0.7 target", 100000, 50, false, 0.7 * bdp, true},
		{"app-limited: bound kept", 600000, 20, true, math.Inf(1), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := newDrive(t, nil, minRTT)
			d.steady(bbrTestBw)
			b := d.b
			b.startProbeBWRefill()
			d.round(bbrTestBw, int(bdp))
			d.want(BBRProbeBWUp)
			// Every lost packet was sent before any of these losses
			// (P.lost = 0): the k-th sees RS.lost = k * 1000.
			for i := range tc.losses {
				p := &SentPacket{PN: uint64(100 + i), Time: d.now - 1, Size: 1000, InFlight: true, AckEliciting: true,
					TxInFlight: uint32(tc.tx), AppLimited: tc.appLimited}
				b.OnLoss(d.now, p, tc.tx)
			}
			if got := b.inflightLong; math.Abs(got-tc.wantLong) > 1e-6 && !(math.IsInf(got, 1) && math.IsInf(tc.wantLong, 1)) {
				t.Fatalf("inflight_longterm %v, want %v", got, tc.wantLong)
			}
			if down := b.state == BBRProbeBWDown; down != tc.wantDown {
				t.Fatalf("state %v", b.state)
			}
			if tc.wantDown && (!b.prevProbeTooHigh || b.undoState != BBRProbeBWUp || b.isBwProbeSample) {
				t.Fatalf("too-high bookkeeping: %v %v %v", b.prevProbeTooHigh, b.undoState, b.isBwProbeSample)
			}
		})
	}
}

// TestBBRPrecautionaryProbe: after a probe that went too high, the next UP
// stops as soon as in flight reaches inflight_longterm, and if that caused
// no excess loss the flow probes again at once (REFILL) instead of cruising.
func TestBBRPrecautionaryProbe(t *testing.T) {
	const minRTT = 40 * time.Millisecond
	d := newDrive(t, nil, minRTT)
	d.steady(bbrTestBw)
	b := d.b
	b.inflightLong = 400000
	b.prevProbeTooHigh = true
	b.startProbeBWRefill()
	d.round(bbrTestBw, 390000)
	d.want(BBRProbeBWUp)
	if b.prevProbePrecautionary {
		t.Fatal("precautionary before reaching the bound")
	}
	d.ack(time.Millisecond, 1452, bbrTestBw, 400000, false)
	d.want(BBRProbeBWDown)
	if !b.prevProbePrecautionary || b.prevProbeTooHigh {
		t.Fatalf("precautionary %v too high %v", b.prevProbePrecautionary, b.prevProbeTooHigh)
	}
	d.round(bbrTestBw, 390000) // the stopping round ends loss-free
	d.want(BBRProbeBWRefill)
}

// TestBBRLowerBounds: a lossy round outside bandwidth probing lowers
// bw_shortterm and inflight_shortterm to the latest round's delivery rate
// and volume, or to 0.7 of their value (at first: of max_bw and the
// window), whichever is more; rounds while probing do not.
func TestBBRLowerBounds(t *testing.T) {
	const minRTT = 40 * time.Millisecond
	bdp := bbrTestBw * minRTT.Seconds()
	for _, tc := range []struct {
		name   string
		state  BBRState
		latest float64 // delivery rate of the lossy round
		bw70   bool    // 0.7 * bw wins over the latest rate
		bound  bool    // the round lowers the bounds at all
	}{
		{"deep drop: 0.7", BBRProbeBWCruise, 0.5 * bbrTestBw, true, true},
		{"shallow drop: latest", BBRProbeBWCruise, 0.9 * bbrTestBw, false, true},
		{"DOWN too", BBRProbeBWDown, 0.5 * bbrTestBw, true, true},
		{"not while refilling", BBRProbeBWRefill, 0.5 * bbrTestBw, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := newDrive(t, nil, minRTT)
			d.steady(bbrTestBw)
			b := d.b
			inflight := int(bdp / 2) // below the BDP: DOWN would become CRUISE
			if tc.state == BBRProbeBWDown {
				inflight = int(2 * bdp)
			}
			d.round(tc.latest, inflight) // a loss-free round resets the latest signals
			switch tc.state {
			case BBRProbeBWDown:
				b.startProbeBWDown(d.now)
			case BBRProbeBWRefill:
				b.startProbeBWRefill()
			}
			cwnd := b.cwnd
			d.lose(1452, int(bdp), d.lost, false)
			d.ack(minRTT/2, 10000, tc.latest, inflight, false)
			if b.state != tc.state {
				t.Fatalf("state %v before the round ended", b.state)
			}
			d.ack(minRTT/2, 10000, tc.latest, inflight, true) // the loss round ends
			if !tc.bound {
				if !math.IsInf(b.bwShort, 1) || !math.IsInf(b.inflightShort, 1) {
					t.Fatalf("bounds set while probing: %v %v", b.bwShort, b.inflightShort)
				}
				return
			}
			wantBw := tc.latest
			if tc.bw70 {
				wantBw = 0.7 * bbrTestBw
			}
			if got := b.bwShort; math.Abs(got-wantBw) > 1 {
				t.Fatalf("bw_shortterm %v, want %v", got, wantBw)
			}
			wantInflight := max(tc.latest*minRTT.Seconds(), 0.7*cwnd)
			if got := b.inflightShort; math.Abs(got-wantInflight) > 1 {
				t.Fatalf("inflight_shortterm %v, want %v", got, wantInflight)
			}
			if b.bw != min(b.maxBw, b.bwShort) || b.cwnd > b.inflightShort {
				t.Fatalf("bounds not applied: bw %v cwnd %v", b.bw, b.cwnd)
			}
		})
	}
}

// TestBBRLowerBoundsLossRate: a loss round lowers the short-term model only
// when it lost more than LossThresh (2%) of what it delivered and lost
// (lossyRound), so random loss of about 1% leaves the rate alone.
func TestBBRLowerBoundsLossRate(t *testing.T) {
	const minRTT = 40 * time.Millisecond
	for _, tc := range []struct {
		name  string
		lost  int // datagrams lost in the round, which delivers 200 kB
		bound bool
	}{
		{"0.7%", 1, false},
		{"1.4%", 2, false}, // 2904 / (2904 + 200000)
		{"3.5%", 5, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := newDrive(t, nil, minRTT)
			d.steady(bbrTestBw)
			b := d.b
			inflight := int(bbrTestBw * minRTT.Seconds() / 2)
			d.round(bbrTestBw, inflight)
			for range tc.lost {
				d.lose(1452, inflight, d.lost, false)
			}
			d.ack(minRTT/2, 100000, 0.9*bbrTestBw, inflight, false)
			d.ack(minRTT/2, 100000, 0.9*bbrTestBw, inflight, true) // the loss round ends
			if bound := !math.IsInf(b.bwShort, 1); bound != tc.bound {
				t.Fatalf("bw_shortterm %v, want a bound: %v", b.bwShort, tc.bound)
			}
		})
	}
}

// TestBBRStartupFastLoss: within a round, Startup ends once a flight lost
// more than 6% in at least 6 ranges; 3% waits for the round's end.
func TestBBRStartupFastLoss(t *testing.T) {
	for _, tc := range []struct {
		name string
		lost uint64 // RS.lost of a mid-round ACK, of 100 kB in flight
		exit bool
	}{
		{"7% mid-round", 7000, true},
		{"3% mid-round", 3000, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := newDrive(t, nil, 40*time.Millisecond)
			d.round(1e6, 50000)
			d.round(2e6, 100000)
			for range 6 {
				d.lose(1000, 100000, d.lost, false)
			}
			d.ack(time.Millisecond, 1000, 2.5e6, 99000, false, func(rs *RateSample) {
				rs.Lost, rs.TxInFlight = tc.lost, 100000
			})
			if exited := d.b.state == BBRDrain; exited != tc.exit {
				t.Fatalf("state %v, exit %v", d.b.state, tc.exit)
			}
		})
	}
}

// TestBBRStartupQueue: Startup ends when a round's smallest RTT sample (of
// at least 8) stood min_rtt/8 (at least 4 ms) above the minimum, even while
// the samples are application-limited and the rate still grows.
func TestBBRStartupQueue(t *testing.T) {
	const minRTT = 40 * time.Millisecond
	for _, tc := range []struct {
		name    string
		rtt     time.Duration // every sample of the next round
		samples int
		exit    bool
	}{
		{"5 ms of queue", minRTT + 5*time.Millisecond, 8, true},
		{"4 ms of queue", minRTT + 4*time.Millisecond, 8, false}, // the threshold is 5 ms at 40 ms
		{"7 samples", minRTT + 20*time.Millisecond, 7, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := newDrive(t, nil, minRTT)
			d.round(1e6, 50000)
			appLimited := func(rs *RateSample) { rs.IsAppLimited, rs.RTT = true, tc.rtt }
			rate := 2e6
			d.ack(minRTT/10, 1000, rate, 60000, true, appLimited) // a round starts
			for range tc.samples - 1 {
				rate *= 1.5
				d.ack(minRTT/10, 1000, rate, 60000, false, appLimited)
			}
			d.want(BBRStartup) // judged when the round ends
			d.ack(minRTT/10, 1000, 2*rate, 60000, true)
			if exited := d.b.state != BBRStartup; exited != tc.exit || exited != d.b.fullBwReached {
				t.Fatalf("state %v (full pipe %v), exit %v", d.b.state, d.b.fullBwReached, tc.exit)
			}
		})
	}
}

// TestBBRCwndBounds checks BoundCwndForModel per state.
func TestBBRCwndBounds(t *testing.T) {
	const minRTT = 40 * time.Millisecond
	bdp := bbrTestBw * minRTT.Seconds()
	for _, tc := range []struct {
		state BBRState
		cap   func(b *BBR) float64
	}{
		{BBRProbeBWDown, func(b *BBR) float64 { return b.inflightLong }},
		{BBRProbeBWCruise, func(b *BBR) float64 { return 0.85 * b.inflightLong }},
		{BBRProbeBWRefill, func(b *BBR) float64 { return b.inflightLong }},
		{BBRProbeBWUp, func(b *BBR) float64 { return b.inflightLong }},
		{BBRProbeRTT, func(b *BBR) float64 { return max(0.5*bdp, b.minPipe) }},
	} {
		d := newDrive(t, nil, minRTT)
		d.steady(bbrTestBw)
		b := d.b
		b.inflightLong = 1.5 * bdp
		b.cwnd = 3 * bdp
		b.state = tc.state
		b.ack = bbrAck{now: d.now, newlyAcked: 1452, inflight: bdp}
		b.setCwnd()
		if want := min(tc.cap(b), b.maxInflight); math.Abs(b.cwnd-want) > 1 {
			t.Errorf("%v: cwnd %v, want %v", tc.state, b.cwnd, want)
		}
		// Never below the pipelining minimum.
		b.inflightShort = 1000
		b.setCwnd()
		if b.cwnd != b.minPipe {
			t.Errorf("%v: cwnd %v under a tiny bound, want %v", tc.state, b.cwnd, b.minPipe)
		}
	}
}

// TestBBRProbeRTT: a minimum RTT not refreshed for 5 s starts ProbeRTT,
// which holds the window at half the BDP for at least 200 ms and a round,
// then returns to CRUISE with the window restored.
func TestBBRProbeRTT(t *testing.T) {
	const minRTT = 40 * time.Millisecond
	d := newDrive(t, nil, minRTT)
	d.steady(bbrTestBw)
	b := d.b
	bdp := int(bbrTestBw * minRTT.Seconds())
	slower := func(rs *RateSample) { rs.RTT = minRTT + 5*time.Millisecond } // queueing: no refresh
	for d.now.Add(minRTT).Sub(b.probeRTTMinStamp) <= 5*time.Second {
		d.ack(minRTT, bdp, bbrTestBw, bdp, true, slower)
		if b.state == BBRProbeRTT {
			t.Fatalf("ProbeRTT after %v", d.now.Sub(b.probeRTTMinStamp))
		}
		if b.state == BBRProbeBWRefill || b.state == BBRProbeBWUp || b.state == BBRProbeBWDown {
			b.startProbeBWCruise() // keep the test about ProbeRTT
		}
	}
	before := b.cwnd
	d.ack(minRTT, bdp, bbrTestBw, bdp, true, slower)
	d.want(BBRProbeRTT)
	if want := 0.5 * float64(bdp); b.cwnd > want+1 {
		t.Fatalf("ProbeRTT cwnd %v, want <= %v", b.cwnd, want)
	}
	entered := d.now
	// In flight drops to the ProbeRTT window: the 200 ms clock starts.
	d.ack(5*time.Millisecond, bdp/2, bbrTestBw, bdp/2, false, slower)
	if b.probeRTTDoneStamp != d.now.Add(200*time.Millisecond) {
		t.Fatal("the 200 ms did not start")
	}
	for b.state == BBRProbeRTT {
		d.ack(minRTT, bdp/2, bbrTestBw/2, bdp/2, true)
		if d.now.Sub(entered) > time.Second {
			t.Fatal("ProbeRTT did not end")
		}
	}
	if d.now.Sub(entered) < 200*time.Millisecond {
		t.Fatalf("ProbeRTT lasted %v", d.now.Sub(entered))
	}
	d.want(BBRProbeBWCruise)
	if b.cwnd < min(before, 0.85*b.inflightLong) {
		t.Fatalf("cwnd %v not restored (was %v)", b.cwnd, before)
	}
	// ProbeRTT's half-rate samples were marked app-limited: the model kept
	// its bandwidth.
	if b.maxBw != bbrTestBw {
		t.Fatalf("max_bw %v after ProbeRTT", b.maxBw)
	}
}

// TestBBRSpuriousUndo: a probe ended by losses that all prove spurious
// resumes probing with the bounds from before.
func TestBBRSpuriousUndo(t *testing.T) {
	const minRTT = 40 * time.Millisecond
	d := newDrive(t, nil, minRTT)
	d.steady(bbrTestBw)
	b := d.b
	b.startProbeBWRefill()
	d.round(bbrTestBw, 500000)
	d.want(BBRProbeBWUp)
	lossAt := d.now
	for i := range 20 {
		p := &SentPacket{PN: uint64(100 + i), Time: d.now - 1, Size: 1000, InFlight: true, AckEliciting: true, TxInFlight: 500000}
		b.OnLoss(d.now, p, 500000)
	}
	d.want(BBRProbeBWDown)
	if math.IsInf(b.inflightLong, 1) {
		t.Fatal("no bound from the losses")
	}
	for range 19 {
		b.OnSpuriousLoss(lossAt)
	}
	d.want(BBRProbeBWDown) // one loss may still be real
	b.OnSpuriousLoss(lossAt)
	d.want(BBRProbeBWRefill)
	if !math.IsInf(b.inflightLong, 1) || b.inRecovery {
		t.Fatalf("inflight_longterm %v recovery %v after undo", b.inflightLong, b.inRecovery)
	}
	b.OnSpuriousLoss(lossAt) // once only
	d.want(BBRProbeBWRefill)
}

// TestBBRIdleRestart: a packet sent with nothing in flight after an
// app-limited pause paces at exactly the bandwidth estimate and does not
// start ProbeRTT or Startup.
func TestBBRIdleRestart(t *testing.T) {
	const minRTT = 40 * time.Millisecond
	d := newDrive(t, nil, minRTT)
	d.steady(bbrTestBw)
	b := d.b
	b.startProbeBWDown(d.now) // pacing gain 0.9
	d.ack(time.Millisecond, 1452, bbrTestBw, 600000, false)
	if b.pacingRate > 0.9*bbrTestBw {
		t.Fatalf("DOWN pacing %v", b.pacingRate)
	}
	b.SetAppLimited(true)
	d.now = d.now.Add(10 * time.Second) // a long pause: the RTT filter expired too
	b.OnPacketSent(d.now, 1452, 0)
	if !b.idleRestart || b.pacingRate != bbrTestBw*0.99 {
		t.Fatalf("idle restart %v pacing %v", b.idleRestart, b.pacingRate)
	}
	b.SetAppLimited(false)
	d.ack(minRTT, 1452, 1e5, 1452, true, func(rs *RateSample) { rs.IsAppLimited = true; rs.Delivered = 0 })
	if b.state == BBRProbeRTT || b.state == BBRStartup {
		t.Fatalf("restart from idle entered %v", b.state)
	}
	if b.maxBw != bbrTestBw {
		t.Fatalf("app-limited samples lowered max_bw to %v", b.maxBw)
	}
}

// TestBBRHint: a controller built with the previous model's bandwidth and
// min RTT starts in ProbeBW pacing at that rate with a BDP window.
func TestBBRHint(t *testing.T) {
	b := NewBBR(&BBRConfig{MinRTT: 40 * time.Millisecond, Bandwidth: bbrTestBw})
	var rtt RTT
	if got := b.PacingRate(&rtt); got != bbrTestBw*0.99 {
		t.Fatalf("pacing %v", got)
	}
	if b.Window() != int(bbrTestBw*0.04) || b.MinRTT() != 40*time.Millisecond || b.Bandwidth() != bbrTestBw {
		t.Fatalf("window %d min RTT %v bw %v", b.Window(), b.MinRTT(), b.Bandwidth())
	}
	b.OnPacketSent(monotime.Time(time.Second), 1452, 0)
	if b.State() != BBRProbeBWCruise {
		t.Fatalf("state %v", b.State())
	}
	// A bandwidth without an RTT is no model: Startup.
	if c := NewBBR(&BBRConfig{Bandwidth: bbrTestBw}); c.State() != BBRStartup || c.Window() != 46464 {
		t.Fatal("bandwidth hint without MinRTT used")
	}
}

// TestBBRPersistentCongestion collapses the window to the pipelining
// minimum; ACKs regrow it.
func TestBBRPersistentCongestion(t *testing.T) {
	const minRTT = 40 * time.Millisecond
	d := newDrive(t, nil, minRTT)
	d.steady(bbrTestBw)
	b := d.b
	d.lose(1452, 100000, 0, false)
	b.OnPersistentCongestion()
	if b.Window() != 4*1452 || b.CanSend(4*1452) {
		t.Fatalf("window %d", b.Window())
	}
	b.OnSpuriousLoss(d.now) // persistent congestion is never undone
	if b.Window() != 4*1452 {
		t.Fatal("undone")
	}
	d.ack(minRTT, 4*1452, bbrTestBw, 0, true)
	if b.Window() <= 4*1452 {
		t.Fatal("window did not regrow")
	}
}

// TestBBROnPath runs one BBR flow for 12 s over a simulated 100 Mbit/s, 40
// ms, 1 BDP path and follows its state: Startup and Drain once, all four
// ProbeBW phases, ProbeRTT about every 5 s (the RTT samples never drop
// below the first minimum: the path has no jitter) holding the window at
// half the BDP for at least 200 ms and a round, the UP pacing gain applied.
func TestBBROnPath(t *testing.T) {
	dur := 12 * time.Second
	p := simPath{100e6, 40 * time.Millisecond, 1, 0, 1}
	s := newSim(t, p)
	b := NewBBR(&BBRConfig{Seed: 5})
	f := s.addFlow("bbr", b, 0, 0, dur)
	start := s.now
	var visits [7]int
	var probeRTTAt []monotime.Time
	var probeRTTLen []time.Duration
	prev := BBRState(255)
	var entered monotime.Time
	maxProbeRTTInflight := 0
	step := time.Millisecond
	if simScale() < 1 {
		step = 5 * time.Millisecond
	}
	for s.now < start.Add(dur) {
		s.run(s.now.Add(step))
		if b.state != prev {
			if prev == BBRProbeRTT {
				probeRTTLen = append(probeRTTLen, s.now.Sub(entered))
			}
			visits[b.state]++
			prev, entered = b.state, s.now
			if b.state == BBRProbeRTT {
				probeRTTAt = append(probeRTTAt, s.now)
			}
		}
		if b.state == BBRProbeRTT && s.now.Sub(entered) > 100*time.Millisecond {
			maxProbeRTTInflight = max(maxProbeRTTInflight, f.sent.BytesInFlight())
		}
		if b.state == BBRProbeBWUp && b.pacingRate > 0 && math.Abs(b.pacingRate/(b.bw*0.99)-1.25) > 1e-9 {
			t.Fatalf("UP paces at %.3fx", b.pacingRate/b.bw)
		}
	}
	t.Logf("visits (Startup Drain DOWN CRUISE REFILL UP ProbeRTT) %v; ProbeRTT at %v lasting %v", visits, probeRTTAt, probeRTTLen)
	if visits[BBRStartup] != 1 || visits[BBRDrain] != 1 {
		t.Errorf("Startup/Drain visited %d/%d times", visits[BBRStartup], visits[BBRDrain])
	}
	for st := BBRProbeBWDown; st <= BBRProbeBWUp; st++ {
		if visits[st] == 0 {
			t.Errorf("%v never visited", st)
		}
	}
	if len(probeRTTAt) != 2 {
		t.Fatalf("%d ProbeRTTs in %v, want 2 (every ~5 s)", len(probeRTTAt), dur)
	}
	if gap := probeRTTAt[1].Sub(probeRTTAt[0]); gap < 5*time.Second || gap > 5*time.Second+time.Second {
		t.Errorf("ProbeRTTs %v apart", gap)
	}
	for _, d := range probeRTTLen {
		// 200 ms (and at least a round) from when in flight fell to the
		// ProbeRTT window.
		if d < 200*time.Millisecond || d > 400*time.Millisecond {
			t.Errorf("ProbeRTT lasted %v, want 200-400 ms", d)
		}
	}
	if bdp := p.bdp(); float64(maxProbeRTTInflight) > 0.5*bdp+3*simMSS {
		t.Errorf("%d bytes in flight during ProbeRTT, want <= half the BDP (%.0f)", maxProbeRTTInflight, bdp/2)
	}
}

// TestBBRRestartOnPath: an application that pauses (3 s, nothing in flight)
// and resumes gets the link back at once — BBR restarts at its model's rate,
// not through Startup — and the idle period's app-limited samples leave the
// model intact.
func TestBBRRestartOnPath(t *testing.T) {
	p := simPath{100e6, 40 * time.Millisecond, 1, 0, 1}
	s := newSim(t, p)
	b := NewBBR(&BBRConfig{Seed: 3})
	n := int64(8<<20) / simMSS
	f := s.addFlow("bbr", b, 2*n, 0, 0)
	s.supply(f, n, 0, 4*time.Second)
	start := s.now
	s.run(start.Add(4 * time.Second))
	if f.gotN != n || b.state == BBRStartup {
		t.Fatalf("first burst: %d of %d chunks, state %v", f.gotN, n, b.state)
	}
	bw := b.Bandwidth()
	s.run(start.Add(30 * time.Second))
	took := f.doneAt.Sub(start.Add(4 * time.Second))
	share := float64(n*simMSS) / took.Seconds() / p.bytesPerSecond()
	t.Logf("second burst: 8 MiB in %v (%.1f%% of the link), bw %.2f -> %.2f MB/s", took, 100*share, bw/1e6, b.Bandwidth()/1e6)
	if share < 0.9 || b.maxBw < 0.95*p.bytesPerSecond() {
		t.Errorf("after the pause: %.3f of the link, max_bw %.0f", share, b.maxBw)
	}
	if r := f.result(); r.retxRatio > 0.01 {
		t.Errorf("retransmitted %.2f%%", 100*r.retxRatio)
	}
}

// TestBBRHintOnPath: a controller rebuilt with the previous model (the
// session woke from hibernation) sends a short transfer at the link rate
// where a fresh one spends it in Startup; a hint twice too high (the path
// slowed while the session slept) costs little.
func TestBBRHintOnPath(t *testing.T) {
	p := simPath{100e6, 40 * time.Millisecond, 1, 0, 1}
	run := func(hint float64) simResult {
		s := newSim(t, p)
		cfg := &BBRConfig{Seed: 3}
		if hint > 0 {
			cfg.MinRTT, cfg.Bandwidth = p.rtt, hint
		}
		f := s.addFlow("bbr", NewBBR(cfg), int64(4<<20)/simMSS, 0, 0)
		s.run(s.now.Add(time.Minute))
		return f.result()
	}
	fresh, exact, stale := run(0), run(p.bytesPerSecond()), run(2*p.bytesPerSecond())
	t.Logf("4 MiB: fresh %.1f%% (retx %.2f%%), exact hint %.1f%% (%.2f%%), 2x hint %.1f%% (%.2f%%)",
		100*fresh.goodput, 100*fresh.retxRatio, 100*exact.goodput, 100*exact.retxRatio, 100*stale.goodput, 100*stale.retxRatio)
	if exact.goodput < 0.9 || exact.goodput < fresh.goodput+0.2 || exact.retxRatio > 0 {
		t.Errorf("exact hint: %.3f of the link (fresh %.3f), retx %.4f", exact.goodput, fresh.goodput, exact.retxRatio)
	}
	if stale.goodput < 0.85 || stale.retxRatio > 0.02 {
		t.Errorf("2x hint: %.3f of the link, retx %.4f", stale.goodput, stale.retxRatio)
	}
}
