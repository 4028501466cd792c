package control

import (
	"net/netip"
	"testing"
	"testing/synctest"

	"github.com/stt-go/stt/wire"
)

// mutations returns every truncation and single-bit flip of msg that the
// test budget allows: all of them for short messages; for the ML-KEM fields
// (over 1 KB of opaque key material hashed as a whole) every stride-th bit.
func mutations(msg []byte, kemFrom, kemTo int) [][]byte {
	stride := 1
	if raceEnabled || testing.Short() {
		stride = 7
	}
	var out [][]byte
	for n := 0; n < len(msg); n += stride {
		out = append(out, msg[:n])
	}
	for bit := 0; bit < len(msg)*8; bit++ {
		i := bit / 8
		s := stride
		if i >= kemFrom && i < kemTo {
			s = 31 * stride
		}
		if bit%s != 0 && i > 12 {
			continue
		}
		m := append([]byte(nil), msg...)
		m[i] ^= 1 << (bit % 8)
		out = append(out, m)
	}
	return out
}

// TestMutations delivers every truncation and bit flip of each handshake
// message to the party that processes it, after the genuine earlier
// messages, and checks none is accepted; then the genuine message completes
// the handshake.
func TestMutations(t *testing.T) {
	for _, hybrid := range []bool{false, true} {
		t.Run(map[bool]string{false: "x25519", true: "hybrid"}[hybrid], func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) { testMutations(t, hybrid) })
		})
	}
}

func testMutations(t *testing.T, hybrid bool) {
	p := newPair(t, hybrid, nil)
	var resp []byte
	p.net.filter = func(from, _ netip.AddrPort, b []byte) []byte {
		if from == addrB && resp == nil {
			resp = b
			return nil // hold RESPONSE back
		}
		return nil
	}
	// HELLO: build one at A, offer mutations to B directly.
	d := &dial{to: addrB, in: make(chan *packet, dialInbox), hybrid: hybrid}
	for i, s := range p.a.cfg.Suites {
		d.suites[i] = byte(s)
	}
	p.a.startHello(d)
	defer p.a.unregister(d)
	hello := append([]byte(nil), d.hello[:d.nHello]...)
	w := newWorkerScratch()
	sentBefore := len(p.net.sent)
	for _, m := range mutations(hello, wire.HelloKEMOffset, wire.HelloKEMOffset+wire.KEMEncapKeyLen) {
		p.b.handleHello(w, m, addrA, p.b.cfg.Now())
	}
	if halfOpen(p.b) != 0 || len(p.net.sent) != sentBefore {
		t.Fatalf("a mutated HELLO was answered: halfOpen %d, sent %d", halfOpen(p.b), len(p.net.sent)-sentBefore)
	}
	p.b.handleHello(w, hello, addrA, p.b.cfg.Now())
	if halfOpen(p.b) != 1 || resp == nil {
		t.Fatal("genuine HELLO not answered")
	}
	// RESPONSE: mutations at A's finish.
	var proof [wire.AuthProofLen]byte
	var rk [32]byte
	for _, m := range mutations(resp, wire.ResponseKEMOffset, wire.ResponseKEMOffset+wire.KEMCiphertextLen) {
		if est, err := p.a.finish(d, m, &proof, &rk); err == nil || est != nil {
			t.Fatalf("mutated RESPONSE (len %d, diff at %d) accepted", len(m), firstDiff(m, resp))
		}
	}
	if p.dpA.count() != 0 {
		t.Fatal("session installed from a mutated RESPONSE")
	}
	est, err := p.a.finish(d, resp, &proof, &rk)
	if err != nil {
		t.Fatalf("genuine RESPONSE: %v", err)
	}
	// AUTH_PROOF: mutations at B.
	for _, m := range mutations(proof[:], 0, 0) {
		p.b.handleAuthProof(m, addrA)
	}
	if p.dpB.count() != 0 || halfOpen(p.b) != 1 {
		t.Fatalf("mutated AUTH_PROOF accepted: sessions %d halfOpen %d", p.dpB.count(), halfOpen(p.b))
	}
	p.b.handleAuthProof(proof[:], addrA)
	if p.dpB.session(est.SessionID) == nil || halfOpen(p.b) != 0 {
		t.Fatal("genuine AUTH_PROOF did not install")
	}
	select {
	case <-est.Confirmed:
	default:
		t.Fatal("initiator not confirmed")
	}
	// A duplicate AUTH_PROOF for the installed session is ignored.
	p.b.handleAuthProof(proof[:], addrA)
	if p.dpB.installs != 1 {
		t.Errorf("installs = %d after duplicate AUTH_PROOF", p.dpB.installs)
	}
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}
