package streaming

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/stt-go/stt/stc"
)

// CopyTo is the sending pump: it reads the Encoder's source, seals each
// piece and writes it to w as one record (layout at MaxRecordHeaderLen),
// in a single w.Write call per record, until the Last segment has been
// written (nil), the source or w fails, or ctx ends (ctx's error). It
// returns the bytes written to w. In Live mode a record leaves as soon as
// a Read returns bytes, so w sees the data as it arrives; in Bounded mode
// records are full and the size is checked. Because each record is one
// Write, a message-oriented w (a datagram socket, an adapter over
// Stream.SendMessage or an endpoint.Sink) carries one record per message.
//
// ctx is checked before each segment. A Read or Write that is blocked when
// ctx ends is interrupted only if the source or w has a
// SetReadDeadline or SetWriteDeadline method (net.Conn, STT streams,
// os.File pipes): CopyTo then sets it to a past time and leaves it so;
// otherwise close the source or w to unblock it. After a read or write
// error the Encoder returns that error from every call: a segment whose
// record was not written is sealed under its sequence number and cannot
// be sealed again, so the stream cannot be completed.
//
// CopyTo allocates one record buffer per call; w must not retain it (the
// io.Writer contract). It does not allocate per segment.
func (e *Encoder) CopyTo(ctx context.Context, w io.Writer) (int64, error) {
	stopR := interruptOnDone(ctx, e.r, false)
	defer stopR()
	stopW := interruptOnDone(ctx, w, true)
	defer stopW()
	// The segment is sealed at buf[MaxRecordHeaderLen:] and its header
	// written just in front of it, so the record leaves in one Write
	// without a copy.
	buf := make([]byte, MaxRecordHeaderLen+e.segSize)
	var n int64
	for {
		if err := ctx.Err(); err != nil {
			return n, err
		}
		seg, err := e.NextInto(buf[MaxRecordHeaderLen:MaxRecordHeaderLen])
		if err == io.EOF {
			return n, nil // the Last segment was written by an earlier call
		}
		if err != nil {
			if ctx.Err() != nil {
				return n, ctx.Err()
			}
			return n, err
		}
		var hdr [MaxRecordHeaderLen]byte
		h := appendRecordHeader(hdr[:0], seg.Seq, len(seg.Data))
		start := MaxRecordHeaderLen - len(h)
		copy(buf[start:], h)
		m, err := w.Write(buf[start : MaxRecordHeaderLen+len(seg.Data)])
		n += int64(m)
		if err == nil && m < MaxRecordHeaderLen+len(seg.Data)-start {
			err = io.ErrShortWrite
		}
		if err != nil {
			e.err = fmt.Errorf("streaming: write segment %d: %w", seg.Seq, err)
			if ctx.Err() != nil {
				return n, ctx.Err()
			}
			return n, e.err
		}
		if seg.Last {
			return n, nil
		}
	}
}

// appendRecordHeader appends a record header (seq, then the data length).
func appendRecordHeader(b []byte, seq uint64, n int) []byte {
	b = binary.AppendUvarint(b, seq)
	return binary.AppendUvarint(b, uint64(n))
}

// CopyFrom is the receiving pump: it reads records (layout at
// MaxRecordHeaderLen) from the byte stream r and offers each segment to
// the Decoder, until the stream is complete (nil), r fails or ends early,
// or ctx ends. It returns the bytes consumed from r. It buffers r,
// reading ahead by up to MaxRecordLen bytes, so r should carry this
// stream's records only.
//
// The byte budget holds, without losing data on a lossless carrier: when
// a segment does not fit MaxBuffered because in-order bytes wait to be
// read, CopyFrom waits for the reader instead of dropping it, which
// pushes back on r and so on the sender. Consume the stream with the
// Reader concurrently, or with ReceiveAll and a MaxBuffered no smaller
// than the stream, since ReceiveAll reads nothing until the end. Segments
// that the Decoder rejects as duplicates, forgeries or out of window, or
// that do not fit beside out-of-order segments after a gap, are skipped
// and counted in Stats, as on a lossy carrier.
//
// It stops with an error for: a record that breaks the framing
// (ErrMalformedRecord, ErrTooLarge), a segment the sender should not have
// sent (ErrMalformed), an in-order segment larger than MaxBuffered
// (ErrBufferFull), io.ErrUnexpectedEOF if r ends before the last segment,
// r's error, ctx's error, or ErrClosed. On every error it calls Abort
// with it, so a Reader waiting on the stream gets the bytes already in
// order and then the error. A Read from r that is blocked when ctx ends is
// interrupted as in CopyTo (SetReadDeadline), or by closing r.
//
// CopyFrom allocates its read buffer once per call; in-order segments do
// not allocate when the reader keeps up.
func (d *Decoder) CopyFrom(ctx context.Context, r io.Reader) (n int64, err error) {
	defer func() {
		if err != nil {
			d.Abort(err)
		}
	}()
	stopR := interruptOnDone(ctx, r, false)
	defer stopR()
	stopC := context.AfterFunc(ctx, func() {
		d.mu.Lock()
		d.cond.Broadcast()
		d.mu.Unlock()
	})
	defer stopC()
	// A ctx that ends interrupts a read with a deadline error; report ctx.
	fail := func(err error) error {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return err
	}
	br := bufio.NewReaderSize(r, MaxRecordLen)
	if d.Complete() {
		return 0, nil
	}
	for {
		if err := ctx.Err(); err != nil {
			return n, err
		}
		seq, size, hl, err := readRecordHeader(br)
		n += int64(hl)
		if err == io.EOF {
			return n, fail(fmt.Errorf("streaming: carrier ended before the last segment: %w", io.ErrUnexpectedEOF))
		}
		if err != nil {
			return n, fail(err)
		}
		sealed, err := br.Peek(size)
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return n, fail(fmt.Errorf("streaming: record data of segment %d: %w", seq, err))
		}
		complete, inOrder, err := d.offer(ctx, seq, sealed)
		br.Discard(size)
		n += int64(size)
		switch {
		case err == nil:
			if complete {
				return n, nil
			}
		case errors.Is(err, ErrBufferFull) && !inOrder,
			errors.Is(err, ErrDuplicate),
			errors.Is(err, ErrForged),
			errors.Is(err, ErrOutOfWindow):
			// Skipped and counted, as Receive's caller on a lossy carrier would.
		default:
			return n, err
		}
	}
}

// offer is Receive for CopyFrom: while the segment does not fit the budget
// and the reader has bytes to take, it waits for the reader (or ctx,
// Close, Abort) instead of failing with ErrBufferFull. inOrder reports
// that seq was the next segment expected.
func (d *Decoder) offer(ctx context.Context, seq uint64, sealed []byte) (complete, inOrder bool, err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for d.mustWait(seq, sealed) {
		if err := ctx.Err(); err != nil {
			return false, seq == d.next, err
		}
		d.waiters++
		d.cond.Wait()
		d.waiters--
	}
	inOrder = seq == d.next
	err = d.receive(seq, sealed)
	return d.complete(), inOrder, err
}

// mustWait reports whether a segment that Receive would take, were there
// room, does not fit now although the reader can free room. d.mu is held.
func (d *Decoder) mustWait(seq uint64, sealed []byte) bool {
	if d.closed || d.aborted != nil || d.readable == 0 || seq < d.next ||
		len(sealed) < SegmentOverhead || len(sealed) > MaxSegmentSize {
		return false
	}
	if _, dup := d.pending[seq]; dup {
		return false
	}
	cost := len(sealed) - stc.Overhead - flagsLen + chunkOverhead
	return d.buffered+cost > d.maxBuffered
}

// interruptOnDone arranges for the end of ctx to set a past read (or
// write) deadline on x, if x has the method, to interrupt a blocked call.
// The returned function cancels the arrangement.
func interruptOnDone(ctx context.Context, x any, write bool) (stop func() bool) {
	var set func(time.Time) error
	if write {
		if d, ok := x.(interface{ SetWriteDeadline(time.Time) error }); ok {
			set = d.SetWriteDeadline
		}
	} else if d, ok := x.(interface{ SetReadDeadline(time.Time) error }); ok {
		set = d.SetReadDeadline
	}
	if set == nil || ctx.Done() == nil {
		return func() bool { return false }
	}
	return context.AfterFunc(ctx, func() { set(time.Unix(1, 0)) })
}
