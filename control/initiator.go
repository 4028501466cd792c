package control

import (
	"crypto/ecdh"
	"crypto/mlkem"
	"crypto/rand"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/stt-go/stt/wire"
)

// Initiator is the initiator's side of one handshake attempt as a message
// builder, with no Plane, socket, timer or retransmission: it writes a
// HELLO, opens a COOKIE_REPLY, and turns the RESPONSE into AUTH_PROOF and
// the session keys, exactly as Plane.Dial does (the same code builds the
// messages). It is for tools that drive another implementation message by
// message or byte by byte (stt conformance) and for reproducible test
// vectors; applications use Plane.Dial. An Initiator is one attempt: after
// a COOKIE_REPLY, a new HELLO needs a new Initiator (a fresh handshake ID
// and ephemeral keys, docs/HANDSHAKE.md). Not safe for concurrent use.
type Initiator struct {
	p     *Plane // configuration and PSK state only (newCore)
	d     dial
	built bool
	fin   finalState
}

// InitiatorInputs fixes the random choices of one handshake attempt, for
// reproducible vectors. A zero field is drawn from crypto/rand. Fixing
// them outside tests forfeits forward secrecy and replay protection.
type InitiatorInputs struct {
	// ID is the handshake ID (the HELLO's header session ID).
	ID wire.SessionID
	// Ephemeral is the 32-byte X25519 ephemeral private key.
	Ephemeral []byte
	// KEMSeed is the 64-byte ML-KEM-768 decapsulation key seed d ‖ z
	// (FIPS 203 ML-KEM.KeyGen_internal); used only when Config.Hybrid.
	KEMSeed []byte
	// Nonce is nonce_i, 32 bytes.
	Nonce []byte
}

// NewInitiator prepares one handshake attempt for cfg (Identity, PSK,
// Suites, Hybrid, AllowPeers and Params are used; the rest is ignored) with
// the random choices in in (nil: all random). Errors name the bad Config
// field or input.
func NewInitiator(cfg *Config, in *InitiatorInputs) (*Initiator, error) {
	p, err := newCore(cfg)
	if err != nil {
		return nil, err
	}
	if in == nil {
		in = &InitiatorInputs{}
	}
	x := &Initiator{p: p}
	d := &x.d
	d.hybrid = p.cfg.Hybrid
	for i, s := range p.cfg.Suites {
		d.suites[i] = byte(s)
	}
	d.id = in.ID
	if d.id == 0 {
		d.id = randomID()
	}
	if in.Ephemeral == nil {
		d.e = newEphemeral()
	} else {
		k, err := ecdh.X25519().NewPrivateKey(in.Ephemeral)
		if err != nil {
			return nil, fmt.Errorf("control: InitiatorInputs.Ephemeral: %w", err)
		}
		d.e.priv = k
		copy(d.e.pub[:], k.PublicKey().Bytes())
	}
	if d.hybrid {
		if in.KEMSeed == nil {
			d.kem = newKEMPair()
		} else {
			dk, err := mlkem.NewDecapsulationKey768(in.KEMSeed)
			if err != nil {
				return nil, fmt.Errorf("control: InitiatorInputs.KEMSeed: %w", err)
			}
			d.kem = kemPair{dk: dk, ek: dk.EncapsulationKey().Bytes()}
		}
	}
	switch len(in.Nonce) {
	case 0:
		_, _ = rand.Read(d.nonce[:])
	case len(d.nonce):
		copy(d.nonce[:], in.Nonce)
	default:
		return nil, fmt.Errorf("control: InitiatorInputs.Nonce is %d bytes, want %d", len(in.Nonce), len(d.nonce))
	}
	return x, nil
}

// ID returns the attempt's handshake ID.
func (x *Initiator) ID() wire.SessionID { return x.d.id }

// Hello returns the HELLO stamped with now (unix milliseconds in the
// payload) and carrying cookie (nil or wire.CookieLen bytes from a
// COOKIE_REPLY). Each call rebuilds the message from the same inputs, so a
// caller can produce a stale HELLO (an old now) or resend identical bytes
// (a replay). The returned slice is x's until the next call; it also
// restarts the transcript, so Response answers the latest HELLO.
func (x *Initiator) Hello(now time.Time, cookie []byte) ([]byte, error) {
	if cookie != nil && len(cookie) != wire.CookieLen {
		return nil, fmt.Errorf("control: cookie is %d bytes, want %d", len(cookie), wire.CookieLen)
	}
	x.p.buildHello(&x.d, cookie, now)
	x.built = true
	return x.d.hello[:x.d.nHello], nil
}

// OpenCookieReply opens a COOKIE_REPLY to this attempt's HELLO and returns
// the cookie to put into the next attempt's HELLO. Errors: a
// *wire.ParseError for a message that is not a COOKIE_REPLY of the right
// size, errors wrapping ErrNotForUs when it answers another handshake ID or
// does not open (another shared seed, or forged).
func (x *Initiator) OpenCookieReply(b []byte) ([wire.CookieLen]byte, error) {
	id, err := wire.ParseHandshakePrefix(b)
	if err != nil {
		return [wire.CookieLen]byte{}, err
	}
	if id != x.d.id {
		return [wire.CookieLen]byte{}, fmt.Errorf("%w: COOKIE_REPLY for handshake %v, ours is %v", ErrNotForUs, id, x.d.id)
	}
	c, err := x.p.psk.openCookieReply(b, x.d.e.pub[:])
	if errors.Is(err, errOpen) {
		return c, fmt.Errorf("%w: COOKIE_REPLY does not open under our shared seed", ErrNotForUs)
	}
	return c, err
}

// ErrNotForUs is wrapped by the Initiator's errors for a message that does
// not authenticate as an answer to its HELLO: another handshake ID, a
// RESPONSE or COOKIE_REPLY that does not open (another shared seed,
// corrupted, or forged), or a RESPONSE of the wrong mode or size.
var ErrNotForUs = errors.New("control: not an authentic answer to this HELLO")

// Response processes the RESPONSE to the latest HELLO and returns the
// established session (SendSecret is key_i2r, RecvSecret key_r2i; Peer is
// the zero address and Confirmed nil: nothing is installed anywhere) and
// the AUTH_PROOF to send. It runs every check Dial runs: errors wrap
// ErrNotForUs (the RESPONSE is not authentic) or ErrAuthentication (it is,
// but names a node ID that is not the hash of its static key, our own ID,
// one outside AllowPeers, or a suite we did not offer). The AUTH_PROOF
// slice is the caller's.
func (x *Initiator) Response(b []byte) (*Established, []byte, error) {
	if !x.built {
		return nil, nil, errors.New("control: Initiator.Response before Hello")
	}
	var proof [wire.AuthProofLen]byte
	var fin finalState
	est, err := x.p.complete(&x.d, b, &proof, &fin)
	if errors.Is(err, errOpen) {
		return nil, nil, fmt.Errorf("%w: RESPONSE does not open (or is not for handshake %v)", ErrNotForUs, x.d.id)
	}
	if err != nil {
		return nil, nil, err
	}
	x.fin = fin
	fin.wipe()
	est.Peer = netip.AddrPort{}
	est.Confirmed = nil
	return est, proof[:], nil
}

// rejectAuthentic reports whether b is a REJECT(session-ID collision) whose
// tag proves it comes from the responder of the handshake Response
// completed (docs/HANDSHAKE.md "REJECT"). A REJECT(authentication) is never
// authentic. It is false before Response succeeded.
func (x *Initiator) rejectAuthentic(b []byte) bool {
	r, err := wire.ParseReject(b)
	if err != nil || r.Reason() != wire.RejectCollision || x.fin.rejectKey == ([32]byte{}) {
		return false
	}
	id, _ := wire.ParseHandshakePrefix(b)
	return id == x.d.id && rejectTagValid(&x.fin.rejectKey, b[:wire.RejectTagOffset], r.Tag())
}
