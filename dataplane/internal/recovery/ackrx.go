package recovery

import (
	"math"
	"time"

	"github.com/stt-go/stt/internal/monotime"
)

const (
	// MaxReceivedRanges bounds the received packet-number ranges a Received
	// keeps: 64, one more than the ACK frame's range limit (wire
	// MaxAckRanges), so an ACK never needs more than it holds and a peer that
	// sends every other packet number cannot grow it.
	MaxReceivedRanges = 64

	// AckElicitingThreshold is how many ack-eliciting packets may arrive
	// before an ACK is sent at once (RFC 9000 §13.2.2: at least every second
	// one).
	AckElicitingThreshold = 2
)

// Received tracks the packet numbers received on one session and decides when
// to acknowledge them (RFC 9000 §13.2). It keeps at most MaxReceivedRanges
// ranges: when a new range would exceed that, the lowest range is dropped and
// packet numbers at or below it are ignored from then on (the peer has long
// declared them lost or seen them acknowledged). Duplicate detection for
// security is the replay window's job; Add is merely idempotent.
//
// ACK policy: an ACK is due at once after AckElicitingThreshold ack-eliciting
// packets, or when an ack-eliciting packet arrives out of order (below the
// largest received, or leaving a gap above it); otherwise at most the max ACK
// delay (MaxAckDelay unless SetMaxAckDelay) after the first unacknowledged
// ack-eliciting packet. Packets that are not ack-eliciting are recorded but
// never make an ACK due.
//
// The zero Received is ready to use. It is owned by one loop goroutine and not
// safe for concurrent use. Its range list grows to the session's working size
// (at most 64 ranges, 1 KiB) and then no method allocates.
type Received struct {
	ranges []AckRange // descending, disjoint, non-adjacent
	floor  uint64     // packet numbers below floor are ignored

	largestTime monotime.Time // when ranges[0].Largest arrived
	maxACKDelay time.Duration

	unacked  int           // ack-eliciting packets since the last ACK
	ackNow   bool          // an ACK is due immediately
	deadline monotime.Time // delayed-ACK deadline, valid if unacked > 0
}

// SetMaxAckDelay sets our max_ack_delay (advertised to the peer); zero or
// negative restores MaxAckDelay.
func (r *Received) SetMaxAckDelay(d time.Duration) { r.maxACKDelay = d }

func (r *Received) ackDelay() time.Duration {
	if r.maxACKDelay <= 0 {
		return MaxAckDelay
	}
	return r.maxACKDelay
}

// Add records packet number pn, received at now. It returns true if pn was
// recorded now, false if it was already recorded, is below the tracked
// floor or is math.MaxUint64 (no wire packet number comes near it) (calling Add again with the same pn changes nothing). It does not
// allocate once the range list has grown.
func (r *Received) Add(pn uint64, now monotime.Time, ackEliciting bool) (isNew bool) {
	if pn < r.floor || pn == math.MaxUint64 {
		return false
	}
	hadLargest := len(r.ranges) > 0
	var largest uint64
	if hadLargest {
		largest = r.ranges[0].Largest
	}
	// Find the first range (descending) whose Smallest <= pn+1, i.e. the
	// first range pn may touch or lie above.
	i := 0
	for i < len(r.ranges) && r.ranges[i].Smallest > pn+1 {
		i++
	}
	n := len(r.ranges)
	switch {
	case i < n && r.ranges[i].Smallest == pn+1:
		// Extends ranges[i] downward; may join the range below.
		r.ranges[i].Smallest = pn
		if i+1 < n && r.ranges[i+1].Largest+1 == pn {
			r.ranges[i].Smallest = r.ranges[i+1].Smallest
			r.ranges = append(r.ranges[:i+1], r.ranges[i+2:]...)
		}
	case i < n && pn >= r.ranges[i].Smallest && pn <= r.ranges[i].Largest:
		return false // duplicate
	case i < n && pn == r.ranges[i].Largest+1:
		r.ranges[i].Largest = pn // extends ranges[i] upward (a gap stays above)
	default:
		if n == MaxReceivedRanges {
			if i == n {
				// Would become the 65th, lowest range: too old to track.
				r.floor = pn + 1
				return false
			}
			r.floor = r.ranges[n-1].Largest + 1
			r.ranges = r.ranges[:n-1]
		}
		r.ranges = append(r.ranges, AckRange{})
		copy(r.ranges[i+1:], r.ranges[i:])
		r.ranges[i] = AckRange{Smallest: pn, Largest: pn}
	}
	if !hadLargest || pn > largest {
		r.largestTime = now
	}
	if ackEliciting {
		if hadLargest && (pn < largest || pn > largest+1) {
			r.ackNow = true // reordered, or a gap opened (RFC 9000 §13.2.1)
		}
		if r.unacked == 0 {
			r.deadline = now.Add(r.ackDelay())
		}
		r.unacked++
		if r.unacked >= AckElicitingThreshold {
			r.ackNow = true
		}
	}
	return true
}

// ShouldAckNow reports whether an ACK is due immediately.
func (r *Received) ShouldAckNow() bool { return r.ackNow }

// AckDeadline returns when a delayed ACK is due, and false if no
// ack-eliciting packet awaits acknowledgement.
func (r *Received) AckDeadline() (monotime.Time, bool) {
	if r.unacked == 0 {
		return 0, false
	}
	return r.deadline, true
}

// Len returns the number of ranges held (at most MaxReceivedRanges).
func (r *Received) Len() int { return len(r.ranges) }

// Largest returns the largest packet number received, and false if none.
func (r *Received) Largest() (uint64, bool) {
	if len(r.ranges) == 0 {
		return 0, false
	}
	return r.ranges[0].Largest, true
}

// FillAck writes up to len(ranges) received ranges into the caller's slice,
// largest first (the order of the ACK frame), and returns how many it wrote
// and the ACK delay (now minus the arrival of the largest packet number, never
// negative). It does not allocate and does not change r; call OnAckSent once
// the ACK is actually sent.
func (r *Received) FillAck(now monotime.Time, ranges []AckRange) (n int, delay time.Duration) {
	n = copy(ranges, r.ranges)
	if n > 0 {
		delay = max(now.Sub(r.largestTime), 0)
	}
	return n, delay
}

// OnAckSent resets the ACK policy after an ACK frame was sent: nothing is due
// until the next ack-eliciting packet.
func (r *Received) OnAckSent() {
	r.unacked = 0
	r.ackNow = false
	r.deadline = 0
}

// PruneBelow forgets packet numbers below pn, once the peer has acknowledged
// an ACK that covered them (RFC 9000 §13.2.4), so later ACKs carry fewer
// ranges. Packet numbers below pn are ignored by Add from then on.
func (r *Received) PruneBelow(pn uint64) {
	if pn <= r.floor {
		return
	}
	r.floor = pn
	for len(r.ranges) > 0 {
		last := &r.ranges[len(r.ranges)-1]
		if last.Largest < pn {
			r.ranges = r.ranges[:len(r.ranges)-1]
			continue
		}
		last.Smallest = max(last.Smallest, pn)
		break
	}
}
