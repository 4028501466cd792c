package ws_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"testing"

	"github.com/stt-go/stt/transport/ws"
)

func TestAcceptKeyRFC6455(t *testing.T) {
	// RFC 6455 §1.3.
	if got, want := ws.AcceptKey("dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="; got != want {
		t.Fatalf("AcceptKey = %q, want %q", got, want)
	}
}

func TestFrameRoundTrip(t *testing.T) {
	mask := [4]byte{0x37, 0xfa, 0x21, 0x3d}
	for _, tc := range []struct {
		name   string
		h      ws.Header
		n      int
		hdrLen int
	}{
		{"binary-empty", ws.Header{Fin: true, Opcode: ws.OpBinary}, 0, 2},
		{"binary-1", ws.Header{Fin: true, Opcode: ws.OpBinary}, 1, 2},
		{"binary-125", ws.Header{Fin: true, Opcode: ws.OpBinary}, 125, 2},
		{"binary-126", ws.Header{Fin: true, Opcode: ws.OpBinary}, 126, 4},
		{"binary-1400-masked", ws.Header{Fin: true, Opcode: ws.OpBinary, Masked: true, Mask: mask}, 1400, 8},
		{"binary-1019-masked", ws.Header{Fin: true, Opcode: ws.OpBinary, Masked: true, Mask: mask}, 1019, 8},
		{"binary-65535", ws.Header{Fin: true, Opcode: ws.OpBinary}, 65535, 4},
		{"binary-65536-masked", ws.Header{Fin: true, Opcode: ws.OpBinary, Masked: true, Mask: mask}, 65536, 14},
		{"first-fragment", ws.Header{Opcode: ws.OpBinary, Masked: true, Mask: mask}, 10, 6},
		{"continuation", ws.Header{Opcode: ws.OpContinuation}, 10, 2},
		{"final-continuation", ws.Header{Fin: true, Opcode: ws.OpContinuation}, 300, 4},
		{"ping-125-masked", ws.Header{Fin: true, Opcode: ws.OpPing, Masked: true, Mask: mask}, 125, 6},
		{"pong", ws.Header{Fin: true, Opcode: ws.OpPong}, 4, 2},
		{"close", ws.Header{Fin: true, Opcode: ws.OpClose}, 2, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			payload := make([]byte, tc.n)
			for i := range payload {
				payload[i] = byte(i * 7)
			}
			orig := bytes.Clone(payload)
			b, err := ws.AppendFrame([]byte{0xEE}, tc.h, payload) // a prefix byte: Append must append
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(payload, orig) {
				t.Fatal("AppendFrame modified its payload argument")
			}
			b = b[1:]
			h := tc.h
			h.Length = tc.n
			if h.Len() != tc.hdrLen || len(b) != tc.hdrLen+tc.n {
				t.Fatalf("Len() = %d, encoded %d bytes; want header %d", h.Len(), len(b), tc.hdrLen)
			}
			role := ws.RoleClient
			if tc.h.Masked {
				role = ws.RoleServer
			}
			got, p, n, err := ws.ParseFrame(b, role, 1<<20)
			if err != nil {
				t.Fatalf("ParseFrame: %v", err)
			}
			if got != h || n != len(b) || len(p) != tc.n {
				t.Fatalf("ParseFrame = %+v, %d payload bytes, n=%d; want %+v, %d, %d", got, len(p), n, h, tc.n, len(b))
			}
			if tc.h.Masked && tc.n > 0 && bytes.Equal(p, orig) {
				t.Fatal("masked payload went out unmasked")
			}
			ws.Mask(got.Mask, p)
			if !bytes.Equal(p, orig) {
				t.Fatal("payload differs after unmasking")
			}
			// Header alone, and truncation at every shorter length.
			hh, hn, err := ws.ParseHeader(b[:tc.hdrLen], role, 1<<20)
			if err != nil || hh != h || hn != tc.hdrLen {
				t.Fatalf("ParseHeader = %+v, %d, %v", hh, hn, err)
			}
			for cut := range len(b) {
				if _, _, _, err := ws.ParseFrame(b[:cut], role, 1<<20); err != io.ErrUnexpectedEOF {
					t.Fatalf("ParseFrame of %d/%d bytes: %v, want io.ErrUnexpectedEOF", cut, len(b), err)
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
		role ws.Role
		max  int
		want error
		code ws.CloseCode
	}{
		{"rsv1", hdr(0xC2, 0x80, m...), ws.RoleServer, 2048, ws.ErrReservedBits, ws.CloseProtocolError},
		{"rsv3", hdr(0x92, 0x00), ws.RoleClient, 2048, ws.ErrReservedBits, ws.CloseProtocolError},
		{"opcode-3", hdr(0x83, 0x80, m...), ws.RoleServer, 2048, ws.ErrUnknownOpcode, ws.CloseProtocolError},
		{"opcode-7", hdr(0x87, 0x00), ws.RoleClient, 2048, ws.ErrUnknownOpcode, ws.CloseProtocolError},
		{"opcode-B", hdr(0x8B, 0x80, m...), ws.RoleServer, 2048, ws.ErrUnknownOpcode, ws.CloseProtocolError},
		{"opcode-F", hdr(0x8F, 0x00), ws.RoleClient, 2048, ws.ErrUnknownOpcode, ws.CloseProtocolError},
		{"text", hdr(0x81, 0x85, m...), ws.RoleServer, 2048, ws.ErrTextFrame, ws.CloseUnsupportedData},
		{"text-fragment", hdr(0x01, 0x05), ws.RoleClient, 2048, ws.ErrTextFrame, ws.CloseUnsupportedData},
		{"unmasked-to-server", hdr(0x82, 0x05), ws.RoleServer, 2048, ws.ErrMasking, ws.CloseProtocolError},
		{"masked-to-client", hdr(0x82, 0x85, m...), ws.RoleClient, 2048, ws.ErrMasking, ws.CloseProtocolError},
		{"ping-126", hdr(0x89, 0xFE, 0x00, 0x7E), ws.RoleServer, 2048, ws.ErrControlFrame, ws.CloseProtocolError},
		{"close-127", hdr(0x88, 0x7F), ws.RoleClient, 2048, ws.ErrControlFrame, ws.CloseProtocolError},
		{"fragmented-ping", hdr(0x09, 0x80, m...), ws.RoleServer, 2048, ws.ErrControlFrame, ws.CloseProtocolError},
		{"fragmented-close", hdr(0x08, 0x00), ws.RoleClient, 2048, ws.ErrControlFrame, ws.CloseProtocolError},
		{"len16-non-minimal", hdr(0x82, 0xFE, append([]byte{0x00, 0x7D}, m...)...), ws.RoleServer, 2048, ws.ErrLengthEncoding, ws.CloseProtocolError},
		{"len64-non-minimal", hdr(0x82, 0x7F, u64(1000)...), ws.RoleClient, 1 << 20, ws.ErrLengthEncoding, ws.CloseProtocolError},
		{"len64-msb", hdr(0x82, 0xFF, append(u64(1<<63|5), m...)...), ws.RoleServer, 2048, ws.ErrLengthEncoding, ws.CloseProtocolError},
		{"too-large-16", hdr(0x82, 0xFE, append([]byte{0x08, 0x01}, m...)...), ws.RoleServer, 2048, ws.ErrFrameTooLarge, ws.CloseMessageTooBig},
		{"too-large-64", hdr(0x82, 0x7F, u64(1<<40)...), ws.RoleClient, 2048, ws.ErrFrameTooLarge, ws.CloseMessageTooBig},
		{"too-large-fragment", hdr(0x00, 0x7E, 0x08, 0x01), ws.RoleClient, 2048, ws.ErrFrameTooLarge, ws.CloseMessageTooBig},
		{"max-0", hdr(0x82, 0x81, m...), ws.RoleServer, 0, ws.ErrFrameTooLarge, ws.CloseMessageTooBig},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, n, err := ws.ParseHeader(tc.b, tc.role, tc.max)
			if !errors.Is(err, tc.want) {
				t.Fatalf("ParseHeader(% x) = %v, want %v", tc.b, err, tc.want)
			}
			var pe *ws.ProtocolError
			if !errors.As(err, &pe) || pe.Code != tc.code || n != 0 {
				t.Fatalf("error %v: code %v, n=%d; want *ProtocolError with code %d", err, pe, n, tc.code)
			}
			if !errors.Is(err, &ws.ProtocolError{Code: tc.code}) || errors.Is(err, &ws.ProtocolError{Code: ws.CloseInternalError}) {
				t.Fatal("ProtocolError.Is does not compare Code")
			}
			if len(pe.Reason) > ws.MaxControlPayload-2 {
				t.Fatalf("reason %q does not fit a close frame", pe.Reason)
			}
			// The whole frame, payload included, gets the same answer.
			full := append(bytes.Clone(tc.b), make([]byte, 200)...)
			if _, _, _, err := ws.ParseFrame(full, tc.role, tc.max); !errors.Is(err, tc.want) {
				t.Fatalf("ParseFrame: %v, want %v", err, tc.want)
			}
		})
	}
}

func TestParseHeaderTruncated(t *testing.T) {
	for _, b := range [][]byte{nil, {0x82}, {0x82, 0xFE, 0x01}, {0x82, 0xFF, 0, 0, 0, 0, 0, 1, 0}, {0x82, 0x85, 1, 2, 3}} {
		if _, _, err := ws.ParseHeader(b, ws.RoleServer, 1<<20); err != io.ErrUnexpectedEOF {
			t.Errorf("ParseHeader(% x) = %v, want io.ErrUnexpectedEOF", b, err)
		}
	}
	if _, _, err := ws.ParseHeader([]byte{0x82, 0x00}, 0, 100); err == nil {
		t.Error("ParseHeader accepted the zero Role")
	}
}

func TestHeaderAppendRejects(t *testing.T) {
	for _, h := range []ws.Header{
		{Fin: true, Opcode: ws.OpBinary, Length: -1},
		{Fin: true, Opcode: 0x3},
		{Fin: true, Opcode: 0x10},
		{Fin: true, Opcode: ws.OpPing, Length: 126},
		{Opcode: ws.OpClose},
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
		ws.Mask(key, b)
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
		code   ws.CloseCode
		reason string
		want   error
		wcode  ws.CloseCode
	}{
		{"empty", nil, ws.CloseNoStatus, "", nil, 0},
		{"normal", cl(1000, ""), ws.CloseNormal, "", nil, 0},
		{"reason", cl(1001, "bye ✓"), ws.CloseGoingAway, "bye ✓", nil, 0},
		{"1014", cl(1014, ""), 1014, "", nil, 0},
		{"private-3000", cl(3000, "x"), 3000, "x", nil, 0},
		{"private-4999", cl(4999, ""), 4999, "", nil, 0},
		{"one-byte", []byte{3}, 0, "", ws.ErrBadClose, ws.CloseProtocolError},
		{"999", cl(999, ""), 0, "", ws.ErrBadClose, ws.CloseProtocolError},
		{"1004", cl(1004, ""), 0, "", ws.ErrBadClose, ws.CloseProtocolError},
		{"1005", cl(1005, ""), 0, "", ws.ErrBadClose, ws.CloseProtocolError},
		{"1006", cl(1006, ""), 0, "", ws.ErrBadClose, ws.CloseProtocolError},
		{"1015", cl(1015, ""), 0, "", ws.ErrBadClose, ws.CloseProtocolError},
		{"2999", cl(2999, ""), 0, "", ws.ErrBadClose, ws.CloseProtocolError},
		{"5000", cl(5000, ""), 0, "", ws.ErrBadClose, ws.CloseProtocolError},
		{"bad-utf8", cl(1000, "\xff\xfe"), 0, "", ws.ErrBadClose, ws.CloseInvalidPayload},
		{"too-long", cl(1000, string(bytes.Repeat([]byte{'a'}, 124))), 0, "", ws.ErrControlFrame, ws.CloseProtocolError},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, reason, err := ws.ParseClose(tc.p)
			if tc.want != nil {
				var pe *ws.ProtocolError
				if !errors.Is(err, tc.want) || !errors.As(err, &pe) || pe.Code != tc.wcode {
					t.Fatalf("ParseClose = %v, want %v with code %d", err, tc.want, tc.wcode)
				}
				return
			}
			if err != nil || code != tc.code || string(reason) != tc.reason {
				t.Fatalf("ParseClose = %d %q %v, want %d %q", code, reason, err, tc.code, tc.reason)
			}
			back, err := ws.AppendClosePayload(nil, code, string(reason))
			if err != nil || !bytes.Equal(back, tc.p) {
				t.Fatalf("AppendClosePayload = % x, %v; want % x", back, err, tc.p)
			}
		})
	}
	for _, tc := range []struct {
		code   ws.CloseCode
		reason string
	}{{ws.CloseAbnormal, ""}, {1004, ""}, {ws.CloseNoStatus, "x"}, {ws.CloseNormal, string(bytes.Repeat([]byte{'a'}, 124))}, {ws.CloseNormal, "\xff"}} {
		if b, err := ws.AppendClosePayload([]byte{1}, tc.code, tc.reason); err == nil || len(b) != 1 {
			t.Errorf("AppendClosePayload(%d, %q) = % x, %v; want an error", tc.code, tc.reason, b, err)
		}
	}
}

func TestNoAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	payload := bytes.Repeat([]byte{7}, 1400)
	h := ws.Header{Fin: true, Opcode: ws.OpBinary, Masked: true, Mask: [4]byte{1, 2, 3, 4}}
	frame, _ := ws.AppendFrame(nil, h, payload)
	closeFrame := []byte{0x03, 0xE8, 'o', 'k'}
	buf := make([]byte, 0, 2048)
	var sink int
	for _, tc := range []struct {
		name string
		fn   func()
	}{
		{"ParseHeader", func() { h, n, _ := ws.ParseHeader(frame, ws.RoleServer, 2048); sink += n + h.Length }},
		{"ParseFrame", func() { _, p, n, _ := ws.ParseFrame(frame, ws.RoleServer, 2048); sink += n + len(p) }},
		{"AppendFrame", func() { b, _ := ws.AppendFrame(buf[:0], h, payload); sink += len(b) }},
		{"Mask", func() { ws.Mask(h.Mask, payload); sink += int(payload[0]) }},
		{"ParseClose", func() { c, r, _ := ws.ParseClose(closeFrame); sink += int(c) + len(r) }},
	} {
		if n := testing.AllocsPerRun(100, tc.fn); n != 0 {
			t.Errorf("%s: %v allocations, want 0", tc.name, n)
		}
	}
	_ = sink
}
