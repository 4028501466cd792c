package endpoint

import (
	"errors"
	"fmt"
	"net"
)

// Queue defaults and limits.
const (
	// DefaultQueueLen is the default capacity of an endpoint's queue, in
	// items: 1024 slices, about one second of a 10 Mbit/s stream in
	// 1200-byte segments, enough to ride out a consumer's scheduling
	// hiccup.
	DefaultQueueLen = 1024
	// MaxQueueLen caps a queue's capacity, in items: 1<<20 slice headers
	// are 24 MiB of ring before any payload, the most one endpoint may
	// reserve.
	MaxQueueLen = 1 << 20
	// DefaultQueueBytes is the default byte budget of an endpoint's queue:
	// 4 MiB, about 1.6 s of a 20 Mbit/s live stream, so a viewer that
	// stalls for a second loses nothing while a stalled one costs the
	// source at most this much.
	DefaultQueueBytes = 4 << 20
	// MaxQueueBytes caps a queue's byte budget: 1 GiB.
	MaxQueueBytes = 1 << 30
	// minRing is the ring's first allocation, in items; it doubles up to
	// the queue's capacity as the queue fills.
	minRing = 16
)

// Policy says what an endpoint does when an item does not fit its queue
// (QueueLen items or QueueBytes bytes).
type Policy uint8

const (
	// Block makes Route wait for room (until its context ends) and
	// TryRoute fail with ErrQueueFull: nothing is lost, and the endpoint
	// paces whoever routes to it. It is the zero Policy. In a Broadcast a
	// Block endpoint delays the endpoints after it; fan-out to consumers
	// that must not slow the source uses DropOldest or Disconnect.
	Block Policy = iota
	// DropOldest discards the oldest queued items until the new one fits,
	// counting them in Stats.Dropped: a live viewer that falls behind
	// skips ahead instead of drifting further behind.
	DropOldest
	// Disconnect closes the endpoint with reason ErrSlow: its queue is
	// discarded (counted in Stats.Dropped), its Sink closed, and it is
	// removed from the Manager.
	Disconnect
)

// String returns "block", "drop-oldest", "disconnect" or "Policy(N)".
func (p Policy) String() string {
	switch p {
	case Block:
		return "block"
	case DropOldest:
		return "drop-oldest"
	case Disconnect:
		return "disconnect"
	}
	return fmt.Sprintf("Policy(%d)", uint8(p))
}

// Errors returned by the Manager, checked with errors.Is; they are
// wrapped with the endpoint's name.
var (
	// ErrUnknownEndpoint is returned for a name that is not open: never
	// opened, closed with Close, or closed by the Manager (see
	// Options.OnDisconnect).
	ErrUnknownEndpoint = errors.New("endpoint: unknown endpoint")
	// ErrExists is returned by Open and Attach for a name that is already
	// open.
	ErrExists = errors.New("endpoint: endpoint already open")
	// ErrQueueFull is returned by TryRoute when a Block endpoint's queue
	// is full. Retry later or use Route to wait.
	ErrQueueFull = errors.New("endpoint: queue full")
	// ErrTooLarge is returned by Route and TryRoute for an item larger
	// than the endpoint's QueueBytes, which could never be queued. The
	// item is counted in Stats.Dropped.
	ErrTooLarge = errors.New("endpoint: item larger than the queue's byte budget")
	// ErrInvalidOptions is returned by Open and Attach for options out of
	// range or a nil Sink.
	ErrInvalidOptions = errors.New("endpoint: invalid options")
	// ErrHasSink is returned by Receive for an endpoint created with
	// Attach: its writer goroutine is its only consumer.
	ErrHasSink = errors.New("endpoint: endpoint has a Sink")
	// ErrSlow is the reason a Disconnect endpoint is closed when an item
	// does not fit its queue.
	ErrSlow = errors.New("endpoint: consumer too slow, disconnected by policy")
	// ErrClosed matches every *ClosedError, and net.ErrClosed; Open and
	// Attach return it after CloseAll.
	ErrClosed error = closedError{}
)

type closedError struct{}

func (closedError) Error() string { return "endpoint: closed" }
func (closedError) Unwrap() error { return net.ErrClosed }

// ClosedError is returned by Route, TryRoute, Receive and Flush for an
// endpoint that has closed. errors.Is(err, ErrClosed) and
// errors.Is(err, net.ErrClosed) hold for every ClosedError, and Reason is
// unwrapped, so errors.Is(err, ErrSlow) tells a policy disconnect.
type ClosedError struct {
	Endpoint string
	// Reason is why the endpoint closed: nil for Close or CloseAll,
	// ErrSlow for a Disconnect policy, a *SinkError for a failed Write,
	// or the cause of the context given to Attach.
	Reason error
}

// Error returns `endpoint "name" closed` and the reason, if any.
func (e *ClosedError) Error() string {
	if e.Reason == nil {
		return fmt.Sprintf("endpoint %q closed", e.Endpoint)
	}
	return fmt.Sprintf("endpoint %q closed: %v", e.Endpoint, e.Reason)
}

// Is reports whether target is ErrClosed or net.ErrClosed.
func (e *ClosedError) Is(target error) bool { return target == ErrClosed || target == net.ErrClosed }

// Unwrap returns Reason.
func (e *ClosedError) Unwrap() error { return e.Reason }

// SinkError is the reason an endpoint closes when its Sink's Write fails.
type SinkError struct {
	Err error // what Write returned
}

// Error returns "endpoint: sink write: <err>".
func (e *SinkError) Error() string { return "endpoint: sink write: " + e.Err.Error() }

// Unwrap returns Err.
func (e *SinkError) Unwrap() error { return e.Err }
