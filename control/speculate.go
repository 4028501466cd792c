package control

import (
	"crypto/ecdh"
	"net/netip"
	"sync"
	"sync/atomic"

	"github.com/stt-go/stt/stc"
)

// Speculative DH for returning peers. Two DHs of a full handshake need the
// peer's static key, which arrives sealed in the handshake itself: es at
// the initiator (its ephemeral with the responder's static key, after the
// RESPONSE) and se at the responder (its ephemeral with the initiator's
// static key, after AUTH_PROOF). When the node completed a handshake with
// that peer before, it knows the key to expect: the initiator by the
// address it dials, the responder by the node ID the HELLO claims. It then
// computes the DH in the background while the messages travel, and uses
// the result only if the static key that opens is the one it guessed;
// otherwise it computes the DH as usual. One DH leaves each side's
// critical path; the CPU spent is the same (one DH wasted on a wrong
// guess). Nothing here touches the transcript.

// staticCache remembers peers' static keys from completed handshakes,
// bounded (an arbitrary entry is evicted at the cap).
type staticCache[K comparable] struct {
	mu sync.Mutex // protects m
	m  map[K][32]byte
}

// staticCacheSize bounds each cache (entries of 32-byte keys).
const staticCacheSize = 1024

func (c *staticCache[K]) get(k K) ([32]byte, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	s, ok := c.m[k]
	return s, ok
}

func (c *staticCache[K]) put(k K, s [32]byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = make(map[K][32]byte)
	}
	if _, ok := c.m[k]; !ok && len(c.m) >= staticCacheSize {
		for old := range c.m {
			delete(c.m, old)
			break
		}
	}
	c.m[k] = s
}

// peerKeys are a Plane's caches: the responders' static keys by dialled
// address, the initiators' by node ID.
type peerKeys struct {
	byAddr staticCache[netip.AddrPort]
	byID   staticCache[stc.NodeID]
}

// speculation is one DH computed ahead: priv with the guessed public key.
// Whoever claims it first computes it — the background goroutine, or the
// handshake that needs it before that goroutine ran — so waiting for it
// never takes longer than computing it would.
type speculation struct {
	priv  *ecdh.PrivateKey
	guess [32]byte
	state atomic.Int32  // specIdle, then specClaimed
	done  chan struct{} // closed once out and err are set
	out   []byte
	err   error
}

const (
	specIdle = iota
	specClaimed
)

// newSpeculation prepares the DH of priv with guess; start runs it in the
// background.
func newSpeculation(priv *ecdh.PrivateKey, guess [32]byte) *speculation {
	return &speculation{priv: priv, guess: guess, done: make(chan struct{})}
}

// start computes the DH on a new goroutine unless the handshake claims it
// first. It does nothing on a nil s.
func (s *speculation) start() {
	if s != nil {
		go s.run()
	}
}

// run computes the DH unless the handshake has claimed it.
func (s *speculation) run() {
	if s.state.CompareAndSwap(specIdle, specClaimed) {
		s.compute()
	}
}

func (s *speculation) compute() {
	pub, err := ecdh.X25519().NewPublicKey(s.guess[:])
	if err == nil {
		s.out, err = s.priv.ECDH(pub)
	}
	s.err = err
	close(s.done)
}

// dh returns DH(priv, peer): the speculated result when peer is the key
// guessed (waiting for the background computation, or doing it here if it
// has not started), else a fresh computation. s may be nil.
func (s *speculation) dh(priv *ecdh.PrivateKey, peer *ecdh.PublicKey, peerBytes *[32]byte) ([]byte, error) {
	if s == nil || s.guess != *peerBytes {
		return priv.ECDH(peer)
	}
	if s.state.CompareAndSwap(specIdle, specClaimed) {
		s.compute()
	} else {
		<-s.done
	}
	return s.out, s.err
}
