package ring

import (
	"fmt"
	"math"
	"slices"
	"sync"
	"unsafe"
)

// Buffer sizes for STT's pools. Each is the largest thing one buffer must hold,
// rounded up so buffers tile pages evenly.
const (
	// PacketBufSize holds one datagram. The largest datagram STT sends is
	// 1452 bytes (1500-byte Ethernet MTU minus the 40-byte IPv6 header and
	// 8-byte UDP header), so 2048 leaves 596 bytes of headroom: a receive
	// into a 2048-byte buffer sees an oversize datagram whole (and drops it
	// by length) instead of silently truncating it, and a sender can build
	// the header in front of the payload without copying. As a power of two,
	// two buffers fill a 4 KiB page exactly and none straddles a page.
	PacketBufSize = 2048

	// groBufSize holds one UDP GRO-coalesced receive: the kernel glues
	// same-flow datagrams into one buffer of at most 64 KiB (the IP length
	// limit; Linux udp_gro_receive stops at 65535 bytes), which the receive
	// path then splits at the gso_size the kernel reports.
	groBufSize = 65536

	// smallBufSize holds an ACK or control packet: header, a few ACK ranges
	// and the AEAD tag fit comfortably, so these small, frequent packets do
	// not pin a 2 KiB buffer each.
	smallBufSize = 256
)

// maxPoolBufs bounds maxBufs so a buffer index fits the uint32 free list.
const maxPoolBufs = math.MaxInt32

// Pool hands out fixed-size byte buffers carved from slabs: each slab is one
// backing array of perSlab buffers, allocated the first time the free list
// runs dry and never freed while the Pool lives. The Pool never carves more
// than Cap buffers, so its memory is bounded by Cap*bufSize bytes plus a
// 4-byte free-list entry per carved buffer, however many Gets are attempted.
//
// A Pool is safe for concurrent use: one mutex guards a LIFO free list (LIFO
// so the most recently returned, cache-warm buffer goes out next). Carving a
// slab allocates under that mutex, which only happens while the pool warms up.
// The zero Pool is not usable; create one with NewPool.
//
// Ownership: a buffer from Get or getBatch belongs to the caller until it is
// handed back with Put or putBatch, after which the caller must not touch it.
// Returning a buffer twice, returning a resized or foreign buffer, or using a
// buffer after Put are bugs in STT, never something a peer can cause; Put
// panics on the ones it can detect, and the sttdebug build tag detects the
// rest (see Put).
type Pool struct {
	// Immutable after NewPool.
	bufSize  int
	perSlab  int
	maxBufs  int
	slabSize int // perSlab*bufSize bytes

	mu sync.Mutex
	// The fields below are protected by mu.
	free      []uint32 // indices of free buffers; LIFO stack
	slabs     []slab   // in carving order: slab s holds indices [s*perSlab, s*perSlab+n)
	byAddr    []uint32 // slab numbers sorted by base address, for Put's range check
	allocated int      // buffers carved so far
	misses    uint64   // buffer requests that found the pool exhausted
	dbg       poolDebug
}

// slab is one backing array. base is its address; the Go heap does not move
// objects and mem keeps the array alive, so base stays valid.
type slab struct {
	mem  []byte
	base uintptr
}

// NewPool returns an empty Pool of bufSize-byte buffers that carves perSlab
// buffers per slab and at most maxBufs buffers in total. It allocates only
// bookkeeping; slabs are carved lazily by Get and getBatch.
//
// NewPool panics if bufSize, perSlab or maxBufs is not positive, if perSlab
// exceeds maxBufs, if maxBufs exceeds math.MaxInt32 or if one slab would not
// fit in an int: those are configuration bugs in STT, not runtime conditions.
func NewPool(bufSize, perSlab, maxBufs int) *Pool {
	switch {
	case bufSize <= 0 || perSlab <= 0 || maxBufs <= 0:
		panic(fmt.Sprintf("ring: NewPool(%d, %d, %d): sizes must be positive", bufSize, perSlab, maxBufs))
	case perSlab > maxBufs:
		panic(fmt.Sprintf("ring: NewPool: perSlab %d exceeds maxBufs %d", perSlab, maxBufs))
	case maxBufs > maxPoolBufs:
		panic(fmt.Sprintf("ring: NewPool: maxBufs %d exceeds %d", maxBufs, maxPoolBufs))
	case bufSize > math.MaxInt/perSlab:
		panic(fmt.Sprintf("ring: NewPool: slab of %d x %d bytes overflows int", perSlab, bufSize))
	}
	nslabs := (maxBufs + perSlab - 1) / perSlab
	p := &Pool{
		bufSize:  bufSize,
		perSlab:  perSlab,
		maxBufs:  maxBufs,
		slabSize: perSlab * bufSize,
		slabs:    make([]slab, 0, nslabs),
		byAddr:   make([]uint32, 0, nslabs),
	}
	p.dbg.init(maxBufs)
	return p
}

// BufSize returns the size of every buffer in the pool.
func (p *Pool) BufSize() int { return p.bufSize }

// Get returns a free buffer with len == cap == BufSize, or nil when Cap
// buffers are already in use. A nil result is counted in Misses; the caller
// must treat it as back-pressure (a receive loop stops reading and lets the
// kernel drop datagrams, which the kernel counts in its receive-buffer
// errors), never as a reason to allocate outside the pool.
//
// The buffer's contents are whatever its last owner left (zero for a freshly
// carved buffer; 0xDB poison under the sttdebug tag). Get does not allocate
// unless it carves a new slab (at most Cap/perSlab times in the pool's life).
func (p *Pool) Get() []byte {
	p.mu.Lock()
	if len(p.free) == 0 && !p.carveLocked() {
		p.misses++
		p.mu.Unlock()
		return nil
	}
	idx := p.free[len(p.free)-1]
	p.free = p.free[:len(p.free)-1]
	b := p.bufLocked(idx)
	f := p.dbg.issued(idx, b)
	p.mu.Unlock()
	if f != faultNone {
		p.panicFault(f, b)
	}
	return b
}

// getBatch fills dst[0:n] with free buffers (each len == cap == BufSize) under
// one lock acquisition and returns n. n is less than len(dst) only when the
// pool is exhausted; every slot left unfilled counts as one miss, and
// dst[n:] is left untouched. Use it to refill a recvmmsg batch. getBatch
// does not allocate unless it carves new slabs.
func (p *Pool) getBatch(dst [][]byte) int {
	p.mu.Lock()
	n := 0
	for n < len(dst) {
		if len(p.free) == 0 && !p.carveLocked() {
			p.misses += uint64(len(dst) - n)
			break
		}
		idx := p.free[len(p.free)-1]
		p.free = p.free[:len(p.free)-1]
		b := p.bufLocked(idx)
		if f := p.dbg.issued(idx, b); f != faultNone {
			p.mu.Unlock()
			p.panicFault(f, b)
		}
		dst[n] = b
		n++
	}
	p.mu.Unlock()
	return n
}

// Put returns b to the pool; the pool takes ownership and the caller must not
// use b (or any slice of it) afterwards. b may have been resliced to a
// shorter length (b[:n]) but must start at the buffer's first byte and keep
// its capacity; the next Get hands it out at full length again. Put does not
// allocate.
//
// Put panics, as an STT bug, if cap(b) != BufSize, if b does not start at a
// buffer boundary inside one of this pool's slabs (a foreign or resliced
// buffer), or if every carved buffer is already free (a double Put caught
// without the debug tag). The foreign-buffer check is a binary search over
// the slabs by address, O(log(Cap/perSlab)) comparisons under the mutex: a
// few nanoseconds for the hundreds of slabs STT's pools hold. Under the
// sttdebug tag Put also panics on any double Put or Put of a buffer the pool
// never issued, and fills b with 0xDB so a use after Put shows up as poison
// (and is reported by the Get that next issues b).
func (p *Pool) Put(b []byte) {
	p.mu.Lock()
	if f := p.putLocked(b); f != faultNone {
		p.mu.Unlock()
		p.panicFault(f, b)
	}
	p.mu.Unlock()
}

// putBatch returns every buffer in bs to the pool under one lock acquisition,
// with Put's contract and panics for each, and sets each bs[i] to nil so the
// caller's batch holds no reference to buffers it no longer owns. It does not
// allocate.
func (p *Pool) putBatch(bs [][]byte) {
	p.mu.Lock()
	for i, b := range bs {
		if f := p.putLocked(b); f != faultNone {
			p.mu.Unlock()
			p.panicFault(f, b)
		}
		bs[i] = nil
	}
	p.mu.Unlock()
}

// inUse returns how many buffers are currently out of the pool (issued and
// not yet returned). Safe for concurrent use; the value may be stale at once.
func (p *Pool) inUse() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.allocated - len(p.free)
}

// Allocated returns how many buffers the pool has carved so far; it never
// exceeds Cap and never decreases. Safe for concurrent use.
func (p *Pool) Allocated() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.allocated
}

// Cap returns the maximum number of buffers the pool will ever carve.
func (p *Pool) Cap() int { return p.maxBufs }

// Misses returns how many buffer requests the pool could not serve: one per
// Get that returned nil and one per slot getBatch left unfilled. Safe for
// concurrent use.
func (p *Pool) Misses() uint64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.misses
}

// carveLocked allocates the next slab and pushes its buffers on the free list.
// It reports false when Cap buffers have already been carved. p.mu is held.
func (p *Pool) carveLocked() bool {
	n := min(p.perSlab, p.maxBufs-p.allocated)
	if n <= 0 {
		return false
	}
	mem := make([]byte, n*p.bufSize)
	s := uint32(len(p.slabs))
	base := uintptr(unsafe.Pointer(unsafe.SliceData(mem)))
	p.slabs = append(p.slabs, slab{mem: mem, base: base})
	// Insert s into byAddr keeping it sorted by base address.
	at, _ := slices.BinarySearchFunc(p.byAddr, base, func(e uint32, t uintptr) int {
		switch b := p.slabs[e].base; {
		case b < t:
			return -1
		case b > t:
			return 1
		}
		return 0
	})
	p.byAddr = slices.Insert(p.byAddr, at, s)
	p.dbg.carved(mem)
	// Push in reverse so the lowest address is issued first.
	first := uint32(int(s) * p.perSlab)
	p.free = slices.Grow(p.free, n)
	for i := n - 1; i >= 0; i-- {
		p.free = append(p.free, first+uint32(i))
	}
	p.allocated += n
	return true
}

// bufLocked returns buffer idx at full length and capacity. p.mu is held.
func (p *Pool) bufLocked(idx uint32) []byte {
	s := int(idx) / p.perSlab
	off := (int(idx) - s*p.perSlab) * p.bufSize
	return p.slabs[s].mem[off : off+p.bufSize : off+p.bufSize]
}

// putLocked validates b and pushes it on the free list. p.mu is held.
func (p *Pool) putLocked(b []byte) fault {
	if cap(b) != p.bufSize {
		return faultSize
	}
	idx, ok := p.indexLocked(uintptr(unsafe.Pointer(unsafe.SliceData(b))))
	if !ok {
		return faultForeign
	}
	if f := p.dbg.returned(idx, b[:cap(b)]); f != faultNone {
		return f
	}
	if len(p.free) >= p.allocated {
		return faultOverflow
	}
	p.free = append(p.free, idx)
	return faultNone
}

// indexLocked maps a buffer's start address to its index, reporting false if
// addr is not the first byte of a buffer in one of the pool's slabs. It binary
// searches byAddr for the last slab whose base is <= addr. p.mu is held.
func (p *Pool) indexLocked(addr uintptr) (uint32, bool) {
	lo, hi := 0, len(p.byAddr)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if p.slabs[p.byAddr[m]].base <= addr {
			lo = m + 1
		} else {
			hi = m
		}
	}
	if lo == 0 {
		return 0, false
	}
	s := p.byAddr[lo-1]
	sl := &p.slabs[s]
	off := addr - sl.base
	if off >= uintptr(len(sl.mem)) || off%uintptr(p.bufSize) != 0 {
		return 0, false
	}
	return uint32(int(s)*p.perSlab + int(off)/p.bufSize), true
}

// fault names a misuse detected under the mutex; the panic is raised after
// unlocking so a recovered panic does not leave the pool locked.
type fault uint8

const (
	faultNone      fault = iota
	faultSize            // cap(b) != bufSize
	faultForeign         // b does not start at a buffer boundary of this pool
	faultOverflow        // more Puts than carved buffers: a double Put
	faultNotIssued       // debug: b is not outstanding (double Put or never issued)
	faultPoison          // debug: b was written after Put
)

// panicFault panics with a message naming the misuse and the buffer.
func (p *Pool) panicFault(f fault, b []byte) {
	addr := unsafe.SliceData(b)
	switch f {
	case faultSize:
		panic(fmt.Sprintf("ring: Put of buffer %p with cap %d into a pool of %d-byte buffers", addr, cap(b), p.bufSize))
	case faultForeign:
		panic(fmt.Sprintf("ring: Put of buffer %p that does not start a buffer of this pool (foreign or resliced)", addr))
	case faultOverflow:
		panic(fmt.Sprintf("ring: Put of buffer %p while every carved buffer is already free (double Put)", addr))
	case faultNotIssued:
		panic(fmt.Sprintf("ring: Put of buffer %p that is not outstanding (double Put or never issued) [sttdebug]", addr))
	case faultPoison:
		off := 0
		for off < len(b) && b[off] == poisonByte {
			off++
		}
		panic(fmt.Sprintf("ring: buffer %p was written after Put (poison overwritten at offset %d) [sttdebug]", addr, off))
	}
	panic(fmt.Sprintf("ring: unknown pool fault %d", f))
}

// poisonByte fills buffers returned to a pool under the sttdebug tag; 0xDB
// ("dead buffer") is unlikely as real packet content and easy to spot in a
// hex dump.
const poisonByte = 0xDB
