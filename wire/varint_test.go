package wire

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"io"
	"math"
	"math/rand/v2"
	"testing"
)

func TestVarintEncode(t *testing.T) {
	tests := []struct {
		name string
		v    uint64
		hex  string
	}{
		{"zero", 0, "00"},
		{"one", 1, "01"},
		{"max-1-byte", 127, "7f"},
		{"min-2-byte", 128, "8001"},
		{"300", 300, "ac02"},
		{"max-2-byte", 1<<14 - 1, "ff7f"},
		{"min-3-byte", 1 << 14, "808001"},
		{"max-stream-id", MaxStreamID, "ffffffffffffffff3f"},
		{"max-stream-offset", MaxStreamOffset, "808080808080808040"},
		{"max-packet-number", MaxPacketNumber, "ffffffffffff3f"},
		{"min-10-byte", 1 << 63, "80808080808080808001"},
		{"max-uint64", math.MaxUint64, "ffffffffffffffffff01"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want, _ := hex.DecodeString(tt.hex)
			got := AppendVarint([]byte{0xee}, tt.v)
			if !bytes.Equal(got[1:], want) || got[0] != 0xee {
				t.Fatalf("AppendVarint(%d) = %x, want ee%x", tt.v, got, want)
			}
			if n := VarintLen(tt.v); n != len(want) {
				t.Errorf("VarintLen(%d) = %d, want %d", tt.v, n, len(want))
			}
			buf := make([]byte, MaxVarintLen+1)
			if n := PutVarint(buf, tt.v); n != len(want) || !bytes.Equal(buf[:n], want) {
				t.Errorf("PutVarint(%d) = %x (n=%d), want %x", tt.v, buf[:n], n, want)
			}
			v, n, err := ParseVarint(append(want, 0x55))
			if err != nil || v != tt.v || n != len(want) {
				t.Errorf("ParseVarint(%x) = %d, %d, %v; want %d, %d, nil", want, v, n, err, tt.v, len(want))
			}
		})
	}
}

func TestVarintLenBoundaries(t *testing.T) {
	for k := 0; k < 64; k++ {
		for _, v := range []uint64{1<<k - 1, 1 << k, 1<<k + 1} {
			if got, want := VarintLen(v), len(AppendVarint(nil, v)); got != want {
				t.Errorf("VarintLen(%#x) = %d, encoding has %d bytes", v, got, want)
			}
		}
	}
}

func TestParseVarintErrors(t *testing.T) {
	tests := []struct {
		name   string
		hex    string
		err    error
		offset int
	}{
		{"empty", "", io.ErrUnexpectedEOF, 0},
		{"continuation-then-eof", "80", io.ErrUnexpectedEOF, 0},
		{"nine-continuations", "ffffffffffffffffff", io.ErrUnexpectedEOF, 0},
		{"overlong-zero", "8000", ErrMalformed, 0},
		{"overlong-one", "8100", ErrMalformed, 0},
		{"overlong-127", "ff00", ErrMalformed, 0},
		{"overlong-3-byte", "818000", ErrMalformed, 0},
		{"overlong-10-byte", "80808080808080808000", ErrMalformed, 0},
		{"overflow-10th-byte-2", "ffffffffffffffffff02", ErrMalformed, 0},
		{"overflow-10th-byte-7f", "8080808080808080807f", ErrMalformed, 0},
		{"overflow-11-bytes", "8080808080808080808001", ErrMalformed, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, _ := hex.DecodeString(tt.hex)
			v, n, err := ParseVarint(b)
			if !errors.Is(err, tt.err) {
				t.Fatalf("ParseVarint(%x) = %d, %d, %v; want %v", b, v, n, err, tt.err)
			}
			var pe *ParseError
			if !errors.As(err, &pe) || pe.What != "varint" || pe.Offset != tt.offset {
				t.Fatalf("error %#v: want *ParseError What=varint Offset=%d", err, tt.offset)
			}
			if v != 0 || n != 0 {
				t.Errorf("on error got v=%d n=%d, want 0, 0", v, n)
			}
		})
	}
}

func TestParseVarintNonCanonicalReportsLengths(t *testing.T) {
	// 80 80 00 is 0 in three bytes: canonical length 1, actual 3.
	_, _, err := ParseVarint([]byte{0x80, 0x80, 0x00})
	var pe *ParseError
	if !errors.As(err, &pe) || pe.Want != 1 || pe.Got != 3 {
		t.Fatalf("err = %v, want Want=1 Got=3", err)
	}
}

func TestParseVarintTruncatedPrefixes(t *testing.T) {
	for _, v := range []uint64{0, 300, MaxStreamID, math.MaxUint64} {
		enc := AppendVarint(nil, v)
		for i := range len(enc) {
			_, _, err := ParseVarint(enc[:i])
			var pe *ParseError
			if !errors.Is(err, io.ErrUnexpectedEOF) || !errors.As(err, &pe) || pe.Got != i {
				t.Errorf("ParseVarint(%x) err = %v, want truncation with Got=%d", enc[:i], err, i)
			}
		}
	}
}

// slowParseVarint is the reference: encoding/binary's LEB128 decoder plus
// an explicit canonicality check by re-encoding.
func slowParseVarint(b []byte) (uint64, int, bool) {
	v, n := binary.Uvarint(b)
	if n <= 0 {
		return 0, 0, false
	}
	if !bytes.Equal(binary.AppendUvarint(nil, v), b[:n]) {
		return 0, 0, false
	}
	return v, n, true
}

func TestParseVarintDifferential(t *testing.T) {
	check := func(b []byte) {
		t.Helper()
		v, n, err := ParseVarint(b)
		rv, rn, ok := slowParseVarint(b)
		if ok != (err == nil) || v != rv || n != rn {
			t.Fatalf("ParseVarint(%x) = %d, %d, %v; reference %d, %d, ok=%v", b, v, n, err, rv, rn, ok)
		}
	}
	// Every input of up to two bytes.
	check(nil)
	for i := range 1 << 16 {
		check([]byte{byte(i)})
		check([]byte{byte(i), byte(i >> 8)})
	}
	// Random longer inputs, biased towards continuation bytes.
	r := rand.New(rand.NewPCG(1, 2))
	b := make([]byte, 12)
	for range 200000 {
		n := r.IntN(len(b) + 1)
		for i := range n {
			b[i] = byte(r.Uint32()) | byte(r.IntN(2)<<7)
		}
		check(b[:n])
	}
}
