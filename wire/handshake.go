package wire

import (
	"encoding/binary"
	"io"
)

// Handshake message layouts (docs/HANDSHAKE.md). Every handshake datagram
// starts with the common prefix
//
//	offset size field
//	0      1    version (Version)
//	1      1    kind (KindHandshake)
//	2      8    handshake ID, big-endian, chosen at random by the initiator
//	10     1    message type (HandshakeHello ... HandshakeReject)
//
// and continues with a body whose size is fixed by the message type (and,
// for HELLO and RESPONSE, by the hybrid flag), so every parser checks an
// exact length. The views below borrow the datagram: they are valid only
// while the caller keeps the buffer, and parsing or reading them never
// allocates.

// HandshakeType is the message-type byte at offset [HandshakeTypeOffset].
type HandshakeType uint8

// Handshake message types.
const (
	HandshakeHello       HandshakeType = 1 // initiator → responder: psk, e
	HandshakeResponse    HandshakeType = 2 // responder → initiator: e, ee, s, es
	HandshakeAuthProof   HandshakeType = 3 // initiator → responder: s, se
	HandshakeCookieReply HandshakeType = 4 // responder → initiator under load
	HandshakeReject      HandshakeType = 5 // responder → initiator, opt-in
	// HandshakeResume opens a resumed handshake: psk, e, ticket, res
	// (initiator → responder, docs/HANDSHAKE.md "Resumption").
	HandshakeResume HandshakeType = 6
	// HandshakeResumeResponse answers it: e, then ee (responder → initiator).
	HandshakeResumeResponse HandshakeType = 7
)

// Sizes of the handshake's building blocks.
const (
	// HandshakePrefixLen is version, kind, handshake ID and message type.
	HandshakePrefixLen = 11
	// HandshakeTypeOffset is where the message type byte sits.
	HandshakeTypeOffset = 10
	// KeyLen is an X25519 public key.
	KeyLen = 32
	// TagLen is the ChaCha20-Poly1305 tag that ends every sealed field.
	TagLen = 16
	// KEMEncapKeyLen is an ML-KEM-768 encapsulation key (FIPS 203).
	KEMEncapKeyLen = 1184
	// KEMCiphertextLen is an ML-KEM-768 ciphertext (FIPS 203).
	KEMCiphertextLen = 1088
	// CookieLen is a stateless cookie (truncated HMAC-SHA256).
	CookieLen = 16
	// MaxOfferedSuites is the size of the offered-suites field: suite codes
	// in preference order, zero-padded.
	MaxOfferedSuites = 4
	// TransportParamsLen is the fixed encoding of the transport parameters:
	// MaxStreams, InitialMaxData, InitialMaxStreamData (8 bytes each),
	// MaxDatagram (2), IdleTimeoutMs (4), all big-endian.
	TransportParamsLen = 30
)

// HelloFlagHybrid in the HELLO flags byte says the HELLO carries an
// ML-KEM-768 encapsulation key. Other flag bits must be zero.
const HelloFlagHybrid = 0x01

// HELLO layout:
//
//	offset        size  field
//	0             11    prefix (type HandshakeHello)
//	11            1     flags (HelloFlagHybrid)
//	12            4     offered suites, preference order, zero-padded
//	16            16    cookie (zero when none)
//	32            32    e: initiator ephemeral X25519 public key
//	64            1184  ML-KEM-768 encapsulation key (hybrid only)
//	P             140   sealed payload: nonce_i 32, node_id_i 32,
//	                    commitment 32, timestamp 8 (unix ms), suites 4,
//	                    zero padding 16; then the 16-byte tag
//
// Bytes [0, HelloHeaderLen) are the Noise prologue's variable part, so a
// change to any of them (version, suites, hybrid flag, cookie) fails the
// payload's AEAD. The padding keeps every RESPONSE no larger than the HELLO
// it answers.
const (
	HelloFlagsOffset     = 11
	HelloSuitesOffset    = 12
	HelloCookieOffset    = 16
	HelloHeaderLen       = 32
	HelloEphemeralOffset = 32
	HelloKEMOffset       = 64
	HelloPayloadLen      = 32 + 32 + 32 + 8 + MaxOfferedSuites + helloPaddingLen
	helloPaddingLen      = 16
	HelloSealedLen       = HelloPayloadLen + TagLen
	HelloLen             = HelloKEMOffset + HelloSealedLen
	HelloHybridLen       = HelloKEMOffset + KEMEncapKeyLen + HelloSealedLen
)

// RESPONSE layout:
//
//	offset  size  field
//	0       11    prefix (type HandshakeResponse)
//	11      32    e: responder ephemeral public key
//	43      1088  ML-KEM-768 ciphertext (hybrid only)
//	S       48    sealed s: responder static public key + tag
//	S+48    111   sealed payload: nonce_r 32, node_id_r 32, chosen suite 1,
//	              transport parameters 30; then the tag
const (
	ResponseEphemeralOffset = 11
	ResponseKEMOffset       = 43
	ResponseSealedStaticLen = KeyLen + TagLen
	ResponsePayloadLen      = 32 + 32 + 1 + TransportParamsLen
	ResponseSealedLen       = ResponsePayloadLen + TagLen
	ResponseLen             = ResponseKEMOffset + ResponseSealedStaticLen + ResponseSealedLen
	ResponseHybridLen       = ResponseLen + KEMCiphertextLen
)

// AUTH_PROOF layout:
//
//	offset  size  field
//	0       11    prefix (type HandshakeAuthProof)
//	11      48    sealed s: initiator static public key + tag
//	59      54    sealed payload: session ID 8, transport parameters 30; tag
const (
	AuthProofStaticOffset  = 11
	authProofPayloadOffset = AuthProofStaticOffset + KeyLen + TagLen
	AuthProofPayloadLen    = 8 + TransportParamsLen
	AuthProofLen           = authProofPayloadOffset + AuthProofPayloadLen + TagLen
)

// COOKIE_REPLY layout:
//
//	offset  size  field
//	0       11    prefix (type HandshakeCookieReply; ID of the HELLO answered)
//	11      24    XChaCha20-Poly1305 nonce
//	35      32    sealed cookie (16) + tag, key from the PSK, AD = HELLO's e
const (
	CookieReplyNonceOffset  = 11
	CookieReplyNonceLen     = 24
	CookieReplySealedOffset = CookieReplyNonceOffset + CookieReplyNonceLen
	CookieReplyLen          = CookieReplySealedOffset + CookieLen + TagLen
)

// REJECT layout:
//
//	offset  size  field
//	0       11    prefix (type HandshakeReject; ID of the HELLO answered)
//	11      1     reason (RejectAuthentication or RejectCollision)
//	12      16    tag: zero for RejectAuthentication (no shared key exists);
//	              HMAC over bytes [0,12) under the handshake's reject key
//	              for RejectCollision
const (
	RejectReasonOffset = 11
	RejectTagOffset    = 12
	RejectLen          = RejectTagOffset + TagLen
)

// Reject reasons.
const (
	// RejectAuthentication: the responder could not open the HELLO (the
	// shared seeds differ) or the peer is not allowed.
	RejectAuthentication = 1
	// RejectCollision: the session ID derived by the handshake is already
	// in use at the responder; the initiator retries with a fresh HELLO.
	RejectCollision = 2
)

// Reject reason of resumption.
const (
	// RejectTicket: the responder will not resume with the RESUME's ticket
	// (unknown or retired ticket key, expired, or refused by its policy);
	// the initiator falls back to a full HELLO at once.
	RejectTicket = 3
)

// Resumption sizes. A ticket is opaque to the initiator: the responder
// that issued it alone reads it (docs/HANDSHAKE.md "Tickets" gives this
// implementation's layout); version 1 fixes its length.
const (
	// TicketLen is a resumption ticket as carried in RESUME.
	TicketLen = 189
	// NewTicketLen is the blob a responder hands its data plane for the
	// NEW_TICKET frame, and an initiator's data plane hands its control
	// plane: ticket lifetime in seconds (big-endian uint32) ‖ ticket.
	NewTicketLen = 4 + TicketLen
)

// RESUME layout:
//
//	offset  size  field
//	0       11    prefix (type HandshakeResume)
//	11      1     flags (zero: none defined)
//	12      4     reserved (zero)
//	16      16    cookie (zero when none)
//	32      32    e: initiator ephemeral X25519 public key
//	64      189   ticket, as the responder issued it
//	253     16    PSK tag: the AEAD tag of an empty payload under the
//	              PSK-derived key (a forged RESUME fails it)
//	269     82    sealed payload: nonce_i 32, ticket age ms 4 (big-endian),
//	              transport parameters 30; then the tag
//
// Bytes [0, ResumeHeaderLen) are the prologue's variable part, as in HELLO
// (same offsets for the cookie).
const (
	ResumeFlagsOffset     = HelloFlagsOffset
	resumeReservedOffset  = HelloSuitesOffset
	ResumeCookieOffset    = HelloCookieOffset
	ResumeHeaderLen       = HelloHeaderLen
	ResumeEphemeralOffset = HelloEphemeralOffset
	ResumeTicketOffset    = ResumeEphemeralOffset + KeyLen
	ResumePSKTagOffset    = ResumeTicketOffset + TicketLen
	ResumeSealedOffset    = ResumePSKTagOffset + TagLen
	ResumePayloadLen      = 32 + 4 + TransportParamsLen
	resumeSealedLen       = ResumePayloadLen + TagLen
	ResumeLen             = ResumeSealedOffset + resumeSealedLen
)

// RESUME_RESPONSE layout:
//
//	offset  size  field
//	0       11    prefix (type HandshakeResumeResponse; ID of the RESUME answered)
//	11      32    e: responder ephemeral public key
//	43      78    sealed payload: nonce_r 32, transport parameters 30; tag
const (
	ResumeResponseEphemeralOffset = HandshakePrefixLen
	ResumeResponseSealedOffset    = ResumeResponseEphemeralOffset + KeyLen
	ResumeResponsePayloadLen      = 32 + TransportParamsLen
	ResumeResponseLen             = ResumeResponseSealedOffset + ResumeResponsePayloadLen + TagLen
)

// MaxHandshakeLen is the largest handshake datagram (a hybrid HELLO).
const MaxHandshakeLen = HelloHybridLen

// PutHandshakePrefix writes the common prefix into b[:HandshakePrefixLen].
// It panics if b is shorter (a caller bug, never peer input).
func PutHandshakePrefix(b []byte, id SessionID, t HandshakeType) {
	_ = b[HandshakePrefixLen-1]
	b[0] = Version
	b[1] = byte(KindHandshake)
	binary.BigEndian.PutUint64(b[2:10], uint64(id))
	b[HandshakeTypeOffset] = byte(t)
}

// ParseHandshakeType validates the common prefix (version, kind) and returns
// the handshake ID and message type. Truncation wraps io.ErrUnexpectedEOF,
// a wrong version or kind wraps ErrMalformed. It does not allocate on
// success.
func ParseHandshakeType(b []byte) (SessionID, HandshakeType, error) {
	id, err := ParseHandshakePrefix(b)
	if err != nil {
		return 0, 0, err
	}
	if len(b) < HandshakePrefixLen {
		return 0, 0, &ParseError{What: "handshake type", Offset: len(b), Want: HandshakePrefixLen, Got: len(b), Err: io.ErrUnexpectedEOF}
	}
	return id, HandshakeType(b[HandshakeTypeOffset]), nil
}

// checkLen returns a *ParseError for a handshake message of the wrong size.
func checkLen(what string, b []byte, want int) error {
	switch {
	case len(b) < want:
		return &ParseError{What: what, Offset: len(b), Want: want, Got: len(b), Err: io.ErrUnexpectedEOF}
	case len(b) > want:
		return &ParseError{What: what, Offset: want, Want: want, Got: len(b), Err: ErrTooLarge}
	}
	return nil
}

// Hello is a parsed HELLO view over a borrowed datagram.
type Hello []byte

// HelloLenFor returns the HELLO size for the given mode.
func HelloLenFor(hybrid bool) int {
	if hybrid {
		return HelloHybridLen
	}
	return HelloLen
}

// ParseHello checks that b is exactly one HELLO (prefix, type, flags and the
// size the flags imply) and returns a view of it. Errors are *ParseError
// wrapping io.ErrUnexpectedEOF, ErrTooLarge or ErrMalformed. No allocation
// on success.
func ParseHello(b []byte) (Hello, error) {
	_, t, err := ParseHandshakeType(b)
	if err != nil {
		return nil, err
	}
	if t != HandshakeHello {
		return nil, &ParseError{What: "HELLO type", Offset: HandshakeTypeOffset, Want: int(HandshakeHello), Got: int(t), Err: ErrMalformed}
	}
	if len(b) <= HelloFlagsOffset {
		return nil, &ParseError{What: "HELLO flags", Offset: len(b), Want: HelloFlagsOffset + 1, Got: len(b), Err: io.ErrUnexpectedEOF}
	}
	f := b[HelloFlagsOffset]
	if f&^HelloFlagHybrid != 0 {
		return nil, &ParseError{What: "HELLO flags", Offset: HelloFlagsOffset, Want: HelloFlagHybrid, Got: int(f), Err: ErrMalformed}
	}
	if err := checkLen("HELLO", b, HelloLenFor(f&HelloFlagHybrid != 0)); err != nil {
		return nil, err
	}
	return Hello(b), nil
}

// ID returns the handshake ID.
func (h Hello) ID() SessionID { return SessionID(binary.BigEndian.Uint64(h[2:10])) }

// Hybrid reports whether the HELLO carries an ML-KEM encapsulation key.
func (h Hello) Hybrid() bool { return h[HelloFlagsOffset]&HelloFlagHybrid != 0 }

// Header returns bytes [0, HelloHeaderLen): the part bound into the prologue.
func (h Hello) Header() []byte { return h[:HelloHeaderLen] }

// Suites returns the offered-suites field (zero-padded codes).
func (h Hello) Suites() []byte { return h[HelloSuitesOffset : HelloSuitesOffset+MaxOfferedSuites] }

// Cookie returns the cookie field.
func (h Hello) Cookie() []byte { return h[HelloCookieOffset : HelloCookieOffset+CookieLen] }

// Ephemeral returns the initiator's ephemeral public key.
func (h Hello) Ephemeral() []byte { return h[HelloEphemeralOffset : HelloEphemeralOffset+KeyLen] }

// KEMKey returns the ML-KEM-768 encapsulation key, or nil without hybrid.
func (h Hello) KEMKey() []byte {
	if !h.Hybrid() {
		return nil
	}
	return h[HelloKEMOffset : HelloKEMOffset+KEMEncapKeyLen]
}

// Sealed returns the sealed payload (ciphertext and tag).
func (h Hello) Sealed() []byte { return h[len(h)-HelloSealedLen:] }

// Response is a parsed RESPONSE view over a borrowed datagram.
type Response []byte

// ResponseLenFor returns the RESPONSE size for the given mode.
func ResponseLenFor(hybrid bool) int {
	if hybrid {
		return ResponseHybridLen
	}
	return ResponseLen
}

// ParseResponse checks that b is exactly one RESPONSE of the mode the
// initiator offered. Errors are *ParseError as for ParseHello.
func ParseResponse(b []byte, hybrid bool) (Response, error) {
	if err := parseTyped("RESPONSE", b, HandshakeResponse, ResponseLenFor(hybrid)); err != nil {
		return nil, err
	}
	return Response(b), nil
}

// ID returns the handshake ID the RESPONSE answers.
func (r Response) ID() SessionID { return SessionID(binary.BigEndian.Uint64(r[2:10])) }

// Ephemeral returns the responder's ephemeral public key.
func (r Response) Ephemeral() []byte {
	return r[ResponseEphemeralOffset : ResponseEphemeralOffset+KeyLen]
}

// KEMCiphertext returns the ML-KEM ciphertext, or nil without hybrid.
func (r Response) KEMCiphertext() []byte {
	if len(r) != ResponseHybridLen {
		return nil
	}
	return r[ResponseKEMOffset : ResponseKEMOffset+KEMCiphertextLen]
}

// SealedStatic returns the sealed responder static key.
func (r Response) SealedStatic() []byte {
	off := len(r) - ResponseSealedLen - ResponseSealedStaticLen
	return r[off : off+ResponseSealedStaticLen]
}

// Sealed returns the sealed payload.
func (r Response) Sealed() []byte { return r[len(r)-ResponseSealedLen:] }

// AuthProof is a parsed AUTH_PROOF view over a borrowed datagram.
type AuthProof []byte

// ParseAuthProof checks that b is exactly one AUTH_PROOF.
func ParseAuthProof(b []byte) (AuthProof, error) {
	if err := parseTyped("AUTH_PROOF", b, HandshakeAuthProof, AuthProofLen); err != nil {
		return nil, err
	}
	return AuthProof(b), nil
}

// SealedStatic returns the sealed initiator static key.
func (a AuthProof) SealedStatic() []byte { return a[AuthProofStaticOffset:authProofPayloadOffset] }

// Sealed returns the sealed payload.
func (a AuthProof) Sealed() []byte { return a[authProofPayloadOffset:] }

// CookieReply is a parsed COOKIE_REPLY view over a borrowed datagram.
type CookieReply []byte

// ParseCookieReply checks that b is exactly one COOKIE_REPLY.
func ParseCookieReply(b []byte) (CookieReply, error) {
	if err := parseTyped("COOKIE_REPLY", b, HandshakeCookieReply, CookieReplyLen); err != nil {
		return nil, err
	}
	return CookieReply(b), nil
}

// Nonce returns the XChaCha20-Poly1305 nonce.
func (c CookieReply) Nonce() []byte {
	return c[CookieReplyNonceOffset : CookieReplyNonceOffset+CookieReplyNonceLen]
}

// Sealed returns the sealed cookie.
func (c CookieReply) Sealed() []byte { return c[CookieReplySealedOffset:] }

// Reject is a parsed REJECT view over a borrowed datagram.
type Reject []byte

// ParseReject checks that b is exactly one REJECT with a known reason.
func ParseReject(b []byte) (Reject, error) {
	if err := parseTyped("REJECT", b, HandshakeReject, RejectLen); err != nil {
		return nil, err
	}
	if r := b[RejectReasonOffset]; r != RejectAuthentication && r != RejectCollision && r != RejectTicket {
		return nil, &ParseError{What: "REJECT reason", Offset: RejectReasonOffset, Want: RejectAuthentication, Got: int(r), Err: ErrMalformed}
	}
	return Reject(b), nil
}

// Reason returns the reject reason (RejectAuthentication, RejectCollision
// or RejectTicket).
func (r Reject) Reason() byte { return r[RejectReasonOffset] }

// Tag returns the 16-byte tag field.
func (r Reject) Tag() []byte { return r[RejectTagOffset:] }

// Resume is a parsed RESUME view over a borrowed datagram.
type Resume []byte

// ParseResume checks that b is exactly one RESUME with its flags and
// reserved bytes zero, and returns a view of it. Errors are *ParseError
// wrapping io.ErrUnexpectedEOF, ErrTooLarge or ErrMalformed. No allocation
// on success.
func ParseResume(b []byte) (Resume, error) {
	if err := parseTyped("RESUME", b, HandshakeResume, ResumeLen); err != nil {
		return nil, err
	}
	if f := b[ResumeFlagsOffset]; f != 0 {
		return nil, &ParseError{What: "RESUME flags", Offset: ResumeFlagsOffset, Want: 0, Got: int(f), Err: ErrMalformed}
	}
	for i := resumeReservedOffset; i < ResumeCookieOffset; i++ {
		if b[i] != 0 {
			return nil, &ParseError{What: "RESUME reserved", Offset: i, Want: 0, Got: int(b[i]), Err: ErrMalformed}
		}
	}
	return Resume(b), nil
}

// ID returns the handshake ID.
func (r Resume) ID() SessionID { return SessionID(binary.BigEndian.Uint64(r[2:10])) }

// Header returns bytes [0, ResumeHeaderLen): the part bound into the prologue.
func (r Resume) Header() []byte { return r[:ResumeHeaderLen] }

// Cookie returns the cookie field.
func (r Resume) Cookie() []byte { return r[ResumeCookieOffset : ResumeCookieOffset+CookieLen] }

// Ephemeral returns the initiator's ephemeral public key.
func (r Resume) Ephemeral() []byte {
	return r[ResumeEphemeralOffset : ResumeEphemeralOffset+KeyLen]
}

// Ticket returns the ticket field.
func (r Resume) Ticket() []byte { return r[ResumeTicketOffset:ResumePSKTagOffset] }

// PSKTag returns the PSK tag.
func (r Resume) PSKTag() []byte { return r[ResumePSKTagOffset:ResumeSealedOffset] }

// Sealed returns the sealed payload (ciphertext and tag).
func (r Resume) Sealed() []byte { return r[ResumeSealedOffset:] }

// ResumeResponse is a parsed RESUME_RESPONSE view over a borrowed datagram.
type ResumeResponse []byte

// ParseResumeResponse checks that b is exactly one RESUME_RESPONSE.
func ParseResumeResponse(b []byte) (ResumeResponse, error) {
	if err := parseTyped("RESUME_RESPONSE", b, HandshakeResumeResponse, ResumeResponseLen); err != nil {
		return nil, err
	}
	return ResumeResponse(b), nil
}

// ID returns the handshake ID of the RESUME answered.
func (r ResumeResponse) ID() SessionID { return SessionID(binary.BigEndian.Uint64(r[2:10])) }

// Ephemeral returns the responder's ephemeral public key.
func (r ResumeResponse) Ephemeral() []byte {
	return r[ResumeResponseEphemeralOffset:ResumeResponseSealedOffset]
}

// Sealed returns the sealed payload.
func (r ResumeResponse) Sealed() []byte { return r[ResumeResponseSealedOffset:] }

// ParseNewTicket checks that b is exactly one NEW_TICKET blob and returns
// its lifetime in seconds and the ticket (borrowed from b). Errors are
// *ParseError wrapping io.ErrUnexpectedEOF or ErrTooLarge. It does not
// allocate on success.
func ParseNewTicket(b []byte) (lifetime uint32, ticket []byte, err error) {
	if err := checkLen("NEW_TICKET", b, NewTicketLen); err != nil {
		return 0, nil, err
	}
	return binary.BigEndian.Uint32(b[:4]), b[4:], nil
}

// PutNewTicket writes the NEW_TICKET blob for ticket and lifetime (seconds)
// into b[:NewTicketLen]. It panics if b is shorter or ticket is not
// TicketLen bytes (a caller bug, never peer input).
func PutNewTicket(b []byte, lifetime uint32, ticket []byte) {
	_ = b[NewTicketLen-1]
	if len(ticket) != TicketLen {
		panic("wire: PutNewTicket: ticket is not TicketLen bytes")
	}
	binary.BigEndian.PutUint32(b[:4], lifetime)
	copy(b[4:], ticket)
}

// parseTyped checks prefix, message type and exact length.
func parseTyped(what string, b []byte, want HandshakeType, n int) error {
	_, t, err := ParseHandshakeType(b)
	if err != nil {
		return err
	}
	if t != want {
		return &ParseError{What: what + " type", Offset: HandshakeTypeOffset, Want: int(want), Got: int(t), Err: ErrMalformed}
	}
	return checkLen(what, b, n)
}
