package recovery

import (
	"time"

	"github.com/stt-go/stt/internal/monotime"
)

// Adaptive reordering tolerance (RFC 9002 §6.1 leaves both thresholds to
// the implementation; the adaptation follows RFC 8985 §6.2 and Linux TCP).
//
// A packet declared lost and then acknowledged was not lost but reordered
// (or its ACK was): a spurious loss. Each one widens what loss detection
// tolerates, so the same path stops producing them:
//
//   - the packet threshold rises to one more than the number of packets
//     acknowledged ahead of it when it was declared lost, up to
//     MaxPacketThreshold;
//   - a reordering window is added to the time threshold: the delay the
//     late packet's acknowledgement actually took beyond the threshold, plus
//     an eighth, up to one PTO (past the PTO, the probe recovers a loss
//     anyway).
//
// Tolerance decays again when reordering stops: after decayAfter packets
// declared lost with none of them proving spurious (they were really lost),
// both extras halve, as RACK resets its window after 16 recoveries without
// reordering evidence.
const (
	// MaxPacketThreshold caps the adapted packet threshold (Linux's
	// tcp_max_reordering is 300).
	MaxPacketThreshold = 256

	// recentLostN is how many declared losses are remembered to recognise
	// a late acknowledgement.
	recentLostN = 64

	// decayAfter is how many remembered losses must expire unacknowledged
	// before the tolerance halves.
	decayAfter = 16
)

// lostRecord remembers one declared loss.
type lostRecord struct {
	pn           uint64
	sent         monotime.Time
	largestAcked uint64 // largest acknowledged when pn was declared lost
	valid        bool
}

// reordering is Sent's adaptive loss-detection state. The zero value is the
// RFC 9002 defaults.
type reordering struct {
	extraPackets uint64                   // added to PacketThreshold
	window       time.Duration            // added to the time threshold
	recent       *[recentLostN]lostRecord // allocated at the first loss: a loss-free session carries 8 bytes, not 2 KiB
	next         int                      // slot the next loss is recorded in
	live         int                      // valid records (ACKs skip the check when 0)
	expired      int                      // losses expired without proving spurious since the last decay or spurious one
	spurious     uint64
}

// packetThreshold is the packet threshold in use.
func (r *reordering) packetThreshold() uint64 { return PacketThreshold + r.extraPackets }

// recordLost remembers a declared loss; the record it replaces expired
// without its packet being acknowledged, which counts toward decay.
func (r *reordering) recordLost(pn uint64, sent monotime.Time, largestAcked uint64) {
	if r.recent == nil {
		r.recent = new([recentLostN]lostRecord)
	}
	slot := &r.recent[r.next]
	r.next = (r.next + 1) % recentLostN
	r.live++
	if slot.valid {
		r.live--
		r.expired++
		if r.expired >= decayAfter {
			r.expired = 0
			r.extraPackets /= 2
			r.window /= 2
		}
	}
	*slot = lostRecord{pn: pn, sent: sent, largestAcked: largestAcked, valid: true}
}

// onAck checks an ACK frame's ranges against the remembered losses and
// widens the tolerance for every one acknowledged after all. baseDelay is
// the RFC 9002 time threshold without the window, pto the cap on it.
func (r *reordering) onAck(now monotime.Time, ranges []AckRange, baseDelay, pto time.Duration) {
	if r.live == 0 {
		return
	}
	for i := range r.recent {
		rec := &r.recent[i]
		if !rec.valid || !ackContains(ranges, rec.pn) {
			continue
		}
		rec.valid = false
		r.live--
		r.spurious++
		r.expired = 0
		if d := rec.largestAcked - rec.pn; d+1 > r.packetThreshold() {
			r.extraPackets = min(d+1, MaxPacketThreshold) - PacketThreshold
		}
		if took := now.Sub(rec.sent); took > baseDelay {
			r.window = min(max(r.window, took-baseDelay+took/8), pto)
		}
	}
}

// SpuriousLosses returns how many packets declared lost were acknowledged
// afterwards.
func (s *Sent) SpuriousLosses() uint64 { return s.reo.spurious }

// ReorderingTolerance returns the packet threshold and the extra time
// window loss detection currently uses.
func (s *Sent) ReorderingTolerance() (packets uint64, window time.Duration) {
	return s.reo.packetThreshold(), s.reo.window
}
