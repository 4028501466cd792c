package stc

import (
	"encoding/hex"
	"hash"
	"testing"
)

func TestHash(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		// FIPS 202 / NIST CAVS SHA3-256 vectors.
		{"", "a7ffc6f8bf1ed76651c14756a061d662f580ff4de43b49fa82d80a4b80f8434a"},
		{"abc", "3a985da74fe225b2045c172d6bd390bd855f086e3e9d525b46bfe24511431532"},
	} {
		got := Hash([]byte(c.in))
		if hex.EncodeToString(got[:]) != c.want {
			t.Errorf("Hash(%q) = %x", c.in, got)
		}
	}
}

// TestHasher checks that incremental hashing in any split equals Hash, for
// the zero value and newHasher, and that Sum does not disturb the state.
func TestHasher(t *testing.T) {
	data := seqBytes(0, 1000)
	want := Hash(data)
	for _, split := range []int{0, 1, 135, 136, 137, 500, 1000} {
		for _, h := range []*hasher{new(hasher), newHasher()} {
			h.Write(data[:split])
			mid := h.Sum256()
			if mid != Hash(data[:split]) {
				t.Fatalf("split %d: intermediate Sum256 wrong", split)
			}
			h.Write(data[split:])
			if got := h.Sum256(); got != want {
				t.Fatalf("split %d: Sum256 differs from Hash", split)
			}
			if got := h.Sum([]byte("prefix")); string(got[:6]) != "prefix" || [32]byte(got[6:]) != want {
				t.Fatalf("split %d: Sum does not append the digest", split)
			}
			h.Reset()
			if h.Sum256() != Hash(nil) {
				t.Fatalf("split %d: Reset did not clear", split)
			}
		}
	}
	var hh hash.Hash = newHasher()
	if hh.Size() != HashLen || hh.BlockSize() != 136 {
		t.Fatalf("Size/BlockSize = %d/%d", hh.Size(), hh.BlockSize())
	}
}
