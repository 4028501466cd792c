package main

import (
	"encoding/binary"
	"io"
)

// The demo and the benchmarks send deterministic data so the receiver can
// check every byte without a copy of it: byte k of the stream with a given
// seed is byte k%8 of splitmix64(seed, k/8). Any window of the stream can be
// produced (and so verified) on its own, in any chunking, at several GB/s —
// faster than any digest of the same data (docs/FILE-TRANSFER.md, kinds 5
// and 6).

// mix64 is the splitmix64 finaliser applied to word index i of stream seed.
func mix64(seed, i uint64) uint64 {
	z := seed ^ (i * 0x9E3779B97F4A7C15)
	z += 0x9E3779B97F4A7C15
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9
	z = (z ^ (z >> 27)) * 0x94D049BB133111EB
	return z ^ (z >> 31)
}

// patternAt fills dst with the stream of seed starting at byte offset off.
// It does not allocate.
func patternAt(dst []byte, seed, off uint64) {
	if r := off % 8; r != 0 && len(dst) > 0 {
		var w [8]byte
		binary.LittleEndian.PutUint64(w[:], mix64(seed, off/8))
		n := copy(dst, w[r:])
		dst, off = dst[n:], off+uint64(n)
	}
	i := off / 8
	for len(dst) >= 8 {
		binary.LittleEndian.PutUint64(dst, mix64(seed, i))
		dst, i = dst[8:], i+1
	}
	if len(dst) > 0 {
		var w [8]byte
		binary.LittleEndian.PutUint64(w[:], mix64(seed, i))
		copy(dst, w[:])
	}
}

// patternMismatch returns the index of the first byte of b that differs
// from the stream of seed at offset off, or -1. scratch must be at least
// len(b) long; it is overwritten.
func patternMismatch(b []byte, seed, off uint64, scratch []byte) int {
	want := scratch[:len(b)]
	patternAt(want, seed, off)
	if string(want) == string(b) {
		return -1
	}
	for i := range b {
		if b[i] != want[i] {
			return i
		}
	}
	return -1
}

// patternReader reads n bytes of the stream of seed, then io.EOF.
type patternReader struct {
	seed, off, n uint64
}

func (r *patternReader) Read(p []byte) (int, error) {
	if r.off >= r.n {
		return 0, io.EOF
	}
	if left := r.n - r.off; uint64(len(p)) > left {
		p = p[:left]
	}
	patternAt(p, r.seed, r.off)
	r.off += uint64(len(p))
	return len(p), nil
}

// messageLen is the size of the demo's and the benchmark's small messages.
const messageLen = 64

// messageAt fills dst (messageLen bytes) with message i of seed's stream.
func messageAt(dst []byte, seed, i uint64) { patternAt(dst, seed, i*messageLen) }
