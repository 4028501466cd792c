package wire

import (
	"slices"
	"strconv"
)

// FrameType is the first byte of every frame in a transport packet's
// payload (docs/PROTOCOL.md §Frames). Values keep the seed's numbering;
// 0x00-0x7F are reserved to STT, 0x80-0xFF are application frames.
type FrameType uint8

// Frame types.
const (
	// FramePadding is a run of zero bytes; ParseFrame consumes the whole run
	// as one frame. It pads packets (path MTU probes, length hiding).
	FramePadding FrameType = 0x00
	// FrameHandshake is reserved: handshake messages travel in HANDSHAKE
	// packets, never as frames, so ParseFrame rejects it with ErrMalformed.
	FrameHandshake FrameType = 0x01
	// FrameData carries stream bytes (DataFrame).
	FrameData FrameType = 0x02
	// FrameControl carries session-level control, selected by a subtype byte
	// (Control* constants).
	FrameControl FrameType = 0x03
	// FrameStreamControl carries stream-level control and credit, selected by
	// a subtype byte (Stream* constants).
	FrameStreamControl FrameType = 0x04
	// FrameAuth is reserved: authentication is the handshake's AUTH_PROOF
	// message, so ParseFrame rejects it with ErrMalformed.
	FrameAuth FrameType = 0x05
	// FrameCustomMin is the first application frame type; 0x80-0xFF are
	// handed to the FrameDispatcher with their payload uninterpreted.
	FrameCustomMin FrameType = 0x80
)

// IsCustom reports whether t is an application frame type (0x80-0xFF).
func (t FrameType) IsCustom() bool { return t >= FrameCustomMin }

// String returns the spec name ("DATA", "STREAM_CONTROL"), "CUSTOM(0x80)"
// for application types, or "FrameType(0x06)" for unknown ones.
func (t FrameType) String() string {
	switch t {
	case FramePadding:
		return "PADDING"
	case FrameHandshake:
		return "HANDSHAKE"
	case FrameData:
		return "DATA"
	case FrameControl:
		return "CONTROL"
	case FrameStreamControl:
		return "STREAM_CONTROL"
	case FrameAuth:
		return "AUTH"
	}
	h := "0x" + strconv.FormatUint(uint64(t), 16)
	if t < 0x10 {
		h = "0x0" + h[2:]
	}
	if t.IsCustom() {
		return "CUSTOM(" + h + ")"
	}
	return "FrameType(" + h + ")"
}

// Protocol limits enforced by ParseFrame (docs/PROTOCOL.md §Limits).
const (
	// MaxStreamID is the largest stream ID, as in QUIC (RFC 9000 §2.1): IDs
	// stay below 2^62 so stream arithmetic never nears uint64 overflow.
	MaxStreamID = 1<<62 - 1

	// MaxStreamOffset bounds every byte count on a stream or session: a DATA
	// frame's offset+length, final sizes, MAX_DATA, MAX_STREAM_DATA and the
	// BLOCKED limits (RFC 9000 §4.5 uses the same 2^62 bound), so adding a
	// length to an offset cannot overflow.
	MaxStreamOffset = 1 << 62

	// MaxStreamCount bounds MAX_STREAMS: each side opens IDs of one parity
	// (initiator odd, responder even), so at most 2^61 IDs below 2^62 exist
	// per side.
	MaxStreamCount = 1 << 61

	// MaxAckRanges bounds the additional ranges of one ACK frame (65 in
	// total with the first). It sizes AckFrame.Ranges, a fixed array that
	// lets ParseFrame decode an ACK without allocating, caps the work one
	// ACK costs, and keeps the largest ACK (2+7+10+1+7+64*(7+7) = 923 bytes
	// with 48-bit packet numbers) inside one minimum-size 1200-byte datagram.
	// A receiver that tracks more gaps reports the newest 65 ranges, which
	// RFC 9000 §13.2.4 permits; older gaps are long lost or acknowledged.
	MaxAckRanges = 64

	// MaxCloseReason bounds the CLOSE reason phrase: a diagnostic, not a
	// channel, kept well below one datagram.
	MaxCloseReason = 1024

	// MaxCustomPayload bounds an application frame's payload. A frame never
	// spans packets, and 65535 is the largest UDP payload, so anything larger
	// could never have been sent.
	MaxCustomPayload = 65535
)

// PaddingFrame is a run of N zero bytes (N >= 1 for a valid frame).
type PaddingFrame struct {
	N int
}

// Len returns N (0 for N < 0).
func (p PaddingFrame) Len() int { return max(p.N, 0) }

// AppendTo appends N zero bytes. It does not allocate when b has room.
func (p PaddingFrame) AppendTo(b []byte) []byte {
	n := p.Len()
	b = slices.Grow(b, n)
	l := len(b)
	b = b[:l+n]
	clear(b[l:])
	return b
}

// Frame is a tagged union of every frame a transport packet can carry,
// shaped so that ParseFrame fills it in place without allocating: Type (and
// Sub, for CONTROL and STREAM_CONTROL) selects the one meaningful field;
// the others hold whatever they held before. Sub is 0 for other types.
// Byte-slice fields (Data.Data, Close.Reason, NewTicket.Blob,
// Custom.Payload) are views into the parsed input, valid as long as that
// buffer is; copy to keep. A Frame is about 1.3 KB (the fixed ACK range array): reuse one per packet rather
// than copying it. Not safe for concurrent mutation.
type Frame struct {
	Type FrameType
	Sub  uint8

	Padding PaddingFrame // FramePadding
	Data    DataFrame    // FrameData

	Ack           AckFrame           // FrameControl, ControlAck
	Ping          PingFrame          // FrameControl, ControlPing
	Close         CloseFrame         // FrameControl, ControlClose
	MaxData       MaxDataFrame       // FrameControl, ControlMaxData
	Final         FinalFrame         // FrameControl, ControlFinal
	PathChallenge PathChallengeFrame // FrameControl, ControlPathChallenge
	PathResponse  PathResponseFrame  // FrameControl, ControlPathResponse
	ResetToken    ResetTokenFrame    // FrameControl, ControlResetToken
	NewTicket     NewTicketFrame     // FrameControl, ControlNewTicket

	ResetStream   ResetStreamFrame   // FrameStreamControl, StreamReset
	StopSending   StopSendingFrame   // FrameStreamControl, StreamStopSending
	MaxStreamData MaxStreamDataFrame // FrameStreamControl, StreamMaxStreamData
	MaxStreams    MaxStreamsFrame    // FrameStreamControl, StreamMaxStreams
	StreamBlocked StreamBlockedFrame // FrameStreamControl, StreamBlocked
	DataBlocked   DataBlockedFrame   // FrameStreamControl, StreamDataBlocked
	Skip          SkipFrame          // FrameStreamControl, StreamSkip

	Custom CustomFrame // Type.IsCustom(); Custom.Type == Type
}

// ParseFrame decodes exactly one frame from the start of b into *f and
// returns its encoded length n; a payload is parsed by calling it on b[n:]
// until b is empty. It does not allocate and keeps views into b in f (see
// Frame). On error n is 0 and *f is unspecified. Errors are *ParseError
// whose Offset is relative to b, wrapping:
//   - io.ErrUnexpectedEOF: b ends inside the frame;
//   - ErrUnknownFrame: type 0x06-0x7F or an unknown subtype;
//   - ErrMalformed: HANDSHAKE or AUTH frame, reserved DATA flag bits,
//     non-canonical varint, ACK range below zero;
//   - ErrTooLarge: a value above MaxStreamID, MaxStreamOffset,
//     MaxStreamCount, MaxPacketNumber, MaxAckRanges, MaxCloseReason or
//     MaxCustomPayload.
//
// Everything it accepts re-encodes to the same bytes with f.AppendTo.
func ParseFrame(b []byte, f *Frame) (n int, err error) {
	if len(b) == 0 {
		return 0, errTruncated("frame type", 0, 1, 0)
	}
	t := FrameType(b[0])
	f.Type = t
	f.Sub = 0
	switch {
	case t == FrameData:
		return parseData(b, &f.Data)
	case t == FrameControl:
		return parseControl(b, f)
	case t == FrameStreamControl:
		return parseStreamControl(b, f)
	case t == FramePadding:
		n = 1
		for n < len(b) && b[n] == 0 {
			n++
		}
		f.Padding.N = n
		return n, nil
	case t.IsCustom():
		return parseCustom(b, &f.Custom)
	case t == FrameHandshake:
		return 0, errMalformed("handshake frame in transport packet", 0, 0, int(t))
	case t == FrameAuth:
		return 0, errMalformed("auth frame in transport packet", 0, 0, int(t))
	}
	return 0, &ParseError{What: "frame type", Offset: 0, Got: int(t), Err: ErrUnknownFrame}
}

// Len returns the encoded length of the frame selected by Type and Sub, or
// 0 when they select no encodable frame (HANDSHAKE, AUTH, unknown types,
// an ACK with no range). It does not allocate.
func (f *Frame) Len() int {
	switch f.Type {
	case FramePadding:
		return f.Padding.Len()
	case FrameData:
		return f.Data.Len()
	case FrameControl:
		switch f.Sub {
		case ControlAck:
			return f.Ack.Len()
		case ControlPing:
			return f.Ping.Len()
		case ControlClose:
			return f.Close.Len()
		case ControlMaxData:
			return f.MaxData.Len()
		case ControlFinal:
			return f.Final.Len()
		case ControlPathChallenge:
			return f.PathChallenge.Len()
		case ControlPathResponse:
			return f.PathResponse.Len()
		case ControlResetToken:
			return f.ResetToken.Len()
		case ControlNewTicket:
			return f.NewTicket.Len()
		}
	case FrameStreamControl:
		switch f.Sub {
		case StreamReset:
			return f.ResetStream.Len()
		case StreamStopSending:
			return f.StopSending.Len()
		case StreamMaxStreamData:
			return f.MaxStreamData.Len()
		case StreamMaxStreams:
			return f.MaxStreams.Len()
		case StreamBlocked:
			return f.StreamBlocked.Len()
		case StreamDataBlocked:
			return f.DataBlocked.Len()
		case StreamSkip:
			return f.Skip.Len()
		}
	}
	if f.Type.IsCustom() {
		return f.Custom.Len()
	}
	return 0
}

// AppendTo appends the frame selected by Type and Sub to b and returns the
// extended slice; it appends nothing where Len returns 0. It does not
// validate limits: values ParseFrame would reject encode as given. It does
// not allocate when cap(b)-len(b) >= f.Len().
func (f *Frame) AppendTo(b []byte) []byte {
	switch f.Type {
	case FramePadding:
		return f.Padding.AppendTo(b)
	case FrameData:
		return f.Data.AppendTo(b)
	case FrameControl:
		switch f.Sub {
		case ControlAck:
			return f.Ack.AppendTo(b)
		case ControlPing:
			return f.Ping.AppendTo(b)
		case ControlClose:
			return f.Close.AppendTo(b)
		case ControlMaxData:
			return f.MaxData.AppendTo(b)
		case ControlFinal:
			return f.Final.AppendTo(b)
		case ControlPathChallenge:
			return f.PathChallenge.AppendTo(b)
		case ControlPathResponse:
			return f.PathResponse.AppendTo(b)
		case ControlResetToken:
			return f.ResetToken.AppendTo(b)
		case ControlNewTicket:
			return f.NewTicket.AppendTo(b)
		}
	case FrameStreamControl:
		switch f.Sub {
		case StreamReset:
			return f.ResetStream.AppendTo(b)
		case StreamStopSending:
			return f.StopSending.AppendTo(b)
		case StreamMaxStreamData:
			return f.MaxStreamData.AppendTo(b)
		case StreamMaxStreams:
			return f.MaxStreams.AppendTo(b)
		case StreamBlocked:
			return f.StreamBlocked.AppendTo(b)
		case StreamDataBlocked:
			return f.DataBlocked.AppendTo(b)
		case StreamSkip:
			return f.Skip.AppendTo(b)
		}
	}
	if f.Type.IsCustom() {
		return f.Custom.AppendTo(b)
	}
	return b
}

// IsAckEliciting reports whether receiving the frame obliges the receiver
// to acknowledge its packet, following RFC 9002 §2: ACK, PADDING and CLOSE
// are not ack-eliciting (acknowledging an ACK would loop, padding carries
// nothing, and a closing peer no longer reads acknowledgements); every
// other frame, FINAL and application frames included, is. A packet is
// ack-eliciting when any of its frames is.
func (f *Frame) IsAckEliciting() bool {
	switch f.Type {
	case FramePadding:
		return false
	case FrameControl:
		return f.Sub != ControlAck && f.Sub != ControlClose
	}
	return true
}

// readBounded reads the varint field what at b[off:] and rejects values
// above limit with ErrTooLarge.
func readBounded(b []byte, off int, what string, limit uint64) (uint64, int, error) {
	v, p, err := readVarint(b, off, what)
	if err != nil {
		return 0, 0, err
	}
	if v > limit {
		return 0, 0, errTooLarge(what, off, limit, v)
	}
	return v, p, nil
}

// appendTypeSub appends a frame's type and subtype bytes.
func appendTypeSub(b []byte, t FrameType, sub uint8) []byte {
	return append(b, byte(t), sub)
}
