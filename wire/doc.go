// Package wire holds STT's pure codecs: the canonical varint, the 16-byte
// packet header, and the frames carried inside a transport packet's AEAD
// payload (PADDING, DATA, CONTROL, STREAM_CONTROL and the application frames
// 0x80-0xFF), plus the handshake message codecs, all specified byte for byte
// in docs/PROTOCOL.md and docs/HANDSHAKE.md, whose test vectors this package
// checks. It does no I/O, no encryption and no protocol state: it neither
// sends, retransmits nor judges whether a well-formed frame is acceptable at
// this point of a session, which is the data plane's and control plane's
// job.
//
// Who uses it: the data plane and control plane, the socket layer's
// steering rule (SessionID.Loop), stt conformance and the fuzz targets.
//
// Stability: the encodings are protocol v1 and do not change; the Go API
// follows them and may grow with new frames.
//
// Errors: parsers accept exactly one encoding of every value (canonical
// varints, zero reserved bits), so anything they accept re-encodes to the
// same bytes; they never panic on input and report failures as *ParseError
// values that wrap ErrMalformed, ErrTooLarge, ErrUnknownFrame or
// io.ErrUnexpectedEOF.
//
// Concurrency: values are plain data with no internal synchronisation: a
// value may be read from many goroutines but must not be written
// concurrently, and all functions are safe for concurrent use.
//
// Allocation: parsing, and appending into a slice with enough capacity, do
// not allocate.
//
// Ownership: parsed byte fields are views into the caller's buffer, valid
// as long as it is.
package wire
