package recovery

import (
	"math"
	"time"

	"github.com/stt-go/stt/internal/monotime"
)

const (
	// DefaultMaxDatagramSize is the default maximum UDP payload STT sends:
	// a 1500-byte Ethernet MTU minus 20 (IPv4) and 8 (UDP) header bytes,
	// less 20 bytes of slack for tunnels, as in the stream-layer issue.
	DefaultMaxDatagramSize = 1452

	// MaxWindowPackets caps the congestion window at 1<<15 datagrams (about
	// 47 MB at 1452 bytes): half of MaxSentPackets, so the sent-packet
	// history can always hold a full window plus its losses, and far above
	// any bandwidth-delay product STT targets (10 Gbit/s x 20 ms = 25 MB).
	MaxWindowPackets = 1 << 15

	// minWindowPackets is RFC 9002 §7.2's kMinimumWindow = 2 datagrams.
	minWindowPackets = 2

	// cubicC is RFC 9438 §5's C = 0.4 (segments/s^3).
	cubicC = 0.4
	// cubicBeta is RFC 9438 §4.6's multiplicative decrease factor 0.7.
	cubicBeta = 0.7
	// cubicAlpha is RFC 9438 §4.3's Reno-friendly additive increase
	// 3 * (1-beta) / (1+beta) segments per RTT.
	cubicAlpha = 3 * (1 - cubicBeta) / (1 + cubicBeta)

	// HyStart++ parameters, RFC 9406 §4.3 (the recommended values).
	hystartMinRTTThresh  = 4 * time.Millisecond
	hystartMaxRTTThresh  = 16 * time.Millisecond
	hystartMinRTTDivisor = 8
	hystartNRTTSample    = 8
	hystartCSSGrowthDiv  = 4
	hystartCSSRounds     = 5

	// cwndLimitedSlack is how far below the window bytes in flight may stay
	// and still count as window-limited in congestion avoidance: 3
	// datagrams, the burst a paced sender leaves unused between ACKs.
	cwndLimitedSlack = 3
)

// Cubic is the congestion controller of one session: CUBIC (RFC 9438) with its
// Reno-friendly region and fast convergence, slow start exited by HyStart++
// (RFC 9406, with Conservative Slow Start), and the recovery and persistent
// congestion rules of RFC 9002 §7: one window reduction per recovery period
// (losses of packets sent before the period began are ignored), collapse to
// the minimum window on persistent congestion, and no growth while the sender
// is application-limited or the window is not the limit. Units are bytes.
//
// The zero Cubic is ready to use with DefaultMaxDatagramSize. It is owned by
// one loop goroutine and not safe for concurrent use; no method allocates.
type Cubic struct {
	mss       float64
	cwnd      float64
	ssthresh  float64 // +Inf until the first congestion event or CSS exit
	minWindow float64
	maxWindow float64

	// CUBIC congestion-avoidance epoch (RFC 9438 §4).
	epochSet  bool
	tEpoch    monotime.Time
	k         float64 // seconds
	wMax      float64 // bytes
	cwndPrior float64 // cwnd before the last reduction
	wEst      float64 // Reno-friendly estimate, bytes
	lastACK   monotime.Time

	// RFC 9002 §7.3.2 recovery.
	recoveryStart monotime.Time
	hasRecovery   bool
	inRecovery    bool

	// Undo of a spurious congestion event (RFC 9438 §4.9): the state
	// before the current period's reduction, and how many of the period's
	// losses were declared and later proved spurious.
	prior          cubicPrior
	periodLosses   int
	periodSpurious int
	undone         bool

	appLimited   bool
	lastSent     monotime.Time
	sentInFlight int // bytes in flight right after the last send

	hs hystart
}

// cubicPrior is what a congestion event changed, saved to undo it.
type cubicPrior struct {
	cwnd, ssthresh, wMax, cwndPrior, k, wEst float64
	epochSet                                 bool
	tEpoch                                   monotime.Time
	hs                                       hystart
}

// hystart is RFC 9406's per-round state.
type hystart struct {
	started         bool
	windowEnd       monotime.Time // round ends on an ACK of a packet sent after this
	lastRoundMin    time.Duration // 0: unset (infinity)
	currentRoundMin time.Duration
	samples         int
	inCSS           bool
	cssBaseline     time.Duration
	cssRounds       int
}

// NewCubic returns a controller for the given maximum datagram size (<= 0
// means DefaultMaxDatagramSize) with RFC 9002 §7.2's initial window
// min(10*maxDatagram, max(14720, 2*maxDatagram)) (14520 bytes at 1452) and a
// minimum window of 2*maxDatagram.
func NewCubic(maxDatagram int) *Cubic {
	c := new(Cubic)
	c.init(maxDatagram)
	return c
}

func (c *Cubic) init(maxDatagram int) {
	if maxDatagram <= 0 {
		maxDatagram = DefaultMaxDatagramSize
	}
	m := float64(maxDatagram)
	*c = Cubic{
		mss:       m,
		cwnd:      min(10*m, max(14720, 2*m)),
		ssthresh:  math.Inf(1),
		minWindow: minWindowPackets * m,
		maxWindow: MaxWindowPackets * m,
	}
}

func (c *Cubic) lazyInit() {
	if c.mss == 0 {
		c.init(0)
	}
}

// Name returns "cubic".
func (c *Cubic) Name() string { return "cubic" }

// PacingRate returns RFC 9002 §7.7's pacing rate, 1.25 * cwnd / smoothed RTT
// in bytes per second (+Inf, no pacing, for a smoothed RTT <= 0).
func (c *Cubic) PacingRate(rtt *RTT) float64 {
	c.lazyInit()
	return windowRate(c.Window(), rtt.Smoothed())
}

// OnAckEvent does nothing: CUBIC reacts per packet (OnAck, OnLoss) and
// does not use delivery-rate samples.
func (c *Cubic) OnAckEvent(now monotime.Time, rs *RateSample, rtt *RTT, bytesInFlight int) {}

// Window returns the congestion window in bytes.
func (c *Cubic) Window() int {
	c.lazyInit()
	return int(c.cwnd)
}

// SlowStartThreshold returns ssthresh in bytes, math.MaxInt while unset.
func (c *Cubic) SlowStartThreshold() int {
	c.lazyInit()
	if math.IsInf(c.ssthresh, 1) {
		return math.MaxInt
	}
	return int(c.ssthresh)
}

// CanSend reports whether another packet may be sent with bytesInFlight
// outstanding (the window may be overshot by at most one packet).
func (c *Cubic) CanSend(bytesInFlight int) bool {
	c.lazyInit()
	return float64(bytesInFlight) < c.cwnd
}

// SetAppLimited tells the controller whether the sender is application-limited
// (had nothing to send while the window allowed it); the window does not grow
// while it is (RFC 9002 §7.8).
func (c *Cubic) SetAppLimited(limited bool) { c.appLimited = limited }

// InSlowStart reports whether the window is below ssthresh (slow start or
// HyStart++'s Conservative Slow Start).
func (c *Cubic) InSlowStart() bool {
	c.lazyInit()
	return c.cwnd < c.ssthresh
}

// InConservativeSlowStart reports whether HyStart++ has left slow start for
// Conservative Slow Start (RFC 9406 §4.2).
func (c *Cubic) InConservativeSlowStart() bool { return c.hs.inCSS }

// InRecovery reports whether a recovery period is in progress: a loss was
// declared and no packet sent after it has been acknowledged yet.
func (c *Cubic) InRecovery() bool { return c.inRecovery }

// OnPacketSent records a sent in-flight packet of the given size;
// bytesInFlight is the count before it was added.
func (c *Cubic) OnPacketSent(now monotime.Time, bytes int, bytesInFlight int) {
	c.lastSent = now
	c.sentInFlight = bytesInFlight + bytes
}

// cwndLimited reports whether the window, not the application, limited the
// sender recently (RFC 9002 §7.8).
func (c *Cubic) cwndLimited(bytesInFlight int) bool {
	inFlight := float64(max(bytesInFlight, c.sentInFlight))
	if c.cwnd < c.ssthresh {
		return 2*inFlight >= c.cwnd // slow start doubles: half used suffices
	}
	return inFlight+cwndLimitedSlack*c.mss >= c.cwnd
}

// OnAck updates the window for one newly acknowledged packet; bytesInFlight
// includes p (Sent.OnAck's callbacks see it that way) and rtt has already
// taken this ACK's sample. Packets that are not InFlight are ignored.
func (c *Cubic) OnAck(now monotime.Time, p *SentPacket, rtt *RTT, bytesInFlight int) {
	c.lazyInit()
	if !p.InFlight {
		return
	}
	prevACK := c.lastACK
	c.lastACK = now
	if c.hasRecovery && p.Time <= c.recoveryStart {
		return // sent before the recovery period: no growth (RFC 9002 §7.3.2)
	}
	c.inRecovery = false
	acked := float64(p.Size)

	if c.cwnd < c.ssthresh {
		c.hystartOnACK(p, rtt)
	}
	if c.appLimited || !c.cwndLimited(bytesInFlight) {
		if c.epochSet && prevACK != 0 {
			// Freeze CUBIC's clock while idle (RFC 9438 §5.8).
			c.tEpoch += now - prevACK
		}
		return
	}
	switch {
	case c.hs.inCSS:
		c.cwnd += acked / hystartCSSGrowthDiv
	case c.cwnd < c.ssthresh:
		c.cwnd += acked
	default:
		c.congestionAvoidance(now, acked, rtt)
	}
	c.cwnd = min(c.cwnd, c.maxWindow)
}

// hystartOnACK runs RFC 9406 §4.2's round tracking and delay check.
func (c *Cubic) hystartOnACK(p *SentPacket, rtt *RTT) {
	h := &c.hs
	if !h.started || p.Time > h.windowEnd {
		// A new round: every packet sent up to now belongs to it.
		h.started = true
		h.windowEnd = c.lastSent
		h.lastRoundMin = h.currentRoundMin
		h.currentRoundMin = 0
		h.samples = 0
		if h.inCSS {
			h.cssRounds++
			if h.cssRounds >= hystartCSSRounds {
				c.ssthresh = c.cwnd // leave CSS for congestion avoidance
				h.inCSS = false
				return
			}
		}
	}
	if s := rtt.Latest(); s > 0 {
		if h.currentRoundMin == 0 || s < h.currentRoundMin {
			h.currentRoundMin = s
		}
		h.samples++
	}
	if h.samples < hystartNRTTSample || h.currentRoundMin == 0 {
		return
	}
	if h.inCSS {
		if h.currentRoundMin < h.cssBaseline {
			h.inCSS = false // the delay increase was spurious: back to slow start
		}
		return
	}
	if h.lastRoundMin == 0 {
		return
	}
	thresh := min(max(h.lastRoundMin/hystartMinRTTDivisor, hystartMinRTTThresh), hystartMaxRTTThresh)
	if h.currentRoundMin >= h.lastRoundMin+thresh {
		h.inCSS = true
		h.cssBaseline = h.currentRoundMin
		h.cssRounds = 0
	}
}

// wCubic is RFC 9438 §4.2's W_cubic(t) = C*(t-K)^3 + W_max, in bytes.
func (c *Cubic) wCubic(t float64) float64 {
	d := t - c.k
	return cubicC*d*d*d*c.mss + c.wMax
}

// congestionAvoidance is RFC 9438 §4.2-4.5 for acked bytes.
func (c *Cubic) congestionAvoidance(now monotime.Time, acked float64, rtt *RTT) {
	if !c.epochSet {
		c.epochSet = true
		c.tEpoch = now
		if c.wMax > c.cwnd {
			c.k = math.Cbrt((c.wMax - c.cwnd) / c.mss / cubicC)
		} else {
			c.k = 0
			c.wMax = c.cwnd
		}
		c.wEst = c.cwnd
	}
	t := now.Sub(c.tEpoch).Seconds()
	alpha := cubicAlpha
	if c.wEst >= c.cwndPrior {
		alpha = 1 // RFC 9438 §4.3: past the old window, grow like Reno
	}
	c.wEst += alpha * c.mss * acked / c.cwnd
	if c.wCubic(t) < c.wEst {
		c.cwnd = c.wEst // Reno-friendly region
		return
	}
	target := c.wCubic(t + rtt.Smoothed().Seconds())
	target = min(max(target, c.cwnd), 1.5*c.cwnd)
	c.cwnd += (target - c.cwnd) * acked / c.cwnd
}

// OnLoss reacts to one packet declared lost. The first loss of a packet sent
// after the current recovery period began starts a new period and reduces the
// window once (RFC 9002 §7.3.2, RFC 9438 §4.6-4.7: W_max with fast
// convergence, cwnd *= 0.7, not below the minimum window); later losses in the
// same period are ignored, as are packets that are not InFlight.
func (c *Cubic) OnLoss(now monotime.Time, p *SentPacket, bytesInFlight int) {
	c.lazyInit()
	if !p.InFlight {
		return
	}
	if c.hasRecovery && p.Time <= c.recoveryStart {
		c.periodLosses++ // part of the current congestion event
		return
	}
	c.prior = cubicPrior{cwnd: c.cwnd, ssthresh: c.ssthresh, wMax: c.wMax, cwndPrior: c.cwndPrior,
		k: c.k, wEst: c.wEst, epochSet: c.epochSet, tEpoch: c.tEpoch, hs: c.hs}
	c.periodLosses, c.periodSpurious, c.undone = 1, 0, false
	c.recoveryStart, c.hasRecovery, c.inRecovery = now, true, true
	c.cwndPrior = c.cwnd
	if c.cwnd < c.wMax {
		c.wMax = c.cwnd * (1 + cubicBeta) / 2 // fast convergence
	} else {
		c.wMax = c.cwnd
	}
	c.cwnd = max(c.cwnd*cubicBeta, c.minWindow)
	c.ssthresh = c.cwnd
	c.epochSet = false
	c.hs = hystart{}
}

// OnSpuriousLoss reports that a packet declared lost at lostAt was
// acknowledged after all. Once every loss of the current recovery period
// has proved spurious, the period's window reduction is undone (RFC 9438
// §4.9: cwnd back to at least its value before, ssthresh, W_max, K, the
// epoch and W_est restored). Losses declared before the current period
// began are ignored: their reduction was superseded.
func (c *Cubic) OnSpuriousLoss(lostAt monotime.Time) {
	c.lazyInit()
	if !c.hasRecovery || c.undone || lostAt < c.recoveryStart {
		return
	}
	c.periodSpurious++
	if c.periodSpurious < c.periodLosses {
		return
	}
	p := &c.prior
	c.cwnd = max(c.cwnd, p.cwnd)
	c.ssthresh, c.wMax, c.cwndPrior, c.k, c.wEst = p.ssthresh, p.wMax, p.cwndPrior, p.k, p.wEst
	c.epochSet, c.tEpoch, c.hs = p.epochSet, p.tEpoch, p.hs
	c.inRecovery = false
	c.undone = true
}

// OnPersistentCongestion collapses the window to the minimum (RFC 9002 §7.6.2)
// and restarts slow start towards the current ssthresh; the recovery period
// ends, so the next loss reduces again.
func (c *Cubic) OnPersistentCongestion() {
	c.lazyInit()
	c.cwnd = c.minWindow
	c.hasRecovery, c.inRecovery = false, false
	c.recoveryStart = 0
	c.epochSet = false
	c.hs = hystart{}
}
