package main

import (
	"bytes"
	"io"
	"testing"
)

func TestPatternAnyChunking(t *testing.T) {
	const n = 1000
	whole := make([]byte, n)
	patternAt(whole, 5, 0)
	if bytes.Equal(whole[:8], whole[8:16]) {
		t.Fatal("pattern repeats word to word")
	}
	other := make([]byte, n)
	patternAt(other, 6, 0)
	if bytes.Equal(whole, other) {
		t.Fatal("two seeds gave the same stream")
	}
	for _, off := range []int{0, 1, 7, 8, 9, 15, 333, 999} {
		for _, ln := range []int{0, 1, 3, 8, 13, n - off} {
			if off+ln > n {
				continue
			}
			got := make([]byte, ln)
			patternAt(got, 5, uint64(off))
			if !bytes.Equal(got, whole[off:off+ln]) {
				t.Errorf("patternAt(off %d, len %d) differs from the whole stream", off, ln)
			}
		}
	}
}

func TestPatternMismatch(t *testing.T) {
	b := make([]byte, 100)
	patternAt(b, 9, 50)
	scratch := make([]byte, 100)
	if i := patternMismatch(b, 9, 50, scratch); i != -1 {
		t.Fatalf("mismatch at %d in an intact chunk", i)
	}
	b[37] ^= 1
	if i := patternMismatch(b, 9, 50, scratch); i != 37 {
		t.Fatalf("mismatch at %d, want 37", i)
	}
	b[37] ^= 1
	if i := patternMismatch(b, 9, 51, scratch); i == -1 {
		t.Fatal("a shifted chunk matched")
	}
}

func TestPatternReader(t *testing.T) {
	r := &patternReader{seed: 3, n: 100_003}
	got, err := io.ReadAll(io.LimitReader(r, 1<<20))
	if err != nil {
		t.Fatal(err)
	}
	want := make([]byte, 100_003)
	patternAt(want, 3, 0)
	if !bytes.Equal(got, want) {
		t.Fatal("patternReader differs from patternAt")
	}
}

func TestMessageAt(t *testing.T) {
	m0, m1 := make([]byte, messageLen), make([]byte, messageLen)
	messageAt(m0, 1, 0)
	messageAt(m1, 1, 1)
	whole := make([]byte, 2*messageLen)
	patternAt(whole, 1, 0)
	if !bytes.Equal(m0, whole[:messageLen]) || !bytes.Equal(m1, whole[messageLen:]) {
		t.Fatal("messages are not consecutive windows of the stream")
	}
}

func TestNoAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts differ under -race")
	}
	buf := make([]byte, 64*kiB)
	scratch := make([]byte, 64*kiB)
	tests := []struct {
		name string
		f    func()
	}{
		{"patternAt", func() { patternAt(buf, 1, 3) }},
		{"patternMismatch", func() { patternMismatch(buf, 1, 3, scratch) }},
		{"messageAt", func() { messageAt(buf[:messageLen], 1, 9) }},
	}
	for _, tt := range tests {
		if n := testing.AllocsPerRun(20, tt.f); n != 0 {
			t.Errorf("%s: %v allocations, want 0", tt.name, n)
		}
	}
}

func BenchmarkPatternAt(b *testing.B) {
	for _, size := range []int{64, 256 * kiB} {
		b.Run(formatBytes(int64(size)), func(b *testing.B) {
			buf := make([]byte, size)
			b.ReportAllocs()
			b.SetBytes(int64(size))
			for b.Loop() {
				patternAt(buf, 1, 0)
			}
		})
	}
}
