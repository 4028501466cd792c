package control

import (
	"bytes"
	"crypto/ecdh"
	"encoding/hex"
	"fmt"
	"net/netip"
	"os"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stt-go/stt/wire"
)

func fixedEphemeral(t *testing.T, b byte) ephemeral {
	t.Helper()
	k, err := ecdh.X25519().NewPrivateKey(bytes.Repeat([]byte{b}, 32))
	if err != nil {
		t.Fatal(err)
	}
	e := ephemeral{priv: k}
	copy(e.pub[:], k.PublicKey().Bytes())
	return e
}

// vectorTranscript runs the non-hybrid handshake with every random choice
// fixed (docs/HANDSHAKE.md "Test vectors") and returns name → hex.
func vectorTranscript(t *testing.T) [][2]string {
	var out [][2]string
	synctest.Test(t, func(t *testing.T) {
		now := time.UnixMilli(1_780_000_000_000)
		p := newPair(t, false, func(a, b *Config) {
			a.Now = func() time.Time { return now }
			b.Now = a.Now
		})
		p.dpB.loops = 1
		var resp []byte
		p.net.filter = func(from, _ netip.AddrPort, b []byte) []byte {
			if from == addrB {
				resp = b
			}
			return nil
		}
		d := &dial{to: addrB}
		d.id, d.e = 0x0102030405060708, fixedEphemeral(t, 0x11)
		for i, s := range p.a.cfg.Suites {
			d.suites[i] = byte(s)
		}
		for i := range d.nonce {
			d.nonce[i] = 0x33
		}
		p.a.buildHello(d, nil, now)
		hello := d.hello[:d.nHello]
		fixed := &respInputs{e: fixedEphemeral(t, 0x22)}
		for i := range fixed.nonce {
			fixed.nonce[i] = 0x44
		}
		p.b.helloWith(newWorkerScratch(), hello, addrA, now, fixed)
		if resp == nil {
			t.Fatal("no RESPONSE")
		}
		var proof [wire.AuthProofLen]byte
		var rk [32]byte
		est, err := p.a.finish(d, resp, &proof, &rk)
		if err != nil {
			t.Fatal(err)
		}
		p.b.handleAuthProof(proof[:], addrA)
		if er := p.dpB.session(est.SessionID); er == nil || !er.sendSecret.Equal(est.recvSecret) {
			t.Fatal("responder did not complete the vector handshake")
		}
		out = [][2]string{
			{"psk", hex.EncodeToString(p.a.cfg.PSK[:])},
			{"hello", hex.EncodeToString(hello)},
			{"response", hex.EncodeToString(resp)},
			{"auth_proof", hex.EncodeToString(proof[:])},
			{"session_id", fmt.Sprintf("%016x", uint64(est.SessionID))},
			{"key_i2r", hex.EncodeToString(est.sendSecret.Bytes())},
			{"key_r2i", hex.EncodeToString(est.recvSecret.Bytes())},
		}
	})
	return out
}

// TestVectors checks the hex vectors in docs/HANDSHAKE.md against the
// implementation. STT_PRINT_VECTORS=1 prints the block to paste.
func TestVectors(t *testing.T) {
	got := vectorTranscript(t)
	if os.Getenv("STT_PRINT_VECTORS") != "" {
		for _, kv := range got {
			fmt.Printf("%s = %s\n", kv[0], kv[1])
		}
	}
	doc := markdownBlocks(t, handshakeMD)["# handshake x25519"]
	for _, kv := range got {
		if doc[kv[0]] != kv[1] {
			t.Errorf("docs/HANDSHAKE.md %s:\n doc  %s\n code %s", kv[0], doc[kv[0]], kv[1])
		}
	}
}
