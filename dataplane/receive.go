package dataplane

// Receive path of one session, run on its loop's goroutine:
//
//  1. replay check (stc.ReplayWindow.Check) before any crypto
//  2. key selection by the header's key-phase bit: current key, previous
//     key (reordered packets within ~3 PTO of an update) or the
//     precomputed next key (the peer rotated)
//  3. AEAD open in place; failures are counted and dropped, the session
//     survives until the integrity limit (Invariant 1)
//  4. replay window update, idle timer refresh, address migration
//  5. frames in order: DATA → stream reassembly, ACK → loss recovery and
//     congestion control, the rest → session and stream state
//  6. ACK scheduling (immediately or within max_ack_delay)

import (
	"crypto/subtle"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/stt-go/stt/dataplane/internal/recovery"
	"github.com/stt-go/stt/dataplane/internal/streambuf"
	"github.com/stt-go/stt/internal/monotime"
	"github.com/stt-go/stt/stc"
	"github.com/stt-go/stt/wire"
)

// errProtocol carries a close code and reason out of frame processing.
type errProtocol struct {
	code   uint64
	reason string
}

func (e *errProtocol) Error() string { return e.reason }

// onPacket handles one TRANSPORT packet addressed to s. pkt is borrowed
// from the loop's receive buffer for the duration of the call.
func (s *Session) onPacket(now monotime.Time, pkt []byte, from netip.AddrPort) {
	if s.State() == StateClosed {
		return
	}
	payload, pn, ok := s.open(now, pkt)
	if !ok {
		return
	}
	if s.closingUntil != 0 {
		s.onPacketWhileClosing(payload)
		return
	}
	s.lastRecv = now
	s.stats.pktsRecv.Add(1)
	s.stats.lastActive.Store(int64(now))
	if s.State() == StateHandshake && s.initiator {
		s.confirm(now) // FINAL (or anything after it) opened
	}
	s.notePath(now, from, pn, len(pkt))
	ackEliciting, err := s.processFrames(now, payload)
	if err != nil {
		var pe *errProtocol
		if !errors.As(err, &pe) {
			pe = &errProtocol{CodeProtocol, err.Error()}
		}
		s.closeLocal(now, pe.code, pe.reason)
		return
	}
	if s.State() == StateHandshake && !s.initiator {
		// After the frames: a first packet that closes the session (an
		// abandoned dial's CLOSE) must not announce it.
		s.confirm(now)
	}
	if s.loop.noAck {
		// A frame could not be stored (a stream's out-of-order gaps are
		// full): leave the packet unacknowledged so the peer sends its
		// contents again, later, when the gaps have closed.
		s.loop.noAck = false
		s.stats.dropGaps.Add(1)
		s.rearm(now)
		return
	}
	s.hot.rx.Add(pn, now, ackEliciting)
	if s.hot.rx.ShouldAckNow() {
		s.hot.pendingAck = true
		s.markDirty()
	}
	s.rearm(now)
}

// open checks a packet against the replay window, picks the key for its
// key phase and opens it in place. A packet that fails is counted and, if
// it carries the peer's stateless reset token, ends the session.
func (s *Session) open(now monotime.Time, pkt []byte) (payload []byte, pn uint64, ok bool) {
	hdr, _, err := wire.ParseHeader(pkt)
	if err != nil || len(pkt) < wire.HeaderLen+stc.Overhead {
		s.stats.dropMalform.Add(1)
		return nil, 0, false
	}
	pn = hdr.PacketNumber
	if s.hot == nil && pn <= s.replayMax {
		s.stats.dropReplay.Add(1) // refused before any work: see ReplayWindow.ResetTo
		s.checkReset(pkt)
		return nil, 0, false
	}
	if !s.ready(now) {
		return nil, 0, false
	}
	if !s.hot.replay.Check(pn) {
		s.stats.dropReplay.Add(1)
		s.checkReset(pkt)
		return nil, 0, false
	}
	key, promote := s.recvKeyFor(hdr.KeyPhase, pn)
	if key != nil {
		payload, err = key.Open(pkt, wire.HeaderLen, pn)
	}
	if key == nil || err != nil {
		if !s.checkReset(pkt) {
			s.countFailedOpen()
		}
		return nil, 0, false
	}
	if !s.hot.replay.Update(pn) {
		s.stats.dropReplay.Add(1)
		return nil, 0, false
	}
	if promote {
		s.promoteRecvKey(now, pn)
	}
	return payload, pn, true
}

// checkReset ends the session if pkt, a packet that did not open, ends with
// the peer's stateless reset token: the peer lost the session's state (it
// restarted) and says so (docs/PROTOCOL.md §Stateless reset). It reports
// whether it did.
func (s *Session) checkReset(pkt []byte) bool {
	if !s.peerTokenSet || len(pkt) < minResetPacket {
		return false
	}
	if subtle.ConstantTimeCompare(pkt[len(pkt)-wire.ResetTokenLen:], s.peerToken[:]) != 1 {
		return false
	}
	s.closeCode, s.closeReason, s.closedByPeer = CodeStatelessReset, "stateless reset", true
	s.finish(&SessionError{Code: CodeStatelessReset, Remote: true,
		Reason: "the peer no longer holds this session (it restarted or lost its state) and answered with a stateless reset"})
	return true
}

func (s *Session) countFailedOpen() {
	s.stats.dropAuth.Add(1)
	s.failed++
	if s.failed >= s.cfg.integrityLimit(s.suite) {
		s.closeLocal(monotime.Now(), CodeAEADLimit, "integrity limit reached: too many packets failed to open")
	}
}

// confirm marks the handshake complete on the first packet that opens.
// The initiator installs its session as it sends AUTH_PROOF, and the
// first packet that opens is the responder's FINAL, one round trip later:
// that interval is the session's first RTT sample (inflated, never
// deflated, if AUTH_PROOF was retransmitted). Without it a session that
// has not yet sent data would time its PTOs — and its close linger — from
// the 333 ms initial RTT. The responder gets its first sample from the
// acknowledgement of FINAL.
func (s *Session) confirm(now monotime.Time) {
	if s.initiator && !s.rtt.HasSample() && s.installedAt != 0 {
		s.rtt.Update(now.Sub(s.installedAt), 0, false)
		s.publishRecoveryStats()
	}
	if !s.state.CompareAndSwap(int32(StateHandshake), int32(StateActive)) {
		return
	}
	if s.confirmed != nil {
		close(s.confirmed)
		s.confirmed = nil
	}
	if s.initiator {
		// Acknowledge FINAL at once: the responder announces the session
		// (its Accept returns) when this first packet arrives. Our reset
		// token rides along.
		s.hot.pendingAck = true
		s.hot.pend |= s.tokenBit()
		s.markDirty()
		return
	}
	if s.resumed {
		// Nothing went out before the initiator's first packet opened:
		// now the reset token and the next ticket.
		s.hot.pend |= s.tokenBit() | s.ticketBit()
		s.markDirty()
	}
	if s.cfg.OnAccept != nil {
		s.cfg.OnAccept(s)
	}
}

// notePath accounts a packet that opened on the path it came from, and
// follows the peer to a new address (NAT rebinding) as RFC 9000 §9 does:
// only a packet that is the highest-numbered one seen so far moves the
// session (a reordered or raced copy of an older packet does not), at most
// once per PTO; until the peer answers a PATH_CHALLENGE on the new path,
// sending there stays within 3x what was received from it, and the old
// path, if it was validated, is probed at the same time: a PATH_RESPONSE
// from it proves the peer is still there, and the session moves back.
func (s *Session) notePath(now monotime.Time, from netip.AddrPort, pn uint64, size int) {
	if from != s.peer {
		largest, seen := s.hot.rx.Largest()
		if (!seen || pn > largest) && (s.migratedAt == 0 || now.Sub(s.migratedAt) >= s.ptoBase()) {
			s.migrate(now, from)
		} else {
			s.stats.dropMigrate.Add(1)
		}
	}
	if !s.pathValid && from == s.peer {
		s.pathRecv += uint64(size)
	}
}

// migrate moves the session to from and starts validating it.
func (s *Session) migrate(now monotime.Time, from netip.AddrPort) {
	s.event(&SessionEvent{Kind: EventPathMigrated, From: s.peer, To: from})
	if s.pathValid {
		s.validPeer = s.peer // the path to fall back to
	}
	s.peer = from
	s.remote.Store(&from)
	s.pathValid = false
	s.pathRecv, s.pathSent = 0, 0
	s.migratedAt = now
	s.pathDeadline = now.Add(3 * max(s.ptoBase(), newPathPTO))
	fillRandom(s.hot.pathChal[:])
	s.hot.pend |= ctrlPath
	if s.validPeer.IsValid() && s.validPeer != from {
		fillRandom(s.hot.oldChal[:])
		s.hot.probeOld = true
	}
	s.markDirty()
}

// pathValidated ends a validation: the new path answered (to == s.peer),
// or the old one did (the migration was spurious or forged: move back).
func (s *Session) pathValidated(to netip.AddrPort) {
	s.event(&SessionEvent{Kind: EventPathMigrated, From: s.peer, To: to, Validated: true})
	s.peer = to
	s.remote.Store(&to)
	s.pathValid = true
	s.validPeer = to
	s.pathDeadline = 0
	s.hot.probeOld = false
	s.hot.oldChal = [8]byte{}
}

// expiredPathValidation falls back to the last validated path when the new
// one never answered.
func (s *Session) expiredPathValidation(now monotime.Time) {
	if s.pathValid || s.pathDeadline == 0 || now.Before(s.pathDeadline) {
		return
	}
	s.stats.pathFailures.Add(1)
	if s.validPeer.IsValid() {
		s.pathValidated(s.validPeer)
		return
	}
	s.pathDeadline = 0 // nowhere to go back to: keep trying within the 3x budget
}

// processFrames acts on a packet's frames. The whole payload is parsed
// and checked first, and no frame of a packet that holds a malformed or
// unexpected one is acted upon (docs/PROTOCOL.md); then each frame is
// handled in order. It returns whether any was ack-eliciting, or an
// *errProtocol that closes the session.
func (s *Session) processFrames(now monotime.Time, b []byte) (ackEliciting bool, err error) {
	f := &s.loop.frame
	if len(b) == 0 {
		s.stats.dropMalform.Add(1)
		return false, &errProtocol{CodeProtocol, "packet without frames"}
	}
	for off := 0; off < len(b); {
		n, err := wire.ParseFrame(b[off:], f)
		if err != nil {
			s.stats.dropMalform.Add(1)
			var pe *wire.ParseError
			if errors.As(err, &pe) {
				pe.Offset += off // within the packet's plaintext, not the frame
			}
			return false, &errProtocol{CodeProtocol, "malformed frame: " + err.Error()}
		}
		if !frameAllowed(f) {
			s.stats.dropMalform.Add(1)
			return false, &errProtocol{CodeProtocol, fmt.Sprintf("unexpected frame %v at payload offset %d", f.Type, off)}
		}
		off += n
		ackEliciting = ackEliciting || f.IsAckEliciting()
	}
	for len(b) > 0 && s.State() != StateClosed {
		n, _ := wire.ParseFrame(b, f) // cannot fail: checked above
		b = b[n:]
		if err := s.handleFrame(now, f); err != nil {
			return false, err
		}
	}
	return ackEliciting, nil
}

// frameAllowed reports whether a parsed frame may appear in a TRANSPORT
// packet (HANDSHAKE and AUTH frames belong to the handshake).
func frameAllowed(f *wire.Frame) bool {
	switch f.Type {
	case wire.FramePadding, wire.FrameData, wire.FrameControl, wire.FrameStreamControl:
		return true
	}
	return f.Type.IsCustom()
}

func (s *Session) handleFrame(now monotime.Time, f *wire.Frame) error {
	switch f.Type {
	case wire.FramePadding:
		return nil
	case wire.FrameData:
		return s.onData(now, &f.Data)
	case wire.FrameControl:
		return s.onControl(now, f)
	case wire.FrameStreamControl:
		return s.onStreamControl(f)
	default:
		if f.Type.IsCustom() {
			if s.cfg.OnCustomFrame == nil || !s.cfg.OnCustomFrame(s, byte(f.Type), f.Custom.Payload) {
				s.stats.dropCustom.Add(1)
			}
			return nil
		}
	}
	return &errProtocol{CodeProtocol, "unexpected frame " + f.Type.String()}
}

// onControl handles one CONTROL frame.
func (s *Session) onControl(now monotime.Time, f *wire.Frame) error {
	switch f.Sub {
	case wire.ControlAck:
		return s.onAck(now, &f.Ack)
	case wire.ControlPing:
		return nil
	case wire.ControlClose:
		s.closeRemote(f.Close.Code, string(f.Close.Reason))
		return nil
	case wire.ControlMaxData:
		s.sendWin.SetLimit(f.MaxData.Max)
		s.wakeBlocked()
		return nil
	case wire.ControlFinal:
		if f.Final.SessionID != s.id {
			return &errProtocol{CodeProtocol, "FINAL names another session"}
		}
		return nil
	case wire.ControlPathChallenge:
		s.hot.pathResp = f.PathChallenge.Data
		s.hot.pend |= ctrlPath
		s.markDirty()
		return nil
	case wire.ControlPathResponse:
		switch d := f.PathResponse.Data; {
		case !s.pathValid && d == s.hot.pathChal:
			s.pathValidated(s.peer)
		case !s.pathValid && s.hot.oldChal != [8]byte{} && d == s.hot.oldChal:
			// The old path answered (probeOld is already clear once
			// the challenge went out; oldChal stays until validation
			// ends either way).
			s.pathValidated(s.validPeer)
		}
		return nil
	case wire.ControlResetToken:
		s.peerToken, s.peerTokenSet = f.ResetToken.Token, true
		return nil
	case wire.ControlNewTicket:
		if !s.initiator {
			return &errProtocol{CodeProtocol, "NEW_TICKET sent to the responder"}
		}
		if h := s.cfg.OnTicket; h != nil {
			h(s, f.NewTicket.Blob)
		}
		return nil
	}
	return &errProtocol{CodeProtocol, fmt.Sprintf("unexpected CONTROL subtype %#x", f.Sub)}
}

// streamFor returns the stream a peer frame names, opening peer streams
// implicitly (QUIC style: opening index k opens every lower index). It
// returns (nil, nil) for a stream that was already finished and removed:
// late frames for it are ignored.
func (s *Session) streamFor(id wire.StreamID) (*Stream, error) {
	if st := s.streams[id]; st != nil {
		return st, nil
	}
	if id == 0 {
		return nil, &errProtocol{CodeProtocol, "stream 0 is reserved"}
	}
	idx := streamIndex(id)
	if s.isLocal(id) {
		s.api.mu.Lock()
		opened := s.api.openedLocal
		st := s.api.opening[id]
		s.api.mu.Unlock()
		if st != nil {
			// Opened by the application, its opStreamOpen not yet run: the
			// peer learnt of it through a higher stream (implicit opening)
			// and already answers. Register it now, or this frame is lost.
			s.registerLocal(st)
			st.markAnnounced()
			return st, nil
		}
		if idx <= opened {
			return nil, nil // ours, finished and removed
		}
		return nil, &errProtocol{CodeProtocol, "peer used a stream ID of our parity we never opened"}
	}
	if idx <= s.peerStreamsSeen {
		return nil, nil // finished and removed
	}
	if idx > s.localMaxStreams {
		return nil, &errProtocol{CodeStreamLimit, "peer opened a stream beyond the advertised limit"}
	}
	odd := !s.initiator
	var st *Stream
	for i := s.peerStreamsSeen + 1; i <= idx; i++ {
		st = s.newStream(streamIDFromIndex(i, odd), s.peerStreamMax)
		st.announced = true // the peer opened it
		st.state.Store(int32(StreamOpen))
		s.addStream(st)
		s.event(&SessionEvent{Kind: EventStreamOpened, Stream: st})
		s.queueAccept(st)
	}
	s.peerStreamsSeen = idx
	return st, nil
}

func (s *Session) onData(now monotime.Time, d *wire.DataFrame) error {
	st, err := s.streamFor(d.StreamID)
	if err != nil || st == nil {
		return err
	}
	end := d.Offset + uint64(len(d.Data))
	if end > st.recvHighest {
		if err := s.recvWin.OnReceived(end - st.recvHighest); err != nil {
			return &errProtocol{CodeFlowControl, "session flow-control limit exceeded"}
		}
		st.recvHighest = end
	}
	st.finSeen = st.finSeen || d.Fin
	if _, err := st.recv.Push(d.Offset, d.Data, d.Fin); err != nil {
		switch {
		case errors.Is(err, streambuf.ErrFlowControl):
			return &errProtocol{CodeFlowControl, "stream flow-control limit exceeded"}
		case errors.Is(err, streambuf.ErrFinalSize):
			return &errProtocol{CodeFinalSize, "stream final size changed"}
		case errors.Is(err, streambuf.ErrTooManyGaps):
			// Not the peer's fault (a burst of losses): drop this frame's
			// bytes and leave the packet unacknowledged (onPacket).
			s.loop.noAck = true
		case errors.Is(err, streambuf.ErrClosed):
			// Read side cancelled: bytes counted for flow control only.
		default:
			return &errProtocol{CodeInternal, "BUG: " + err.Error()}
		}
	}
	s.checkStreamDone(st)
	return nil
}

func (s *Session) onAck(now monotime.Time, a *wire.AckFrame) error {
	n := 0
	ranges := &s.loop.ackRanges
	for i := 0; i < a.N && n < len(ranges); i++ {
		ranges[n] = recovery.AckRange{Smallest: a.Ranges[i].Smallest, Largest: a.Ranges[i].Largest}
		n++
	}
	delay := ackDelayDuration(a.Delay)
	_, err := s.hot.sent.OnAck(now, ranges[:n], delay, &s.rtt, s.hot.onAckedFn, s.hot.onLostFn)
	if err != nil {
		return &errProtocol{CodeProtocol, "ACK of a packet never sent: " + err.Error()}
	}
	h := s.hot
	if h.sent.PersistentCongestion() {
		h.cc.OnPersistentCongestion()
	}
	if sp := h.sent.SpuriousLosses(); sp != h.spurious {
		s.stats.pktsSpurious.Add(sp - h.spurious)
		h.spurious = sp
		for _, at := range h.sent.SpuriousInLastAck() {
			h.cc.OnSpuriousLoss(at)
		}
	}
	h.cc.OnAckEvent(now, h.sent.RateSample(), &s.rtt, h.sent.CongestionInFlight())
	if s.lastAcked == now { // something newly acknowledged (onAcked)
		h.ptoCount = 0 // RFC 9002 §6.2.1: the backoff resets on progress
		h.deadAt = 0
	}
	s.publishRecoveryStats()
	s.markDirty()
	return nil
}

// onAcked is called by recovery for each newly acknowledged packet.
func (s *Session) onAcked(p *recovery.SentPacket) {
	s.lastAcked = s.loop.now
	if p.Probe {
		s.pmtuAcked(p.PN)
	}
	for i := 0; i < int(p.NRanges); i++ {
		r := &p.Ranges[i]
		if st := s.streams[wire.StreamID(r.StreamID)]; st != nil {
			if r.Len > 0 || r.Fin {
				st.send.OnAcked(r.Offset, int(r.Len), r.Fin)
			}
			if r.Ctl&stCtlReset != 0 {
				st.resetAcked = true
			}
			if r.Ctl&stCtlSkip != 0 {
				st.bounded.skipAcked(r.Offset)
			}
			s.checkStreamDone(st)
		}
	}
	if p.Ctrl&ctrlNewTicket != 0 {
		s.ticket = nil // delivered: never sent again
	}
	if !s.keyUpdAcked && p.PN >= s.keyUpdPN {
		s.keyUpdAcked = true
		s.keyAckedAt = s.loop.now
	}
	if p.InFlight && !p.Probe { // a path MTU probe is outside the window
		s.hot.cc.OnAck(s.loop.now, p, &s.rtt, s.hot.sent.CongestionInFlight())
	}
}

// requeueData queues the stream bytes and stream control frames p carried
// for sending again. A control frame that no longer matters is not
// repeated: a RESET already acknowledged (by a later copy), or a
// STOP_SENDING or MAX_STREAM_DATA once the peer's final size is known.
func (s *Session) requeueData(p *recovery.SentPacket) {
	for i := 0; i < int(p.NRanges); i++ {
		r := &p.Ranges[i]
		st := s.streams[wire.StreamID(r.StreamID)]
		if st == nil {
			continue // finished and removed: nothing of it is needed any more
		}
		if r.Len > 0 || r.Fin {
			st.send.OnLost(r.Offset, int(r.Len), r.Fin)
			s.activate(st)
		}
		if r.Ctl == 0 {
			continue
		}
		st.pendReset = st.pendReset || r.Ctl&stCtlReset != 0 && !st.resetAcked
		if r.Ctl&stCtlSkip != 0 {
			st.bounded.skipLost(r.Offset) // goes again, unless acknowledged meanwhile
		}
		if !st.finSeen {
			st.pendStop = st.pendStop || r.Ctl&stCtlStop != 0
			st.pendWindow = st.pendWindow || r.Ctl&stCtlWindow != 0
		}
		s.queueStreamCtl(st)
	}
}

// onLost is called by recovery for each packet declared lost: its stream
// ranges and control frames are queued again (always in a new packet with a
// new packet number).
func (s *Session) onLost(p *recovery.SentPacket) {
	if !p.AckEliciting {
		return // an ACK-only packet: the next ACK supersedes it
	}
	if p.Probe {
		s.pmtuLost(p.PN, s.loop.now) // too big, not congestion
		return
	}
	s.stats.pktsLost.Add(1)
	s.requeueData(p)
	s.hot.pend |= p.Ctrl & (ctrlMaxData | ctrlMaxStreams | ctrlFinal | ctrlClose | ctrlResetToken | ctrlNewTicket)
	if p.InFlight {
		s.hot.cc.OnLoss(s.loop.now, p, s.hot.sent.CongestionInFlight())
	}
	s.markDirty()
}

func (s *Session) onStreamControl(f *wire.Frame) error {
	var id wire.StreamID
	switch f.Sub {
	case wire.StreamMaxStreams:
		s.onMaxStreams(f.MaxStreams.Max)
		return nil
	case wire.StreamBlocked, wire.StreamDataBlocked:
		// Informational: the peer is limited by our credit. Credit is granted
		// as the application reads, so nothing to do here.
		return nil
	case wire.StreamReset:
		id = f.ResetStream.StreamID
	case wire.StreamStopSending:
		id = f.StopSending.StreamID
	case wire.StreamMaxStreamData:
		id = f.MaxStreamData.StreamID
	case wire.StreamSkip:
		id = f.Skip.StreamID
	default:
		return &errProtocol{CodeProtocol, "unknown STREAM_CONTROL subtype"}
	}
	st, err := s.streamFor(id)
	if err != nil || st == nil {
		return err
	}
	switch f.Sub {
	case wire.StreamReset:
		return s.onReset(st, &f.ResetStream)
	case wire.StreamStopSending:
		st.peerStopCode.Store(f.StopSending.Code)
		st.peerStopped.Store(true)
		s.resetStream(st, f.StopSending.Code)
		s.checkStreamDone(st)
	case wire.StreamMaxStreamData:
		if m := f.MaxStreamData.Max; m > st.peerMaxData {
			st.peerMaxData = m
			s.creditChanged(st)
		}
	case wire.StreamSkip:
		return s.onSkip(st, &f.Skip)
	}
	return nil
}

// onReset handles the peer's RESET: its data ends at the final size,
// which counts against the session's credit like data.
func (s *Session) onReset(st *Stream, r *wire.ResetStreamFrame) error {
	st.recv.SetResetCode(r.Code)
	st.finSeen = true
	if err := st.recv.Reset(r.FinalSize); err != nil {
		return &errProtocol{CodeFinalSize, "RESET final size conflicts with data received"}
	}
	if r.FinalSize > st.recvHighest {
		if err := s.recvWin.OnReceived(r.FinalSize - st.recvHighest); err != nil {
			return &errProtocol{CodeFlowControl, "session flow-control limit exceeded by RESET"}
		}
		st.recvHighest = r.FinalSize
	}
	s.checkStreamDone(st)
	return nil
}

// onMaxStreams raises how many streams we may open and wakes OpenStream
// callers waiting for it (the API side's state, under its lock).
func (s *Session) onMaxStreams(max uint64) {
	s.api.mu.Lock()
	if max > s.api.peerMaxStrms {
		s.api.peerMaxStrms = max
		if s.api.limitCh != nil { // someone waits in OpenStream
			close(s.api.limitCh)
			s.api.limitCh = nil
		}
	}
	s.api.mu.Unlock()
}

// wakeBlocked re-activates streams that were waiting on session credit.
func (s *Session) wakeBlocked() {
	for _, st := range s.streams {
		s.creditChanged(st)
	}
}

// creditChanged tells st's send buffer about new credit and re-activates
// it if it now has something to send.
func (s *Session) creditChanged(st *Stream) {
	st.send.SetPeerLimit(st.peerMaxData)
	if st.send.HasData() {
		s.activate(st)
	}
}

// checkStreamDone releases a stream's slot once both directions are
// finished — ours: every byte and the FIN acknowledged, or our RESET
// acknowledged; the peer's: its final size known (FIN or RESET) and read up
// to, reset, or our reading cancelled — whichever of Close, CloseWrite,
// CancelRead and CancelWrite the application used. The stream leaves the
// map and, if the peer opened it, its credit returns to the peer at once
// (MAX_STREAMS).
func (s *Session) checkStreamDone(st *Stream) {
	if st.removed {
		return
	}
	// The flags checked first are loop-owned or written once, so a stream
	// in the middle of a transfer costs no lock of its buffers here (this
	// runs for every DATA frame received and every packet acknowledged).
	// CloseWrite stores writeClosed after closing the buffer and then wakes
	// the loop, which checks again.
	if !st.sendFinished && (st.resetAcked || !st.resetSent && st.writeClosed.Load() && st.send.Done() && st.skipDelivered()) {
		st.sendFinished = true
	}
	if !st.recvFinished && st.finSeen {
		fs, ok := st.recv.FinalSize()
		if ok && (st.recv.Consumed() == fs || st.readCancelled.Load()) {
			st.recvFinished = true
			// Moot once the peer's final size is known.
			st.pendStop, st.pendWindow = false, false
		}
	}
	if st.finSeen || st.sendFinished || st.writeClosed.Load() || st.resetSent {
		st.advanceState(StreamClosing)
	}
	if !st.sendFinished || !st.recvFinished {
		return
	}
	st.removed = true
	st.state.Store(int32(StreamClosed))
	delete(s.streams, st.id)
	s.stats.activeStreams.Add(-1)
	if !s.isLocal(st.id) {
		s.peerStreamsDone++
		s.localMaxStreams++
		s.hot.pend |= ctrlMaxStreams
		s.markDirty()
	}
}

// resetStream abandons our sending direction of st with code (CancelWrite,
// or the peer's STOP_SENDING): unsent and unacknowledged data is dropped
// and a RESET carrying the final size goes out until acknowledged. A
// direction already finished (FIN acknowledged) or reset is left alone.
func (s *Session) resetStream(st *Stream, code uint64) {
	if st.resetSent || st.sendFinished {
		return
	}
	st.resetSent = true
	st.resetCode = code
	st.resetFinal = st.send.Reset(code)
	st.pendReset = true
	s.queueStreamCtl(st)
}

func (s *Session) queueStreamCtl(st *Stream) {
	if st.inCtl || st.removed {
		return
	}
	st.inCtl = true
	s.hot.ctlStreams = append(s.hot.ctlStreams, st)
	s.markDirty()
}

// activate puts st on the round-robin list of streams with data to send.
func (s *Session) activate(st *Stream) {
	if !st.inActive && !st.removed {
		st.inActive = true
		s.hot.active = append(s.hot.active, st)
	}
	s.markDirty()
}

func (s *Session) markDirty() {
	if !s.dirty {
		s.dirty = true
		s.loop.dirty = append(s.loop.dirty, s)
	}
}

func ackDelayDuration(us uint64) time.Duration {
	const maxDelay = uint64(1 << 30) // clamp absurd peer values (~18 min)
	if us > maxDelay {
		us = maxDelay
	}
	return time.Duration(us) * time.Microsecond
}

// onPacketWhileClosing handles an authenticated packet after we sent CLOSE:
// the peer's own CLOSE ends the linger at once; anything else is answered
// with CLOSE again, rate-limited (after the 1st, 2nd, 4th, 8th... packet)
// so two closing ends can never ping-pong (RFC 9000 §10.2.1).
func (s *Session) onPacketWhileClosing(payload []byte) {
	f := &s.loop.frame
	for len(payload) > 0 {
		n, err := wire.ParseFrame(payload, f)
		if err != nil {
			break
		}
		if f.Type == wire.FrameControl && f.Sub == wire.ControlClose {
			s.finish(&SessionError{Code: s.closeCode, Reason: s.closeReason, Remote: s.closedByPeer})
			return
		}
		payload = payload[n:]
	}
	s.closingRecv++
	if s.closingRecv&(s.closingRecv-1) == 0 {
		s.hot.pend |= ctrlClose
		s.markDirty()
	}
}
