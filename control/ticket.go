package control

import (
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/stt-go/stt/stc"
	"github.com/stt-go/stt/wire"
	"golang.org/x/crypto/chacha20poly1305"
)

// Tickets (docs/HANDSHAKE.md "Tickets"). A ticket is opaque to the
// initiator; this implementation's layout is
//
//	offset size field
//	0      4    ticket key ID (big-endian)
//	4      24   XChaCha20-Poly1305 nonce (random)
//	28     161  sealed under the ticket key, associated data bytes [0, 4):
//	            issued, unix ms (8) ‖ chain start, unix ms (8) ‖ suite (1) ‖
//	            initiator node ID (32) ‖ initiator static key (32) ‖
//	            responder node ID (32) ‖ resumption secret (32); then the tag
const (
	ticketKeyIDLen     = 4
	ticketNonceOffset  = ticketKeyIDLen
	ticketSealedOffset = ticketNonceOffset + chacha20poly1305.NonceSizeX
	ticketPlainLen     = 8 + 8 + 1 + 32 + 32 + 32 + 32
)

// The ticket layout must fill wire.TicketLen exactly.
var _ = [1]struct{}{}[wire.TicketLen-(ticketSealedOffset+ticketPlainLen+wire.TagLen)]

// Labels of the secrets derived from a finished handshake's ck_final.
const resumptionLabel = "stt/1 resumption"

// resumptionSecret is HMAC-SHA256(ck_final, "stt/1 resumption"): the
// secret a ticket carries and the initiator keeps for it.
func resumptionSecret(ckFinal *[32]byte) [32]byte {
	return hmacSHA256(ckFinal, []byte(resumptionLabel), nil)
}

// ticketKey is one responder ticket key.
type ticketKey struct {
	id      uint32
	aead    cipher.AEAD // XChaCha20-Poly1305 under the key
	created time.Time
}

// ticketKeys are the live ticket keys: tickets are issued under cur and
// opened under cur or prev. The value is immutable; rotation replaces it.
type ticketKeys struct {
	cur, prev *ticketKey
}

// newTicketKeys returns the keys after a rotation at now from old (nil: a
// fresh plane, whose previous key is a random one no ticket was issued
// under).
func newTicketKeys(old *ticketKeys, now time.Time) *ticketKeys {
	var prev *ticketKey
	if old != nil {
		prev = old.cur
	} else {
		prev = randomTicketKey(now, 0)
	}
	return &ticketKeys{cur: randomTicketKey(now, prev.id), prev: prev}
}

// randomTicketKey draws a key and an ID other than avoid.
func randomTicketKey(now time.Time, avoid uint32) *ticketKey {
	var k [32]byte
	_, _ = rand.Read(k[:])
	var id uint32
	for id == avoid {
		var b [4]byte
		_, _ = rand.Read(b[:])
		id = binary.BigEndian.Uint32(b[:])
	}
	tk := ticketKeyFrom(id, &k, now)
	clear(k[:])
	return tk
}

// ticketKeyFrom builds a ticket key from its bytes (vectors use fixed ones).
func ticketKeyFrom(id uint32, key *[32]byte, now time.Time) *ticketKey {
	a, err := chacha20poly1305.NewX(key[:])
	if err != nil {
		panic("control: BUG: XChaCha20-Poly1305 key: " + err.Error()) // the key is always 32 bytes
	}
	return &ticketKey{id: id, aead: a, created: now}
}

// rotateTicketKeys draws a new ticket key once ticketRotation has passed.
// Only the janitor calls it, so there is one writer.
func (p *Plane) rotateTicketKeys(now time.Time) {
	k := p.tickets.Load()
	if now.Sub(k.cur.created) < ticketRotation {
		return
	}
	p.tickets.Store(newTicketKeys(k, now))
}

// ticketContents is what a ticket says.
type ticketContents struct {
	issued, chain time.Time // unix ms resolution
	suite         stc.Suite
	idI           stc.NodeID
	staticI       [32]byte
	idR           stc.NodeID
	res           [32]byte
}

func (t *ticketContents) wipe() { clear(t.res[:]) }

// plaintext encodes t as the ticket's sealed content.
func (t *ticketContents) plaintext() [ticketPlainLen]byte {
	var pt [ticketPlainLen]byte
	binary.BigEndian.PutUint64(pt[0:], uint64(t.issued.UnixMilli()))
	binary.BigEndian.PutUint64(pt[8:], uint64(t.chain.UnixMilli()))
	pt[16] = byte(t.suite)
	copy(pt[17:], t.idI[:])
	copy(pt[49:], t.staticI[:])
	copy(pt[81:], t.idR[:])
	copy(pt[113:], t.res[:])
	return pt
}

// sealTicket writes t sealed under k with nonce into out.
func sealTicket(out *[wire.TicketLen]byte, k *ticketKey, nonce *[chacha20poly1305.NonceSizeX]byte, t *ticketContents) {
	pt := t.plaintext()
	binary.BigEndian.PutUint32(out[:ticketKeyIDLen], k.id)
	copy(out[ticketNonceOffset:], nonce[:])
	sealed := k.aead.Seal(out[ticketSealedOffset:ticketSealedOffset], nonce[:], pt[:], out[:ticketKeyIDLen])
	if len(sealed) != wire.TicketLen-ticketSealedOffset {
		panic("control: BUG: ticket length")
	}
	clear(pt[:])
}

// errTicket is the one error of a ticket that does not open under a live
// key: unknown key ID (retired, another node's, or forged) or a failed tag.
var errTicket = errors.New("control: ticket does not open under a live ticket key")

// openTicket opens a ticket under the live keys.
func openTicket(keys *ticketKeys, b []byte, t *ticketContents) error {
	if len(b) != wire.TicketLen {
		return errTicket
	}
	var k *ticketKey
	switch id := binary.BigEndian.Uint32(b[:ticketKeyIDLen]); id {
	case keys.cur.id:
		k = keys.cur
	case keys.prev.id:
		k = keys.prev
	default:
		return errTicket
	}
	var buf [ticketPlainLen]byte
	pt, err := k.aead.Open(buf[:0], b[ticketNonceOffset:ticketSealedOffset], b[ticketSealedOffset:], b[:ticketKeyIDLen])
	if err != nil || len(pt) != ticketPlainLen {
		return errTicket
	}
	t.issued = time.UnixMilli(int64(binary.BigEndian.Uint64(pt[0:])))
	t.chain = time.UnixMilli(int64(binary.BigEndian.Uint64(pt[8:])))
	t.suite = stc.Suite(pt[16])
	copy(t.idI[:], pt[17:])
	copy(t.staticI[:], pt[49:])
	copy(t.idR[:], pt[81:])
	copy(t.res[:], pt[113:])
	clear(buf[:])
	return nil
}

// issueTicket returns the NEW_TICKET blob (lifetime ‖ ticket) for a
// session whose handshake finished at now with resumption secret res, in
// a chain that began at chain, or nil with resumption off.
func (p *Plane) issueTicket(now, chain time.Time, suite stc.Suite, idI stc.NodeID, staticI [32]byte, res *[32]byte) []byte {
	if !p.cfg.Resumption {
		return nil
	}
	t := ticketContents{issued: now, chain: chain, suite: suite, idI: idI, staticI: staticI, idR: p.cfg.Identity.ID(), res: *res}
	var nonce [chacha20poly1305.NonceSizeX]byte
	_, _ = rand.Read(nonce[:])
	var tk [wire.TicketLen]byte
	sealTicket(&tk, p.tickets.Load().cur, &nonce, &t)
	t.wipe()
	blob := make([]byte, wire.NewTicketLen)
	wire.PutNewTicket(blob, uint32(ticketLifetime/time.Second), tk[:])
	p.st.ticketsIssued.Add(1)
	return blob
}

// checkTicket applies the responder's policy to an opened ticket: issued
// by us, unexpired, its chain young enough, its suite one we accept and
// its initiator allowed. It does not look at freshness or replays.
func (p *Plane) checkTicket(t *ticketContents, now time.Time) bool {
	return t.idR == p.cfg.Identity.ID() &&
		now.Before(t.issued.Add(ticketLifetime)) && !now.Before(t.issued.Add(-resumeWindow)) &&
		now.Sub(t.chain) <= maxResumeChain &&
		t.suite.Valid() && p.accepts(t.suite) &&
		p.allowed(t.idI)
}

// accepts reports whether s is one of Config.Suites.
func (p *Plane) accepts(s stc.Suite) bool {
	for _, c := range p.cfg.Suites {
		if c == s {
			return true
		}
	}
	return false
}

// resumeReplay remembers the ephemeral key of every RESUME a responder
// accepted, in two generations of 2 × resumeWindow each: a RESUME is
// accepted only within resumeWindow of the time its ticket and age say, so
// two copies of one RESUME can both pass that check only within 2 ×
// resumeWindow of each other, and an entry stays in memory at least that
// long (until the second rotation after its insertion). A full current
// generation refuses instead of forgetting early. Guarded by Plane.mu.
type resumeReplay struct {
	cur, prev map[[32]byte]struct{}
	rotated   time.Time
}

// rotate starts a new generation once the current one is 2 × resumeWindow
// old: an entry inserted at t moves to prev at the first rotation after t
// and is dropped at the next, at least 2 × resumeWindow later.
func (r *resumeReplay) rotate(now time.Time) {
	switch age := now.Sub(r.rotated); {
	case r.rotated.IsZero():
		r.rotated = now
	case age >= 4*resumeWindow:
		// Every entry of cur went in less than 2 × resumeWindow after
		// rotated, so its time is up too.
		r.prev, r.cur, r.rotated = nil, nil, now
	case age >= 2*resumeWindow:
		r.prev, r.cur, r.rotated = r.cur, nil, now
	}
}

// insert records e; seen reports a replay, full a current generation at
// its cap (e not recorded: refuse the RESUME).
func (r *resumeReplay) insert(e *[32]byte, now time.Time) (seen, full bool) {
	r.rotate(now)
	if _, ok := r.cur[*e]; ok {
		return true, false
	}
	if _, ok := r.prev[*e]; ok {
		return true, false
	}
	if len(r.cur) >= resumeReplayMax {
		return false, true
	}
	if r.cur == nil {
		r.cur = make(map[[32]byte]struct{})
	}
	r.cur[*e] = struct{}{}
	return false, false
}

// ticketEntry is a ticket an initiator holds for an address.
type ticketEntry struct {
	ticket     [wire.TicketLen]byte
	res        [32]byte
	peerID     stc.NodeID
	peerStatic [32]byte
	suite      stc.Suite
	received   time.Time // on the Plane's clock: the ticket age counts from here
	expires    time.Time
}

// pendingTicket is what an initiator keeps for a session it established
// until the session's NEW_TICKET arrives: everything a ticketEntry needs
// but the ticket.
type pendingTicket struct {
	to         netip.AddrPort
	res        [32]byte
	peerID     stc.NodeID
	peerStatic [32]byte
	suite      stc.Suite
	expires    time.Time
}

// addPending records a session the initiator installed, for its ticket.
func (p *Plane) addPending(est *Established, res *[32]byte, now time.Time) {
	if !p.cfg.Resumption {
		return
	}
	pt := &pendingTicket{to: unmap(est.Peer), res: *res, peerID: est.PeerID, peerStatic: est.PeerStatic, suite: est.Suite,
		expires: now.Add(pendingTicketLife)}
	p.mu.Lock()
	if len(p.mu.pending) >= pendingTicketsMax {
		for k := range p.mu.pending { // evict an arbitrary entry: bounded memory wins
			delete(p.mu.pending, k)
			break
		}
	}
	p.mu.pending[est.SessionID] = pt
	p.mu.Unlock()
}

// removePending forgets the pending ticket of a session that did not install.
func (p *Plane) removePending(id wire.SessionID) {
	if !p.cfg.Resumption {
		return
	}
	p.mu.Lock()
	delete(p.mu.pending, id)
	p.mu.Unlock()
}

// ErrNoTicketWanted is wrapped by StoreTicket's error for a session that
// is not ours, already has its ticket, or was established more than a
// minute ago (or with resumption off).
var ErrNoTicketWanted = errors.New("control: no ticket expected for this session")

// StoreTicket keeps the NEW_TICKET blob (wire.NewTicketLen bytes: lifetime
// ‖ ticket) the peer sent in the session id, which this Plane established
// as initiator, so that the next Dial to the same address can resume
// (docs/HANDSHAKE.md "Resumption"). The data plane calls it when a
// NEW_TICKET frame arrives. blob is borrowed for the call. One ticket is
// kept per address, the newest. It never blocks on the network, takes the
// plane's lock briefly and allocates one small entry. Errors: a
// *wire.ParseError for a blob of the wrong size, or one wrapping
// ErrNoTicketWanted.
func (p *Plane) StoreTicket(id wire.SessionID, blob []byte) error {
	lifetime, ticket, err := wire.ParseNewTicket(blob)
	if err != nil {
		return err
	}
	now := p.cfg.Now()
	life := min(time.Duration(lifetime)*time.Second, maxTicketLifetime)
	p.mu.Lock()
	defer p.mu.Unlock()
	pt := p.mu.pending[id]
	if pt == nil {
		return fmt.Errorf("%w: session %#x", ErrNoTicketWanted, uint64(id))
	}
	delete(p.mu.pending, id)
	if life <= 0 {
		return nil // the peer issues no usable ticket
	}
	e := &ticketEntry{res: pt.res, peerID: pt.peerID, peerStatic: pt.peerStatic, suite: pt.suite, received: now, expires: now.Add(life)}
	copy(e.ticket[:], ticket)
	if _, ok := p.mu.tickets[pt.to]; !ok && len(p.mu.tickets) >= ticketCacheSize {
		for k := range p.mu.tickets {
			delete(p.mu.tickets, k)
			break
		}
	}
	p.mu.tickets[pt.to] = e
	p.st.ticketsStored.Add(1)
	return nil
}

// ticketFor returns a copy of the ticket held for to, if it is still
// valid and usable with the current configuration.
func (p *Plane) ticketFor(to netip.AddrPort, now time.Time) *ticketEntry {
	p.mu.Lock()
	e := p.mu.tickets[unmap(to)]
	var c ticketEntry
	if e != nil {
		c = *e
	}
	p.mu.Unlock()
	if e == nil || !now.Before(c.expires) || !p.accepts(c.suite) || !p.allowed(c.peerID) {
		return nil
	}
	return &c
}

// dropTicket forgets the ticket held for to if it is still t (the
// responder refused it).
func (p *Plane) dropTicket(to netip.AddrPort, t *[wire.TicketLen]byte) {
	p.mu.Lock()
	if e := p.mu.tickets[unmap(to)]; e != nil && e.ticket == *t {
		delete(p.mu.tickets, unmap(to))
	}
	p.mu.Unlock()
}

// unmap returns a with an IPv4-mapped address unmapped.
func unmap(a netip.AddrPort) netip.AddrPort {
	return netip.AddrPortFrom(a.Addr().Unmap(), a.Port())
}
