package dataplane

// Commands from API goroutines and the control plane, run by exec on the
// loop goroutine, one method per op. Every op that touches a session first
// passes its guard (Session.ready, Stream.ready): a closed session or a
// removed stream drops the command, a hibernating session wakes.

import (
	"net/netip"

	"github.com/stt-go/stt/internal/monotime"
	"github.com/stt-go/stt/wire"
)

// ready is the one guard every loop entry point passes before it touches a
// session's state: false for a closed session (the caller drops what it
// was doing); a hibernating session is woken, so s.hot is set after it.
func (s *Session) ready(now monotime.Time) bool {
	return s.State() != StateClosed && s.wake(now)
}

// ready is Session.ready for a stream that is still in its session.
func (st *Stream) ready(now monotime.Time) bool {
	return !st.removed && st.sess.ready(now)
}

// execInstall adds a session the control plane established to the shard.
// A responder queues FINAL at once.
func (l *loop) execInstall(now monotime.Time, s *Session, reply chan<- error) {
	if _, taken := l.sessions[s.id]; taken {
		reply <- ErrSessionExists
		return
	}
	l.sessions[s.id] = s
	l.e.stats.sessions.Add(1)
	s.lastRecv, s.lastSend = now, now
	s.keyStart, s.installedAt = now, now
	if !s.initiator {
		s.hot.pend |= ctrlFinal
		s.markDirty()
	}
	s.rearm(now)
	reply <- nil
}

// execRemove closes a session a dial abandoned or that never confirmed.
func (l *loop) execRemove(now monotime.Time, id wire.SessionID) {
	if s := l.sessions[id]; s != nil {
		s.closeLocal(now, CodeNoError, "handshake abandoned")
	}
}

// execStreamOpen registers a stream OpenStream created and announces it at
// once (MAX_STREAM_DATA with our initial credit), so the peer's
// AcceptStream returns before we write: protocols where the accepting side
// speaks first work. Usually it rides in the same packet as the first DATA.
func execStreamOpen(now monotime.Time, st *Stream) {
	if !st.ready(now) {
		return
	}
	s := st.sess
	s.registerLocal(st)
	if !st.announced {
		st.pendWindow = true
		s.queueStreamCtl(st)
	}
}

// execStreamReset is CancelWrite: RESET with code.
func execStreamReset(now monotime.Time, st *Stream, code uint64) {
	if !st.ready(now) {
		return
	}
	st.sess.resetStream(st, code)
	st.sess.checkStreamDone(st)
}

// execStreamStop is CancelRead: STOP_SENDING with code, unless the peer's
// final size is known already (nothing left to stop).
func execStreamStop(now monotime.Time, st *Stream, code uint64) {
	if !st.ready(now) {
		return
	}
	if !st.finSeen {
		st.stopCode = code
		st.pendStop = true
		st.sess.queueStreamCtl(st)
	}
	st.sess.checkStreamDone(st)
}

// execSendRaw queues a handshake datagram from the control plane.
func (l *loop) execSendRaw(pkt []byte, to netip.AddrPort) {
	buf := l.txSlot(to)
	n := copy(buf, pkt)
	l.txCommit(n)
}

// execCustomFrame queues an application frame (Session.SendFrame).
func execCustomFrame(now monotime.Time, s *Session, typ byte, payload []byte) {
	if s.State() >= StateClosing || !s.ready(now) {
		s.framesQueued.Add(-1)
		return
	}
	s.hot.frames = append(s.hot.frames, wire.CustomFrame{Type: wire.FrameType(typ), Payload: payload})
	s.markDirty()
}

// execHandoff processes a datagram another loop received for one of ours.
func (l *loop) execHandoff(now monotime.Time, pkt []byte, from netip.AddrPort) {
	id, _ := wire.PeekSessionID(pkt)
	if s := l.sessions[id]; s != nil {
		s.onPacket(now, pkt, from)
	} else {
		l.e.stats.dropUnknownSession.Add(1)
	}
	l.e.handoffPool.Put(pkt[:cap(pkt)])
}
