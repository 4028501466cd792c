package wire

import (
	"errors"
	"io"
	"math"
	"strconv"
)

// Sentinel errors wrapped by every *ParseError. Callers branch on them with
// errors.Is; truncated input wraps io.ErrUnexpectedEOF instead. A peer that
// sends input producing any of them has violated docs/PROTOCOL.md: the
// packet is dropped (after it authenticated, the session is closed with a
// protocol error), never acted upon in part.
var (
	// ErrTooLarge reports a value above a protocol limit: a stream ID above
	// MaxStreamID, an offset or length past MaxStreamOffset, more than
	// MaxAckRanges ACK ranges, a CLOSE reason above MaxCloseReason or a custom
	// payload above MaxCustomPayload.
	ErrTooLarge = errors.New("wire: value too large")

	// ErrUnknownFrame reports a frame type in 0x06-0x7F or an unknown
	// CONTROL or STREAM_CONTROL subtype. Application frames (0x80-0xFF) are
	// never unknown to this package; dispatching them is the caller's job.
	ErrUnknownFrame = errors.New("wire: unknown frame type")

	// ErrMalformed reports an encoding that is structurally invalid: a
	// non-canonical (overlong) or overflowing varint, a wrong version, reserved
	// flag bits set, an ACK range below packet number zero, or a frame type
	// that may not appear in a transport packet (HANDSHAKE, AUTH).
	ErrMalformed = errors.New("wire: malformed encoding")
)

// ParseError describes where and why parsing failed. Every parser in this
// package returns its errors as *ParseError; match the cause with errors.Is
// (ErrTooLarge, ErrUnknownFrame, ErrMalformed, io.ErrUnexpectedEOF) and read
// the position with errors.As.
type ParseError struct {
	// What names the field or structure being parsed, as in
	// docs/PROTOCOL.md ("stream ID", "ack gap", "version", ...).
	What string
	// Offset is the byte offset, within the slice passed to the parser, of
	// the first byte of the field named by What.
	Offset int
	// Want and Got qualify the failure; each is zero when not meaningful.
	// Truncation: Want is the length of input the field needs (at least),
	// Got is the length available. ErrTooLarge: Want is the limit, Got the
	// value received. ErrMalformed: the expected and the received value, or
	// for an overlong varint its canonical and its actual length. Values above
	// math.MaxInt are clamped to math.MaxInt.
	Want, Got int
	// Err is the cause: one of the sentinels above or io.ErrUnexpectedEOF.
	Err error
}

// Error reports the field, its offset, the cause and Want/Got when set.
func (e *ParseError) Error() string {
	s := "wire: " + e.What + " at offset " + strconv.Itoa(e.Offset) + ": "
	if e.Err != nil {
		s += e.Err.Error()
	} else {
		s += "invalid"
	}
	switch {
	case e.Want != 0:
		s += " (want " + strconv.Itoa(e.Want) + ", got " + strconv.Itoa(e.Got) + ")"
	case e.Got != 0:
		s += " (got " + strconv.Itoa(e.Got) + ")"
	}
	return s
}

// Unwrap returns the cause, so errors.Is sees the sentinel.
func (e *ParseError) Unwrap() error { return e.Err }

// clampInt converts a wire value for ParseError.Want/Got.
func clampInt(v uint64) int {
	if v > math.MaxInt {
		return math.MaxInt
	}
	return int(v)
}

// errTruncated reports that the field what at off needs want bytes of input
// in total and only got are available.
func errTruncated(what string, off, want, got int) error {
	return &ParseError{What: what, Offset: off, Want: want, Got: got, Err: io.ErrUnexpectedEOF}
}

// errTooLarge reports the field what at off holding got, above limit.
func errTooLarge(what string, off int, limit, got uint64) error {
	return &ParseError{What: what, Offset: off, Want: clampInt(limit), Got: clampInt(got), Err: ErrTooLarge}
}

// errMalformed reports the field what at off holding got where want was
// required.
func errMalformed(what string, off, want, got int) error {
	return &ParseError{What: what, Offset: off, Want: want, Got: got, Err: ErrMalformed}
}
