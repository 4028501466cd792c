// Package ws is STT's WebSocket fallback transport, for networks where UDP
// is blocked but HTTP(S) gets through: a relay pair that carries STT
// datagrams, already end-to-end encrypted and authenticated, as binary
// WebSocket messages (RFC 6455, subprotocol "stt"), one datagram per
// message, without looking inside them and without any change to the
// engine. On the client side a Tunnel (Dial) gives the local node a UDP
// address to Connect to and relays over one WebSocket connection; on the
// server side a Server (a gnet event loop) accepts WebSocket connections on
// TCP and opens, for each, a UDP socket connected to the STT node, which
// so sees one distinct peer address per client, as behind a NAT. The
// package writes the WebSocket protocol itself, the HTTP/1.1 upgrade and a
// frame codec that is pure, fuzzed (FuzzFrame) and allocation-free on
// success, and keeps both unexported. It deliberately does not do
// permessage-deflate or other extensions, text messages (refused with
// 1003), HTTP proxies (CONNECT), Origin checks, or TLS on the server
// (terminate wss:// in front of it; the client speaks wss:// with
// crypto/tls); fragmented messages are reassembled within MaxMessage.
//
// Who uses it: the stt command (`stt listen --ws` runs a Server next to
// the node; `stt send --via` and `stt bench --via` dial a Tunnel) and its
// Prometheus adapter, cmd/stt/internal/metrics, which reads ServerStats
// and TunnelStats. Programs that embed STT use it the same way: Dial a
// Tunnel and Connect the node to Tunnel.Addr, or run a Server with
// ServerConfig.Target set to the node's address.
//
// Stability: a building block with a stable API: Server, Dial and Tunnel
// with their configs and stats, the errors (ErrClosed, ErrHandshakeTimeout,
// ErrIdleTimeout, ErrCloseTimeout, *HandshakeError, *CloseError,
// *ProtocolError), the close codes a caller branches on and the defaults
// the config fields name; new config fields and counters may be added.
// The wire format is RFC 6455 and does not change.
//
// Limits: everything a peer can make it hold is bounded. A frame header is
// checked against MaxMessage before its payload is read; outbound
// datagrams wait in a queue of QueueLen and are dropped (and counted)
// beyond it or beyond MaxBuffered unsent TCP bytes; connections are capped
// by MaxConns; handshakes, silent peers and close replies have timeouts.
//
// Concurrency: Server and Tunnel methods are safe for concurrent use, and
// both have stopped every goroutine they started when Close returns. A
// server connection's state is owned by its gnet event loop; a Tunnel runs
// four goroutines named by role (see Tunnel).
//
// Allocation: in steady state the relay allocates nothing per datagram
// (each batch of datagrams costs gnet one small task and iovec
// allocation); Dial, NewServer and each new connection allocate their
// buffers and sockets.
//
// Ownership: no datagram crosses the API; the package reads them from its
// own sockets into its own pooled buffers. NewServer and Dial copy their
// config (Dial clones TLSConfig), Stats returns a copy, and errors are
// values the caller may keep.
package ws
