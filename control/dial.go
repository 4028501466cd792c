package control

import (
	"context"
	"crypto/ecdh"
	"crypto/rand"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/stt-go/stt/stc"
	"github.com/stt-go/stt/wire"
	"golang.org/x/crypto/chacha20poly1305"
)

// dial is one initiator handshake in flight. It is owned by its Dial
// goroutine; workers only deliver packets to in.
type dial struct {
	to        netip.AddrPort
	in        chan *packet
	hybrid    bool
	suites    [wire.MaxOfferedSuites]byte
	helloKeys           // the current HELLO
	prev      helloKeys // the HELLO before it: a late RESPONSE to it still counts
	hasPrev   bool
	hello     [wire.MaxHandshakeLen]byte
	nHello    int
}

// helloKeys is what an initiator keeps per HELLO sent.
type helloKeys struct {
	id    wire.SessionID // handshake ID (registered in p.mu.dials)
	sym   symmetric      // transcript after HELLO
	e     ephemeral
	kem   kemPair
	nonce [32]byte
}

// Dial runs the initiator side of a handshake with the node at to and
// returns the session once the data plane has confirmed it (FINAL opened).
// It retransmits with exponential backoff (a fresh HELLO while no RESPONSE
// arrived, the same AUTH_PROOF afterwards), and is bounded by ctx and
// Config.HandshakeTimeout. Errors: ErrHandshakeTimeout (also matching
// context.DeadlineExceeded when ctx's deadline fired), ErrAuthentication,
// ErrClosed, ctx.Err() on cancellation, or a wrapped DataPlane.Install
// error. On failure no state, goroutine or installed session remains.
func (p *Plane) Dial(ctx context.Context, to netip.AddrPort) (*Established, error) {
	select {
	case <-p.done:
		return nil, ErrClosed
	default:
	}
	d := &dial{to: to, in: make(chan *packet, dialInbox), hybrid: p.cfg.Hybrid}
	for i, s := range p.cfg.Suites {
		d.suites[i] = byte(s)
	}
	defer p.unregister(d)
	deadline := time.NewTimer(p.cfg.HandshakeTimeout)
	defer deadline.Stop()
	rto := initialRTO
	retx := time.NewTimer(rto)
	defer retx.Stop()
	p.startHello(d)

	var est *Established // installed, waiting for Confirmed
	var proof [wire.AuthProofLen]byte
	var rejectKey [32]byte
	fail := func(err error) (*Established, error) {
		if est != nil {
			p.dp.Remove(est.SessionID)
		}
		switch {
		case errors.Is(err, ErrHandshakeTimeout):
			p.st.failedTimeout.Add(1)
		case errors.Is(err, ErrAuthentication):
			p.st.failedAuth.Add(1)
		}
		return nil, err
	}
	for {
		var confirmed chan struct{}
		if est != nil {
			confirmed = est.Confirmed
		}
		select {
		case <-confirmed:
			p.st.handshakesOK.Add(1)
			return est, nil
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return fail(fmt.Errorf("%w (%w)", ErrHandshakeTimeout, ctx.Err()))
			}
			return fail(ctx.Err())
		case <-deadline.C:
			return fail(ErrHandshakeTimeout)
		case <-p.done:
			return fail(ErrClosed)
		case <-retx.C:
			p.st.retransmits.Add(1)
			rto = min(2*rto, maxRTO)
			retx.Reset(rto)
			if est != nil {
				p.send(proof[:], to)
			} else {
				p.startHello(d)
			}
		case pk := <-d.in:
			b := pk.bytes()
			_, t, _ := wire.ParseHandshakeType(b)
			switch {
			case t == wire.HandshakeResponse && est == nil:
				if id, _, _ := wire.ParseHandshakeType(b); id != d.id && d.hasPrev && id == d.prev.id {
					d.helloKeys, d.prev = d.prev, d.helloKeys
				}
				var err error
				est, err = p.finish(d, b, &proof, &rejectKey)
				p.release(pk)
				if err != nil {
					if errors.Is(err, ErrSessionExists) {
						p.st.collisions.Add(1)
						p.startHello(d)
						continue
					}
					if errors.Is(err, errOpen) {
						p.st.malformed.Add(1)
						continue // forged or corrupted: keep waiting
					}
					return fail(err)
				}
				p.send(proof[:], to)
				rto = initialRTO
				retx.Reset(rto)
			case t == wire.HandshakeCookieReply && est == nil:
				ok := p.takeCookie(d, b)
				p.release(pk)
				if ok {
					p.startHello(d)
				}
			case t == wire.HandshakeReject:
				r, err := wire.ParseReject(b)
				if err != nil {
					p.release(pk)
					continue
				}
				if r.Reason() == wire.RejectCollision && est != nil &&
					rejectTagValid(&rejectKey, b[:wire.RejectTagOffset], r.Tag()) {
					p.release(pk)
					p.st.collisions.Add(1)
					p.dp.Remove(est.SessionID)
					est = nil
					p.startHello(d)
					rto = initialRTO
					retx.Reset(rto)
					continue
				}
				auth := r.Reason() == wire.RejectAuthentication && est == nil
				p.release(pk)
				if auth {
					return fail(ErrAuthentication)
				}
			default:
				p.release(pk)
			}
		}
	}
}

// unregister removes d's handshake IDs from the dial table.
func (p *Plane) unregister(d *dial) {
	p.mu.Lock()
	p.unregisterLocked(d, d.id)
	if d.hasPrev {
		p.unregisterLocked(d, d.prev.id)
	}
	p.mu.Unlock()
}

func (p *Plane) unregisterLocked(d *dial, id wire.SessionID) {
	if p.mu.dials[id] == d {
		delete(p.mu.dials, id)
	}
}

// startHello builds a fresh HELLO (new handshake ID, ephemerals, nonce),
// registers it and sends it. The previous HELLO stays answerable (a
// RESPONSE slower than the retransmission timer still completes); older
// ones are forgotten.
func (p *Plane) startHello(d *dial) {
	now := p.cfg.Now()
	p.mu.Lock()
	if d.hasPrev {
		p.unregisterLocked(d, d.prev.id)
		d.hasPrev = false
	}
	if p.mu.dials[d.id] == d {
		d.prev, d.hasPrev = d.helloKeys, true
	}
	for {
		d.id = randomID()
		if _, taken := p.mu.dials[d.id]; !taken {
			break
		}
	}
	p.mu.dials[d.id] = d
	c, hasCookie := p.mu.cookies[d.to]
	p.mu.Unlock()
	d.e = p.pool.ephemeral()
	if d.hybrid {
		d.kem = p.pool.kemPair()
	}
	_, _ = rand.Read(d.nonce[:])
	var cookie []byte
	if hasCookie && now.Before(c.expires) {
		cookie = c.cookie[:]
	}
	p.buildHello(d, cookie, now)
	p.send(d.hello[:d.nHello], d.to)
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
// errOpen (forged/corrupted: ignore), ErrAuthentication, or Install's.
func (p *Plane) finish(d *dial, b []byte, proof *[wire.AuthProofLen]byte, rejectKey *[32]byte) (*Established, error) {
	r, err := wire.ParseResponse(b, d.hybrid)
	if err != nil || r.ID() != d.id {
		return nil, errOpen
	}
	sym := d.sym
	er, err := ecdh.X25519().NewPublicKey(r.Ephemeral())
	if err != nil {
		return nil, errOpen
	}
	// ee, se and the KEM decapsulation need only the RESPONSE's cleartext:
	// run them at once. se is computed before the responder is
	// authenticated; a forged RESPONSE (it must match our handshake ID and
	// address) costs one DH more.
	var (
		ee, se, ss           []byte
		eeErr, seErr, kemErr error
	)
	jobs := [3]func(){
		func() { ee, eeErr = d.e.priv.ECDH(er) },
		func() { se, seErr = p.cfg.Identity.PrivateKey().ECDH(er) },
		nil,
	}
	if d.hybrid {
		jobs[2] = func() { ss, kemErr = d.kem.dk.Decapsulate(r.KEMCiphertext()) }
	}
	parallel(jobs[:])
	if eeErr != nil || seErr != nil || kemErr != nil {
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
	es, err := d.e.priv.ECDH(sr)
	if err != nil {
		return nil, errOpen
	}
	sym.mixKey(es) // es
	var pbuf [wire.ResponsePayloadLen]byte
	pt, err := sym.decryptAndHash(pbuf[:], r.Sealed())
	if err != nil {
		return nil, errOpen
	}
	nonceR := [32]byte(pt[0:32])
	peerID := stc.NodeID(pt[32:64])
	suite := stc.Suite(pt[64])
	peerParams := parseParams(pt[65:])
	if stc.NodeIDFromPublic(spub) != peerID || !p.allowed(peerID) || !offered(d.suites[:], suite) {
		return nil, ErrAuthentication
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
	*rejectKey = hmacSHA256(&sym.ck, []byte(rejectKeyLabel), nil)
	i2r, r2i := sym.split()
	est := &Established{
		SessionID: sid, Suite: suite, SendSecret: stc.Secret(i2r), RecvSecret: stc.Secret(r2i),
		Initiator: true, Peer: d.to, PeerID: peerID, PeerStatic: spub,
		LocalParams: p.cfg.Params, PeerParams: peerParams, Confirmed: make(chan struct{}),
	}
	clear(i2r[:])
	clear(r2i[:])
	if err := p.dp.Install(est); err != nil {
		return nil, fmt.Errorf("control: install session %#x: %w", uint64(sid), err)
	}
	return est, nil
}

// takeCookie opens a COOKIE_REPLY for d's current HELLO and stores the
// cookie for d.to. It reports whether the cookie was accepted.
func (p *Plane) takeCookie(d *dial, b []byte) bool {
	c, err := wire.ParseCookieReply(b)
	if err != nil {
		return false
	}
	a, err := chacha20poly1305.NewX(p.psk.cookieKey[:])
	if err != nil {
		return false
	}
	e := d.e.pub // the AD is the ephemeral of the HELLO the reply answers
	if id, _, _ := wire.ParseHandshakeType(b); id != d.id && d.hasPrev && id == d.prev.id {
		e = d.prev.e.pub
	}
	var cookie [wire.CookieLen]byte
	if _, err := a.Open(cookie[:0], c.Nonce(), c.Sealed(), e[:]); err != nil {
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

func putUint64(b []byte, v uint64) {
	_ = b[7]
	for i := 7; i >= 0; i-- {
		b[i] = byte(v)
		v >>= 8
	}
}
