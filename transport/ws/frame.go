package ws

import (
	"encoding/binary"
	"errors"
	"io"
	"strconv"
	"unicode/utf8"
)

// opcode is a WebSocket frame opcode (RFC 6455 §5.2, §11.8).
type opcode uint8

// Opcodes. opText is valid WebSocket but refused here (errTextFrame).
const (
	opContinuation opcode = 0x0
	opText         opcode = 0x1
	opBinary       opcode = 0x2
	opClose        opcode = 0x8
	opPing         opcode = 0x9
	opPong         opcode = 0xA
)

// isControl reports whether o is a control opcode (close, ping, pong or a
// reserved 0xB-0xF), whose frames carry at most 125 bytes and are never
// fragmented (RFC 6455 §5.5).
func (o opcode) isControl() bool { return o&0x8 != 0 }

// String returns the opcode's name, or its number for reserved opcodes.
func (o opcode) String() string {
	switch o {
	case opContinuation:
		return "continuation"
	case opText:
		return "text"
	case opBinary:
		return "binary"
	case opClose:
		return "close"
	case opPing:
		return "ping"
	case opPong:
		return "pong"
	}
	return "opcode 0x" + strconv.FormatUint(uint64(o), 16)
}

// role is the end of the connection that parses a frame: it decides which
// masking is required (RFC 6455 §5.1). The zero role is invalid.
type role uint8

// Roles.
const (
	// roleServer parses frames a client sent: they must be masked.
	roleServer role = iota + 1
	// roleClient parses frames a server sent: they must not be masked.
	roleClient
)

// errRole is returned for a role that is neither roleServer nor roleClient:
// a bug in the caller, never something a peer causes.
var errRole = errors.New("ws: BUG: invalid role")

// frameHeader is a decoded frame header (RFC 6455 §5.2):
//
//	offset  size  field
//	0       1     FIN (0x80) | RSV1-3 (0x70, must be 0) | opcode (0x0F)
//	1       1     MASK (0x80) | payload length 0-125, or 126 / 127
//	2       0/2/8 extended payload length, big-endian: 16 bits when the
//	              7-bit field is 126 (lengths 126-65535), 64 bits when it
//	              is 127 (lengths ≥ 65536, top bit 0); always minimal
//	2/4/10  0/4   masking key, present when MASK is set
//	...           payload (XOR-masked with the key when MASK is set)
//
// The zero frameHeader is an unmasked, non-final continuation frame with no
// payload.
type frameHeader struct {
	Fin    bool    // final fragment of a message
	Opcode opcode  // frame opcode
	Masked bool    // the payload is masked with Mask (client → server frames)
	Mask   [4]byte // masking key; ignored unless Masked
	Length int     // payload length in bytes
}

// Len returns the encoded length of h: 2, 4 or 10 bytes, plus 4 when
// Masked. It does not allocate.
func (h *frameHeader) Len() int {
	n := 2
	switch {
	case h.Length > 0xFFFF:
		n += 8
	case h.Length > 125:
		n += 2
	}
	if h.Masked {
		n += 4
	}
	return n
}

// Append appends the encoded header to b and returns the extended slice.
// It refuses (and leaves b unchanged) a negative Length, an opcode above
// 0xF or reserved, and a control frame that is fragmented or longer than
// maxControlPayload. It does not allocate when b has room.
func (h *frameHeader) Append(b []byte) ([]byte, error) {
	if h.Length < 0 {
		return b, errors.New("ws: frame header length is negative")
	}
	if !h.Opcode.known() {
		return b, errors.New("ws: cannot encode reserved " + h.Opcode.String())
	}
	if h.Opcode.isControl() && (!h.Fin || h.Length > maxControlPayload) {
		return b, errors.New("ws: control frames must be final and at most 125 bytes")
	}
	b0 := byte(h.Opcode)
	if h.Fin {
		b0 |= 0x80
	}
	var b1 byte
	if h.Masked {
		b1 = 0x80
	}
	switch {
	case h.Length > 0xFFFF:
		b = append(b, b0, b1|127)
		b = binary.BigEndian.AppendUint64(b, uint64(h.Length))
	case h.Length > 125:
		b = append(b, b0, b1|126)
		b = binary.BigEndian.AppendUint16(b, uint16(h.Length))
	default:
		b = append(b, b0, b1|byte(h.Length))
	}
	if h.Masked {
		b = append(b, h.Mask[:]...)
	}
	return b, nil
}

func (o opcode) known() bool {
	switch o {
	case opContinuation, opText, opBinary, opClose, opPing, opPong:
		return true
	}
	return false
}

// appendFrame appends a frame with header h and the given payload to b,
// masking the appended copy of the payload with h.Mask when h.Masked
// (payload itself is not modified). h.Length is ignored: len(payload) is
// used. Errors are those of frameHeader.Append. It does not allocate when
// b has room for h.Len()+len(payload) more bytes.
func appendFrame(b []byte, h frameHeader, payload []byte) ([]byte, error) {
	h.Length = len(payload)
	b, err := h.Append(b)
	if err != nil {
		return b, err
	}
	start := len(b)
	b = append(b, payload...)
	if h.Masked {
		applyMask(h.Mask, b[start:])
	}
	return b, nil
}

// headerLen returns the header length announced by the first two bytes.
func headerLen(b0, b1 byte) int {
	n := 2
	switch b1 & 0x7F {
	case 126:
		n += 2
	case 127:
		n += 8
	}
	if b1&0x80 != 0 {
		n += 4
	}
	return n
}

// parseHeader decodes the frame header at the start of b, as read by the
// role r, and returns it with its encoded length. It checks, in this
// order, everything a header alone can break: reserved bits
// (errReservedBits), the opcode (errUnknownOpcode; errTextFrame for text),
// control-frame FIN and length (errControlFrame), masking for the role
// (errMasking), minimal length encoding (errLengthEncoding) and, for data
// frames, Length ≤ maxPayload (errFrameTooLarge) — so an oversized frame
// is refused before any of its payload is read. Each failure is a
// *ProtocolError wrapping that sentinel. When b is shorter than the header
// it returns io.ErrUnexpectedEOF itself: read more and call again.
//
// parseHeader does not allocate except for the error of a refused frame,
// does not modify b, and keeps no reference to it.
func parseHeader(b []byte, r role, maxPayload int) (frameHeader, int, error) {
	if r != roleServer && r != roleClient {
		return frameHeader{}, 0, errRole
	}
	if len(b) < 2 {
		return frameHeader{}, 0, io.ErrUnexpectedEOF
	}
	b0, b1 := b[0], b[1]
	if b0&0x70 != 0 {
		return frameHeader{}, 0, protocolError(closeProtocolError, errReservedBits, "reserved bits 0x%02x set", b0&0x70)
	}
	h := frameHeader{Fin: b0&0x80 != 0, Opcode: opcode(b0 & 0x0F), Masked: b1&0x80 != 0}
	switch {
	case h.Opcode == opText:
		return frameHeader{}, 0, protocolError(closeUnsupportedData, errTextFrame, "text frames are not accepted; send binary")
	case !h.Opcode.known():
		return frameHeader{}, 0, protocolError(closeProtocolError, errUnknownOpcode, "unknown %v", h.Opcode)
	case h.Opcode.isControl() && !h.Fin:
		return frameHeader{}, 0, protocolError(closeProtocolError, errControlFrame, "fragmented %v frame", h.Opcode)
	case h.Opcode.isControl() && b1&0x7F > maxControlPayload:
		return frameHeader{}, 0, protocolError(closeProtocolError, errControlFrame, "%v frame longer than 125 bytes", h.Opcode)
	case r == roleServer && !h.Masked:
		return frameHeader{}, 0, protocolError(closeProtocolError, errMasking, "unmasked frame from client")
	case r == roleClient && h.Masked:
		return frameHeader{}, 0, protocolError(closeProtocolError, errMasking, "masked frame from server")
	}
	n := headerLen(b0, b1)
	if len(b) < n {
		return frameHeader{}, 0, io.ErrUnexpectedEOF
	}
	var length uint64
	switch l7 := b1 & 0x7F; l7 {
	case 126:
		length = uint64(binary.BigEndian.Uint16(b[2:4]))
		if length < 126 {
			return frameHeader{}, 0, protocolError(closeProtocolError, errLengthEncoding, "length %d in 16-bit form", length)
		}
	case 127:
		length = binary.BigEndian.Uint64(b[2:10])
		if length>>63 != 0 {
			return frameHeader{}, 0, protocolError(closeProtocolError, errLengthEncoding, "64-bit length with the top bit set")
		}
		if length <= 0xFFFF {
			return frameHeader{}, 0, protocolError(closeProtocolError, errLengthEncoding, "length %d in 64-bit form", length)
		}
	default:
		length = uint64(l7)
	}
	if !h.Opcode.isControl() && (maxPayload < 0 || length > uint64(maxPayload)) {
		return frameHeader{}, 0, protocolError(CloseMessageTooBig, errFrameTooLarge, "frame of %d bytes exceeds the %d-byte limit", length, maxPayload)
	}
	// length ≤ maxPayload (an int) or ≤ 125 here, so the conversion is exact.
	h.Length = int(length)
	if h.Masked {
		copy(h.Mask[:], b[n-4:n])
	}
	return h, n, nil
}

// parseFrame decodes one whole frame at the start of b: its header (as
// parseHeader, with the same errors) and its payload, and returns the
// total number of bytes the frame takes. The payload is borrowed: it
// aliases b and is still masked when h.Masked; unmask it in place with
// applyMask(h.Mask, payload), or copy it first to keep b intact. When b
// holds less than the whole frame parseFrame returns io.ErrUnexpectedEOF.
// It does not allocate except for the error of a refused frame.
func parseFrame(b []byte, r role, maxPayload int) (h frameHeader, payload []byte, n int, err error) {
	h, hn, err := parseHeader(b, r, maxPayload)
	if err != nil {
		return frameHeader{}, nil, 0, err
	}
	if len(b)-hn < h.Length {
		return frameHeader{}, nil, 0, io.ErrUnexpectedEOF
	}
	return h, b[hn : hn+h.Length : hn+h.Length], hn + h.Length, nil
}

// applyMask XORs b in place with the masking key (RFC 6455 §5.3), starting at
// key byte 0; masking twice restores b. It does not allocate.
func applyMask(key [4]byte, b []byte) {
	if len(b) >= 8 {
		k := uint64(binary.LittleEndian.Uint32(key[:]))
		k |= k << 32
		for len(b) >= 8 {
			binary.LittleEndian.PutUint64(b, binary.LittleEndian.Uint64(b)^k)
			b = b[8:]
		}
	}
	for i := range b {
		b[i] ^= key[i&3]
	}
}

// parseClose decodes a close frame's (unmasked) payload (RFC 6455 §5.5.1):
// empty means closeNoStatus; otherwise a 2-byte code that may be sent
// (§7.4) and a UTF-8 reason. The reason is borrowed from payload.
// Failures are a *ProtocolError wrapping errBadClose (code 1002, or 1007
// for a reason that is not UTF-8). It does not allocate on success.
func parseClose(payload []byte) (CloseCode, []byte, error) {
	switch {
	case len(payload) == 0:
		return closeNoStatus, nil, nil
	case len(payload) == 1:
		return 0, nil, protocolError(closeProtocolError, errBadClose, "1-byte close payload")
	case len(payload) > maxControlPayload:
		return 0, nil, protocolError(closeProtocolError, errControlFrame, "close payload longer than 125 bytes")
	}
	code := CloseCode(binary.BigEndian.Uint16(payload))
	if !code.validOnWire() {
		return 0, nil, protocolError(closeProtocolError, errBadClose, "close code %d may not be sent", uint16(code))
	}
	reason := payload[2:]
	if !utf8.Valid(reason) {
		return 0, nil, protocolError(closeInvalidPayload, errBadClose, "close reason is not UTF-8")
	}
	return code, reason, nil
}

// appendClosePayload appends a close frame payload — code and reason — to
// b. closeNoStatus appends nothing (a close frame without a code). It
// refuses codes that may not be sent and a reason longer than 123 bytes
// or not UTF-8, leaving b unchanged.
func appendClosePayload(b []byte, code CloseCode, reason string) ([]byte, error) {
	if code == closeNoStatus {
		if reason != "" {
			return b, errors.New("ws: a close frame without a code has no reason")
		}
		return b, nil
	}
	if !code.validOnWire() {
		return b, errors.New("ws: close code " + strconv.Itoa(int(code)) + " may not be sent")
	}
	if len(reason) > maxControlPayload-2 || !utf8.ValidString(reason) {
		return b, errors.New("ws: close reason must be UTF-8 of at most 123 bytes")
	}
	b = binary.BigEndian.AppendUint16(b, uint16(code))
	return append(b, reason...), nil
}

// assembler joins the data frames of one connection into messages (RFC
// 6455 §5.4), within max bytes. A message in a single frame is returned
// without copying; a fragmented one is copied into buf, allocated at the
// first fragmented message and reused. Owned by one goroutine (the
// connection's reader or event loop).
type assembler struct {
	buf    []byte
	active bool // inside a fragmented message
	max    int
}

// add takes one data frame (binary or continuation) with its unmasked
// payload and returns the message it completes, or nil and false. The
// message is borrowed: valid until the next call and until the payload's
// buffer is reused.
func (a *assembler) add(h *frameHeader, p []byte) ([]byte, bool, error) {
	switch h.Opcode {
	case opBinary:
		if a.active {
			return nil, false, protocolError(closeProtocolError, errFragmentation, "new message inside a fragmented one")
		}
		if h.Fin {
			return p, true, nil
		}
		if a.buf == nil {
			a.buf = make([]byte, 0, a.max)
		}
		a.buf = append(a.buf[:0], p...)
		a.active = true
	case opContinuation:
		if !a.active {
			return nil, false, protocolError(closeProtocolError, errFragmentation, "continuation frame outside a fragmented message")
		}
		if len(a.buf)+len(p) > a.max {
			return nil, false, protocolError(CloseMessageTooBig, errFrameTooLarge, "fragmented message exceeds the %d-byte limit", a.max)
		}
		a.buf = append(a.buf, p...)
		if h.Fin {
			a.active = false
			return a.buf, true, nil
		}
	default:
		return nil, false, errors.New("ws: BUG: assembler got a " + h.Opcode.String() + " frame")
	}
	return nil, false, nil
}
