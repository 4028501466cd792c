package stt

import (
	"context"
	"sync"

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
// only during the call (copy to keep). It runs on the session's loop
// goroutine and must not block.
type FrameHandler func(s *Session, payload []byte)

// FrameDispatcher routes application frame types 0x80-0xFF to handlers:
// the seed's FrameDispatcher. Registering 0x00-0x7F is an error; frames of
// an unregistered custom type are counted (SessionStats.DropsCustomUnregistered)
// and dropped, never a crash. Safe for concurrent use.
type FrameDispatcher struct {
	mu       sync.RWMutex // protects handlers
	handlers [128]FrameHandler
}

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

// dispatch is the data plane's OnCustomFrame hook.
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
	h(sessionOf(ds), payload)
	return true
}
