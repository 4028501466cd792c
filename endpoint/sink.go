package endpoint

import (
	"context"
	"io"
	"time"
)

// Sink is where an attached endpoint's items go: the Manager's writer
// goroutine for the endpoint calls Write once per item, in order, one at a
// time, then Close once when the endpoint closes. A session's stream fits
// as a Sink by sending each item as one message.
//
// Write delivers b, which is borrowed: the Manager shares it read-only with
// every other endpoint it was routed to, so Write must not modify it, and
// may keep it only if the router said the items are immutable. Write must
// return once ctx is done (ctx ends when the endpoint closes for any
// reason); a Sink that can block in a call that ignores ctx should also
// have a SetWriteDeadline(time.Time) error method, which the Manager calls
// with a time in the past when the endpoint closes (net.Conn and STT
// streams have one). An error from Write closes the endpoint with a
// *SinkError reason.
//
// Close releases the sink. It is called exactly once, after the last
// Write has returned, on the writer goroutine; its error is not reported.
type Sink interface {
	Write(ctx context.Context, b []byte) error
	Close() error
}

// SinkFunc adapts a function to a Sink whose Close does nothing. The
// function is called as Write and must honour ctx as Write must.
type SinkFunc func(ctx context.Context, b []byte) error

// Write calls f(ctx, b).
func (f SinkFunc) Write(ctx context.Context, b []byte) error { return f(ctx, b) }

// Close returns nil.
func (SinkFunc) Close() error { return nil }

// deadliner is implemented by sinks whose blocked Write a past deadline
// interrupts.
type deadliner interface {
	SetWriteDeadline(t time.Time) error
}

// WriterSink adapts an io.Writer to a Sink: each item is one w.Write call,
// so a message-oriented writer (a datagram socket) gets one item per
// message. Write checks ctx before writing; a blocked w.Write is
// interrupted only if w has SetWriteDeadline (which the returned Sink
// forwards). Close calls w.Close if w is an io.Closer. The Sink does not
// allocate.
func WriterSink(w io.Writer) Sink { return writerSink{w} }

type writerSink struct{ w io.Writer }

func (s writerSink) Write(ctx context.Context, b []byte) error {
	if ctx.Err() != nil {
		return context.Cause(ctx)
	}
	_, err := s.w.Write(b)
	return err
}

func (s writerSink) Close() error {
	if c, ok := s.w.(io.Closer); ok {
		return c.Close()
	}
	return nil
}

// SetWriteDeadline forwards to w's, if it has one.
func (s writerSink) SetWriteDeadline(t time.Time) error {
	if d, ok := s.w.(deadliner); ok {
		return d.SetWriteDeadline(t)
	}
	return nil
}
