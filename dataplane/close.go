package dataplane

import (
	"github.com/stt-go/stt/internal/monotime"
)

// closeLocal closes the session from this side: CLOSE goes out (and is
// repeated after one and two PTOs, and for packets that arrive while
// lingering), streams fail with the session error, and the session leaves
// the shard after closeLingerPTOs.
func (s *Session) closeLocal(now monotime.Time, code uint64, reason string) {
	if s.State() == StateClosed || s.closingUntil != 0 || !s.wake(now) {
		return
	}
	s.closeCode, s.closeReason, s.closedByPeer = code, reason, false
	s.setErr(&SessionError{Code: code, Reason: reason})
	s.state.Store(int32(StateClosing))
	s.hot.pend = ctrlClose
	s.hot.ctlStreams = s.hot.ctlStreams[:0]
	s.hot.active = s.hot.active[:0]
	s.closingUntil = now.Add(closeLingerPTOs * s.ptoBase())
	s.hot.closeResends, s.hot.closeResendAt = closeResends, now.Add(s.ptoBase())
	s.markDirty()
	s.signalClosing()
	s.rearm(now)
}

// closeRemote handles a CLOSE from the peer: no reply, immediate teardown.
func (s *Session) closeRemote(code uint64, reason string) {
	s.closeCode, s.closeReason, s.closedByPeer = code, reason, true
	s.finish(&SessionError{Code: code, Reason: reason, Remote: true})
}

// setErr records the first close error; later ones are ignored.
func (s *Session) setErr(err error) {
	s.closeErr.CompareAndSwap(nil, &err)
}

// finish tears the session down: the shard entry goes, waiters wake, send
// buffers are released; receive buffers stay readable (see below).
func (s *Session) finish(err error) {
	if s.State() == StateClosed {
		return
	}
	s.setErr(err)
	s.state.Store(int32(StateClosed))
	s.loop.wheel.Cancel(&s.timer)
	s.loop.remove(s)
	// Receive buffers stay readable, complete or not: Read returns what
	// arrived (every byte of it acknowledged) before it reports io.EOF or
	// the session's error, so a close never discards delivered data.
	for _, st := range s.streams {
		st.send.Reset(CodeNodeStopping)
		st.state.Store(int32(StreamClosed))
	}
	s.stats.activeStreams.Store(0)
	s.streams = nil
	// The keys retire with the session: nothing is sealed or opened after
	// StateClosed (the AEAD contexts are dropped with the session; Go
	// offers no way to wipe their expanded keys).
	s.sendSecret.Wipe()
	s.recvSecret.Wipe()
	if s.hot != nil {
		s.hot.active, s.hot.ctlStreams = nil, nil
	} else {
		s.loop.e.stats.hibernating.Add(-1)
	}
	s.signalClosing()
	s.closeOnce.Do(func() { close(s.done) })
	if s.cfg.OnClose != nil {
		s.cfg.OnClose(s)
	}
}

// startDrain begins a graceful close: once every stream's sent data is
// acknowledged (or the idle timeout passes) CLOSE goes out.
func (s *Session) startDrain(now monotime.Time, code uint64, reason string) {
	if s.State() >= StateClosing || s.draining {
		return
	}
	s.draining = true
	s.closeCode, s.closeReason = code, reason
	s.drainDL = now.Add(s.idleTimeout())
	s.checkDrained(now)
	s.rearm(now)
}

// checkDrained sends CLOSE when a draining session has nothing left
// unacknowledged.
func (s *Session) checkDrained(now monotime.Time) {
	if !s.draining || s.closingUntil != 0 {
		return
	}
	for _, st := range s.streams {
		if st.resetSent || st.localReset.Load() {
			continue
		}
		// Every byte written must be acknowledged, and so must the FIN of
		// a closed stream: without it the peer could not tell the end.
		if st.send.Acked() < st.send.Written() || st.writeClosed.Load() && !st.send.Done() {
			return
		}
	}
	if len(s.hot.ctlStreams) > 0 || s.hot.pend&ctrlFinal != 0 {
		return
	}
	s.closeLocal(now, s.closeCode, s.closeReason)
}

// signalClosing wakes Close callers: CLOSE is queued (it leaves in this
// loop iteration's flush) or the session is gone.
func (s *Session) signalClosing() {
	s.closingMu.Do(func() { close(s.closing) })
}
