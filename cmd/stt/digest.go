package main

import (
	"crypto/sha256"
	"hash"

	"github.com/zeebo/blake3"
)

// A file transfer's whole-file digest (docs/FILE-TRANSFER.md, Digest) is
// computed on both ends beside the stream, on a chunkPipe's worker. Both
// ends of a transfer on one machine share its cores with the transport,
// so the digest's speed is part of the transfer's: on the development
// machine (Intel Xeon with SHA-NI, AVX2 and AVX-512; go test -bench
// Digest over 256 KiB chunks, machine shared) one core hashes
// 2.2–3.7 GB/s with BLAKE3 (github.com/zeebo/blake3, AVX2), 1.2–1.7 GB/s
// with SHA-256 (crypto/sha256, SHA-NI), 0.6–0.95 GB/s with BLAKE2b-256
// and 0.46 GB/s with protocol 1's SHA3-256. BLAKE3 is the default of
// stt send; SHA-256 stays selectable (sha256sum prints the same value).
//
// Why a library for BLAKE3: its speed comes from hashing 8 or 16 of its
// 1 KiB chunks at once in SIMD assembly, and zeebo/blake3 carries that
// (AVX2 and SSE4.1 with a pure-Go fallback, checked against the official
// test vectors in its tests and ours) without allocating per Write or
// starting goroutines. lukechampine.com/blake3 v1.4.1 has AVX-512 code
// but hashes every large Write on new goroutines (63 allocations per
// 256 KiB chunk here), which would take the core the transport needs.

// digestLen is the size of every digest a reply carries.
const digestLen = 32

// newHash returns a new hash of d's algorithm, or nil for digestNone (and
// any digest the protocol does not know: parseHeader refuses those).
func (d digest) newHash() hash.Hash {
	switch d {
	case digestSHA256:
		return sha256.New()
	case digestBLAKE3:
		return blake3.New()
	}
	return nil
}
