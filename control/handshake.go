package control

import (
	"container/list"
	"context"
	"crypto/ecdh"
	"crypto/mlkem"
	"crypto/rand"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"runtime"
	"slices"
	"sync/atomic"
	"time"

	"github.com/stt-go/stt/stc"
	"github.com/stt-go/stt/wire"
	"golang.org/x/crypto/chacha20poly1305"
)

// Handshake transcript (docs/HANDSHAKE.md), Noise XXpsk0 plus an optional
// ML-KEM-768 exchange:
//
//	HELLO      -> psk, e, [ekem]
//	RESPONSE   <- e, ee, [ct → MixKey(kem ss)], s, es
//	AUTH_PROOF -> s, se
//
// DH operations per handshake: 3 per side (ee, es, se); ephemeral key
// generation is precomputed by the key pool, so none is on the latency path.

// prologueLabel starts the prologue; the HELLO header follows it.
const prologueLabel = "STT/1"

// Labels for keys derived from the PSK or the final chaining key.
const (
	cookieKeyLabel = "stt/1 cookie reply"
	rejectKeyLabel = "stt/1 reject"
)

// pskState caches the part of the transcript that depends only on the PSK:
// MixKeyAndHash(psk) from the initial ck gives constant ck, temp_h and k,
// so each HELLO costs one HMAC chain less.
type pskState struct {
	ck, th, k [32]byte
	cookieKey [32]byte
}

func (s *pskState) init(psk *[32]byte) {
	s.ck, s.th, s.k = hkdf3(&initialH, psk[:])
	s.cookieKey = hmacSHA256(psk, []byte(cookieKeyLabel), nil)
}

// start initialises sym for a HELLO with header hdr (bytes [0,32) of the
// HELLO): h = HASH(HASH(name) ‖ "STT/1" ‖ hdr), then the psk token.
func (s *pskState) start(sym *symmetric, hdr []byte) {
	var pro [len(prologueLabel) + wire.HelloHeaderLen]byte
	copy(pro[:], prologueLabel)
	copy(pro[len(prologueLabel):], hdr)
	sym.init(pro[:])
	sym.ck = s.ck
	sym.mixHash(s.th[:])
	sym.k = s.k
	sym.n = 0
	sym.hasK = true
}

// workerScratch is one worker's reusable buffers, so the reject path
// allocates nothing.
type workerScratch struct {
	sym symmetric
	pt  [wire.HelloPayloadLen]byte
	out [wire.MaxHandshakeLen]byte
}

func newWorkerScratch() *workerScratch {
	w := new(workerScratch)
	w.sym.mixHashLong(make([]byte, smallHashLen+1)) // allocates the scratch digest now
	return w
}

// respState is a responder half-open handshake: the transcript after
// RESPONSE, waiting for AUTH_PROOF.
type respState struct {
	sym     symmetric
	e       *ecdh.PrivateKey
	from    netip.AddrPort
	id      wire.SessionID // handshake ID
	peerID  stc.NodeID     // claimed in HELLO, checked against s in AUTH_PROOF
	sid     wire.SessionID
	suite   stc.Suite
	expires time.Time
}

// handleHello is the responder's HELLO path, cheapest checks first:
// size/version → cookie (under load) → PSK AEAD open → freshness →
// commitment, allow-list, reflection → cookie (at a half-open cap) →
// replay cache → DH and half-open state. Up to the AEAD open it allocates
// nothing, and a HELLO that fails the open allocates nothing either.
func (p *Plane) handleHello(w *workerScratch, b []byte, from netip.AddrPort, now time.Time) {
	p.helloWith(w, b, from, now, nil)
}

// respInputs fixes the responder's random choices (docs vectors only).
type respInputs struct {
	e     ephemeral
	nonce [32]byte
	// encapsulate, when set, replaces ML-KEM's randomised Encapsulate: the
	// vectors pass crypto/mlkem/mlkemtest's derandomised one.
	encapsulate func(ek *mlkem.EncapsulationKey768) (ss, ct []byte, err error)
}

// helloWith is handleHello with the responder's randomness optionally fixed.
func (p *Plane) helloWith(w *workerScratch, b []byte, from netip.AddrPort, now time.Time, fixed *respInputs) {
	h, err := wire.ParseHello(b)
	if err != nil {
		p.st.malformed.Add(1)
		return
	}
	cookieOK := false
	if p.underLoad() {
		if !p.cookie.valid(h.Cookie(), from) {
			p.st.cookieRejects.Add(1)
			p.sendCookieReply(w, h.ID(), h.Ephemeral(), from)
			return
		}
		cookieOK = true
	}
	sym := &w.sym
	p.psk.start(sym, h.Header())
	sym.mixHash(h.Ephemeral())
	sym.mixKey(h.Ephemeral())
	hybrid := h.Hybrid()
	if hybrid {
		sym.mixHashLong(h.KEMKey())
	}
	pt, err := sym.decryptAndHash(w.pt[:], h.Sealed())
	if err != nil {
		p.st.seedMismatch.Add(1)
		p.logSeedMismatch(from, now)
		p.refuseHello(w, h.ID(), from, now)
		return
	}
	// The HELLO opened: its sender holds the shared seed. Every refusal
	// from here to the replay check is answered, if at all, with the same
	// rate-limited REJECT(authentication) as a HELLO that does not open
	// (docs/HANDSHAKE.md "Refusing a HELLO"), so a misconfigured peer
	// learns it was refused instead of timing out on "no answer".
	var hp helloPayload
	if !hp.parse(pt, h.Suites()) { // suite lists differ, or padding not zero
		p.st.malformed.Add(1)
		p.refuseHello(w, h.ID(), from, now)
		return
	}
	if skew := now.UnixMilli() - hp.ts; skew > p.cfg.FreshnessWindow.Milliseconds() || -skew > p.cfg.FreshnessWindow.Milliseconds() {
		p.st.stale.Add(1)
		p.refuseHello(w, h.ID(), from, now)
		return
	}
	if c := commitment(hp.nodeID, &hp.nonce); subtle.ConstantTimeCompare(c[:], hp.commit[:]) != 1 {
		p.st.malformed.Add(1)
		p.refuseHello(w, h.ID(), from, now)
		return
	}
	if !p.allowed(hp.nodeID) {
		p.st.failedAuth.Add(1)
		p.refuseHello(w, h.ID(), from, now)
		return
	}
	suite := p.chooseSuite(h.Suites())
	if suite == 0 {
		p.st.suiteRefused.Add(1)
		p.refuseHello(w, h.ID(), from, now)
		return
	}
	// A HELLO that would evict half-open state (its IP or the node at its
	// cap) must prove its address first: an insider flooding with the
	// victim's source IP cannot, so it never pushes the victim out, and
	// each of its HELLOs costs us a cookie, not a DH (docs/HANDSHAKE.md
	// "Anti-DoS", step 6).
	if !cookieOK {
		p.mu.Lock()
		full := p.halfOpenFullLocked(from.Addr())
		p.mu.Unlock()
		if full {
			if !p.cookie.valid(h.Cookie(), from) {
				p.st.cookieRejects.Add(1)
				p.sendCookieReply(w, h.ID(), h.Ephemeral(), from)
				return
			}
			cookieOK = true
		}
	}
	ePub := [32]byte(h.Ephemeral())
	p.dials.RLock()
	_, own := p.dials.m[h.ID()]
	p.dials.RUnlock()
	p.mu.Lock()
	_, dup := p.mu.halfOpen[h.ID()]
	fresh := !dup && !own && p.mu.replay.insert(ePub)
	if fresh {
		p.ledgerRecvLocked(from.Addr(), len(b), true, now)
	}
	p.mu.Unlock()
	if !fresh {
		p.st.replays.Add(1)
		return
	}
	if fixed != nil {
		p.respond(w, h, &hp, suite, from, now, cookieOK, fixed.e, fixed.nonce, fixed.encapsulate)
		return
	}
	var nr [32]byte
	_, _ = rand.Read(nr[:])
	p.respond(w, h, &hp, suite, from, now, cookieOK, p.pool.ephemeral(), nr, nil)
}

// respond runs the DH half of the responder's HELLO processing and sends
// RESPONSE. The transcript continues in w.sym. proven says the HELLO
// carried a valid cookie (it may evict half-open state); if a cap filled
// while the DH ran, an unproven HELLO gets a COOKIE_REPLY instead.
//
// er is the responder's ephemeral, nr the random draw for nonce_r and
// encap, when not nil, the KEM encapsulation (parameters so the
// docs/HANDSHAKE.md vectors are reproducible).
func (p *Plane) respond(w *workerScratch, h wire.Hello, hp *helloPayload, suite stc.Suite, from netip.AddrPort, now time.Time, proven bool, er ephemeral, nr [32]byte,
	encap func(*mlkem.EncapsulationKey768) ([]byte, []byte, error)) {
	sym := &w.sym
	ei, err := ecdh.X25519().NewPublicKey(h.Ephemeral())
	if err != nil {
		p.st.malformed.Add(1)
		return
	}
	out := w.out[:wire.ResponseKEMOffset]
	wire.PutHandshakePrefix(out, h.ID(), wire.HandshakeResponse)
	copy(out[wire.ResponseEphemeralOffset:], er.pub[:])
	// ee, es and the KEM encapsulation are independent: run them in
	// parallel, the KEM (the longest) first.
	var (
		ee, es, ss, ct []byte
		eeErr, esErr   error
		kemErr         error
	)
	doEE := func() { ee, eeErr = er.priv.ECDH(ei) }
	doES := func() { es, esErr = p.cfg.Identity.ECDH(ei) }
	if h.Hybrid() {
		parallel(func() {
			ek, err := mlkem.NewEncapsulationKey768(h.KEMKey())
			if err != nil {
				kemErr = err
				return
			}
			if encap != nil {
				ss, ct, kemErr = encap(ek)
				return
			}
			ss, ct = ek.Encapsulate()
		}, doEE, doES)
	} else {
		parallel(doEE, doES)
	}
	if eeErr != nil || esErr != nil || kemErr != nil { // low-order point or bad KEM key: a forgery
		p.st.malformed.Add(1)
		return
	}
	sym.mixHash(er.pub[:]) // e
	sym.mixKey(er.pub[:])  // psk modifier: e also feeds MixKey
	sym.mixKey(ee)         // ee
	if h.Hybrid() {
		out = append(out, ct...)
		sym.mixHashLong(ct)
		sym.mixKey(ss)
	}
	spub := p.cfg.Identity.Public()
	out = sym.encryptAndHash(out, spub[:]) // s
	sym.mixKey(es)                         // es
	nonceR, sid := p.pickNonce(nr, &hp.nonce, hp.nodeID)
	var pl [wire.ResponsePayloadLen]byte
	copy(pl[0:32], nonceR[:])
	myID := p.cfg.Identity.ID()
	copy(pl[32:64], myID[:])
	pl[64] = byte(suite)
	putParams(pl[65:], &p.cfg.Params)
	out = sym.encryptAndHash(out, pl[:])
	rs := &respState{sym: *sym, e: er.priv, from: from, id: h.ID(), peerID: hp.nodeID, sid: sid, suite: suite,
		expires: now.Add(p.cfg.HandshakeTimeout)}
	rs.sym.d = nil // the scratch digest stays with the worker
	p.mu.Lock()
	admit := proven || !p.halfOpenFullLocked(from.Addr())
	ok := admit && p.ledgerSendLocked(from.Addr(), len(out))
	if ok {
		p.insertHalfOpenLocked(rs)
	}
	p.mu.Unlock()
	switch {
	case ok:
		p.send(out, from) // ← RESPONSE
	case !admit:
		p.st.cookieRejects.Add(1)
		p.sendCookieReply(w, h.ID(), h.Ephemeral(), from)
	}
}

// pickNonce returns nonce_r and the session ID it yields. nonce_r is the
// random draw nr except that its first 8 bytes are adjusted so that
// session_id mod Loops() is the next loop in round-robin order: XOR with a
// value that moves the ID to the wanted residue keeps nonce_r uniform
// within that residue class, exactly as re-drawing until it lands would,
// at the cost of one draw (docs/HANDSHAKE.md "Session ID").
func (p *Plane) pickNonce(nr [32]byte, ni *[32]byte, idi stc.NodeID) ([32]byte, wire.SessionID) {
	idr := p.cfg.Identity.ID()
	sid := sessionID(ni, &nr, idi, idr)
	// The loop is sid.Loop(n): the low 32 bits mod n (wire.SessionID.Loop,
	// the steering rule). Only those bits move.
	loops := uint32(max(1, p.dp.Loops()))
	want := uint32(p.nextLoop.Add(1) % uint64(loops))
	s := uint64(sid)
	lo := uint32(s)
	tlo := lo - lo%loops + want
	if tlo < lo-lo%loops { // wrapped past 2^32
		tlo -= loops
	}
	t := s&^0xffffffff | uint64(tlo)
	var x [8]byte
	binary.BigEndian.PutUint64(x[:], s^t)
	for i := range x {
		nr[i] ^= x[i]
	}
	return nr, wire.SessionID(t)
}

// sessionID is the seed formula: XOR(nonce_i, nonce_r, node_id_i,
// node_id_r)[0:8] read big-endian.
func sessionID(ni, nr *[32]byte, idi, idr stc.NodeID) wire.SessionID {
	var x uint64
	x ^= binary.BigEndian.Uint64(ni[:8])
	x ^= binary.BigEndian.Uint64(nr[:8])
	x ^= binary.BigEndian.Uint64(idi[:8])
	x ^= binary.BigEndian.Uint64(idr[:8])
	return wire.SessionID(x)
}

// commitment is H(node_id ‖ nonce) with SHA3-256 (stc.Hash).
func commitment(id stc.NodeID, nonce *[32]byte) [32]byte {
	var in [64]byte
	copy(in[:32], id[:])
	copy(in[32:], nonce[:])
	return stc.Hash(in[:])
}

// refuseHello answers a HELLO (or a RESUME) we will not continue: nothing, or with
// RejectWrongSeed a REJECT(authentication) within the rate limit.
func (p *Plane) refuseHello(w *workerScratch, id wire.SessionID, from netip.AddrPort, now time.Time) {
	if p.cfg.RejectWrongSeed && p.rejects.take(now) {
		p.sendReject(w, id, wire.RejectAuthentication, nil, from)
	}
}

// chooseSuite is the negotiation rule of docs/HANDSHAKE.md "Suite
// negotiation": the first code of the initiator's offered list, in its
// order, that is one of the suites we accept (Config.Suites). Zero bytes
// are padding and codes we do not know are skipped; 0 means no offered
// suite is acceptable. It does not allocate.
func (p *Plane) chooseSuite(offered []byte) stc.Suite {
	for _, o := range offered {
		if o != 0 && slices.Contains(p.cfg.Suites, stc.Suite(o)) {
			return stc.Suite(o)
		}
	}
	return 0
}

// halfOpenFullLocked reports whether a HELLO from addr would have to evict
// half-open state (addr's IP or the node is at its cap): only one with a
// valid cookie may. Caller holds p.mu.
func (p *Plane) halfOpenFullLocked(addr netip.Addr) bool {
	return p.mu.perAddr[addr] >= p.cfg.MaxHalfOpenPerAddr || p.mu.order.Len() >= p.cfg.MaxHalfOpen
}

// insertHalfOpenLocked stores rs, evicting when a cap is reached (the
// caller has checked the HELLO carried a valid cookie if so): at the
// per-IP cap the oldest entry of its own address and port, else the oldest
// of its IP, so a flood from other ports of a shared IP pushes out its own
// entries before a neighbour's; at the node cap the oldest. Caller holds
// p.mu.
func (p *Plane) insertHalfOpenLocked(rs *respState) {
	addr := rs.from.Addr()
	if p.mu.perAddr[addr] >= p.cfg.MaxHalfOpenPerAddr {
		var victim *list.Element
		for e := p.mu.order.Front(); e != nil; e = e.Next() {
			from := e.Value.(*respState).from
			if from == rs.from {
				victim = e
				break
			}
			if victim == nil && from.Addr() == addr {
				victim = e
			}
		}
		if victim != nil {
			p.removeHalfOpenLocked(victim)
			p.st.hoEvicted.Add(1)
		}
	}
	for p.mu.order.Len() >= p.cfg.MaxHalfOpen {
		p.removeHalfOpenLocked(p.mu.order.Front())
		p.st.hoEvicted.Add(1)
	}
	p.mu.halfOpen[rs.id] = p.mu.order.PushBack(rs)
	p.mu.perAddr[addr]++
}

// removeHalfOpenLocked forgets a half-open handshake. Caller holds p.mu.
func (p *Plane) removeHalfOpenLocked(e *list.Element) {
	rs := e.Value.(*respState)
	p.mu.order.Remove(e)
	delete(p.mu.halfOpen, rs.id)
	addr := rs.from.Addr()
	if p.mu.perAddr[addr] <= 1 {
		delete(p.mu.perAddr, addr)
	} else {
		p.mu.perAddr[addr]--
	}
}

// handleAuthProof completes a responder handshake: opens s and se, checks
// the initiator's node ID against its static key and the session ID, then
// installs the session. A duplicate AUTH_PROOF finds no half-open state and
// is ignored (the data plane retransmits FINAL).
func (p *Plane) handleAuthProof(b []byte, from netip.AddrPort) {
	a, err := wire.ParseAuthProof(b)
	if err != nil {
		p.st.malformed.Add(1)
		return
	}
	id, _, _ := wire.ParseHandshakeType(b)
	now := p.cfg.Now()
	p.mu.Lock()
	e := p.mu.halfOpen[id]
	var rs *respState
	if e != nil {
		rs = e.Value.(*respState)
		p.ledgerRecvLocked(from.Addr(), len(b), false, now)
	}
	p.mu.Unlock()
	if rs == nil {
		// Evicted, expired, or a duplicate after install. Nothing we could
		// send would be authenticated, so stay silent: the initiator
		// starts over with a fresh HELLO (docs/HANDSHAKE.md "Loss and
		// timeouts").
		p.st.noStateProofs.Add(1)
		return
	}
	if rs.from != from {
		p.st.malformed.Add(1)
		return
	}
	sym := rs.sym // a copy: a forged AUTH_PROOF leaves the half-open state intact
	var sbuf [wire.KeyLen]byte
	spt, err := sym.decryptAndHash(sbuf[:], a.SealedStatic()) // s
	if err != nil {
		p.st.malformed.Add(1)
		return
	}
	spub := [32]byte(spt)
	si, err := ecdh.X25519().NewPublicKey(spub[:])
	if err != nil {
		p.st.malformed.Add(1)
		return
	}
	se, err := rs.e.ECDH(si)
	if err != nil {
		p.st.malformed.Add(1)
		return
	}
	sym.mixKey(se) // se
	var pbuf [wire.AuthProofPayloadLen]byte
	pt, err := sym.decryptAndHash(pbuf[:], a.Sealed())
	if err != nil {
		p.st.malformed.Add(1)
		return
	}
	sid := wire.SessionID(binary.BigEndian.Uint64(pt[:8]))
	peerParams := parseParams(pt[8:])
	p.mu.Lock()
	mine := p.mu.halfOpen[id] == e
	if mine {
		p.removeHalfOpenLocked(e)
		p.ledgerValidateLocked(from.Addr(), now)
	}
	p.mu.Unlock()
	if !mine {
		return // another worker completed it
	}
	if stc.NodeIDFromPublic(spub) != rs.peerID || !p.allowed(rs.peerID) || sid != rs.sid {
		p.st.failedAuth.Add(1)
		return
	}
	i2r, r2i := sym.split()
	res := resumptionSecret(&sym.ck)
	est := &Established{
		SessionID: sid, Suite: rs.suite, sendSecret: stc.SecretFrom(&r2i), recvSecret: stc.SecretFrom(&i2r),
		Initiator: false, Peer: from, PeerID: rs.peerID, PeerStatic: spub,
		LocalParams: p.cfg.Params, PeerParams: peerParams, Confirmed: make(chan struct{}),
		Ticket: p.issueTicket(now, now, rs.suite, rs.peerID, spub, &res),
	}
	clear(i2r[:])
	clear(r2i[:])
	clear(res[:])
	if _, err := p.dp.Install(est); err != nil {
		if errors.Is(err, ErrSessionExists) {
			p.st.collisions.Add(1)
			rk := hmacSHA256(&sym.ck, []byte(rejectKeyLabel), nil)
			var w workerScratch
			p.sendReject(&w, id, wire.RejectCollision, &rk, from)
			return
		}
		p.log.Warn("control: install session", "peer", from, "err", err)
		return
	}
	p.st.accepted.Add(1)
}

// logSeedMismatch reports a HELLO that did not open under our shared seed
// at Warn, at most once per seedLogInterval, with the count of those not
// reported since. The suppressed path is two atomic operations: it does
// not allocate, so the forged-HELLO path stays allocation-free.
func (p *Plane) logSeedMismatch(from netip.AddrPort, now time.Time) {
	t := now.UnixNano()
	last := p.seedLog.last.Load()
	if since := t - last; last != 0 && since < int64(seedLogInterval) && since > -int64(seedLogInterval) ||
		!p.seedLog.last.CompareAndSwap(last, t) {
		p.seedLog.suppressed.Add(1)
		return
	}
	if !p.log.Enabled(context.Background(), slog.LevelWarn) {
		return
	}
	p.log.Warn(fmt.Sprintf("control: handshake from %v does not open under our shared seed: the peer holds another shared seed, or the packet is forged", from),
		"from", from, "not_logged_since_last", p.seedLog.suppressed.Swap(0))
}

// sendCookieReply answers a HELLO (or RESUME) with handshake ID id and
// ephemeral e that carries no valid cookie under load or at a half-open
// cap. The cookie is sealed under a PSK-derived key with the ephemeral as
// AD, so only a PSK holder that sent that message can use it, and the
// reply (67 bytes) is smaller than any HELLO or RESUME.
func (p *Plane) sendCookieReply(w *workerScratch, id wire.SessionID, e []byte, from netip.AddrPort) {
	c := p.cookie.make(from)
	var nonce [wire.CookieReplyNonceLen]byte
	_, _ = rand.Read(nonce[:])
	out := p.psk.cookieReply(w.out[:0], id, &nonce, &c, e)
	p.st.cookiesSent.Add(1)
	p.send(out, from)
}

// cookieReply appends a COOKIE_REPLY answering the HELLO with handshake ID
// id and ephemeral e: prefix ‖ nonce ‖ XChaCha20-Poly1305(key =
// HMAC-SHA256(psk, "stt/1 cookie reply"), nonce, cookie, ad = e).
// Deterministic given its inputs (the vectors rely on it).
func (s *pskState) cookieReply(dst []byte, id wire.SessionID, nonce *[wire.CookieReplyNonceLen]byte, cookie *[wire.CookieLen]byte, e []byte) []byte {
	start := len(dst)
	dst = append(dst, make([]byte, wire.CookieReplySealedOffset)...)
	out := dst[start:]
	wire.PutHandshakePrefix(out, id, wire.HandshakeCookieReply)
	copy(out[wire.CookieReplyNonceOffset:], nonce[:])
	a, err := chacha20poly1305.NewX(s.cookieKey[:])
	if err != nil {
		panic("control: BUG: XChaCha20-Poly1305 key: " + err.Error()) // the key is always 32 bytes
	}
	return a.Seal(dst, nonce[:], cookie[:], e)
}

// sendReject sends a REJECT; key is nil for RejectAuthentication (no key is
// shared) and the final-ck-derived key for RejectCollision.
func (p *Plane) sendReject(w *workerScratch, id wire.SessionID, reason byte, key *[32]byte, to netip.AddrPort) {
	out := w.out[:wire.RejectLen]
	wire.PutHandshakePrefix(out, id, wire.HandshakeReject)
	out[wire.RejectReasonOffset] = reason
	clear(out[wire.RejectTagOffset:])
	if key != nil {
		t := rejectTag(key, out[:wire.RejectTagOffset])
		copy(out[wire.RejectTagOffset:], t[:])
	}
	p.st.rejectsSent.Add(1)
	p.send(out, to)
}

// openCookieReply checks that b is a COOKIE_REPLY and opens its cookie with
// the HELLO ephemeral e as associated data. Errors: a *wire.ParseError, or
// errOpen when it does not open (forged, or for another HELLO).
func (s *pskState) openCookieReply(b, e []byte) ([wire.CookieLen]byte, error) {
	var cookie [wire.CookieLen]byte
	c, err := wire.ParseCookieReply(b)
	if err != nil {
		return cookie, err
	}
	a, err := chacha20poly1305.NewX(s.cookieKey[:])
	if err != nil {
		panic("control: BUG: XChaCha20-Poly1305 key: " + err.Error())
	}
	if _, err := a.Open(cookie[:0], c.Nonce(), c.Sealed(), e); err != nil {
		return cookie, errOpen
	}
	return cookie, nil
}

// helloPayload is the decrypted HELLO payload.
type helloPayload struct {
	nonce  [32]byte
	nodeID stc.NodeID
	commit [32]byte
	ts     int64
}

// parse reads pt; the suites must repeat the cleartext header's and the
// padding must be zero.
func (hp *helloPayload) parse(pt, hdrSuites []byte) bool {
	if len(pt) != wire.HelloPayloadLen {
		return false
	}
	copy(hp.nonce[:], pt[0:32])
	copy(hp.nodeID[:], pt[32:64])
	copy(hp.commit[:], pt[64:96])
	hp.ts = int64(binary.BigEndian.Uint64(pt[96:104]))
	if subtle.ConstantTimeCompare(pt[104:108], hdrSuites) != 1 {
		return false
	}
	for _, c := range pt[108:] {
		if c != 0 {
			return false
		}
	}
	return true
}

// putParams encodes tp into b[:wire.TransportParamsLen].
func putParams(b []byte, tp *TransportParams) {
	_ = b[wire.TransportParamsLen-1]
	binary.BigEndian.PutUint64(b[0:], tp.MaxStreams)
	binary.BigEndian.PutUint64(b[8:], tp.InitialMaxData)
	binary.BigEndian.PutUint64(b[16:], tp.InitialMaxStreamData)
	binary.BigEndian.PutUint16(b[24:], tp.MaxDatagram)
	binary.BigEndian.PutUint32(b[26:], tp.IdleTimeoutMs)
}

// parseParams decodes b[:wire.TransportParamsLen].
func parseParams(b []byte) TransportParams {
	_ = b[wire.TransportParamsLen-1]
	return TransportParams{
		MaxStreams:           binary.BigEndian.Uint64(b[0:]),
		InitialMaxData:       binary.BigEndian.Uint64(b[8:]),
		InitialMaxStreamData: binary.BigEndian.Uint64(b[16:]),
		MaxDatagram:          binary.BigEndian.Uint16(b[24:]),
		IdleTimeoutMs:        binary.BigEndian.Uint32(b[26:]),
	}
}

// parallel runs jobs and returns when all are done: DH and KEM operations
// of one handshake step that do not depend on each other. The caller and,
// with more than one P, up to GOMAXPROCS-1 helper goroutines take jobs in
// order from a shared counter, so a helper that starts late (waking an
// idle core can take longer than a DH on a virtual machine: 75-150 µs
// measured on the development VM, where this makes the step as fast as
// running it serially, no slower) takes only what is left, and one that
// starts after every job is taken costs nothing but its spawn: the caller
// waits only for jobs a helper is running. Put the longest job first.
func parallel(jobs ...func()) {
	helpers := min(runtime.GOMAXPROCS(0), len(jobs)) - 1
	if helpers <= 0 {
		for _, j := range jobs {
			j()
		}
		return
	}
	s := &jobSet{jobs: jobs, idle: make(chan struct{}, helpers)}
	for range helpers {
		go s.help()
	}
	s.run()
	for s.active.Load() > 0 {
		<-s.idle
	}
}

// jobSet is the work one parallel call shares out.
type jobSet struct {
	jobs   []func()
	next   atomic.Int32  // index of the next job to claim
	active atomic.Int32  // helpers between announcing themselves and finishing
	idle   chan struct{} // a helper brought active to 0 (capacity: one per helper)
}

// run claims and runs jobs until none is left.
func (s *jobSet) run() {
	for {
		i := int(s.next.Add(1)) - 1
		if i >= len(s.jobs) {
			return
		}
		s.jobs[i]()
	}
}

// help is a helper goroutine. It announces itself (active) before it
// claims, so once the caller has seen every job claimed, active > 0 means
// a helper may still be running one; a helper that announces itself later
// finds nothing left.
func (s *jobSet) help() {
	s.active.Add(1)
	s.run()
	if s.active.Add(-1) == 0 {
		s.idle <- struct{}{} // never blocks: at most one send per helper
	}
}
