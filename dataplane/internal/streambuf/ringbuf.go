package streambuf

// Ring storage shared by Send and Recv: stream offset o lives at
// buf[o % len(buf)], so a span of at most len(buf) consecutive offsets is at
// most two contiguous pieces. The modulo costs one division per call, not per
// byte, and lets capacity track a window that need not be a power of two.

// ringWrite copies src into buf at stream offset off. len(src) <= len(buf).
func ringWrite(buf []byte, off uint64, src []byte) {
	i := int(off % uint64(len(buf)))
	n := copy(buf[i:], src)
	copy(buf, src[n:])
}

// ringRead copies len(dst) bytes at stream offset off out of buf.
// len(dst) <= len(buf).
func ringRead(dst []byte, buf []byte, off uint64) {
	i := int(off % uint64(len(buf)))
	n := copy(dst, buf[i:])
	copy(dst[n:], buf)
}

// ringGrow returns storage of at least need bytes, doubling from the current
// size (or minStorage) and capped at ceiling (but never below need), with
// the span [from, to) of the old ring moved to its place in the new one.
// need <= ceiling is the caller's invariant. It allocates.
func ringGrow(old []byte, from, to uint64, need, ceiling uint64) []byte {
	c := max(uint64(len(old)), minStorage)
	for c < need {
		c *= 2
	}
	c = max(min(c, ceiling), need)
	nb := make([]byte, c)
	if n := to - from; n > 0 && len(old) > 0 {
		i := from % uint64(len(old))
		first := old[i:min(i+n, uint64(len(old)))]
		ringWrite(nb, from, first)
		ringWrite(nb, from+uint64(len(first)), old[:n-uint64(len(first))])
	}
	return nb
}

// signal leaves a wake-up token in ch (capacity 1) without blocking; a token
// already there absorbs this one. It does not allocate.
func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}
