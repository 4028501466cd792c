package streambuf

import "io"

// Message framing on a stream (docs/PROTOCOL.md, messages): each message is
// a length prefix followed by that many bytes. The prefix is the seed's
// varint: 7-bit groups, least significant first, the high bit of each byte
// set when another byte follows; canonical (no trailing zero group), at most
// MaxMessageHeaderLen bytes for a 64-bit value. It is implemented here, not
// imported from wire, because this package depends only on the standard
// library.

// MaxMessageHeaderLen is the longest length prefix: ceil(64/7) = 10 bytes.
const MaxMessageHeaderLen = 10

// MessageHeaderLen returns the bytes AppendMessageHeader uses for n
// (1 to MaxMessageHeaderLen). n must not be negative.
func MessageHeaderLen(n int) int {
	v, l := uint64(n), 1
	for v >= 0x80 {
		v >>= 7
		l++
	}
	return l
}

// AppendMessageHeader appends the length prefix for an n-byte message to b
// and returns the extended slice. It allocates only if b lacks capacity. It
// panics if n is negative (a caller bug; lengths come from len()).
func AppendMessageHeader(b []byte, n int) []byte {
	if n < 0 {
		panic("streambuf: negative message length")
	}
	v := uint64(n)
	for v >= 0x80 {
		b = append(b, byte(v)|0x80)
		v >>= 7
	}
	return append(b, byte(v))
}

// ParseMessageHeader decodes the length prefix at the start of b, returning
// the message length and the prefix's size. It returns io.ErrUnexpectedEOF
// when b ends inside the prefix (read more and retry), and ErrVarint for a
// non-canonical prefix (a final zero group after the first byte) or one that
// overflows 64 bits. The size limit (MaxMessageSize) is the caller's to
// check. It does not allocate; the errors are the bare sentinels.
func ParseMessageHeader(b []byte) (n uint64, hdrLen int, err error) {
	var v uint64
	for i := 0; i < MaxMessageHeaderLen; i++ {
		if i == len(b) {
			return 0, 0, io.ErrUnexpectedEOF
		}
		c := b[i]
		if i == MaxMessageHeaderLen-1 && c > 1 {
			return 0, 0, ErrVarint // the 10th group holds only bit 63
		}
		v |= uint64(c&0x7f) << (7 * i)
		if c < 0x80 {
			if c == 0 && i > 0 {
				return 0, 0, ErrVarint // trailing zero group: not canonical
			}
			return v, i + 1, nil
		}
	}
	return 0, 0, ErrVarint // continuation bit on the 10th byte
}
