package stt_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stt-go/stt"
)

// waitUntil polls cond every few milliseconds until it holds or d passes.
func waitUntil(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// canOpenNow reports whether OpenStream succeeds without waiting: with a
// context that is already cancelled, it succeeds only if the peer's stream
// credit allows a new stream at once.
func canOpenNow(s *stt.Session) bool {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	st, err := s.OpenStream(ctx)
	if err != nil {
		return false
	}
	st.CancelWrite(0)
	st.CancelRead(0)
	return true
}

// TestStreamSlotsReleased opens, uses and closes many streams on one session
// in each way an application ends a stream, then checks that no stream is
// left on either end and that the next stream opens at once. With the
// default limit of 256 concurrent streams, a slot that leaks once per
// stream stalls the opener after 256 streams (issue 17, items 1-3).
func TestStreamSlotsReleased(t *testing.T) {
	n := 10_000
	if testing.Short() || raceEnabled {
		n = 2_000 // still ~8x the default MaxStreams
	}
	payload := []byte("0123456789abcdef")
	for _, tc := range []struct {
		name    string
		receive bool // the acceptor uses Node.Receive
		opener  func(st *stt.Stream) error
		accept  func(st *stt.Stream) error
	}{
		{
			name: "close",
			opener: func(st *stt.Stream) error {
				if _, err := st.Write(payload); err != nil {
					return err
				}
				return st.Close()
			},
			accept: func(st *stt.Stream) error {
				if _, err := io.ReadAll(st); err != nil {
					return err
				}
				return st.Close()
			},
		},
		{
			name: "closewrite",
			opener: func(st *stt.Stream) error {
				if _, err := st.Write(payload); err != nil {
					return err
				}
				if err := st.CloseWrite(); err != nil {
					return err
				}
				_, err := io.ReadAll(st)
				return err
			},
			accept: func(st *stt.Stream) error {
				if _, err := io.ReadAll(st); err != nil {
					return err
				}
				return st.CloseWrite()
			},
		},
		{
			name: "cancelread",
			opener: func(st *stt.Stream) error {
				// The acceptor may stop the stream before this Write.
				var se *stt.StreamError
				if _, err := st.Write(payload); err != nil && !(errors.As(err, &se) && se.Remote && se.Code == 5) {
					return err
				}
				_ = st.CloseWrite()
				if _, err := io.ReadAll(st); err != nil {
					return fmt.Errorf("ReadAll: %w", err)
				}
				return nil
			},
			accept: func(st *stt.Stream) error {
				st.CancelRead(5)
				return st.CloseWrite()
			},
		},
		{
			name: "reset",
			opener: func(st *stt.Stream) error {
				if _, err := st.Write(payload); err != nil {
					return err
				}
				st.CancelWrite(7)
				_, err := io.ReadAll(st)
				return err
			},
			accept: func(st *stt.Stream) error {
				_, err := io.ReadAll(st)
				var se *stt.StreamError
				if err != nil && !errors.As(err, &se) {
					return err
				}
				return st.CloseWrite()
			},
		},
		{
			name:    "receive",
			receive: true,
			opener: func(st *stt.Stream) error {
				if err := st.SendMessage(context.Background(), payload); err != nil {
					return err
				}
				return st.Close()
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var sa, sb *stt.Session
			var b *stt.Node
			if tc.receive {
				// Receive mode: nobody calls Accept on b.
				sctx, scancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer scancel()
				a := startNode(t, sctx, 1, nil)
				b = startNode(t, sctx, 2, nil)
				var err error
				if sa, err = a.Connect(sctx, b.Addr().String()); err != nil {
					t.Fatal(err)
				}
				if !waitUntil(5*time.Second, func() bool { return len(b.Sessions()) == 1 }) {
					t.Fatal("no session on the acceptor")
				}
				sb = b.Sessions()[0]
			} else {
				_, b, sa, sb = newPair(t, nil)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			var wg sync.WaitGroup
			var firstErr error
			var errOnce sync.Once
			fail := func(err error) {
				errOnce.Do(func() { firstErr = err })
				cancel()
			}
			if tc.receive {
				var got atomic.Int64
				wg.Add(1)
				go func() {
					defer wg.Done()
					for got.Load() < int64(n) {
						p, err := b.Receive(ctx)
						if err != nil {
							fail(err)
							return
						}
						if string(p.Data) != string(payload) {
							fail(errors.New("wrong message"))
							return
						}
						got.Add(1)
					}
				}()
			} else {
				wg.Add(1)
				go func() {
					defer wg.Done()
					var inner sync.WaitGroup
					defer inner.Wait()
					for i := range n {
						st, err := sb.AcceptStream(ctx)
						if err != nil {
							fail(fmt.Errorf("AcceptStream after %d streams: %w", i, err))
							return
						}
						inner.Add(1)
						go func() {
							defer inner.Done()
							_ = st.SetDeadline(time.Now().Add(30 * time.Second))
							if err := tc.accept(st); err != nil {
								fail(fmt.Errorf("acceptor of stream %d (state %v): %w", st.ID(), st.State(), err))
							}
						}()
					}
				}()
			}
			const workers = 32
			var next atomic.Int64
			for range workers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for next.Add(1) <= int64(n) {
						st, err := sa.OpenStream(ctx)
						if err != nil {
							fail(err)
							return
						}
						_ = st.SetDeadline(time.Now().Add(30 * time.Second))
						if err := tc.opener(st); err != nil {
							fail(fmt.Errorf("opener of stream %d (state %v): %w", st.ID(), st.State(), err))
							return
						}
					}
				}()
			}
			wg.Wait()
			if firstErr != nil {
				t.Fatalf("after %d streams: %v (opener ActiveStreams %d, acceptor %d)",
					next.Load(), firstErr, sa.Stats().ActiveStreams, sb.Stats().ActiveStreams)
			}
			if !waitUntil(10*time.Second, func() bool {
				return sa.Stats().ActiveStreams == 0 && sb.Stats().ActiveStreams == 0
			}) {
				t.Fatalf("ActiveStreams after %d streams: opener %d, acceptor %d; want 0 and 0",
					n, sa.Stats().ActiveStreams, sb.Stats().ActiveStreams)
			}
			if !waitUntil(5*time.Second, func() bool { return canOpenNow(sa) }) {
				t.Fatalf("stream %d does not open at once after %d streams ended", n+1, n)
			}
		})
	}
}

// TestActiveStreamsCount checks ActiveStreams on both ends through one
// stream's life: a peer-opened stream counts once (issue 17, item 3).
func TestActiveStreamsCount(t *testing.T) {
	_, _, sa, sb := newPair(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	st, err := sa.OpenStream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	rs, err := sb.AcceptStream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := sb.Stats().ActiveStreams; got != 1 {
		t.Fatalf("acceptor ActiveStreams = %d with one stream open, want 1", got)
	}
	if got := sa.Stats().ActiveStreams; got != 1 {
		t.Fatalf("opener ActiveStreams = %d with one stream open, want 1", got)
	}
	_ = st.Close()
	if _, err := io.ReadAll(rs); err != nil {
		t.Fatal(err)
	}
	_ = rs.Close()
	if !waitUntil(5*time.Second, func() bool {
		return sa.Stats().ActiveStreams == 0 && sb.Stats().ActiveStreams == 0
	}) {
		t.Fatalf("ActiveStreams after both ends closed: opener %d, acceptor %d; want 0 and 0",
			sa.Stats().ActiveStreams, sb.Stats().ActiveStreams)
	}
}

// TestSendMessageAbandoned: a SendMessage whose context ends after part of
// the message went into the stream resets the stream with
// CodeMessageAbandoned (not CodeInternal, which means a bug), and the
// reader sees that reset instead of a truncated message.
func TestSendMessageAbandoned(t *testing.T) {
	_, _, sa, sb := newPair(t, func(c *stt.Config) {
		c.StreamWindow, c.MaxStreamWindow = 64<<10, 64<<10
		c.SendBuffer = 64 << 10
	})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	st, err := sa.OpenStream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// 1 MiB cannot fit 64 KiB of credit plus a 64 KiB send buffer while
	// nobody reads: SendMessage blocks part-way until its context ends.
	mctx, mcancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer mcancel()
	if err := st.SendMessage(mctx, make([]byte, 1<<20)); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("SendMessage = %v, want context.DeadlineExceeded", err)
	}
	rs, err := sb.AcceptStream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	m, err := rs.ReceiveMessage(ctx)
	var se *stt.StreamError
	if !errors.As(err, &se) || se.Code != stt.CodeMessageAbandoned || !se.Remote {
		t.Fatalf("ReceiveMessage = %d bytes, %v; want a remote reset with code %#x", len(m), err, stt.CodeMessageAbandoned)
	}
}

// TestByteCountersArePayload checks that message framing is not counted as
// application bytes (issue 17, item 4).
func TestByteCountersArePayload(t *testing.T) {
	_, _, sa, sb := newPair(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	st, err := sa.OpenStream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.SendMessage(ctx, make([]byte, 100)); err != nil {
		t.Fatal(err)
	}
	if err := st.SendMessage(ctx, make([]byte, 200)); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Write(make([]byte, 7)); err != nil {
		t.Fatal(err)
	}
	rs, err := sb.AcceptStream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []int{100, 200} {
		m, err := rs.ReceiveMessage(ctx)
		if err != nil || len(m) != want {
			t.Fatalf("ReceiveMessage: %d bytes, %v; want %d", len(m), err, want)
		}
	}
	if _, err := io.ReadFull(rs, make([]byte, 7)); err != nil {
		t.Fatal(err)
	}
	if got := sa.Stats().BytesSent; got != 307 {
		t.Errorf("BytesSent = %d, want 307 (100 + 200 message bytes + 7 written)", got)
	}
	if got := sb.Stats().BytesReceived; got != 307 {
		t.Errorf("BytesReceived = %d, want 307", got)
	}
	if got := sa.Stats().MessagesSent; got != 2 {
		t.Errorf("MessagesSent = %d, want 2", got)
	}
}

// TestAcceptorSpeaksFirst: OpenStream announces the stream, so the peer's
// AcceptStream returns before the opener writes anything and a protocol in
// which the accepting side speaks first works (issue 17, item 5).
func TestAcceptorSpeaksFirst(t *testing.T) {
	_, _, sa, sb := newPair(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := sa.OpenStream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	rs, err := sb.AcceptStream(ctx)
	if err != nil {
		t.Fatalf("AcceptStream before the opener wrote: %v", err)
	}
	if rs.ID() != st.ID() {
		t.Fatalf("accepted stream %d, opened %d", rs.ID(), st.ID())
	}
	if _, err := rs.Write([]byte("220 ready")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 9)
	if _, err := io.ReadFull(st, buf); err != nil || string(buf) != "220 ready" {
		t.Fatalf("opener read %q, %v", buf, err)
	}
}

// TestStopIdleSessionIsQuick: a graceful Stop with one idle session lingers
// three PTOs, and the PTO of a session that has carried no data comes from
// the handshake's round trip, not from the 333 ms initial RTT (issue 17,
// item 6: it took ~3 s).
func TestStopIdleSessionIsQuick(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	a, b := startNode(t, ctx, 1, nil), startNode(t, ctx, 2, nil)
	sa, err := a.Connect(ctx, b.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	if rtt := sa.Stats().SmoothedRTT; rtt <= 0 || rtt > 100*time.Millisecond {
		t.Errorf("initiator SmoothedRTT after the handshake on loopback = %v, want a handshake sample (0 < rtt <= 100ms)", rtt)
	}
	// Generous bound: the linger is 3 PTOs (~80 ms on loopback); the old
	// behaviour took 3 s.
	sctx, scancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer scancel()
	if err := a.Stop(sctx); err != nil {
		t.Fatalf("Stop with one idle session: %v (want done within 2 s)", err)
	}
}

// TestStreamState walks a stream through Created → Open → Closing → Closed
// on both ends (issue 17, item 7).
func TestStreamState(t *testing.T) {
	_, _, sa, sb := newPair(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := sa.OpenStream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if s := st.State(); s != stt.StreamCreated && s != stt.StreamOpen {
		t.Fatalf("new stream state %v, want Created or Open", s)
	}
	rs, err := sb.AcceptStream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if s := rs.State(); s != stt.StreamOpen {
		t.Fatalf("accepted stream state %v, want Open", s)
	}
	if !waitUntil(5*time.Second, func() bool { return st.State() == stt.StreamOpen }) {
		t.Fatalf("opener's announced stream state %v, want Open", st.State())
	}
	if err := st.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	if s := st.State(); s != stt.StreamClosing {
		t.Fatalf("after CloseWrite: %v, want Closing", s)
	}
	if _, err := io.ReadAll(rs); err != nil {
		t.Fatal(err)
	}
	if !waitUntil(5*time.Second, func() bool { return rs.State() == stt.StreamClosing }) {
		t.Fatalf("acceptor after reading the FIN: %v, want Closing", rs.State())
	}
	if err := rs.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadAll(st); err != nil {
		t.Fatal(err)
	}
	for _, x := range []*stt.Stream{st, rs} {
		if !waitUntil(5*time.Second, func() bool { return x.State() == stt.StreamClosed }) {
			t.Fatalf("stream %d after both directions ended: %v, want Closed", x.ID(), x.State())
		}
	}
	for _, s := range []stt.StreamState{stt.StreamCreated, stt.StreamOpen, stt.StreamClosing, stt.StreamClosed} {
		if s.String() == "" {
			t.Errorf("StreamState %d has no name", s)
		}
	}
}

// TestReceiveInSeedOrder follows the seed's walkthrough: connect, open a
// stream, send, and only then does the receiver call Receive. Nothing that
// arrived before the first Receive may be stranded (issue 17, item 7b).
func TestReceiveInSeedOrder(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	a, b := startNode(t, ctx, 1, nil), startNode(t, ctx, 2, nil)
	sa, err := a.Connect(ctx, b.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	st, err := sa.OpenStream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.SendMessage(ctx, []byte("hello from the seed")); err != nil {
		t.Fatal(err)
	}
	// Let the stream and its message arrive before anyone receives.
	if !waitUntil(5*time.Second, func() bool {
		ss := b.Sessions()
		return len(ss) == 1 && ss[0].Stats().ActiveStreams == 1
	}) {
		t.Fatal("the stream did not arrive")
	}
	time.Sleep(20 * time.Millisecond)
	p, err := b.Receive(ctx)
	if err != nil {
		t.Fatalf("Receive after the message arrived: %v", err)
	}
	if string(p.Data) != "hello from the seed" || p.Session == nil || p.StreamID != st.ID() {
		t.Fatalf("Receive = %q on stream %d, want the message on stream %d", p.Data, p.StreamID, st.ID())
	}
	// Accept is refused up front once Receive took over.
	if _, err := b.Accept(ctx); !errors.Is(err, stt.ErrReceiveMode) {
		t.Fatalf("Accept after Receive: %v, want ErrReceiveMode", err)
	}
}

// TestConnectClosedPortFailsFast: the network's "port unreachable" fails a
// dial at once with an error that says so, instead of the 10 s handshake
// timeout (issue 17, item 8).
func TestConnectClosedPortFailsFast(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	a := startNode(t, ctx, 1, nil)
	pc, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	closed := pc.LocalAddr().String()
	_ = pc.Close()
	start := time.Now()
	_, err = a.Connect(ctx, closed)
	el := time.Since(start)
	if !errors.Is(err, stt.ErrUnreachable) || !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("Connect to a closed port after %v: %v; want ErrUnreachable (ECONNREFUSED)", el, err)
	}
	t.Logf("Connect to a closed port failed after %v: %v", el, err)
}

// TestConnectWrongFamily: an IPv4 node cannot reach an IPv6 address; Connect
// says so at once.
func TestConnectWrongFamily(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	a := startNode(t, ctx, 1, nil) // 127.0.0.1:0
	start := time.Now()
	_, err := a.Connect(ctx, "[::1]:9")
	if err == nil || !strings.Contains(err.Error(), "IPv6") || time.Since(start) > time.Second {
		t.Fatalf("Connect from an IPv4 node to [::1] after %v: %v; want an address-family error at once", time.Since(start), err)
	}
}
