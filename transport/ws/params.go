package ws

import (
	"log/slog"
	"time"
)

// Protocol constants (RFC 6455). These never change.
const (
	// maxHeaderLen is the longest frame header: 2 fixed bytes, an 8-byte
	// extended length and a 4-byte masking key (RFC 6455 §5.2).
	maxHeaderLen = 14
	// maxControlPayload is the payload limit of a control frame (close,
	// ping, pong), RFC 6455 §5.5.
	maxControlPayload = 125
	// subprotocol is the Sec-WebSocket-Protocol token both ends require
	// (RFC 6455 §1.9): a peer that does not offer or select it is refused.
	subprotocol = "stt"
	// websocketGUID is appended to Sec-WebSocket-Key before hashing
	// (RFC 6455 §1.3, §4.2.2).
	websocketGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
	// websocketVersion is the only Sec-WebSocket-Version we speak (RFC 6455 §4.1).
	websocketVersion = "13"
)

// Defaults for zero ServerConfig and DialConfig fields.
const (
	// DefaultPath is the HTTP path of the WebSocket endpoint.
	DefaultPath = "/stt"
	// DefaultMaxMessage is the largest binary message payload, in bytes: one
	// STT datagram is at most 2000 bytes (dataplane.MaxDatagramLimit), so
	// 2048 leaves room while keeping per-connection buffers small.
	DefaultMaxMessage = 2048
	// MinMaxMessage and MaxMaxMessage bound MaxMessage: 1232 is STT's
	// smallest datagram size (the IPv6 minimum MTU minus headers), 65535
	// the largest UDP payload we could relay anyway.
	MinMaxMessage = 1232
	MaxMaxMessage = 65535
	// DefaultMaxConns is the default limit on concurrent WebSocket
	// connections per Server. Each costs two file descriptors (TCP and
	// UDP) and up to QueueLen×MaxMessage plus MaxBuffered bytes.
	DefaultMaxConns = 1024
	// defaultHandshakeTimeout bounds the HTTP upgrade on both ends.
	defaultHandshakeTimeout = 5 * time.Second
	// defaultPingInterval is how long a connection may be silent before
	// we send a ping; a peer silent for IdleFactor times this is dropped.
	defaultPingInterval = 15 * time.Second
	// IdleFactor: a peer silent for IdleFactor × PingInterval is dropped
	// (three missed pings, the usual keepalive budget).
	IdleFactor = 3
	// defaultCloseTimeout bounds the wait for the peer's close reply
	// after we sent a close frame (RFC 6455 §7.1.1, §5.5.1).
	defaultCloseTimeout = time.Second
	// DefaultQueueLen is how many datagrams per connection may wait for
	// the TCP side; more are dropped and counted, as a full UDP socket
	// buffer would. 256 covers four of STT's 64-datagram GSO bursts.
	DefaultQueueLen = 256
	// MaxQueueLen caps QueueLen: the queue is flushed with one writev,
	// and Linux's IOV_MAX is 1024.
	MaxQueueLen = 1024
	// DefaultMaxBuffered is how many bytes a server connection may hold
	// unsent on its TCP side before datagrams for it are dropped and
	// counted: 256 KiB is ~180 full-size datagrams, a few milliseconds at
	// the rates a WebSocket fallback sees, so queueing delay stays small.
	DefaultMaxBuffered = 256 << 10
	// DefaultLocalAddr is the Tunnel's node-facing UDP address.
	DefaultLocalAddr = "127.0.0.1:0"
)

// Implementation constants.
const (
	// maxRequestLen bounds the HTTP upgrade request or response (request
	// line plus headers). Real upgrade requests are a few hundred bytes;
	// browsers with cookies stay well under 4 KiB for a fresh path.
	maxRequestLen = 4096
	// udpSocketBuffer is SO_RCVBUF/SO_SNDBUF for the relay's UDP sockets:
	// STT flushes GSO trains of up to 64 datagrams at once, which overflow
	// the ~208 KiB Linux default. Linux caps it at net.core.rmem_max.
	udpSocketBuffer = 1 << 20
	// serverFrameRoom is the headroom in front of a datagram read on the
	// server: an unmasked server frame header is 2 bytes, or 4 with the
	// 16-bit length every payload up to MaxMaxMessage uses.
	serverFrameRoom = 4
	// clientFrameRoom is the same for the client: the header of a masked
	// frame with a 16-bit length is 8 bytes.
	clientFrameRoom = 8
	// writeBatch is how many queued frames the Tunnel writes per writev.
	writeBatch = 64
	// minTick and maxTick clamp the server's sweep interval (handshake
	// deadlines, pings, idle drops): an eighth of the shortest timeout.
	minTick = 5 * time.Millisecond
	maxTick = 250 * time.Millisecond
)

// populateShared applies the defaults and ranges of the fields
// ServerConfig and DialConfig share, so both ends of a link agree on them.
func populateShared(maxMessage, queueLen *int, handshake, ping, closeTimeout *time.Duration, logger **slog.Logger) {
	if *maxMessage <= 0 {
		*maxMessage = DefaultMaxMessage
	}
	*maxMessage = min(max(*maxMessage, MinMaxMessage), MaxMaxMessage)
	if *queueLen <= 0 {
		*queueLen = DefaultQueueLen
	}
	*queueLen = min(*queueLen, MaxQueueLen)
	for _, d := range []struct {
		v   *time.Duration
		def time.Duration
	}{{handshake, defaultHandshakeTimeout}, {ping, defaultPingInterval}, {closeTimeout, defaultCloseTimeout}} {
		if *d.v <= 0 {
			*d.v = d.def
		}
	}
	if *logger == nil {
		*logger = discardLogger
	}
}
