package dataplane

import (
	"errors"
	"fmt"
	"net"
	"os"

	"github.com/stt-go/stt/wire"
)

// Session close codes carried in CONTROL/CLOSE frames (docs/PROTOCOL.md).
const (
	CodeNoError       uint64 = 0x0 // graceful close
	CodeInternal      uint64 = 0x1 // an implementation bug ("BUG: …")
	CodeFlowControl   uint64 = 0x2 // peer sent beyond the credit we gave
	CodeStreamLimit   uint64 = 0x3 // peer opened a stream beyond our limit or of our parity
	CodeProtocol      uint64 = 0x4 // malformed frame, frame in the wrong state, ACK of an unsent packet
	CodeFinalSize     uint64 = 0x5 // a stream's final size changed or data beyond it
	CodeAEADLimit     uint64 = 0x6 // the integrity limit on failed opens was reached
	CodeIdleTimeout   uint64 = 0x7 // used locally: nothing heard for the idle timeout
	CodeNodeStopping  uint64 = 0x8 // the node is shutting down
	CodeTooManyFrames uint64 = 0x9 // resource limit (gaps, ranges) exceeded
	CodePacketNumbers uint64 = 0xC // the sender's packet numbers are exhausted (it closes before 2^48-1)
	// CodeMessageAbandoned is a stream code, sent in RESET: SendMessage
	// was interrupted (context or write deadline) part-way through a
	// message, which cannot be taken back, so the stream was reset.
	CodeMessageAbandoned uint64 = 0xD
	// Local codes: a session ends with them without a CLOSE frame, so they
	// never appear on the wire.
	CodeUnresponsive   uint64 = 0xA // data in flight and nothing acknowledged for Config.MaxProbes probe timeouts
	CodeStatelessReset uint64 = 0xB // the peer answered with a stateless reset: it no longer holds the session
)

// ErrClosed is returned by operations on a closed session or stream, or a
// stopped engine. It matches net.ErrClosed with errors.Is.
var ErrClosed error = closedError{}

type closedError struct{}

func (closedError) Error() string        { return "stt: use of closed session or stream" }
func (closedError) Is(target error) bool { return target == net.ErrClosed }

// ErrStreamLimit is returned by OpenStream when the context ends while the
// peer's concurrent-stream limit is reached.
var ErrStreamLimit = errors.New("stt: peer's stream limit reached")

// ErrMessageTooLarge is returned by SendMessage and ReceiveMessage for a
// message over the configured maximum size.
var ErrMessageTooLarge = errors.New("stt: message too large")

// ErrSessionExists is returned by Install when the session ID is taken;
// the existing entry is never overwritten.
var ErrSessionExists = errors.New("stt: session ID already in use")

// StreamError reports a stream ended by a reset (CancelWrite/CancelRead on
// either side). Remote says whether the peer sent it.
type StreamError struct {
	StreamID wire.StreamID
	Code     uint64
	Remote   bool
}

func (e *StreamError) Error() string {
	who := "local"
	if e.Remote {
		who = "remote"
	}
	return fmt.Sprintf("stt: stream %d reset by %s with code %d", e.StreamID, who, e.Code)
}

// Is matches another *StreamError with equal fields.
func (e *StreamError) Is(target error) bool {
	t, ok := target.(*StreamError)
	return ok && *t == *e
}

// SessionError reports why a session closed: Code is one of the Code*
// constants, Remote says whether the peer closed it. Idle timeouts are
// net.Error timeouts. SessionError unwraps to ErrClosed, so errors.Is(err,
// net.ErrClosed) holds for every closed session.
type SessionError struct {
	Code   uint64
	Reason string
	Remote bool
}

func (e *SessionError) Error() string {
	who := "locally"
	if e.Remote {
		who = "by peer"
	}
	if e.Reason == "" {
		return fmt.Sprintf("stt: session closed %s (code %d)", who, e.Code)
	}
	return fmt.Sprintf("stt: session closed %s (code %d): %s", who, e.Code, e.Reason)
}

// Is matches another *SessionError with equal Code and Remote.
func (e *SessionError) Is(target error) bool {
	t, ok := target.(*SessionError)
	return ok && t.Code == e.Code && t.Remote == e.Remote
}

// Unwrap returns ErrClosed.
func (e *SessionError) Unwrap() error { return ErrClosed }

// Timeout reports whether the session ended because the peer went silent:
// the idle timeout, or an unresponsive peer (net.Error).
func (e *SessionError) Timeout() bool {
	return (e.Code == CodeIdleTimeout || e.Code == CodeUnresponsive) && !e.Remote
}

// Temporary is part of net.Error; always false.
func (e *SessionError) Temporary() bool { return false }

var _ net.Error = (*SessionError)(nil)

// deadlineError is returned when a Read or Write deadline passes: a net.Error
// with Timeout() true that unwraps to os.ErrDeadlineExceeded.
type deadlineError struct{}

func (deadlineError) Error() string   { return "stt: i/o deadline exceeded" }
func (deadlineError) Timeout() bool   { return true }
func (deadlineError) Temporary() bool { return true }
func (deadlineError) Unwrap() error   { return os.ErrDeadlineExceeded }

// ErrDeadline is the error Stream methods return when a deadline passes.
var ErrDeadline net.Error = deadlineError{}

// ErrMessagesOnly is returned by Write on a latency-bounded stream: it
// carries whole messages (SendMessage), so that an expired one can be
// skipped at its boundaries.
var ErrMessagesOnly = errors.New("stt: a latency-bounded stream carries messages only: use SendMessage")

// ErrSkipped is matched (errors.Is) by every *SkippedError.
var ErrSkipped = errors.New("stt: messages skipped")

// SkippedError is returned by ReceiveMessage (and Read) on a latency-bounded
// stream when the sender gave up on messages whose deadline passed before
// they were delivered: Messages is how many will never arrive (the next
// ReceiveMessage returns the one after them, whole), Bytes how many stream
// bytes they spanned. Read reports Messages 0 (it does not count
// messages). The stream stays usable; it matches ErrSkipped.
type SkippedError struct {
	StreamID wire.StreamID
	Messages uint64
	Bytes    uint64
	next     uint64 // number of the message reading resumes at
}

func (e *SkippedError) Error() string {
	return fmt.Sprintf("stt: stream %d: the sender skipped %d messages (%d bytes) that missed their deadline", e.StreamID, e.Messages, e.Bytes)
}

// Is reports whether target is ErrSkipped.
func (e *SkippedError) Is(target error) bool { return target == ErrSkipped }
