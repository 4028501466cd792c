package streaming

import "github.com/stt-go/stt/stc"

// Segment layout. A segment's plaintext is one flags byte followed by the
// payload; it is sealed with [stc.StreamContext.Seal] under its sequence
// number, so on the wire a segment is
//
//	offset        size   field
//	0             1+n    AEAD ciphertext of flags ‖ payload (n payload bytes)
//	1+n           16     AEAD tag (stc.Overhead)
//
// flags bit 0 marks the last segment of the stream; bits 1-7 are zero. The
// flags byte is authenticated, so only a holder of the stream key can end a
// stream or claim a length.
const (
	flagsLen = 1
	flagLast = 0x01

	// SegmentOverhead is the number of bytes a segment adds to its payload:
	// the flags byte and the AEAD tag.
	SegmentOverhead = flagsLen + stc.Overhead
)

// Encoder limits.
const (
	// DefaultSegmentSize is the sealed size of a full segment: 1200 bytes,
	// the datagram size QUIC (RFC 9000 §14) assumes every IPv4/IPv6 path
	// carries, so a segment plus STT's packet and frame headers fits the
	// IPv6 minimum MTU of 1280 without fragmentation.
	DefaultSegmentSize = 1200
	// MinSegmentSize is the smallest accepted SegmentSize: room for one
	// payload byte next to SegmentOverhead.
	MinSegmentSize = SegmentOverhead + 1
	// MaxSegmentSize is the largest sealed segment either side accepts:
	// the largest UDP payload (65535 − 8-byte UDP header − 20-byte IPv4
	// header), so a segment always fits one datagram.
	MaxSegmentSize = 65507
)

// Decoder limits.
const (
	// DefaultMaxBuffered is the default byte budget of a Decoder: 16 MiB,
	// enough for about 1.4 s of a 100 Mbit/s stream held out of order or
	// unread, small enough that thousands of decoders fit in memory.
	DefaultMaxBuffered = 16 << 20
	// DefaultWindow is how far ahead of the next expected segment a
	// sequence number may be by default: 65536 segments (about 78 MB of
	// 1200-byte segments), far beyond any reordering a network produces.
	DefaultWindow = 1 << 16
	// chunkOverhead is charged against MaxBuffered for every buffered
	// segment in addition to its payload, so that a flood of tiny segments
	// cannot hold unbounded bookkeeping: roughly a map entry plus a slice
	// header.
	chunkOverhead = 64
	// maxFree is how many spare segment buffers a Decoder keeps for reuse:
	// enough to absorb a burst between two reads without allocating.
	maxFree = 64
	// maxEmptyReads is how many consecutive (0, nil) reads the encoder
	// tolerates before reporting io.ErrNoProgress (the bufio rule).
	maxEmptyReads = 100
)
