package dataplane

// Commands from API goroutines and the control plane, run by exec on the
// loop goroutine, one method per op. Every op that touches a session first
// passes its guard (Session.ready, Stream.ready): a closed session or a
// removed stream drops the command, a hibernating session wakes.

import (
	"encoding/binary"
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
// A responder queues FINAL (with its reset token and ticket) at once; a
// resumed responder waits for the initiator's first packet (confirm); a
// resumed initiator speaks first.
func (l *loop) execInstall(now monotime.Time, s *Session, reply chan<- error) {
	if _, taken := l.sessions[s.id]; taken {
		reply <- ErrSessionExists
		return
	}
	l.sessions[s.id] = s
	l.e.stats.sessions.Add(1)
	s.lastRecv, s.lastSend = now, now
	s.keyStart, s.installedAt = now, now
	switch {
	case s.initiator && s.resumed:
		s.hot.pend |= ctrlPing | s.tokenBit() // let the responder confirm
		s.markDirty()
	case !s.initiator && !s.resumed:
		s.hot.pend |= ctrlFinal | s.tokenBit() | s.ticketBit()
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
	n := copy(l.txSlot(to, len(pkt)), pkt)
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
		// The owner does not hold it either: answered as on the receiving
		// loop, or a restarted node whose socket happened to give the
		// packet to another loop would leave its peer waiting out its
		// probe timeouts.
		l.unknownSession(pkt, id, from)
	}
	l.e.putHandoff(pkt)
}

// tokenBit is ctrlResetToken when this node gives peers reset tokens.
func (s *Session) tokenBit() uint32 {
	if s.cfg.ResetToken == nil {
		return 0
	}
	return ctrlResetToken
}

// ticketBit is ctrlNewTicket when this session has a ticket to hand out.
func (s *Session) ticketBit() uint32 {
	if s.ticket == nil {
		return 0
	}
	return ctrlNewTicket
}

// unknownSession handles a TRANSPORT packet for a session ID no loop of
// this node holds (the loop that owns the ID by steering): it is counted
// and answered with a stateless reset. processPacket and execHandoff both
// end here.
func (l *loop) unknownSession(pkt []byte, id wire.SessionID, from netip.AddrPort) {
	l.e.stats.dropUnknownSession.Add(1)
	l.statelessReset(pkt, id, from)
}

// statelessReset answers a TRANSPORT packet for a session this node does
// not hold (it restarted and lost it, or the peer is confused) with a
// stateless reset (docs/PROTOCOL.md §Stateless reset): a datagram shaped
// like a TRANSPORT packet of that session — header, random bytes — whose
// last 16 bytes are the session's reset token, which the peer learnt from
// RESET_TOKEN while the session was alive and which only this node can
// derive. It is one byte shorter than the packet that triggered it (so two
// nodes cannot ping-pong), never shorter than minResetPacket, and
// rate-limited per loop, so it is no amplification and costs at most
// resetRate HMACs a second.
func (l *loop) statelessReset(pkt []byte, id wire.SessionID, to netip.AddrPort) {
	rt := l.e.cfg.ResetToken
	if rt == nil || len(pkt) <= minResetPacket || !l.resetBudget.take(l.now) {
		return
	}
	n := min(len(pkt)-1, resetMaxSize)
	buf := l.txSlot(to, n)
	fillRandom(buf)
	h := wire.Header{Kind: wire.KindTransport, KeyPhase: buf[0]&1 == 1, SessionID: id,
		PacketNumber: binary.BigEndian.Uint64(buf[8:16]) & wire.MaxPacketNumber}
	h.PutTo(buf)
	tok := rt(id)
	copy(buf[n-wire.ResetTokenLen:], tok[:])
	l.txCommit(n)
	l.e.stats.resetsSent.Add(1)
}

// tokenBucket is a small rate limiter owned by one goroutine: rate tokens
// a second, up to burst.
type tokenBucket struct {
	tokens float64
	last   monotime.Time
}

func (b *tokenBucket) take(now monotime.Time) bool {
	if b.last != 0 {
		b.tokens = min(resetBurst, b.tokens+now.Sub(b.last).Seconds()*resetRate)
	} else {
		b.tokens = resetBurst
	}
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}
