package stc

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"
)

// TestStreamContextMatchesReference checks key, IV, nonce and AAD
// construction against a hand-driven raw AEAD keyed through crypto/hkdf.
func TestStreamContextMatchesReference(t *testing.T) {
	key := testSecret(0x60)
	const session, stream = 0x0102030405060708, 5
	var ids [16]byte
	binary.BigEndian.PutUint64(ids[:8], session)
	binary.BigEndian.PutUint64(ids[8:], stream)
	for _, s := range allSuites {
		c := newTestStreamContext(t, s, key, session, stream)
		if c.suite != s || c.sessionID != session || c.streamID != stream {
			t.Fatalf("%v: suite or IDs wrong", s)
		}
		ref, err := newAEAD(s, Expand(key, "stt stream key"+string(ids[:]), s.KeyLen()))
		if err != nil {
			t.Fatal(err)
		}
		iv := Expand(key, "stt stream iv"+string(ids[:]), IVLen)
		for _, seq := range []uint64{0, 1, 1 << 32, ^uint64(0)} {
			pt := seqBytes(byte(seq), 100)
			aad := binary.BigEndian.AppendUint64(ids[:], seq)
			want := ref.Seal(nil, referenceNonce(iv, seq), pt, aad)
			if got := c.Seal(nil, seq, pt); !bytes.Equal(got, want) {
				t.Fatalf("%v seq %d: Seal differs from reference", s, seq)
			}
		}
	}
}

func TestStreamContextConformance(t *testing.T) {
	key := testSecret(0x61)
	for _, s := range allSuites {
		t.Run(s.String(), func(t *testing.T) {
			tx := newTestStreamContext(t, s, key, 7, 9)
			rx := newTestStreamContext(t, s, key, 7, 9)
			wrongStream := newTestStreamContext(t, s, key, 7, 11)
			wrongSession := newTestStreamContext(t, s, key, 8, 9)
			wrongKey := newTestStreamContext(t, s, testSecret(0x62), 7, 9)
			for i, n := range conformanceSizes {
				seq := uint64(i * 3)
				pt := seqBytes(byte(i), n)
				prefix := []byte("dst-prefix")
				ct := tx.Seal(append([]byte(nil), prefix...), seq, pt)
				if len(ct) != len(prefix)+n+Overhead || !bytes.Equal(ct[:len(prefix)], prefix) {
					t.Fatalf("size %d: Seal did not append", n)
				}
				ct = ct[len(prefix):]
				got, err := rx.Open([]byte("x"), seq, ct)
				if err != nil || !bytes.Equal(got[1:], pt) || got[0] != 'x' {
					t.Fatalf("size %d: round trip: %v", n, err)
				}
				// In place: decrypt into the ciphertext's own storage.
				work := append([]byte(nil), ct...)
				got, err = rx.Open(work[:0], seq, work)
				if err != nil || !bytes.Equal(got, pt) {
					t.Fatalf("size %d: in-place open: %v", n, err)
				}
				for _, c := range []struct {
					name string
					ctx  *StreamContext
					seq  uint64
				}{
					{"wrong seq", rx, seq + 1},
					{"wrong stream", wrongStream, seq},
					{"wrong session", wrongSession, seq},
					{"wrong key", wrongKey, seq},
				} {
					if _, err := c.ctx.Open(nil, c.seq, ct); !errors.Is(err, ErrAuth) {
						t.Fatalf("size %d: %s: err %v", n, c.name, err)
					}
				}
				step := 1
				if n > 1400 {
					step = 97
				}
				for pos := 0; pos < len(ct); pos += step {
					work := append([]byte(nil), ct...)
					work[pos] ^= 0x04
					dst := make([]byte, 0, len(ct))
					dst = append(dst, 0xee)
					out, err := rx.Open(dst, seq, work)
					if !errors.Is(err, ErrAuth) || out != nil {
						t.Fatalf("size %d: flip %d: err %v", n, pos, err)
					}
					if !allZero(dst[1:cap(dst)][:n]) || dst[0] != 0xee {
						t.Fatalf("size %d: flip %d: spare capacity not cleared or prefix touched", n, pos)
					}
				}
			}
			for _, short := range [][]byte{nil, make([]byte, Overhead-1)} {
				if _, err := rx.Open(nil, 0, short); !errors.Is(err, ErrAuth) {
					t.Fatalf("short input %d: err %v", len(short), err)
				}
			}
		})
	}
}

func TestStreamContextSealPanics(t *testing.T) {
	c := newTestStreamContext(t, SuiteChaCha20Poly1305, testSecret(1), 1, 2)
	c.Seal(nil, 5, []byte("a"))
	mustPanic(t, "repeat seq", func() { c.Seal(nil, 5, []byte("b")) })
	mustPanic(t, "lower seq", func() { c.Seal(nil, 4, []byte("b")) })
	c.Seal(nil, 6, []byte("c"))
	buf := make([]byte, 64)
	mustPanic(t, "inexact overlap", func() { c.Seal(buf[:1], 7, buf[:20]) })
}

// TestStreamContextSeparation checks that contexts for different streams
// of one key never produce the same ciphertext for the same input.
func TestStreamContextSeparation(t *testing.T) {
	key := testSecret(3)
	seen := map[string]bool{}
	for session := range uint64(3) {
		for stream := range uint64(3) {
			out := string(newTestStreamContext(t, SuiteAES256GCM, key, session, stream).Seal(nil, 0, make([]byte, 32)))
			if seen[out] {
				t.Fatalf("session %d stream %d repeats another stream's ciphertext", session, stream)
			}
			seen[out] = true
		}
	}
}
