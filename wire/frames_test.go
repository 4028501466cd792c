package wire

import (
	"bytes"
	"encoding/hex"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"
)

// sample is one named frame used by the round-trip, truncation, allocation
// and vector tests.
type sample struct {
	name string
	f    Frame
}

func ackOf(delay uint64, ranges ...AckRange) AckFrame {
	var a AckFrame
	a.Delay = delay
	for _, r := range ranges {
		if err := a.AppendRange(r.Smallest, r.Largest); err != nil {
			panic(err)
		}
	}
	return a
}

// maxAck returns an ACK with MaxAckRanges+1 ranges below largest.
func maxACK() AckFrame {
	var a AckFrame
	a.Delay = 25000
	pn := uint64(100000)
	for a.N < len(a.Ranges) {
		if err := a.AppendRange(pn-3, pn); err != nil {
			panic(err)
		}
		pn -= 10
	}
	return a
}

func samples() []sample {
	payload := []byte("hello, stt")
	reason := []byte("idle timeout")
	return []sample{
		{"padding-1", Frame{Type: FramePadding, Padding: PaddingFrame{N: 1}}},
		{"padding-40", Frame{Type: FramePadding, Padding: PaddingFrame{N: 40}}},
		{"data", Frame{Type: FrameData, Data: DataFrame{StreamID: 1, Offset: 0, Data: payload}}},
		{"data-fin", Frame{Type: FrameData, Data: DataFrame{StreamID: 4, Offset: 300, Fin: true, Data: payload}}},
		{"data-eom", Frame{Type: FrameData, Data: DataFrame{StreamID: 5, Offset: 1 << 20, EndOfMessage: true, Data: payload}}},
		{"data-fin-eom", Frame{Type: FrameData, Data: DataFrame{StreamID: 7, Offset: 10, Fin: true, EndOfMessage: true, Data: payload}}},
		{"data-empty-fin", Frame{Type: FrameData, Data: DataFrame{StreamID: 3, Offset: 99, Fin: true, Data: []byte{}}}},
		{"data-limits", Frame{Type: FrameData, Data: DataFrame{StreamID: MaxStreamID, Offset: MaxStreamOffset - 2, Data: []byte{1, 2}}}},
		{"data-1200", Frame{Type: FrameData, Data: DataFrame{StreamID: 9, Offset: 123456, Data: bytes.Repeat([]byte{0x5a}, 1200)}}},
		{"ack-single", Frame{Type: FrameControl, Sub: ControlAck, Ack: ackOf(0, AckRange{0, 0})}},
		{"ack-one-range", Frame{Type: FrameControl, Sub: ControlAck, Ack: ackOf(1000, AckRange{10, 300})}},
		{"ack-three-ranges", Frame{Type: FrameControl, Sub: ControlAck, Ack: ackOf(40, AckRange{95, 100}, AckRange{90, 93}, AckRange{0, 50})}},
		{"ack-max-pn", Frame{Type: FrameControl, Sub: ControlAck, Ack: ackOf(7, AckRange{MaxPacketNumber, MaxPacketNumber}, AckRange{0, MaxPacketNumber - 2})}},
		{"ack-max-ranges", Frame{Type: FrameControl, Sub: ControlAck, Ack: maxACK()}},
		{"ping", Frame{Type: FrameControl, Sub: ControlPing}},
		{"close", Frame{Type: FrameControl, Sub: ControlClose, Close: CloseFrame{Code: 0, Reason: []byte{}}}},
		{"close-reason", Frame{Type: FrameControl, Sub: ControlClose, Close: CloseFrame{Code: 0x1234, Reason: reason}}},
		{"close-max-reason", Frame{Type: FrameControl, Sub: ControlClose, Close: CloseFrame{Code: 1, Reason: bytes.Repeat([]byte{'r'}, MaxCloseReason)}}},
		{"max-data", Frame{Type: FrameControl, Sub: ControlMaxData, MaxData: MaxDataFrame{Max: 1 << 24}}},
		{"max-data-limit", Frame{Type: FrameControl, Sub: ControlMaxData, MaxData: MaxDataFrame{Max: MaxStreamOffset}}},
		{"final", Frame{Type: FrameControl, Sub: ControlFinal, Final: FinalFrame{Status: 0, SessionID: 0x0123456789abcdef}}},
		{"path-challenge", Frame{Type: FrameControl, Sub: ControlPathChallenge, PathChallenge: PathChallengeFrame{Data: [8]byte{1, 2, 3, 4, 5, 6, 7, 8}}}},
		{"path-response", Frame{Type: FrameControl, Sub: ControlPathResponse, PathResponse: PathResponseFrame{Data: [8]byte{8, 7, 6, 5, 4, 3, 2, 1}}}},
		{"reset-token", Frame{Type: FrameControl, Sub: ControlResetToken, ResetToken: ResetTokenFrame{Token: [16]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}}}},
		{"new-ticket", Frame{Type: FrameControl, Sub: ControlNewTicket, NewTicket: NewTicketFrame{Blob: bytes.Repeat([]byte{0x5a}, NewTicketLen)}}},
		{"new-ticket-max", Frame{Type: FrameControl, Sub: ControlNewTicket, NewTicket: NewTicketFrame{Blob: bytes.Repeat([]byte{0xa5}, maxNewTicket)}}},
		{"new-ticket-short", Frame{Type: FrameControl, Sub: ControlNewTicket, NewTicket: NewTicketFrame{Blob: []byte{0x0a, 0x0b, 0x0c, 0x0d}}}},
		{"new-ticket-empty", Frame{Type: FrameControl, Sub: ControlNewTicket, NewTicket: NewTicketFrame{Blob: []byte{}}}},
		{"reset", Frame{Type: FrameStreamControl, Sub: StreamReset, ResetStream: ResetStreamFrame{StreamID: 5, Code: 3, FinalSize: 70000}}},
		{"stop-sending", Frame{Type: FrameStreamControl, Sub: StreamStopSending, StopSending: StopSendingFrame{StreamID: 6, Code: 0x42}}},
		{"max-stream-data", Frame{Type: FrameStreamControl, Sub: StreamMaxStreamData, MaxStreamData: MaxStreamDataFrame{StreamID: 1, Max: 1 << 21}}},
		{"max-streams", Frame{Type: FrameStreamControl, Sub: StreamMaxStreams, MaxStreams: MaxStreamsFrame{Max: 100}}},
		{"max-streams-limit", Frame{Type: FrameStreamControl, Sub: StreamMaxStreams, MaxStreams: MaxStreamsFrame{Max: MaxStreamCount}}},
		{"stream-blocked", Frame{Type: FrameStreamControl, Sub: StreamBlocked, StreamBlocked: StreamBlockedFrame{StreamID: 9, Limit: 65536}}},
		{"data-blocked", Frame{Type: FrameStreamControl, Sub: StreamDataBlocked, DataBlocked: DataBlockedFrame{Limit: 1 << 30}}},
		{"skip", Frame{Type: FrameStreamControl, Sub: StreamSkip, Skip: SkipFrame{StreamID: 5, Offset: 1 << 20, Length: 3000, NextMessage: 42}}},
		{"custom-empty", Frame{Type: 0x80, Custom: CustomFrame{Type: 0x80, Payload: []byte{}}}},
		{"custom", Frame{Type: 0xc7, Custom: CustomFrame{Type: 0xc7, Payload: payload}}},
		{"custom-max", Frame{Type: 0xff, Custom: CustomFrame{Type: 0xff, Payload: bytes.Repeat([]byte{0xc3}, MaxCustomPayload)}}},
	}
}

// sameFrame compares the field selected by a.Type/a.Sub.
func sameFrame(a, b *Frame) bool {
	if a.Type != b.Type || a.Sub != b.Sub {
		return false
	}
	switch a.Type {
	case FramePadding:
		return a.Padding == b.Padding
	case FrameData:
		x, y := a.Data, b.Data
		return x.StreamID == y.StreamID && x.Offset == y.Offset && x.Fin == y.Fin &&
			x.EndOfMessage == y.EndOfMessage && bytes.Equal(x.Data, y.Data)
	case FrameControl:
		switch a.Sub {
		case ControlAck:
			return a.Ack.Delay == b.Ack.Delay && a.Ack.N == b.Ack.N &&
				slices.Equal(a.Ack.Ranges[:a.Ack.N], b.Ack.Ranges[:b.Ack.N])
		case ControlPing:
			return true
		case ControlClose:
			return a.Close.Code == b.Close.Code && bytes.Equal(a.Close.Reason, b.Close.Reason)
		case ControlMaxData:
			return a.MaxData == b.MaxData
		case ControlFinal:
			return a.Final == b.Final
		case ControlPathChallenge:
			return a.PathChallenge == b.PathChallenge
		case ControlPathResponse:
			return a.PathResponse == b.PathResponse
		case ControlResetToken:
			return a.ResetToken == b.ResetToken
		case ControlNewTicket:
			return bytes.Equal(a.NewTicket.Blob, b.NewTicket.Blob)
		}
	case FrameStreamControl:
		switch a.Sub {
		case StreamReset:
			return a.ResetStream == b.ResetStream
		case StreamStopSending:
			return a.StopSending == b.StopSending
		case StreamMaxStreamData:
			return a.MaxStreamData == b.MaxStreamData
		case StreamMaxStreams:
			return a.MaxStreams == b.MaxStreams
		case StreamBlocked:
			return a.StreamBlocked == b.StreamBlocked
		case StreamDataBlocked:
			return a.DataBlocked == b.DataBlocked
		case StreamSkip:
			return a.Skip == b.Skip
		}
	}
	if a.Type.IsCustom() {
		return a.Custom.Type == b.Custom.Type && bytes.Equal(a.Custom.Payload, b.Custom.Payload)
	}
	return false
}

func TestFrameRoundTrip(t *testing.T) {
	for _, s := range samples() {
		t.Run(s.name, func(t *testing.T) {
			enc := s.f.AppendTo([]byte{0xee})[1:]
			if len(enc) != s.f.Len() {
				t.Fatalf("Len = %d, encoding has %d bytes", s.f.Len(), len(enc))
			}
			var got Frame
			n, err := ParseFrame(enc, &got)
			if err != nil || n != len(enc) {
				t.Fatalf("ParseFrame = %d, %v; want %d, nil", n, err, len(enc))
			}
			if !sameFrame(&s.f, &got) {
				t.Fatalf("parsed frame differs from the encoded one")
			}
			if re := got.AppendTo(nil); !bytes.Equal(re, enc) {
				t.Fatalf("re-encoded %x, want %x", re, enc)
			}
			if s.f.Type == FramePadding {
				return // a following frame would start with a non-zero byte; checked below
			}
			// A following frame must not be consumed.
			n, err = ParseFrame(append(bytes.Clone(enc), byte(FrameControl), ControlPing), &got)
			if err != nil || n != len(enc) {
				t.Fatalf("with trailing PING: ParseFrame = %d, %v; want %d", n, err, len(enc))
			}
		})
	}
}

func TestStandaloneFrameEncodingsMatchFrame(t *testing.T) {
	// Each frame struct's AppendTo/Len is a complete frame, equal to the
	// union's.
	type codec interface {
		Len() int
		AppendTo([]byte) []byte
	}
	for _, s := range samples() {
		f := s.f
		var c codec
		switch {
		case f.Type == FramePadding:
			c = f.Padding
		case f.Type == FrameData:
			c = f.Data
		case f.Type == FrameControl && f.Sub == ControlAck:
			c = &f.Ack
		case f.Type == FrameControl && f.Sub == ControlPing:
			c = f.Ping
		case f.Type == FrameControl && f.Sub == ControlClose:
			c = f.Close
		case f.Type == FrameControl && f.Sub == ControlMaxData:
			c = f.MaxData
		case f.Type == FrameControl && f.Sub == ControlFinal:
			c = f.Final
		case f.Type == FrameControl && f.Sub == ControlPathChallenge:
			c = f.PathChallenge
		case f.Type == FrameControl && f.Sub == ControlPathResponse:
			c = f.PathResponse
		case f.Type == FrameControl && f.Sub == ControlResetToken:
			c = f.ResetToken
		case f.Type == FrameControl && f.Sub == ControlNewTicket:
			c = f.NewTicket
		case f.Sub == StreamReset:
			c = f.ResetStream
		case f.Sub == StreamStopSending:
			c = f.StopSending
		case f.Sub == StreamMaxStreamData:
			c = f.MaxStreamData
		case f.Sub == StreamMaxStreams:
			c = f.MaxStreams
		case f.Sub == StreamBlocked:
			c = f.StreamBlocked
		case f.Sub == StreamDataBlocked:
			c = f.DataBlocked
		case f.Sub == StreamSkip:
			c = f.Skip
		default:
			c = f.Custom
		}
		if got, want := c.AppendTo(nil), f.AppendTo(nil); !bytes.Equal(got, want) || c.Len() != len(want) {
			t.Errorf("%s: standalone %x (Len %d), union %x", s.name, got, c.Len(), want)
		}
	}
}

func TestFrameTruncations(t *testing.T) {
	for _, s := range samples() {
		t.Run(s.name, func(t *testing.T) {
			enc := s.f.AppendTo(nil)
			for i := range len(enc) {
				if s.f.Type == FramePadding && i > 0 {
					break // a shorter run of zeros is a valid, shorter PADDING
				}
				var f Frame
				n, err := ParseFrame(enc[:i], &f)
				if !errors.Is(err, io.ErrUnexpectedEOF) || n != 0 {
					t.Fatalf("ParseFrame(enc[:%d]) = %d, %v; want truncation", i, n, err)
				}
				var pe *ParseError
				if !errors.As(err, &pe) || pe.Got != i || pe.Offset > i || pe.Want <= i {
					t.Fatalf("ParseFrame(enc[:%d]) error %#v: want Got=%d, Offset<=%d<Want", i, err, i, i)
				}
			}
		})
	}
}

func TestParsePayloadSequence(t *testing.T) {
	var payload []byte
	var want []sample
	for _, s := range samples() {
		if s.f.Type == FramePadding {
			continue
		}
		payload = s.f.AppendTo(payload)
		want = append(want, s)
	}
	tail := samples()[1]
	payload = tail.f.AppendTo(payload)
	want = append(want, tail)
	var f Frame
	for i, s := range want {
		n, err := ParseFrame(payload, &f)
		if err != nil {
			t.Fatalf("frame %d (%s): %v", i, s.name, err)
		}
		if !sameFrame(&s.f, &f) {
			t.Fatalf("frame %d (%s): parsed frame differs", i, s.name)
		}
		payload = payload[n:]
	}
	if len(payload) != 0 {
		t.Fatalf("%d bytes left over", len(payload))
	}
}

func TestParseFrameErrors(t *testing.T) {
	tests := []struct {
		name   string
		hex    string
		err    error
		what   string
		offset int
	}{
		{"empty", "", io.ErrUnexpectedEOF, "frame type", 0},
		{"unknown-type-06", "06", ErrUnknownFrame, "frame type", 0},
		{"unknown-type-7f", "7f00", ErrUnknownFrame, "frame type", 0},
		{"handshake-frame", "0100", ErrMalformed, "handshake frame in transport packet", 0},
		{"auth-frame", "0500", ErrMalformed, "auth frame in transport packet", 0},

		{"data-reserved-flag-04", "0204010000", ErrMalformed, "data flags", 1},
		{"data-reserved-flag-80", "0280010000", ErrMalformed, "data flags", 1},
		{"data-no-flags", "02", io.ErrUnexpectedEOF, "data flags", 1},
		{"data-stream-id-too-large", "0200" + "808080808080808040" + "0000", ErrTooLarge, "stream ID", 2},
		{"data-stream-id-overlong", "0200" + "8100" + "0000", ErrMalformed, "stream ID", 2},
		{"data-stream-id-overflow", "0200" + "ffffffffffffffffff02" + "0000", ErrMalformed, "stream ID", 2},
		{"data-offset-too-large", "020001" + "818080808080808040" + "00", ErrTooLarge, "offset", 3},
		{"data-offset-overlong", "020001" + "808000" + "00", ErrMalformed, "offset", 3},
		{"data-offset-plus-length", "020001" + "ffffffffffffffff3f" + "02" + "aabb", ErrTooLarge, "length", 12},
		{"data-length-max-uint64", "02000100" + "ffffffffffffffffff01", ErrTooLarge, "length", 4},
		{"data-length-beyond-payload", "0200010005" + "aabbccdd", io.ErrUnexpectedEOF, "data", 5},
		{"data-length-overlong", "02000100" + "8200" + "aabb", ErrMalformed, "length", 4},

		{"control-no-subtype", "03", io.ErrUnexpectedEOF, "control subtype", 1},
		{"control-subtype-00", "0300", ErrUnknownFrame, "control subtype", 1},
		{"control-subtype-0a", "030a", ErrUnknownFrame, "control subtype", 1},
		{"control-subtype-ff", "03ff", ErrUnknownFrame, "control subtype", 1},
		{"ack-largest-too-large", "0301" + "80808080808040" + "000000", ErrTooLarge, "largest acknowledged", 2},
		{"ack-first-range-underflow", "0301" + "05" + "00" + "00" + "06", ErrMalformed, "first ack range", 5},
		{"ack-too-many-ranges", "0301" + "ff01" + "00" + "41" + "00", ErrTooLarge, "ack range count", 5},
		{"ack-gap-underflow", "0301" + "0a" + "00" + "01" + "05" + "04" + "00", ErrMalformed, "ack gap", 6},
		{"ack-gap-at-zero", "0301" + "05" + "00" + "01" + "05" + "00" + "00", ErrMalformed, "ack gap", 6},
		{"ack-range-underflow", "0301" + "0a" + "00" + "01" + "02" + "01" + "06", ErrMalformed, "ack range", 7},
		{"ack-delay-overlong", "0301" + "05" + "8000" + "00" + "00", ErrMalformed, "ack delay", 3},
		{"ack-missing-range", "0301" + "0a" + "00" + "02" + "00" + "01" + "01", io.ErrUnexpectedEOF, "ack gap", 8},
		{"close-reason-too-long", "0303" + "00" + "8108" + "00", ErrTooLarge, "reason length", 3},
		{"close-reason-truncated", "0303" + "00" + "05" + "6869", io.ErrUnexpectedEOF, "reason", 4},
		{"max-data-too-large", "0304" + "818080808080808040", ErrTooLarge, "max data", 2},
		{"final-truncated", "0305" + "00" + "01020304050607", io.ErrUnexpectedEOF, "final", 2},
		{"path-challenge-truncated", "0306" + "01020304050607", io.ErrUnexpectedEOF, "path data", 2},
		{"new-ticket-too-long", "0309" + "8108" + "00", ErrTooLarge, "ticket length", 2},
		{"new-ticket-truncated", "0309" + "05" + "01020304", io.ErrUnexpectedEOF, "ticket", 3},
		{"new-ticket-no-length", "0309", io.ErrUnexpectedEOF, "ticket length", 2},
		{"reset-token-truncated", "0308" + "0102030405060708090a0b0c0d0e0f", io.ErrUnexpectedEOF, "reset token", 2},

		{"stream-control-no-subtype", "04", io.ErrUnexpectedEOF, "stream control subtype", 1},
		{"stream-control-subtype-00", "0400", ErrUnknownFrame, "stream control subtype", 1},
		{"stream-control-subtype-08", "0408", ErrUnknownFrame, "stream control subtype", 1},
		{"skip-offset-too-large", "0407" + "05" + "818080808080808040", ErrTooLarge, "skip offset", 3},
		{"skip-truncated", "0407" + "05" + "8001" + "02", io.ErrUnexpectedEOF, "next message", 6},
		{"skip-length-too-large", "0407" + "05" + "808040" + "818080808080808040", ErrTooLarge, "skip length", 6},
		{"reset-stream-id-too-large", "0401" + "808080808080808040" + "0000", ErrTooLarge, "stream ID", 2},
		{"reset-final-size-too-large", "0401" + "01" + "00" + "818080808080808040", ErrTooLarge, "final size", 4},
		{"reset-code-overlong", "0401" + "01" + "8000" + "00", ErrMalformed, "error code", 3},
		{"stop-sending-stream-id-overlong", "0402" + "8100" + "00", ErrMalformed, "stream ID", 2},
		{"max-stream-data-too-large", "0403" + "01" + "818080808080808040", ErrTooLarge, "max stream data", 3},
		{"max-streams-too-large", "0404" + "818080808080808020", ErrTooLarge, "max streams", 2},
		{"stream-blocked-too-large", "0405" + "01" + "818080808080808040", ErrTooLarge, "limit", 3},
		{"data-blocked-too-large", "0406" + "818080808080808040", ErrTooLarge, "limit", 2},
		{"data-blocked-truncated", "0406" + "80", io.ErrUnexpectedEOF, "limit", 2},

		{"custom-too-large", "80" + "808004", ErrTooLarge, "custom length", 1},
		{"custom-truncated", "fe" + "03" + "0102", io.ErrUnexpectedEOF, "custom payload", 2},
		{"custom-length-overlong", "80" + "8000", ErrMalformed, "custom length", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := hex.DecodeString(tt.hex)
			if err != nil {
				t.Fatal(err)
			}
			var f Frame
			n, err := ParseFrame(b, &f)
			if !errors.Is(err, tt.err) || n != 0 {
				t.Fatalf("ParseFrame(%x) = %d, %v; want %v", b, n, err, tt.err)
			}
			var pe *ParseError
			if !errors.As(err, &pe) || pe.What != tt.what || pe.Offset != tt.offset {
				t.Fatalf("error %#v: want What=%q Offset=%d", err, tt.what, tt.offset)
			}
		})
	}
}

func TestPaddingConsumesRun(t *testing.T) {
	b := []byte{0, 0, 0, 0, byte(FrameControl), ControlPing, 0}
	var f Frame
	n, err := ParseFrame(b, &f)
	if err != nil || n != 4 || f.Type != FramePadding || f.Padding.N != 4 {
		t.Fatalf("ParseFrame = %d, %v, %+v; want one 4-byte PADDING", n, err, f.Padding)
	}
	n, err = ParseFrame(b[6:], &f)
	if err != nil || n != 1 || f.Padding.N != 1 {
		t.Fatalf("trailing zero: ParseFrame = %d, %v", n, err)
	}
}

func TestParsedViewsAreCapacityLimited(t *testing.T) {
	// Appending to a borrowed view must not overwrite the next frame.
	b := DataFrame{StreamID: 1, Data: []byte("ab")}.AppendTo(nil)
	b = PingFrame{}.AppendTo(b)
	var f Frame
	n, err := ParseFrame(b, &f)
	if err != nil {
		t.Fatal(err)
	}
	_ = append(f.Data.Data, 'X', 'Y')
	if _, err = ParseFrame(b[n:], &f); err != nil || f.Sub != ControlPing {
		t.Fatalf("next frame damaged: %v %+v", err, f)
	}
}

func TestIsAckEliciting(t *testing.T) {
	for _, s := range samples() {
		want := true
		switch {
		case s.f.Type == FramePadding,
			s.f.Type == FrameControl && (s.f.Sub == ControlAck || s.f.Sub == ControlClose):
			want = false
		}
		if got := s.f.IsAckEliciting(); got != want {
			t.Errorf("%s: IsAckEliciting = %v, want %v", s.name, got, want)
		}
	}
}

func TestUnencodableFrames(t *testing.T) {
	for _, f := range []Frame{
		{Type: FrameHandshake},
		{Type: FrameAuth},
		{Type: 0x42},
		{Type: FrameControl, Sub: 0x99},
		{Type: FrameStreamControl, Sub: 0},
		{Type: FrameControl, Sub: ControlAck}, // no ranges
	} {
		if f.Len() != 0 || len(f.AppendTo(nil)) != 0 {
			t.Errorf("%v/%d: Len %d, AppendTo %x; want nothing", f.Type, f.Sub, f.Len(), f.AppendTo(nil))
		}
	}
}

func TestFrameTypeString(t *testing.T) {
	tests := []struct {
		t      FrameType
		want   string
		custom bool
	}{
		{FramePadding, "PADDING", false},
		{FrameHandshake, "HANDSHAKE", false},
		{FrameData, "DATA", false},
		{FrameControl, "CONTROL", false},
		{FrameStreamControl, "STREAM_CONTROL", false},
		{FrameAuth, "AUTH", false},
		{0x06, "FrameType(0x06)", false},
		{0x7f, "FrameType(0x7f)", false},
		{0x80, "CUSTOM(0x80)", true},
		{0xff, "CUSTOM(0xff)", true},
	}
	for _, tt := range tests {
		if got := tt.t.String(); got != tt.want || tt.t.IsCustom() != tt.custom {
			t.Errorf("FrameType(%d): String %q IsCustom %v; want %q %v", uint8(tt.t), got, tt.t.IsCustom(), tt.want, tt.custom)
		}
	}
}

func TestParseErrorMessage(t *testing.T) {
	var f Frame
	_, err := ParseFrame([]byte{0x02, 0x00, 0x01, 0x00, 0x05, 0xaa}, &f)
	msg := err.Error()
	for _, want := range []string{"wire: ", "data", "offset 5", "unexpected EOF", "want 10", "got 6"} {
		if !strings.Contains(msg, want) {
			t.Errorf("message %q lacks %q", msg, want)
		}
	}
	if msg := (&ParseError{What: "x", Offset: 3}).Error(); msg != "wire: x at offset 3: invalid" {
		t.Errorf("message without cause = %q", msg)
	}
	_, err = ParseFrame([]byte{0x09}, &f)
	if msg := err.Error(); !strings.Contains(msg, "got 9") || strings.Contains(msg, "want") {
		t.Errorf("message %q: want got 9 and no want", msg)
	}
}
