package streambuf

import "sync"

// finState tracks the FIN bit of a send stream.
type finState uint8

const (
	finNone     finState = iota // Close not called
	finQueued                   // FIN must be sent (first time, or after loss)
	finInFlight                 // FIN sent, fate unknown
	finAcked                    // FIN acknowledged
)

// Send is one stream's send side: the application's write buffer, the new
// data frontier, and the acknowledgement and retransmission state of every
// byte in flight (RFC 9000 §2.2, §3.1, §13.3).
//
// Concurrency: Send is shared by one API writer (Write, Writable, Close,
// Reset) and the session's loop (HasData, NextFrame, NextFrameWithin,
// OnAcked, OnLost, Done, SetPeerLimit). Every method except Writable takes
// Send's own mutex for a short, bounded, non-blocking critical section. A
// writer that gets n < len(p) waits on Writable, which OnAcked signals when
// acknowledgements free space and Reset signals too. Write does not wake
// the loop; the caller does.
//
// Memory: the ring holds the bytes from the acknowledged prefix to the end of
// the written data, at most limit bytes. It is allocated on the first Write
// (one page), doubled on demand up to limit, and released when the stream
// is Done or Reset (or by Trim when idle). After the ring has grown, Write,
// NextFrame, OnAcked and OnLost do not allocate.
//
// Bounded bookkeeping: acknowledged ranges above the contiguous prefix and
// the retransmission queue are Intervals bounded by DefaultMaxIntervals.
// The ranges are separated by frames in flight, so the bound is reached only
// with thousands of packets in flight; if it is, an acknowledgement that
// would need a new range is forgotten and its bytes are queued for
// retransmission instead, and a loss that would need a new range is widened
// over its neighbour gap. Both cost bandwidth, never correctness: NextFrame
// never resends a byte it knows was acknowledged.
type Send struct {
	mu       sync.Mutex
	writable chan struct{}

	buf       []byte    // ring holding offsets [acked, written)
	limit     uint64    // max bytes in [acked, written)
	maxLimit  uint64    // ceiling GrowLimit may raise limit to
	acked     uint64    // contiguous acknowledged prefix
	written   uint64    // end of the data written
	sent      uint64    // new-data frontier: every byte below was sent once
	ackRanges Intervals // acknowledged ranges above acked
	lost      Intervals // retransmission queue, within [acked, sent)
	fin       finState

	peerLimit    uint64 // highest stream credit from the peer seen
	peerLimitSet bool   // whether peerLimit has been given
	reset        bool
	resetCode    uint64
}

// NewSend returns an empty send buffer that holds at most limit bytes
// written but not yet acknowledged (< 1: DefaultSendLimit). Storage is
// allocated on the first Write, so an idle stream costs only the struct and
// the Writable channel.
func NewSend(limit int) *Send {
	return NewSendTuned(limit, limit)
}

// NewSendTuned returns an empty send buffer whose limit starts at initial
// bytes and may be raised by GrowLimit up to max (max < 1: DefaultSendLimit;
// an initial outside [1, max] means max).
func NewSendTuned(initial, max int) *Send {
	if max < 1 {
		max = DefaultSendLimit
	}
	if initial < 1 || initial > max {
		initial = max
	}
	return &Send{writable: make(chan struct{}, 1), limit: uint64(initial), maxLimit: uint64(max)}
}

// GrowLimit raises the limit to n bytes, never above the maximum given to
// NewSendTuned, and reports whether it grew (the writer then retries
// Write). The limit never shrinks. API side.
func (s *Send) GrowLimit(n int) bool {
	if n <= 0 {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	l := min(uint64(n), s.maxLimit)
	if l <= s.limit {
		return false
	}
	s.limit = l
	return true
}

// Limit returns the current limit in bytes.
func (s *Send) Limit() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return int(s.limit)
}

// Write copies as much of p as fits in the buffer and returns how much: 0
// when the buffer is full (wait on Writable and call again). p is only read
// during the call. It returns ErrClosed after Close or Reset. It never
// blocks. API side; does not allocate once the ring has grown.
func (s *Send) Write(p []byte) (n int, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.reset || s.fin != finNone {
		return 0, ErrClosed
	}
	room := min(s.limit-(s.written-s.acked), MaxOffset-s.written)
	n = int(min(uint64(len(p)), room))
	if n == 0 {
		return 0, nil
	}
	if need := s.written + uint64(n) - s.acked; need > uint64(len(s.buf)) {
		s.buf = ringGrow(s.buf, s.acked, s.written, need, s.limit)
	}
	ringWrite(s.buf, s.written, p[:n])
	s.written += uint64(n)
	return n, nil
}

// Writable returns the channel (capacity 1) that OnAcked signals when space
// frees up or the FIN is acknowledged, and Reset signals. A token may be
// stale: the writer re-checks with Write. Safe for concurrent use; the same
// channel for the Send's lifetime.
func (s *Send) Writable() <-chan struct{} { return s.writable }

// Close marks the end of the stream (CloseWrite): the FIN goes with the last
// byte written so far, or alone if all were sent. Further Writes return
// ErrClosed. Repeated Close is a no-op; Close after Reset returns ErrClosed.
// API side.
func (s *Send) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.reset {
		return ErrClosed
	}
	if s.fin == finNone {
		s.fin = finQueued
	}
	return nil
}

// Reset abandons the stream (CancelWrite): unsent and unacknowledged data is
// dropped, the ring released, nothing more is sent, and the writer is
// woken. It returns the final size for the RESET frame: the new-data
// frontier (bytes written but never sent were never counted against the
// peer's credit). code is kept for ResetCode. Repeated Reset returns the
// same final size and keeps the first code.
func (s *Send) Reset(code uint64) (finalSize uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.reset {
		s.reset, s.resetCode = true, code
		s.buf = nil
		s.lost.Clear()
		s.ackRanges.Clear()
		signal(s.writable)
	}
	return s.sent
}

// ResetCode returns the code given to the first Reset, and whether Reset was
// called.
func (s *Send) ResetCode() (code uint64, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.resetCode, s.reset
}

// SetPeerLimit raises the stream credit the peer granted (initial transport
// parameter, then MAX_STREAM_DATA); lower values are ignored. NextFrame
// raises it too. Until it is first given HasData ignores credit.
func (s *Send) SetPeerLimit(limit uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.raisePeerLimit(limit)
}

func (s *Send) raisePeerLimit(limit uint64) {
	s.peerLimit, s.peerLimitSet = max(s.peerLimit, limit), true
}

// HasData reports whether NextFrame has something to return: a queued
// retransmission, new bytes within the peer's stream credit, or a FIN that
// can go (all data sent, the final size within the stream credit; the
// session's credit is NextFrameWithin's to check). Loop side.
func (s *Send) HasData() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.reset {
		return false
	}
	if s.lost.Len() > 0 {
		return true
	}
	if s.written > s.sent && (!s.peerLimitSet || s.sent < s.peerLimit) {
		return true
	}
	return s.fin == finQueued && s.sent == s.written && s.finWithinCredit()
}

// finWithinCredit reports whether the final size, which a FIN-only frame
// carries as its offset, is within the peer's stream credit (see
// NextFrameWithin, step 3).
func (s *Send) finWithinCredit() bool { return !s.peerLimitSet || s.written <= s.peerLimit }

// NextFrame returns the next DATA frame's payload, copied into dst:
// retransmissions first (the lowest lost range, skipping any byte known to
// be acknowledged), then new data below peerLimit (the peer's absolute
// stream credit). n <= min(max, len(dst)) bytes were copied for the frame at
// stream offset offset; fin says the FIN goes with it (n may be 0 for a
// FIN-only frame). n == 0 && !fin means nothing to send. blocked is true
// when new data was held back by peerLimit (send STREAM_DATA_BLOCKED). The
// frame is then considered in flight: report it later with OnAcked or
// OnLost. Loop side; does not allocate.
func (s *Send) NextFrame(dst []byte, max int, peerLimit uint64) (n int, offset uint64, fin bool, blocked bool) {
	return s.NextFrameWithin(dst, max, peerLimit, nil)
}

// NextFrameWithin is NextFrame that also honours the session's credit: new
// bytes are limited to conn.Available() and consumed from conn
// (retransmissions consume nothing). blocked reports the stream limit only;
// ask conn.Blocked for the session's. A nil conn means no session limit.
func (s *Send) NextFrameWithin(dst []byte, max int, peerLimit uint64, conn *SendWindow) (n int, offset uint64, fin bool, blocked bool) {
	return s.nextFrame(dst, max, nil, peerLimit, conn)
}

// Layout tells NextFrameLayout, once it has chosen a frame's stream
// offset, where the frame's bytes go: skip bytes of dst are left for the
// frame header (whose length depends on the offset), and at most max bytes
// of data follow.
type Layout func(offset uint64) (skip, max int)

// NextFrameLayout is NextFrameWithin for a caller that writes the frame
// header in front of the data in the same buffer: the data is copied to
// dst[skip:], where skip and the data limit come from layout for the
// chosen offset, so the caller never has to reserve the longest possible
// header and move the data behind the real one. layout is called at most
// once, under the buffer's lock, and not for a FIN-only frame. Loop side;
// does not allocate.
func (s *Send) NextFrameLayout(dst []byte, layout Layout, peerLimit uint64, conn *SendWindow) (n int, offset uint64, fin bool, blocked bool) {
	return s.nextFrame(dst, len(dst), layout, peerLimit, conn)
}

// nextFrame is NextFrameWithin and NextFrameLayout: with a layout, the
// data goes to dst[skip:] and max is the layout's.
func (s *Send) nextFrame(dst []byte, max int, layout Layout, peerLimit uint64, conn *SendWindow) (n int, offset uint64, fin bool, blocked bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.reset {
		return 0, 0, false, false
	}
	s.raisePeerLimit(peerLimit)
	max = min(max, len(dst))
	// place returns where the data of a frame at off goes and how much fits.
	place := func(off uint64) ([]byte, int) {
		if layout == nil {
			return dst, max
		}
		skip, m := layout(off)
		if skip < 0 || skip > len(dst) {
			return nil, 0
		}
		return dst[skip:], min(m, len(dst)-skip)
	}
	if max > 0 {
		s.lost.RemoveBelow(s.acked)
		if n, offset, fin, blocked, done := s.dataFrame(place, conn); done {
			return n, offset, fin, blocked
		}
	}
	// 3. A FIN on its own. Its offset, the final size, counts against
	// credit like data: after AbandonRange skipped bytes past the peer's
	// credit (a latency-bounded stream may skip a whole message it could
	// not send), the final size can lie beyond the stream's or the
	// session's limit, and the FIN waits for credit as data would — the
	// peer's credit restarts once its reader has passed the skipped range
	// (docs/PROTOCOL.md "SKIP"). Sent at once, it made the receiver close
	// the session with a flow-control error whenever it arrived before
	// the SKIP or the credit.
	if s.fin == finQueued && s.sent == s.written {
		if !s.finWithinCredit() {
			return 0, 0, false, true
		}
		if conn != nil && conn.Overdrawn() {
			return 0, 0, false, false
		}
		s.fin = finInFlight
		return 0, s.written, true, false
	}
	return 0, 0, false, false
}

// dataFrame is steps 1 and 2 of nextFrame (its caller holds mu): the
// lowest lost range, else new data within the stream's and the session's
// credit, copied where place says. done is false when neither applies or
// the chosen offset leaves no room for data, so that a FIN on its own may
// still go (step 3).
func (s *Send) dataFrame(place func(off uint64) ([]byte, int), conn *SendWindow) (n int, offset uint64, fin, blocked, done bool) {
	// 1. Retransmissions, lowest offset first.
	for s.lost.Len() > 0 {
		f := s.lost.At(0)
		a, b := f.Start, f.End
		if i := s.ackRanges.Overlapping(a); i < s.ackRanges.Len() {
			if g := s.ackRanges.At(i); g.Start <= a {
				s.lost.RemoveBelow(min(f.End, g.End)) // acknowledged meanwhile
				continue
			} else {
				b = min(b, g.Start)
			}
		}
		out, m := place(a)
		if m <= 0 {
			return 0, 0, false, false, false
		}
		b = min(b, a+uint64(m))
		ringRead(out[:b-a], s.buf, a)
		s.lost.RemoveBelow(b)
		return int(b - a), a, s.takeFin(b), false, true
	}
	// 2. New data within the stream's and the session's credit.
	if s.written <= s.sent {
		return 0, 0, false, false, false
	}
	a := s.sent
	out, m := place(a)
	if m <= 0 {
		return 0, 0, false, false, false
	}
	want := min(s.written, a+uint64(m))
	lim := s.peerLimit
	if conn != nil {
		lim = min(lim, a+conn.Available())
	}
	e := min(want, lim)
	blocked = s.peerLimit < want
	if e <= a {
		return 0, 0, false, blocked, true
	}
	ringRead(out[:e-a], s.buf, a)
	s.sent = e
	if conn != nil {
		conn.Consume(int(e - a))
	}
	return int(e - a), a, s.takeFin(e), blocked, true
}

// takeFin reports whether a frame ending at end carries the FIN, marking it
// in flight.
func (s *Send) takeFin(end uint64) bool {
	if s.fin == finQueued && end == s.written {
		s.fin = finInFlight
		return true
	}
	return false
}

// OnAcked records that the frame [offset, offset+n) (with fin) was
// acknowledged. The contiguous acknowledged prefix advances and frees
// buffer space (signalling Writable); bytes beyond it are remembered so they
// are never retransmitted, and are dropped from the retransmission queue if
// a loss was declared spuriously. Offsets never sent are ignored. Loop side;
// does not allocate once the interval sets have grown.
func (s *Send) OnAcked(offset uint64, n int, fin bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.reset {
		return
	}
	end := offset + uint64(n)
	a, e := max(offset, s.acked), min(end, s.sent)
	wake := false
	if a < e {
		switch {
		case a == s.acked:
			s.acked = e
			for {
				f, ok := s.ackRanges.First()
				if !ok || f.Start > s.acked {
					break
				}
				s.acked = max(s.acked, f.End)
				s.ackRanges.RemoveBelow(s.acked)
			}
			s.lost.RemoveBelow(s.acked)
			wake = true
		case s.ackRanges.Insert(a, e):
			s.lost.Remove(a, e) // at the bound it stays queued; NextFrame skips it
		default:
			// Bound reached: forget this ack and resend the bytes instead.
			s.lost.coalesceInsert(a, e)
		}
	}
	if fin && s.fin >= finQueued && end == s.written {
		s.fin = finAcked
		wake = true
	}
	if s.fin == finAcked && s.acked == s.written {
		s.buf = nil // Done: release the ring
	}
	if wake {
		signal(s.writable)
	}
}

// OnLost records that the frame [offset, offset+n) (with fin) was declared
// lost: its bytes not yet acknowledged are queued for retransmission, and
// the FIN is queued again unless acknowledged. Offsets never sent are
// ignored. Loop side; does not allocate once the interval sets have grown.
func (s *Send) OnLost(offset uint64, n int, fin bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.reset {
		return
	}
	pos, e := max(offset, s.acked), min(offset+uint64(n), s.sent)
	for i := s.ackRanges.Overlapping(pos); i < s.ackRanges.Len() && pos < e; i++ {
		g := s.ackRanges.At(i)
		if g.Start >= e {
			break
		}
		if g.Start > pos {
			s.lost.coalesceInsert(pos, g.Start)
		}
		pos = max(pos, g.End)
	}
	if pos < e {
		s.lost.coalesceInsert(pos, e)
	}
	if fin && s.fin == finInFlight {
		s.fin = finQueued
	}
}

// Done reports whether every byte and the FIN were acknowledged: the send
// side is complete and its state can be dropped. A Reset stream is never
// Done.
func (s *Send) Done() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return !s.reset && s.fin == finAcked && s.acked == s.written
}

// Written returns the total bytes written (the final size once closed).
func (s *Send) Written() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.written
}

// Acked returns the contiguous acknowledged prefix.
func (s *Send) Acked() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.acked
}

// Sent returns the new-data frontier: every offset below it was sent at
// least once. New bytes a NextFrame call returned are those at or above the
// Sent value before the call.
func (s *Send) Sent() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sent
}

// Buffered returns the bytes written and not yet contiguously acknowledged
// (what counts against the limit).
func (s *Send) Buffered() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return int(s.written - s.acked)
}

// Cap returns the bytes of ring storage allocated (never more than limit).
func (s *Send) Cap() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.buf)
}

// Trim releases the ring if every written byte is acknowledged, so an idle
// stream holds no storage; the next Write allocates again. The loop calls
// it from an idle timer, not per packet.
func (s *Send) Trim() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.acked == s.written {
		s.buf = nil
	}
}

// Delivered reports whether every byte of [start, end) has been
// acknowledged, in order or not. Loop side.
func (s *Send) Delivered(start, end uint64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return end <= s.acked || s.ackRanges.ContainsRange(max(start, s.acked), end)
}

// AbandonRange gives up the bytes [from, to) (a latency-bounded stream's
// messages whose deadline passed): they count as acknowledged — never sent
// again, freeing space once the prefix below them is acknowledged — and the
// part never sent is skipped, so new data continues at to. Every byte below
// from must have been sent; to is capped at the bytes written. It reports
// whether anything changed, and how many of the bytes had never been sent
// (the caller charges them to the session's credit, as the receiver counts
// the whole range). A Reset stream ignores it. Loop side.
func (s *Send) AbandonRange(from, to uint64) (changed bool, unsent uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	to = min(to, s.written)
	from = max(from, s.acked)
	if s.reset || to <= from || from > s.sent {
		return false, 0
	}
	if to > s.sent {
		unsent = to - s.sent
	}
	s.lost.Remove(from, to)
	if from == s.acked {
		s.acked = to
		for {
			f, ok := s.ackRanges.First()
			if !ok || f.Start > s.acked {
				break
			}
			s.acked = max(s.acked, f.End)
			s.ackRanges.RemoveBelow(s.acked)
		}
		s.lost.RemoveBelow(s.acked)
		signal(s.writable)
	} else if !s.ackRanges.Insert(from, to) {
		// The acknowledged-range bound is reached: the bytes cannot be
		// marked; they may be sent again, and the peer ignores them.
		s.sent = max(s.sent, to)
		return true, unsent
	}
	s.sent = max(s.sent, to)
	if s.fin == finAcked && s.acked == s.written {
		s.buf = nil
	}
	return true, unsent
}
