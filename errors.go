package stt

import (
	"errors"

	"github.com/stt-go/stt/control"
	"github.com/stt-go/stt/dataplane"
)

// Errors callers branch on (errors.Is).
var (
	// ErrClosed is returned by operations on a stopped node or a closed
	// session or stream. It matches net.ErrClosed.
	ErrClosed = dataplane.ErrClosed
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
	// its timeout, if no valid RESPONSE came meanwhile.
	ErrAuthentication = control.ErrAuthentication
	// ErrUnreachable is matched by the *DialError Connect returns when the
	// network reported the peer's address unreachable (an ICMP port or host
	// unreachable) before anything authenticated came back; the DialError
	// also unwraps to the socket error (e.g. syscall.ECONNREFUSED).
	ErrUnreachable = control.ErrUnreachable
	// ErrStreamLimit is returned by OpenStream when its context ends while
	// the peer's concurrent-stream limit is reached.
	ErrStreamLimit = dataplane.ErrStreamLimit
	// ErrMessageTooLarge is returned by SendMessage and ReceiveMessage for a
	// message over Config.MaxMessageSize.
	ErrMessageTooLarge = dataplane.ErrMessageTooLarge
	// ErrReceiveMode is returned when Node.Receive and AcceptStream/Accept
	// are mixed on one node: Receive takes every incoming stream itself.
	ErrReceiveMode = errors.New("stt: Node.Receive and Accept/AcceptStream cannot be mixed on one node")
	// ErrNotStarted is returned by Connect, Accept and Receive before Start.
	ErrNotStarted = errors.New("stt: node not started")
	// ErrFrameTooLarge is returned by Session.SendFrame for a payload over
	// Session.MaxFramePayload.
	ErrFrameTooLarge = dataplane.ErrFrameTooLarge
	// ErrFrameQueueFull is returned by Session.SendFrame when too many
	// application frames wait to be sent.
	ErrFrameQueueFull = dataplane.ErrFrameQueueFull
	// ErrReservedFrameType is returned by FrameDispatcher.Register for frame
	// types 0x00-0x7F, which STT reserves.
	ErrReservedFrameType = errors.New("stt: frame types 0x00-0x7F are reserved to STT; use 0x80-0xFF")
)

// DialError is the error Connect returns when a handshake ends without a
// session: Peer, Cause (what came back), Elapsed and counts of what arrived.
// errors.Is matches ErrHandshakeTimeout, ErrAuthentication or
// ErrUnreachable according to Cause.
type DialError = control.DialError

// StreamError reports a stream reset by either side (Code, Remote).
type StreamError = dataplane.StreamError

// SessionError reports why a session closed (Code, Reason, Remote); it
// unwraps to ErrClosed, and idle timeouts are net.Error timeouts.
type SessionError = dataplane.SessionError
