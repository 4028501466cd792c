package ring

import (
	"fmt"
	"sync"
	"testing"
	"unsafe"
)

func TestNewPoolPanics(t *testing.T) {
	tests := []struct {
		name                      string
		bufSize, perSlab, maxBufs int
		want                      string
	}{
		{"zero bufSize", 0, 4, 8, "must be positive"},
		{"negative perSlab", 64, -1, 8, "must be positive"},
		{"zero maxBufs", 64, 4, 0, "must be positive"},
		{"perSlab above maxBufs", 64, 16, 8, "exceeds maxBufs"},
		{"maxBufs above int32", 64, 4, maxPoolBufs + 1, "exceeds"},
		{"slab overflows int", 1 << 40, 1 << 30, 1 << 30, "overflows int"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mustPanic(t, tt.want, func() { NewPool(tt.bufSize, tt.perSlab, tt.maxBufs) })
		})
	}
}

func TestPoolCaps(t *testing.T) {
	tests := []struct {
		name                      string
		bufSize, perSlab, maxBufs int
		gets                      int // single Gets attempted
		wantGot, wantAlloc        int
		wantMisses                uint64
	}{
		{"one slab partly used", PacketBufSize, 8, 32, 3, 3, 8, 0},
		{"exactly one slab", smallBufSize, 8, 32, 8, 8, 8, 0},
		{"spills into second slab", smallBufSize, 8, 32, 9, 9, 16, 0},
		{"cap reached", smallBufSize, 8, 32, 40, 32, 32, 8},
		{"partial last slab", 100, 8, 20, 25, 20, 20, 5},
		{"one buffer per slab", 64, 1, 3, 5, 3, 3, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := NewPool(tt.bufSize, tt.perSlab, tt.maxBufs)
			if p.Cap() != tt.maxBufs || p.BufSize() != tt.bufSize {
				t.Fatalf("Cap, BufSize = %d, %d; want %d, %d", p.Cap(), p.BufSize(), tt.maxBufs, tt.bufSize)
			}
			var got [][]byte
			for range tt.gets {
				if b := p.Get(); b != nil {
					if len(b) != tt.bufSize || cap(b) != tt.bufSize {
						t.Fatalf("Get: len %d cap %d; want %d", len(b), cap(b), tt.bufSize)
					}
					got = append(got, b)
				}
			}
			if len(got) != tt.wantGot || p.Allocated() != tt.wantAlloc ||
				p.Misses() != tt.wantMisses || p.inUse() != tt.wantGot {
				t.Fatalf("got %d, Allocated %d, Misses %d, inUse %d; want %d, %d, %d, %d",
					len(got), p.Allocated(), p.Misses(), p.inUse(),
					tt.wantGot, tt.wantAlloc, tt.wantMisses, tt.wantGot)
			}
			assertDisjoint(t, got)
			for _, b := range got {
				p.Put(b)
			}
			if p.inUse() != 0 || p.Allocated() != tt.wantAlloc {
				t.Fatalf("after Put: inUse %d, Allocated %d; want 0, %d", p.inUse(), p.Allocated(), tt.wantAlloc)
			}
		})
	}
}

// assertDisjoint fails unless no two buffers share a byte.
func assertDisjoint(tb testing.TB, bufs [][]byte) {
	tb.Helper()
	seen := make(map[uintptr]bool)
	for _, b := range bufs {
		for i := range b {
			a := uintptr(unsafe.Pointer(&b[i]))
			if seen[a] {
				tb.Fatalf("buffers overlap at %#x", a)
			}
			seen[a] = true
		}
	}
}

func TestPoolGetBatch(t *testing.T) {
	tests := []struct {
		name       string
		maxBufs    int
		held       int // taken with Get before the batch
		batch      int
		want       int
		wantMisses uint64
	}{
		{"full batch", 16, 0, 8, 8, 0},
		{"batch spans slabs", 16, 3, 8, 8, 0},
		{"partial batch", 16, 12, 8, 4, 4},
		{"exhausted", 16, 16, 8, 0, 8},
		{"empty dst", 16, 0, 0, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := NewPool(64, 4, tt.maxBufs)
			held := make([][]byte, tt.held)
			if n := p.getBatch(held); n != tt.held {
				t.Fatalf("setup getBatch = %d; want %d", n, tt.held)
			}
			sentinel := []byte("untouched")
			dst := make([][]byte, tt.batch)
			for i := range dst {
				dst[i] = sentinel
			}
			n := p.getBatch(dst)
			if n != tt.want || p.Misses() != tt.wantMisses {
				t.Fatalf("getBatch = %d, Misses %d; want %d, %d", n, p.Misses(), tt.want, tt.wantMisses)
			}
			for i, b := range dst {
				if i < n && (len(b) != 64 || cap(b) != 64) {
					t.Fatalf("dst[%d]: len %d cap %d; want 64", i, len(b), cap(b))
				}
				if i >= n && &b[0] != &sentinel[0] {
					t.Fatalf("dst[%d] beyond n was overwritten", i)
				}
			}
			assertDisjoint(t, append(held, dst[:n]...))
			p.putBatch(dst[:n])
			for i, b := range dst[:n] {
				if b != nil {
					t.Fatalf("putBatch left dst[%d] non-nil", i)
				}
			}
			p.putBatch(held)
			if p.inUse() != 0 {
				t.Fatalf("inUse = %d after returning everything", p.inUse())
			}
		})
	}
}

func TestPoolReuse(t *testing.T) {
	p := NewPool(128, 4, 8)
	a := p.Get()
	// A shortened buffer is accepted and comes back at full length (LIFO).
	p.Put(a[:10])
	b := p.Get()
	if &b[0] != &a[0] || len(b) != 128 || cap(b) != 128 {
		t.Fatalf("Get after Put: same %v len %d cap %d; want same buffer at 128", &b[0] == &a[0], len(b), cap(b))
	}
	// Get issues the lowest address of a fresh slab first.
	c := p.Get()
	if uintptr(unsafe.Pointer(&c[0])) != uintptr(unsafe.Pointer(&b[0]))+128 {
		t.Fatalf("second Get is not the next buffer in the slab")
	}
	p.Put(b)
	p.Put(c)
}

func TestPoolPutPanics(t *testing.T) {
	other := NewPool(64, 4, 8)
	foreignPooled := other.Get()
	tests := []struct {
		name string
		buf  func(p *Pool) []byte
		want string
	}{
		{"nil", func(*Pool) []byte { return nil }, "with cap 0"},
		{"wrong size", func(*Pool) []byte { return make([]byte, 32) }, "with cap 32"},
		{"tail reslice", func(p *Pool) []byte { return p.Get()[1:] }, "with cap 63"},
		{"heap buffer of right size", func(*Pool) []byte { return make([]byte, 64) }, "does not start a buffer"},
		{"other pool's buffer", func(*Pool) []byte { return foreignPooled }, "does not start a buffer"},
		{"misaligned inside slab", func(p *Pool) []byte {
			b := p.Get()
			return unsafe.Slice(&b[1], 64)
		}, "does not start a buffer"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := NewPool(64, 4, 8)
			p.Get() // carve a slab so the range check has something to search
			b := tt.buf(p)
			mustPanic(t, tt.want, func() { p.Put(b) })
			mustPanic(t, tt.want, func() { p.putBatch([][]byte{b}) })
			// The panic was raised after unlocking: the pool still works.
			if p.Get() == nil {
				t.Fatal("pool unusable after a recovered panic")
			}
		})
	}
	other.Put(foreignPooled)
}

// TestPoolIndex checks the address range check directly on addresses, so it
// can probe just outside the slabs without forming out-of-object pointers.
func TestPoolIndex(t *testing.T) {
	p := NewPool(64, 4, 10) // slabs of 4, 4 and 2 buffers
	getN := make([][]byte, 10)
	p.getBatch(getN)
	for s, sl := range p.slabs {
		tests := []struct {
			name    string
			addr    uintptr
			wantIdx uint32
			wantOK  bool
		}{
			{"first", sl.base, uint32(s * 4), true},
			{"last", sl.base + uintptr(len(sl.mem)) - 64, uint32(s*4 + len(sl.mem)/64 - 1), true},
			{"before", sl.base - 64, 0, false},
			{"end", sl.base + uintptr(len(sl.mem)), 0, false},
			{"misaligned", sl.base + 65, 0, false},
		}
		for _, tt := range tests {
			idx, ok := p.indexLocked(tt.addr)
			// Another slab may sit right before or after this one.
			if tt.name == "before" || tt.name == "end" {
				if ok && idx/4 == uint32(s) {
					t.Errorf("slab %d %s: index %d inside this slab", s, tt.name, idx)
				}
				continue
			}
			if ok != tt.wantOK || idx != tt.wantIdx {
				t.Errorf("slab %d %s: indexLocked = %d, %v; want %d, %v", s, tt.name, idx, ok, tt.wantIdx, tt.wantOK)
			}
		}
	}
	p.putBatch(getN)
}

func TestPoolDoublePut(t *testing.T) {
	// Without the debug tag only a Put that would overflow the free list is
	// detectable; with it, every double Put is (see pool_debug_test.go).
	p := NewPool(64, 4, 4)
	b := p.Get()
	p.Put(b)
	mustPanic(t, "double Put", func() { p.Put(b) })
	if p.inUse() != 0 || p.Allocated() != 4 {
		t.Fatalf("inUse %d, Allocated %d after rejected double Put; want 0, 4", p.inUse(), p.Allocated())
	}
}

// TestPoolMemoryBounded checks that a pool with cap N never carves more than
// N buffers (nor more than N*bufSize bytes of slabs), however many Gets and
// GetBatches are attempted, and that every refused request is counted.
func TestPoolMemoryBounded(t *testing.T) {
	for _, n := range []int{1, 7, 64, 1000} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			p := NewPool(32, min(16, n), n)
			var held [][]byte
			attempts := 0
			for range 10 * n {
				attempts++
				if b := p.Get(); b != nil {
					held = append(held, b)
				}
			}
			batch := make([][]byte, 64)
			for range 10 {
				attempts += len(batch)
				held = append(held, batch[:p.getBatch(batch)]...)
			}
			if len(held) != n || p.Allocated() != n || p.inUse() != n {
				t.Fatalf("held %d, Allocated %d, inUse %d; want all %d", len(held), p.Allocated(), p.inUse(), n)
			}
			if want := uint64(attempts - n); p.Misses() != want {
				t.Fatalf("Misses = %d; want %d", p.Misses(), want)
			}
			slabBytes := 0
			for _, s := range p.slabs {
				slabBytes += len(s.mem)
			}
			if slabBytes != n*32 {
				t.Fatalf("slabs hold %d bytes; want %d", slabBytes, n*32)
			}
			// Cycling buffers through the pool carves nothing more.
			p.putBatch(held)
			for range 5 * n {
				p.Put(p.Get())
			}
			if p.Allocated() != n || len(p.slabs) != (n+15)/16 {
				t.Fatalf("after cycling: Allocated %d, slabs %d", p.Allocated(), len(p.slabs))
			}
		})
	}
}

// TestPoolConcurrent runs Get/Put and getBatch/putBatch from several
// goroutines (meaningful under -race) and checks exclusive ownership: each
// goroutine stamps its buffers and verifies the stamp before returning them.
func TestPoolConcurrent(t *testing.T) {
	const (
		workers = 4
		rounds  = 500
		maxBufs = 24 // fewer than workers*8, so the cap is hit and misses occur
	)
	p := NewPool(64, 4, maxBufs)
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Go(func() {
			stamp := byte(w + 1)
			batch := make([][]byte, 8)
			for r := range rounds {
				var bufs [][]byte
				if r%2 == 0 {
					bufs = batch[:p.getBatch(batch)]
				} else if b := p.Get(); b != nil {
					bufs = [][]byte{b}
				}
				for _, b := range bufs {
					for i := range b {
						b[i] = stamp
					}
				}
				for _, b := range bufs {
					for i := range b {
						if b[i] != stamp {
							errs <- fmt.Errorf("worker %d: buffer shared with worker %d", w, b[i]-1)
							return
						}
					}
				}
				if r%2 == 0 {
					p.putBatch(bufs)
				} else {
					for _, b := range bufs {
						p.Put(b)
					}
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if p.inUse() != 0 || p.Allocated() > maxBufs {
		t.Fatalf("inUse %d, Allocated %d; want 0, <= %d", p.inUse(), p.Allocated(), maxBufs)
	}
}
