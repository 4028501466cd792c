package control

import (
	"crypto/ecdh"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"math"
	"net/netip"
	"time"

	"github.com/stt-go/stt/stc"
	"github.com/stt-go/stt/wire"
)

// Resumed handshake (docs/HANDSHAKE.md "Resumption"), one round trip:
//
//	RESUME          -> psk, e, ticket, [PSK tag], res, payload
//	RESUME_RESPONSE <- e, payload
//	                   ee; Split
//
// The transcript starts like a HELLO's (same protocol name, PSK token and
// prologue layout; the message type in the prologue tells them apart),
// mixes the ticket into h and the resumption secret the ticket carries
// with MixKeyAndHash, and ends with ee: one DH per side, both ephemerals
// fresh. RESUME_RESPONSE is sealed before ee, so the responder sends it
// before its DH and both sides compute ee at the same time.

// handleResume is the responder's RESUME path, cheapest checks first:
// size, flags → cookie (under load) → PSK tag → ticket (open, then
// policy) → payload under the resumption secret → freshness → replay
// memory → RESUME_RESPONSE → ee, install. Up to the PSK tag it allocates
// nothing, so a forged RESUME costs what a forged HELLO does.
func (p *Plane) handleResume(w *workerScratch, b []byte, from netip.AddrPort, now time.Time) {
	p.resumeWith(w, b, from, now, nil)
}

// resumeWith is handleResume with the responder's randomness optionally
// fixed (vectors); it returns the installed session, or nil.
func (p *Plane) resumeWith(w *workerScratch, b []byte, from netip.AddrPort, now time.Time, fixed *respInputs) *Established {
	r, err := wire.ParseResume(b)
	if err != nil {
		p.st.malformed.Add(1)
		return nil
	}
	if p.underLoad() && !p.cookie.valid(r.Cookie(), from) {
		p.st.cookieRejects.Add(1)
		p.sendCookieReply(w, r.ID(), r.Ephemeral(), from)
		return nil
	}
	sym := &w.sym
	p.psk.start(sym, r.Header())
	sym.mixHash(r.Ephemeral()) // e
	sym.mixKey(r.Ephemeral())  // psk modifier
	sym.mixHashLong(r.Ticket())
	if _, err := sym.decryptAndHash(w.pt[:], r.PSKTag()); err != nil {
		p.st.seedMismatch.Add(1)
		p.logSeedMismatch(from, now)
		p.refuseHello(w, r.ID(), from, now)
		return nil
	}
	// The sender holds the shared seed. A ticket we cannot or will not
	// use gets REJECT(ticket), so the initiator falls back at once.
	var t ticketContents
	defer t.wipe()
	if !p.cfg.Resumption || openTicket(p.tickets.Load(), r.Ticket(), &t) != nil || !p.checkTicket(&t, now) {
		p.refuseTicket(w, r.ID(), from, now)
		return nil
	}
	sym.mixKeyAndHash(t.res[:]) // res
	pt, err := sym.decryptAndHash(w.pt[:], r.Sealed())
	if err != nil {
		// A shared-seed holder with a ticket but not its secret (a copied
		// ticket): nothing to say to it.
		p.st.malformed.Add(1)
		return nil
	}
	var nonceI [32]byte
	copy(nonceI[:], pt[0:32])
	age := time.Duration(binary.BigEndian.Uint32(pt[32:36])) * time.Millisecond
	peerParams := parseParams(pt[36:])
	if skew := now.Sub(t.issued.Add(age)); skew > resumeWindow || skew < -resumeWindow {
		p.st.stale.Add(1)
		p.refuseTicket(w, r.ID(), from, now)
		return nil
	}
	ei, err := ecdh.X25519().NewPublicKey(r.Ephemeral())
	if err != nil {
		p.st.malformed.Add(1)
		return nil
	}
	ePub := [32]byte(r.Ephemeral())
	p.mu.Lock()
	seen, full := p.mu.resumes.insert(&ePub, now)
	ok := !seen && !full
	if ok {
		p.ledgerRecvLocked(from.Addr(), len(b), true, now)
		ok = p.ledgerSendLocked(from.Addr(), wire.ResumeResponseLen)
	}
	p.mu.Unlock()
	switch {
	case seen:
		p.st.replays.Add(1)
		return nil
	case full:
		p.refuseTicket(w, r.ID(), from, now)
		return nil
	case !ok:
		return nil // the 3x ledger (a RESUME_RESPONSE is smaller than a RESUME: not reached)
	}

	// ← RESUME_RESPONSE: e, payload.
	var er ephemeral
	var nr [32]byte
	if fixed != nil {
		er, nr = fixed.e, fixed.nonce
	} else {
		er = p.pool.ephemeral()
		_, _ = rand.Read(nr[:])
	}
	nonceR, sid := p.pickNonce(nr, &nonceI, t.idI)
	out := w.out[:wire.ResumeResponseSealedOffset]
	wire.PutHandshakePrefix(out, r.ID(), wire.HandshakeResumeResponse)
	copy(out[wire.ResumeResponseEphemeralOffset:], er.pub[:])
	sym.mixHash(er.pub[:]) // e
	sym.mixKey(er.pub[:])  // psk modifier
	var pl [wire.ResumeResponsePayloadLen]byte
	copy(pl[:32], nonceR[:])
	putParams(pl[32:], &p.cfg.Params)
	out = sym.encryptAndHash(out, pl[:])
	if len(out) != wire.ResumeResponseLen {
		panic("control: BUG: RESUME_RESPONSE length")
	}
	p.send(out, from)

	ee, err := er.priv.ECDH(ei) // ee
	if err != nil {
		p.st.malformed.Add(1) // a low-order e: the initiator cannot finish either
		return nil
	}
	sym.mixKey(ee)
	i2r, r2i := sym.split()
	res := resumptionSecret(&sym.ck)
	est := &Established{
		SessionID: sid, Suite: t.suite, sendSecret: stc.SecretFrom(&r2i), recvSecret: stc.SecretFrom(&i2r),
		Initiator: false, Peer: from, PeerID: t.idI, PeerStatic: t.staticI,
		LocalParams: p.cfg.Params, PeerParams: peerParams, Confirmed: make(chan struct{}), Resumed: true,
		Ticket: p.issueTicket(now, t.chain, t.suite, t.idI, t.staticI, &res),
	}
	clear(i2r[:])
	clear(r2i[:])
	clear(res[:])
	if _, err := p.dp.Install(est); err != nil {
		// The RESUME_RESPONSE is out: the initiator installs this session
		// ID and finds no peer (it ends by dead-peer detection). The
		// responder drew the session ID at random (64 bits), so only
		// chance collides, never the peer (docs/HANDSHAKE.md).
		if errors.Is(err, ErrSessionExists) {
			p.st.collisions.Add(1)
		} else {
			p.log.Warn("control: install resumed session", "peer", from, "err", err)
		}
		return nil
	}
	p.st.accepted.Add(1)
	p.st.resumeAccepted.Add(1)
	return est
}

// refuseTicket answers a RESUME whose ticket we will not use with a
// REJECT(ticket), within its rate limit.
func (p *Plane) refuseTicket(w *workerScratch, id wire.SessionID, from netip.AddrPort, now time.Time) {
	p.st.resumeRefused.Add(1)
	if p.ticketRejects.take(now) {
		p.sendReject(w, id, wire.RejectTicket, nil, from)
	}
}

// startResume builds a fresh RESUME (new handshake ID, ephemeral, nonce)
// with the dial's ticket, registers it and sends it.
func (p *Plane) startResume(d *dial) {
	cookie, now := p.newAttempt(d)
	d.ticket = d.useTicket
	p.buildResume(d, cookie, now)
	d.sent = time.Now()
	p.send(d.hello[:d.nHello], d.to)
}

// buildResume writes d's RESUME from d.id, d.e, d.nonce and d.ticket (all
// set by the caller) and leaves the transcript in d.sym. Deterministic
// given its inputs and now.
func (p *Plane) buildResume(d *dial, cookie []byte, now time.Time) {
	t := d.ticket
	b := d.hello[:wire.ResumeEphemeralOffset]
	wire.PutHandshakePrefix(b, d.id, wire.HandshakeResume)
	clear(b[wire.ResumeFlagsOffset:wire.ResumeHeaderLen])
	copy(b[wire.ResumeCookieOffset:wire.ResumeHeaderLen], cookie)
	p.psk.start(&d.sym, b[:wire.ResumeHeaderLen])
	b = append(b, d.e.pub[:]...)
	d.sym.mixHash(d.e.pub[:]) // e
	d.sym.mixKey(d.e.pub[:])  // psk modifier
	b = append(b, t.ticket[:]...)
	d.sym.mixHashLong(t.ticket[:])
	b = d.sym.encryptAndHash(b, nil) // PSK tag
	d.sym.mixKeyAndHash(t.res[:])    // res
	var pl [wire.ResumePayloadLen]byte
	copy(pl[:32], d.nonce[:])
	age := now.Sub(t.received).Milliseconds()
	binary.BigEndian.PutUint32(pl[32:36], uint32(min(max(age, 0), math.MaxUint32)))
	putParams(pl[36:], &p.cfg.Params)
	b = d.sym.encryptAndHash(b, pl[:])
	if len(b) != wire.ResumeLen {
		panic("control: BUG: RESUME length")
	}
	d.nHello = len(b)
}

// finishResume processes a RESUME_RESPONSE to d's current attempt (a
// RESUME) and returns the session to install and its resumption secret.
// Errors: errOpen (not an authentic answer: ignore).
func (p *Plane) finishResume(d *dial, b []byte) (*Established, [32]byte, error) {
	var fin finalState
	defer fin.wipe()
	est, err := p.completeResume(d, b, &fin)
	return est, fin.res, err
}

// completeResume is finishResume writing the final transcript state
// (ck_final, h, the resumption secret) into fin.
func (p *Plane) completeResume(d *dial, b []byte, fin *finalState) (*Established, error) {
	var res [32]byte
	r, err := wire.ParseResumeResponse(b)
	t := d.ticket
	if err != nil || r.ID() != d.id || t == nil {
		return nil, errOpen
	}
	sym := d.sym
	sym.mixHash(r.Ephemeral()) // e
	sym.mixKey(r.Ephemeral())
	var pbuf [wire.ResumeResponsePayloadLen]byte
	pt, err := sym.decryptAndHash(pbuf[:], r.Sealed())
	if err != nil {
		return nil, errOpen
	}
	er, err := ecdh.X25519().NewPublicKey(r.Ephemeral())
	if err != nil {
		return nil, errOpen
	}
	ee, err := d.e.priv.ECDH(er) // ee
	if err != nil {
		return nil, errOpen
	}
	sym.mixKey(ee)
	nonceR := [32]byte(pt[:32])
	peerParams := parseParams(pt[32:])
	sid := sessionID(&d.nonce, &nonceR, p.cfg.Identity.ID(), t.peerID)
	i2r, r2i := sym.split()
	res = resumptionSecret(&sym.ck)
	*fin = finalState{ck: sym.ck, h: sym.h, res: res}
	clear(res[:])
	est := &Established{
		SessionID: sid, Suite: t.suite, sendSecret: stc.SecretFrom(&i2r), recvSecret: stc.SecretFrom(&r2i),
		Initiator: true, Peer: d.to, PeerID: t.peerID, PeerStatic: t.peerStatic,
		LocalParams: p.cfg.Params, PeerParams: peerParams, Resumed: true,
	}
	clear(i2r[:])
	clear(r2i[:])
	return est, nil
}
