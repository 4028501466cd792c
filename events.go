package stt

import (
	"context"
	"errors"
	"net/netip"

	"github.com/stt-go/stt/dataplane"
	"github.com/stt-go/stt/event"
)

// Lifecycle events a node emits (Node.On): the seed's event names. Each
// handler receives the payload type named here, as a pointer.
const (
	// EventPeerConnected: a session completed its handshake, either
	// role (*PeerConnectedEvent).
	EventPeerConnected = "peer_connected"
	// EventSessionClosed: a session ended, with why (*SessionClosedEvent).
	EventSessionClosed = "session_closed"
	// EventStreamOpened: a stream was opened, by this side or the peer
	// (*StreamOpenedEvent).
	EventStreamOpened = "stream_opened"
	// EventKeyRotated: a session's traffic key in one direction was
	// updated (*KeyRotatedEvent).
	EventKeyRotated = "key_rotated"
	// EventPathMigrated: the peer's address changed, or the new address
	// answered its validation challenge (*PathMigratedEvent).
	EventPathMigrated = "path_migrated"
	// EventHandshakeFailed: a Connect ended without a session
	// (*HandshakeFailedEvent).
	EventHandshakeFailed = "handshake_failed"
)

// PeerConnectedEvent is the payload of EventPeerConnected.
type PeerConnectedEvent struct {
	Session   *Session
	PeerID    NodeID
	Addr      netip.AddrPort // the peer's address at the handshake
	Initiator bool           // this side dialled
}

// SessionClosedEvent is the payload of EventSessionClosed.
type SessionClosedEvent struct {
	Session *Session
	PeerID  NodeID
	Err     error  // Session.Err(): a *SessionError
	Code    uint64 // its close code (CodeNoError for a graceful close)
	Remote  bool   // the peer closed it
}

// StreamOpenedEvent is the payload of EventStreamOpened.
type StreamOpenedEvent struct {
	Session *Session
	Stream  *Stream
	ByPeer  bool // the peer opened it (else this side's OpenStream)
}

// KeyRotatedEvent is the payload of EventKeyRotated.
type KeyRotatedEvent struct {
	Session   *Session
	Send      bool   // our send key (else the peer's, which we follow)
	Rotations uint64 // updates in that direction so far
}

// PathMigratedEvent is the payload of EventPathMigrated.
type PathMigratedEvent struct {
	Session   *Session
	From, To  netip.AddrPort
	Validated bool // To answered its PATH_CHALLENGE (or the session moved back to a validated path)
}

// HandshakeFailedEvent is the payload of EventHandshakeFailed.
type HandshakeFailedEvent struct {
	Peer  netip.AddrPort
	Cause string // the DialError's cause: "no answer", "rejected", "unreachable", ...; "" for other errors
	Err   error  // what Connect returned
}

// EventHandler handles one node event; payload is the pointer type named
// with the event's name, shared by every handler (do not modify it).
type EventHandler func(ctx context.Context, payload any) error

// On subscribes h to the node event name (the Event* constants) and
// returns a function that unsubscribes it. Handlers never run on a node
// goroutine: each has its own goroutine and a queue of event.DefaultQueueLen
// events; when a handler falls that far behind, its events are dropped
// (NodeStats.Events.Dropped) and packets are never delayed. A handler's
// panic or error is counted (NodeStats.Events) and logged at Warn. Handlers
// stop with the node (Stop gives them until its context ends).
func (n *Node) On(name string, h EventHandler) (unsubscribe func()) {
	return n.events.OnAsync(name, event.Handler(h))
}

// newEvents builds the node's emitter.
func (n *Node) newEvents() *event.Emitter {
	return event.NewEmitter(&event.Options{OnError: func(e *event.AsyncError) {
		if l := n.cfg.Logger; l != nil {
			l.Warn("stt: event handler failed", "event", e.Event, "err", e.Err)
		}
	}})
}

// emit delivers a node event; it never blocks.
func (n *Node) emit(name string, payload any) {
	_ = n.events.Emit(context.Background(), name, payload)
}

// onSessionEvent is the data plane's OnSessionEvent hook (loop goroutine).
func (n *Node) onSessionEvent(ds *dataplane.Session, ev *dataplane.SessionEvent) {
	s := sessionOf(ds)
	switch ev.Kind {
	case dataplane.EventStreamOpened:
		n.emit(EventStreamOpened, &StreamOpenedEvent{Session: s, Stream: streamOf(ev.Stream), ByPeer: true})
	case dataplane.EventKeyRotated:
		n.emit(EventKeyRotated, &KeyRotatedEvent{Session: s, Send: ev.Send, Rotations: ev.Rotations})
	case dataplane.EventPathMigrated:
		n.emit(EventPathMigrated, &PathMigratedEvent{Session: s, From: ev.From, To: ev.To, Validated: ev.Validated})
	}
}

// connected emits EventPeerConnected.
func (n *Node) connected(s *Session) {
	n.emit(EventPeerConnected, &PeerConnectedEvent{Session: s, PeerID: s.PeerID(), Addr: s.RemoteAddr(), Initiator: s.Initiator()})
}

// closedEvent emits EventSessionClosed.
func (n *Node) closedEvent(s *Session) {
	ev := &SessionClosedEvent{Session: s, PeerID: s.PeerID(), Err: s.Err()}
	var se *SessionError
	if errors.As(ev.Err, &se) {
		ev.Code, ev.Remote = se.Code, se.Remote
	}
	n.emit(EventSessionClosed, ev)
}

// dialFailed emits EventHandshakeFailed.
func (n *Node) dialFailed(to netip.AddrPort, err error) {
	ev := &HandshakeFailedEvent{Peer: to, Err: err}
	var de *DialError
	if errors.As(err, &de) {
		ev.Cause = de.Cause.String()
	}
	n.emit(EventHandshakeFailed, ev)
}
