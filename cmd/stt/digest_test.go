package main

import (
	"bytes"
	"crypto/sha3"
	"encoding/hex"
	"hash"
	"math/rand/v2"
	"testing"

	"golang.org/x/crypto/blake2b"
	lblake3 "lukechampine.com/blake3"
)

// vectorInput returns the n-byte input of the BLAKE3 and xxHash vector
// tables here: byte i is i mod 251.
func vectorInput(n int) []byte {
	in := make([]byte, n)
	for i := range in {
		in[i] = byte(i % 251)
	}
	return in
}

// writePieces writes in to h in pieces of at most piece bytes, as the
// transfer pipeline's chunks arrive.
func writePieces(h hash.Hash, in []byte, piece int) {
	for b := in; len(b) > 0; {
		k := min(piece, len(b))
		h.Write(b[:k])
		b = b[k:]
	}
}

// TestBLAKE3Vectors checks digestBLAKE3 against the official BLAKE3 test
// vectors (test_vectors.json of github.com/BLAKE3-team/BLAKE3: input byte
// i is i mod 251; the first 32 bytes of "hash"), fed whole and in pieces
// that cross its 1 KiB chunks, 64-byte blocks and 16-chunk groups, as the
// transfer pipeline's chunks do.
func TestBLAKE3Vectors(t *testing.T) {
	vectors := []struct {
		n    int
		want string
	}{
		{0, "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262"},
		{1, "2d3adedff11b61f14c886e35afa036736dcd87a74d27b5c1510225d0f592e213"},
		{1023, "10108970eeda3eb932baac1428c7a2163b0e924c9a9e25b35bba72b28f70bd11"},
		{1024, "42214739f095a406f3fc83deb889744ac00df831c10daa55189b5d121c855af7"},
		{1025, "d00278ae47eb27b34faecf67b4fe263f82d5412916c1ffd97c8cb7fb814b8444"},
		{2048, "e776b6028c7cd22a4d0ba182a8bf62205d2ef576467e838ed6f2529b85fba24a"},
		{2049, "5f4d72f40d7a5f82b15ca2b2e44b1de3c2ef86c426c95c1af0b6879522563030"},
		{8193, "bab6c09cb8ce8cf459261398d2e7aef35700bf488116ceb94a36d0f5f1b7bc3b"},
		{3072, "b98cb0ff3623be03326b373de6b9095218513e64f1ee2edd2525c7ad1e5cffd2"},
		{4097, "9b4052b38f1c5fc8b1f9ff7ac7b27cd242487b3d890d15c96a1c25b8aa0fb995"},
		{7169, "a003fc7a51754a9b3c7fae0367ab3d782dccf28855a03d435f8cfe74605e7817"},
		{16384, "f875d6646de28985646f34ee13be9a576fd515f76b5b0a26bb324735041ddde4"},
		{31744, "62b6960e1a44bcc1eb1a611a8d6235b6b4b78f32e7abc4fb4c6cdcce94895c47"},
		{100000, "d93c23eedaf165a7e0be908ba86f1a7a520d568d2d13cde787c8580c5c72cc54"},
	}
	for _, v := range vectors {
		in := vectorInput(v.n)
		for _, piece := range []int{v.n + 1, 1, 63, 1000, 4099, blake3Group - 1, blake3Group, blake3Group + 1} {
			h := digestBLAKE3.newHash()
			writePieces(h, in, piece)
			if got := hex.EncodeToString(h.Sum(nil)); got != v.want {
				t.Errorf("BLAKE3 of %d bytes in pieces of %d = %s, want %s", v.n, piece, got, v.want)
			}
		}
	}
}

// TestXXH128Vectors checks digestXXH128 against `xxhsum -H2` 0.8.1 (the
// xxHash reference implementation) on inputs whose byte i is i mod 251,
// of lengths on both sides of each of XXH3's size classes (16, 128 and
// 240 bytes; its 1 KiB stripes' blocks beyond), fed whole and in pieces
// that cross its internal buffer as the transfer pipeline's chunks do;
// Sum after Reset and Sum twice must agree.
func TestXXH128Vectors(t *testing.T) {
	vectors := []struct {
		n    int
		want string
	}{
		{0, "99aa06d3014798d86001c324468d497f"},
		{1, "a6cd5e9392000f6ac44bdff4074eecdb"},
		{16, "72950631827607e2842812cc870dcae2"},
		{17, "685bc458b37d057fc06e233df7729217"},
		{128, "14792fc3af88dc6c05321a0b64d67b41"},
		{129, "dd5e74ac6b45f54ebc30b63382b09a3b"},
		{240, "65b5be86da5540e7c92b68e16f83bbb6"},
		{241, "1da1cb61bcb8a2a102e8cd95421c6d02"},
		{1024, "d0ac1f7b93bf57b9e5d78bafa45b2aa5"},
		{1025, "2882ebca04ec915ce95c42288f28186e"},
		{3000, "d324b9e72fa9fb271b846747012c24aa"},
		{100000, "54182c58bbb1337c42c23aeead96750d"},
	}
	h := digestXXH128.newHash()
	if h.Size() != 16 {
		t.Fatalf("XXH128 Size = %d, want 16", h.Size())
	}
	for _, v := range vectors {
		in := vectorInput(v.n)
		for _, piece := range []int{v.n + 1, 1, 63, 239, 241, 1000, 1025, 4099} {
			h.Reset()
			h.Write([]byte("left over from the last input"))
			h.Reset()
			writePieces(h, in, piece)
			got := hex.EncodeToString(h.Sum(nil))
			if got != v.want {
				t.Errorf("XXH128 of %d bytes in pieces of %d = %s, want %s", v.n, piece, got, v.want)
			}
			if again := hex.EncodeToString(h.Sum(nil)); again != got {
				t.Errorf("XXH128 of %d bytes: a second Sum gives %s after %s", v.n, again, got)
			}
		}
		if got := hex.EncodeToString(digestXXH128.newHash().Sum(nil)); v.n == 0 && got != v.want {
			t.Errorf("XXH128 of a new hash = %s, want %s", got, v.want)
		}
	}
}

// TestBLAKE3Differential compares blake3Hasher with the library's own
// Hasher (lukechampine.com/blake3, which builds the tree its own way) on
// random inputs up to 600 KiB fed in random pieces, Sum taken midway
// too (Sum must not change the state), and after Reset.
func TestBLAKE3Differential(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	n := 300
	if testing.Short() {
		n = 50
	}
	for range n {
		data := make([]byte, r.IntN(600_000))
		for i := range data {
			data[i] = byte(r.Uint32())
		}
		checkBLAKE3(t, data, r)
	}
}

// FuzzBLAKE3: any input, in pieces of any sizes the seed picks, hashes as
// the library's Hasher hashes it whole.
func FuzzBLAKE3(f *testing.F) {
	f.Add([]byte("abc"), uint64(1))
	f.Add(bytes.Repeat([]byte{7}, 3*blake3Group+5), uint64(blake3Group))
	f.Add(bytes.Repeat([]byte{1}, 2*blake3Group), uint64(99))
	f.Fuzz(func(t *testing.T, data []byte, seed uint64) {
		checkBLAKE3(t, data, rand.New(rand.NewPCG(seed, 0)))
	})
}

// checkBLAKE3 feeds data to a blake3Hasher in pieces drawn from r and
// compares each Sum with the library's.
func checkBLAKE3(t *testing.T, data []byte, r *rand.Rand) {
	t.Helper()
	var h blake3Hasher
	h.Write(data[:1%(len(data)+1)])
	h.Reset()
	mid := r.IntN(len(data) + 1)
	for off := 0; off < len(data); {
		k := 1 + r.IntN(70_000)
		if r.IntN(3) == 0 {
			k = 1 + r.IntN(2*blake3Group)
		}
		if off < mid && off+k > mid {
			k = mid - off
			h.Write(data[off : off+k])
			want := lblake3.Sum256(data[:mid])
			if got := h.Sum(nil); !bytes.Equal(got, want[:]) {
				t.Fatalf("%d bytes, Sum after %d: %x, want %x", len(data), mid, got, want)
			}
			off += k
			continue
		}
		k = min(k, len(data)-off)
		h.Write(data[off : off+k])
		off += k
	}
	want := lblake3.Sum256(data)
	if got := h.Sum([]byte{0xee}); got[0] != 0xee || !bytes.Equal(got[1:], want[:]) {
		t.Fatalf("%d bytes: %x, want ee%x", len(data), got, want)
	}
}

// TestDigestNewHash: every digest of the protocol has its algorithm and a
// 32-byte output (the reply's field); none and unknown ids have none.
func TestDigestNewHash(t *testing.T) {
	for _, tt := range []struct {
		d    digest
		name string
		abc  string // of "abc"; "" for no hash
	}{
		{digestNone, "none", ""},
		{digestSHA256, "sha256", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
		{digestBLAKE3, "blake3", "6437b3ac38465133ffb63b75273a8db548c558465d79db03fd359c6cd5bd9d85"},
		{digestXXH128, "xxh128", "06b05ab6733a618578af5f94892f3950"},
		{4, "digest(4)", ""},
	} {
		if tt.d.String() != tt.name {
			t.Errorf("digest %d: String = %q, want %q", tt.d, tt.d, tt.name)
		}
		if known := tt.d <= digestXXH128; tt.d.known() != known {
			t.Errorf("digest %d: known = %v", tt.d, !known)
		}
		h := tt.d.newHash()
		if tt.abc == "" {
			if h != nil {
				t.Errorf("digest %d: newHash = %T, want nil", tt.d, h)
			}
			continue
		}
		if h.Size() != len(tt.abc)/2 || h.Size() > digestLen {
			t.Errorf("%s: %d-byte output, want %d (at most a reply's %d)", tt.d, h.Size(), len(tt.abc)/2, digestLen)
		}
		h.Write([]byte("abc"))
		if got := hex.EncodeToString(h.Sum(nil)); got != tt.abc {
			t.Errorf("%s(abc) = %s, want %s", tt.d, got, tt.abc)
		}
	}
}

// BenchmarkDigest is the cost of the digests and the candidates on this
// machine, per 256 KiB chunk as the transfer pipeline feeds them (see
// digest.go's comment; on a shared machine, compare best-of rounds).
func BenchmarkDigest(b *testing.B) {
	buf := make([]byte, sendChunk)
	patternAt(buf, 1, 0)
	for _, d := range []struct {
		name string
		new  func() hash.Hash
	}{
		{"XXH128", digestXXH128.newHash},
		{"BLAKE3", digestBLAKE3.newHash},
		{"BLAKE3-lukechampine-Hasher", func() hash.Hash { return lblake3.New(32, nil) }},
		{"SHA-256", digestSHA256.newHash},
		{"BLAKE2b-256", func() hash.Hash { h, _ := blake2b.New256(nil); return h }},
		{"SHA3-256", func() hash.Hash { return sha3.New256() }},
	} {
		b.Run(d.name, func(b *testing.B) {
			h := d.new()
			b.SetBytes(int64(len(buf)))
			b.ReportAllocs()
			for b.Loop() {
				h.Write(buf)
			}
		})
	}
}
