package dataplane

// Session timers. Each session owns one recovery.Timer on its loop's wheel,
// armed at the earliest of its deadlines; when it fires, every deadline that
// has passed is handled (event names follow RFC 9002 and the seed):
//
//   - expiredLoss / expiredPTO: loss detection and probe timeout
//   - expiredAck: the delayed ACK is due
//   - expiredIdle: nothing authenticated heard for the idle timeout
//   - expiredKeepAlive: send a PING so the peer's idle timer stays fresh
//   - expiredPrevKey: forget the previous receive key
//   - expiredDrain / expiredClosing: end of a graceful drain or close linger
//   - expiredCloseResend: CLOSE again during the linger (twice)
//   - expiredHibernate: quiet long enough to release the hot state
//
// A hibernating session (hibernate.go) has only the idle and keepalive
// deadlines.

import (
	"fmt"
	"time"

	"github.com/stt-go/stt/dataplane/internal/recovery"
	"github.com/stt-go/stt/internal/monotime"
)

// ptoBackoff is the exponent of the PTO backoff: the count of consecutive
// PTOs, except during the grace before an unresponsive verdict, when probes
// go out every PTO.
func (s *Session) ptoBackoff() int {
	if s.hot.deadAt != 0 {
		return 0
	}
	return s.hot.ptoCount
}

// ptoBase is one probe timeout without backoff.
func (s *Session) ptoBase() time.Duration {
	return s.rtt.PTO(maxAckDelay)
}

func (s *Session) idleTimeout() time.Duration {
	d := s.cfg.IdleTimeout
	if s.peerIdle > 0 && s.peerIdle < d {
		d = s.peerIdle
	}
	if s.confirmWait > 0 && s.confirmWait < d && !s.initiator && s.State() == StateHandshake {
		d = s.confirmWait // a resumed responder waiting for the initiator's first packet
	}
	return d
}

// deadline computes the earliest timer deadline.
func (s *Session) deadline(now monotime.Time) monotime.Time {
	var dl monotime.Time
	take := func(t monotime.Time) {
		if t != 0 && (dl == 0 || t < dl) {
			dl = t
		}
	}
	if s.closingUntil != 0 {
		if s.hot.closeResends > 0 && s.hot.closeResendAt < s.closingUntil {
			return s.hot.closeResendAt
		}
		return s.closingUntil
	}
	take(s.lastRecv.Add(s.idleTimeout()))
	if ka := s.cfg.KeepAlive; ka > 0 {
		take(max(s.lastSend, s.lastRecv).Add(ka))
	}
	if s.hot == nil {
		return dl
	}
	take(s.hot.deadAt)
	if lt := s.hot.sent.LossTime(); lt != 0 {
		take(lt)
	} else if s.hot.sent.BytesInFlight() > 0 || s.State() == StateHandshake && !s.initiator && !s.resumed {
		take(recovery.PTODeadline(s.lastAckEl, &s.rtt, maxAckDelay, s.ptoBackoff()))
	}
	if t, ok := s.hot.rx.AckDeadline(); ok {
		take(t)
	}
	if s.hot.recvPrev != nil {
		take(s.prevExpiry)
	}
	take(s.pathDeadline)
	take(s.nextExpiry)
	take(s.hot.paceAt)
	if s.hot.sent.Len() == 0 && s.hot.sent.Cap() > sentInitialCap {
		take(max(s.lastSend, s.lastRecv).Add(trimAfter))
	}
	if s.draining {
		take(s.drainDL)
	}
	if s.canHibernate() {
		take(s.quietSince().Add(s.cfg.HibernateAfter))
	}
	return dl
}

// rearm schedules the session's timer at its earliest deadline.
func (s *Session) rearm(now monotime.Time) {
	if s.State() == StateClosed {
		s.loop.wheel.Cancel(&s.timer)
		return
	}
	if dl := s.deadline(now); dl != 0 {
		if !s.timer.Scheduled() || s.timer.Deadline() != dl {
			s.loop.wheel.Schedule(&s.timer, dl)
		}
	}
}

// onTimer runs when the session's timer fires: each deadline that has
// passed is handled by its own expired* method, in this order.
func (s *Session) onTimer(now monotime.Time) {
	if s.State() == StateClosed {
		return
	}
	if s.closingUntil != 0 {
		s.expiredClosing(now)
		return
	}
	if s.expiredIdle(now) {
		return
	}
	keepAliveDue := s.keepAliveDue(now)
	if s.hot == nil && !keepAliveDue {
		s.rearm(now) // hibernating: only the idle and keepalive deadlines
		return
	}
	if !s.ready(now) { // wakes a hibernating session to send the PING
		return
	}
	if s.expiredDrain(now) || s.expiredRecovery(now) {
		return
	}
	h := s.hot
	if t, ok := h.rx.AckDeadline(); ok && !now.Before(t) { // expiredAck
		h.pendingAck = true
		s.markDirty()
	}
	if keepAliveDue { // expiredKeepAlive
		h.pend |= ctrlPing
		s.markDirty()
	}
	if h.paceAt != 0 && !now.Before(h.paceAt) { // expiredPacing
		h.paceAt = 0
		s.markDirty()
	}
	if h.sent.Len() == 0 && !now.Before(max(s.lastSend, s.lastRecv).Add(trimAfter)) {
		h.sent.Trim() // expiredTrim: release the sent history a burst grew
	}
	if s.nextExpiry != 0 && !now.Before(s.nextExpiry) {
		s.expireMessages(now) // expiredMessages: latency-bounded streams
	}
	s.dropPrevKey(now)           // expiredPrevKey
	s.expiredPathValidation(now) // fall back to the last validated path
	if s.canHibernate() && !now.Before(s.quietSince().Add(s.cfg.HibernateAfter)) {
		s.hibernate() // expiredHibernate
	}
	s.rearm(now)
}

// expiredClosing ends the close linger, or repeats CLOSE during it
// (expiredCloseResend).
func (s *Session) expiredClosing(now monotime.Time) {
	if !now.Before(s.closingUntil) {
		s.finish(&SessionError{Code: s.closeCode, Reason: s.closeReason, Remote: s.closedByPeer})
		return
	}
	if h := s.hot; h.closeResends > 0 && !now.Before(h.closeResendAt) {
		h.closeResends--
		h.closeResendAt = now.Add(s.ptoBase())
		h.pend |= ctrlClose
		s.markDirty()
	}
	s.rearm(now)
}

// expiredIdle closes a session that heard nothing authenticated for the
// idle timeout; it reports whether it did.
func (s *Session) expiredIdle(now monotime.Time) bool {
	if now.Sub(s.lastRecv) < s.idleTimeout() {
		return false
	}
	s.closeCode, s.closeReason = CodeIdleTimeout, "idle timeout"
	s.finish(&SessionError{Code: CodeIdleTimeout, Reason: "idle timeout: nothing heard from the peer for " + s.idleTimeout().String()})
	return true
}

// keepAliveDue reports whether the session has been quiet for the
// keepalive interval.
func (s *Session) keepAliveDue(now monotime.Time) bool {
	ka := s.cfg.KeepAlive
	return ka > 0 && !now.Before(max(s.lastSend, s.lastRecv).Add(ka))
}

// expiredDrain closes a draining session whose drain deadline passed; it
// reports whether it did.
func (s *Session) expiredDrain(now monotime.Time) bool {
	if !s.draining || now.Before(s.drainDL) {
		return false
	}
	s.closeLocal(now, s.closeCode, "drain timeout")
	return true
}

// expiredRecovery runs the loss timer (expiredLoss) or the probe timeout
// (expiredPTO). A peer that acknowledges nothing for Config.MaxProbes
// consecutive probe timeouts, and at least minUnresponsive, while data is
// in flight is declared unresponsive and the session ends (reported true):
// a crashed or unplugged peer is noticed within seconds on a short path,
// long before the idle timeout, while an outage shorter than
// minUnresponsive is ridden out.
func (s *Session) expiredRecovery(now monotime.Time) bool {
	h := s.hot
	if h.deadAt != 0 && !now.Before(h.deadAt) {
		silent := now.Sub(max(s.lastAcked, s.installedAt))
		s.closeCode, s.closeReason = CodeUnresponsive, "peer unresponsive"
		s.finish(&SessionError{Code: CodeUnresponsive, Reason: fmt.Sprintf(
			"peer unresponsive: nothing acknowledged for %v (%d probe timeouts) with data in flight",
			silent.Round(time.Millisecond), h.ptoCount)})
		return true
	}
	if lt := h.sent.LossTime(); lt != 0 {
		if !now.Before(lt) { // expiredLoss
			h.sent.DetectLost(now, &s.rtt, h.onLostFn)
			if h.sent.PersistentCongestion() {
				h.cc.OnPersistentCongestion()
			}
		}
		return false
	}
	if h.sent.BytesInFlight() == 0 {
		return false
	}
	if pto := recovery.PTODeadline(s.lastAckEl, &s.rtt, maxAckDelay, s.ptoBackoff()); now.Before(pto) {
		return false
	}
	// expiredPTO
	h.ptoCount++
	s.pmtuBlackHole(now, h.ptoCount)
	silent := now.Sub(max(s.lastAcked, s.installedAt))
	if mp := s.cfg.MaxProbes; mp > 0 && h.ptoCount > mp && silent >= minUnresponsive && h.deadAt == 0 {
		// The last probe may have gone out long ago (the backoff doubles),
		// into an outage that has since ended: probe again, every PTO
		// without backoff, for a short grace before the verdict.
		h.deadAt = now.Add(2 * max(s.ptoBase(), minDeadGrace))
	}
	s.probe()
	return false
}

// probe sends ack-eliciting data on PTO (RFC 9002 §6.2.4): the oldest
// unacknowledged data is re-queued, and a PING always goes with it. The
// re-queued ranges may turn out to have nothing left to send (a removed
// stream, a latency-bounded stream's abandoned message) or be held back by
// flow control, and a PTO that sends nothing leaves the packet in flight
// for ever: loss detection needs a later packet acknowledged. That
// happened: a lossy latency-bounded stream whose last unacknowledged
// packet held an abandoned message fired its PTO 31 450 times without
// sending, stopped acknowledging the peer (its ACK-only backlog filled) and
// the peer declared it unresponsive (TestProbeSendsAfterAbandon).
func (s *Session) probe() {
	if p, ok := s.hot.sent.OldestUnacked(); ok && p.NRanges > 0 {
		s.requeueData(p)
		s.stats.pktsRetx.Add(1)
	}
	s.hot.pend |= ctrlPing
	s.hot.probes = 2 // RFC 9002 §6.2.4: up to two probe packets, exempt from the congestion window
	s.markDirty()
}

// publishRecoveryStats copies RTT and window into the atomic counters.
func (s *Session) publishRecoveryStats() {
	s.stats.srtt.Store(int64(s.rtt.Smoothed()))
	s.stats.minRTT.Store(int64(s.rtt.Min()))
	s.stats.latestRTT.Store(int64(s.rtt.Latest()))
	s.stats.cwnd.Store(int64(s.hot.cc.Window()))
	if r := s.hot.cc.PacingRate(&s.rtt); r > 0 && r < 1e15 {
		s.stats.pacing.Store(uint64(r))
	}
}
