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

	// MaxCatchUp bounds how much of its own lateness a waiting sender may
	// make up at once. When the sender wanted to send and was told to wait
	// (NextSendRate), but its loop woke later than that — the goroutine was
	// descheduled, the machine busy — the tokens that accrued since the
	// promised time are kept beyond the bucket depth, up to this much time
	// at the rate, so the lost sending time is sent in one catch-up burst
	// instead of lost. A bucket capped at the depth would lose them: BBR
	// paces at the bottleneck's rate, so every millisecond of lateness is a
	// millisecond of idle link. Measured through internal/netem on the
	// shared 2-core test machine at 100 Mbit/s, the cap discarded 4-7% of
	// the pacing rate's tokens (loop wake-ups 2-10 ms apart several times
	// a second); with catch-up, under 1% outside cwnd-limited phases. 5 ms
	// is about the longest such stall seen in steady state; a longer one is
	// rare enough to lose.
	MaxCatchUp = 5 * time.Millisecond
)

// Pacer is a token bucket that spreads a session's packets out in time (RFC
// 9002 §7.7): it fills at the pacing rate — the congestion controller's
// (Controller.PacingRate, BudgetRate and NextSendRate) or 1.25 * cwnd /
// smoothed RTT (Budget and NextSend) — up to a depth of DefaultBurstPackets
// datagrams (SetBurst) or BurstInterval at that rate, whichever is more, and
// sending takes tokens, possibly into debt (a GSO batch larger than the
// budget), which later refills repay. The depth is also the largest burst, so
// a GSO batch never carries more than the pacer releases in about a
// millisecond — except right after the loop woke later than NextSendRate
// asked, when up to MaxCatchUp of that lateness is sent at once. An
// infinite rate (or a smoothed RTT <= 0) disables pacing: the full depth is
// always available. The bucket starts full. Departure tells when a packet
// sent now left the pacing schedule, for delivery-rate samples.
//
// The zero Pacer is ready to use with DefaultMaxDatagramSize. It is owned by
// one loop goroutine and not safe for concurrent use; no method allocates.
type Pacer struct {
	maxDatagram int
	burst       int // packets
	tokens      float64
	last        monotime.Time
	due         monotime.Time // when NextSendRate said the next packet may leave (0: none pending)
	rate        float64       // bytes per nanosecond at the last refill
	lastDep     monotime.Time // the last Departure
	started     bool
}

// NewPacer returns a full pacer for the given maximum datagram size (<= 0
// means DefaultMaxDatagramSize).
func NewPacer(maxDatagram int) *Pacer {
	return &Pacer{maxDatagram: maxDatagram}
}

// SetMaxDatagram changes the datagram size the bucket depth is counted in
// (path MTU discovery changed it; <= 0 means DefaultMaxDatagramSize). The
// budget check against a full datagram then uses the new size.
func (p *Pacer) SetMaxDatagram(n int) { p.maxDatagram = n }

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

// windowRate returns RFC 9002 §7.7's pacing rate 1.25 * cwnd / srtt in bytes
// per second, +Inf when srtt <= 0.
func windowRate(cwnd int, srtt time.Duration) float64 {
	if srtt <= 0 {
		return math.Inf(1)
	}
	return pacingGain * float64(cwnd) / srtt.Seconds()
}

// perNanosecond converts a rate in bytes per second to bytes per nanosecond;
// NaN and negative rates count as 0 (nothing may be sent).
func perNanosecond(bytesPerSecond float64) float64 {
	if !(bytesPerSecond > 0) {
		return 0
	}
	return bytesPerSecond / float64(time.Second)
}

// refill adds the tokens accrued at r bytes per nanosecond since the last
// call.
func (p *Pacer) refill(now monotime.Time, r float64) {
	p.rate = r
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
			if p.due != 0 && now > p.due {
				// The sender has waited since due: the loop woke late.
				capacity += r * float64(min(now-p.due, monotime.Time(MaxCatchUp)))
			}
			p.tokens = min(capacity, p.tokens+r*float64(now-p.last))
		}
		p.last = now
		if now >= p.due {
			p.due = 0
		}
	case math.IsInf(r, 1):
		p.tokens = capacity
	}
}

// Budget returns how many bytes may be sent now (0 while in debt) at RFC 9002
// §7.7's rate 1.25 * cwnd / srtt, after refilling the bucket for the time
// since the previous call.
func (p *Pacer) Budget(now monotime.Time, cwnd int, srtt time.Duration) int {
	return p.BudgetRate(now, windowRate(cwnd, srtt))
}

// BudgetRate returns how many bytes may be sent now (0 while in debt) at the
// given pacing rate in bytes per second (+Inf: unpaced), after refilling the
// bucket at that rate for the time since the previous call.
func (p *Pacer) BudgetRate(now monotime.Time, bytesPerSecond float64) int {
	p.refill(now, perNanosecond(bytesPerSecond))
	if p.tokens <= 0 {
		return 0
	}
	return int(p.tokens)
}

// OnSent takes bytes from the bucket; it may go into debt.
func (p *Pacer) OnSent(bytes int) { p.tokens -= float64(bytes) }

// Departure returns the time at which a packet sent now left the pacer's
// schedule (its earliest departure time): now less the time the bucket's
// tokens took to accrue at the last rate asked for, so a packet sent late
// or within a burst gets the time the pacing rate would have sent it at.
// It is never after now, never before the previous Departure, and now when
// pacing is off or the bucket is in debt. Call it before OnSent.
func (p *Pacer) Departure(now monotime.Time) monotime.Time {
	d := now
	if r := p.rate; r > 0 && !math.IsInf(r, 1) && p.tokens > 0 {
		d = now - monotime.Time(p.tokens/r)
	}
	d = max(d, p.lastDep)
	p.lastDep = d
	return d
}

// NextSend returns when a size-byte packet may leave at RFC 9002 §7.7's rate
// (see NextSendRate); a window of 0 has no rate, and the packet waits one
// srtt, after which the window will have changed or the loop asks again.
func (p *Pacer) NextSend(now monotime.Time, cwnd int, srtt time.Duration, size int) monotime.Time {
	if cwnd <= 0 && srtt > 0 {
		p.refill(now, 0)
		if p.tokens >= min(float64(size), p.capacity(0)) {
			return now
		}
		return now.Add(srtt)
	}
	return p.NextSendRate(now, windowRate(cwnd, srtt), size)
}

// NextSendRate returns when a size-byte packet may leave at the given pacing
// rate in bytes per second: now if the bucket holds enough, else the instant
// the refill makes it so (a size above the bucket depth waits for a full
// bucket). The loop arms its pacing timer for it. A rate <= 0 (or NaN)
// releases nothing: the packet waits BurstInterval, after which the loop asks
// again.
func (p *Pacer) NextSendRate(now monotime.Time, bytesPerSecond float64, size int) monotime.Time {
	r := perNanosecond(bytesPerSecond)
	p.refill(now, r)
	need := min(float64(size), p.capacity(r))
	if p.tokens >= need || math.IsInf(r, 1) {
		return now
	}
	if r <= 0 {
		return now.Add(BurstInterval)
	}
	p.due = now + monotime.Time(math.Ceil((need-p.tokens)/r))
	return p.due
}
