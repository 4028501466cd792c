package stt

import (
	"context"
	"time"

	"github.com/stt-go/stt/dataplane"
	"github.com/stt-go/stt/endpoint"
)

// Stream is one ordered, reliable byte stream inside a Session: an
// io.ReadWriteCloser with deadlines, cancellation and message framing.
//
// Read and Write may be called from different goroutines at once; two
// concurrent Reads (or two Writes) are not meaningful and not supported,
// except SendMessage, which serialises whole messages. Errors returned:
// ErrClosed (matches net.ErrClosed) after Close or CloseWrite, or the
// session's *SessionError once it closed; *StreamError after either side
// reset the stream (CancelWrite, or CancelRead, which makes the peer reset);
// ErrDeadline (a net.Error timeout unwrapping to os.ErrDeadlineExceeded)
// when a deadline passes; io.EOF from Read at the end of the peer's data;
// ErrMessageTooLarge from the message methods.
//
// A stream holds one of the session's stream slots until both directions
// are finished: this side's when everything written (and the end of
// stream) is acknowledged or it was reset, the peer's when its data has
// been read to the end, it was reset, or reading was cancelled. The usual
// ways are Close after reading to io.EOF, CloseWrite then reading to
// io.EOF, or Close/CancelRead when the rest of the peer's data is not
// wanted. State tells where a stream is.
type Stream struct {
	st   *dataplane.Stream
	sess *Session
}

// streamOf returns the root handle of a data-plane stream.
func streamOf(st *dataplane.Stream) *Stream { return st.Handle().(*Stream) }

// ID returns the stream's ID: odd when the session's initiator opened it,
// even when the responder did.
func (st *Stream) ID() StreamID { return st.st.ID() }

// Session returns the session the stream belongs to.
func (st *Stream) Session() *Session { return st.sess }

// State returns the stream's lifecycle state: Created (opened, the peer not
// yet told), Open, Closing (a direction ended; the slot is still held) or
// Closed (both directions finished and the slot released, or the session
// closed).
func (st *Stream) State() StreamState { return st.st.State() }

// Read reads in-order stream bytes into p. It blocks until at least one
// byte is available, the peer's data ends (io.EOF), the stream is reset
// (*StreamError), the read deadline passes (ErrDeadline) or the session
// closes (its error; bytes that arrived before stay readable first).
func (st *Stream) Read(p []byte) (int, error) { return st.st.Read(p) }

// Write writes p to the stream. It blocks until every byte is buffered for
// sending (the stream buffers up to Config.SendBuffer of unacknowledged
// bytes), the write deadline passes (ErrDeadline, with n bytes written),
// the stream is reset (*StreamError: the peer asked to stop, or ErrClosed
// after CancelWrite), or the session closes. Data written is delivered
// reliably and in order unless the stream is reset or the session closes
// first.
func (st *Stream) Write(p []byte) (int, error) { return st.st.Write(p) }

// CloseWrite ends the sending direction: the peer reads io.EOF after the
// bytes already written, which are still delivered reliably. Further
// Writes return ErrClosed. Reading continues.
func (st *Stream) CloseWrite() error { return st.st.CloseWrite() }

// Close closes the sending direction like CloseWrite and stops reading:
// buffered unread data is discarded and, unless the peer's data was already
// read to the end, the peer is asked to stop sending. It does not wait for
// delivery; the session keeps retransmitting until the peer has
// acknowledged every byte (Session.Close waits for that).
func (st *Stream) Close() error { return st.st.Close() }

// CancelWrite abandons the sending direction: data not yet acknowledged is
// dropped and the peer's reads fail with a *StreamError carrying code.
func (st *Stream) CancelWrite(code uint64) { st.st.CancelWrite(code) }

// CancelRead abandons the receiving direction: buffered data is dropped,
// further data is discarded, and the peer is asked (STOP_SENDING) to stop
// with code, so its Writes fail with a *StreamError. Reads return
// ErrClosed.
func (st *Stream) CancelRead(code uint64) { st.st.CancelRead(code) }

// SetDeadline sets both the read and write deadlines.
func (st *Stream) SetDeadline(t time.Time) error { return st.st.SetDeadline(t) }

// SetReadDeadline sets the deadline for Read and ReceiveMessage; the zero
// time means none. A deadline in the past makes blocked reads return
// ErrDeadline at once.
func (st *Stream) SetReadDeadline(t time.Time) error { return st.st.SetReadDeadline(t) }

// SetWriteDeadline sets the deadline for Write and SendMessage; the zero
// time means none.
func (st *Stream) SetWriteDeadline(t time.Time) error { return st.st.SetWriteDeadline(t) }

// SendMessage writes msg as one message: a varint length prefix and the
// bytes (docs/PROTOCOL.md §Messages), never interleaved with another
// SendMessage on this stream. It returns ErrMessageTooLarge above
// Config.MaxMessageSize. It waits for buffer space until ctx ends or the
// write deadline passes; if that happens part-way, the stream is reset (a
// partial message cannot be taken back) and ctx.Err() or ErrDeadline is
// returned.
func (st *Stream) SendMessage(ctx context.Context, msg []byte) error {
	return st.st.SendMessage(ctx, msg)
}

// ReceiveMessage reads one whole message written by the peer's
// SendMessage. The returned slice is newly allocated and owned by the
// caller. It returns ErrMessageTooLarge (and stops reading the stream) for
// a message over Config.MaxMessageSize, io.EOF at a clean end of stream,
// io.ErrUnexpectedEOF if the stream ends inside a message, ErrDeadline when
// the read deadline passes and ctx.Err() when ctx ends first. On a
// latency-bounded stream it returns a *SkippedError when the sender gave
// up on messages; the next call returns the message after them.
func (st *Stream) ReceiveMessage(ctx context.Context) ([]byte, error) {
	return st.st.ReceiveMessage(ctx)
}

// Sink returns the stream as an endpoint.Sink, so an endpoint.Manager can
// route items to a peer (live fan-out: one endpoint per viewer, each with
// its own bounded queue and slow-viewer policy): each item is sent as one
// message (SendMessage), Close closes the stream, and the Manager's
// SetWriteDeadline unblocks a Write when the endpoint closes. The peer
// reads the items with ReceiveMessage.
func (st *Stream) Sink() endpoint.Sink { return streamSink{st} }

type streamSink struct{ st *Stream }

func (s streamSink) Write(ctx context.Context, b []byte) error { return s.st.SendMessage(ctx, b) }
func (s streamSink) Close() error                              { return s.st.Close() }
func (s streamSink) SetWriteDeadline(t time.Time) error        { return s.st.SetWriteDeadline(t) }
