package control

import (
	"context"
	"crypto/ecdh"
	"crypto/rand"
	"errors"
	"fmt"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/stt-go/stt/stc"
	"github.com/stt-go/stt/wire"
)

// dial is one initiator handshake in flight. It is owned by its Dial
// goroutine; workers only deliver packets to in, DestinationUnreachable
// only sets unreach and wakes it through in.
type dial struct {
	to        netip.AddrPort
	in        chan *packet
	unreach   atomic.Pointer[error] // the network's latest error for to, if any
	hybrid    bool
	suites    [wire.MaxOfferedSuites]byte
	useTicket *ticketEntry // the ticket new attempts resume with; nil: full HELLOs
	helloKeys              // the current attempt (HELLO or RESUME)
	prev      helloKeys    // the attempt before it: a late answer to it still counts
	hasPrev   bool
	hello     [wire.MaxHandshakeLen]byte
	nHello    int
}

// helloKeys is what an initiator keeps per HELLO or RESUME sent.
type helloKeys struct {
	id     wire.SessionID // handshake ID (registered in p.dials)
	sym    symmetric      // transcript after the message
	e      ephemeral
	kem    kemPair      // HELLO, hybrid
	nonce  [32]byte     // nonce_i
	ticket *ticketEntry // RESUME: the ticket it carries; nil for a HELLO
	sent   time.Time    // RESUME: when it left (the resumed session's first RTT sample)
}

// answers is what came back during one Dial, for the error at its end.
type answers struct {
	rejects, cookies, badResponses, responses, restarts int
	refused                                             int   // RESPONSEs that opened but failed our checks
	refusal                                             error // the latest of them, naming the check
}

// authenticated reports whether something only a holder of our shared
// seed could send has arrived (a COOKIE_REPLY or a RESPONSE that opened).
func (a *answers) authenticated() bool { return a.cookies > 0 || a.responses > 0 }

// Dial runs the initiator side of a handshake with the node at to and
// returns the session once the data plane has confirmed it (FINAL opened).
// It retransmits with exponential backoff: a fresh HELLO while no RESPONSE
// arrived; after one, the same AUTH_PROOF once more, then, if the session
// is still unconfirmed (the responder lost its half-open state, or the
// messages were lost), a fresh HELLO again while the first session may
// still confirm. It is bounded by ctx and Config.HandshakeTimeout.
//
// A RESPONSE that opens but fails our checks (node ID not the hash of its
// static key, not in AllowPeers, a suite we did not offer) comes from a
// holder of the shared seed, but not necessarily from the peer we dialled:
// an insider who saw the HELLO can race one. Like a REJECT it is kept as
// the reason to report and the dial goes on waiting for an acceptable
// RESPONSE; only a RESPONSE from a node with our own identity ends it at
// once.
//
// Errors: a *DialError at the deadline, matching ErrHandshakeTimeout (also
// context.DeadlineExceeded when ctx's deadline fired) or, when a REJECT or
// a refused RESPONSE came back and no acceptable RESPONSE did,
// ErrAuthentication; a *DialError matching ErrUnreachable when
// DestinationUnreachable reported to before anything authenticated came
// back; ErrAuthentication wrapped with the reason; ErrClosed; ctx.Err() on
// cancellation; or a wrapped DataPlane.Install error. On failure no state,
// goroutine or installed session remains.
func (p *Plane) Dial(ctx context.Context, to netip.AddrPort) (*Established, error) {
	return p.DialWith(ctx, to, nil)
}

// DialOptions adjusts one dial. Nil, or the zero value, is the default.
type DialOptions struct {
	// Full makes the dial run a full handshake even when the plane holds a
	// ticket for the address.
	Full bool
}

// DialWith is Dial with options. With Config.Resumption set and a valid
// ticket held for to (Plane.StoreTicket), it first tries a resumed
// handshake (docs/HANDSHAKE.md "Resumption"): one round trip, returning a
// session with Resumed set whose peer is the ticket's. It falls back to a
// full handshake, within the same call and deadline, when the responder
// refuses the ticket (REJECT(ticket): the ticket is forgotten) or the
// RESUME goes unanswered for the first retransmission timeout (the ticket
// is kept). Errors are Dial's.
func (p *Plane) DialWith(ctx context.Context, to netip.AddrPort, opts *DialOptions) (*Established, error) {
	select {
	case <-p.done:
		return nil, ErrClosed
	default:
	}
	d := &dial{to: to, in: make(chan *packet, dialInbox), hybrid: p.cfg.Hybrid}
	for i, s := range p.cfg.Suites {
		d.suites[i] = byte(s)
	}
	if p.cfg.Resumption && (opts == nil || !opts.Full) {
		d.useTicket = p.ticketFor(to, p.cfg.Now())
	}
	defer p.unregister(d)
	start := time.Now()
	// One timer serves both the retransmissions and the deadline: it fires
	// at the earlier of the two (arm), and the handler tells them apart.
	deadline := start.Add(p.cfg.HandshakeTimeout)
	rto := initialRTO
	timer := time.NewTimer(earlier(start.Add(rto), deadline).Sub(start))
	defer timer.Stop()
	arm := func(now time.Time) { timer.Reset(earlier(now.Add(rto), deadline).Sub(now)) }
	p.start(d) // RESUME → or HELLO →

	var (
		est        *Established // installed, AUTH_PROOF sent, waiting for Confirmed
		stale      *Established // an earlier est that went unconfirmed; it may still confirm
		proofSends int          // AUTH_PROOFs sent for est
		got        answers
		proof      [wire.AuthProofLen]byte
		rejectKey  [32]byte
	)
	dialError := func(cause DialCause, err error) *DialError {
		return &DialError{Peer: to, Cause: cause, Elapsed: time.Since(start), Rejects: got.rejects,
			CookieReplies: got.cookies, BadResponses: got.badResponses, Responses: got.responses,
			Refused: got.refused, Restarts: got.restarts, Err: err}
	}
	timeout := func(err error) *DialError {
		cause := CauseNoAnswer
		switch {
		case got.responses > 0: // authenticated and accepted: any REJECT is contradicted
			cause = CauseUnconfirmed
		case got.refused > 0:
			cause = CauseRefused
			err = errors.Join(got.refusal, err)
		case got.rejects > 0:
			cause = CauseRejected
		case got.badResponses > 0:
			cause = CauseBadResponses
		case got.cookies > 0:
			cause = CauseCookiesOnly
		}
		return dialError(cause, err)
	}
	fail := func(err error) (*Established, error) {
		for _, s := range [...]*Established{est, stale} {
			if s != nil {
				p.dp.Remove(s.SessionID)
			}
		}
		switch {
		case errors.Is(err, ErrHandshakeTimeout):
			p.st.failedTimeout.Add(1)
		case errors.Is(err, ErrAuthentication):
			p.st.failedAuth.Add(1)
		case errors.Is(err, ErrUnreachable):
			p.st.failedUnreachable.Add(1)
		}
		return nil, err
	}
	done := func(s, other *Established) (*Established, error) {
		if other != nil {
			p.dp.Remove(other.SessionID)
		}
		p.st.handshakesOK.Add(1)
		return s, nil
	}
	for {
		// The network refused datagrams to `to`: fail, unless the peer has
		// already answered authentically (the report is then stale or
		// spoofed, and ignored).
		if err := d.unreach.Load(); err != nil && !got.authenticated() {
			return fail(dialError(CauseUnreachable, *err))
		}
		var confirmed, staleConfirmed chan struct{}
		if est != nil {
			confirmed = est.Confirmed
		}
		if stale != nil {
			staleConfirmed = stale.Confirmed
		}
		select {
		case <-confirmed: // ← FINAL
			return done(est, stale)
		case <-staleConfirmed: // ← FINAL for the session we had given up on
			return done(stale, est)
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return fail(timeout(ctx.Err()))
			}
			return fail(ctx.Err())
		case <-p.done:
			return fail(ErrClosed)
		case <-timer.C:
			now := time.Now()
			if !now.Before(deadline) {
				return fail(timeout(nil))
			}
			p.st.retransmits.Add(1)
			rto = min(2*rto, maxRTO)
			arm(now)
			switch {
			case est != nil && proofSends < authProofSends:
				proofSends++
				p.send(proof[:], to) // AUTH_PROOF → again
			case est == nil && d.ticket != nil:
				// No answer to the RESUME: fall back to a full handshake,
				// keeping the ticket for later dials (the RESUME or its
				// answer may just have been lost).
				d.useTicket = nil
				p.st.resumeFallbacks.Add(1)
				p.startHello(d)
			case est != nil:
				// No FINAL: the responder's half-open state is gone
				// (evicted or expired) or the messages were lost. It
				// answers nothing to an AUTH_PROOF it has no state for,
				// so start over, keeping this session in case its FINAL
				// is only late. Backoff continues (rto is not reset).
				if stale != nil {
					p.dp.Remove(stale.SessionID)
				}
				stale, est = est, nil
				got.restarts++
				p.st.restarts.Add(1)
				p.startHello(d)
			default:
				p.startHello(d)
			}
		case pk := <-d.in:
			if pk == unreachWake {
				continue // d.unreach is checked at the top of the loop
			}
			b := pk.bytes()
			_, t, _ := wire.ParseHandshakeType(b)
			switch {
			case t == wire.HandshakeResumeResponse && est == nil: // ← RESUME_RESPONSE
				d.answering(b)
				rest, res, err := p.finishResume(d, b)
				p.release(pk)
				if err != nil {
					got.badResponses++
					p.st.malformed.Add(1)
					continue // forged, corrupted, or not for a RESUME: keep waiting
				}
				got.responses++
				rest.RTT = time.Since(d.sent)
				p.addPending(rest, &res, p.cfg.Now()) // before Install: its NEW_TICKET may come at once
				clear(res[:])
				inst, err := p.dp.Install(rest)
				if err != nil {
					p.removePending(rest.SessionID)
				}
				if errors.Is(err, ErrSessionExists) {
					p.st.collisions.Add(1)
					p.start(d) // fresh RESUME: a new session ID
					continue
				}
				if err != nil {
					return fail(fmt.Errorf("control: install session %#x: %w", uint64(rest.SessionID), err))
				}
				rest.Installed = inst
				p.st.resumed.Add(1)
				return done(rest, stale)
			case t == wire.HandshakeResponse && est == nil: // ← RESPONSE
				d.answering(b)
				var err error
				est, err = p.finish(d, b, &proof, &rejectKey)
				p.release(pk)
				if err != nil {
					if errors.Is(err, ErrSessionExists) {
						got.responses++
						p.st.collisions.Add(1)
						p.startHello(d)
						continue
					}
					if errors.Is(err, errOpen) {
						got.badResponses++
						p.st.malformed.Add(1)
						continue // forged or corrupted: keep waiting
					}
					if errors.Is(err, ErrAuthentication) && !errors.Is(err, errOwnIdentity) {
						got.refused++
						got.refusal = err
						continue // from a seed holder, maybe not our peer: keep waiting
					}
					return fail(err)
				}
				got.responses++
				proofSends = 1
				p.send(proof[:], to) // AUTH_PROOF →
				rto = initialRTO
				arm(time.Now())
			case t == wire.HandshakeCookieReply && est == nil: // ← COOKIE_REPLY
				ok := p.takeCookie(d, b)
				p.release(pk)
				if ok {
					got.cookies++
					p.start(d) // HELLO or RESUME (with cookie) →
				}
			case t == wire.HandshakeReject: // ← REJECT
				r, err := wire.ParseReject(b)
				if err != nil {
					p.release(pk)
					continue
				}
				if r.Reason() == wire.RejectCollision && est != nil &&
					rejectTagValid(&rejectKey, b[:wire.RejectTagOffset], r.Tag()) {
					// Authenticated by the handshake: act on it at once.
					p.release(pk)
					p.st.collisions.Add(1)
					p.dp.Remove(est.SessionID)
					est = nil
					p.startHello(d)
					rto = initialRTO
					arm(time.Now())
					continue
				}
				if r.Reason() == wire.RejectTicket && est == nil && d.useTicket != nil {
					// Unauthenticated, but it can only make us slower: drop
					// the ticket and fall back to a full handshake at once.
					if id, _, _ := wire.ParseHandshakeType(b); id == d.id && d.ticket != nil {
						p.release(pk)
						p.dropTicket(to, &d.ticket.ticket)
						d.useTicket = nil
						p.st.resumeFallbacks.Add(1)
						p.startHello(d)
						rto = initialRTO
						arm(time.Now())
						continue
					}
				}
				if r.Reason() == wire.RejectAuthentication {
					// Unauthenticated (no key is shared when seeds
					// differ): a hint, reported only at the timeout.
					got.rejects++
					p.st.rejectHints.Add(1)
				}
				p.release(pk)
			default:
				p.release(pk)
			}
		}
	}
}

// DestinationUnreachable reports that the network refused datagrams to
// addr: an ICMP port or host unreachable, or a socket error such as
// ECONNREFUSED on a send to it. Dials in progress to addr (compared with
// IPv4-mapped addresses unmapped) that have had no authenticated answer
// yet fail at once with a *DialError matching ErrUnreachable and err;
// a dial whose peer has already proved it holds our shared seed ignores
// the report (it is unauthenticated, like a REJECT, and the peer answered).
// It never blocks; safe for concurrent use. The data plane calls it; it
// is a no-op when no dial to addr is in progress.
func (p *Plane) DestinationUnreachable(addr netip.AddrPort, err error) {
	addr = netip.AddrPortFrom(addr.Addr().Unmap(), addr.Port())
	e := &err // err may be nil: the DialError then has no Err
	p.dials.RLock()
	defer p.dials.RUnlock()
	for _, d := range p.dials.m { // each dial is listed once per HELLO it keeps
		if netip.AddrPortFrom(d.to.Addr().Unmap(), d.to.Port()) != addr {
			continue
		}
		d.unreach.Store(e)
		select {
		case d.in <- unreachWake:
		default: // the inbox is full: the dial wakes for those packets and sees unreach
		}
	}
}

// unreachWake is sent on a dial's inbox by DestinationUnreachable to wake
// it; it is never a real packet and never released to the pool.
var unreachWake = new(packet)

// unregister removes d's handshake IDs from the dial table.
func (p *Plane) unregister(d *dial) {
	p.dials.Lock()
	p.unregisterLocked(d, d.id)
	if d.hasPrev {
		p.unregisterLocked(d, d.prev.id)
	}
	p.dials.Unlock()
}

// unregisterLocked removes id from the dial table if d holds it. Caller
// holds p.dials.
func (p *Plane) unregisterLocked(d *dial, id wire.SessionID) {
	if p.dials.m[id] == d {
		delete(p.dials.m, id)
	}
}

// start begins a fresh attempt: a RESUME while the dial has a ticket to
// use, else a HELLO.
func (p *Plane) start(d *dial) {
	if d.useTicket != nil {
		p.startResume(d)
		return
	}
	p.startHello(d)
}

// answering makes the attempt that b (an answer routed to d) answers the
// current one: b may answer the previous attempt.
func (d *dial) answering(b []byte) {
	if id, _, _ := wire.ParseHandshakeType(b); id != d.id && d.hasPrev && id == d.prev.id {
		d.helloKeys, d.prev = d.prev, d.helloKeys
	}
}

// startHello builds a fresh HELLO (new handshake ID, ephemerals, nonce),
// registers it and sends it. The previous attempt stays answerable (a
// RESPONSE slower than the retransmission timer still completes); older
// ones are forgotten.
func (p *Plane) startHello(d *dial) {
	cookie, now := p.newAttempt(d)
	d.ticket = nil
	if d.hybrid {
		d.kem = p.pool.kemPair()
	}
	p.buildHello(d, cookie, now)
	p.send(d.hello[:d.nHello], d.to)
}

// newAttempt registers a fresh handshake ID for d, keeping the current
// attempt as the previous one, draws the attempt's ephemeral key and
// nonce_i, and returns the cookie to carry (nil: none) and the time.
func (p *Plane) newAttempt(d *dial) ([]byte, time.Time) {
	now := p.cfg.Now()
	p.mu.Lock()
	c, hasCookie := p.mu.cookies[d.to]
	p.mu.Unlock()
	p.dials.Lock()
	if d.hasPrev {
		p.unregisterLocked(d, d.prev.id)
		d.hasPrev = false
	}
	if p.dials.m[d.id] == d {
		d.prev, d.hasPrev = d.helloKeys, true
	}
	for {
		d.id = randomID()
		if _, taken := p.dials.m[d.id]; !taken {
			break
		}
	}
	p.dials.m[d.id] = d
	p.dials.Unlock()
	d.e = p.pool.ephemeral()
	_, _ = rand.Read(d.nonce[:])
	if hasCookie && now.Before(c.expires) {
		return c.cookie[:], now
	}
	return nil, now
}

// buildHello writes d's HELLO from d.id, d.e, d.kem and d.nonce (all set by
// the caller) and leaves the transcript in d.sym. Deterministic given its
// inputs, which is what the docs/HANDSHAKE.md vectors rely on.
func (p *Plane) buildHello(d *dial, cookie []byte, now time.Time) {
	n := wire.HelloLenFor(d.hybrid)
	b := d.hello[:wire.HelloEphemeralOffset]
	wire.PutHandshakePrefix(b, d.id, wire.HandshakeHello)
	b[wire.HelloFlagsOffset] = 0
	if d.hybrid {
		b[wire.HelloFlagsOffset] = wire.HelloFlagHybrid
	}
	copy(b[wire.HelloSuitesOffset:], d.suites[:])
	clear(b[wire.HelloCookieOffset:wire.HelloHeaderLen])
	copy(b[wire.HelloCookieOffset:wire.HelloHeaderLen], cookie)
	p.psk.start(&d.sym, b[:wire.HelloHeaderLen])
	b = append(b, d.e.pub[:]...)
	d.sym.mixHash(d.e.pub[:]) // e
	d.sym.mixKey(d.e.pub[:])  // psk modifier
	if d.hybrid {
		b = append(b, d.kem.ek...)
		d.sym.mixHashLong(d.kem.ek)
	}
	var pl [wire.HelloPayloadLen]byte
	id := p.cfg.Identity.ID()
	copy(pl[0:32], d.nonce[:])
	copy(pl[32:64], id[:])
	c32 := commitment(id, &d.nonce)
	copy(pl[64:96], c32[:])
	putUint64(pl[96:104], uint64(now.UnixMilli()))
	copy(pl[104:108], d.suites[:])
	b = d.sym.encryptAndHash(b, pl[:])
	if len(b) != n {
		panic("control: BUG: HELLO length")
	}
	d.nHello = n
}

// finish processes a RESPONSE for d, writes AUTH_PROOF into proof, the
// collision-REJECT key into rejectKey, and installs the session. Errors:
// errOpen (forged/corrupted: ignore), ErrAuthentication wrapped with the
// check that failed, or Install's.
func (p *Plane) finish(d *dial, b []byte, proof *[wire.AuthProofLen]byte, rejectKey *[32]byte) (*Established, error) {
	var fin finalState
	defer fin.wipe()
	est, err := p.complete(d, b, proof, &fin)
	if err != nil {
		return nil, err
	}
	*rejectKey = fin.rejectKey
	p.addPending(est, &fin.res, p.cfg.Now())
	inst, err := p.dp.Install(est)
	if err != nil {
		p.removePending(est.SessionID)
		return nil, fmt.Errorf("control: install session %#x: %w", uint64(est.SessionID), err)
	}
	est.Installed = inst
	return est, nil
}

// finalState is what the transcript leaves once AUTH_PROOF is written:
// the chaining key Split used (ck_final in docs/HANDSHAKE.md), the
// handshake hash h, the collision-REJECT key derived from ck_final, and h
// as it was after the RESPONSE payload (published in the vectors so that
// another implementation can tell which message it got wrong).
type finalState struct {
	ck, h, rejectKey, hResponse [32]byte
	res                         [32]byte // resumption secret (ticket of this session)
}

func (f *finalState) wipe() {
	clear(f.ck[:])
	clear(f.rejectKey[:])
	clear(f.res[:])
}

// complete processes a RESPONSE for d and writes AUTH_PROOF into proof and
// the final transcript state into fin, without installing anything, and
// returns the session to install. Errors as finish, without Install's.
func (p *Plane) complete(d *dial, b []byte, proof *[wire.AuthProofLen]byte, fin *finalState) (*Established, error) {
	r, err := wire.ParseResponse(b, d.hybrid)
	if err != nil || r.ID() != d.id || d.ticket != nil {
		return nil, errOpen
	}
	sym := d.sym
	er, err := ecdh.X25519().NewPublicKey(r.Ephemeral())
	if err != nil {
		return nil, errOpen
	}
	// Two steps of independent operations, each run in parallel: ee with
	// the KEM decapsulation (which need only the RESPONSE's cleartext),
	// then, once s has opened, es with se.
	var (
		ee, ss        []byte
		eeErr, kemErr error
	)
	doEE := func() { ee, eeErr = d.e.priv.ECDH(er) }
	if d.hybrid {
		parallel(func() { ss, kemErr = d.kem.dk.Decapsulate(r.KEMCiphertext()) }, doEE)
	} else {
		doEE()
	}
	if eeErr != nil || kemErr != nil {
		return nil, errOpen
	}
	sym.mixHash(r.Ephemeral()) // e
	sym.mixKey(r.Ephemeral())
	sym.mixKey(ee) // ee
	if d.hybrid {
		sym.mixHashLong(r.KEMCiphertext())
		sym.mixKey(ss)
	}
	var sbuf [wire.KeyLen]byte
	spt, err := sym.decryptAndHash(sbuf[:], r.SealedStatic()) // s
	if err != nil {
		return nil, errOpen
	}
	spub := [32]byte(spt)
	sr, err := ecdh.X25519().NewPublicKey(spub[:])
	if err != nil {
		return nil, errOpen
	}
	var (
		es, se       []byte
		esErr, seErr error
	)
	parallel(func() { es, esErr = d.e.priv.ECDH(sr) }, func() { se, seErr = p.cfg.Identity.ECDH(er) })
	if esErr != nil || seErr != nil {
		return nil, errOpen
	}
	sym.mixKey(es) // es
	var pbuf [wire.ResponsePayloadLen]byte
	pt, err := sym.decryptAndHash(pbuf[:], r.Sealed())
	if err != nil {
		return nil, errOpen
	}
	hResponse := sym.h
	nonceR := [32]byte(pt[0:32])
	peerID := stc.NodeID(pt[32:64])
	suite := stc.Suite(pt[64])
	peerParams := parseParams(pt[65:])
	// The RESPONSE is authenticated: a failed check is acted on at once.
	switch {
	case stc.NodeIDFromPublic(spub) != peerID:
		return nil, fmt.Errorf("%w: %v claims node ID %v, which is not the hash of its static key", ErrAuthentication, d.to, peerID)
	case peerID == p.cfg.Identity.ID():
		return nil, fmt.Errorf("%w: %v %w", ErrAuthentication, d.to, errOwnIdentity)
	case !p.allowed(peerID):
		return nil, fmt.Errorf("%w: %v is node %v, which is not in AllowPeers", ErrAuthentication, d.to, peerID)
	case !offered(d.suites[:], suite):
		return nil, fmt.Errorf("%w: %v chose suite %v, which we did not offer", ErrAuthentication, d.to, suite)
	}
	myID := p.cfg.Identity.ID()
	sid := sessionID(&d.nonce, &nonceR, myID, peerID)
	// AUTH_PROOF: s, se, payload.
	out := proof[:wire.AuthProofStaticOffset]
	wire.PutHandshakePrefix(out, d.id, wire.HandshakeAuthProof)
	mypub := p.cfg.Identity.Public()
	out = sym.encryptAndHash(out, mypub[:]) // s
	sym.mixKey(se)                          // se
	var pl [wire.AuthProofPayloadLen]byte
	putUint64(pl[:8], uint64(sid))
	putParams(pl[8:], &p.cfg.Params)
	out = sym.encryptAndHash(out, pl[:])
	if len(out) != wire.AuthProofLen {
		panic("control: BUG: AUTH_PROOF length")
	}
	*fin = finalState{ck: sym.ck, h: sym.h, rejectKey: hmacSHA256(&sym.ck, []byte(rejectKeyLabel), nil), hResponse: hResponse,
		res: resumptionSecret(&sym.ck)}
	i2r, r2i := sym.split()
	est := &Established{
		SessionID: sid, Suite: suite, sendSecret: stc.SecretFrom(&i2r), recvSecret: stc.SecretFrom(&r2i),
		Initiator: true, Peer: d.to, PeerID: peerID, PeerStatic: spub,
		LocalParams: p.cfg.Params, PeerParams: peerParams, Confirmed: make(chan struct{}),
	}
	clear(i2r[:])
	clear(r2i[:])
	return est, nil
}

// takeCookie opens a COOKIE_REPLY for d's current HELLO and stores the
// cookie for d.to. It reports whether the cookie was accepted.
func (p *Plane) takeCookie(d *dial, b []byte) bool {
	e := d.e.pub // the AD is the ephemeral of the HELLO the reply answers
	if id, _, _ := wire.ParseHandshakeType(b); id != d.id && d.hasPrev && id == d.prev.id {
		e = d.prev.e.pub
	}
	cookie, err := p.psk.openCookieReply(b, e[:])
	if err != nil {
		p.st.malformed.Add(1)
		return false
	}
	p.mu.Lock()
	if len(p.mu.cookies) >= ledgerSize {
		for k := range p.mu.cookies {
			delete(p.mu.cookies, k)
			break
		}
	}
	p.mu.cookies[d.to] = cookieEntry{cookie: cookie, expires: p.cfg.Now().Add(cookieLifetime)}
	p.mu.Unlock()
	return true
}

// errOwnIdentity marks a RESPONSE from a node with our own identity: only
// a holder of our node seed can produce one, so Dial fails at once.
var errOwnIdentity = errors.New("holds our own node identity (a node started with our node seed)")

// offered reports whether s is a valid suite in the offered list.
func offered(list []byte, s stc.Suite) bool {
	if !s.Valid() {
		return false
	}
	for _, o := range list {
		if o == byte(s) {
			return true
		}
	}
	return false
}

// earlier returns the earlier of a and b.
func earlier(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

func putUint64(b []byte, v uint64) {
	_ = b[7]
	for i := 7; i >= 0; i-- {
		b[i] = byte(v)
		v >>= 8
	}
}
