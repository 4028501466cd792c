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
// package writes the WebSocket protocol itself: the HTTP/1.1 upgrade, and
// a frame codec (ParseHeader, ParseFrame, AppendFrame, Mask, ParseClose)
// that is pure, fuzzed and allocation-free on success. It deliberately does
// not do permessage-deflate or other extensions, text messages (refused
// with 1003), HTTP proxies (CONNECT), Origin checks, or TLS on the server
// (terminate wss:// in front of it; the client speaks wss:// with
// crypto/tls); fragmented messages are reassembled within MaxMessage.
// Everything a peer can make it hold is bounded: a frame header is checked
// against MaxMessage before its payload is read, outbound datagrams wait in
// a queue of QueueLen and are dropped (and counted) beyond it or beyond
// MaxBuffered unsent TCP bytes, connections are capped by MaxConns, and
// handshakes, silent peers and close replies have timeouts. Server and
// Tunnel are safe for concurrent use and stop every goroutine they start
// on Close; in steady state the relay allocates nothing per datagram (each
// batch of datagrams costs gnet one small task and iovec allocation).
package ws
