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
//     acknowledged ahead of it when it was declared lost; reordering deeper
//     than MaxPacketThreshold packets turns the packet threshold off, and
//     loss detection relies on time alone, as RACK does once it has seen
//     reordering (RFC 8985 §6.2);
//   - a reordering window is added to the time threshold: the delay the
//     late packet's acknowledgement actually took beyond the threshold, plus
//     an eighth, up to one PTO (past the PTO, the probe recovers a loss
//     anyway).
//
// Tolerance decays again when reordering stops: after decayAfter packets
// declared lost with none of them proving spurious (they were really lost),
// both extras halve and a switched-off packet threshold comes back, as RACK
// resets its window after 16 recoveries without reordering evidence.
const (
	// MaxPacketThreshold is the deepest reordering (in packets) the packet
	// threshold adapts to (Linux's tcp_max_reordering is 300); deeper
	// reordering switches it off.
	MaxPacketThreshold = 256

	// packetThresholdOff stands for "no packet threshold": far above any
	// packet-number distance, far below overflow when added to one.
	packetThresholdOff = 1 << 62

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
	lostAt       monotime.Time // when it was declared lost
	largestAcked uint64        // largest acknowledged when pn was declared lost
	valid        bool
}

// lossMemory is what reordering allocates at the first loss.
type lossMemory struct {
	recent [recentLostN]lostRecord
	spurAt [recentLostN]monotime.Time // lostAt of the losses the last ACK proved spurious
	nSpur  int
}

// reordering is Sent's adaptive loss-detection state. The zero value is the
// RFC 9002 defaults.
type reordering struct {
	extraPackets uint64        // added to PacketThreshold
	timeOnly     bool          // packet threshold off: reordering deeper than MaxPacketThreshold seen
	window       time.Duration // added to the time threshold
	mem          *lossMemory   // allocated at the first loss: a loss-free session carries 8 bytes, not 3 KiB
	next         int           // slot the next loss is recorded in
	live         int           // valid records (ACKs skip the check when 0)
	expired      int           // losses expired without proving spurious since the last decay or spurious one
	spurious     uint64
}

// packetThreshold is the packet threshold in use.
func (r *reordering) packetThreshold() uint64 {
	if r.timeOnly {
		return packetThresholdOff
	}
	return PacketThreshold + r.extraPackets
}

// recordLost remembers a declared loss; the record it replaces expired
// without its packet being acknowledged, which counts toward decay.
func (r *reordering) recordLost(pn uint64, sent, lostAt monotime.Time, largestAcked uint64) {
	if r.mem == nil {
		r.mem = new(lossMemory)
	}
	slot := &r.mem.recent[r.next]
	r.next = (r.next + 1) % recentLostN
	r.live++
	if slot.valid {
		r.live--
		r.expired++
		if r.expired >= decayAfter {
			r.expired = 0
			r.extraPackets /= 2
			r.window /= 2
			r.timeOnly = false
		}
	}
	*slot = lostRecord{pn: pn, sent: sent, lostAt: lostAt, largestAcked: largestAcked, valid: true}
}

// onAck checks an ACK frame's ranges against the remembered losses and
// widens the tolerance for every one acknowledged after all: the time
// threshold by what it lacked against rtt's RFC 9002 threshold, capped at
// rtt's PTO. Without remembered losses (the loss-free case) it costs one
// comparison per ACK.
func (r *reordering) onAck(now monotime.Time, ranges []AckRange, rtt *RTT) {
	if r.mem != nil {
		r.mem.nSpur = 0
	}
	if r.live == 0 {
		return
	}
	baseDelay, pto := rtt.lossDelay(), rtt.PTO(rtt.MaxAckDelay())
	m := r.mem
	for i := range m.recent {
		rec := &m.recent[i]
		if !rec.valid || !ackContains(ranges, rec.pn) {
			continue
		}
		rec.valid = false
		r.live--
		r.spurious++
		m.spurAt[m.nSpur] = rec.lostAt
		m.nSpur++
		r.expired = 0
		if d := rec.largestAcked - rec.pn; d+1 > r.packetThreshold() {
			r.extraPackets = min(d+1, MaxPacketThreshold) - PacketThreshold
			r.timeOnly = d+1 > MaxPacketThreshold
		}
		if took := now.Sub(rec.sent); took > baseDelay {
			r.window = min(max(r.window, took-baseDelay+took/8), pto)
		}
	}
}

// SpuriousInLastAck returns when each loss the last OnAck proved spurious
// had been declared (for Cubic.OnSpuriousLoss); valid until the next OnAck.
func (s *Sent) SpuriousInLastAck() []monotime.Time {
	if s.reo.mem == nil {
		return nil
	}
	return s.reo.mem.spurAt[:s.reo.mem.nSpur]
}

// SpuriousLosses returns how many packets declared lost were acknowledged
// afterwards.
func (s *Sent) SpuriousLosses() uint64 { return s.reo.spurious }

// ReorderingTolerance returns the packet threshold (0: switched off, time
// alone declares losses) and the extra time window loss detection
// currently uses.
func (s *Sent) ReorderingTolerance() (packets uint64, window time.Duration) {
	if s.reo.timeOnly {
		return 0, s.reo.window
	}
	return s.reo.packetThreshold(), s.reo.window
}
