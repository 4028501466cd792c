package recovery

import (
	"math"
	"time"

	"github.com/stt-go/stt/internal/monotime"
)

const (
	// pacingGain is RFC 9002 §7.7's N = 1.25: pacing slightly faster than
	// cwnd/RTT so the window, not the pacer, is the steady-state limit.
	pacingGain = 1.25

	// DefaultBurstPackets is the pacer's bucket depth in datagrams: 10, RFC
	// 9002 §7.7's suggested burst (the initial window), which also covers a
	// typical GSO batch on loopback. SetBurst raises it for larger batches.
	DefaultBurstPackets = 10

	// BurstInterval is the other floor on the bucket depth: what the
	// current rate sends in one tick of the loop's timer wheel. A pacer
	// whose bucket holds less than a tick's worth of data cannot reach its
	// own rate when the timer is what wakes the sender, and on a fast path
	// it cuts every GSO batch down to DefaultBurstPackets datagrams,
	// multiplying the send syscalls (quic-go allows two milliseconds'
	// worth; Linux TCP sizes TSO bursts to about one).
	BurstInterval = time.Millisecond
)

// Pacer is a token bucket that spreads a session's packets over the RTT
// (RFC 9002 §7.7): it fills at 1.25 * cwnd / smoothed RTT bytes per second up
// to a depth of DefaultBurstPackets datagrams (SetBurst) or BurstInterval at
// the current rate, whichever is more, and sending takes
// tokens, possibly into debt (a GSO batch larger than the budget), which later
// refills repay. A smoothed RTT <= 0 disables pacing (the full burst is always
// available). The bucket starts full.
//
// The zero Pacer is ready to use with DefaultMaxDatagramSize. It is owned by
// one loop goroutine and not safe for concurrent use; no method allocates.
type Pacer struct {
	maxDatagram int
	burst       int // packets
	tokens      float64
	last        monotime.Time
	started     bool
}

// NewPacer returns a full pacer for the given maximum datagram size (<= 0
// means DefaultMaxDatagramSize).
func NewPacer(maxDatagram int) *Pacer {
	return &Pacer{maxDatagram: maxDatagram}
}

// SetBurst sets the bucket depth in datagrams (<= 0 restores
// DefaultBurstPackets), e.g. to the GSO batch size.
func (p *Pacer) SetBurst(packets int) { p.burst = packets }

// capacity is the bucket depth at rate r (bytes per nanosecond).
func (p *Pacer) capacity(r float64) float64 {
	m, b := p.maxDatagram, p.burst
	if m <= 0 {
		m = DefaultMaxDatagramSize
	}
	if b <= 0 {
		b = DefaultBurstPackets
	}
	floor := float64(m) * float64(b)
	if math.IsInf(r, 1) {
		return floor
	}
	return max(floor, r*float64(BurstInterval))
}

// rate returns bytes per nanosecond, +Inf when pacing is off.
func rate(cwnd int, srtt time.Duration) float64 {
	if srtt <= 0 {
		return math.Inf(1)
	}
	return pacingGain * float64(cwnd) / float64(srtt)
}

// refill adds the tokens accrued since the last call.
func (p *Pacer) refill(now monotime.Time, cwnd int, srtt time.Duration) float64 {
	r := rate(cwnd, srtt)
	capacity := p.capacity(r)
	switch {
	case !p.started:
		p.started = true
		p.tokens = capacity
		p.last = now
	case now > p.last:
		if math.IsInf(r, 1) {
			p.tokens = capacity
		} else {
			p.tokens = min(capacity, p.tokens+r*float64(now-p.last))
		}
		p.last = now
	case math.IsInf(r, 1):
		p.tokens = capacity
	}
	return r
}

// Budget returns how many bytes may be sent now (0 while in debt), after
// refilling the bucket for the time since the previous call.
func (p *Pacer) Budget(now monotime.Time, cwnd int, srtt time.Duration) int {
	p.refill(now, cwnd, srtt)
	if p.tokens <= 0 {
		return 0
	}
	return int(p.tokens)
}

// OnSent takes bytes from the bucket; it may go into debt.
func (p *Pacer) OnSent(bytes int) { p.tokens -= float64(bytes) }

// NextSend returns when a size-byte packet may leave: now if the bucket holds
// enough, else the instant the refill at the current rate makes it so (a size
// above the bucket depth waits for a full bucket). The loop arms its pacing
// timer for it.
func (p *Pacer) NextSend(now monotime.Time, cwnd int, srtt time.Duration, size int) monotime.Time {
	r := p.refill(now, cwnd, srtt)
	need := min(float64(size), p.capacity(r))
	if p.tokens >= need || math.IsInf(r, 1) {
		return now
	}
	if r <= 0 {
		// cwnd 0: no rate; wait one RTT, after which cwnd will have changed
		// or the loop asks again.
		return now.Add(srtt)
	}
	return now + monotime.Time(math.Ceil((need-p.tokens)/r))
}
