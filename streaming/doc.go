// Package streaming is STT's agnostic stream encoder and decoder (the
// seed's BinaryStreamEncoder and BinaryStreamDecoder). An [Encoder] reads
// any io.Reader, in live mode (unknown size, a segment leaves as soon as
// bytes arrive) or bounded mode (known size, checked), cuts it into
// MTU-sized segments and seals each under an stc.StreamContext with its
// sequence number. A [Decoder] takes sealed segments in any order, rejects
// duplicates, forgeries and out-of-window numbers with sentinel errors,
// buffers within a byte budget, and hands back the bytes in order through
// ReceiveAll or an io.Reader. It never interprets the bytes, never
// retransmits and never asks for missing segments.
//
// Who uses it: code that moves one application stream — a video feed, a
// file — over a carrier of its choice and wants it sealed end to end under
// a key of its own. [Encoder.CopyTo] pumps a source onto any io.Writer (an
// STT stream, a file, a socket) as self-delimiting records, one Write per
// record, and [Decoder.CopyFrom] reads such records back from an
// io.Reader, waiting for the application's reader rather than exceeding
// the byte budget. For other carriers (datagrams, a fan-out router) the
// record codec is exported: [Segment.AppendRecord] and [ParseRecord].
//
// Stability: one of the seed's primitives, a building block with a stable
// API; new options may be added.
//
// Concurrency: an Encoder belongs to one goroutine. A Decoder is safe for
// concurrent use — any number of goroutines may call Receive (or one may
// run CopyFrom) while one reads — guarded by one mutex with a condition
// variable.
//
// Allocation: Encoder.NextInto, CopyTo per segment, and the in-order
// Decoder.Receive plus Reader path do not allocate in steady state
// (segment buffers are recycled); Next and out-of-order buffering allocate
// one slice per segment; CopyTo and CopyFrom allocate one buffer per call.
//
// Ownership: Next returns segments the caller owns; NextInto seals into
// the caller's buffer; ParseRecord returns views into its input. The
// Decoder copies what it keeps (the plaintext goes to buffers of its own),
// so a segment passed to Receive may be reused at once. CopyTo writes from
// a buffer it reuses, which w must not retain.
package streaming
