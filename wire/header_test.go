package wire

import (
	"bytes"
	"encoding/hex"
	"errors"
	"io"
	"testing"
)

func TestHeaderRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		h    Header
		hex  string
	}{
		{"transport", Header{Kind: KindTransport, SessionID: 0x0102030405060708, PacketNumber: 0x0a0b0c0d0e0f},
			"01" + "02" + "0102030405060708" + "0a0b0c0d0e0f"},
		{"transport-key-phase", Header{Kind: KindTransport, KeyPhase: true, SessionID: 1, PacketNumber: 1},
			"01" + "82" + "0000000000000001" + "000000000001"},
		{"transport-max-pn", Header{Kind: KindTransport, SessionID: ^SessionID(0), PacketNumber: MaxPacketNumber},
			"01" + "02" + "ffffffffffffffff" + "ffffffffffff"},
		{"handshake", Header{Kind: KindHandshake, SessionID: 0xdeadbeefcafef00d},
			"01" + "01" + "deadbeefcafef00d"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want, _ := hex.DecodeString(tt.hex)
			if got := tt.h.AppendTo(nil); !bytes.Equal(got, want) {
				t.Fatalf("AppendTo = %x, want %x", got, want)
			}
			if tt.h.Len() != len(want) {
				t.Errorf("Len = %d, want %d", tt.h.Len(), len(want))
			}
			buf := bytes.Repeat([]byte{0xaa}, HeaderLen+1)
			tt.h.PutTo(buf)
			if !bytes.Equal(buf[:len(want)], want) || buf[len(want)] != 0xaa {
				t.Errorf("PutTo wrote %x", buf)
			}
			got, n, err := ParseHeader(append(want, 0x99, 0x98))
			if err != nil || n != len(want) || got != tt.h {
				t.Fatalf("ParseHeader = %+v, %d, %v; want %+v, %d", got, n, err, tt.h, len(want))
			}
			if k, ok := PeekKind(want); !ok || k != tt.h.Kind {
				t.Errorf("PeekKind = %v, %v", k, ok)
			}
			if id, ok := PeekSessionID(want); !ok || id != tt.h.SessionID {
				t.Errorf("PeekSessionID = %v, %v", id, ok)
			}
			id, err := ParseHandshakePrefix(want)
			if tt.h.Kind == KindHandshake {
				if err != nil || id != tt.h.SessionID {
					t.Errorf("ParseHandshakePrefix = %v, %v", id, err)
				}
			} else if !errors.Is(err, ErrMalformed) {
				t.Errorf("ParseHandshakePrefix(transport) err = %v, want ErrMalformed", err)
			}
		})
	}
}

func TestParseHeaderErrors(t *testing.T) {
	valid := Header{Kind: KindTransport, SessionID: 7, PacketNumber: 9}.AppendTo(nil)
	with := func(i int, v byte) []byte {
		b := bytes.Clone(valid)
		b[i] = v
		return b
	}
	tests := []struct {
		name   string
		b      []byte
		err    error
		what   string
		offset int
	}{
		{"empty", nil, io.ErrUnexpectedEOF, "header", 0},
		{"version-only", valid[:1], io.ErrUnexpectedEOF, "header", 0},
		{"transport-short", valid[:HeaderLen-1], io.ErrUnexpectedEOF, "header", 0},
		{"prefix-short", valid[:PacketNumberOffset-1], io.ErrUnexpectedEOF, "header", 0},
		{"version-0", with(0, 0), ErrMalformed, "version", 0},
		{"version-2", with(0, 2), ErrMalformed, "version", 0},
		{"reserved-bit-4", with(1, 0x12), ErrMalformed, "flags", 1},
		{"reserved-bit-5", with(1, 0x22), ErrMalformed, "flags", 1},
		{"reserved-bit-6", with(1, 0x42), ErrMalformed, "flags", 1},
		{"kind-0", with(1, 0x00), ErrMalformed, "kind", 1},
		{"kind-3", with(1, 0x03), ErrMalformed, "kind", 1},
		{"kind-15", with(1, 0x8f), ErrMalformed, "kind", 1},
		{"handshake-key-phase", with(1, 0x81), ErrMalformed, "flags", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, n, err := ParseHeader(tt.b)
			if !errors.Is(err, tt.err) || n != 0 {
				t.Fatalf("ParseHeader(%x) n=%d err=%v, want %v", tt.b, n, err, tt.err)
			}
			var pe *ParseError
			if !errors.As(err, &pe) || pe.What != tt.what || pe.Offset != tt.offset {
				t.Fatalf("err = %#v, want What=%q Offset=%d", err, tt.what, tt.offset)
			}
		})
	}
}

func TestParseHeaderTruncations(t *testing.T) {
	for _, h := range []Header{{Kind: KindTransport, SessionID: 1, PacketNumber: 2}, {Kind: KindHandshake, SessionID: 3}} {
		enc := h.AppendTo(nil)
		for i := range len(enc) {
			_, _, err := ParseHeader(enc[:i])
			var pe *ParseError
			if !errors.Is(err, io.ErrUnexpectedEOF) || !errors.As(err, &pe) || pe.Got != i {
				t.Errorf("%v: ParseHeader(%x) err = %v, want truncation Got=%d", h.Kind, enc[:i], err, i)
			}
			if i < PacketNumberOffset {
				if _, err := ParseHandshakePrefix(enc[:i]); !errors.Is(err, io.ErrUnexpectedEOF) {
					t.Errorf("%v: ParseHandshakePrefix(%x) err = %v, want truncation", h.Kind, enc[:i], err)
				}
			}
		}
	}
}

func TestPeekShortOrForeign(t *testing.T) {
	if _, ok := PeekKind([]byte{Version}); ok {
		t.Error("PeekKind accepted 1 byte")
	}
	if _, ok := PeekKind([]byte{Version + 1, byte(KindTransport)}); ok {
		t.Error("PeekKind accepted a foreign version")
	}
	if _, ok := PeekSessionID(make([]byte, PacketNumberOffset-1)); ok {
		t.Error("PeekSessionID accepted 9 bytes")
	}
}

func TestHeaderPutToPanicsPastMaxPacketNumber(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("PutTo did not panic for PacketNumber > MaxPacketNumber")
		}
	}()
	Header{Kind: KindTransport, PacketNumber: MaxPacketNumber + 1}.PutTo(make([]byte, HeaderLen))
}

func TestKindAndSessionIDString(t *testing.T) {
	tests := []struct{ got, want string }{
		{KindHandshake.String(), "HANDSHAKE"},
		{KindTransport.String(), "TRANSPORT"},
		{Kind(9).String(), "Kind(9)"},
		{SessionID(0x0123456789abcdef).String(), "0123456789abcdef"},
		{SessionID(1).String(), "0000000000000001"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("got %q, want %q", tt.got, tt.want)
		}
	}
}
