package wire

import "math/bits"

// MaxVarintLen is the longest varint: ten 7-bit groups carry 64 bits, and
// the tenth byte may only hold the single remaining bit (0x01).
const MaxVarintLen = 10

// Outcomes of uvarint besides a positive length.
const (
	varintTruncated    = 0  // input ended while the continuation bit was set
	varintNonCanonical = -1 // the final group is zero: a shorter encoding exists
	varintOverflow     = -2 // more than 64 bits
)

// VarintLen returns the length of the canonical encoding of v, 1 to
// MaxVarintLen. It is a leaf helper the packetizer calls per frame; it stays
// inlinable (inline_test.go) and does not allocate.
func VarintLen(v uint64) int {
	// v|1 maps 0 to the one-group case; 6 rounds the bit count up to groups.
	return (bits.Len64(v|1) + 6) / 7
}

// AppendVarint appends the canonical varint encoding of v to b and returns
// the extended slice (docs/PROTOCOL.md §Varints): 7-bit groups, least
// significant first, the high bit of each byte set when another follows.
// 300 encodes as AC 02. It does not allocate when cap(b)-len(b) >=
// VarintLen(v).
func AppendVarint(b []byte, v uint64) []byte {
	for v >= 0x80 {
		b = append(b, byte(v)|0x80)
		v >>= 7
	}
	return append(b, byte(v))
}

// PutVarint writes the canonical encoding of v at the start of b and returns
// the number of bytes written, VarintLen(v). b must have at least that many
// bytes; a shorter b is a caller bug and panics with an index error. It does
// not allocate.
func PutVarint(b []byte, v uint64) int {
	i := 0
	for v >= 0x80 {
		b[i] = byte(v) | 0x80
		v >>= 7
		i++
	}
	b[i] = byte(v)
	return i + 1
}

// ParseVarint decodes the varint at the start of b and returns its value
// and length. It accepts only the canonical (shortest) encoding of at most
// 64 bits. Errors are *ParseError with What "varint" and Offset 0, wrapping
// io.ErrUnexpectedEOF (b ends inside the varint), or ErrMalformed (an
// overlong encoding such as 80 00, or more than 64 bits: a tenth byte above
// 0x01 or an eleventh byte). It does not allocate on success.
func ParseVarint(b []byte) (v uint64, n int, err error) {
	v, n = uvarint(b)
	if n <= 0 {
		return 0, 0, varintError("varint", b, 0, v, n)
	}
	return v, n, nil
}

// uvarint decodes a varint at the start of b. On success n > 0. Otherwise n
// is varintTruncated, varintNonCanonical (v then holds the decoded value, to
// report its canonical length) or varintOverflow.
func uvarint(b []byte) (v uint64, n int) {
	for i := 0; i < len(b) && i < MaxVarintLen; i++ {
		c := b[i]
		if c < 0x80 {
			if i == MaxVarintLen-1 && c > 1 {
				return 0, varintOverflow
			}
			if c == 0 && i > 0 {
				return v, varintNonCanonical
			}
			return v | uint64(c)<<(7*i), i + 1
		}
		v |= uint64(c&0x7f) << (7 * i)
	}
	if len(b) >= MaxVarintLen {
		return 0, varintOverflow
	}
	return 0, varintTruncated
}

// readVarint decodes the varint field what starting at b[off] and returns
// its value and the offset just past it. The one-byte case, by far the most
// common for stream IDs and small lengths, is kept inlinable.
func readVarint(b []byte, off int, what string) (uint64, int, error) {
	if off < len(b) && b[off] < 0x80 {
		return uint64(b[off]), off + 1, nil
	}
	return readVarintSlow(b, off, what)
}

// readVarintSlow is readVarint's multi-byte and error path; off <= len(b).
func readVarintSlow(b []byte, off int, what string) (uint64, int, error) {
	v, n := uvarint(b[off:])
	if n <= 0 {
		return 0, off, varintError(what, b, off, v, n)
	}
	return v, off + n, nil
}

// varintError builds the *ParseError for a failed uvarint of field what at
// b[off:].
func varintError(what string, b []byte, off int, v uint64, n int) error {
	switch n {
	case varintNonCanonical:
		// The encoding ended at its first zero group, i.e. at its length
		// counted to the first byte below 0x80.
		got := 1
		for off+got-1 < len(b) && b[off+got-1] >= 0x80 {
			got++
		}
		return errMalformed(what, off, VarintLen(v), got)
	case varintOverflow:
		// More than 64 bits has no canonical length to report.
		return errMalformed(what, off, 0, 0)
	default:
		return errTruncated(what, off, len(b)+1, len(b))
	}
}
