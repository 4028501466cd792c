package main

import (
	"encoding/binary"

	"lukechampine.com/blake3/guts"
)

// blake3Group is how many bytes blake3Hasher compresses at once: 16
// chunks, the width of guts.CompressBuffer (AVX-512 16 lanes, AVX2 twice
// 8; generic code elsewhere).
const blake3Group = guts.MaxSIMD * guts.ChunkSize

// blake3Hasher is BLAKE3 (unkeyed hash mode, 32-byte output) as
// hash.Hash, on one goroutine, without allocating: the tree of the
// BLAKE3 specification (§2.1, §5.1.2 of the BLAKE3 paper) over
// lukechampine.com/blake3/guts's compression, 16 chunks per call.
//
// The input goes into the tree in whole groups of 16 chunks (from the
// caller's slice when nothing is buffered, else through buf), so every
// group starts at a chunk counter that is a multiple of 16 and is a
// complete subtree of height 4; stack and counter are the usual
// incremental stack of subtree roots (stack[i] holds a subtree of 2^i
// chunks when bit i of counter is set). The last group, which may be
// partial and holds the final chunk, stays in buf until Sum, which
// merges it with the stack from the lowest subtree up. A group is
// compressed only once more input follows it, so buf is never empty
// at Sum unless the input is.
//
// lukechampine.com/blake3's own Hasher computes the same tree but
// compresses each large Write on new goroutines; TestBLAKE3Vectors and
// FuzzBLAKE3 check this one against the official vectors and against it.
type blake3Hasher struct {
	stack   [54][8]uint32 // 2^54 chunks = 2^64 bytes
	counter uint64        // chunks in the stack
	buf     [blake3Group]byte
	buflen  int
}

// Write adds p to the hash. It never fails.
func (h *blake3Hasher) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		switch {
		case h.buflen == blake3Group:
			// Full, and more input follows: the group is not the last.
			h.push(guts.CompressBuffer(&h.buf, blake3Group, &guts.IV, h.counter, 0))
			h.buflen = 0
		case h.buflen == 0 && len(p) > blake3Group:
			h.push(guts.CompressBuffer((*[blake3Group]byte)(p), blake3Group, &guts.IV, h.counter, 0))
			p = p[blake3Group:]
		default:
			k := copy(h.buf[h.buflen:], p)
			h.buflen += k
			p = p[k:]
		}
	}
	return n, nil
}

// push adds the root node of the 16-chunk group at h.counter to the
// stack, merging the complete subtrees it closes.
func (h *blake3Hasher) push(group guts.Node) {
	cv := guts.ChainingValue(group)
	const height = 4 // log2(guts.MaxSIMD)
	i := height
	for h.counter&(1<<i) != 0 {
		cv = guts.ChainingValue(guts.ParentNode(h.stack[i], cv, &guts.IV, 0))
		i++
	}
	h.stack[i] = cv
	h.counter += 1 << height
}

// Sum appends the 32-byte hash of the input so far to b; it does not
// change the state.
func (h *blake3Hasher) Sum(b []byte) []byte {
	n := guts.CompressBuffer(&h.buf, h.buflen, &guts.IV, h.counter, 0)
	for i := 4; i < len(h.stack); i++ {
		if h.counter&(1<<i) != 0 {
			n = guts.ParentNode(h.stack[i], guts.ChainingValue(n), &guts.IV, 0)
		}
	}
	n.Flags |= guts.FlagRoot
	words := guts.CompressNode(n)
	for _, w := range words[:8] {
		b = binary.LittleEndian.AppendUint32(b, w)
	}
	return b
}

// Reset empties the hash.
func (h *blake3Hasher) Reset() { h.counter, h.buflen = 0, 0 }

// Size is 32, the BLAKE3 default output length.
func (h *blake3Hasher) Size() int { return 32 }

// BlockSize is BLAKE3's block size, 64 bytes.
func (h *blake3Hasher) BlockSize() int { return guts.BlockSize }
