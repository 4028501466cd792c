package streambuf

import (
	"errors"
	"strconv"
)

// Errors returned by this package. They are sentinels (returned unwrapped, so
// returning them never allocates) and are checked with errors.Is.
var (
	// ErrClosed is returned by Send.Write after Close or Reset, by Send.Close
	// after Reset, and by Recv.Read after CloseRead: the local side gave up.
	ErrClosed = errors.New("streambuf: stream closed")

	// ErrFlowControl is returned when a peer sends data beyond the credit we
	// advertised (Recv.Push, Recv.Reset, RecvWindow.OnReceived). It is a
	// connection error (FLOW_CONTROL_ERROR, RFC 9000 §4.1); nothing was
	// stored.
	ErrFlowControl = errors.New("streambuf: peer exceeded flow-control limit")

	// ErrFinalSize is returned when a peer changes a stream's final size,
	// sends data beyond it, or declares one below data already received
	// (RFC 9000 §4.5). It is a connection error; nothing was stored.
	ErrFinalSize = errors.New("streambuf: peer changed or exceeded the final size")

	// ErrTooManyGaps is returned by Recv.Push when storing a frame would leave
	// more out-of-order ranges than the stream's maxGaps. Nothing was stored:
	// the caller either drops the packet without acknowledging it, so the
	// peer retransmits, or closes the session as misbehaving.
	ErrTooManyGaps = errors.New("streambuf: too many out-of-order gaps")

	// ErrReset matches (errors.Is) every *ResetError: the peer reset the
	// stream and Recv.Read will return no more data.
	ErrReset = errors.New("streambuf: stream reset by peer")

	// ErrVarint is returned by ParseMessageHeader for a length prefix that
	// is not canonical (a trailing zero group) or does not fit 64 bits.
	ErrVarint = errors.New("streambuf: malformed message length")
)

// ResetError is what Recv.Read returns after the peer reset the stream. Code
// is the application error code from the RESET frame (set with
// Recv.SetResetCode). It matches ErrReset with errors.Is.
type ResetError struct {
	Code uint64
}

// Error implements error.
func (e *ResetError) Error() string {
	return "streambuf: stream reset by peer (code " + strconv.FormatUint(e.Code, 10) + ")"
}

// Is reports whether target is ErrReset, or a *ResetError with the same Code.
func (e *ResetError) Is(target error) bool {
	if target == ErrReset {
		return true
	}
	t, ok := target.(*ResetError)
	return ok && t.Code == e.Code
}

// SkipError is what Recv.Read returns once after the sender skipped part of
// the stream (Recv.Skip): Bytes were abandoned since the previous Read, and
// Tag is the caller's tag of the latest skip (the data plane: the number of
// the message that starts where reading resumes). It matches ErrSkipped.
type SkipError struct {
	Bytes uint64
	Tag   uint64
}

// ErrSkipped matches (errors.Is) every *SkipError.
var ErrSkipped = errors.New("streambuf: the sender skipped part of the stream")

// Error implements error.
func (e *SkipError) Error() string {
	return "streambuf: the sender skipped " + strconv.FormatUint(e.Bytes, 10) + " bytes"
}

// Is reports whether target is ErrSkipped.
func (e *SkipError) Is(target error) bool { return target == ErrSkipped }
