package stt_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/stt-go/stt"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func seed(b byte) []byte { return bytes.Repeat([]byte{b}, 32) }

// startNode starts a node on 127.0.0.1:0 with node seed ns and the shared
// test seed, adjusted by cfg; it stops when the test ends.
func startNode(tb testing.TB, ctx context.Context, ns byte, cfg func(*stt.Config)) *stt.Node {
	tb.Helper()
	c := stt.Config{NodeSeed: seed(ns), SharedSeed: seed(0xAA), ListenAddr: "127.0.0.1:0"}
	if cfg != nil {
		cfg(&c)
	}
	n, err := stt.NewNode(c)
	if err != nil {
		tb.Fatal(err)
	}
	if err := n.Start(ctx); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		sctx, c := context.WithTimeout(context.Background(), 5*time.Second)
		defer c()
		_ = n.Stop(sctx)
	})
	return n
}

// newPair starts two nodes on 127.0.0.1 sharing a seed and connects them.
func newPair(tb testing.TB, cfg func(*stt.Config)) (a, b *stt.Node, sa, sb *stt.Session) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	a, b = startNode(tb, ctx, 1, cfg), startNode(tb, ctx, 2, cfg)
	accepted := make(chan *stt.Session, 1)
	go func() {
		s, err := b.Accept(ctx)
		if err == nil {
			accepted <- s
		}
		close(accepted)
	}()
	var err error
	sa, err = a.Connect(ctx, b.Addr().String())
	if err != nil {
		tb.Fatalf("Connect: %v", err)
	}
	sb = <-accepted
	if sb == nil {
		tb.Fatal("Accept failed")
	}
	if sa.ID() != sb.ID() {
		tb.Fatalf("session IDs differ: %v vs %v", sa.ID(), sb.ID())
	}
	if sa.PeerID() != b.ID() || sb.PeerID() != a.ID() {
		tb.Fatal("peer IDs not authenticated correctly")
	}
	return a, b, sa, sb
}

func TestStreamTransfer(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  func(*stt.Config)
	}{
		{"default", nil},
		{"gso-gro-off", func(c *stt.Config) { c.DisableGSO, c.DisableGRO = true, true }},
		// Without BPF steering the kernel spreads datagrams over the 4
		// sockets by hash; loops hand packets to the owner loop.
		{"steering-off-4-loops", func(c *stt.Config) { c.DisableSteering = true; c.Loops = 4 }},
		{"chacha20poly1305", func(c *stt.Config) { c.Suite = "chacha20poly1305" }},
	} {
		t.Run(tc.name, func(t *testing.T) { testStreamTransfer(t, tc.cfg) })
	}
}

func testStreamTransfer(t *testing.T, cfg func(*stt.Config)) {
	_, _, sa, sb := newPair(t, cfg)
	sendVerified(t, sa, sb, 8<<20+12345, nil)
	stats := sa.Stats()
	if stats.KeyRotationsSent == 0 {
		t.Errorf("no key rotation after %d packets", stats.PacketsSent)
	}
	t.Logf("stats: %+v", stats)
}

func TestMessages(t *testing.T) {
	_, _, sa, sb := newPair(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := sa.OpenStream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	const n = 2000
	go func() {
		for i := range n {
			msg := bytes.Repeat([]byte{byte(i)}, i%300)
			if err := st.SendMessage(ctx, msg); err != nil {
				t.Errorf("SendMessage %d: %v", i, err)
				return
			}
		}
		_ = st.CloseWrite()
	}()
	rs, err := sb.AcceptStream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		msg, err := rs.ReceiveMessage(ctx)
		if err != nil {
			t.Fatalf("ReceiveMessage %d: %v", i, err)
		}
		if want := bytes.Repeat([]byte{byte(i)}, i%300); !bytes.Equal(msg, want) {
			t.Fatalf("message %d: got %d bytes", i, len(msg))
		}
	}
	if _, err := rs.ReceiveMessage(ctx); err != io.EOF {
		t.Fatalf("after last message: %v, want io.EOF", err)
	}
}

func TestWrongSharedSeed(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	a, _ := stt.NewNode(stt.Config{NodeSeed: seed(1), SharedSeed: seed(0xAA), ListenAddr: "127.0.0.1:0", HandshakeTimeout: 500 * time.Millisecond})
	b, _ := stt.NewNode(stt.Config{NodeSeed: seed(2), SharedSeed: seed(0xBB), ListenAddr: "127.0.0.1:0"})
	for _, n := range []*stt.Node{a, b} {
		if err := n.Start(ctx); err != nil {
			t.Fatal(err)
		}
		defer n.Stop(ctx)
	}
	_, err := a.Connect(ctx, b.Addr().String())
	if !errors.Is(err, stt.ErrHandshakeTimeout) {
		t.Fatalf("Connect with a wrong shared seed: %v, want ErrHandshakeTimeout", err)
	}
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("error is not a net.Error timeout: %v", err)
	}
}

func TestConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  stt.Config
		want string
	}{
		{"no node seed", stt.Config{SharedSeed: seed(1)}, "Config.NodeSeed"},
		{"short shared seed", stt.Config{NodeSeed: seed(1), SharedSeed: []byte("short")}, "Config.SharedSeed"},
		{"bad suite", stt.Config{NodeSeed: seed(1), SharedSeed: seed(2), Suite: "rot13"}, "Config.Suite"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := stt.NewNode(tc.cfg)
			if err == nil || !bytes.Contains([]byte(err.Error()), []byte(tc.want)) {
				t.Fatalf("err = %v, want mention of %s", err, tc.want)
			}
		})
	}
}

// TestSuiteEnvTypo: an STT_SUITE override that names no suite is refused
// by NewNode (it was silently ignored: the node offered its default).
func TestSuiteEnvTypo(t *testing.T) {
	t.Setenv("STT_SUITE", "chacha20poly1350")
	_, err := stt.NewNode(stt.Config{NodeSeed: seed(1), SharedSeed: seed(2)})
	if err == nil || !strings.Contains(err.Error(), "STT_SUITE") {
		t.Fatalf("NewNode with STT_SUITE=chacha20poly1350: err = %v, want one naming STT_SUITE", err)
	}
	t.Setenv("STT_SUITE", "chacha20poly1305")
	if _, err := stt.NewNode(stt.Config{NodeSeed: seed(1), SharedSeed: seed(2)}); err != nil {
		t.Fatalf("NewNode with a valid STT_SUITE: %v", err)
	}
}

// With RejectWrongSeed on the responder, a dialler holding another shared
// seed learns it at once (ErrAuthentication) instead of timing out.
func TestWrongSharedSeedRejected(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	a, _ := stt.NewNode(stt.Config{NodeSeed: seed(1), SharedSeed: seed(0xAA), ListenAddr: "127.0.0.1:0", HandshakeTimeout: time.Second})
	b, _ := stt.NewNode(stt.Config{NodeSeed: seed(2), SharedSeed: seed(0xBB), ListenAddr: "127.0.0.1:0", RejectWrongSeed: true})
	for _, n := range []*stt.Node{a, b} {
		if err := n.Start(ctx); err != nil {
			t.Fatal(err)
		}
		defer n.Stop(ctx)
	}
	// A REJECT cannot be authenticated, so it is a hint: Connect keeps
	// waiting for a valid RESPONSE until its timeout and only then reports
	// ErrAuthentication (docs/HANDSHAKE.md; issue 15 item 3).
	start := time.Now()
	_, err := a.Connect(ctx, b.Addr().String())
	if !errors.Is(err, stt.ErrAuthentication) {
		t.Fatalf("Connect: %v, want ErrAuthentication", err)
	}
	var de *stt.DialError
	if !errors.As(err, &de) || de.Rejects == 0 {
		t.Fatalf("Connect: %v, want a *DialError counting the REJECTs seen", err)
	}
	if el := time.Since(start); el < 900*time.Millisecond {
		t.Errorf("Connect acted on an unauthenticated REJECT after %v, before its 1 s timeout", el)
	}
	if n := len(b.Sessions()); n != 0 {
		t.Errorf("responder holds %d sessions after a rejected handshake", n)
	}
}

// The lifecycle states of the seed: Created → Running → Stopped for nodes,
// Active → Closed for sessions.
func TestLifecycleStates(t *testing.T) {
	n, err := stt.NewNode(stt.Config{NodeSeed: seed(9), SharedSeed: seed(0xAA), ListenAddr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	if n.State() != stt.NodeCreated {
		t.Fatalf("new node in state %v", n.State())
	}
	ctx := context.Background()
	if _, err := n.Connect(ctx, "127.0.0.1:1"); !errors.Is(err, stt.ErrNotStarted) {
		t.Fatalf("Connect before Start: %v", err)
	}
	if err := n.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if n.State() != stt.NodeRunning {
		t.Fatalf("started node in state %v", n.State())
	}
	if err := n.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if n.State() != stt.NodeStopped {
		t.Fatalf("stopped node in state %v", n.State())
	}
	if _, err := n.Accept(ctx); !errors.Is(err, stt.ErrClosed) || !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Accept after Stop: %v, want ErrClosed matching net.ErrClosed", err)
	}

	_, _, sa, sb := newPair(t, nil)
	if sa.State() != stt.SessionActive || sb.State() != stt.SessionActive {
		t.Fatalf("fresh sessions in states %v / %v", sa.State(), sb.State())
	}
	if err := sa.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-sb.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("peer session did not close after CLOSE")
	}
	var se *stt.SessionError
	if !errors.As(sb.Err(), &se) || !se.Remote || se.Code != 0 {
		t.Fatalf("peer's close error %v, want a remote SessionError with code 0", sb.Err())
	}
	if _, err := sb.OpenStream(ctx); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("OpenStream on a closed session: %v", err)
	}
}
