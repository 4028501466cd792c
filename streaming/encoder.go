package streaming

import (
	"errors"
	"fmt"
	"io"
	"iter"

	"github.com/stt-go/stt/stc"
)

// Mode selects how an Encoder treats its reader.
type Mode uint8

const (
	// Live is for data of unknown size that arrives over time (video,
	// sensor readings): every Read that returns bytes produces a segment at
	// once, without waiting to fill it, and the stream ends at io.EOF. The
	// zero Mode is Live.
	Live Mode = iota
	// Bounded is for data of known size (files): segments are filled to
	// SegmentSize, the reader must yield exactly EncoderOptions.Size bytes
	// and then io.EOF, and the last data segment carries the Last flag.
	Bounded
)

// String returns "live", "bounded" or "Mode(N)".
func (m Mode) String() string {
	switch m {
	case Live:
		return "live"
	case Bounded:
		return "bounded"
	}
	return fmt.Sprintf("Mode(%d)", uint8(m))
}

// EncoderOptions configures an Encoder. A nil *EncoderOptions means Live
// mode with the defaults; NewEncoder copies the struct and never modifies
// it.
type EncoderOptions struct {
	// Mode is Live (the zero value) or Bounded; other values are rejected
	// with ErrInvalidOptions.
	Mode Mode
	// Size is the exact number of bytes a Bounded reader yields (≥ 0;
	// negative is rejected with ErrInvalidOptions). Ignored in Live mode.
	Size int64
	// SegmentSize is the sealed length of a full segment in bytes, payload
	// plus SegmentOverhead. Zero means DefaultSegmentSize; values outside
	// [MinSegmentSize, MaxSegmentSize] are rejected with ErrInvalidOptions.
	SegmentSize int
}

// Segment is one sealed piece of a stream.
type Segment struct {
	// Seq is the segment's sequence number: 0 for the first segment,
	// increasing by one. The decoder needs it next to Data.
	Seq uint64
	// Data is the sealed segment (flags ‖ payload, then the tag; see
	// SegmentOverhead), at most SegmentSize bytes. Its owner depends on
	// the call that produced it: Next returns a fresh slice the caller
	// owns; NextInto returns a slice of the caller's buffer.
	Data []byte
	// Last reports that this is the final segment; the flag is also sealed
	// inside Data, so the decoder learns it from Data alone.
	Last bool
}

// Encoder turns a reader into sealed segments. It is not safe for
// concurrent use: one goroutine calls Next, NextInto or ranges over All.
// It owns its StreamContext's sealing side: no other code may Seal with
// that context (Seal panics on a repeated sequence number, which would
// reuse a nonce).
type Encoder struct {
	r    io.Reader
	sc   *stc.StreamContext
	mode Mode
	size int64

	plain   []byte // flags ‖ payload scratch, SegmentSize-Overhead bytes
	segSize int
	seq     uint64
	read    int64 // payload bytes consumed from r
	done    bool  // Last segment emitted
	err     error // sticky error, returned by every later call
}

// NewEncoder returns an Encoder that reads r and seals with sc. Errors
// wrap ErrInvalidOptions and name the field: a nil reader or context, an
// unknown Mode, a negative Size, a SegmentSize out of range. It allocates
// one SegmentSize scratch buffer.
func NewEncoder(r io.Reader, sc *stc.StreamContext, opts *EncoderOptions) (*Encoder, error) {
	var o EncoderOptions
	if opts != nil {
		o = *opts
	}
	switch {
	case r == nil:
		return nil, fmt.Errorf("%w: reader is nil", ErrInvalidOptions)
	case sc == nil:
		return nil, fmt.Errorf("%w: StreamContext is nil", ErrInvalidOptions)
	case o.Mode != Live && o.Mode != Bounded:
		return nil, fmt.Errorf("%w: EncoderOptions.Mode %v is not Live or Bounded", ErrInvalidOptions, o.Mode)
	case o.Mode == Bounded && o.Size < 0:
		return nil, fmt.Errorf("%w: EncoderOptions.Size %d is negative", ErrInvalidOptions, o.Size)
	}
	if o.SegmentSize == 0 {
		o.SegmentSize = DefaultSegmentSize
	}
	if o.SegmentSize < MinSegmentSize || o.SegmentSize > MaxSegmentSize {
		return nil, fmt.Errorf("%w: EncoderOptions.SegmentSize %d outside [%d, %d]",
			ErrInvalidOptions, o.SegmentSize, MinSegmentSize, MaxSegmentSize)
	}
	return &Encoder{
		r:       r,
		sc:      sc,
		mode:    o.Mode,
		size:    o.Size,
		segSize: o.SegmentSize,
		plain:   make([]byte, o.SegmentSize-stc.Overhead),
	}, nil
}

// Next reads the next piece of the stream and returns it sealed, in a
// freshly allocated Data the caller owns. It blocks while the reader
// blocks. After the Last segment it returns io.EOF; after an error
// (ErrSizeMismatch, a read error) it returns that error again on every
// call, and no Last segment is ever produced.
func (e *Encoder) Next() (Segment, error) {
	return e.NextInto(nil)
}

// NextInto is Next sealing into dst[:0]: when cap(dst) ≥ SegmentSize it
// does not allocate and Segment.Data aliases dst (borrowed: valid until
// dst is reused; copy to keep); otherwise Data is newly allocated.
func (e *Encoder) NextInto(dst []byte) (Segment, error) {
	if e.err != nil {
		return Segment{}, e.err
	}
	if e.done {
		return Segment{}, io.EOF
	}
	var n int
	var last bool
	var err error
	if e.mode == Bounded {
		n, last, err = e.readBounded()
	} else {
		n, last, err = e.readLive()
	}
	if err != nil {
		e.err = err
		return Segment{}, err
	}
	e.plain[0] = 0
	if last {
		e.plain[0] = flagLast
		e.done = true
	}
	seg := Segment{Seq: e.seq, Last: last}
	seg.Data = e.sc.Seal(dst[:0], e.seq, e.plain[:flagsLen+n])
	e.seq++
	return seg, nil
}

// readLive does one Read into the payload area. A Read returning bytes
// ends the segment at once; io.EOF with no bytes produces an empty last
// segment, io.EOF with bytes marks that segment last.
func (e *Encoder) readLive() (n int, last bool, err error) {
	payload := e.plain[flagsLen:]
	for range maxEmptyReads {
		n, err = e.r.Read(payload)
		e.read += int64(n)
		switch {
		case errors.Is(err, io.EOF):
			return n, true, nil
		case err != nil:
			return 0, false, fmt.Errorf("streaming: read: %w", err)
		case n > 0:
			return n, false, nil
		}
	}
	return 0, false, fmt.Errorf("streaming: read: %w", io.ErrNoProgress)
}

// readBounded fills the payload area (or what is left of Size) and, when
// that reaches Size, checks that the reader is at EOF before the segment
// is marked last.
func (e *Encoder) readBounded() (n int, last bool, err error) {
	want := int64(len(e.plain) - flagsLen)
	if rem := e.size - e.read; rem < want {
		want = rem
	}
	n, err = io.ReadFull(e.r, e.plain[flagsLen:flagsLen+int(want)])
	e.read += int64(n)
	switch {
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return 0, false, fmt.Errorf("%w: reader ended after %d bytes, declared %d", ErrSizeMismatch, e.read, e.size)
	case err != nil:
		return 0, false, fmt.Errorf("streaming: read: %w", err)
	case e.read < e.size:
		return n, false, nil
	}
	// Size reached: the reader must have nothing more.
	var probe [1]byte
	for range maxEmptyReads {
		m, perr := e.r.Read(probe[:])
		switch {
		case m > 0:
			return 0, false, fmt.Errorf("%w: reader yields more than the declared %d bytes", ErrSizeMismatch, e.size)
		case errors.Is(perr, io.EOF):
			return n, true, nil
		case perr != nil:
			return 0, false, fmt.Errorf("streaming: read: %w", perr)
		}
	}
	return 0, false, fmt.Errorf("streaming: read: %w", io.ErrNoProgress)
}

// All returns an iterator over the remaining segments, as Next produces
// them (each Data owned by the caller). It stops after the Last segment;
// on an error it yields (Segment{}, err) once and stops.
func (e *Encoder) All() iter.Seq2[Segment, error] {
	return func(yield func(Segment, error) bool) {
		for {
			seg, err := e.Next()
			if errors.Is(err, io.EOF) {
				return
			}
			if !yield(seg, err) || err != nil || seg.Last {
				return
			}
		}
	}
}

// Seq returns the sequence number the next segment will carry, which is
// also the number of segments produced so far.
func (e *Encoder) Seq() uint64 { return e.seq }
