// Package dataplane is STT's fast path: per-core loops that own the UDP
// sockets of a node's reuseport group, their shard of the session table, a
// timer wheel and a tx batch, and the stream layer that runs on them —
// packet receive (batch read, header parse, shard lookup, AEAD open in
// place, replay window, frames), reliable ordered streams with ACK ranges,
// RFC 9002 loss recovery, CUBIC with pacing, per-stream and per-session
// flow control, key rotation, keepalive and idle timers, and packetizing
// with in-place sealing and GSO batching. It does not perform handshakes
// (the control plane installs finished sessions through Engine.Install
// and receives HANDSHAKE datagrams through Config.OnHandshake, and this
// package never imports it) nor parse bytes itself (package wire does).
// Concurrency: Engine, Session and Stream methods are safe for concurrent
// use; all session state is owned by its loop goroutine and API goroutines
// reach it only through the loop's command ring and the stream buffers'
// own locks. Allocation: steady-state packet receive and send allocate
// nothing; a session allocates when it is installed, when a stream opens
// or first buffers data, and once per key rotation.
package dataplane
