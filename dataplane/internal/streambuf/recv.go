package streambuf

import (
	"io"
	"sync"
	"time"

	"github.com/stt-go/stt/internal/monotime"
)

// Recv is one stream's receive side: it reassembles DATA frames that arrive
// out of order, duplicated or overlapping into the ordered byte stream Read
// returns, and enforces the stream's credit window and final size (RFC 9000
// §2.2, §4.1, §4.5).
//
// Concurrency: Recv is shared by the session's loop (Push, Reset,
// MaybeGrowLimit, Limit) and one API reader (Read, Readable, CloseRead).
// Every method except Readable takes Recv's own mutex for a short, bounded,
// non-blocking critical section; none waits. A reader that gets (0, nil)
// waits on Readable, which Push signals when bytes or the end of stream
// become readable and Reset and CloseRead signal too.
//
// Memory: bytes live in a ring allocated on first data (one page), doubled
// on demand and never larger than the current window, because data beyond
// the advertised credit is rejected (ErrFlowControl), never stored.
// Out-of-order bytes sit at their place in the ring, their ranges tracked by
// an Intervals bounded by maxGaps. The ring is released when the stream ends
// (FIN read, Reset, CloseRead). Push and Read do not allocate once the ring
// has reached the size the traffic needs.
type Recv struct {
	mu       sync.Mutex
	readable chan struct{}

	buf      []byte    // ring; holds offsets [consumed, max(contig, last gap end))
	consumed uint64    // read offset; after CloseRead/Reset, all credit released
	contig   uint64    // end of the in-order prefix: [consumed, contig) is readable
	gaps     Intervals // ranges received above contig (out of order)
	highest  uint64    // highest offset+1 received (or the final size)
	final    uint64    // final size, valid when finKnown
	finKnown bool
	tune     autoTune

	reset    bool       // peer reset the stream
	resetErr ResetError // returned by Read after Reset, by pointer
	closed   bool       // CloseRead was called

	// Ranges the sender abandoned (Skip), ascending, not yet passed by the
	// reader: at most maxGaps. contig treats them as filled; Read stops at
	// the first, reports it (skipErr) and jumps over it.
	skips   []skipRange
	skipErr SkipError // what Read returns, by pointer
}

// skipRange is an abandoned range [start, end) and the tag of its skip.
type skipRange struct{ start, end, tag uint64 }

// NewRecv returns an empty receive buffer advertising window bytes of credit
// (< 1: DefaultRecvWindow), auto-tuning up to maxWindow (below window: no
// growth), buffering at most maxGaps out-of-order ranges (< 1:
// DefaultMaxGaps). It allocates the struct and the Readable channel only.
func NewRecv(window int, maxWindow int, maxGaps int) *Recv {
	r := &Recv{readable: make(chan struct{}, 1)}
	r.tune.init(window, maxWindow)
	if maxGaps < 1 {
		maxGaps = DefaultMaxGaps
	}
	r.gaps.SetMax(maxGaps)
	return r
}

// Push stores a DATA frame's bytes at offset, copying them (data is only
// borrowed for the call), and returns how many bytes became readable in
// order as a result. Duplicates and overlaps are fine: where bytes were
// already received the first copy is kept. fin marks offset+len(data) as the
// final size. Loop side; does not allocate once the ring has grown to the
// span the peer uses.
//
// Errors, with nothing stored or changed:
//   - ErrFinalSize: fin changes a known final size or lies below data
//     already received, or the data extends past a known final size;
//   - ErrFlowControl: offset+len(data) passes Limit();
//   - ErrTooManyGaps: storing the data would leave more than maxGaps
//     out-of-order ranges.
//
// After CloseRead or Reset the frame is still checked, but its bytes are
// only counted (Received, and Consumed after CloseRead), not stored.
func (r *Recv) Push(offset uint64, data []byte, fin bool) (readable int, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := uint64(len(data))
	if offset >= MaxOffset || n > MaxOffset-offset {
		return 0, ErrFlowControl
	}
	end := offset + n
	if r.finKnown {
		if end > r.final || (fin && end != r.final) {
			return 0, ErrFinalSize
		}
	} else if fin && end < r.highest {
		return 0, ErrFinalSize
	}
	if end > r.tune.limit {
		return 0, ErrFlowControl
	}
	if r.closed || r.reset {
		r.account(end, fin)
		if r.closed {
			r.consumed, r.contig = r.highest, r.highest
		}
		return 0, nil
	}
	s := max(offset, r.contig) // bytes below contig are held already
	if s < end && s > r.contig && r.gaps.LenAfterInsert(s, end) > r.gaps.Max() {
		return 0, ErrTooManyGaps
	}
	newFin := fin && !r.finKnown
	r.account(end, fin)
	old := r.contig
	if s < end {
		if need := end - r.consumed; need > uint64(len(r.buf)) {
			hi := r.contig
			if l, ok := r.gaps.Last(); ok {
				hi = l.End
			}
			r.buf = ringGrow(r.buf, r.consumed, hi, need, r.tune.window)
		}
		r.storeNew(s, end, data[s-offset:])
		if s == r.contig {
			r.contig = end
			r.join()
		} else {
			r.gaps.Insert(s, end) // cannot fail: LenAfterInsert checked above
		}
	}
	readable = int(r.contig - old)
	if readable > 0 || (newFin && r.contig == r.final) {
		signal(r.readable)
	}
	return readable, nil
}

// account records that offsets up to end were received, and the final size.
func (r *Recv) account(end uint64, fin bool) {
	r.highest = max(r.highest, end)
	if fin {
		r.final, r.finKnown = end, true
	}
}

// storeNew copies into the ring the parts of [s, e) not already received;
// src holds the bytes for [s, e).
func (r *Recv) storeNew(s, e uint64, src []byte) {
	pos := s
	for i := r.gaps.Overlapping(s); i < r.gaps.Len() && pos < e; i++ {
		g := r.gaps.At(i)
		if g.Start >= e {
			break
		}
		if g.Start > pos {
			ringWrite(r.buf, pos, src[pos-s:g.Start-s])
		}
		pos = max(pos, g.End)
	}
	if pos < e {
		ringWrite(r.buf, pos, src[pos-s:])
	}
}

// Limit returns the absolute offset up to which the peer may send: the
// credit last advertised (initially the window).
func (r *Recv) Limit() uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.tune.limit
}

// Window returns the current credit window size (it grows by auto-tuning).
func (r *Recv) Window() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return int(r.tune.window)
}

// MaybeGrowLimit implements credit auto-tuning (after quic-go's flow
// controller): once the reader has consumed more than half the window since
// the last update it returns the new absolute limit consumed+window to send
// in MAX_STREAM_DATA (ok true); if the previous update was less than 2*rtt
// before now, the window first doubles, up to maxWindow, because then the
// window and not the reader limits throughput. rtt <= 0 disables growth. It
// reports false once the final size is known or the stream was reset or
// closed for reading (the peer needs no more credit). Loop side; does not
// allocate (the ring grows later, on demand).
func (r *Recv) MaybeGrowLimit(now monotime.Time, rtt time.Duration) (newLimit uint64, ok bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.finKnown || r.reset || r.closed {
		return 0, false
	}
	return r.tune.maybeGrowLimit(r.consumed, now, rtt)
}

// UpdateDue reports whether MaybeGrowLimit would now return a new limit. A
// reader calls it after Read to decide whether to wake the loop.
func (r *Recv) UpdateDue() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return !r.finKnown && !r.reset && !r.closed && r.tune.due(r.consumed)
}

// SetResetCode stores the application error code a later Reset reports to
// the reader in its *ResetError. It has no effect after Reset.
func (r *Recv) SetResetCode(code uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.reset {
		r.resetErr.Code = code
	}
}

// Reset handles the peer's RESET with finalSize: buffered data is dropped,
// the ring released, and Read returns a *ResetError (errors.Is ErrReset)
// from then on, unless a FIN had arrived and the reader has read everything
// up to it (then Read keeps returning io.EOF: the stream completed). Consumed jumps to finalSize:
// all credit is released. A repeated Reset with the same size is a no-op.
// Errors, with nothing changed: ErrFinalSize when finalSize differs from a
// known final size or is below data already received; ErrFlowControl when
// it passes Limit(). Loop side; does not allocate.
func (r *Recv) Reset(finalSize uint64) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if (r.finKnown && finalSize != r.final) || finalSize < r.highest {
		return ErrFinalSize
	}
	if finalSize > r.tune.limit {
		return ErrFlowControl
	}
	complete := r.finKnown && r.consumed == r.final
	r.account(finalSize, true)
	if r.reset || complete {
		return nil // already reset, or the reader has read up to the FIN
	}
	r.reset = true
	r.drop(finalSize)
	signal(r.readable)
	return nil
}

// drop releases the ring and the gap set and marks everything up to off as
// consumed.
func (r *Recv) drop(off uint64) {
	r.buf = nil
	r.gaps.Clear()
	r.skips = nil
	r.consumed, r.contig = off, off
}

// Read copies in-order bytes into p. It returns (0, nil) when nothing is
// readable yet (wait on Readable and call again), io.EOF once every byte up
// to the final size has been read, a *ResetError after the peer reset the
// stream, and ErrClosed after CloseRead. It never blocks and does not
// allocate; p is only written during the call. API side.
func (r *Recv) Read(p []byte) (n int, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return 0, ErrClosed
	}
	if r.reset {
		return 0, &r.resetErr
	}
	readTo := r.contig
	if len(r.skips) > 0 {
		if k := r.skips[0]; k.start <= r.consumed {
			// At an abandoned range: report it and jump over it.
			r.skipErr = SkipError{Bytes: k.end - r.consumed, Tag: k.tag}
			r.skips = r.skips[1:]
			if len(r.skips) == 0 {
				r.skips = nil
			}
			r.consumed = k.end
			return 0, &r.skipErr
		} else {
			readTo = min(readTo, k.start)
		}
	}
	avail := readTo - r.consumed
	if avail == 0 {
		if r.finKnown && r.consumed == r.final {
			return 0, io.EOF
		}
		return 0, nil
	}
	n = int(min(uint64(len(p)), avail))
	ringRead(p[:n], r.buf, r.consumed)
	r.consumed += uint64(n)
	if r.finKnown && r.consumed == r.final {
		r.buf = nil // the stream is complete: release the ring
	}
	return n, nil
}

// Readable returns the channel (capacity 1) that Push, Reset and CloseRead
// signal; a reader that got (0, nil) from Read waits on it and reads again.
// A token may be stale: the reader always re-checks with Read. Safe for
// concurrent use; it is the same channel for the Recv's lifetime.
func (r *Recv) Readable() <-chan struct{} { return r.readable }

// CloseRead abandons reading (the API's CancelRead): buffered data is
// dropped and the ring released, Read returns ErrClosed, and later frames
// are only checked and counted, their bytes released as credit at once
// (Consumed follows Received). Idempotent. API side; does not allocate.
func (r *Recv) CloseRead() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return
	}
	r.closed = true
	r.drop(max(r.highest, r.consumed))
	signal(r.readable)
}

// Consumed returns the offset up to which credit is released: bytes Read,
// plus everything dropped by CloseRead or Reset. The loop feeds the growth of
// Consumed, summed over streams, to RecvWindow.OnConsumed.
func (r *Recv) Consumed() uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.consumed
}

// Received returns the highest offset+1 received (after Reset, the final
// size). The loop feeds its growth to RecvWindow.OnReceived.
func (r *Recv) Received() uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.highest
}

// FinalSize returns the stream's final size once a FIN or Reset fixed it.
func (r *Recv) FinalSize() (uint64, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.final, r.finKnown
}

// Buffered returns the bytes held and not yet read: the in-order readable
// bytes plus the out-of-order ranges.
func (r *Recv) Buffered() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return int(r.contig - r.consumed + r.gaps.Total())
}

// Gaps returns the number of out-of-order ranges held (at most maxGaps).
func (r *Recv) Gaps() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.gaps.Len()
}

// Cap returns the bytes of ring storage currently allocated: 0 before the
// first data and after the stream ends, never more than Window().
func (r *Recv) Cap() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.buf)
}

// Trim releases the ring if it holds no bytes, so an idle stream holds no
// storage; the next Push allocates again. The loop calls it from an idle
// timer, not per packet.
func (r *Recv) Trim() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.contig == r.consumed && r.gaps.Len() == 0 {
		r.buf = nil
	}
}

// Skip records that the sender abandoned [from, to) (a latency-bounded
// stream's messages whose deadline passed; wire SKIP): the range counts as
// received for ordering but holds no data. Read returns the bytes before
// it, then a *SkipError (once per range, with the bytes skipped and tag —
// the data plane passes the number of the message that starts at to), then
// continues at to; a reader in the middle of a message so learns to drop
// what it has of it. Data arriving inside the range later is ignored; a
// range already below the in-order prefix is stale (false). Skipped bytes
// are not data: they take no credit and no storage, and once Read has
// passed a range beyond the credit limit, MaybeGrowLimit offers a window
// from there. Errors: ErrFinalSize for a range beyond a known final size,
// ErrFlowControl for one beyond MaxOffset, ErrTooManyGaps when more than
// maxGaps ranges would wait (nothing is recorded; the caller may drop the
// frame unacknowledged). Loop side; does not allocate once the range list
// has grown.
func (r *Recv) Skip(from, to, tag uint64) (moved bool, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if to > MaxOffset || from > to {
		return false, ErrFlowControl
	}
	if r.finKnown && to > r.final {
		return false, ErrFinalSize
	}
	from = max(from, r.contig)
	if r.closed || r.reset || to <= from {
		return false, nil
	}
	if !r.insertSkip(skipRange{from, to, tag}) {
		return false, ErrTooManyGaps
	}
	r.highest = max(r.highest, to)
	old := r.contig
	r.join()
	if r.contig > old {
		signal(r.readable)
	}
	return true, nil
}

// insertSkip adds k to the sorted range list, merging it with ranges it
// overlaps or touches (the merged range keeps the highest tag: the message
// after its end).
func (r *Recv) insertSkip(k skipRange) bool {
	i := 0
	for i < len(r.skips) && r.skips[i].end < k.start {
		i++
	}
	j := i
	for j < len(r.skips) && r.skips[j].start <= k.end {
		k.start, k.end = min(k.start, r.skips[j].start), max(k.end, r.skips[j].end)
		if r.skips[j].end == k.end {
			k.tag = max(k.tag, r.skips[j].tag)
		}
		j++
	}
	if j == i && len(r.skips) >= r.gaps.Max() {
		return false
	}
	r.skips = append(r.skips[:i], append([]skipRange{k}, r.skips[j:]...)...)
	return true
}

// join extends the in-order prefix over out-of-order data and abandoned
// ranges that now touch it.
func (r *Recv) join() {
	for {
		if f, ok := r.gaps.First(); ok && f.Start <= r.contig {
			r.contig = max(r.contig, f.End)
			r.gaps.RemoveBelow(r.contig)
			continue
		}
		moved := false
		for _, k := range r.skips {
			if k.start <= r.contig && k.end > r.contig {
				r.contig, moved = k.end, true
			}
		}
		if !moved {
			r.gaps.RemoveBelow(r.contig)
			return
		}
	}
}
