package stt

import (
	"errors"

	"github.com/stt-go/stt/control"
	"github.com/stt-go/stt/dataplane"
)

// Errors callers branch on (errors.Is). Each names when it appears and what
// to do about it.
var (
	// ErrClosed is returned by operations on a stopped node or a closed
	// session or stream. It matches net.ErrClosed. A session that ended
	// abnormally reports its *SessionError instead, which unwraps to
	// ErrClosed.
	ErrClosed = dataplane.ErrClosed
	// ErrDeadline is returned by Stream methods when a deadline set with
	// SetDeadline, SetReadDeadline or SetWriteDeadline passes: a net.Error
	// with Timeout() true that unwraps to os.ErrDeadlineExceeded. The
	// stream stays usable; set a new deadline and retry.
	ErrDeadline = dataplane.ErrDeadline
	// ErrHandshakeTimeout is matched by the *DialError Connect returns when
	// no complete handshake was possible within Config.HandshakeTimeout; the
	// DialError's Cause says what came back (nothing at all: the peer is
	// unreachable or holds another shared seed; only cookie replies;
	// RESPONSEs that did not open; no confirmation). It is a net.Error with
	// Timeout() true.
	ErrHandshakeTimeout = control.ErrHandshakeTimeout
	// ErrAuthentication is matched by the error Connect returns when the
	// peer failed authentication (wrong node ID, not on the allow-list, it
	// claims our identity) or refused us: a REJECT for a wrong shared seed,
	// sent by peers that enable Config.RejectWrongSeed. A REJECT cannot be
	// authenticated, so Connect treats it as a hint and reports it only at
	// its timeout, if no valid RESPONSE came meanwhile. Retrying will not
	// help until the configuration changes.
	ErrAuthentication = control.ErrAuthentication
	// ErrUnreachable is matched by the *DialError Connect returns when the
	// network reported the peer's address unreachable (an ICMP port or host
	// unreachable) before anything authenticated came back; the DialError
	// also unwraps to the socket error (e.g. syscall.ECONNREFUSED).
	ErrUnreachable = control.ErrUnreachable
	// ErrStreamLimit is matched by the error OpenStream returns when its
	// context ends while the peer's limit on concurrent streams is reached
	// (the error also matches ctx.Err()). Close finished streams, or raise
	// Config.MaxStreams on the peer.
	ErrStreamLimit = dataplane.ErrStreamLimit
	// ErrMessageTooLarge is returned by SendMessage and ReceiveMessage for a
	// message over Config.MaxMessageSize (ReceiveMessage then stops reading
	// the stream).
	ErrMessageTooLarge = dataplane.ErrMessageTooLarge
	// ErrMessagesOnly is returned by Write on a latency-bounded stream
	// (StreamOptions.Deadline): it carries whole messages, so that an
	// expired one can be skipped at its boundaries; use SendMessage.
	ErrMessagesOnly = dataplane.ErrMessagesOnly
	// ErrSkipped is matched by every *SkippedError: on a latency-bounded
	// stream the sender gave up on messages that missed their deadline.
	ErrSkipped = dataplane.ErrSkipped
	// ErrReceiveMode is returned when Node.Receive and Accept/AcceptStream
	// are mixed on one node: Receive takes every incoming stream itself.
	// Whichever is called first decides.
	ErrReceiveMode = errors.New("stt: Node.Receive and Accept/AcceptStream cannot be mixed on one node")
	// ErrNotStarted is returned by Connect, Accept and Receive before Start.
	ErrNotStarted = errors.New("stt: node not started")
	// ErrFrameTooLarge is returned by Session.SendFrame for a payload over
	// Session.MaxFramePayload.
	ErrFrameTooLarge = dataplane.ErrFrameTooLarge
	// ErrFrameQueueFull is returned by Session.SendFrame when too many
	// application frames (1024) wait to be sent: the sender outpaces the
	// path; retry later or drop.
	ErrFrameQueueFull = dataplane.ErrFrameQueueFull
	// ErrReservedFrameType is returned by Session.SendFrame and
	// FrameDispatcher.Register for frame types 0x00-0x7F, which STT
	// reserves; application frames use 0x80-0xFF.
	ErrReservedFrameType = dataplane.ErrFrameType
)

// Session close codes: SessionError.Code for sessions closed by STT itself.
// CloseWithError takes any code; applications should use their own values
// and leave these to STT.
const (
	CodeNoError        = dataplane.CodeNoError        // graceful close
	CodeInternal       = dataplane.CodeInternal       // an implementation bug ("BUG: …")
	CodeFlowControl    = dataplane.CodeFlowControl    // the peer sent beyond the credit it was given
	CodeStreamLimit    = dataplane.CodeStreamLimit    // the peer opened a stream beyond its limit
	CodeProtocol       = dataplane.CodeProtocol       // malformed frame, frame in the wrong state, ACK of an unsent packet
	CodeFinalSize      = dataplane.CodeFinalSize      // a stream's final size changed or data beyond it
	CodeAEADLimit      = dataplane.CodeAEADLimit      // too many packets failed to open (integrity limit)
	CodeIdleTimeout    = dataplane.CodeIdleTimeout    // local: nothing heard for the idle timeout
	CodeNodeStopping   = dataplane.CodeNodeStopping   // the node is shutting down
	CodeTooManyFrames  = dataplane.CodeTooManyFrames  // a resource limit (gaps, ranges) exceeded
	CodePacketNumbers  = dataplane.CodePacketNumbers  // the sender's 48-bit packet numbers ran out (it closes first)
	CodeUnresponsive   = dataplane.CodeUnresponsive   // local: data in flight, no acknowledgement for Config.MaxProbes probe timeouts
	CodeStatelessReset = dataplane.CodeStatelessReset // the peer no longer holds the session (it restarted): it answered with a stateless reset

	// CodeMessageAbandoned resets a stream (never a session) whose
	// SendMessage ended part-way through a message (context or deadline).
	CodeMessageAbandoned = dataplane.CodeMessageAbandoned
)

// DialError is the error Connect returns when a handshake ends without a
// session: Peer, Cause (what came back, if anything), Elapsed, and counts
// of what arrived. errors.Is matches ErrHandshakeTimeout, ErrAuthentication
// or ErrUnreachable according to Cause.
type DialError = control.DialError

// StreamError reports a stream reset by either side: StreamID, the
// application Code given to CancelWrite/CancelRead, and Remote (the peer
// reset it, or asked this side to stop with STOP_SENDING). errors.Is
// matches a *StreamError with equal fields.
type StreamError = dataplane.StreamError

// SessionError reports why a session closed: Code (one of the Code*
// constants, or the application's code given to CloseWithError), Reason,
// and Remote (the peer closed it). It unwraps to ErrClosed (so also
// net.ErrClosed); the idle timeout and an unresponsive peer are net.Error
// timeouts. errors.Is matches a *SessionError with equal Code and Remote.
type SessionError = dataplane.SessionError

// SkippedError is returned by ReceiveMessage on a latency-bounded stream
// (StreamOptions.Deadline) when the sender gave up on messages whose
// deadline passed before they were delivered: Messages will never arrive
// (the next ReceiveMessage returns the message after them, whole) and Bytes
// is how much of the stream they spanned. Read reports Messages 0 (it does
// not count messages). The stream stays usable. It matches ErrSkipped.
type SkippedError = dataplane.SkippedError
