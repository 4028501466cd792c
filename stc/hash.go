package stc

import (
	"crypto/sha3"
	"hash"
)

// HashLen is the length of a content hash (SHA3-256).
const HashLen = 32

// Hash returns the SHA3-256 digest of b: STT's content address (storage)
// and commitment hash. It does not allocate and is safe for concurrent use.
func Hash(b []byte) [HashLen]byte { return sha3.Sum256(b) }

// hasher computes SHA3-256 incrementally, for content too large to hold at
// once. The zero value is ready to use. A hasher must not be used from two
// goroutines at once; copying one forks the running hash. It implements
// [hash.Hash].
type hasher struct {
	h sha3.SHA3 // the zero sha3.SHA3 is SHA3-256
}

var _ hash.Hash = (*hasher)(nil)

// newHasher returns a fresh SHA3-256 hasher, equal to a zero hasher.
func newHasher() *hasher { return &hasher{h: *sha3.New256()} }

// Write absorbs p. It never returns an error and does not retain p.
func (h *hasher) Write(p []byte) (int, error) { return h.h.Write(p) }

// Sum appends the digest of everything written so far to b and returns the
// result; it does not change the running state. It does not allocate when
// b has HashLen bytes of spare capacity.
func (h *hasher) Sum(b []byte) []byte { return h.h.Sum(b) }

// Sum256 returns the digest of everything written so far as an array,
// without changing the running state. It does not allocate.
func (h *hasher) Sum256() [HashLen]byte {
	var d [HashLen]byte
	h.h.Sum(d[:0])
	return d
}

// Reset clears the running state.
func (h *hasher) Reset() { h.h.Reset() }

// Size returns HashLen.
func (h *hasher) Size() int { return HashLen }

// BlockSize returns SHA3-256's rate in bytes (136).
func (h *hasher) BlockSize() int { return h.h.BlockSize() }
