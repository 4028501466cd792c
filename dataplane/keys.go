package dataplane

// Key rotation (docs/PROTOCOL.md §Key update; issue 4):
//
//   - Each direction ratchets its own traffic secret: next = secret.Next().
//   - The sender rotates when the packets, bytes or age under the current
//     key cross the configured thresholds (the first rotation of every
//     session comes after FirstRotationPackets so the path is always
//     exercised), and always before the suite's confidentiality limit. It
//     never starts a second update before a packet under the current key
//     has been acknowledged, nor within oldKeyLifetimePTOs of that
//     acknowledgement (RFC 9001 §6.5), so no packet in flight is ever two
//     key generations old.
//   - The header's key-phase bit tells the receiver. The receiver keeps the
//     next key precomputed, so the packet path derives nothing; it switches
//     only after a packet opens under the new key, and keeps the previous
//     key for oldKeyLifetimePTOs so reordered packets still open.

import (
	"github.com/stt-go/stt/internal/monotime"
	"github.com/stt-go/stt/stc"
)

// installKeys sets up both directions from the handshake's secrets and
// builds the hot state around their AEAD contexts.
func (s *Session) installKeys(p *SessionParams, now monotime.Time) error {
	s.sendSecret, s.recvSecret = p.send, p.recv
	p.send.Wipe()
	p.recv.Wipe()
	h, err := s.newHot()
	if err != nil {
		return err
	}
	s.hot = h
	s.keyStart = now
	s.keyUpdAcked = true
	s.rotateAt = FirstRotationPackets
	return nil
}

// precomputeKeys derives the next receive key (always kept ready: the
// peer may rotate at any time) and, once a rotation is due, the next send
// key. It allocates (one AEAD per rotation) and runs after a batch, never
// per packet; idle sessions hold no next send key.
func (s *Session) precomputeKeys() {
	if s.hot.sendNext == nil && s.hot.wantSendNext {
		s.hot.wantSendNext = false
		next := s.sendSecret.Next()
		s.hot.sendNext, _ = stc.NewPacketAEAD(s.suite, next)
		next.Wipe()
	}
	if s.hot.recvNext == nil {
		next := s.recvSecret.Next()
		s.hot.recvNext, _ = stc.NewPacketAEAD(s.suite, next)
		next.Wipe()
	}
}

// recvKeyFor picks the key for a packet's key phase. promote reports that
// the packet uses the peer's next key, so a successful open switches keys.
func (s *Session) recvKeyFor(phase bool, pn uint64) (key *stc.PacketAEAD, promote bool) {
	if phase == s.recvPhase {
		return s.hot.recvKey, false
	}
	if s.hot.recvPrev != nil && pn < s.recvFirst {
		return s.hot.recvPrev, false
	}
	if s.hot.recvNext == nil {
		return nil, false
	}
	return s.hot.recvNext, true
}

// promoteRecvKey switches to the next receive key after a packet opened
// under it.
func (s *Session) promoteRecvKey(now monotime.Time, pn uint64) {
	s.hot.recvPrev = s.hot.recvKey
	s.hot.recvKey = s.hot.recvNext
	s.hot.recvNext = nil
	s.recvSecret = s.recvSecret.Next()
	s.recvPhase = !s.recvPhase
	s.recvFirst = pn
	s.prevExpiry = now.Add(oldKeyLifetimePTOs * s.ptoBase())
	s.event(&SessionEvent{Kind: EventKeyRotated, Rotations: s.stats.rotRecv.Add(1)})
	s.loop.needKeys = append(s.loop.needKeys, s)
}

// maybeRotateSend switches the send key when a threshold is crossed.
func (s *Session) maybeRotateSend(now monotime.Time) {
	if !s.keyUpdAcked {
		return
	}
	// RFC 9001 §6.5: wait three PTOs after the previous update was
	// acknowledged. The peer keeps only one previous receive key, so a
	// quicker update would make packets reordered across two updates
	// undecryptable (counted as forgeries against the integrity limit).
	// Only the confidentiality limit overrides the wait.
	if s.keyAckedAt != 0 && s.keyPackets+2*rotateAhead < s.suite.ConfidentialityLimit() &&
		now.Before(s.keyAckedAt.Add(oldKeyLifetimePTOs*s.ptoBase())) {
		return
	}
	// Derive the next key slightly ahead of the threshold, so the switch
	// itself never waits.
	soon := s.keyPackets+rotateAhead >= s.rotateAt ||
		s.keyBytes+rotateAhead*uint64(s.cfg.MaxDatagram) >= s.cfg.RotateBytes ||
		now.Sub(s.keyStart) >= s.cfg.RotateAfter ||
		s.keyPackets+2*rotateAhead >= s.suite.ConfidentialityLimit()
	if !soon {
		return
	}
	if s.hot.sendNext == nil {
		if !s.hot.wantSendNext {
			s.hot.wantSendNext = true
			s.loop.needKeys = append(s.loop.needKeys, s)
		}
		return
	}
	due := s.keyPackets >= s.rotateAt ||
		s.keyBytes >= s.cfg.RotateBytes ||
		now.Sub(s.keyStart) >= s.cfg.RotateAfter ||
		s.keyPackets+rotateAhead >= s.suite.ConfidentialityLimit()
	if !due {
		return
	}
	s.hot.sendKey = s.hot.sendNext
	s.hot.sendNext = nil
	s.sendSecret = s.sendSecret.Next()
	s.sendPhase = !s.sendPhase
	s.keyPackets, s.keyBytes = 0, 0
	s.keyStart = now
	s.keyUpdPN = s.nextPN
	s.keyUpdAcked = false
	s.rotateAt = s.cfg.RotateMessages
	s.event(&SessionEvent{Kind: EventKeyRotated, Send: true, Rotations: s.stats.rotSent.Add(1)})
}

// rotateAhead is how many packets before a rotation threshold the next
// send key is derived.
const rotateAhead = 64

// dropPrevKey forgets the previous receive key once its lifetime ends.
func (s *Session) dropPrevKey(now monotime.Time) {
	if s.hot.recvPrev != nil && !now.Before(s.prevExpiry) {
		s.hot.recvPrev = nil
		s.prevExpiry = 0
	}
}
