//go:build sttdebug

package ring

// poolDebug tracks which buffers are outstanding and poisons free ones. It is
// compiled in only with the sttdebug tag; every method runs under Pool.mu.
//
// Outstanding buffers are tracked by index, which Put derives from the
// buffer's address, so one bit per buffer (Cap/8 bytes, allocated once in
// NewPool) is enough and the checks do not allocate.
type poolDebug struct {
	out []uint64 // bit i set: buffer i is issued and not yet returned
}

func (d *poolDebug) init(maxBufs int) {
	d.out = make([]uint64, (maxBufs+63)/64)
}

// carved poisons a fresh slab so the first Get of each buffer can verify the
// poison like any later one.
func (d *poolDebug) carved(mem []byte) {
	poison(mem)
}

// issued verifies b still holds the poison written when it was freed (a
// mismatch means someone wrote to it after Put) and marks it outstanding.
func (d *poolDebug) issued(idx uint32, b []byte) fault {
	for _, c := range b {
		if c != poisonByte {
			return faultPoison
		}
	}
	d.out[idx/64] |= 1 << (idx % 64)
	return faultNone
}

// returned rejects a buffer that is not outstanding, then marks it free and
// poisons it.
func (d *poolDebug) returned(idx uint32, b []byte) fault {
	w, bit := idx/64, uint64(1)<<(idx%64)
	if d.out[w]&bit == 0 {
		return faultNotIssued
	}
	d.out[w] &^= bit
	poison(b)
	return faultNone
}

// poison fills b with poisonByte by doubling copies (memmove-speed).
func poison(b []byte) {
	if len(b) == 0 {
		return
	}
	b[0] = poisonByte
	for n := 1; n < len(b); n *= 2 {
		copy(b[n:], b[:n])
	}
}
