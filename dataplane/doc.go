// Package dataplane is STT's fast path: per-core loops that own the UDP
// sockets of a node's reuseport group, their shard of the session table, a
// timer wheel and a tx batch, and the stream layer that runs on them —
// packet receive (batch read, header parse, shard lookup, AEAD open in
// place, replay window, whole-packet validation, frames), reliable ordered
// streams with ACK ranges, RFC 9002 loss recovery, BBRv3 (or CUBIC) with
// pacing, path MTU discovery, per-stream and per-session flow control, key
// rotation, keepalive, idle and unresponsive-peer timers, migration and
// stateless reset, and packetizing with in-place sealing and GSO batching.
// It does not perform handshakes (the control plane installs finished
// sessions through Engine.Install and receives HANDSHAKE datagrams through
// Config.OnHandshake, and this package never imports it) nor parse bytes
// itself (package wire does).
//
// Who uses it: the root package, which wraps Session and Stream in its own
// documented types; tests and the benchmarks drive it directly.
//
// Stability: an implementation package with no compatibility promise.
// Applications use package stt.
//
// Concurrency: Engine, Session and Stream methods are safe for concurrent
// use. Every field of Session sits under an "Owner:" comment: immutable
// after publication; shared (atomics and channels the loop writes and any
// goroutine reads); api.mu (the API goroutines' state, which the loop locks
// only off the per-packet path); and the loop (everything on the packet
// path, reached by API goroutines only through the loop's command ring),
// whose hot state hangs from Session.hot, nil while the session hibernates.
// The stream buffers guard themselves.
//
// Allocation: steady-state packet receive and send allocate nothing
// (TestNoAllocs); a session allocates when it is installed, when a stream
// opens or first buffers data, and once per key rotation.
//
// Ownership: rx buffers come from the loop's pool and return to it once a
// packet's frames are handled; packets are sealed in place in the loop's tx
// slab; application bytes are copied into and out of the stream buffers, so
// no caller slice is retained after a call returns.
package dataplane
