package streambuf

import (
	"bytes"
	"errors"
	"io"
	"math"
	"testing"
)

func TestMessageHeader(t *testing.T) {
	tests := []struct {
		n    int
		want []byte
	}{
		{0, []byte{0}},
		{1, []byte{1}},
		{127, []byte{0x7f}},
		{128, []byte{0x80, 0x01}},
		{300, []byte{0xac, 0x02}},
		{16383, []byte{0xff, 0x7f}},
		{16384, []byte{0x80, 0x80, 0x01}},
		{2 << 20, []byte{0x80, 0x80, 0x80, 0x01}},
		{math.MaxInt64, []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f}},
	}
	for _, tt := range tests {
		b := AppendMessageHeader([]byte{0xee}, tt.n)
		if !bytes.Equal(b[1:], tt.want) || b[0] != 0xee {
			t.Errorf("AppendMessageHeader(%d) = %x, want %x", tt.n, b[1:], tt.want)
		}
		if l := MessageHeaderLen(tt.n); l != len(tt.want) {
			t.Errorf("MessageHeaderLen(%d) = %d, want %d", tt.n, l, len(tt.want))
		}
		v, l, err := ParseMessageHeader(append(tt.want, 0xaa))
		if err != nil || v != uint64(tt.n) || l != len(tt.want) {
			t.Errorf("ParseMessageHeader(%x) = %d,%d,%v", tt.want, v, l, err)
		}
		for i := range tt.want {
			if _, _, err := ParseMessageHeader(tt.want[:i]); err != io.ErrUnexpectedEOF {
				t.Errorf("truncated %x: %v", tt.want[:i], err)
			}
		}
	}
	bad := []struct {
		name string
		b    []byte
		want error
	}{
		{"empty", nil, io.ErrUnexpectedEOF},
		{"non-canonical zero", []byte{0x80, 0x00}, ErrVarint},
		{"non-canonical 1", []byte{0x81, 0x80, 0x00}, ErrVarint},
		{"max uint64", []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}, nil},
		{"65 bits", []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02}, ErrVarint},
		{"11 bytes", []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x81, 0x00}, ErrVarint},
	}
	for _, tt := range bad {
		v, _, err := ParseMessageHeader(tt.b)
		if !errors.Is(err, tt.want) || (tt.want == nil && (err != nil || v != math.MaxUint64)) {
			t.Errorf("%s: %d, %v; want %v", tt.name, v, err, tt.want)
		}
	}
	defer func() {
		if recover() == nil {
			t.Error("negative length did not panic")
		}
	}()
	AppendMessageHeader(nil, -1)
}
