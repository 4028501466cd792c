package stc

import (
	"strconv"
	"testing"
)

// benchSizes are payload lengths: a small control packet, typical and
// full Ethernet-MTU datagrams, an unaligned 16 KiB segment, and 64 KiB
// (GSO-sized).
var benchSizes = []int{64, 1200, 1400, 16<<10 - 5, 64 << 10}

const benchHdrLen = 16 // wire.HeaderLen

// BenchmarkSeal compares the raw stdlib/x-crypto AEAD (fixed nonce, header
// as AAD, in place) with PacketAEAD.Seal, which adds the nonce derivation,
// the nonce-reuse guard and the counter.
func BenchmarkSeal(b *testing.B) {
	for _, s := range allSuites {
		for _, n := range benchSizes {
			pkt := make([]byte, benchHdrLen+n, benchHdrLen+n+Overhead)
			b.Run(s.String()+"/raw/"+strconv.Itoa(n), func(b *testing.B) {
				aead, iv := referenceAEAD(b, s, testSecret(1))
				b.SetBytes(int64(n))
				b.ReportAllocs()
				for b.Loop() {
					sinkBytes = aead.Seal(pkt[benchHdrLen:benchHdrLen], iv, pkt[benchHdrLen:], pkt[:benchHdrLen])
				}
			})
			b.Run(s.String()+"/stc/"+strconv.Itoa(n), func(b *testing.B) {
				p := newTestPacketAEAD(b, s, testSecret(1))
				var pn uint64
				b.SetBytes(int64(n))
				b.ReportAllocs()
				for b.Loop() {
					pn++
					sinkBytes = p.Seal(pkt, benchHdrLen, pn)
				}
			})
		}
	}
}

// BenchmarkOpen compares raw in-place Open with PacketAEAD.Open. Both copy
// the sealed packet into the work buffer first (Open decrypts in place),
// so both include the same memmove.
func BenchmarkOpen(b *testing.B) {
	for _, s := range allSuites {
		for _, n := range benchSizes {
			sealer := newTestPacketAEAD(b, s, testSecret(1))
			sealed := sealer.Seal(make([]byte, benchHdrLen+n, benchHdrLen+n+Overhead), benchHdrLen, 7)
			work := make([]byte, len(sealed))
			b.Run(s.String()+"/raw/"+strconv.Itoa(n), func(b *testing.B) {
				aead, iv := referenceAEAD(b, s, testSecret(1))
				nonce := referenceNonce(iv, 7)
				b.SetBytes(int64(n))
				b.ReportAllocs()
				for b.Loop() {
					copy(work, sealed)
					var err error
					sinkBytes, err = aead.Open(work[benchHdrLen:benchHdrLen], nonce, work[benchHdrLen:], work[:benchHdrLen])
					if err != nil {
						b.Fatal(err)
					}
				}
			})
			b.Run(s.String()+"/stc/"+strconv.Itoa(n), func(b *testing.B) {
				p := newTestPacketAEAD(b, s, testSecret(1))
				b.SetBytes(int64(n))
				b.ReportAllocs()
				for b.Loop() {
					copy(work, sealed)
					var err error
					sinkBytes, err = p.Open(work, benchHdrLen, 7)
					if err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkStreamSeal measures StreamContext.Seal per segment size.
func BenchmarkStreamSeal(b *testing.B) {
	for _, s := range allSuites {
		for _, n := range benchSizes {
			b.Run(s.String()+"/"+strconv.Itoa(n), func(b *testing.B) {
				c := newTestStreamContext(b, s, testSecret(2), 1, 1)
				pt := make([]byte, n)
				dst := make([]byte, 0, n+Overhead)
				var seq uint64
				b.SetBytes(int64(n))
				b.ReportAllocs()
				for b.Loop() {
					seq++
					sinkBytes = c.Seal(dst, seq, pt)
				}
			})
		}
	}
}

func BenchmarkReplayWindow(b *testing.B) {
	b.ReportAllocs()
	var w ReplayWindow
	var pn uint64
	for b.Loop() {
		pn++
		if w.Check(pn) {
			sinkBool = w.Update(pn)
		}
	}
}

func BenchmarkHash(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			data := make([]byte, n)
			b.SetBytes(int64(n))
			b.ReportAllocs()
			for b.Loop() {
				sinkHash = Hash(data)
			}
		})
	}
}

func BenchmarkKeySchedule(b *testing.B) {
	b.Run("Secret.Next", func(b *testing.B) {
		s := testSecret(3)
		b.ReportAllocs()
		for b.Loop() {
			s = s.Next()
		}
		sinkSecret = s
	})
	b.Run("NewPacketAEAD", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			p, _ := NewPacketAEAD(SuiteAES256GCM, testSecret(3))
			sinkBool = p != nil
		}
	})
}
