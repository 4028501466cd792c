package main

import "github.com/zeebo/xxh3"

// xxh128Hasher is XXH3's 128-bit hash with seed 0 (XXH3_128bits in the
// reference implementation, github.com/Cyan4973/xxHash) as a hash.Hash:
// Sum appends the 16-byte canonical form, the high 64 bits first, both
// halves big-endian — what `xxhsum -H2` prints. It wraps
// github.com/zeebo/xxh3's streaming Hasher, which takes no allocation
// per Write and hashes a cached 1 MiB at ~25 GB/s on one core here
// (AVX-512); see digest.go.
type xxh128Hasher struct{ h xxh3.Hasher }

// xxh128Len is the length of an XXH128 digest; a reply's 32-byte digest
// field carries it first, then zeros (digest.of).
const xxh128Len = 16

func (x *xxh128Hasher) Write(p []byte) (int, error) { return x.h.Write(p) }
func (x *xxh128Hasher) Reset()                      { x.h.Reset() }
func (x *xxh128Hasher) Size() int                   { return xxh128Len }
func (x *xxh128Hasher) BlockSize() int              { return x.h.BlockSize() }

func (x *xxh128Hasher) Sum(b []byte) []byte {
	s := x.h.Sum128().Bytes()
	return append(b, s[:]...)
}
