package dataplane

// Send path of one session, run on its loop's goroutine when the session is
// flushed (after each receive batch, command batch or timer tick):
//
//  1. key rotation check (thresholds, confidentiality limit)
//  2. budget: congestion window, pacing and, on an unvalidated migrated
//     path, 3x what was received there
//  3. packetize into a loop tx slot with header headroom: ACK first, then
//     control frames (FINAL, CLOSE, MAX_DATA, MAX_STREAMS, stream control,
//     path), then stream data round-robin over active streams
//     (retransmissions before new data, always under a new packet number)
//  4. seal in place with the header as associated data
//  5. record the packet for loss recovery; the loop batches slots and
//     flushes them with sendmmsg + UDP GSO

import (
	"net/netip"

	"github.com/stt-go/stt/dataplane/internal/recovery"
	"github.com/stt-go/stt/internal/monotime"
	"github.com/stt-go/stt/stc"
	"github.com/stt-go/stt/wire"
)

// pnSkipInterval is the mean distance between deliberately skipped packet
// numbers: an ACK covering one proves an optimistic (lying) peer.
const pnSkipInterval = 4096

// flush sends whatever s has to send, within its budgets.
func (s *Session) flush(now monotime.Time) {
	if s.State() == StateClosed {
		return
	}
	maxPayload := s.maxDatagram - wire.HeaderLen - stc.Overhead
	for sentN := 0; sentN < maxPacketsPerFlush; sentN++ {
		s.maybeRotateSend(now)
		work := s.hasWork()
		wantAck := s.hot.pendingAck || (work && s.ackOwed())
		if !wantAck && !work {
			break
		}
		if wantAck && !work && s.ackOnlyBacklog() >= ackElicitBacklog && s.hot.sent.BytesInFlight() == 0 {
			// Only ACKs are going out and the peer has acknowledged none of
			// them: bundle a PING so it does (RFC 9000 §13.2.4) and the
			// history of ACK-only packets is freed.
			s.hot.pend |= ctrlPing
			work = true
		}
		if work && !s.canSendEliciting(now) {
			if !wantAck {
				break
			}
			work = false // ACK-only packets ignore congestion control
		}
		if !work && s.ackOnlyBacklog() >= maxAckOnlyBacklog {
			// The peer ignores our PINGs too: stop adding ACK-only packets
			// to the history (a peer flooding PINGs and withholding ACKs
			// must not grow our memory). ACKs resume on the next
			// ack-eliciting packet or once the peer acknowledges.
			s.hot.rx.OnAckSent()
			s.hot.pendingAck = false
			break
		}
		room := maxPayload
		if !s.pathValid {
			// Amplification limit on an unvalidated path (RFC 9000 §8.1):
			// this packet, whole, must fit within 3x what the address sent
			// us, so its payload is cut to the budget left.
			budget := int(min(3*s.pathRecv-min(s.pathSent, 3*s.pathRecv), uint64(maxPayload)+wire.HeaderLen+stc.Overhead))
			if room = budget - wire.HeaderLen - stc.Overhead; room < minPathPayload {
				break
			}
		}
		if !s.buildPacket(now, room, wantAck, work) {
			break
		}
	}
	if s.hot.probeOld {
		s.probeOldPath(now, maxPayload)
	}
	s.maybeResearch(now)
	s.maybeProbe(now)
	s.lapseProbes()
	s.noteAppLimited()
	s.rearm(now)
}

// probeOldPath sends one packet with a PATH_CHALLENGE to the last validated
// address while a migration is validated (RFC 9000 §9.3.3): if the peer is
// still there, its PATH_RESPONSE moves the session back. The old path was
// validated, so no amplification budget applies.
func (s *Session) probeOldPath(now monotime.Time, maxPayload int) {
	pn, ok := s.packetNumber(now)
	if !ok {
		return
	}
	p := &s.loop.pkt
	p.start(s.loop, s.validPeer, maxPayload)
	f := &s.loop.frame
	f.Type, f.Sub = wire.FrameControl, wire.ControlPathChallenge
	f.PathChallenge = wire.PathChallengeFrame{Data: s.hot.oldChal}
	p.add(f)
	p.el = true
	s.hot.probeOld = false
	s.recordSent(now, p, pn, s.seal(p, pn))
}

// lapseProbes ends a PTO's probe allowance when the send pass had nothing
// more to send: a PTO allows two probes, and an unused second one would
// keep the session from hibernating and exempt a later packet from the
// congestion window.
func (s *Session) lapseProbes() {
	if s.hot.probes > 0 && !s.hasWork() {
		s.hot.probes = 0
	}
}

// noteAppLimited tells congestion control whether this send pass ran out
// of data while the window still had room: bandwidth samples taken while
// application-limited (or held back by the peer's flow control, which
// looks the same from here) must not lower the estimate.
func (s *Session) noteAppLimited() {
	h := s.hot
	limited := h.cc.CanSend(h.sent.CongestionInFlight()) && !s.hasWork()
	if limited {
		h.sent.MarkAppLimited()
	}
	h.cc.SetAppLimited(limited)
}

// Bounds on ACK-only packets the peer has not acknowledged. Every sent
// packet stays in the history until acknowledged or declared lost, so that
// an ACK of a packet never sent is detectable; a peer that sends only
// ack-eliciting packets and never acknowledges would otherwise make us
// keep one entry (~240 B) per ACK we send, up to recovery.MaxSentPackets.
const (
	// ackElicitBacklog: after this many packets without an acknowledgement,
	// an ACK-only packet carries a PING. A LAN round trip of ACKs (one per
	// two packets received, one per batch) is far below it.
	ackElicitBacklog = 256
	// maxAckOnlyBacklog: beyond this many, ACK-only packets are not sent at
	// all, which keeps the history within a 4096-entry ring (~1 MB).
	maxAckOnlyBacklog = 4000
)

// ackOnlyBacklog returns how many packet numbers the history spans when its
// oldest unacknowledged packet is ACK-only — the peer has acknowledged
// nothing since (an acknowledgement of anything newer would have declared
// it lost) — and 0 otherwise.
func (s *Session) ackOnlyBacklog() uint64 {
	p, ok := s.hot.sent.OldestUnacked()
	if !ok || p.AckEliciting {
		return 0
	}
	return s.nextPN - p.PN
}

// hasWork reports whether an ack-eliciting packet is wanted.
func (s *Session) hasWork() bool {
	if s.hot.pend != 0 || len(s.hot.ctlStreams) > 0 || len(s.hot.frames) > 0 {
		return true
	}
	for _, st := range s.hot.active {
		if st.send.HasData() {
			return true
		}
	}
	return false
}

// canSendEliciting checks congestion control and pacing.
func (s *Session) canSendEliciting(now monotime.Time) bool {
	if s.hot.pend&(ctrlClose) != 0 || s.hot.probes > 0 {
		return true
	}
	h := s.hot
	if !h.cc.CanSend(h.sent.CongestionInFlight()) {
		return false
	}
	rate := h.cc.PacingRate(&s.rtt)
	if h.pacer.BudgetRate(now, rate) >= s.maxDatagram {
		return true
	}
	// Paced: wake up when the next full packet may leave.
	h.paceAt = h.pacer.NextSendRate(now, rate, s.maxDatagram)
	return false
}

// packet is the packet being assembled: its bytes in a loop tx slot
// (header headroom first), the payload limit, and the record loss recovery
// keeps. One per loop, reused (no allocation).
type packet struct {
	b     []byte
	limit int                 // len(b) may grow to limit
	sp    recovery.SentPacket // what it carries, for acknowledgement and loss
	el    bool                // carries an ack-eliciting frame
}

// start points p at a fresh tx slot to addr with room for maxPayload.
func (p *packet) start(l *loop, addr netip.AddrPort, maxPayload int) {
	p.b = l.txSlot(addr, wire.HeaderLen+maxPayload+stc.Overhead)[:wire.HeaderLen]
	p.limit = wire.HeaderLen + maxPayload
	p.sp = recovery.SentPacket{}
	p.el = false
}

// add appends f if it fits, reporting whether it did.
func (p *packet) add(f *wire.Frame) bool {
	if len(p.b)+f.Len() > p.limit {
		return false
	}
	p.b = f.AppendTo(p.b)
	return true
}

// empty reports whether nothing but the header was written.
func (p *packet) empty() bool { return len(p.b) == wire.HeaderLen }

// buildPacket assembles, seals and queues one packet: an ACK when wanted,
// then (work) control frames and stream data. It reports false if nothing
// went into it.
func (s *Session) buildPacket(now monotime.Time, maxPayload int, wantAck, work bool) bool {
	pn, ok := s.packetNumber(now)
	if !ok {
		return false
	}
	p := &s.loop.pkt
	p.start(s.loop, s.peer, maxPayload)
	if wantAck || s.ackOwed() {
		s.appendAck(now, p)
	}
	if work {
		s.appendControl(p)
		s.appendStreamData(p)
	}
	if p.empty() {
		return false
	}
	if short := minResetPacket + 1 - (len(p.b) + stc.Overhead); p.el && short > 0 {
		// A peer that lost the session answers only packets longer than
		// minResetPacket with a stateless reset (loop.statelessReset): a
		// lone PING probe (34 bytes) would go unanswered until the probes
		// give up, as it did when the only packet in flight held no data.
		p.b = wire.PaddingFrame{N: short}.AppendTo(p.b)
	}
	size := s.seal(p, pn)
	s.lastSend = now
	if !s.pathValid {
		s.pathSent += uint64(size)
	}
	if s.closingUntil != 0 {
		return true // CLOSE is not retransmitted: nothing to record
	}
	return s.recordSent(now, p, pn, size)
}

// seal writes the header of packet pn, seals it in place under the current
// send key (the header is the associated data) and queues it in the loop's
// tx batch; it returns the datagram's size.
func (s *Session) seal(p *packet, pn uint64) int {
	s.nextPN = pn + 1
	h := wire.Header{Kind: wire.KindTransport, KeyPhase: s.sendPhase, SessionID: s.id, PacketNumber: pn}
	h.PutTo(p.b)
	pkt := s.hot.sendKey.Seal(p.b, wire.HeaderLen, pn)
	s.loop.txCommit(len(pkt))
	s.keyPackets++
	s.keyBytes += uint64(len(pkt))
	s.stats.pktsSent.Add(1)
	return len(pkt)
}

// packetNumber returns the number of the next packet: nextPN, or the one
// after it when nextPN is the number skipped on purpose (an ACK of a
// skipped number proves an optimistic peer). Numbers are never reused; a
// session that comes within pnExhaustMargin of the 48-bit limit closes
// (false) while it can still send its CLOSE (docs/PROTOCOL.md).
func (s *Session) packetNumber(now monotime.Time) (uint64, bool) {
	pn := s.nextPN
	if pn >= wire.MaxPacketNumber-pnExhaustMargin {
		if s.closingUntil == 0 {
			s.closeLocal(now, CodePacketNumbers, "packet numbers exhausted: open a new session")
			return 0, false
		}
		if pn >= wire.MaxPacketNumber {
			return 0, false // no CLOSE repeat beyond the limit
		}
	}
	if pn == s.skipPN {
		s.hot.sent.Skip(pn)
		pn++
		s.nextPN = pn // the skip is final even if this packet ends up empty
		s.skipPN = pn + 1 + uint64(randUint32()%(2*pnSkipInterval))
	}
	return pn, true
}

// appendAck writes an ACK of what we received, if anything awaits one.
func (s *Session) appendAck(now monotime.Time, p *packet) {
	ranges := &s.loop.ackRanges
	if n, delay := s.hot.rx.FillAck(now, ranges[:]); n > 0 {
		f := &s.loop.frame
		af := &f.Ack
		af.Delay = uint64(delay.Microseconds())
		for i := 0; i < n; i++ {
			af.Ranges[i] = wire.AckRange{Smallest: ranges[i].Smallest, Largest: ranges[i].Largest}
		}
		af.N = n
		f.Type, f.Sub = wire.FrameControl, wire.ControlAck
		if p.add(f) {
			s.hot.rx.OnAckSent()
		}
	}
	s.hot.pendingAck = false
}

// recordSent remembers a sent packet for loss recovery and tells
// congestion control and the pacer about it. Every packet is recorded,
// ACK-only ones too (not in flight), so that an ACK covering any packet
// number we did not send is detectable.
func (s *Session) recordSent(now monotime.Time, p *packet, pn uint64, size int) bool {
	h := s.hot
	sp := &p.sp
	sp.PN, sp.Time, sp.Size = pn, now, uint32(size)
	sp.AckEliciting, sp.InFlight = p.el, p.el
	if p.el {
		sp.PacedTime = h.pacer.Departure(now)
	}
	if !h.sent.Add(sp) {
		// The history is bounded; congestion control keeps far fewer
		// packets in flight, so this is our bug, not the peer's.
		s.closeLocal(now, CodeInternal, "BUG: sent-packet history full")
		return false
	}
	if p.el {
		if !sp.Probe { // a path MTU probe is outside the window and the pacer
			h.cc.OnPacketSent(now, size, h.sent.CongestionInFlight()-size)
			h.pacer.OnSent(size)
		}
		s.lastAckEl = now
		if h.probes > 0 {
			h.probes--
		}
	}
	return true
}

// appendControl appends pending control frames: CLOSE alone when closing;
// otherwise FINAL, credit (MAX_DATA, MAX_STREAMS), path validation, PING,
// application frames and stream control frames.
func (s *Session) appendControl(p *packet) {
	h := s.hot
	f := &s.loop.frame
	if h.pend&ctrlClose != 0 {
		f.Type, f.Sub = wire.FrameControl, wire.ControlClose
		f.Close = wire.CloseFrame{Code: s.closeCode, Reason: []byte(s.closeReason)}
		s.addCtrl(p, ctrlClose)
		return
	}
	if h.pend&ctrlFinal != 0 {
		f.Type, f.Sub = wire.FrameControl, wire.ControlFinal
		f.Final = wire.FinalFrame{Status: 0, SessionID: s.id}
		s.addCtrl(p, ctrlFinal)
	}
	if h.pend&ctrlMaxData != 0 {
		f.Type, f.Sub = wire.FrameControl, wire.ControlMaxData
		f.MaxData = wire.MaxDataFrame{Max: s.recvWin.Limit()}
		s.addCtrl(p, ctrlMaxData)
	}
	if h.pend&ctrlMaxStreams != 0 {
		f.Type, f.Sub = wire.FrameStreamControl, wire.StreamMaxStreams
		f.MaxStreams = wire.MaxStreamsFrame{Max: s.localMaxStreams}
		s.addCtrl(p, ctrlMaxStreams)
	}
	if h.pend&ctrlPath != 0 {
		s.appendPath(p)
	}
	if h.pend&ctrlResetToken != 0 {
		f.Type, f.Sub = wire.FrameControl, wire.ControlResetToken
		f.ResetToken = wire.ResetTokenFrame{Token: s.localToken}
		s.addCtrl(p, ctrlResetToken)
	}
	if h.pend&ctrlNewTicket != 0 && s.ticket != nil {
		f.Type, f.Sub = wire.FrameControl, wire.ControlNewTicket
		f.NewTicket = wire.NewTicketFrame{Blob: s.ticket}
		s.addCtrl(p, ctrlNewTicket)
	}
	if h.pend&ctrlPing != 0 {
		f.Type, f.Sub = wire.FrameControl, wire.ControlPing
		s.addCtrl(p, ctrlPing)
	}
	s.appendAppFrames(p)
	s.appendStreamCtls(p)
}

// addCtrl appends the control frame in the loop's scratch frame if it fits,
// recording its ctrl bit in the packet and clearing it from pend.
func (s *Session) addCtrl(p *packet, bit uint32) {
	if p.add(&s.loop.frame) {
		p.sp.Ctrl |= bit
		s.hot.pend &^= bit
		p.el = true
	}
}

// appendPath appends PATH_RESPONSE (to the peer's challenge) and, on an
// unvalidated path, our PATH_CHALLENGE; both are re-sent until done.
func (s *Session) appendPath(p *packet) {
	h := s.hot
	f := &s.loop.frame
	if h.pathResp != ([8]byte{}) {
		f.Type, f.Sub = wire.FrameControl, wire.ControlPathResponse
		f.PathResponse = wire.PathResponseFrame{Data: h.pathResp}
		if !p.add(f) {
			return
		}
		h.pathResp = [8]byte{}
		p.el = true
	}
	if !s.pathValid {
		f.Type, f.Sub = wire.FrameControl, wire.ControlPathChallenge
		f.PathChallenge = wire.PathChallengeFrame{Data: h.pathChal}
		if !p.add(f) {
			return
		}
		p.el = true
	}
	h.pend &^= ctrlPath
}

// appendAppFrames appends queued application frames: sent once, never
// retransmitted (datagrams).
func (s *Session) appendAppFrames(p *packet) {
	h := s.hot
	for len(h.frames) > 0 {
		cf := &h.frames[0]
		if len(p.b)+cf.Len() > p.limit {
			break
		}
		p.b = cf.AppendTo(p.b)
		p.el = true
		h.frames[0] = wire.CustomFrame{}
		h.frames = h.frames[1:]
		s.framesQueued.Add(-1)
	}
	if len(h.frames) == 0 {
		h.frames = nil
	}
}

// Stream control frames a packet carried, recorded per stream in
// recovery.StreamRange.Ctl so that a lost packet re-queues exactly the
// frames it held and an acknowledged one settles them.
const (
	stCtlReset  uint8 = 1 << iota // RESET
	stCtlStop                     // STOP_SENDING
	stCtlWindow                   // MAX_STREAM_DATA (or the announcement of a new stream)
	stCtlSkip                     // SKIP (StreamRange.Offset holds its offset)
)

// appendStreamCtls appends the pending stream control frames of the streams
// in ctlStreams, each frame on its own if the whole set does not fit, and
// records what went out in the packet. Streams with frames left stay queued.
func (s *Session) appendStreamCtls(p *packet) {
	h := s.hot
	kept := h.ctlStreams[:0]
	for _, st := range h.ctlStreams {
		if st.removed {
			st.inCtl = false
			continue
		}
		if p.sp.NRanges < recovery.MaxStreamRangesPerPacket {
			var sent uint8
			var skipFrom uint64
			p.b, sent, skipFrom = s.appendStreamCtl(p.b, p.limit, st)
			if sent != 0 {
				r := recovery.StreamRange{StreamID: uint64(st.id), Ctl: sent}
				if sent&stCtlSkip != 0 {
					r.Offset = skipFrom
				}
				p.sp.Ranges[p.sp.NRanges] = r
				p.sp.NRanges++
				p.el = true
				st.markAnnounced()
			}
		}
		if st.pendReset || st.pendStop || st.pendWindow || st.bounded != nil && st.bounded.nextSkip() != nil {
			kept = append(kept, st)
		} else {
			st.inCtl = false
		}
	}
	clear(h.ctlStreams[len(kept):])
	h.ctlStreams = kept
}

// appendStreamCtl appends those of st's pending RESET, STOP_SENDING,
// MAX_STREAM_DATA and SKIP frames that fit before limit (one SKIP per
// packet), clears their pending flags and reports which went out (stCtl*
// bits) and the SKIP's range start.
func (s *Session) appendStreamCtl(b []byte, limit int, st *Stream) ([]byte, uint8, uint64) {
	f := &s.loop.frame
	var sent uint8
	if st.pendReset {
		f.Type, f.Sub = wire.FrameStreamControl, wire.StreamReset
		f.ResetStream = wire.ResetStreamFrame{StreamID: st.id, Code: st.resetCode, FinalSize: st.resetFinal}
		if len(b)+f.Len() <= limit {
			b = f.AppendTo(b)
			st.pendReset = false
			sent |= stCtlReset
		}
	}
	if st.pendStop {
		f.Type, f.Sub = wire.FrameStreamControl, wire.StreamStopSending
		f.StopSending = wire.StopSendingFrame{StreamID: st.id, Code: st.stopCode}
		if len(b)+f.Len() <= limit {
			b = f.AppendTo(b)
			st.pendStop = false
			sent |= stCtlStop
		}
	}
	if st.pendWindow {
		f.Type, f.Sub = wire.FrameStreamControl, wire.StreamMaxStreamData
		f.MaxStreamData = wire.MaxStreamDataFrame{StreamID: st.id, Max: st.advertised}
		if len(b)+f.Len() <= limit {
			b = f.AppendTo(b)
			st.pendWindow = false
			sent |= stCtlWindow
		}
	}
	var skipFrom uint64
	if k := st.bounded.nextSkipOf(); k != nil {
		f.Type, f.Sub = wire.FrameStreamControl, wire.StreamSkip
		f.Skip = wire.SkipFrame{StreamID: st.id, Offset: k.from, Length: k.to - k.from, NextMessage: k.next}
		if len(b)+f.Len() <= limit {
			b = f.AppendTo(b)
			k.sent = true
			sent |= stCtlSkip
			skipFrom = k.from
		}
	}
	return b, sent, skipFrom
}

// appendStreamData fills the rest of the packet with stream data,
// round-robin across active streams (retransmissions first within each).
func (s *Session) appendStreamData(p *packet) {
	h := s.hot
	for len(h.active) > 0 && p.sp.NRanges < recovery.MaxStreamRangesPerPacket {
		room := p.limit - len(p.b)
		if room < 16 {
			break
		}
		st := h.active[0]
		if room-wire.DataFrameOverhead(st.id, wire.MaxStreamOffset-1, room) <= 0 {
			break // no data byte fits behind the longest header
		}
		// The send buffer picks the frame's offset, then copies the data
		// behind the header that offset needs (layoutData); only a frame
		// whose data is shorter than the room, with a shorter length field
		// than the room's, moves its (then small) data down behind the real
		// header. Stream credit and session credit limit new bytes (the
		// send buffer consumes session credit); retransmissions are free.
		b := p.b
		start := len(b)
		s.loop.layoutID, s.loop.layoutRoom = st.id, room
		n, off, fin, _ := st.send.NextFrameLayout(b[start:p.limit], s.loop.layoutFn, st.peerMaxData, &s.sendWin)
		if n == 0 && !fin {
			s.deactivateFront()
			continue
		}
		fit := 0
		if n > 0 { // the layout ran: the data sits at start+layoutSkip
			fit = s.loop.layoutFit
			if hdr, at := wire.DataFrameOverhead(st.id, off, n), s.loop.layoutSkip; hdr != at {
				copy(b[start+hdr:start+hdr+n], b[start+at:start+at+n])
			}
		}
		b = wire.AppendDataHeader(b, st.id, off, n, fin, false)
		p.b = b[:len(b)+n]
		p.sp.Ranges[p.sp.NRanges] = recovery.StreamRange{StreamID: uint64(st.id), Offset: off, Len: uint32(n), Fin: fin}
		p.sp.NRanges++
		p.el = true
		st.markAnnounced()
		if !st.send.HasData() {
			s.deactivateFront()
			continue
		}
		// Flow-limited or the packet is full: rotate for fairness.
		s.rotateActive()
		if n > 0 && n == fit {
			break
		}
	}
}

// layoutData is the loop's streambuf.Layout for appendStreamData: a DATA
// frame of stream layoutID at off, in layoutRoom bytes, takes the header
// its offset and the most data that fits need, and that much data; both
// are kept in layoutSkip and layoutFit for appendStreamData.
func (l *loop) layoutData(off uint64) (skip, max int) {
	l.layoutFit = wire.MaxDataFit(l.layoutID, off, l.layoutRoom)
	l.layoutSkip = wire.DataFrameOverhead(l.layoutID, off, l.layoutFit)
	return l.layoutSkip, l.layoutFit
}

func (s *Session) deactivateFront() {
	st := s.hot.active[0]
	st.inActive = false
	copy(s.hot.active, s.hot.active[1:])
	s.hot.active[len(s.hot.active)-1] = nil
	s.hot.active = s.hot.active[:len(s.hot.active)-1]
}

func (s *Session) rotateActive() {
	if len(s.hot.active) > 1 {
		st := s.hot.active[0]
		copy(s.hot.active, s.hot.active[1:])
		s.hot.active[len(s.hot.active)-1] = st
	}
}

// ackOwed reports whether received packets await acknowledgement.
func (s *Session) ackOwed() bool {
	_, ok := s.hot.rx.AckDeadline()
	return ok || s.hot.rx.ShouldAckNow()
}
