package control

import (
	"bytes"
	"net/netip"
	"testing"
)

// TestSpeculation: the speculated DH equals a fresh one whether the
// background goroutine ran first, the handshake claimed it first, or the
// guess was wrong (then the guess is not used).
func TestSpeculation(t *testing.T) {
	e, peer, other := newEphemeral(), newEphemeral(), newEphemeral()
	want, err := e.priv.ECDH(peer.priv.PublicKey())
	if err != nil {
		t.Fatal(err)
	}
	check := func(name string, s *speculation, pub [32]byte) {
		t.Helper()
		p := peer.priv.PublicKey()
		if pub != peer.pub {
			p = other.priv.PublicKey()
		}
		got, err := s.dh(e.priv, p, &pub)
		w := want
		if pub != peer.pub {
			w, _ = e.priv.ECDH(p)
		}
		if err != nil || !bytes.Equal(got, w) {
			t.Errorf("%s: %x, %v", name, got, err)
		}
	}
	ran := newSpeculation(e.priv, peer.pub)
	ran.run() // as the background goroutine would
	check("background first", ran, peer.pub)
	check("claimed by the handshake", newSpeculation(e.priv, peer.pub), peer.pub)
	check("wrong guess", newSpeculation(e.priv, peer.pub), other.pub)
	check("none", nil, peer.pub)
	s := newSpeculation(e.priv, peer.pub)
	s.start()
	check("racing", s, peer.pub)
}

// TestSpeculationWrongGuess: the node at an address changed its static key
// (another node seed) since the last handshake; the initiator's guess for
// es is wrong and the handshake completes with the new node all the same.
func TestSpeculationWrongGuess(t *testing.T) {
	p := newPair(t, true, nil)
	dialOK(t, p.a, addrB, nil)
	if _, ok := p.a.peers.byAddr.get(addrB); !ok {
		t.Fatal("responder's static key not cached")
	}
	if _, ok := p.b.peers.byID.get(p.a.cfg.Identity.ID()); !ok {
		t.Fatal("initiator's static key not cached")
	}
	// B restarts with another node seed on the same address.
	cb := testConfig(t, 7, 100, true)
	nb, err := NewPlane(cb, p.dpB)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nb.Close() })
	p.b.Close()
	p.dpB.plane = nb
	est := dialOK(t, p.a, addrB, nil)
	if est.PeerID != cb.Identity.ID() {
		t.Fatal("wrong peer")
	}
	if s := p.dpB.session(est.SessionID); s == nil || s.RecvSecret != est.SendSecret {
		t.Fatal("keys differ")
	}
	if k, _ := p.a.peers.byAddr.get(addrB); k != cb.Identity.Public() {
		t.Fatal("cache not updated to the new key")
	}
	var zero netip.AddrPort
	if _, ok := p.a.peers.byAddr.get(zero); ok {
		t.Fatal("cache holds the zero address")
	}
}
