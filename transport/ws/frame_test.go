package ws

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"testing"
)

func TestAcceptKeyRFC6455(t *testing.T) {
	// RFC 6455 §1.3.
	if got, want := acceptKey("dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="; got != want {
		t.Fatalf("acceptKey = %q, want %q", got, want)
	}
}

func TestFrameRoundTrip(t *testing.T) {
	mask := [4]byte{0x37, 0xfa, 0x21, 0x3d}
	for _, tc := range []struct {
		name   string
		h      frameHeader
		n      int
		hdrLen int
	}{
		{"binary-empty", frameHeader{Fin: true, Opcode: opBinary}, 0, 2},
		{"binary-1", frameHeader{Fin: true, Opcode: opBinary}, 1, 2},
		{"binary-125", frameHeader{Fin: true, Opcode: opBinary}, 125, 2},
		{"binary-126", frameHeader{Fin: true, Opcode: opBinary}, 126, 4},
		{"binary-1400-masked", frameHeader{Fin: true, Opcode: opBinary, Masked: true, Mask: mask}, 1400, 8},
		{"binary-1019-masked", frameHeader{Fin: true, Opcode: opBinary, Masked: true, Mask: mask}, 1019, 8},
		{"binary-65535", frameHeader{Fin: true, Opcode: opBinary}, 65535, 4},
		{"binary-65536-masked", frameHeader{Fin: true, Opcode: opBinary, Masked: true, Mask: mask}, 65536, 14},
		{"first-fragment", frameHeader{Opcode: opBinary, Masked: true, Mask: mask}, 10, 6},
		{"continuation", frameHeader{Opcode: opContinuation}, 10, 2},
		{"final-continuation", frameHeader{Fin: true, Opcode: opContinuation}, 300, 4},
		{"ping-125-masked", frameHeader{Fin: true, Opcode: opPing, Masked: true, Mask: mask}, 125, 6},
		{"pong", frameHeader{Fin: true, Opcode: opPong}, 4, 2},
		{"close", frameHeader{Fin: true, Opcode: opClose}, 2, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			payload := make([]byte, tc.n)
			for i := range payload {
				payload[i] = byte(i * 7)
			}
			orig := bytes.Clone(payload)
			b, err := appendFrame([]byte{0xEE}, tc.h, payload) // a prefix byte: Append must append
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(payload, orig) {
				t.Fatal("appendFrame modified its payload argument")
			}
			b = b[1:]
			h := tc.h
			h.Length = tc.n
			if h.Len() != tc.hdrLen || len(b) != tc.hdrLen+tc.n {
				t.Fatalf("Len() = %d, encoded %d bytes; want header %d", h.Len(), len(b), tc.hdrLen)
			}
			as := roleClient
			if tc.h.Masked {
				as = roleServer
			}
			got, p, n, err := parseFrame(b, as, 1<<20)
			if err != nil {
				t.Fatalf("parseFrame: %v", err)
			}
			if got != h || n != len(b) || len(p) != tc.n {
				t.Fatalf("parseFrame = %+v, %d payload bytes, n=%d; want %+v, %d, %d", got, len(p), n, h, tc.n, len(b))
			}
			if tc.h.Masked && tc.n > 0 && bytes.Equal(p, orig) {
				t.Fatal("masked payload went out unmasked")
			}
			applyMask(got.Mask, p)
			if !bytes.Equal(p, orig) {
				t.Fatal("payload differs after unmasking")
			}
			// frameHeader alone, and truncation at every shorter length.
			hh, hn, err := parseHeader(b[:tc.hdrLen], as, 1<<20)
			if err != nil || hh != h || hn != tc.hdrLen {
				t.Fatalf("parseHeader = %+v, %d, %v", hh, hn, err)
			}
			for cut := range len(b) {
				if _, _, _, err := parseFrame(b[:cut], as, 1<<20); err != io.ErrUnexpectedEOF {
					t.Fatalf("parseFrame of %d/%d bytes: %v, want io.ErrUnexpectedEOF", cut, len(b), err)
				}
			}
		})
	}
}

// hdr builds raw header bytes for the rejection table.
func hdr(b0, b1 byte, rest ...byte) []byte { return append([]byte{b0, b1}, rest...) }

func u64(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }

func TestParseHeaderRejects(t *testing.T) {
	m := []byte{1, 2, 3, 4} // masking key
	for _, tc := range []struct {
		name string
		b    []byte
		as   role
		max  int
		want error
		code CloseCode
	}{
		{"rsv1", hdr(0xC2, 0x80, m...), roleServer, 2048, errReservedBits, closeProtocolError},
		{"rsv3", hdr(0x92, 0x00), roleClient, 2048, errReservedBits, closeProtocolError},
		{"opcode-3", hdr(0x83, 0x80, m...), roleServer, 2048, errUnknownOpcode, closeProtocolError},
		{"opcode-7", hdr(0x87, 0x00), roleClient, 2048, errUnknownOpcode, closeProtocolError},
		{"opcode-B", hdr(0x8B, 0x80, m...), roleServer, 2048, errUnknownOpcode, closeProtocolError},
		{"opcode-F", hdr(0x8F, 0x00), roleClient, 2048, errUnknownOpcode, closeProtocolError},
		{"text", hdr(0x81, 0x85, m...), roleServer, 2048, errTextFrame, closeUnsupportedData},
		{"text-fragment", hdr(0x01, 0x05), roleClient, 2048, errTextFrame, closeUnsupportedData},
		{"unmasked-to-server", hdr(0x82, 0x05), roleServer, 2048, errMasking, closeProtocolError},
		{"masked-to-client", hdr(0x82, 0x85, m...), roleClient, 2048, errMasking, closeProtocolError},
		{"ping-126", hdr(0x89, 0xFE, 0x00, 0x7E), roleServer, 2048, errControlFrame, closeProtocolError},
		{"close-127", hdr(0x88, 0x7F), roleClient, 2048, errControlFrame, closeProtocolError},
		{"fragmented-ping", hdr(0x09, 0x80, m...), roleServer, 2048, errControlFrame, closeProtocolError},
		{"fragmented-close", hdr(0x08, 0x00), roleClient, 2048, errControlFrame, closeProtocolError},
		{"len16-non-minimal", hdr(0x82, 0xFE, append([]byte{0x00, 0x7D}, m...)...), roleServer, 2048, errLengthEncoding, closeProtocolError},
		{"len64-non-minimal", hdr(0x82, 0x7F, u64(1000)...), roleClient, 1 << 20, errLengthEncoding, closeProtocolError},
		{"len64-msb", hdr(0x82, 0xFF, append(u64(1<<63|5), m...)...), roleServer, 2048, errLengthEncoding, closeProtocolError},
		{"too-large-16", hdr(0x82, 0xFE, append([]byte{0x08, 0x01}, m...)...), roleServer, 2048, errFrameTooLarge, CloseMessageTooBig},
		{"too-large-64", hdr(0x82, 0x7F, u64(1<<40)...), roleClient, 2048, errFrameTooLarge, CloseMessageTooBig},
		{"too-large-fragment", hdr(0x00, 0x7E, 0x08, 0x01), roleClient, 2048, errFrameTooLarge, CloseMessageTooBig},
		{"max-0", hdr(0x82, 0x81, m...), roleServer, 0, errFrameTooLarge, CloseMessageTooBig},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, n, err := parseHeader(tc.b, tc.as, tc.max)
			if !errors.Is(err, tc.want) {
				t.Fatalf("parseHeader(% x) = %v, want %v", tc.b, err, tc.want)
			}
			var pe *ProtocolError
			if !errors.As(err, &pe) || pe.Code != tc.code || n != 0 {
				t.Fatalf("error %v: code %v, n=%d; want *ProtocolError with code %d", err, pe, n, tc.code)
			}
			if !errors.Is(err, &ProtocolError{Code: tc.code}) || errors.Is(err, &ProtocolError{Code: closeInternalError}) {
				t.Fatal("ProtocolError.Is does not compare Code")
			}
			if len(pe.Reason) > maxControlPayload-2 {
				t.Fatalf("reason %q does not fit a close frame", pe.Reason)
			}
			// The whole frame, payload included, gets the same answer.
			full := append(bytes.Clone(tc.b), make([]byte, 200)...)
			if _, _, _, err := parseFrame(full, tc.as, tc.max); !errors.Is(err, tc.want) {
				t.Fatalf("parseFrame: %v, want %v", err, tc.want)
			}
		})
	}
}

func TestParseHeaderTruncated(t *testing.T) {
	for _, b := range [][]byte{nil, {0x82}, {0x82, 0xFE, 0x01}, {0x82, 0xFF, 0, 0, 0, 0, 0, 1, 0}, {0x82, 0x85, 1, 2, 3}} {
		if _, _, err := parseHeader(b, roleServer, 1<<20); err != io.ErrUnexpectedEOF {
			t.Errorf("parseHeader(% x) = %v, want io.ErrUnexpectedEOF", b, err)
		}
	}
	if _, _, err := parseHeader([]byte{0x82, 0x00}, 0, 100); err == nil {
		t.Error("parseHeader accepted the zero role")
	}
}

func TestHeaderAppendRejects(t *testing.T) {
	for _, h := range []frameHeader{
		{Fin: true, Opcode: opBinary, Length: -1},
		{Fin: true, Opcode: 0x3},
		{Fin: true, Opcode: 0x10},
		{Fin: true, Opcode: opPing, Length: 126},
		{Opcode: opClose},
	} {
		if b, err := h.Append([]byte{9}); err == nil || len(b) != 1 {
			t.Errorf("Append(%+v) = % x, %v; want an error and b unchanged", h, b, err)
		}
	}
}

func TestMaskMatchesReference(t *testing.T) {
	key := [4]byte{0xde, 0xad, 0xbe, 0xef}
	for n := range 41 {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(i*31 + 5)
		}
		want := bytes.Clone(b)
		for i := range want {
			want[i] ^= key[i%4] // RFC 6455 §5.3, byte by byte
		}
		applyMask(key, b)
		if !bytes.Equal(b, want) {
			t.Fatalf("Mask of %d bytes differs from the byte-wise reference", n)
		}
	}
}

func TestParseClose(t *testing.T) {
	cl := func(code uint16, reason string) []byte {
		return append(binary.BigEndian.AppendUint16(nil, code), reason...)
	}
	for _, tc := range []struct {
		name   string
		p      []byte
		code   CloseCode
		reason string
		want   error
		wcode  CloseCode
	}{
		{"empty", nil, closeNoStatus, "", nil, 0},
		{"normal", cl(1000, ""), CloseNormal, "", nil, 0},
		{"reason", cl(1001, "bye ✓"), CloseGoingAway, "bye ✓", nil, 0},
		{"1014", cl(1014, ""), 1014, "", nil, 0},
		{"private-3000", cl(3000, "x"), 3000, "x", nil, 0},
		{"private-4999", cl(4999, ""), 4999, "", nil, 0},
		{"one-byte", []byte{3}, 0, "", errBadClose, closeProtocolError},
		{"999", cl(999, ""), 0, "", errBadClose, closeProtocolError},
		{"1004", cl(1004, ""), 0, "", errBadClose, closeProtocolError},
		{"1005", cl(1005, ""), 0, "", errBadClose, closeProtocolError},
		{"1006", cl(1006, ""), 0, "", errBadClose, closeProtocolError},
		{"1015", cl(1015, ""), 0, "", errBadClose, closeProtocolError},
		{"2999", cl(2999, ""), 0, "", errBadClose, closeProtocolError},
		{"5000", cl(5000, ""), 0, "", errBadClose, closeProtocolError},
		{"bad-utf8", cl(1000, "\xff\xfe"), 0, "", errBadClose, closeInvalidPayload},
		{"too-long", cl(1000, string(bytes.Repeat([]byte{'a'}, 124))), 0, "", errControlFrame, closeProtocolError},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, reason, err := parseClose(tc.p)
			if tc.want != nil {
				var pe *ProtocolError
				if !errors.Is(err, tc.want) || !errors.As(err, &pe) || pe.Code != tc.wcode {
					t.Fatalf("parseClose = %v, want %v with code %d", err, tc.want, tc.wcode)
				}
				return
			}
			if err != nil || code != tc.code || string(reason) != tc.reason {
				t.Fatalf("parseClose = %d %q %v, want %d %q", code, reason, err, tc.code, tc.reason)
			}
			back, err := appendClosePayload(nil, code, string(reason))
			if err != nil || !bytes.Equal(back, tc.p) {
				t.Fatalf("appendClosePayload = % x, %v; want % x", back, err, tc.p)
			}
		})
	}
	for _, tc := range []struct {
		code   CloseCode
		reason string
	}{{closeAbnormal, ""}, {1004, ""}, {closeNoStatus, "x"}, {CloseNormal, string(bytes.Repeat([]byte{'a'}, 124))}, {CloseNormal, "\xff"}} {
		if b, err := appendClosePayload([]byte{1}, tc.code, tc.reason); err == nil || len(b) != 1 {
			t.Errorf("appendClosePayload(%d, %q) = % x, %v; want an error", tc.code, tc.reason, b, err)
		}
	}
}

func TestNoAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	payload := bytes.Repeat([]byte{7}, 1400)
	h := frameHeader{Fin: true, Opcode: opBinary, Masked: true, Mask: [4]byte{1, 2, 3, 4}}
	frame, _ := appendFrame(nil, h, payload)
	closeFrame := []byte{0x03, 0xE8, 'o', 'k'}
	buf := make([]byte, 0, 2048)
	var sink int
	for _, tc := range []struct {
		name string
		fn   func()
	}{
		{"parseHeader", func() { h, n, _ := parseHeader(frame, roleServer, 2048); sink += n + h.Length }},
		{"parseFrame", func() { _, p, n, _ := parseFrame(frame, roleServer, 2048); sink += n + len(p) }},
		{"appendFrame", func() { b, _ := appendFrame(buf[:0], h, payload); sink += len(b) }},
		{"Mask", func() { applyMask(h.Mask, payload); sink += int(payload[0]) }},
		{"parseClose", func() { c, r, _ := parseClose(closeFrame); sink += int(c) + len(r) }},
	} {
		if n := testing.AllocsPerRun(100, tc.fn); n != 0 {
			t.Errorf("%s: %v allocations, want 0", tc.name, n)
		}
	}
	_ = sink
}
