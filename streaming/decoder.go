package streaming

import (
	"context"
	"fmt"
	"io"
	"sync"

	"github.com/stt-go/stt/stc"
)

// DecoderOptions configures a Decoder. A nil *DecoderOptions means the
// defaults; NewDecoder copies the struct and never modifies it.
type DecoderOptions struct {
	// MaxBuffered bounds, in bytes, what the decoder holds: out-of-order
	// segments plus in-order bytes not yet read, each segment charged its
	// payload plus a small bookkeeping cost. Zero means DefaultMaxBuffered;
	// negative is rejected with ErrInvalidOptions. ReceiveAll returns the
	// whole stream at once, so a bounded stream larger than MaxBuffered
	// needs a larger value or the Reader.
	MaxBuffered int
	// Window is how many sequence numbers ahead of the next expected one a
	// segment may be: seq ≥ next+Window is ErrOutOfWindow. Zero means
	// DefaultWindow.
	Window uint64
}

// DecoderStats counts what a Decoder has done with the segments it was
// given.
type DecoderStats struct {
	Accepted    uint64 // segments opened and kept
	Delivered   uint64 // payload bytes made available in order
	Duplicates  uint64 // ErrDuplicate
	Forged      uint64 // ErrForged
	OutOfWindow uint64 // ErrOutOfWindow and ErrTooLarge
	BufferFull  uint64 // ErrBufferFull
	Evicted     uint64 // out-of-order segments dropped to make room for earlier ones
}

// chunk is an opened segment: b is flags ‖ payload, off is the read
// position inside b (starting after the flags byte).
type chunk struct {
	b   []byte
	off int
}

// Decoder reassembles the segments of one stream. It is safe for
// concurrent use: any number of goroutines may call Receive while one
// goroutine reads (ReceiveAll or the Reader). Methods return the errors
// listed on them; the decoder stays usable after every Receive error.
type Decoder struct {
	maxBuffered int
	window      uint64

	// mu protects every field below, including sc's opening side (Open
	// must not run concurrently with itself).
	mu       sync.Mutex
	cond     sync.Cond // signalled when ready grows, the stream ends or Close
	sc       *stc.StreamContext
	next     uint64           // next sequence number to deliver
	pending  map[uint64]chunk // opened segments with seq > next
	ready    []chunk          // in-order chunks not yet read, from head
	head     int              // first unread chunk in ready
	readable int              // unread payload bytes in ready
	buffered int              // bytes charged against maxBuffered
	last     uint64           // sequence number of the Last segment
	lastSet  bool
	closed   bool
	aborted  error    // set by Abort: the stream ends with this error
	waiters  int      // CopyFrom calls waiting for the reader to free room
	free     [][]byte // spare segment buffers (len 0), at most maxFree
	stats    DecoderStats
}

// NewDecoder returns a Decoder that opens segments with sc. The decoder
// owns sc's opening side: no other code may call sc.Open concurrently
// with the decoder (sealing from an Encoder on the same context is fine).
// A nil sc or a negative MaxBuffered returns an error wrapping
// ErrInvalidOptions.
func NewDecoder(sc *stc.StreamContext, opts *DecoderOptions) (*Decoder, error) {
	var o DecoderOptions
	if opts != nil {
		o = *opts
	}
	if sc == nil {
		return nil, fmt.Errorf("%w: StreamContext is nil", ErrInvalidOptions)
	}
	if o.MaxBuffered < 0 {
		return nil, fmt.Errorf("%w: DecoderOptions.MaxBuffered %d is negative", ErrInvalidOptions, o.MaxBuffered)
	}
	if o.MaxBuffered == 0 {
		o.MaxBuffered = DefaultMaxBuffered
	}
	if o.Window == 0 {
		o.Window = DefaultWindow
	}
	d := &Decoder{
		maxBuffered: o.MaxBuffered,
		window:      o.Window,
		sc:          sc,
		pending:     make(map[uint64]chunk),
	}
	d.cond.L = &d.mu
	return d, nil
}

// Receive offers the sealed segment seq. It does not retain sealed (the
// plaintext goes to a buffer of the decoder's own) and never blocks on the
// reader. It returns nil when the segment was kept, or one of
// ErrOutOfWindow, ErrTooLarge, ErrDuplicate, ErrForged (wrapping
// stc.ErrAuth), ErrMalformed, ErrBufferFull or ErrClosed, each wrapped
// with the sequence number; the segment is then dropped and the decoder
// is unchanged. Checks run cheapest first, so an out-of-window or
// duplicate segment is rejected without being opened. An in-order segment
// does not allocate when the reader keeps up. After Abort it returns the
// abort error.
func (d *Decoder) Receive(seq uint64, sealed []byte) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.receive(seq, sealed)
}

// receive is Receive with d.mu held.
func (d *Decoder) receive(seq uint64, sealed []byte) error {
	switch {
	case d.closed:
		return ErrClosed
	case d.aborted != nil:
		return d.aborted
	case len(sealed) > MaxSegmentSize:
		d.stats.OutOfWindow++
		return fmt.Errorf("%w: segment %d is %d bytes, max %d", ErrTooLarge, seq, len(sealed), MaxSegmentSize)
	case seq < d.next:
		d.stats.Duplicates++
		return fmt.Errorf("%w: segment %d already delivered", ErrDuplicate, seq)
	case seq-d.next >= d.window:
		d.stats.OutOfWindow++
		return fmt.Errorf("%w: segment %d, next expected %d, window %d", ErrOutOfWindow, seq, d.next, d.window)
	case d.lastSet && seq > d.last:
		d.stats.OutOfWindow++
		return fmt.Errorf("%w: segment %d beyond last segment %d", ErrOutOfWindow, seq, d.last)
	}
	if _, dup := d.pending[seq]; dup {
		d.stats.Duplicates++
		return fmt.Errorf("%w: segment %d already buffered", ErrDuplicate, seq)
	}
	if len(sealed) < SegmentOverhead {
		d.stats.Forged++
		return fmt.Errorf("%w: segment %d: %w", ErrForged, seq, stc.ErrAuth)
	}
	cost := len(sealed) - stc.Overhead - flagsLen + chunkOverhead
	if d.buffered+cost > d.maxBuffered && !d.evictAbove(seq, cost) {
		d.stats.BufferFull++
		return fmt.Errorf("%w: segment %d needs %d bytes, %d of %d in use", ErrBufferFull, seq, cost, d.buffered, d.maxBuffered)
	}
	buf := d.getBuf(len(sealed) - stc.Overhead)
	plain, err := d.sc.Open(buf, seq, sealed)
	if err != nil {
		d.putBuf(buf)
		d.stats.Forged++
		return fmt.Errorf("%w: segment %d: %w", ErrForged, seq, err)
	}
	flags := plain[0]
	isLast := flags&flagLast != 0
	switch {
	case flags&^flagLast != 0:
		err = fmt.Errorf("%w: segment %d has reserved flags %#x", ErrMalformed, seq, flags)
	case isLast && d.lastSet:
		err = fmt.Errorf("%w: segment %d marked last, but %d already is", ErrMalformed, seq, d.last)
	case isLast && d.maxPendingAbove(seq):
		err = fmt.Errorf("%w: segment %d marked last below buffered segments", ErrMalformed, seq)
	}
	if err != nil {
		d.putBuf(plain)
		return err
	}
	if isLast {
		d.last, d.lastSet = seq, true
	}
	d.buffered += cost
	d.stats.Accepted++
	c := chunk{b: plain, off: flagsLen}
	if seq != d.next {
		d.pending[seq] = c
		return nil
	}
	d.deliver(c)
	for {
		c, ok := d.pending[d.next]
		if !ok {
			break
		}
		delete(d.pending, d.next)
		d.deliver(c)
	}
	d.cond.Broadcast()
	return nil
}

// evictAbove makes room for a segment of the given cost by dropping
// buffered segments with sequence numbers above seq, highest first: the
// segments nearest the reader are the ones worth keeping, and without this
// a buffer filled by far-ahead segments could never take the one the
// reader waits for. It checks first that enough can be evicted, so it
// changes nothing when it returns false. Evicted segments are forgotten
// and accepted again if resent. d.mu must be held.
func (d *Decoder) evictAbove(seq uint64, cost int) bool {
	free := d.maxBuffered - d.buffered
	for s, c := range d.pending {
		if s > seq {
			free += len(c.b) - c.off + chunkOverhead
		}
	}
	if free < cost {
		return false
	}
	for d.buffered+cost > d.maxBuffered {
		top, found := uint64(0), false
		for s := range d.pending {
			if s > seq && (!found || s > top) {
				top, found = s, true
			}
		}
		c := d.pending[top]
		delete(d.pending, top)
		d.buffered -= len(c.b) - c.off + chunkOverhead
		d.putBuf(c.b)
		d.stats.Evicted++
		if d.lastSet && d.last == top {
			d.lastSet = false
		}
	}
	return true
}

// maxPendingAbove reports whether a buffered segment has a sequence number
// above seq. Called only when a last segment arrives (once per stream).
func (d *Decoder) maxPendingAbove(seq uint64) bool {
	for s := range d.pending {
		if s > seq {
			return true
		}
	}
	return false
}

// deliver appends the chunk for d.next to the ready queue and advances.
func (d *Decoder) deliver(c chunk) {
	if d.head == len(d.ready) {
		d.ready, d.head = d.ready[:0], 0
	}
	d.ready = append(d.ready, c)
	d.readable += len(c.b) - c.off
	d.stats.Delivered += uint64(len(c.b) - c.off)
	d.next++
}

// getBuf returns an empty buffer with capacity for n bytes.
func (d *Decoder) getBuf(n int) []byte {
	for i := len(d.free) - 1; i >= 0; i-- {
		if b := d.free[i]; cap(b) >= n {
			d.free[i] = d.free[len(d.free)-1]
			d.free[len(d.free)-1] = nil
			d.free = d.free[:len(d.free)-1]
			return b
		}
	}
	return make([]byte, 0, n)
}

// putBuf keeps b for reuse if there is room; its contents are cleared so a
// recycled buffer never shows old plaintext.
func (d *Decoder) putBuf(b []byte) {
	if len(d.free) >= maxFree || cap(b) > MaxSegmentSize {
		return
	}
	clear(b[:cap(b)])
	d.free = append(d.free, b[:0])
}

// complete reports whether every segment through the last one has been
// delivered. d.mu must be held.
func (d *Decoder) complete() bool { return d.lastSet && d.next > d.last }

// ReceiveAll waits until the whole stream has arrived, then returns the
// bytes not yet read through the Reader (all of them if the Reader was
// not used) in a new slice the caller owns, and releases the decoder's
// buffers. It blocks until the last segment and all before it have been
// received, ctx ends (returning ctx's error, with the data kept), Close
// (ErrClosed) or Abort (the abort error). Use it for Bounded streams; a
// Live stream completes only when its sender reaches EOF.
func (d *Decoder) ReceiveAll(ctx context.Context) ([]byte, error) {
	stop := context.AfterFunc(ctx, func() {
		d.mu.Lock()
		d.cond.Broadcast()
		d.mu.Unlock()
	})
	defer stop()
	d.mu.Lock()
	defer d.mu.Unlock()
	for !d.complete() && !d.closed && d.aborted == nil && ctx.Err() == nil {
		d.cond.Wait()
	}
	switch {
	case d.closed:
		return nil, ErrClosed
	case d.complete():
	case d.aborted != nil:
		return nil, d.aborted
	default:
		return nil, ctx.Err()
	}
	n := 0
	for _, c := range d.ready[d.head:] {
		n += len(c.b) - c.off
	}
	out := make([]byte, 0, n)
	for i := d.head; i < len(d.ready); i++ {
		c := d.ready[i]
		out = append(out, c.b[c.off:]...)
		d.ready[i] = chunk{}
		d.putBuf(c.b)
	}
	d.ready, d.head, d.buffered, d.readable = d.ready[:0], 0, 0, 0
	return out, nil
}

// Reader returns an io.Reader over the stream's bytes in order. Read
// blocks until bytes are contiguous, returns io.EOF after the last
// segment's bytes, ErrClosed after Close, and after Abort the bytes
// already in order, then the abort error. Reads do not allocate. Only
// one goroutine may read at a time (the Reader shares the decoder's
// position); every call returns a view of the same stream.
func (d *Decoder) Reader() io.Reader { return reader{d} }

// reader is the io.Reader view of a Decoder.
type reader struct{ d *Decoder }

// Read implements io.Reader as described on Decoder.Reader.
func (r reader) Read(p []byte) (int, error) { return r.d.read(p) }

func (d *Decoder) read(p []byte) (int, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for d.head == len(d.ready) && !d.complete() && !d.closed && d.aborted == nil {
		d.cond.Wait()
	}
	if d.closed {
		return 0, ErrClosed
	}
	if d.waiters > 0 && len(p) > 0 {
		defer d.cond.Broadcast() // room freed for a waiting CopyFrom
	}
	n := 0
	for n < len(p) && d.head < len(d.ready) {
		c := &d.ready[d.head]
		k := copy(p[n:], c.b[c.off:])
		n += k
		c.off += k
		d.buffered -= k
		d.readable -= k
		if c.off == len(c.b) {
			d.buffered -= chunkOverhead
			d.putBuf(c.b)
			*c = chunk{}
			d.head++
		}
	}
	if n == 0 && len(p) > 0 {
		if d.complete() {
			return 0, io.EOF
		}
		if d.aborted != nil {
			return 0, d.aborted
		}
	}
	return n, nil
}

// Complete reports whether the whole stream (through its last segment)
// has been received.
func (d *Decoder) Complete() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.complete()
}

// Readable returns how many bytes the Reader can return now without
// blocking: the in-order bytes received and not yet read.
func (d *Decoder) Readable() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.readable
}

// Buffered returns the bytes currently charged against MaxBuffered.
func (d *Decoder) Buffered() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.buffered
}

// Stats returns a snapshot of the decoder's counters.
func (d *Decoder) Stats() DecoderStats {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.stats
}

// Abort ends an incomplete stream with err, for a carrier that failed
// before the last segment (CopyFrom calls it when it returns an error):
// the Reader returns the bytes already in order, then err; ReceiveAll and
// Receive return err. Buffers are kept until Close. It does nothing if
// err is nil, the stream is complete, or it was aborted or closed
// before.
func (d *Decoder) Abort(err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err == nil || d.complete() || d.closed || d.aborted != nil {
		return
	}
	d.aborted = err
	d.cond.Broadcast()
}

// Close releases the decoder's buffers and wakes blocked readers, which
// return ErrClosed, as do later calls. It is idempotent and always
// returns nil.
func (d *Decoder) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil
	}
	d.closed = true
	for _, c := range d.pending {
		clear(c.b)
	}
	for _, c := range d.ready[d.head:] {
		clear(c.b)
	}
	d.pending, d.ready, d.free, d.buffered, d.readable = nil, nil, nil, 0, 0
	d.cond.Broadcast()
	return nil
}
