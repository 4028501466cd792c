package streaming

import (
	"errors"
	"net"
)

// Errors returned by the encoder and decoder. Each can be checked with
// errors.Is; most are returned wrapped with detail (sequence numbers,
// sizes).
var (
	// ErrInvalidOptions is returned by NewEncoder and NewDecoder, wrapped
	// with the field's name, when a required argument is missing or an
	// option is outside its documented range. It is a programming error.
	ErrInvalidOptions = errors.New("streaming: invalid options")

	// ErrSizeMismatch is returned by a bounded Encoder when the reader
	// yields fewer or more bytes than EncoderOptions.Size. No Last segment
	// is emitted, so a decoder never sees the stream as complete.
	ErrSizeMismatch = errors.New("streaming: reader size differs from declared size")

	// ErrDuplicate is returned by Decoder.Receive for a sequence number it
	// already holds or has already delivered. The segment is dropped;
	// duplicates are normal on lossy networks and need no action.
	ErrDuplicate = errors.New("streaming: duplicate segment")

	// ErrForged is returned by Decoder.Receive, wrapping stc.ErrAuth, when a
	// segment does not open under the stream key with its sequence number
	// (forged, corrupted, or belonging to another stream or position). The
	// segment is dropped and counted; the decoder is unaffected.
	ErrForged = errors.New("streaming: segment failed authentication")

	// ErrOutOfWindow is returned by Decoder.Receive for a sequence number at
	// or beyond next-expected + Window, or beyond the last segment once the
	// last segment is known. The segment is dropped without being opened.
	ErrOutOfWindow = errors.New("streaming: sequence number out of window")

	// ErrBufferFull is returned by Decoder.Receive when keeping the segment
	// would take the decoder past MaxBuffered bytes even after evicting
	// every buffered segment numbered above it (so unread in-order bytes
	// fill the budget). The segment is dropped; the sender may resend it
	// after the reader has drained data.
	ErrBufferFull = errors.New("streaming: decoder buffer full")

	// ErrTooLarge is returned by Decoder.Receive for a sealed segment longer
	// than MaxSegmentSize. The segment is dropped without being opened.
	// ParseRecord, Segment.AppendRecord and Decoder.CopyFrom return it for
	// a record whose length is above MaxSegmentSize.
	ErrTooLarge = errors.New("streaming: segment too large")

	// ErrMalformed is returned by Decoder.Receive for an authentic segment
	// that contradicts the stream: reserved flag bits set, a second last
	// segment, or a last segment below data already received. Only a holder
	// of the stream key can produce one, so it means a broken sender.
	ErrMalformed = errors.New("streaming: malformed segment")

	// ErrMalformedRecord is returned by ParseRecord and Decoder.CopyFrom
	// for a record header that is not a valid encoding (a varint that
	// overflows or is not minimal). Over a byte stream the record
	// boundaries are lost, so CopyFrom stops.
	ErrMalformedRecord = errors.New("streaming: malformed record")

	// ErrClosed is returned by Receive, ReceiveAll and the Reader after
	// Decoder.Close. It matches net.ErrClosed through errors.Is.
	ErrClosed error = closedError{}
)

// closedError is ErrClosed's type, unwrapping to net.ErrClosed.
type closedError struct{}

func (closedError) Error() string { return "streaming: decoder closed" }
func (closedError) Unwrap() error { return net.ErrClosed }
