// Package streaming is STT's agnostic stream encoder and decoder (the seed's
// BinaryStreamEncoder and BinaryStreamDecoder): an [Encoder] reads any
// io.Reader, in live mode (unknown size, a segment leaves as soon as bytes
// arrive) or bounded mode (known size, checked), cuts it into MTU-sized
// segments and seals each under an stc.StreamContext with its sequence
// number; a [Decoder] takes sealed segments in any order, rejects
// duplicates, forgeries and out-of-window numbers with sentinel errors,
// buffers within a byte limit, and hands back the bytes in order through
// ReceiveAll or an io.Reader. It never interprets the bytes, never sends or
// retransmits anything (the caller moves segments over whatever carrier it
// likes, typically an STT stream or datagram) and never asks for missing
// segments. Allocation: Encoder.NextInto and the in-order Decoder.Receive
// plus Reader path do not allocate in steady state (segment buffers are
// recycled); Next and out-of-order buffering allocate one slice per segment.
// Concurrency: an Encoder belongs to one goroutine; a Decoder is safe for
// concurrent use (Receive from many goroutines while one reads), guarded by
// one mutex with a condition variable.
package streaming
