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
	"time"

	"github.com/stt-go/stt/dataplane/recovery"
	"github.com/stt-go/stt/internal/monotime"
)

// ptoBase is one probe timeout without backoff.
func (s *Session) ptoBase() time.Duration {
	return s.rtt.PTO(maxAckDelay)
}

func (s *Session) idleTimeout() time.Duration {
	d := s.cfg.IdleTimeout
	if s.peerIdle > 0 && s.peerIdle < d {
		d = s.peerIdle
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
	if lt := s.hot.sent.LossTime(); lt != 0 {
		take(lt)
	} else if s.hot.sent.BytesInFlight() > 0 || s.State() == StateHandshake && !s.initiator {
		take(recovery.PTODeadline(s.lastAckEl, &s.rtt, maxAckDelay, s.hot.ptoCount))
	}
	if t, ok := s.hot.rx.AckDeadline(); ok {
		take(t)
	}
	if s.hot.recvPrev != nil {
		take(s.prevExpiry)
	}
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

// onTimer runs when the session's timer fires.
func (s *Session) onTimer(now monotime.Time) {
	if s.State() == StateClosed {
		return
	}
	if s.closingUntil != 0 {
		if !now.Before(s.closingUntil) {
			s.finish(&SessionError{Code: s.closeCode, Reason: s.closeReason, Remote: s.closedByPeer})
			return
		}
		// expiredCloseResend
		if s.hot.closeResends > 0 && !now.Before(s.hot.closeResendAt) {
			s.hot.closeResends--
			s.hot.closeResendAt = now.Add(s.ptoBase())
			s.hot.pend |= ctrlClose
			s.markDirty()
		}
		s.rearm(now)
		return
	}
	// expiredIdle
	if now.Sub(s.lastRecv) >= s.idleTimeout() {
		s.closeCode, s.closeReason = CodeIdleTimeout, "idle timeout"
		s.finish(&SessionError{Code: CodeIdleTimeout, Reason: "idle timeout: nothing heard from the peer for " + s.idleTimeout().String()})
		return
	}
	// expiredKeepAlive while hibernating: wake to send the PING
	ka := s.cfg.KeepAlive
	keepAliveDue := ka > 0 && !now.Before(max(s.lastSend, s.lastRecv).Add(ka))
	if s.hot == nil {
		if !keepAliveDue {
			s.rearm(now)
			return
		}
		if !s.wake(now) {
			return
		}
	}
	// expiredDrain
	if s.draining && !now.Before(s.drainDL) {
		s.closeLocal(now, CodeNoError, "drain timeout")
		return
	}
	// expiredLoss / expiredPTO
	if lt := s.hot.sent.LossTime(); lt != 0 {
		if !now.Before(lt) {
			s.hot.sent.DetectLost(now, &s.rtt, s.hot.onLostFn)
			if s.hot.sent.PersistentCongestion() {
				s.hot.cc.OnPersistentCongestion()
			}
		}
	} else if s.hot.sent.BytesInFlight() > 0 {
		if pto := recovery.PTODeadline(s.lastAckEl, &s.rtt, maxAckDelay, s.hot.ptoCount); !now.Before(pto) {
			s.hot.ptoCount++
			s.probe()
		}
	}
	// expiredAck
	if t, ok := s.hot.rx.AckDeadline(); ok && !now.Before(t) {
		s.hot.pendingAck = true
		s.markDirty()
	}
	// expiredKeepAlive
	if keepAliveDue {
		s.hot.pend |= ctrlPing
		s.markDirty()
	}
	// expiredPacing
	if s.hot.paceAt != 0 && !now.Before(s.hot.paceAt) {
		s.hot.paceAt = 0
		s.markDirty()
	}
	// expiredTrim: release the sent history a burst grew
	if s.hot.sent.Len() == 0 && !now.Before(max(s.lastSend, s.lastRecv).Add(trimAfter)) {
		s.hot.sent.Trim()
	}
	// expiredPrevKey
	s.dropPrevKey(now)
	// expiredHibernate
	if s.canHibernate() && !now.Before(s.quietSince().Add(s.cfg.HibernateAfter)) {
		s.hibernate()
	}
	s.rearm(now)
}

// probe sends ack-eliciting data on PTO (RFC 9002 §6.2.4): the oldest
// unacknowledged data is re-queued, or a PING when there is none.
func (s *Session) probe() {
	if p, ok := s.hot.sent.OldestUnacked(); ok && p.NRanges > 0 {
		s.requeueData(p)
		s.stats.pktsRetx.Add(1)
	} else {
		s.hot.pend |= ctrlPing
	}
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
