package control

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"
)

// ErrHandshakeTimeout is matched (errors.Is) by the *DialError that Dial
// returns when no complete handshake was possible within
// Config.HandshakeTimeout (or the ctx deadline) and nothing that arrived
// proves the peer refuses us. It is a net.Error with Timeout() true that
// unwraps to net.ErrClosed. The DialError's Cause says what came back:
// nothing at all (peer unreachable, or it holds another shared seed and
// stays silent), only cookie replies, RESPONSEs that did not open, or an
// authenticated RESPONSE whose session was never confirmed.
var ErrHandshakeTimeout error = handshakeTimeoutError{}

type handshakeTimeoutError struct{}

func (handshakeTimeoutError) Error() string {
	return "control: handshake timeout"
}
func (handshakeTimeoutError) Timeout() bool   { return true }
func (handshakeTimeoutError) Temporary() bool { return true }
func (handshakeTimeoutError) Unwrap() error   { return net.ErrClosed }

var _ net.Error = handshakeTimeoutError{}

// ErrAuthentication is returned (or matched by the *DialError returned) by
// Dial when the peer failed authentication (its node ID does not match its
// static key, it is not in AllowPeers, it claims our own identity: acted on
// at once, the RESPONSE is authenticated) or rejected us (REJECT: our HELLO
// did not open under its shared seed, or we are not allowed). A REJECT
// cannot be authenticated, so it is only a hint: Dial keeps waiting for a
// valid RESPONSE until its timeout and reports ErrAuthentication then
// (docs/HANDSHAKE.md "REJECT"). Retrying will not help until the
// configuration changes.
var ErrAuthentication = errors.New("control: authentication failed: peer rejected the handshake or is not who it claims")

// ErrUnreachable is matched by the *DialError of a Dial that failed because
// the data plane reported its destination unreachable
// (Plane.DestinationUnreachable) before any authenticated answer came
// back. The DialError also unwraps to the network's error (for example
// syscall.ECONNREFUSED for an ICMP port unreachable).
var ErrUnreachable = errors.New("control: destination unreachable")

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

// DialCause says why a Dial ended without a session: what, if anything,
// came back from the peer.
type DialCause uint8

// Dial failure causes, from "nothing came back" to "the network said no".
const (
	// CauseNoAnswer: nothing authenticated and no REJECT came back. The
	// peer is unreachable or not listening, or holds another shared seed
	// (a node drops HELLOs it cannot open unless it sets RejectWrongSeed).
	// Matches ErrHandshakeTimeout.
	CauseNoAnswer DialCause = iota + 1
	// CauseRejected: REJECTs came back and nothing authenticated did: the
	// peer holds another shared seed, or refused our HELLO (our node ID,
	// our suites, our clock). Matches ErrAuthentication (reported at the
	// timeout: a REJECT is a hint).
	CauseRejected
	// CauseRefused: RESPONSEs opened (their sender holds our shared seed)
	// but failed our checks, and no acceptable one came: the peer is not in
	// AllowPeers, or an insider answered for it. Matches ErrAuthentication;
	// Err names the check.
	CauseRefused
	// CauseCookiesOnly: the peer answered with cookie replies, which only
	// a holder of our shared seed can produce, but never with a RESPONSE
	// to a HELLO that carried its cookie: it is overloaded, or those
	// HELLOs were lost. Matches ErrHandshakeTimeout.
	CauseCookiesOnly
	// CauseBadResponses: RESPONSEs to our HELLOs came back but none
	// opened: corrupted in transit, or forged by someone who saw the
	// HELLO. Matches ErrHandshakeTimeout.
	CauseBadResponses
	// CauseUnconfirmed: an authenticated RESPONSE came back and AUTH_PROOF
	// was sent, but the session was never confirmed (AUTH_PROOFs or FINAL
	// lost, or the peer's half-open state evicted each time). Matches
	// ErrHandshakeTimeout.
	CauseUnconfirmed
	// CauseUnreachable: the data plane reported the destination
	// unreachable before anything authenticated came back. Matches
	// ErrUnreachable and unwraps to the network's error.
	CauseUnreachable
)

// String returns a short name: "no answer", "rejected", "cookies only",
// "bad responses", "unconfirmed" or "unreachable".
func (c DialCause) String() string {
	switch c {
	case CauseNoAnswer:
		return "no answer"
	case CauseRejected:
		return "rejected"
	case CauseRefused:
		return "refused"
	case CauseCookiesOnly:
		return "cookies only"
	case CauseBadResponses:
		return "bad responses"
	case CauseUnconfirmed:
		return "unconfirmed"
	case CauseUnreachable:
		return "unreachable"
	}
	return fmt.Sprintf("DialCause(%d)", uint8(c))
}

// DialError is the error Dial returns when it ends without a session at
// its deadline or on an unreachable destination. errors.Is matches
// ErrHandshakeTimeout, ErrAuthentication or ErrUnreachable according to
// Cause (see each cause), and Err when it is set. A DialError that matches
// ErrHandshakeTimeout is a net.Error with Timeout() true and unwraps to
// net.ErrClosed.
type DialError struct {
	Peer    netip.AddrPort // the address dialled
	Cause   DialCause
	Elapsed time.Duration // how long the dial ran

	// What came back during the dial (all handshake IDs of it).
	Rejects       int // REJECT(authentication) messages: unauthenticated hints
	CookieReplies int // COOKIE_REPLYs that opened under our shared seed
	BadResponses  int // RESPONSEs to our HELLOs that did not open
	Responses     int // authenticated RESPONSEs (each answered with AUTH_PROOF)
	Refused       int // RESPONSEs that opened but failed our checks
	Restarts      int // fresh HELLOs after an AUTH_PROOF went unconfirmed

	// Err is the underlying error, or nil: context.DeadlineExceeded when
	// the ctx deadline ended the dial, the network's error for
	// CauseUnreachable, the failed check (wrapping ErrAuthentication) for
	// CauseRefused.
	Err error
}

// Error names the peer, the cause and what came back.
func (e *DialError) Error() string {
	var s string
	switch e.Cause {
	case CauseRejected:
		s = fmt.Sprintf("control: handshake with %v failed authentication: it answered %s (our HELLO does not open under its shared seed, or it refuses our node ID); "+
			"a responder also rejects HELLOs that offer none of its suites or whose clock is off by more than its freshness window; "+
			"a REJECT cannot be authenticated, so the dial waited %v for a valid RESPONSE first",
			e.Peer, plural(e.Rejects, "REJECT"), e.Elapsed.Round(time.Millisecond))
	case CauseRefused:
		s = fmt.Sprintf("control: handshake with %v failed authentication after %v: %s opened under our shared seed but failed our checks, and no acceptable one came",
			e.Peer, e.Elapsed.Round(time.Millisecond), plural(e.Refused, "RESPONSE"))
	case CauseUnreachable:
		s = fmt.Sprintf("control: handshake with %v failed: destination unreachable after %v", e.Peer, e.Elapsed.Round(time.Millisecond))
	default:
		s = fmt.Sprintf("control: handshake with %v timed out after %v: ", e.Peer, e.Elapsed.Round(time.Millisecond))
		switch e.Cause {
		case CauseCookiesOnly:
			s += fmt.Sprintf("it answered only %s (so it holds our shared seed) and no RESPONSE to the HELLOs that carried its cookie: it is overloaded, or they were lost",
				plural(e.CookieReplies, "cookie reply"))
		case CauseBadResponses:
			s += fmt.Sprintf("%s did not open (corrupted in transit, or forged by someone who saw our HELLO)", plural(e.BadResponses, "RESPONSE"))
		case CauseUnconfirmed:
			s += fmt.Sprintf("the peer answered (%s authenticated) but never confirmed the session: our AUTH_PROOFs or its FINAL were lost, or it dropped its half-open state (%s)",
				plural(e.Responses, "RESPONSE"), plural(e.Restarts, "restart"))
		default:
			s += "no answer: the peer is unreachable or not listening, or holds another shared seed (a node stays silent to HELLOs it cannot open unless it sets RejectWrongSeed)"
		}
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns the sentinel the cause matches and Err.
func (e *DialError) Unwrap() []error {
	var sentinel error
	switch e.Cause {
	case CauseRejected, CauseRefused:
		sentinel = ErrAuthentication
	case CauseUnreachable:
		sentinel = ErrUnreachable
	default:
		sentinel = ErrHandshakeTimeout
	}
	if e.Err == nil {
		return []error{sentinel}
	}
	return []error{sentinel, e.Err}
}

// Timeout reports whether the error matches ErrHandshakeTimeout.
func (e *DialError) Timeout() bool { return e.timeout() }

// Temporary is Timeout (a later dial may succeed); net.Error requires it.
func (e *DialError) Temporary() bool { return e.timeout() }

func (e *DialError) timeout() bool {
	return e.Cause != CauseRejected && e.Cause != CauseRefused && e.Cause != CauseUnreachable
}

var _ net.Error = (*DialError)(nil)

// plural formats "1 REJECT", "3 REJECTs", "2 cookie replies".
func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	if what == "cookie reply" {
		return fmt.Sprint(n, " cookie replies")
	}
	return fmt.Sprint(n, " ", what, "s")
}
