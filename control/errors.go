package control

import (
	"errors"
	"net"
)

// ErrHandshakeTimeout is returned by Dial when no complete handshake was
// possible within Config.HandshakeTimeout (or the ctx deadline). It is a
// net.Error with Timeout() true that unwraps to net.ErrClosed. The usual
// causes are an unreachable peer or a shared-seed mismatch (the responder
// silently drops HELLOs it cannot open); check both.
var ErrHandshakeTimeout error = handshakeTimeoutError{}

type handshakeTimeoutError struct{}

func (handshakeTimeoutError) Error() string {
	return "control: handshake timeout: no answer: peer unreachable or shared seed mismatch"
}
func (handshakeTimeoutError) Timeout() bool   { return true }
func (handshakeTimeoutError) Temporary() bool { return true }
func (handshakeTimeoutError) Unwrap() error   { return net.ErrClosed }

var _ net.Error = handshakeTimeoutError{}

// ErrAuthentication is returned by Dial when the peer failed authentication
// (its node ID does not match its static key, it is not in AllowPeers, it
// claims our own identity) or rejected us (REJECT: our HELLO did not open
// with its shared seed, or we are not allowed). Retrying will not help
// until the configuration changes.
var ErrAuthentication = errors.New("control: authentication failed: peer rejected the handshake or is not who it claims")

// ErrSessionExists is wrapped by DataPlane.Install when a session with the
// same ID is already installed. The control plane never overwrites: the
// initiator retries with a fresh HELLO, the responder sends an
// authenticated REJECT so the initiator does.
var ErrSessionExists = errors.New("control: session ID already installed")

// ErrClosed is returned by Dial after (or during) Close. It unwraps to
// net.ErrClosed.
var ErrClosed error = closedError{}

type closedError struct{}

func (closedError) Error() string { return "control: plane closed" }
func (closedError) Unwrap() error { return net.ErrClosed }
