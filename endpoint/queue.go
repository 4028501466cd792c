package endpoint

// ring is a FIFO of byte slices that grows by doubling up to a limit the
// caller enforces (it never holds more than the endpoint's QueueLen). The
// zero value is an empty ring. Not safe for concurrent use: the
// endpoint's mutex guards it.
type ring struct {
	buf  [][]byte
	head int // index of the oldest item
	n    int // items held
}

// push appends b, growing the ring if it is full (to at most limit slots).
func (r *ring) push(b []byte, limit int) {
	if r.n == len(r.buf) {
		r.grow(limit)
	}
	r.buf[(r.head+r.n)%len(r.buf)] = b
	r.n++
}

// pop removes and returns the oldest item; the ring must not be empty.
// The slot is cleared so the ring does not keep the item alive.
func (r *ring) pop() []byte {
	b := r.buf[r.head]
	r.buf[r.head] = nil
	r.head = (r.head + 1) % len(r.buf)
	r.n--
	return b
}

// grow doubles the ring (from minRing), up to limit slots, keeping order.
func (r *ring) grow(limit int) {
	size := min(max(2*len(r.buf), minRing), limit)
	buf := make([][]byte, size)
	for i := range r.n {
		buf[i] = r.buf[(r.head+i)%len(r.buf)]
	}
	r.buf, r.head = buf, 0
}

// reset drops every item and the ring's memory.
func (r *ring) reset() { *r = ring{} }
