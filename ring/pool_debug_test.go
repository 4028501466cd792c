//go:build sttdebug

package ring

import (
	"testing"
	"unsafe"
)

// Run with: go test -tags sttdebug ./ring/

func TestDebugPoisonOnPut(t *testing.T) {
	p := NewPool(64, 4, 8)
	b := p.Get()
	for i := range b {
		b[i] = byte(i)
	}
	p.Put(b[:3])
	for i, c := range b[:cap(b)] { // reading after Put only to observe the poison
		if c != poisonByte {
			t.Fatalf("byte %d = %#x after Put; want poison %#x", i, c, poisonByte)
		}
	}
}

func TestDebugFreshBuffersArePoisoned(t *testing.T) {
	p := NewPool(64, 4, 8)
	for _, b := range getBatch(p, 5) {
		for i, c := range b {
			if c != poisonByte {
				t.Fatalf("fresh buffer byte %d = %#x; want poison", i, c)
			}
		}
	}
}

func TestDebugMisuse(t *testing.T) {
	tests := []struct {
		name string
		run  func(p *Pool)
		want string
	}{
		{"double Put", func(p *Pool) {
			b := p.Get()
			p.Get() // keep one outstanding so the free list cannot overflow
			p.Put(b)
			p.Put(b)
		}, "not outstanding"},
		{"double Put in one batch", func(p *Pool) {
			b := p.Get()
			p.Get()
			p.putBatch([][]byte{b, b})
		}, "not outstanding"},
		{"Put of never-issued buffer", func(p *Pool) {
			b := p.Get()
			p.Get()
			// The buffer two places on in the slab was carved but never issued.
			p.Put(unsafe.Slice((*byte)(unsafe.Add(unsafe.Pointer(&b[0]), 2*64)), 64))
		}, "not outstanding"},
		{"write after Put", func(p *Pool) {
			b := p.Get()
			p.Put(b)
			b[10] = 1 // the bug under test
			p.Get()
		}, "written after Put (poison overwritten at offset 10)"},
		{"write after Put caught by getBatch", func(p *Pool) {
			b := p.Get()
			p.Put(b)
			b[63] = 0
			getBatch(p, 2)
		}, "offset 63"},
		{"foreign buffer", func(p *Pool) {
			p.Get()
			p.Put(make([]byte, 64))
		}, "does not start a buffer"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := NewPool(64, 4, 8)
			mustPanic(t, tt.want, func() { tt.run(p) })
		})
	}
}

func getBatch(p *Pool, n int) [][]byte {
	bs := make([][]byte, n)
	return bs[:p.getBatch(bs)]
}
