package control

import (
	"bytes"
	"crypto/ecdh"
	"encoding/binary"
	"net/netip"
	"testing"
	"testing/synctest"
	"time"

	"github.com/flynn/noise"

	"github.com/stt-go/stt/stc"
	"github.com/stt-go/stt/wire"
)

var flynnSuite = noise.NewCipherSuite(noise.DH25519, noise.CipherChaChaPoly, noise.HashSHA256)

// idPrivate is the static private key of a test identity, derived from
// its node seed as stc does (docs/PROTOCOL.md "Key schedule and
// identity"), for the reference Noise implementation: stc.Identity never
// hands its key out. The derivation is checked against the public key.
func idPrivate(t *testing.T, id *stc.Identity) []byte {
	t.Helper()
	sd, ok := testSeeds.Load(id)
	if !ok {
		t.Fatal("identity not made by testConfig")
	}
	priv := stc.Expand(stc.Extract(nil, sd.([]byte)), "stt node static", 32)
	k, err := ecdh.X25519().NewPrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	if pub := id.Public(); !bytes.Equal(k.PublicKey().Bytes(), pub[:]) {
		t.Fatal("derived static key does not match the identity")
	}
	return priv
}

func flynnState(t *testing.T, initiator bool, id *stc.Identity, psk [32]byte, prologue []byte, eph *noise.DHKey) *noise.HandshakeState {
	t.Helper()
	pub := id.Public()
	cfg := noise.Config{
		CipherSuite: flynnSuite, Pattern: noise.HandshakeXX, Initiator: initiator,
		Prologue: prologue, PresharedKey: psk[:], PresharedKeyPlacement: 0,
		StaticKeypair: noise.DHKey{Private: idPrivate(t, id), Public: pub[:]},
	}
	if eph != nil {
		cfg.EphemeralKeypair = *eph
	}
	hs, err := noise.NewHandshakeState(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return hs
}

func prologueOf(hdr []byte) []byte { return append([]byte(prologueLabel), hdr...) }

// TestDifferentialFlynnResponder runs our initiator against
// github.com/flynn/noise as the responder (non-hybrid XXpsk0): every byte
// flynn reads must open, and the split keys must be equal.
func TestDifferentialFlynnResponder(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newPair(t, false, nil)
		p.net.filter = func(_, _ netip.AddrPort, b []byte) []byte { return nil }
		d := &dial{to: addrB, in: make(chan *packet, dialInbox)}
		for i, s := range p.a.cfg.Suites {
			d.suites[i] = byte(s)
		}
		p.a.startHello(d)
		defer p.a.unregister(d)
		hello := d.hello[:d.nHello]
		hs := flynnState(t, false, p.b.cfg.Identity, p.b.cfg.PSK, prologueOf(hello[:wire.HelloHeaderLen]), nil)
		pl1, _, _, err := hs.ReadMessage(nil, hello[wire.HelloEphemeralOffset:])
		if err != nil {
			t.Fatalf("flynn cannot read our HELLO: %v", err)
		}
		idA := p.a.cfg.Identity.ID()
		if !bytes.Equal(pl1[32:64], idA[:]) || !bytes.Equal(pl1[:32], d.nonce[:]) {
			t.Fatal("HELLO payload differs")
		}
		// flynn writes message 2 with an STT RESPONSE payload.
		var pl2 [wire.ResponsePayloadLen]byte
		pl2[0] = 0x42
		idB := p.b.cfg.Identity.ID()
		copy(pl2[32:64], idB[:])
		pl2[64] = byte(stc.SuiteChaCha20Poly1305)
		putParams(pl2[65:], &p.b.cfg.Params)
		msg2, _, _, err := hs.WriteMessage(nil, pl2[:])
		if err != nil {
			t.Fatal(err)
		}
		resp := make([]byte, wire.HandshakePrefixLen, wire.ResponseLen)
		wire.PutHandshakePrefix(resp, d.id, wire.HandshakeResponse)
		resp = append(resp, msg2...)
		var proof [wire.AuthProofLen]byte
		var rk [32]byte
		est, err := p.a.finish(d, resp, &proof, &rk)
		if err != nil {
			t.Fatalf("our initiator rejects flynn's message 2: %v", err)
		}
		pl3, cs1, cs2, err := hs.ReadMessage(nil, proof[wire.AuthProofStaticOffset:])
		if err != nil {
			t.Fatalf("flynn cannot read our AUTH_PROOF: %v", err)
		}
		nonceR := [32]byte(pl2[:32])
		if sid := sessionID(&d.nonce, &nonceR, idA, idB); binary.BigEndian.Uint64(pl3[:8]) != uint64(sid) || est.SessionID != sid {
			t.Error("session ID differs")
		}
		if cs1.UnsafeKey() != [32]byte(est.sendSecret.Bytes()) || cs2.UnsafeKey() != [32]byte(est.recvSecret.Bytes()) {
			t.Error("split keys differ from flynn/noise")
		}
	})
}

// TestDifferentialFlynnInitiator runs github.com/flynn/noise as the
// initiator (fixed ephemeral) against our responder.
func TestDifferentialFlynnInitiator(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newPair(t, false, nil)
		var resp []byte
		p.net.filter = func(from, _ netip.AddrPort, b []byte) []byte {
			if from == addrB {
				resp = b
			}
			return nil
		}
		eph, err := flynnSuite.GenerateKeypair(bytes.NewReader(bytes.Repeat([]byte{7}, 32)))
		if err != nil {
			t.Fatal(err)
		}
		hdr := make([]byte, wire.HelloHeaderLen)
		wire.PutHandshakePrefix(hdr, 0x0102030405060708, wire.HandshakeHello)
		hdr[wire.HelloSuitesOffset] = byte(stc.SuiteChaCha20Poly1305)
		hs := flynnState(t, true, p.a.cfg.Identity, p.a.cfg.PSK, prologueOf(hdr), &eph)
		var pl1 [wire.HelloPayloadLen]byte
		var nonce [32]byte
		nonce[3] = 9
		idA := p.a.cfg.Identity.ID()
		copy(pl1[:32], nonce[:])
		copy(pl1[32:64], idA[:])
		c := commitment(idA, &nonce)
		copy(pl1[64:96], c[:])
		binary.BigEndian.PutUint64(pl1[96:104], uint64(time.Now().UnixMilli()))
		copy(pl1[104:108], hdr[wire.HelloSuitesOffset:wire.HelloCookieOffset])
		msg1, _, _, err := hs.WriteMessage(nil, pl1[:])
		if err != nil {
			t.Fatal(err)
		}
		hello := append(hdr, msg1...)
		p.b.handleHello(newWorkerScratch(), hello, addrA, time.Now())
		if resp == nil {
			t.Fatal("our responder did not answer flynn's HELLO")
		}
		pl2, _, _, err := hs.ReadMessage(nil, resp[wire.ResponseEphemeralOffset:])
		if err != nil {
			t.Fatalf("flynn cannot read our RESPONSE: %v", err)
		}
		nonceR := [32]byte(pl2[:32])
		sid := sessionID(&nonce, &nonceR, idA, stc.NodeID(pl2[32:64]))
		var pl3 [wire.AuthProofPayloadLen]byte
		binary.BigEndian.PutUint64(pl3[:8], uint64(sid))
		msg3, cs1, cs2, err := hs.WriteMessage(nil, pl3[:])
		if err != nil {
			t.Fatal(err)
		}
		proof := make([]byte, wire.HandshakePrefixLen, wire.AuthProofLen)
		wire.PutHandshakePrefix(proof, 0x0102030405060708, wire.HandshakeAuthProof)
		p.b.handleAuthProof(append(proof, msg3...), addrA)
		est := p.dpB.session(sid)
		if est == nil {
			t.Fatal("our responder did not install flynn's session")
		}
		if cs1.UnsafeKey() != [32]byte(est.recvSecret.Bytes()) || cs2.UnsafeKey() != [32]byte(est.sendSecret.Bytes()) {
			t.Error("split keys differ from flynn/noise")
		}
	})
}
