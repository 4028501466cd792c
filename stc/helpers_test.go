package stc

import (
	"crypto/cipher"
	"encoding/binary"
	"testing"
)

// seqBytes returns n bytes counting up from start (mod 256).
func seqBytes(start byte, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = start + byte(i)
	}
	return b
}

// testSecret returns a Secret whose bytes count up from start.
func testSecret(start byte) Secret {
	var s Secret
	copy(s.b[:], seqBytes(start, len(s.b)))
	return s
}

// newTestPacketAEAD builds a PacketAEAD or fails the test.
func newTestPacketAEAD(tb testing.TB, s Suite, secret Secret) *PacketAEAD {
	tb.Helper()
	p, err := NewPacketAEAD(s, secret)
	if err != nil {
		tb.Fatalf("NewPacketAEAD(%v): %v", s, err)
	}
	return p
}

// newTestStreamContext builds a StreamContext or fails the test.
func newTestStreamContext(tb testing.TB, s Suite, key Secret, session, stream uint64) *StreamContext {
	tb.Helper()
	c, err := NewStreamContext(s, key, session, stream)
	if err != nil {
		tb.Fatalf("NewStreamContext(%v): %v", s, err)
	}
	return c
}

// referenceAEAD builds the raw stdlib/x-crypto AEAD and nonce base for a
// traffic secret through the allocating crypto/hkdf path (Expand), as an
// independent check of NewPacketAEAD's derivation.
func referenceAEAD(tb testing.TB, s Suite, secret Secret) (cipher.AEAD, []byte) {
	tb.Helper()
	aead, err := newAEAD(s, Expand(secret, "stt key", s.KeyLen()))
	if err != nil {
		tb.Fatal(err)
	}
	return aead, Expand(secret, "stt iv", IVLen)
}

// referenceNonce is iv XOR pn, computed byte by byte.
func referenceNonce(iv []byte, pn uint64) []byte {
	n := append([]byte(nil), iv...)
	var be [8]byte
	binary.BigEndian.PutUint64(be[:], pn)
	for i := range be {
		n[4+i] ^= be[i]
	}
	return n
}

// packetBuf returns a packet of hdr then payload with Overhead spare bytes.
func packetBuf(hdr, payload []byte) []byte {
	b := make([]byte, 0, len(hdr)+len(payload)+Overhead)
	b = append(b, hdr...)
	return append(b, payload...)
}

// mustPanic runs f and fails unless it panics.
func mustPanic(t *testing.T, what string, f func()) {
	t.Helper()
	defer func() {
		if recover() == nil {
			t.Errorf("%s: did not panic", what)
		}
	}()
	f()
}
