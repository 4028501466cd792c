package wire

import (
	"encoding/binary"
	"slices"
	"strconv"
)

// Packet header layout (docs/PROTOCOL.md §Packet header, docs/ARCHITECTURE.md):
//
//	offset size field
//	0      1    version            Version
//	1      1    kind | flags       bits 0-3 kind; bit 7 key phase (TRANSPORT only); bits 4-6 zero
//	2      8    session ID         big-endian
//	10     6    packet number      big-endian 48-bit; TRANSPORT only
//	16          TRANSPORT: AEAD ciphertext of frames, then the 16-byte tag
//
// A HANDSHAKE packet shares bytes 0-9; its body from byte 10 on is the
// handshake message (docs/HANDSHAKE.md).
const (
	// Version is the only protocol version this package speaks. A packet
	// with another version byte is rejected with ErrMalformed.
	Version = 1

	// HeaderLen is the length of a TRANSPORT packet header and the headroom
	// the data plane leaves in front of a payload so the header can be
	// written in place and sealed as the AEAD's associated data.
	HeaderLen = 16

	// SessionIDOffset is where the session ID starts in every packet, fixed
	// so that the reuseport cBPF program and PeekSessionID can steer a
	// datagram without parsing it.
	SessionIDOffset = 2

	// PacketNumberOffset is where the 48-bit packet number starts in a
	// TRANSPORT packet; it is also the length of the prefix common to both
	// kinds, which ParseHandshakePrefix checks.
	PacketNumberOffset = 10

	// MaxPacketNumber is the largest packet number the 6-byte field holds.
	// At 10^7 packets per second it lasts 325 days; a session must close
	// before its sender reaches it, because the AEAD nonce is derived from
	// the packet number.
	MaxPacketNumber = 1<<48 - 1

	// KindOffset is the byte holding the packet kind (bits 0-3, KindMask),
	// the reserved bits and the key-phase bit.
	KindOffset = 1
	// KindMask selects the kind bits of the byte at KindOffset.
	KindMask = 0x0f
)

const (
	versionOffset = 0
	flagsOffset   = KindOffset
	kindMask      = KindMask // bits 0-3 of byte 1
	reservedMask  = 0x70     // bits 4-6 of byte 1, zero in version 1
	keyPhaseBit   = 0x80     // bit 7 of byte 1
)

// SessionID is the 8-byte routing label of a session, carried big-endian at
// SessionIDOffset. It is never key material. In HANDSHAKE packets it is the
// initiator's handshake ID.
type SessionID uint64

// Loop returns the index, among n sockets (and the data-plane loops that
// own them), of the one a TRANSPORT packet of session id is steered to: the
// low 32 bits of the ID mod n. This is the one statement of the steering
// rule: the reuseport cBPF program (package batch) computes it from the
// big-endian word at SessionIDOffset+4, the data plane installs the session
// in that loop, and the control plane picks session IDs by it to spread
// sessions over the loops. n < 1 counts as 1. It does not allocate.
func (id SessionID) Loop(n int) int {
	if n < 1 {
		return 0
	}
	return int(uint32(id) % uint32(n))
}

// String returns the ID as 16 lower-case hex digits.
func (id SessionID) String() string {
	const digits = "0123456789abcdef"
	var buf [16]byte
	for i := range buf {
		buf[i] = digits[byte(id>>(60-4*i))&0xf]
	}
	return string(buf[:])
}

// Kind is the packet kind in bits 0-3 of header byte 1.
type Kind uint8

// Packet kinds. The zero Kind and values 3-15 are invalid.
const (
	// KindHandshake packets carry one handshake message after the 10-byte
	// prefix (docs/HANDSHAKE.md) and go to the control plane.
	KindHandshake Kind = 1
	// KindTransport packets carry a packet number and sealed frames and stay
	// on the data plane.
	KindTransport Kind = 2
)

// String returns "HANDSHAKE", "TRANSPORT" or "Kind(n)".
func (k Kind) String() string {
	switch k {
	case KindHandshake:
		return "HANDSHAKE"
	case KindTransport:
		return "TRANSPORT"
	}
	return "Kind(" + strconv.Itoa(int(k)) + ")"
}

// Header is a decoded packet header. The zero Header is not valid (its Kind
// is zero). For KindHandshake only the 10-byte prefix exists: KeyPhase must
// be false and PacketNumber is neither encoded nor parsed (it reads 0).
type Header struct {
	Kind Kind
	// KeyPhase is bit 7 of byte 1: it flips when the sender switches to its
	// next traffic key (docs/PROTOCOL.md §Key phase).
	KeyPhase bool
	// SessionID is the routing label at SessionIDOffset.
	SessionID SessionID
	// PacketNumber is the 48-bit packet number, at most MaxPacketNumber.
	PacketNumber uint64
}

// Len returns the encoded length: HeaderLen for a TRANSPORT header,
// PacketNumberOffset (10) for a HANDSHAKE header.
func (h Header) Len() int {
	if h.Kind == KindHandshake {
		return PacketNumberOffset
	}
	return HeaderLen
}

// PutTo writes the header at the start of b, which must hold at least
// h.Len() bytes (HeaderLen suffices for both kinds); it is how the data
// plane fills the headroom in front of a payload. It does not allocate.
// It does not validate Kind: a Kind other than the two defined ones yields
// bytes that ParseHeader rejects. It panics if h.PacketNumber exceeds
// MaxPacketNumber: a sender that got there would repeat packet numbers, and
// with them AEAD nonces, so this is a bug to stop on, not to encode.
func (h Header) PutTo(b []byte) {
	flags := byte(h.Kind) & kindMask
	if h.KeyPhase {
		flags |= keyPhaseBit
	}
	_ = b[PacketNumberOffset-1] // one bounds check for the prefix
	b[versionOffset] = Version
	b[flagsOffset] = flags
	binary.BigEndian.PutUint64(b[SessionIDOffset:], uint64(h.SessionID))
	if h.Kind == KindHandshake {
		return
	}
	if h.PacketNumber > MaxPacketNumber {
		panic("wire: BUG: packet number " + strconv.FormatUint(h.PacketNumber, 10) + " exceeds MaxPacketNumber")
	}
	pn := h.PacketNumber
	_ = b[HeaderLen-1]
	b[10] = byte(pn >> 40)
	b[11] = byte(pn >> 32)
	b[12] = byte(pn >> 24)
	b[13] = byte(pn >> 16)
	b[14] = byte(pn >> 8)
	b[15] = byte(pn)
}

// AppendTo appends the encoded header to b and returns the extended slice.
// It does not allocate when cap(b)-len(b) >= h.Len(). Its contract is
// PutTo's.
func (h Header) AppendTo(b []byte) []byte {
	n := h.Len()
	b = slices.Grow(b, n)
	l := len(b)
	b = b[:l+n]
	h.PutTo(b[l:])
	return b
}

// ParseHeader decodes the header at the start of b and returns it with its
// length: HeaderLen for TRANSPORT, PacketNumberOffset for HANDSHAKE, whose
// body from byte 10 on belongs to the handshake message codecs. Errors are
// *ParseError: What "version" (byte 0 is not Version), "kind" (not a
// defined Kind), "flags" (reserved bits 4-6 set, or the key phase bit in a
// HANDSHAKE packet), all wrapping ErrMalformed, or What "header" wrapping
// io.ErrUnexpectedEOF when b is shorter than the header. It reads only b,
// keeps no reference to it, and does not allocate on success.
func ParseHeader(b []byte) (Header, int, error) {
	k, err := parsePrefix(b)
	if err != nil {
		return Header{}, 0, err
	}
	h := Header{Kind: k, SessionID: SessionID(binary.BigEndian.Uint64(b[SessionIDOffset:]))}
	if k == KindHandshake {
		return h, PacketNumberOffset, nil
	}
	if len(b) < HeaderLen {
		return Header{}, 0, errTruncated("header", 0, HeaderLen, len(b))
	}
	h.KeyPhase = b[flagsOffset]&keyPhaseBit != 0
	_ = b[15]
	h.PacketNumber = uint64(b[10])<<40 | uint64(b[11])<<32 | uint64(b[12])<<24 |
		uint64(b[13])<<16 | uint64(b[14])<<8 | uint64(b[15])
	return h, HeaderLen, nil
}

// ParseHandshakePrefix checks the 10-byte prefix of a HANDSHAKE packet
// (version, kind HANDSHAKE, no flags) and returns its session ID, the
// initiator's handshake ID. The handshake codecs parse b[PacketNumberOffset:].
// Errors are those of ParseHeader, plus What "kind" wrapping ErrMalformed
// when the packet is a TRANSPORT packet. It does not allocate on success.
func ParseHandshakePrefix(b []byte) (id SessionID, err error) {
	k, err := parsePrefix(b)
	if err != nil {
		return 0, err
	}
	if k != KindHandshake {
		return 0, errMalformed("kind", flagsOffset, int(KindHandshake), int(k))
	}
	return SessionID(binary.BigEndian.Uint64(b[SessionIDOffset:])), nil
}

// parsePrefix validates bytes 0-9 shared by both kinds and returns the kind.
func parsePrefix(b []byte) (Kind, error) {
	if len(b) < 1 {
		return 0, errTruncated("header", 0, PacketNumberOffset, len(b))
	}
	if b[versionOffset] != Version {
		return 0, errMalformed("version", versionOffset, Version, int(b[versionOffset]))
	}
	if len(b) < 2 {
		return 0, errTruncated("header", 0, PacketNumberOffset, len(b))
	}
	fl := b[flagsOffset]
	if fl&reservedMask != 0 {
		return 0, errMalformed("flags", flagsOffset, 0, int(fl&reservedMask))
	}
	k := Kind(fl & kindMask)
	if k != KindHandshake && k != KindTransport {
		return 0, errMalformed("kind", flagsOffset, 0, int(k))
	}
	if k == KindHandshake && fl&keyPhaseBit != 0 {
		return 0, errMalformed("flags", flagsOffset, 0, keyPhaseBit)
	}
	if len(b) < PacketNumberOffset {
		return 0, errTruncated("header", 0, k.minLen(), len(b))
	}
	return k, nil
}

// minLen is the header length of a valid kind.
func (k Kind) minLen() int {
	if k == KindHandshake {
		return PacketNumberOffset
	}
	return HeaderLen
}

// PeekKind returns the packet kind of datagram b without validating the
// rest of the header: ok is false when b is shorter than two bytes or its
// version byte is not Version. The receive loop uses it to hand HANDSHAKE
// packets to the control plane; ParseHeader or ParseHandshakePrefix must
// still validate the packet. Inlinable; does not allocate.
func PeekKind(b []byte) (Kind, bool) {
	if len(b) < 2 || b[0] != Version {
		return 0, false
	}
	return Kind(b[1] & kindMask), true
}

// PeekSessionID returns the session ID at SessionIDOffset of datagram b
// without validating anything else: ok is false when b is shorter than
// PacketNumberOffset. It is the steering step of the receive path (shard =
// session ID mod N). Inlinable; does not allocate.
func PeekSessionID(b []byte) (SessionID, bool) {
	if len(b) < PacketNumberOffset {
		return 0, false
	}
	return SessionID(binary.BigEndian.Uint64(b[SessionIDOffset:PacketNumberOffset])), true
}
