package stt

import (
	"context"
	"net/netip"
	"sync"
	"time"

	"github.com/stt-go/stt/dataplane"
)

// Session is an established, encrypted connection to one peer: the seed's
// session, carrying any number of Streams and application frames. Get one
// from Node.Connect (this side dialled), Node.Accept (the peer did), or
// Packet.Session. All methods are safe for concurrent use.
//
// A session goes Handshake → Active → Closing → Closed (State). It ends
// with Close (graceful: what was written is delivered first), CloseWithError
// (at once, with an application code), the peer's close, the idle timeout
// (nothing heard for Config.IdleTimeout), an unresponsive peer (data in
// flight and no acknowledgement for Config.MaxProbes probe timeouts), or
// Node.Stop. Err then returns a *SessionError saying which; it unwraps to
// ErrClosed (and net.ErrClosed), and timeouts are net.Error timeouts.
type Session struct {
	s *dataplane.Session
	n *Node

	ctxOnce sync.Once
	ctx     context.Context
	cancel  context.CancelCauseFunc
}

// sessionOf returns the root handle of a data-plane session (built by the
// engine's SessionHandle hook when the session was created).
func sessionOf(s *dataplane.Session) *Session {
	if s == nil {
		return nil
	}
	return s.Handle().(*Session)
}

// ID returns the session ID: the XOR of both handshake nonces and node IDs
// (first 8 bytes), identical on both ends.
func (s *Session) ID() SessionID { return s.s.ID() }

// PeerID returns the authenticated node ID of the peer.
func (s *Session) PeerID() NodeID { return s.s.PeerID() }

// Initiator reports whether this side dialled the session.
func (s *Session) Initiator() bool { return s.s.Initiator() }

// RemoteAddr returns the peer's current UDP address. It changes when the
// peer's address changes (NAT rebinding) and a packet from the new address
// authenticates.
func (s *Session) RemoteAddr() netip.AddrPort { return s.s.RemoteAddr() }

// State returns the session's lifecycle state.
func (s *Session) State() SessionState { return s.s.State() }

// Done returns a channel that is closed when the session is closed.
func (s *Session) Done() <-chan struct{} { return s.s.Done() }

// Err returns why the session closed (a *SessionError), or nil while it is
// open.
func (s *Session) Err() error { return s.s.Err() }

// Context returns a context that is cancelled when the session closes,
// with the session's error (Err) as its cause (context.Cause).
func (s *Session) Context() context.Context {
	s.ctxOnce.Do(func() {
		s.ctx, s.cancel = context.WithCancelCause(context.Background())
		if s.s.State() == SessionClosed {
			s.cancel(s.s.Err())
		}
	})
	return s.ctx
}

// closed is called once the data plane has closed the session.
func (s *Session) closed() {
	s.ctxOnce.Do(func() {}) // a later Context() sees Closed and cancels itself
	if s.cancel != nil {
		s.cancel(s.s.Err())
	}
}

// Stats returns a snapshot of the session's counters.
func (s *Session) Stats() SessionStats { return s.s.Stats() }

// OpenStream opens a new stream and announces it to the peer, whose
// AcceptStream (or Node.Receive) then returns it even before this side
// writes. It blocks while the peer's limit on concurrent streams
// (Config.MaxStreams on its side) is reached, until a stream ends, ctx ends
// (an error matching both ErrStreamLimit and ctx.Err()) or the session
// closes (its error).
func (s *Session) OpenStream(ctx context.Context) (*Stream, error) {
	return s.OpenStreamWith(ctx, StreamOptions{})
}

// StreamOptions configures a stream opened with OpenStreamWith.
type StreamOptions struct {
	// Deadline, when positive, makes the stream latency-bounded: the
	// delivery mode of live media (SRT's latency window, RTP's playout
	// deadline). Every message written with SendMessage must be delivered
	// within Deadline of being written; a message that is not — because
	// the path lost it and its retransmission would come too late, or
	// because the sender queued more than the path carries — is abandoned:
	// the sender stops (re)transmitting it and tells the receiver, whose
	// ReceiveMessage returns a *SkippedError saying how many messages it
	// will never see, then continues with the next whole one. Messages are
	// delivered whole and in order, or reported missing: never in part,
	// never silently. Write is refused on such a stream (ErrMessagesOnly).
	// The receiver needs no option. Zero: an ordinary reliable stream.
	Deadline time.Duration
}

// OpenStreamWith is OpenStream with options (a latency-bounded stream).
func (s *Session) OpenStreamWith(ctx context.Context, opts StreamOptions) (*Stream, error) {
	ds, err := s.s.OpenStreamWith(ctx, dataplane.StreamOptions{Deadline: opts.Deadline})
	if err != nil {
		return nil, err
	}
	st := streamOf(ds)
	s.n.emit(EventStreamOpened, &StreamOpenedEvent{Session: s, Stream: st})
	return st, nil
}

// AcceptStream returns the next stream the peer opened, blocking until one
// arrives, ctx ends (ctx.Err()) or the session closes (its error). Streams
// queue until accepted; at most the limit this side advertises
// (Config.MaxStreams) are open at once. It fails with ErrReceiveMode when
// the node is in Node.Receive mode.
func (s *Session) AcceptStream(ctx context.Context) (*Stream, error) {
	if s.n.mode.Load() == modeReceive {
		return nil, ErrReceiveMode
	}
	s.n.mode.CompareAndSwap(modeUnset, modeAccept)
	if s.n.mode.Load() == modeReceive {
		return nil, ErrReceiveMode
	}
	st, err := s.s.AcceptStream(ctx)
	if err != nil {
		return nil, err
	}
	return streamOf(st), nil
}

// Close closes the session gracefully: it waits until the peer has
// acknowledged everything written to every stream (bounded by the idle
// timeout), then sends CLOSE and returns. The session lingers in Closing
// for three probe timeouts, repeating CLOSE so that a peer on a lossy path
// hears it, then is Closed. Close on a closed session returns nil.
func (s *Session) Close() error { return s.s.Close() }

// CloseContext is Close bounded by ctx: when ctx ends before the drain
// completes, the session is closed at once (unacknowledged data is lost).
func (s *Session) CloseContext(ctx context.Context) error { return s.s.CloseContext(ctx) }

// CloseWithError closes the session at once with an application code and
// reason (truncated to 1024 bytes) that the peer sees in its
// *SessionError; data not yet acknowledged is discarded.
func (s *Session) CloseWithError(code uint64, reason string) { s.s.CloseWithError(code, reason) }

// MaxFramePayload returns the largest payload SendFrame accepts on this
// session: what fits one packet with the frame's type and length.
func (s *Session) MaxFramePayload() int { return s.s.MaxFramePayload() }

// SendFrame sends one application frame (type 0x80-0xFF) to the peer's
// FrameDispatcher. The payload is copied. Application frames are
// datagrams: encrypted and authenticated like everything else, each in one
// packet, delivered at most once and possibly out of order, and not
// retransmitted if lost — build reliability on a stream if you need it.
// Errors: ErrReservedFrameType, ErrFrameTooLarge, ErrFrameQueueFull (too
// many frames wait to be sent), and the session's error once it is closed.
func (s *Session) SendFrame(typ byte, payload []byte) error { return s.s.SendFrame(typ, payload) }
