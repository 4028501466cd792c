package stc

import (
	"bytes"
	"errors"
	"sync"
	"testing"
)

// conformanceSizes are payload lengths around block (16), ChaCha (64) and
// packet boundaries, including empty.
var conformanceSizes = []int{0, 1, 15, 16, 17, 31, 63, 64, 65, 255, 256, 1024 - 5, 1200, 1400, 16<<10 - 5}

// TestPacketAEADMatchesReference checks Seal against the raw AEAD driven by
// hand: key and IV from crypto/hkdf, nonce = iv XOR pn, header as AAD.
func TestPacketAEADMatchesReference(t *testing.T) {
	for _, s := range allSuites {
		t.Run(s.String(), func(t *testing.T) {
			secret := testSecret(0x40)
			p := newTestPacketAEAD(t, s, secret)
			ref, iv := referenceAEAD(t, s, secret)
			hdr := seqBytes(0xa0, 16)
			for i, n := range conformanceSizes {
				pn := uint64(i)*0x1_0000_0001 + 3 // exercise high and low nonce bytes
				payload := seqBytes(byte(n), n)
				want := ref.Seal(append([]byte(nil), hdr...), referenceNonce(iv, pn), payload, hdr)
				got := p.Seal(packetBuf(hdr, payload), len(hdr), pn)
				if !bytes.Equal(got, want) {
					t.Fatalf("size %d pn %d: Seal differs from reference\n got %x\nwant %x", n, pn, got, want)
				}
			}
		})
	}
}

// TestPacketAEADConformance runs the standard AEAD checks for every suite:
// round trip at many sizes, in place, every single-bit tamper of header,
// ciphertext and tag rejected with the plaintext cleared, wrong packet
// number and wrong key rejected, counters.
func TestPacketAEADConformance(t *testing.T) {
	for _, s := range allSuites {
		t.Run(s.String(), func(t *testing.T) {
			secret := testSecret(0x11)
			tx := newTestPacketAEAD(t, s, secret)
			rx := newTestPacketAEAD(t, s, secret)
			other := newTestPacketAEAD(t, s, testSecret(0x12))
			if tx.suite != s {
				t.Fatalf("suite = %v", tx.suite)
			}
			hdr := seqBytes(0x70, 16)
			var wantFailed, wantOpened uint64
			for i, n := range conformanceSizes {
				pn := uint64(10 + i)
				payload := seqBytes(byte(i*7), n)
				pkt := packetBuf(hdr, payload)
				base := &pkt[0]
				sealed := tx.Seal(pkt, len(hdr), pn)
				if len(sealed) != len(hdr)+n+Overhead || &sealed[0] != base {
					t.Fatalf("size %d: Seal returned len %d, in place %v", n, len(sealed), &sealed[0] == base)
				}
				if !bytes.Equal(sealed[:len(hdr)], hdr) {
					t.Fatalf("size %d: Seal changed the header", n)
				}
				if n >= 16 && bytes.Equal(sealed[len(hdr):len(hdr)+n], payload) {
					t.Fatalf("size %d: ciphertext equals plaintext", n)
				}

				// Every single-bit flip anywhere (header/AAD, ciphertext,
				// tag) must fail, clear the would-be plaintext, and be
				// counted.
				for pos := range sealed {
					if n > 1400 && pos > 64 && pos < len(sealed)-64 {
						continue // exhaustive up to 1400 bytes; ends only beyond
					}
					for _, bit := range []byte{0x01, 0x80} {
						work := append([]byte(nil), sealed...)
						work[pos] ^= bit
						if _, err := rx.Open(work, len(hdr), pn); !errors.Is(err, ErrAuth) {
							t.Fatalf("size %d: flip byte %d bit %#x: err %v, want ErrAuth", n, pos, bit, err)
						}
						wantFailed++
						if !allZero(work[len(hdr) : len(work)-Overhead]) {
							t.Fatalf("size %d: flip byte %d: plaintext not cleared", n, pos)
						}
					}
				}
				// Wrong packet number, wrong key, truncated.
				for _, c := range []struct {
					name string
					a    *PacketAEAD
					pkt  []byte
					pn   uint64
				}{
					{"pn+1", rx, sealed, pn + 1},
					{"pn high bit", rx, sealed, pn | 1<<63},
					{"wrong key", other, sealed, pn},
					{"tag cut", rx, sealed[:len(sealed)-1], pn},
				} {
					work := append([]byte(nil), c.pkt...)
					if _, err := c.a.Open(work, len(hdr), c.pn); !errors.Is(err, ErrAuth) {
						t.Fatalf("size %d: %s: err %v, want ErrAuth", n, c.name, err)
					}
					if c.a == rx {
						wantFailed++
					}
				}

				work := append([]byte(nil), sealed...)
				got, err := rx.Open(work, len(hdr), pn)
				if err != nil {
					t.Fatalf("size %d: Open: %v", n, err)
				}
				wantOpened++
				if !bytes.Equal(got, payload) {
					t.Fatalf("size %d: round trip mismatch", n)
				}
				if n > 0 && &got[0] != &work[len(hdr)] {
					t.Fatalf("size %d: Open did not decrypt in place", n)
				}
			}
			if got, want := tx.Sealed(), uint64(len(conformanceSizes)); got != want {
				t.Errorf("Sealed() = %d, want %d", got, want)
			}
			if rx.Opened() != wantOpened || rx.Failed() != wantFailed {
				t.Errorf("Opened/Failed = %d/%d, want %d/%d", rx.Opened(), rx.Failed(), wantOpened, wantFailed)
			}
		})
	}
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// TestPacketAEADHeaderLengths covers an empty header and hdrLen values a
// confused caller might pass to Open.
func TestPacketAEADHeaderLengths(t *testing.T) {
	p := newTestPacketAEAD(t, SuiteChaCha20Poly1305, testSecret(1))
	sealed := p.Seal(packetBuf(nil, []byte("no header")), 0, 1)
	got, err := p.Open(append([]byte(nil), sealed...), 0, 1)
	if err != nil || string(got) != "no header" {
		t.Fatalf("empty header round trip: %q, %v", got, err)
	}
	for _, c := range []struct {
		name   string
		pkt    []byte
		hdrLen int
	}{
		{"negative header", sealed, -1},
		{"header past end", sealed, len(sealed) + 1},
		{"no room for tag", sealed, len(sealed) - Overhead + 1},
		{"empty packet", nil, 0},
	} {
		before := p.Failed()
		if _, err := p.Open(append([]byte(nil), c.pkt...), c.hdrLen, 1); !errors.Is(err, ErrAuth) {
			t.Errorf("%s: err %v, want ErrAuth", c.name, err)
		}
		if p.Failed() != before+1 {
			t.Errorf("%s: failure not counted", c.name)
		}
	}
}

// TestPacketAEADSealPanics checks the guards on caller bugs, nonce reuse
// first among them.
func TestPacketAEADSealPanics(t *testing.T) {
	for _, s := range allSuites {
		t.Run(s.String(), func(t *testing.T) {
			p := newTestPacketAEAD(t, s, testSecret(2))
			hdr := seqBytes(0, 16)
			p.Seal(packetBuf(hdr, []byte("a")), 16, 100)
			mustPanic(t, "same pn", func() { p.Seal(packetBuf(hdr, []byte("b")), 16, 100) })
			mustPanic(t, "lower pn", func() { p.Seal(packetBuf(hdr, []byte("b")), 16, 99) })
			mustPanic(t, "pn 0 after 100", func() { p.Seal(packetBuf(hdr, []byte("b")), 16, 0) })
			short := append(make([]byte, 0, 16+1+Overhead-1), hdr...)
			mustPanic(t, "no tag capacity", func() { p.Seal(append(short, 'x'), 16, 200) })
			mustPanic(t, "hdrLen past end", func() { p.Seal(packetBuf(hdr, nil), 17, 201) })
			mustPanic(t, "negative hdrLen", func() { p.Seal(packetBuf(hdr, nil), -1, 202) })
			if got := p.Sealed(); got != 1 {
				t.Errorf("Sealed() = %d after rejected seals, want 1", got)
			}
			// A rejected seal must not have consumed its number, and the
			// guard must still allow the next higher one.
			p.Seal(packetBuf(hdr, []byte("c")), 16, 101)
		})
	}
}

// TestPacketAEADFirstPN checks that the first seal accepts any number,
// including 0 and the maximum.
func TestPacketAEADFirstPN(t *testing.T) {
	for _, pn := range []uint64{0, 1, 1 << 47, ^uint64(0)} {
		p := newTestPacketAEAD(t, SuiteAES128GCM, testSecret(3))
		sealed := p.Seal(packetBuf([]byte("h"), []byte("x")), 1, pn)
		if got, err := p.Open(sealed, 1, pn); err != nil || string(got) != "x" {
			t.Errorf("pn %d: %q %v", pn, got, err)
		}
	}
}

// TestPacketAEADConcurrentSealOpen runs one sealer, one opener and a
// counter reader at once; -race checks the documented concurrency.
func TestPacketAEADConcurrentSealOpen(t *testing.T) {
	const n = 200
	p := newTestPacketAEAD(t, PreferredSuite(), testSecret(4))
	peer := newTestPacketAEAD(t, PreferredSuite(), testSecret(4))
	peerSealed := make([][]byte, n)
	for i := range peerSealed {
		peerSealed[i] = peer.Seal(packetBuf([]byte("hdr"), seqBytes(byte(i), 100)), 3, uint64(i))
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := range n {
			p.Seal(packetBuf([]byte("hdr"), seqBytes(byte(i), 100)), 3, uint64(i))
		}
	})
	wg.Go(func() {
		for i, pkt := range peerSealed {
			if _, err := p.Open(pkt, 3, uint64(i)); err != nil {
				t.Errorf("open %d: %v", i, err)
				return
			}
		}
	})
	wg.Go(func() {
		for range n {
			_ = p.Sealed() + p.Opened() + p.Failed()
		}
	})
	wg.Wait()
	if p.Sealed() != n || p.Opened() != n || p.Failed() != 0 {
		t.Errorf("counters %d/%d/%d, want %d/%d/0", p.Sealed(), p.Opened(), p.Failed(), n, n)
	}
}

func TestNewPacketAEADInvalidSuite(t *testing.T) {
	for _, s := range []Suite{0, 4, 255} {
		if _, err := NewPacketAEAD(s, testSecret(0)); !errors.Is(err, ErrUnknownSuite) {
			t.Errorf("NewPacketAEAD(%d): err %v, want ErrUnknownSuite", s, err)
		}
		if _, err := NewStreamContext(s, testSecret(0), 1, 1); !errors.Is(err, ErrUnknownSuite) {
			t.Errorf("NewStreamContext(%d): err %v, want ErrUnknownSuite", s, err)
		}
	}
}

// TestKeysDiffer checks that distinct secrets and suites give distinct
// ciphertexts for the same packet.
func TestKeysDiffer(t *testing.T) {
	seen := map[string]string{}
	for _, s := range allSuites {
		for _, sec := range []Secret{testSecret(0), testSecret(1), testSecret(0).Next()} {
			p := newTestPacketAEAD(t, s, sec)
			out := string(p.Seal(packetBuf([]byte("h"), make([]byte, 32)), 1, 0))
			name := s.String()
			if prev, dup := seen[out]; dup {
				t.Fatalf("%s and %s produce the same packet", name, prev)
			}
			seen[out] = name
		}
	}
}
