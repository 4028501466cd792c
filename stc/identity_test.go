package stc

import (
	"bytes"
	"crypto/ecdh"
	"crypto/hkdf"
	"crypto/sha256"
	"crypto/sha3"
	"errors"
	"strings"
	"testing"
)

func TestNewIdentity(t *testing.T) {
	seed := seqBytes(0x20, 32)
	id, err := NewIdentity(seed)
	if err != nil {
		t.Fatal(err)
	}
	// Independent derivation: crypto/hkdf.Key then crypto/ecdh.
	scalar, _ := hkdf.Key(sha256.New, seed, nil, "stt/1 stt node static", 32)
	priv, _ := ecdh.X25519().NewPrivateKey(scalar)
	pub := id.Public()
	if !bytes.Equal(pub[:], priv.PublicKey().Bytes()) || !id.priv.Equal(priv) {
		t.Fatal("static key differs from HKDF → X25519 reference")
	}
	wantID := sha3.Sum256(append([]byte("stt/1 node id"), pub[:]...))
	if id.ID() != NodeID(wantID) || NodeIDFromPublic(pub) != NodeID(wantID) {
		t.Fatal("node ID differs from SHA3-256(label ‖ pub)")
	}
	again, _ := NewIdentity(seed)
	if again.ID() != id.ID() || again.Public() != id.Public() {
		t.Fatal("identity not deterministic")
	}
	other, _ := NewIdentity(seqBytes(0x21, 32))
	if other.ID() == id.ID() {
		t.Fatal("different seeds, same ID")
	}
	// The two static keys agree on a shared secret (what Noise's se/es use).
	s1, err1 := id.priv.ECDH(other.priv.PublicKey())
	s2, err2 := other.priv.ECDH(id.priv.PublicKey())
	if err1 != nil || err2 != nil || !bytes.Equal(s1, s2) {
		t.Fatalf("ECDH between identities: %v %v", err1, err2)
	}
	// A node seed equal to the shared seed must not yield the PSK as key.
	psk, _ := DerivePSK(seed)
	if bytes.Equal(psk[:], scalar) {
		t.Fatal("node static key equals PSK for the same seed")
	}
}

func TestNewIdentitySeedLength(t *testing.T) {
	for _, n := range []int{0, 1, 31} {
		_, err := NewIdentity(make([]byte, n))
		if !errors.Is(err, ErrSeedTooShort) || !strings.Contains(err.Error(), "node seed") {
			t.Errorf("len %d: err %v, want ErrSeedTooShort naming the node seed", n, err)
		}
	}
	if _, err := NewIdentity(make([]byte, 32)); err != nil {
		t.Errorf("32 zero bytes: %v", err)
	}
}

func TestNodeIDFormat(t *testing.T) {
	var id NodeID
	for i := range id {
		id[i] = byte(i)
	}
	if got := id.String(); got != "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f" {
		t.Errorf("String() = %q", got)
	}
	if got := id.Short(); got != "00010203" {
		t.Errorf("Short() = %q", got)
	}
	if id.isZero() || !(NodeID{}).isZero() {
		t.Error("isZero wrong")
	}
}
