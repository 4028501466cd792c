package ws

import (
	"errors"
	"fmt"
	"net"
	"strconv"
)

// CloseCode is a WebSocket close status code (RFC 6455 §7.4): the Code of
// a *CloseError or a *ProtocolError. Any code a peer may send can appear;
// String names the ones RFC 6455 defines.
type CloseCode uint16

// Close codes a caller of this package may branch on (RFC 6455 §7.4.1).
const (
	// CloseNormal: the peer closed the connection on purpose; the close
	// code of Tunnel.Close and of a peer's ordinary close.
	CloseNormal CloseCode = 1000
	// CloseGoingAway: the server is shutting down (Server.Shutdown sends
	// it); dial again, later or elsewhere.
	CloseGoingAway CloseCode = 1001
	// CloseMessageTooBig: a message exceeded the receiver's MaxMessage;
	// the two ends disagree on MaxMessage (the client's must not exceed
	// the server's).
	CloseMessageTooBig CloseCode = 1009
)

// The other close codes RFC 6455 §7.4.1 defines, for the package's own use
// and for String. closeNoStatus and closeAbnormal are never sent on the
// wire: they report a close frame without a code and a connection lost
// without a close frame.
const (
	closeProtocolError      CloseCode = 1002
	closeUnsupportedData    CloseCode = 1003
	closeNoStatus           CloseCode = 1005
	closeAbnormal           CloseCode = 1006
	closeInvalidPayload     CloseCode = 1007
	closePolicyViolation    CloseCode = 1008
	closeMandatoryExtension CloseCode = 1010
	closeInternalError      CloseCode = 1011
)

// String returns the code's RFC 6455 name, or its number.
func (c CloseCode) String() string {
	switch c {
	case CloseNormal:
		return "normal closure"
	case CloseGoingAway:
		return "going away"
	case closeProtocolError:
		return "protocol error"
	case closeUnsupportedData:
		return "unsupported data"
	case closeNoStatus:
		return "no status"
	case closeAbnormal:
		return "abnormal closure"
	case closeInvalidPayload:
		return "invalid payload data"
	case closePolicyViolation:
		return "policy violation"
	case CloseMessageTooBig:
		return "message too big"
	case closeMandatoryExtension:
		return "mandatory extension"
	case closeInternalError:
		return "internal error"
	}
	return "close code " + strconv.Itoa(int(c))
}

// validOnWire reports whether c may appear in a close frame (RFC 6455
// §7.4.1-§7.4.2): the defined codes except the three reserved for local
// use, 1012-1014 from the IANA registry, and the 3000-4999 private range.
func (c CloseCode) validOnWire() bool {
	switch {
	case c >= 1000 && c <= 1003, c >= 1007 && c <= 1014:
		return true
	case c >= 3000 && c <= 4999:
		return true
	}
	return false
}

// Sentinel errors that a *ProtocolError wraps, one per way a peer's frames
// break RFC 6455 or this package's limits. They are unexported: callers
// branch on the *ProtocolError and its Code; the package's tests and fuzz
// target match the sentinels with errors.Is.
var (
	// errFrameTooLarge: a data frame, or a fragmented message so far,
	// exceeds the message limit (close 1009).
	errFrameTooLarge = errors.New("ws: message exceeds the size limit")
	// errReservedBits: RSV1-3 set without a negotiated extension (§5.2).
	errReservedBits = errors.New("ws: reserved bits set")
	// errUnknownOpcode: a reserved opcode 0x3-0x7 or 0xB-0xF (§5.2).
	errUnknownOpcode = errors.New("ws: unknown opcode")
	// errTextFrame: a text frame; STT carries binary datagrams only
	// (close 1003, §7.4.1).
	errTextFrame = errors.New("ws: text frames are not accepted")
	// errMasking: an unmasked frame from a client or a masked frame from
	// a server (§5.1).
	errMasking = errors.New("ws: frame masking does not match the sender's role")
	// errControlFrame: a control frame with more than 125 payload bytes
	// or without FIN (§5.5).
	errControlFrame = errors.New("ws: control frame longer than 125 bytes or fragmented")
	// errLengthEncoding: a payload length not in its minimal form, or a
	// 64-bit length with the most significant bit set (§5.2).
	errLengthEncoding = errors.New("ws: payload length not minimally encoded")
	// errFragmentation: a continuation frame outside a fragmented message,
	// or a new data frame inside one (§5.4).
	errFragmentation = errors.New("ws: bad fragment sequence")
	// errBadClose: a close payload of one byte, with a code that may not
	// be sent, or with a reason that is not UTF-8 (§5.5.1, §7.4).
	errBadClose = errors.New("ws: malformed close frame")
)

// ProtocolError reports a frame that breaks RFC 6455 or this package's
// limits; Tunnel.Err returns it when the server sent one. Code is the close
// code sent to the peer before the connection is dropped (1002, 1003, 1007
// or CloseMessageTooBig), Reason a short description (at most 123 bytes,
// so it fits the close frame). The connection is gone by then.
type ProtocolError struct {
	Code   CloseCode
	Reason string
	err    error // the sentinel it wraps
}

// Error returns "ws: protocol error (<code>): <reason>".
func (e *ProtocolError) Error() string {
	return fmt.Sprintf("ws: protocol error (%d %v): %s", uint16(e.Code), e.Code, e.Reason)
}

// Unwrap returns the package-internal sentinel the error wraps.
func (e *ProtocolError) Unwrap() error { return e.err }

// Is reports whether target is a *ProtocolError whose non-zero fields equal
// e's (a zero Code matches any code), so that
// errors.Is(err, &ProtocolError{Code: CloseMessageTooBig}) works.
func (e *ProtocolError) Is(target error) bool {
	t, ok := target.(*ProtocolError)
	if !ok {
		return false
	}
	return (t.Code == 0 || t.Code == e.Code) && (t.err == nil || t.err == e.err)
}

func protocolError(code CloseCode, sentinel error, format string, args ...any) *ProtocolError {
	return &ProtocolError{Code: code, Reason: fmt.Sprintf(format, args...), err: sentinel}
}

// CloseError reports a connection that ended with a close frame; Tunnel.Err
// returns it when the server closed the tunnel. Code is the frame's close
// code (1005, "no status", when the frame carried none; compare with
// CloseGoingAway and CloseMessageTooBig), Reason its text, and Remote says
// whether the peer sent it first. It unwraps to net.ErrClosed.
type CloseError struct {
	Code   CloseCode
	Reason string
	Remote bool
}

// Error returns "ws: closed by peer (<code>): <reason>" or the local form.
func (e *CloseError) Error() string {
	who := "locally"
	if e.Remote {
		who = "by peer"
	}
	if e.Reason == "" {
		return fmt.Sprintf("ws: closed %s (%d %v)", who, uint16(e.Code), e.Code)
	}
	return fmt.Sprintf("ws: closed %s (%d %v): %s", who, uint16(e.Code), e.Code, e.Reason)
}

// Unwrap returns net.ErrClosed.
func (e *CloseError) Unwrap() error { return net.ErrClosed }

// Is reports whether target is a *CloseError with the same Code and Remote.
func (e *CloseError) Is(target error) bool {
	t, ok := target.(*CloseError)
	return ok && t.Code == e.Code && t.Remote == e.Remote
}

// HandshakeError reports an HTTP upgrade that failed: on the client, a
// response other than a valid 101 (StatusCode is the server's status, or
// 0 when the response itself was malformed); on the server, the request
// was refused with StatusCode. Reason is a short description.
type HandshakeError struct {
	StatusCode int
	Reason     string
}

// Error returns "ws: handshake failed: HTTP <code>: <reason>".
func (e *HandshakeError) Error() string {
	if e.StatusCode == 0 {
		return "ws: handshake failed: " + e.Reason
	}
	return fmt.Sprintf("ws: handshake failed: HTTP %d: %s", e.StatusCode, e.Reason)
}

// timeoutError is a net.Error timeout that unwraps to net.ErrClosed (style
// rule 17: idle and handshake timeouts end the connection).
type timeoutError struct{ msg string }

func (e *timeoutError) Error() string   { return e.msg }
func (e *timeoutError) Timeout() bool   { return true }
func (e *timeoutError) Temporary() bool { return false }
func (e *timeoutError) Unwrap() error   { return net.ErrClosed }

var (
	// ErrClosed is returned by operations on a closed Server or Tunnel,
	// and is a Tunnel's Err after a clean local Close. It matches
	// net.ErrClosed.
	ErrClosed = fmt.Errorf("ws: closed: %w", net.ErrClosed)
	// ErrHandshakeTimeout: the HTTP upgrade did not finish within
	// HandshakeTimeout. It is a net.Error with Timeout() true and matches
	// net.ErrClosed. Retry Dial, or raise the timeout on slow links.
	ErrHandshakeTimeout error = &timeoutError{"ws: handshake timed out"}
	// ErrIdleTimeout: the peer sent nothing, not even a pong, for
	// IdleFactor × PingInterval; the tunnel is dropped. A net.Error
	// timeout matching net.ErrClosed; dial again.
	ErrIdleTimeout error = &timeoutError{"ws: peer silent for too long"}
	// ErrCloseTimeout: Tunnel.Close sent a close frame but the server did
	// not answer within CloseTimeout; everything was released anyway.
	ErrCloseTimeout error = &timeoutError{"ws: close handshake timed out"}
)
