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
// 0.46 (go test -bench Digest). BLAKE3 is the default of stt send;
// SHA-256 stays selectable (sha256sum prints the same value).
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

// digestLen is the size of every digest a reply carries.
const digestLen = 32

// newHash returns a new hash of d's algorithm, or nil for digestNone (and
// any digest the protocol does not know: parseHeader refuses those).
func (d digest) newHash() hash.Hash {
	switch d {
	case digestSHA256:
		return sha256.New()
	case digestBLAKE3:
		return new(blake3Hasher)
	}
	return nil
}
