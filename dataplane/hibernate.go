package dataplane

// Hibernation: what an idle session costs.
//
// A session's loop-owned state splits in two. The cold part (the Session
// struct itself) is what must survive idleness: identity, traffic secrets
// and rotation counters, packet numbers, RTT estimate, flow-control
// credit, streams, timers and counters. The hot part (sessionHot) is what
// moving packets needs and can be rebuilt: the AEAD contexts (an AES-GCM
// context costs ~800 bytes of expanded key and GHASH tables; the 32-byte
// secrets are enough to rebuild it), the replay bitmap, the sent-packet
// history, congestion control and pacing, ACK state and send queues.
//
// A session whose state allows it (active, nothing in flight or queued,
// no ACK owed, the previous receive key expired, not closing) and that has
// neither sent nor received an authenticated packet for
// Config.HibernateAfter releases its hot part (hibernate). Everything that
// needs it again wakes it first: a packet for the session, a command from
// the API, the keepalive timer. Waking derives three AEAD contexts from
// the secrets (BenchmarkWake: 3.9 µs and 5.9 KB allocated with AES-256-GCM,
// 2.6 µs and 2.1 KB with ChaCha20-Poly1305), so it stays off the
// steady-state packet path by construction: a session that moves packets
// never hibernates.
//
// What changes across a hibernation, and why it is safe:
//   - The replay window keeps only its highest number (ReplayWindow.ResetTo):
//     every older number is refused afterwards. Nothing is in flight to us
//     that we have not acknowledged, and the peer retransmits lost data
//     under new packet numbers.
//   - Congestion control restarts from the initial window, as a sender
//     does after an idle period (RFC 9002 §7.8, RFC 7661); the RTT
//     estimate is kept.
//   - ACK ranges are forgotten: all owed ACKs were sent before hibernating.
//   - Packets that fail to open right after a wake still count toward the
//     integrity limit, and a session stays awake for at least
//     HibernateAfter after each wake, so forged packets cannot make a
//     session churn between the two states faster than that.

import (
	"github.com/stt-go/stt/dataplane/internal/recovery"
	"github.com/stt-go/stt/internal/monotime"
	"github.com/stt-go/stt/stc"
	"github.com/stt-go/stt/wire"
)

// sessionHot is the part of a session's loop-owned state that only a
// session moving packets needs. Session embeds a pointer to it; the
// pointer is nil while the session hibernates.
type sessionHot struct {
	sendKey      *stc.PacketAEAD
	sendNext     *stc.PacketAEAD
	wantSendNext bool // a rotation is near: derive sendNext after the batch
	recvKey      *stc.PacketAEAD
	recvPrev     *stc.PacketAEAD
	recvNext     *stc.PacketAEAD
	replay       stc.ReplayWindow

	sent       *recovery.Sent
	cc         recovery.Controller
	pacer      *recovery.Pacer
	rx         recovery.Received
	ptoCount   int
	deadAt     monotime.Time // the peer is declared unresponsive at this time unless it acknowledges something (0: not pending)
	probes     int           // PTO probe packets still to send
	paceAt     monotime.Time // pacer's next send time while paced (0: not paced)
	onAckedFn  func(*recovery.SentPacket)
	onLostFn   func(*recovery.SentPacket)
	pendingAck bool
	spurious   uint64 // sent.SpuriousLosses() already counted in stats

	active     []*Stream          // streams with data to send, round-robin
	ctlStreams []*Stream          // streams with stream-control frames pending
	frames     []wire.CustomFrame // application frames waiting for a packet
	pend       uint32             // ctrl* bits of control frames to (re)send
	pathChal   [8]byte
	pathResp   [8]byte
	oldChal    [8]byte // PATH_CHALLENGE on the old path during a migration
	probeOld   bool    // oldChal still to be sent to validPeer

	closeResendAt monotime.Time // while closing: when CLOSE goes out again unprompted
	closeResends  int           // unprompted CLOSE repetitions left
}

// newHot builds the hot state: recovery, congestion control and the AEAD
// contexts of the current secrets (the next receive key included, so a
// peer that rotated while we hibernated is understood at once).
func (s *Session) newHot() (*sessionHot, error) {
	h := &sessionHot{
		sent:  recovery.NewSent(sentInitialCap, recovery.MaxSentPackets),
		cc:    s.newController(),
		pacer: recovery.NewPacer(s.pmtu.start),
	}
	h.sent.StartAt(s.nextPN)
	h.pacer.SetMaxDatagram(s.maxDatagram)
	h.onAckedFn = s.onAcked
	h.onLostFn = s.onLost
	var err error
	if h.sendKey, err = stc.NewPacketAEAD(s.suite, s.sendSecret); err != nil {
		return nil, err
	}
	if h.recvKey, err = stc.NewPacketAEAD(s.suite, s.recvSecret); err != nil {
		return nil, err
	}
	next := s.recvSecret.Next()
	h.recvNext, err = stc.NewPacketAEAD(s.suite, next)
	next.Wipe()
	if err != nil {
		return nil, err
	}
	return h, nil
}

// newController builds the session's congestion controller
// (Config.CongestionControl). A BBR controller starts from the RTT the
// session kept and, after a short hibernation, from the bandwidth estimate
// it had: it restarts as BBR restarts from idle, pacing at the model rate,
// instead of probing from the initial window again.
func (s *Session) newController() recovery.Controller {
	if s.cfg.CongestionControl == CongestionCubic {
		return recovery.NewCubic(s.pmtu.start)
	}
	c := recovery.BBRConfig{MaxDatagram: s.pmtu.start, Seed: uint64(randUint32())<<32 | uint64(randUint32())}
	if s.rtt.HasSample() {
		c.MinRTT = s.rtt.Min()
	}
	if s.sleptBW > 0 && s.loop.now.Sub(s.sleptAt) < bandwidthMemory {
		c.Bandwidth = s.sleptBW
	}
	return recovery.NewBBR(&c)
}

// wake rebuilds the hot state of a hibernating session. It reports false
// when the session is closed (or could not be rebuilt, which closes it);
// callers then drop what they were doing.
func (s *Session) wake(now monotime.Time) bool {
	if s.hot != nil {
		return true
	}
	if s.State() == StateClosed {
		return false
	}
	h, err := s.newHot()
	if err != nil {
		// Unreachable with the suite the handshake negotiated; never leave
		// a session without keys.
		s.finish(&SessionError{Code: CodeInternal, Reason: "rebuilding keys after hibernation: " + err.Error()})
		return false
	}
	h.replay.ResetTo(s.replayMax)
	s.hot = h
	s.wokeAt = now
	s.loop.e.stats.hibernating.Add(-1)
	s.loop.e.stats.wakes.Add(1)
	return true
}

// quietSince is when the session last did anything that keeps it awake.
func (s *Session) quietSince() monotime.Time {
	return max(s.lastSend, s.lastRecv, s.wokeAt)
}

// canHibernate reports whether the hot state holds nothing that must
// survive: no ack-eliciting packet in flight, nothing queued, no ACK owed, no previous
// key still live, no close or drain under way.
func (s *Session) canHibernate() bool {
	h := s.hot
	if h == nil || s.cfg.HibernateAfter <= 0 || s.State() != StateActive || s.draining || s.closingUntil != 0 || s.dirty {
		return false
	}
	// Outstanding ACK-only packets do not count: the peer never has to
	// acknowledge them, and the rebuilt history ignores late ACKs of them
	// (recovery.Sent.StartAt).
	if h.sent.BytesInFlight() > 0 || h.sent.LossTime() != 0 || h.pendingAck || h.rx.ShouldAckNow() || h.pend != 0 || !s.pathValid ||
		len(h.frames) > 0 || len(h.active) > 0 || len(h.ctlStreams) > 0 || h.paceAt != 0 || h.probes > 0 ||
		h.recvPrev != nil {
		return false
	}
	_, ackOwed := h.rx.AckDeadline()
	return !ackOwed
}

// hibernate releases the hot state (see the top of this file).
func (s *Session) hibernate() {
	s.replayMax = s.hot.replay.Highest()
	if b, ok := s.hot.cc.(*recovery.BBR); ok {
		s.sleptBW, s.sleptAt = b.Bandwidth(), s.loop.now
	}
	s.hot = nil
	s.loop.e.stats.hibernating.Add(1)
	s.loop.e.stats.hibernations.Add(1)
}
