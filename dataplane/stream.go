package dataplane

import (
	"context"
	"errors"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/stt-go/stt/dataplane/internal/streambuf"
	"github.com/stt-go/stt/internal/monotime"
	"github.com/stt-go/stt/wire"
)

// Stream is one ordered, reliable byte stream inside a Session: an
// io.ReadWriteCloser with deadlines, resets and message framing.
//
// Read and Write may be called from different goroutines at once; two
// concurrent Reads (or Writes) are not meaningful and not supported, except
// SendMessage, which serialises whole messages. Errors returned: ErrClosed
// (matches net.ErrClosed) after Close/CloseWrite or session close (the
// session's *SessionError when it ended abnormally), *StreamError after a
// reset by either side, ErrDeadline (a net.Error timeout unwrapping to
// os.ErrDeadlineExceeded) when a deadline passes, io.EOF from Read at the
// end of the peer's data, ErrMessageTooLarge from the message methods.
type Stream struct {
	id      wire.StreamID
	sess    *Session
	handle  any           // Config.StreamHandle's result; set before the stream is published
	bounded *boundedState // latency-bounded streams only (bounded.go); set at creation
	recvSeq uint64        // the reader's: number of the next message ReceiveMessage expects

	send *streambuf.Send
	recv *streambuf.Recv

	// wakeQueued coalesces wake-ups to the loop: set by the API side before
	// it queues the stream, cleared by the loop when it takes it.
	wakeQueued atomic.Bool

	kickRead, kickWrite chan struct{} // deadline changes wake blocked Read/Write

	// msgMu serialises SendMessage callers so messages never interleave.
	msgMu sync.Mutex

	deadlines struct {
		mu    sync.Mutex // protects read, write
		read  time.Time
		write time.Time
	}

	// state is the stream's lifecycle state (StreamState): written by the
	// loop and by the API methods that end a direction, read anywhere.
	state atomic.Int32

	// Loop-owned state (touched only by the session's loop goroutine).
	peerMaxData   uint64      // peer's credit for this stream (absolute offset)
	recvHighest   uint64      // highest offset+len received (session credit accounting)
	consumedSeen  uint64      // bytes the app had read at the last wake (session credit)
	advertised    uint64      // last MAX_STREAM_DATA value sent
	inActive      bool        // in the session's active (has data) list
	inCtl         bool        // in the session's ctlStreams list
	sendFinished  bool        // all data and FIN acknowledged, or our RESET acknowledged
	recvFinished  bool        // final size known, and read to it, reset by the peer or read cancelled
	finSeen       bool        // the peer's FIN or RESET arrived: the final size is known
	removed       bool        // removed from the session's stream map: its slot is free
	announced     bool        // a frame for it has been sent (the peer knows it exists)
	resetSent     bool        // our RESET has been queued: the send direction is abandoned
	resetAcked    bool        // our RESET has been acknowledged
	pendWindow    bool        // MAX_STREAM_DATA to send (also announces a new stream)
	pendReset     bool        // RESET to send
	pendStop      bool        // STOP_SENDING to send
	resetCode     uint64      // our reset code
	resetFinal    uint64      // final size for our RESET
	stopCode      uint64      // our STOP_SENDING code
	peerStopped   atomic.Bool // the peer sent STOP_SENDING (code in peerStopCode, stored first)
	peerStopCode  atomic.Uint64
	localReset    atomic.Bool // CancelWrite called (not set by a reset the peer's STOP_SENDING caused)
	readCancelled atomic.Bool
	writeClosed   atomic.Bool // CloseWrite or Close called: a drain waits for the FIN's acknowledgement
}

// StreamState is a stream's lifecycle state, the seed's
// Created → Open → Closing → Closed.
type StreamState int32

// Stream states.
const (
	// StreamCreated: OpenStream returned; the peer has not been told yet
	// (the loop announces the stream in its next packet).
	StreamCreated StreamState = iota
	// StreamOpen: both ends know the stream; both directions are open.
	StreamOpen
	// StreamClosing: a direction has ended (Close, CloseWrite, CancelRead,
	// CancelWrite, or the peer's FIN or RESET) but the stream still holds
	// its slot: data or a RESET awaits acknowledgement, or the peer's
	// data awaits reading.
	StreamClosing
	// StreamClosed: both directions are finished and the stream's slot is
	// released (for a peer-opened stream, the peer may open another), or
	// the session closed.
	StreamClosed
)

func (s StreamState) String() string {
	switch s {
	case StreamCreated:
		return "Created"
	case StreamOpen:
		return "Open"
	case StreamClosing:
		return "Closing"
	case StreamClosed:
		return "Closed"
	}
	return "StreamState(?)"
}

// State returns the stream's lifecycle state. Every stream of a closed
// session is Closed.
func (st *Stream) State() StreamState {
	if st.sess.State() == StateClosed {
		return StreamClosed
	}
	return StreamState(st.state.Load())
}

// markAnnounced notes that a frame for st has gone out: the peer knows
// the stream (Created → Open). Loop only.
func (st *Stream) markAnnounced() {
	if !st.announced {
		st.announced = true
		st.advanceState(StreamOpen)
	}
}

// advanceState moves the state forward to to (never backward).
func (st *Stream) advanceState(to StreamState) {
	for {
		cur := st.state.Load()
		if cur >= int32(to) || st.state.CompareAndSwap(cur, int32(to)) {
			return
		}
	}
}

// ID returns the stream's ID: odd when the session's initiator opened it,
// even when the responder did.
func (st *Stream) ID() wire.StreamID { return st.id }

// Session returns the session the stream belongs to.
func (st *Stream) Session() *Session { return st.sess }

// Handle returns what Config.StreamHandle built for st (nil without one).
func (st *Stream) Handle() any { return st.handle }

// Read reads in-order stream bytes into p. It blocks until at least one
// byte is available, the peer's data ends (io.EOF), the stream is reset
// (*StreamError), the read deadline passes (ErrDeadline) or the session
// closes.
func (st *Stream) Read(p []byte) (int, error) {
	n, err := st.read(context.Background(), p)
	st.sess.stats.bytesRead.Add(uint64(n))
	return n, err
}

// read is Read that also ends when ctx is done. It does not count bytes in
// SessionStats: Read counts what it returns, ReceiveMessage the message
// bytes without their length prefix.
func (st *Stream) read(ctx context.Context, p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	var w waiter
	defer w.stop()
	for {
		n, err := st.recv.Read(p)
		if n > 0 || err != nil {
			st.wake() // credit to return, or the end of the stream to note
			return n, st.mapRecvErr(err)
		}
		if err := w.wait(ctx, st.sess, st.readDeadline(), st.recv.Readable(), st.kickRead); err != nil {
			return 0, err
		}
	}
}

// readFull fills p; io.EOF only when nothing was read, io.ErrUnexpectedEOF
// when the stream ends part-way.
func (st *Stream) readFull(ctx context.Context, p []byte) error {
	for got := 0; got < len(p); {
		n, err := st.read(ctx, p[got:])
		got += n
		if err == io.EOF && got > 0 {
			return io.ErrUnexpectedEOF
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// waiter blocks Read and Write paths until their buffer signals, the
// session closes, a deadline passes or a context ends; it reuses one timer.
type waiter struct{ timer *time.Timer }

func (w *waiter) stop() {
	if w.timer != nil {
		w.timer.Stop()
	}
}

// wait returns nil when ready or kick fired (the caller retries), the
// session's error once it is closed, ErrDeadline, or ctx.Err().
func (w *waiter) wait(ctx context.Context, s *Session, deadline time.Time, ready, kick <-chan struct{}) error {
	if err := s.closedErr(); err != nil {
		return err
	}
	var timeout <-chan time.Time
	if !deadline.IsZero() {
		d := time.Until(deadline)
		if d <= 0 {
			return ErrDeadline
		}
		if w.timer == nil {
			w.timer = time.NewTimer(d)
		} else {
			w.timer.Reset(d)
		}
		timeout = w.timer.C
	}
	select {
	case <-ready:
	case <-kick:
	case <-s.done:
	case <-timeout:
		return ErrDeadline
	case <-ctx.Done():
		return ctx.Err()
	}
	return nil
}

// skipped turns the stream buffer's report of a skip into a *SkippedError
// counting the messages lost, and moves the reader's message count past
// them; other errors pass unchanged.
func (st *Stream) skipped(err error) error {
	var se *SkippedError
	if !errors.As(err, &se) {
		return err
	}
	if se.next > st.recvSeq {
		se.Messages = se.next - st.recvSeq
		st.recvSeq = se.next
	}
	st.sess.stats.msgsSkipped.Add(se.Messages)
	return se
}

func (st *Stream) mapRecvErr(err error) error {
	if err == nil || err == io.EOF {
		return err
	}
	var ske *streambuf.SkipError
	if errors.As(err, &ske) {
		return &SkippedError{StreamID: st.id, Bytes: ske.Bytes, next: ske.Tag}
	}
	var re *streambuf.ResetError
	if errors.As(err, &re) {
		return &StreamError{StreamID: st.id, Code: re.Code, Remote: true}
	}
	if errors.Is(err, streambuf.ErrClosed) {
		if st.readCancelled.Load() {
			return ErrClosed
		}
		if cerr := st.sess.closedErr(); cerr != nil {
			return cerr
		}
		return ErrClosed
	}
	return err
}

// Write writes p to the stream. It blocks until every byte is buffered
// for sending (the stream buffers up to the configured send buffer of
// unacknowledged bytes), the write deadline passes (ErrDeadline, with n
// bytes written), the stream is reset, or the session closes.
func (st *Stream) Write(p []byte) (int, error) {
	if st.bounded != nil {
		return 0, ErrMessagesOnly
	}
	n, err := st.write(context.Background(), p)
	st.sess.stats.bytesWritten.Add(uint64(n))
	return n, err
}

// write is Write that also ends when ctx is done. Like read, it leaves the
// byte counters to its callers.
func (st *Stream) write(ctx context.Context, p []byte) (int, error) {
	var w waiter
	defer w.stop()
	written := 0
	for {
		n, err := st.send.Write(p[written:])
		written += n
		if n > 0 {
			st.wake()
		}
		if err != nil {
			return written, st.mapSendErr(err)
		}
		if written == len(p) {
			return written, nil
		}
		if st.growSendBuffer() {
			continue
		}
		if err := w.wait(ctx, st.sess, st.writeDeadline(), st.send.Writable(), st.kickWrite); err != nil {
			return written, err
		}
	}
}

// growSendBuffer raises a full send buffer toward what the path can use:
// twice the congestion window, discounted by how much of the smoothed RTT
// is queueing (cwnd x min RTT / smoothed RTT estimates the bandwidth-delay
// product without the queue). On a long path the buffer follows the window
// up to Config.SendBuffer; on a short one whose window grew only into
// queues (loopback) it stays at initialSendBuffer and the data stays in
// cache. It reads the session's published recovery stats, so it costs the
// loop nothing, and runs only when a writer found the buffer full.
func (st *Stream) growSendBuffer() bool {
	c := &st.sess.stats
	cwnd, srtt, minRTT := c.cwnd.Load(), c.srtt.Load(), c.minRTT.Load()
	if cwnd <= 0 || srtt <= 0 || minRTT <= 0 {
		return false
	}
	target := int(2 * float64(cwnd) * float64(minRTT) / float64(srtt))
	// Grow only by a factor of two or more: the ring's storage doubles
	// anyway, and a buffer that grew a little past a power of two would
	// spread the same data over twice the memory (measured: 4 streams at
	// ~1.07 MB each ran 20-30% slower than at 1 MiB).
	if target < 2*st.send.Limit() {
		return false
	}
	return st.send.GrowLimit(target)
}

func (st *Stream) mapSendErr(err error) error {
	if errors.Is(err, streambuf.ErrClosed) {
		if st.localReset.Load() {
			return ErrClosed // the application's own CancelWrite
		}
		if cerr := st.sess.closedErr(); cerr != nil {
			return cerr
		}
		if se := st.sess.peerStopped(st); se != nil {
			return se
		}
		return ErrClosed
	}
	return err
}

// CloseWrite ends the sending direction: the peer reads io.EOF after the
// bytes already written. Data written before CloseWrite is still delivered
// reliably. Further Writes return ErrClosed.
func (st *Stream) CloseWrite() error {
	err := st.send.Close()
	st.writeClosed.Store(true)
	st.advanceState(StreamClosing)
	st.wake()
	if err != nil {
		return ErrClosed
	}
	return nil
}

// Close closes the sending direction like CloseWrite and stops reading:
// buffered unread data is discarded and the peer is asked to stop sending.
// It does not wait for delivery; the session keeps retransmitting until the
// peer has acknowledged every byte (Session.Close drains).
func (st *Stream) Close() error {
	_ = st.send.Close()
	st.writeClosed.Store(true)
	st.advanceState(StreamClosing)
	if !st.recvDoneForClose() {
		st.cancelRead(0)
	}
	st.wake()
	return nil
}

// recvDoneForClose reports whether the peer's data has been read to the end
// already, in which case Close need not ask it to stop sending.
func (st *Stream) recvDoneForClose() bool {
	fs, ok := st.recv.FinalSize()
	return ok && st.recv.Consumed() == fs
}

// CancelWrite abandons the sending direction: unsent and unacknowledged data
// is dropped and the peer's reads fail with a *StreamError carrying code.
func (st *Stream) CancelWrite(code uint64) {
	if st.localReset.Swap(true) {
		return
	}
	st.advanceState(StreamClosing)
	st.sess.queueReset(st, code)
}

// CancelRead abandons the receiving direction: buffered data is dropped,
// further data is discarded and the peer is asked (STOP_SENDING) to stop
// with code. Reads return ErrClosed.
func (st *Stream) CancelRead(code uint64) { st.cancelRead(code) }

func (st *Stream) cancelRead(code uint64) {
	if st.readCancelled.Swap(true) {
		return
	}
	st.advanceState(StreamClosing)
	st.recv.CloseRead()
	st.sess.queueStop(st, code)
}

// SetDeadline sets both the read and write deadlines.
func (st *Stream) SetDeadline(t time.Time) error {
	st.deadlines.mu.Lock()
	st.deadlines.read, st.deadlines.write = t, t
	st.deadlines.mu.Unlock()
	st.kick()
	return nil
}

// SetReadDeadline sets the deadline for Read and ReceiveMessage; the zero
// time means none. A deadline in the past makes blocked reads return
// ErrDeadline at once.
func (st *Stream) SetReadDeadline(t time.Time) error {
	st.deadlines.mu.Lock()
	st.deadlines.read = t
	st.deadlines.mu.Unlock()
	st.kick()
	return nil
}

// SetWriteDeadline sets the deadline for Write and SendMessage.
func (st *Stream) SetWriteDeadline(t time.Time) error {
	st.deadlines.mu.Lock()
	st.deadlines.write = t
	st.deadlines.mu.Unlock()
	st.kick()
	return nil
}

// kick wakes blocked readers and writers so they re-read their deadlines.
func (st *Stream) kick() {
	for _, ch := range []chan struct{}{st.kickRead, st.kickWrite} {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

func (st *Stream) readDeadline() time.Time {
	st.deadlines.mu.Lock()
	defer st.deadlines.mu.Unlock()
	return st.deadlines.read
}

func (st *Stream) writeDeadline() time.Time {
	st.deadlines.mu.Lock()
	defer st.deadlines.mu.Unlock()
	return st.deadlines.write
}

// SendMessage writes msg as one message: a varint length prefix and the
// bytes, never interleaved with another SendMessage on this stream. It
// returns ErrMessageTooLarge above the session's MaxMessageSize. It waits
// for buffer space until ctx ends or the write deadline passes; if that
// happens part-way the stream is reset (a partial message cannot be taken
// back) with CodeMessageAbandoned, and ctx.Err() or ErrDeadline is
// returned.
func (st *Stream) SendMessage(ctx context.Context, msg []byte) error {
	if len(msg) > st.sess.cfg.MaxMessageSize {
		return ErrMessageTooLarge
	}
	var hdr [streambuf.MaxMessageHeaderLen]byte
	h := streambuf.AppendMessageHeader(hdr[:0], len(msg))
	st.msgMu.Lock()
	defer st.msgMu.Unlock()
	if b := st.bounded; b != nil {
		// The message's offsets are fixed now: SendMessage holds msgMu and
		// Write is refused on bounded streams.
		b.enqueue(st.send.Written(), len(h)+len(msg), monotime.Now())
	}
	n, err := st.write(ctx, h)
	if err == nil {
		var m int
		m, err = st.write(ctx, msg)
		n += m
		st.sess.stats.bytesWritten.Add(uint64(m))
	}
	if err != nil {
		if n > 0 && (err == ErrDeadline || ctx.Err() != nil) {
			st.CancelWrite(CodeMessageAbandoned)
		}
		return err
	}
	st.sess.stats.msgsSent.Add(1)
	return nil
}

// ReceiveMessage reads one whole message written by the peer's SendMessage.
// The returned slice is newly allocated and owned by the caller. It returns
// ErrMessageTooLarge (and stops reading the stream) for a message over
// MaxMessageSize, io.EOF at a clean end of stream, io.ErrUnexpectedEOF if
// the stream ends inside a message, ErrDeadline when the read deadline
// passes and ctx.Err() when ctx ends first.
func (st *Stream) ReceiveMessage(ctx context.Context) ([]byte, error) {
	var hdr [streambuf.MaxMessageHeaderLen]byte
	n := 0
	var size uint64
	for {
		if err := st.readFull(ctx, hdr[n:n+1]); err != nil {
			if err == io.EOF && n > 0 {
				return nil, io.ErrUnexpectedEOF
			}
			return nil, st.skipped(err)
		}
		n++
		v, hl, err := streambuf.ParseMessageHeader(hdr[:n])
		if err == nil && hl == n {
			size = v
			break
		}
		if !errors.Is(err, io.ErrUnexpectedEOF) || n == len(hdr) {
			st.CancelRead(CodeProtocol)
			return nil, errors.New("stt: malformed message header")
		}
	}
	if size > uint64(st.sess.cfg.MaxMessageSize) {
		st.CancelRead(CodeProtocol)
		return nil, ErrMessageTooLarge
	}
	msg := make([]byte, size)
	if err := st.readFull(ctx, msg); err != nil {
		if err == io.EOF {
			return nil, io.ErrUnexpectedEOF
		}
		return nil, st.skipped(err)
	}
	st.recvSeq++
	st.sess.stats.msgsRecv.Add(1)
	st.sess.stats.bytesRead.Add(uint64(len(msg)))
	return msg, nil
}

// wake tells the loop the stream has new data to send, freed receive
// window, or a state change. Wake-ups coalesce: at most one is queued.
func (st *Stream) wake() {
	if st.wakeQueued.CompareAndSwap(false, true) {
		st.sess.loop.post(cmd{op: opStreamWake, stream: st})
	}
}
