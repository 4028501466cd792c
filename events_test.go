package stt_test

import (
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/stt-go/stt"
)

// eventLog records node events by name.
type eventLog struct {
	mu  sync.Mutex
	got map[string][]any
}

func (l *eventLog) subscribe(n *stt.Node, names ...string) {
	for _, name := range names {
		n.On(name, func(_ context.Context, p any) error {
			l.mu.Lock()
			defer l.mu.Unlock()
			l.got[name] = append(l.got[name], p)
			return nil
		})
	}
}

func (l *eventLog) wait(t *testing.T, name string, n int) []any {
	t.Helper()
	if !waitUntil(5*time.Second, func() bool {
		l.mu.Lock()
		defer l.mu.Unlock()
		return len(l.got[name]) >= n
	}) {
		t.Fatalf("%d %q events, want %d", len(l.got[name]), name, n)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]any(nil), l.got[name]...)
}

var allEvents = []string{stt.EventPeerConnected, stt.EventSessionClosed, stt.EventStreamOpened,
	stt.EventKeyRotated, stt.EventPathMigrated, stt.EventHandshakeFailed}

// TestNodeEvents: every lifecycle event fires with its payload (issue 12
// item 2).
func TestNodeEvents(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	a := startNode(t, ctx, 1, func(c *stt.Config) { c.RotateMessages = 50 })
	b := startNode(t, ctx, 2, nil)
	la, lb := &eventLog{got: map[string][]any{}}, &eventLog{got: map[string][]any{}}
	la.subscribe(a, allEvents...)
	lb.subscribe(b, allEvents...)

	// handshake_failed: a closed port.
	pc, _ := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	closed := pc.LocalAddr().String()
	_ = pc.Close()
	if _, err := a.Connect(ctx, closed); err == nil {
		t.Fatal("Connect to a closed port succeeded")
	}
	hf := la.wait(t, stt.EventHandshakeFailed, 1)[0].(*stt.HandshakeFailedEvent)
	if hf.Peer.String() != closed || hf.Cause != "unreachable" || !errors.Is(hf.Err, stt.ErrUnreachable) {
		t.Fatalf("handshake_failed %+v", hf)
	}

	sa, err := a.Connect(ctx, b.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	pa := la.wait(t, stt.EventPeerConnected, 1)[0].(*stt.PeerConnectedEvent)
	if pa.Session != sa || pa.PeerID != b.ID() || !pa.Initiator {
		t.Fatalf("initiator's peer_connected %+v", pa)
	}
	pb := lb.wait(t, stt.EventPeerConnected, 1)[0].(*stt.PeerConnectedEvent)
	if pb.PeerID != a.ID() || pb.Initiator || pb.Session.ID() != sa.ID() {
		t.Fatalf("responder's peer_connected %+v", pb)
	}

	// stream_opened on both ends, key_rotated after the first rotation.
	st, err := sa.OpenStream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		_, _ = st.Write(make([]byte, 16<<20))
		_ = st.Close()
	}()
	oa := la.wait(t, stt.EventStreamOpened, 1)[0].(*stt.StreamOpenedEvent)
	if oa.Stream != st || oa.ByPeer || oa.Session != sa {
		t.Fatalf("opener's stream_opened %+v", oa)
	}
	ob := lb.wait(t, stt.EventStreamOpened, 1)[0].(*stt.StreamOpenedEvent)
	if !ob.ByPeer || ob.Stream.ID() != st.ID() {
		t.Fatalf("acceptor's stream_opened %+v", ob)
	}
	rs, err := pb.Session.AcceptStream(ctx)
	if err != nil || rs != ob.Stream {
		t.Fatalf("AcceptStream = %v, %v; want the stream of the event", rs, err)
	}
	if _, err := io.Copy(io.Discard, rs); err != nil {
		t.Fatal(err)
	}
	kr := la.wait(t, stt.EventKeyRotated, 1)[0].(*stt.KeyRotatedEvent)
	if !kr.Send || kr.Rotations != 1 || kr.Session != sa {
		t.Fatalf("key_rotated %+v", kr)
	}
	krb := lb.wait(t, stt.EventKeyRotated, 1)[0].(*stt.KeyRotatedEvent)
	if krb.Send || krb.Rotations != 1 {
		t.Fatalf("peer's key_rotated %+v", krb)
	}

	// session_closed on both ends.
	sa.CloseWithError(0x77, "done here")
	ca := la.wait(t, stt.EventSessionClosed, 1)[0].(*stt.SessionClosedEvent)
	if ca.Session != sa || ca.Code != 0x77 || ca.Remote || ca.PeerID != b.ID() {
		t.Fatalf("closer's session_closed %+v", ca)
	}
	cb := lb.wait(t, stt.EventSessionClosed, 1)[0].(*stt.SessionClosedEvent)
	var se *stt.SessionError
	if cb.Code != 0x77 || !cb.Remote || !errors.As(cb.Err, &se) || se.Reason != "done here" {
		t.Fatalf("peer's session_closed %+v", cb)
	}
}

// TestPathMigratedEvent: a NAT rebinding (the peer's address changes) is
// reported, unvalidated then validated.
func TestPathMigratedEvent(t *testing.T) {
	f := &faults{}
	p := newLossyPair(t, f, nil)
	l := &eventLog{got: map[string][]any{}}
	l.subscribe(p.b, stt.EventPathMigrated)
	from := p.sb.RemoteAddr()
	if err := p.proxy.Rebind(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	transfer(ctx, t, p, []int{64 << 10}, nil)
	evs := l.wait(t, stt.EventPathMigrated, 2)
	m0, m1 := evs[0].(*stt.PathMigratedEvent), evs[1].(*stt.PathMigratedEvent)
	if m0.From != from || m0.To == from || m0.Validated || m1.To != m0.To || !m1.Validated {
		t.Fatalf("path_migrated events %+v, %+v", m0, m1)
	}
}

// TestBlockedEventHandler: a handler that never returns loses its events
// (counted) and delays no packet.
func TestBlockedEventHandler(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	release := make(chan struct{})
	defer close(release)
	_, b, sa, sb := newPair(t, nil)
	b.On(stt.EventStreamOpened, func(context.Context, any) error { <-release; return nil })
	const n = 600 // more than the handler's queue
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for range n {
			rs, err := sb.AcceptStream(ctx)
			if err != nil {
				t.Error(err)
				return
			}
			_, _ = io.Copy(io.Discard, rs)
			_ = rs.Close()
		}
	}()
	for range n {
		st, err := sa.OpenStream(ctx)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = st.Write([]byte("x"))
		_ = st.Close()
	}
	wg.Wait()
	if d := b.Stats().Events.Dropped; d == 0 {
		t.Fatalf("a blocked handler with %d events queued dropped none", n)
	}
}
