package dataplane

import (
	"testing"
	"unsafe"
)

// TestSessionSize keeps the Session struct within malloc's 1280-byte size
// class: the next class is 1408 bytes, 128 more for every session a node
// holds, idle or not (BenchmarkIdleSessionMemory). Group new bools with
// the flags at the end of the struct; a bool among 8-byte fields costs 7
// bytes of padding.
func TestSessionSize(t *testing.T) {
	if n := unsafe.Sizeof(Session{}); n > 1280 {
		t.Errorf("Session is %d bytes, over the 1280-byte size class", n)
	}
}
