package recovery

import (
	"time"

	"github.com/stt-go/stt/internal/monotime"
)

const (
	// InitialRTT is the RTT assumed before the first sample, RFC 9002 §6.2.2
	// (kInitialRtt = 333 ms). STT's handshake runs on the control plane, so a
	// session's first data packets use it; on loopback the estimate converges
	// with the first ACK, and it only sizes the first PTO and pacing interval.
	InitialRTT = 333 * time.Millisecond

	// Granularity is the timer granularity, RFC 9002 §6.1.2 (kGranularity
	// = 1 ms): the floor for loss delay and for the PTO's variance term.
	Granularity = time.Millisecond

	// MaxAckDelay is the default maximum time a receiver delays an ACK,
	// RFC 9000 §18.2 (max_ack_delay default 25 ms).
	MaxAckDelay = 25 * time.Millisecond

	// MaxPTOBackoff caps the PTO exponent (PTO << ptoCount). 2^6 = 64x a
	// typical 1 s PTO already exceeds the default idle timeout, so more
	// backoff only delays the idle close; the cap also keeps the shift from
	// overflowing a Duration.
	MaxPTOBackoff = 6
)

// RTT is the round-trip estimator of RFC 9002 §5: latest, minimum, smoothed
// and variance. The zero RTT is ready to use and reports InitialRTT (and
// InitialRTT/2 variance) until its first sample. It is a plain value owned by
// one loop goroutine, not safe for concurrent use; no method allocates.
type RTT struct {
	latest, min, smoothed, rttvar time.Duration
	maxACKDelay                   time.Duration
	hasSample                     bool
}

// SetMaxAckDelay records the peer's max_ack_delay, used by Update to clamp
// reported ACK delays once the handshake is confirmed (RFC 9002 §5.3). Zero or
// negative restores the default MaxAckDelay.
func (r *RTT) SetMaxAckDelay(d time.Duration) { r.maxACKDelay = d }

// MaxAckDelay returns the peer's max_ack_delay (MaxAckDelay unless set).
func (r *RTT) MaxAckDelay() time.Duration {
	if r.maxACKDelay <= 0 {
		return MaxAckDelay
	}
	return r.maxACKDelay
}

// Update adds an RTT sample (RFC 9002 §5.1-5.3): sample is now minus the send
// time of the newly acknowledged largest packet, ackDelay the delay the peer
// reported. Once handshakeConfirmed, ackDelay is clamped to MaxAckDelay(); it
// is subtracted only when that leaves the sample at or above the minimum RTT.
// The minimum RTT uses the raw sample. A negative sample is ignored.
func (r *RTT) Update(sample, ackDelay time.Duration, handshakeConfirmed bool) {
	if sample < 0 {
		return
	}
	r.latest = sample
	if !r.hasSample {
		r.hasSample = true
		r.min = sample
		r.smoothed = sample
		r.rttvar = sample / 2
		return
	}
	r.min = min(r.min, sample)
	if ackDelay < 0 {
		ackDelay = 0
	}
	if handshakeConfirmed {
		ackDelay = min(ackDelay, r.MaxAckDelay())
	}
	adjusted := sample
	if sample >= r.min+ackDelay {
		adjusted = sample - ackDelay
	}
	diff := r.smoothed - adjusted
	if diff < 0 {
		diff = -diff
	}
	r.rttvar = (3*r.rttvar + diff) / 4
	r.smoothed = (7*r.smoothed + adjusted) / 8
}

// HasSample reports whether Update has taken at least one sample.
func (r *RTT) HasSample() bool { return r.hasSample }

// Latest returns the most recent sample (0 before the first).
func (r *RTT) Latest() time.Duration { return r.latest }

// Min returns the minimum sample seen (0 before the first).
func (r *RTT) Min() time.Duration { return r.min }

// Smoothed returns smoothed_rtt (InitialRTT before the first sample).
func (r *RTT) Smoothed() time.Duration {
	if !r.hasSample {
		return InitialRTT
	}
	return r.smoothed
}

// Var returns rttvar (InitialRTT/2 before the first sample).
func (r *RTT) Var() time.Duration {
	if !r.hasSample {
		return InitialRTT / 2
	}
	return r.rttvar
}

// PTO returns the probe timeout before backoff, RFC 9002 §6.2.1:
// smoothed_rtt + max(4*rttvar, kGranularity) + maxACKDelay.
func (r *RTT) PTO(maxACKDelay time.Duration) time.Duration {
	return r.Smoothed() + max(4*r.Var(), Granularity) + maxACKDelay
}

// lossDelay is RFC 9002 §6.1.2's time threshold:
// max(9/8 * max(smoothed_rtt, latest_rtt), kGranularity).
func (r *RTT) lossDelay() time.Duration {
	d := max(r.Smoothed(), r.latest)
	return max(d+d/8, Granularity)
}

// PTODeadline returns when the probe timeout fires (RFC 9002 §6.2.1): the time
// the last ack-eliciting packet was sent plus PTO(maxACKDelay) doubled ptoCount
// times, the exponent capped at MaxPTOBackoff. A zero lastACKElicitingSent
// (nothing in flight) returns the zero Time: no PTO is armed.
func PTODeadline(lastACKElicitingSent monotime.Time, rtt *RTT, maxACKDelay time.Duration, ptoCount int) monotime.Time {
	if lastACKElicitingSent.IsZero() {
		return 0
	}
	shift := min(max(ptoCount, 0), MaxPTOBackoff)
	return lastACKElicitingSent.Add(rtt.PTO(maxACKDelay) << shift)
}
