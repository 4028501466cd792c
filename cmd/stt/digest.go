package main

import (
	"crypto/sha256"
	"hash"
)

// A file transfer's whole-file digest (docs/FILE-TRANSFER.md, Digest) is
// computed on both ends beside the stream. Both ends of a transfer on one
// machine share its cores with the transport, so the digest's speed is
// part of the transfer's. Best of 40 rounds of 40 x 256 KiB on one core,
// interleaved, on the development machine (Intel Xeon with SHA-NI, AVX2
// and AVX-512; machine shared, three runs): BLAKE3 as blake3Hasher
// (lukechampine.com/blake3/guts, AVX-512) 4.1-4.9 GB/s, BLAKE3 as
// github.com/zeebo/blake3 (AVX2) 3.2-3.7 GB/s, SHA-256 (crypto/sha256,
// SHA-NI) 1.4-1.7 GB/s; BLAKE2b-256 0.6-0.95 and protocol 1's SHA3-256
// 0.46 (go test -bench Digest). XXH128 (github.com/zeebo/xxh3, AVX-512)
// hashes a cached 1 MiB at ~25 GB/s; in a 1 GiB stt send it took 0.03 s
// per end (perf), against 0.25-0.3 for BLAKE3.
//
// XXH128 is stt send's default: the transport authenticates every byte
// and the sender is an authenticated peer, so the digest only has to
// catch accidental corruption between the two files, which a 128-bit
// non-cryptographic hash does as well as a cryptographic one at a tenth
// of BLAKE3's cost (rsync's whole-file check is the same hash). BLAKE3
// and SHA-256 stay selectable for a value to compare with b3sum or
// sha256sum. github.com/zeebo/xxh3 was already in the module graph
// (minio-go, storage/s3store) and carries the AVX-512/AVX2 assembly
// that makes XXH3 fast; its Hasher takes no allocation per Write.
//
// Why a library for BLAKE3: its speed is SIMD assembly that compresses 8
// or 16 of its 1 KiB chunks at once, and lukechampine.com/blake3 carries
// it for AVX-512 and AVX2 (with generic Go elsewhere) behind a small,
// stable low-level API (guts); writing and verifying that assembly
// ourselves is the part not worth doing. Its own Hasher compresses every
// large Write on new goroutines (63 allocations per 256 KiB chunk here),
// taking the core the transport needs, so blake3Hasher (blake3.go) drives
// the same compression from one goroutine: the tree logic is 60 lines,
// checked against the official vectors and against that Hasher.

// digestLen is the size of the digest field of a reply: a digest
// shorter than that (XXH128's 16 bytes) fills its start, the rest is zero.
const digestLen = 32

// newHash returns a new hash of d's algorithm, or nil for digestNone (and
// any digest the protocol does not know: parseHeader refuses those).
func (d digest) newHash() hash.Hash {
	switch d {
	case digestSHA256:
		return sha256.New()
	case digestBLAKE3:
		return new(blake3Hasher)
	case digestXXH128:
		x := new(xxh128Hasher)
		x.Reset()
		return x
	}
	return nil
}

// of returns the digest d's hash fills at the start of a reply's digest
// field (the rest is zero): all 32 bytes but for XXH128's 16.
func (d digest) of(sum [digestLen]byte) []byte {
	if d == digestXXH128 {
		return sum[:xxh128Len]
	}
	return sum[:]
}
