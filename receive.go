package stt

import (
	"context"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"
	"sync/atomic"

	"github.com/stt-go/stt/dataplane"
	"github.com/stt-go/stt/wire"
)

// Packet is one whole message delivered by Node.Receive: the seed's
// node.receive() view of incoming data.
type Packet struct {
	SessionID SessionID
	StreamID  StreamID
	// Session is the session the message arrived on (for replies).
	Session *Session
	// Data is the message; the caller owns it.
	Data []byte
}

// Receive returns the next message any peer sent with SendMessage on any
// stream, in arrival order (each stream's order is kept). The first call
// switches the node into receive mode: from then on every stream a peer
// opens, on every session — accepted or dialled, including streams and
// sessions that arrived before this first call and were not yet taken by
// Accept or AcceptStream — is read by the node, each stream until its end,
// after which the node closes it (so its slot returns to the peer).
// Accept and AcceptStream then fail with ErrReceiveMode, and Receive
// does the same if Accept was called first. Messages wait in a queue of
// 1024; a stream whose messages are not taken waits (back-pressure to its
// sender through flow control), nothing is dropped.
func (n *Node) Receive(ctx context.Context) (Packet, error) {
	if n.State() < NodeRunning {
		return Packet{}, ErrNotStarted
	}
	if n.mode.CompareAndSwap(modeUnset, modeReceive) {
		n.takeOverStreams()
	} else if n.mode.Load() != modeReceive {
		return Packet{}, ErrReceiveMode
	}
	select {
	case p := <-n.packets:
		return p, nil
	case <-n.stopping:
		return Packet{}, ErrClosed
	case <-ctx.Done():
		return Packet{}, ctx.Err()
	}
}

// takeOverStreams runs once, when Receive switches the node into receive
// mode: every session known so far hands its queued and future streams to
// the node's readers. Sessions installed concurrently are covered either
// here or by receiveOn in their install hook, which checks the mode after
// registering the session (see onAccept).
func (n *Node) takeOverStreams() {
	for drained := false; !drained; {
		select {
		case <-n.acceptQ: // a session Accept will never take; it is in n.sessions
		default:
			drained = true
		}
	}
	for _, s := range n.Sessions() {
		n.receiveOn(s)
	}
}

// receiveOn makes the node read every peer-opened stream of s.
func (n *Node) receiveOn(s *Session) {
	s.s.HandleStreams(func(st *dataplane.Stream) { n.startReceiveStream(s, streamOf(st)) })
}

// startReceiveStream starts the reader of one stream, unless the node is
// stopping (then the stream is abandoned).
func (n *Node) startReceiveStream(s *Session, st *Stream) {
	n.recvMu.Lock()
	defer n.recvMu.Unlock()
	if n.recvStopped {
		st.CancelRead(dataplane.CodeNodeStopping)
		return
	}
	n.recvWG.Add(1)
	go n.receiveStream(s, st)
}

// receiveStream reads messages from one stream until it ends, then closes
// the stream so its slot is released on both ends.
func (n *Node) receiveStream(s *Session, st *Stream) {
	defer n.recvWG.Done()
	defer st.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-n.stopping:
		case <-s.Done():
		case <-ctx.Done():
		}
		cancel()
	}()
	for {
		msg, err := st.ReceiveMessage(ctx)
		if err != nil {
			return
		}
		select {
		case n.packets <- Packet{SessionID: s.ID(), StreamID: st.ID(), Session: s, Data: msg}:
		case <-ctx.Done():
			return
		}
	}
}

// FrameHandler handles one application frame. payload is borrowed: valid
// only during the call (copy to keep). Handlers run one at a time, in
// arrival order, on the node's dispatcher goroutine — never on a loop — so
// a slow handler delays other frames, not packets; a panic in a handler is
// recovered, counted (NodeStats.FrameHandlerPanics) and logged at Error,
// and the node carries on.
type FrameHandler func(s *Session, payload []byte)

// FrameQueueLen is how many application frames wait for their handlers:
// when a handler falls this far behind, frames are dropped and counted
// (NodeStats.FramesDropped) instead of slowing the data plane.
const FrameQueueLen = 1024

// FrameDispatcher routes application frame types 0x80-0xFF to handlers:
// the seed's FrameDispatcher. Registering 0x00-0x7F is an error; frames of
// an unregistered custom type are counted (SessionStats.DropsCustomUnregistered)
// and dropped, never a crash. Safe for concurrent use.
type FrameDispatcher struct {
	mu       sync.RWMutex // protects handlers
	handlers [128]FrameHandler

	queue   chan customFrame // to run; bounded by FrameQueueLen
	dropped atomic.Uint64    // frames dropped: queue full
	panics  atomic.Uint64    // handler panics recovered
	log     *slog.Logger
	done    chan struct{}
}

// customFrame is one frame waiting for its handler: a copy of the payload
// in a pooled buffer.
type customFrame struct {
	s   *Session
	h   FrameHandler
	typ byte
	buf *[]byte
}

// framePool recycles payload copies (a frame fits one datagram).
var framePool = sync.Pool{New: func() any { b := make([]byte, 0, 2048); return &b }}

// Register sets the handler for typ (0x80-0xFF), replacing any previous one.
func (d *FrameDispatcher) Register(typ byte, h FrameHandler) error {
	if typ < byte(wire.FrameCustomMin) {
		return ErrReservedFrameType
	}
	d.mu.Lock()
	d.handlers[typ-byte(wire.FrameCustomMin)] = h
	d.mu.Unlock()
	return nil
}

// Unregister removes the handler for typ.
func (d *FrameDispatcher) Unregister(typ byte) {
	if typ < byte(wire.FrameCustomMin) {
		return
	}
	d.mu.Lock()
	d.handlers[typ-byte(wire.FrameCustomMin)] = nil
	d.mu.Unlock()
}

// start launches the dispatcher goroutine (Node.Start).
func (d *FrameDispatcher) start(log *slog.Logger) {
	d.queue = make(chan customFrame, FrameQueueLen)
	d.done = make(chan struct{})
	d.log = log
	go d.run()
}

// stop ends the dispatcher goroutine once the loops, which feed it, are
// gone (Node.Stop): queued frames are still handled, and stop waits for
// that until ctx ends (a handler that never returns keeps its goroutine).
func (d *FrameDispatcher) stop(ctx context.Context) {
	if d.queue == nil {
		return
	}
	close(d.queue)
	select {
	case <-d.done:
	case <-ctx.Done():
	}
}

// dispatch is the data plane's OnCustomFrame hook, on a loop goroutine: it
// copies the payload and queues it, never waiting.
func (d *FrameDispatcher) dispatch(ds *dataplane.Session, typ byte, payload []byte) bool {
	if typ < byte(wire.FrameCustomMin) {
		return false
	}
	d.mu.RLock()
	h := d.handlers[typ-byte(wire.FrameCustomMin)]
	d.mu.RUnlock()
	if h == nil {
		return false
	}
	buf := framePool.Get().(*[]byte)
	*buf = append((*buf)[:0], payload...)
	select {
	case d.queue <- customFrame{s: sessionOf(ds), h: h, typ: typ, buf: buf}:
	default:
		framePool.Put(buf)
		d.dropped.Add(1)
	}
	return true
}

// run calls handlers in arrival order.
func (d *FrameDispatcher) run() {
	defer close(d.done)
	for f := range d.queue {
		d.call(f)
		framePool.Put(f.buf)
	}
}

// call runs one handler, recovering a panic.
func (d *FrameDispatcher) call(f customFrame) {
	defer func() {
		if r := recover(); r != nil {
			d.panics.Add(1)
			if d.log != nil {
				d.log.Error("stt: application frame handler panicked; the frame is dropped, the node carries on",
					"type", fmt.Sprintf("%#x", f.typ), "session", f.s.ID(), "panic", r, "stack", string(debug.Stack()))
			}
		}
	}()
	f.h(f.s, *f.buf)
}
