package streambuf

// Defaults for callers that have no configured value, and the implementation
// limits of this package. Spec constants (frame layouts, varint form) live in
// docs/PROTOCOL.md; these are local policy.
const (
	// DefaultSendLimit is a stream's write buffer: bytes written but not yet
	// acknowledged. 1 MiB covers one stream's share of a 10 Gbit/s x 1 ms
	// bandwidth-delay product while keeping 1000 busy streams under 1 GiB.
	DefaultSendLimit = 1 << 20

	// DefaultRecvWindow is the initial per-stream credit window: 512 KiB,
	// twice quic-go's initial stream receive window, small enough that idle
	// or slow streams pin little memory, large enough for a LAN's first
	// round trips at 10 Gbit/s; auto-tuning grows it for fast consumers.
	// The data plane's Config.StreamWindow default is this value.
	DefaultRecvWindow = 512 << 10

	// DefaultMaxRecvWindow is the auto-tuning ceiling for one stream's
	// window: 16 MiB sustains ~1.3 Gbit/s at 100 ms RTT (issue 5 asks for at
	// least 16 MiB per session).
	DefaultMaxRecvWindow = 16 << 20

	// DefaultMaxGaps bounds the out-of-order ranges one stream buffers. 256
	// separated holes in one window already means heavy loss or a peer
	// scattering bytes to inflate our bookkeeping; callers with large windows
	// under heavy loss may want more (each range costs 16 bytes).
	DefaultMaxGaps = 256

	// DefaultMaxIntervals bounds an Intervals set when none is given, and
	// bounds Send's acknowledged and retransmission sets. The ranges a
	// sender tracks are separated by frames in flight, so the count is
	// bounded by the packets in flight; 4096 ranges (64 KiB) is far above a
	// 1 MiB buffer in 1400-byte frames (~750), so the fallbacks described on
	// Send are a safety net, not a path taken in practice.
	DefaultMaxIntervals = 4096

	// minStorage is the first allocation of a buffer's ring: one page, so a
	// stream that carries a few small messages never holds more.
	minStorage = 4096

	// MaxOffset is the largest stream offset (exclusive) this package
	// accepts: 2^62, the QUIC limit (RFC 9000 §4.5), so offset arithmetic
	// can never overflow a uint64 and a varint-encoded limit always fits.
	MaxOffset = 1 << 62
)
