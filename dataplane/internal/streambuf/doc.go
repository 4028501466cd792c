// Package streambuf holds the per-stream and per-session buffers of STT's
// data plane: Send (the application's write buffer plus the acknowledgement
// and retransmission state of every byte in flight), Recv (reassembly of
// out-of-order, duplicated and overlapping DATA frames into an ordered byte
// stream, with the final-size rules of RFC 9000 §4.5, and the skip ranges
// of latency-bounded streams), the flow-control windows SendWindow and
// RecvWindow with quic-go-style credit auto-tuning, the bounded Intervals
// set they track ranges with, and the varint length prefix that frames
// messages on a stream. It does not encode frames, run timers, detect loss
// or touch sockets: the session's loop feeds it frame offsets,
// acknowledgements, losses, `now` and the RTT as arguments, and it imports
// only the standard library and internal/monotime.
//
// Who uses it: the data plane only; as dataplane/internal/streambuf, Go's
// internal rule keeps every package outside dataplane from importing it.
// Its fuzz targets (FuzzReassembly, FuzzMessageHeader) live here, listed in
// the Makefile's FUZZ_PKG_TARGETS.
//
// Stability: an internal implementation package of dataplane with no
// compatibility promise.
//
// Concurrency: Send and Recv are each shared by one API goroutine and the
// loop, each behind its own mutex held only for short non-blocking critical
// sections, and wake the API side through a capacity-1 channel (Writable,
// Readable) rather than a goroutine per stream; SendWindow and RecvWindow
// belong to the loop (RecvWindow.OnConsumed excepted).
//
// Allocation: after warm-up Push, Read, Write, NextFrame, OnAcked and
// OnLost do not allocate, which TestNoAllocs guards.
//
// Ownership: Write and Push copy the bytes they are given; Read copies into
// the caller's slice. Memory is bounded by construction: a Recv stores
// nothing beyond the credit it advertised and never more out-of-order
// ranges than its gap limit, a Send never more than its limit, and both
// allocate their rings lazily and release them when the stream ends.
package streambuf
