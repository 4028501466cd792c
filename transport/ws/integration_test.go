package ws

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stt-go/stt"
)

// startNode starts an STT node on 127.0.0.1:0 with node seed ns and a
// shared test seed; it stops when the test ends.
func startNode(tb testing.TB, ctx context.Context, ns byte) *stt.Node {
	tb.Helper()
	n, err := stt.NewNode(stt.Config{
		NodeSeed:      bytes.Repeat([]byte{ns}, 32),
		SharedSeed:    bytes.Repeat([]byte{0xAA}, 32),
		ListenAddr:    "127.0.0.1:0",
		DisableHybrid: true,
	})
	if err != nil {
		tb.Fatal(err)
	}
	if err := n.Start(ctx); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = n.Stop(sctx)
	})
	return n
}

// TestSTTOverWebSocket connects two STT nodes through Tunnel → Server and
// moves 8 MiB each way on streams plus 1000 messages, all at once, every
// byte checked.
func TestSTTOverWebSocket(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	b := startNode(t, ctx, 2)
	srv, _ := startServer(t, ServerConfig{Target: b.Addr()})
	tun := dialTunnel(t, wsURL(srv), DialConfig{})
	a := startNode(t, ctx, 1)

	accepted := make(chan *stt.Session, 1)
	go func() {
		s, err := b.Accept(ctx)
		if err != nil {
			t.Errorf("Accept: %v", err)
		}
		accepted <- s
	}()
	sa, err := a.Connect(ctx, tun.Addr().String())
	if err != nil {
		t.Fatalf("Connect through the tunnel: %v", err)
	}
	sb := <-accepted
	if sb == nil {
		t.FailNow()
	}
	if sa.PeerID() != b.ID() || sb.PeerID() != a.ID() {
		t.Fatal("peers not authenticated through the relay")
	}

	start := time.Now()
	const size = 8 << 20
	const msgs = 1000
	errc := make(chan error, 6)
	// Streams opened up front so the receivers can tell them apart by ID.
	bulkAB, err := sa.OpenStream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	msgAB, err := sa.OpenStream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	bulkBA, err := sb.OpenStream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// send writes size random bytes on st and returns their hash.
	send := func(st *stt.Stream, seed byte, sum chan<- [32]byte) {
		data := make([]byte, size)
		_, _ = rand.NewChaCha8([32]byte{seed}).Read(data)
		sum <- sha256.Sum256(data)
		if _, err := st.Write(data); err != nil {
			errc <- fmt.Errorf("Write: %w", err)
			return
		}
		errc <- st.CloseWrite()
	}
	// recv reads an accepted stream to EOF and returns its hash.
	recv := func(st *stt.Stream, sum chan<- [32]byte) {
		h := sha256.New()
		n, err := io.Copy(h, st)
		if err == nil && n != size {
			err = fmt.Errorf("received %d bytes, want %d", n, size)
		}
		sum <- [32]byte(h.Sum(nil))
		errc <- err
	}
	// recvMessages checks the message stream.
	recvMessages := func(st *stt.Stream) {
		for i := range msgs {
			m, err := st.ReceiveMessage(ctx)
			if err != nil || !bytes.Equal(m, message(i)) {
				errc <- fmt.Errorf("message %d: %d bytes, %v", i, len(m), err)
				return
			}
		}
		if _, err := st.ReceiveMessage(ctx); err != io.EOF {
			errc <- fmt.Errorf("after the last message: %v", err)
			return
		}
		errc <- nil
	}
	sentAB, sentBA, gotAB, gotBA := make(chan [32]byte, 1), make(chan [32]byte, 1), make(chan [32]byte, 1), make(chan [32]byte, 1)

	go send(bulkAB, 1, sentAB)
	go send(bulkBA, 2, sentBA)
	go func() {
		for i := range msgs {
			if err := msgAB.SendMessage(ctx, message(i)); err != nil {
				errc <- fmt.Errorf("SendMessage %d: %w", i, err)
				return
			}
		}
		errc <- msgAB.CloseWrite()
	}()
	go func() { // B accepts A's two streams, in whatever order they show up
		for range 2 {
			st, err := sb.AcceptStream(ctx)
			if err != nil {
				errc <- err
				return
			}
			switch st.ID() {
			case bulkAB.ID():
				go recv(st, gotAB)
			case msgAB.ID():
				go recvMessages(st)
			default:
				errc <- fmt.Errorf("B accepted unknown stream %v", st.ID())
				return
			}
		}
	}()
	go func() {
		st, err := sa.AcceptStream(ctx)
		if err != nil {
			errc <- err
			return
		}
		recv(st, gotBA)
	}()
	for range 6 {
		select {
		case err := <-errc:
			if err != nil {
				t.Fatal(err)
			}
		case <-ctx.Done():
			t.Fatal("transfer timed out")
		}
	}
	if <-sentAB != <-gotAB || <-sentBA != <-gotBA {
		t.Fatal("SHA-256 mismatch")
	}
	t.Logf("transfer took %v", time.Since(start))
	ts, ss := tun.Stats(), srv.Stats()
	t.Logf("tunnel %+v", ts)
	t.Logf("server %+v", ss)
	if ts.MessagesSent == 0 || ss.MessagesIn == 0 || ss.MessagesOut == 0 || ts.MessagesReceived == 0 {
		t.Fatal("traffic did not go through the relay")
	}
	// Stop the nodes while the relay is up, so A's close reaches B; then
	// the relay.
	for _, n := range []*stt.Node{a, b} {
		if err := n.Stop(ctx); err != nil {
			t.Fatalf("Stop: %v", err)
		}
	}
	if err := tun.Close(); err != nil {
		t.Fatalf("Tunnel.Close: %v", err)
	}
	if err := srv.Close(); err != nil {
		t.Fatalf("Server.Close: %v", err)
	}
}

// message is the i-th test message: 1 to 1500 bytes of byte(i).
func message(i int) []byte { return bytes.Repeat([]byte{byte(i)}, 1+i%1500) }
