package control

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/subtle"
	"net/netip"
	"sync"
	"time"

	"github.com/stt-go/stt/wire"
)

// cookieState holds the rotating cookie secret (docs/HANDSHAKE.md
// "Cookies"). A cookie is HMAC-SHA256(secret, IP16 ‖ port)[:16]: stateless,
// bound to the source address, valid for the current and previous secret.
type cookieState struct {
	mu      sync.RWMutex // protects cur, prev, rotated
	cur     [32]byte
	prev    [32]byte
	rotated time.Time
}

func (c *cookieState) init(now time.Time) {
	_, _ = rand.Read(c.cur[:])
	_, _ = rand.Read(c.prev[:])
	c.rotated = now
}

// rotate replaces the secret once cookieRotation has passed.
func (c *cookieState) rotate(now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if now.Sub(c.rotated) < cookieRotation {
		return
	}
	c.prev = c.cur
	_, _ = rand.Read(c.cur[:])
	c.rotated = now
}

// make returns the cookie for addr under the current secret.
func (c *cookieState) make(addr netip.AddrPort) [wire.CookieLen]byte {
	c.mu.RLock()
	k := c.cur
	c.mu.RUnlock()
	return cookieFor(&k, addr)
}

// valid reports whether cookie was made for addr under the current or
// previous secret. It does not allocate.
func (c *cookieState) valid(cookie []byte, addr netip.AddrPort) bool {
	c.mu.RLock()
	cur, prev := c.cur, c.prev
	c.mu.RUnlock()
	a := cookieFor(&cur, addr)
	b := cookieFor(&prev, addr)
	return subtle.ConstantTimeCompare(a[:], cookie)|subtle.ConstantTimeCompare(b[:], cookie) == 1
}

func cookieFor(secret *[32]byte, addr netip.AddrPort) [wire.CookieLen]byte {
	var in [18]byte
	a16 := addr.Addr().As16()
	copy(in[:], a16[:])
	in[16], in[17] = byte(addr.Port()>>8), byte(addr.Port())
	m := hmacSHA256(secret, in[:], nil)
	var out [wire.CookieLen]byte
	copy(out[:], m[:])
	return out
}

// cookieEntry is a cookie an initiator received, reused for fresh HELLOs.
type cookieEntry struct {
	cookie  [wire.CookieLen]byte
	expires time.Time
}

// replayCache remembers authenticated HELLO ephemerals (bounded FIFO). An
// entry older than the freshness window no longer matters: such a HELLO
// fails the freshness check first. Guarded by Plane.mu.
type replayCache struct {
	seen map[[32]byte]struct{}
	ring [][32]byte
	next int
}

func (r *replayCache) init(n int) {
	r.seen = make(map[[32]byte]struct{}, n)
	r.ring = make([][32]byte, 0, n)
}

// insert adds e and reports false if it was already present.
func (r *replayCache) insert(e [32]byte) bool {
	if _, ok := r.seen[e]; ok {
		return false
	}
	if len(r.ring) < cap(r.ring) {
		r.ring = append(r.ring, e)
	} else {
		delete(r.seen, r.ring[r.next])
		r.ring[r.next] = e
		r.next = (r.next + 1) % len(r.ring)
	}
	r.seen[e] = struct{}{}
	return true
}

// ledgerEntry counts bytes exchanged with an address not yet validated by
// an AUTH_PROOF (amplification limit, Invariant 2).
type ledgerEntry struct {
	recv, sent uint64
	validated  bool // an AUTH_PROOF from this address opened: no limit
	expires    time.Time
}

// ledgerRecvLocked credits n received bytes to addr, creating the entry
// when create is set (only after a HELLO authenticated, so forged traffic
// cannot fill the ledger). Caller holds p.mu.
func (p *Plane) ledgerRecvLocked(addr netip.Addr, n int, create bool, now time.Time) {
	l := p.mu.ledger[addr]
	if l == nil {
		if !create {
			return
		}
		if len(p.mu.ledger) >= ledgerSize {
			for k := range p.mu.ledger { // evict an arbitrary entry: bounded memory wins
				delete(p.mu.ledger, k)
				break
			}
		}
		l = &ledgerEntry{}
		p.mu.ledger[addr] = l
	}
	l.recv += uint64(n)
	l.expires = now.Add(2 * p.cfg.HandshakeTimeout)
}

// ledgerSendLocked reports whether n more bytes may go to addr, and books
// them if so. Caller holds p.mu.
func (p *Plane) ledgerSendLocked(addr netip.Addr, n int) bool {
	l := p.mu.ledger[addr]
	if l != nil && l.validated {
		return true
	}
	if l == nil || l.sent+uint64(n) > amplificationFactor*l.recv {
		p.st.ampCap.Add(1)
		return false
	}
	l.sent += uint64(n)
	return true
}

// ledgerValidateLocked marks addr validated (an AUTH_PROOF from it opened):
// it has proved it receives our packets, so the limit no longer applies
// until the entry expires. Caller holds p.mu.
func (p *Plane) ledgerValidateLocked(addr netip.Addr, now time.Time) {
	p.ledgerRecvLocked(addr, 0, true, now)
	p.mu.ledger[addr].validated = true
}

// tokenBucket rate-limits REJECTs.
type tokenBucket struct {
	mu     sync.Mutex // protects all fields
	rate   float64
	tokens float64
	last   time.Time
}

func (t *tokenBucket) take(now time.Time) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.tokens = min(t.rate, t.tokens+now.Sub(t.last).Seconds()*t.rate)
	t.last = now
	if t.tokens < 1 {
		return false
	}
	t.tokens--
	return true
}

// rejectTag authenticates a collision REJECT under a key only the two
// handshake parties hold (derived from the final chaining key).
func rejectTag(key *[32]byte, hdr []byte) [wire.TagLen]byte {
	m := hmacSHA256(key, hdr, nil)
	var t [wire.TagLen]byte
	copy(t[:], m[:])
	return t
}

// rejectTagValid checks a collision REJECT.
func rejectTagValid(key *[32]byte, hdr, tag []byte) bool {
	t := rejectTag(key, hdr)
	return hmac.Equal(t[:], tag)
}
