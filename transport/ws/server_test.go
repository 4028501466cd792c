package ws

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"
)

func TestServerConfigErrors(t *testing.T) {
	target := netip.MustParseAddrPort("127.0.0.1:9")
	for _, tc := range []struct {
		name  string
		cfg   ServerConfig
		field string
	}{
		{"no-target", ServerConfig{}, "Target"},
		{"target-port-0", ServerConfig{Target: netip.MustParseAddrPort("127.0.0.1:0")}, "Target"},
		{"bad-addr", ServerConfig{Target: target, Addr: "localhost"}, "Addr"},
		{"relative-path", ServerConfig{Target: target, Path: "stt"}, "Path"},
		{"path-with-query", ServerConfig{Target: target, Path: "/stt?x"}, "Path"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewServer(tc.cfg)
			if err == nil || !strings.Contains(err.Error(), "ServerConfig."+tc.field) {
				t.Fatalf("NewServer: %v; want an error naming ServerConfig.%s", err, tc.field)
			}
		})
	}
}

func TestServerLifecycle(t *testing.T) {
	s, _ := startServer(t, ServerConfig{})
	if !s.Addr().IsValid() || s.Addr().Port() == 0 {
		t.Fatalf("Addr() = %v", s.Addr())
	}
	if err := s.Start(context.Background()); err == nil {
		t.Fatal("second Start succeeded")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if err := s.Start(context.Background()); !errors.Is(err, ErrClosed) {
		t.Fatalf("Start after Close: %v, want ErrClosed", err)
	}
	if _, err := net.DialTimeout("tcp", s.Addr().String(), time.Second); err == nil {
		t.Fatal("listener still accepts after Close")
	}
	// Close before Start, twice, and concurrent Closes.
	s3, err := NewServer(ServerConfig{Target: netip.MustParseAddrPort("127.0.0.1:9")})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		if err := s3.Close(); err != nil {
			t.Fatalf("Close %d before Start: %v", i+1, err)
		}
	}
	if err := s3.Start(context.Background()); !errors.Is(err, ErrClosed) {
		t.Fatalf("Start after Close: %v", err)
	}
	s4, _ := startServer(t, ServerConfig{})
	errc := make(chan error, 2)
	for range 2 {
		go func() { errc <- s4.Close() }()
	}
	for range 2 {
		if err := <-errc; err != nil {
			t.Fatalf("concurrent Close: %v", err)
		}
	}
	// A port in use fails Start cleanly.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	s2, err := NewServer(ServerConfig{Addr: ln.Addr().String(), Target: netip.MustParseAddrPort("127.0.0.1:9")})
	if err != nil {
		t.Fatal(err)
	}
	if err := s2.Start(context.Background()); err == nil {
		_ = s2.Close()
		t.Fatal("Start on a busy port succeeded")
	}
}

// TestServerStartDuringClose calls Start on a running Server while another
// goroutine's Close stops it: Start must fail and read the lifecycle state
// only under its lock (the race detector checks; which call takes the lock
// first varies, so several servers are tried).
func TestServerStartDuringClose(t *testing.T) {
	for range 8 {
		s, _ := startServer(t, ServerConfig{})
		errc := make(chan error, 1)
		go func() { errc <- s.Close() }()
		if err := s.Start(context.Background()); err == nil {
			t.Fatal("Start on a started Server succeeded")
		}
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
	}
}

func TestServerRefusesBadHandshakes(t *testing.T) {
	s, _ := startServer(t, ServerConfig{})
	for _, tc := range []struct {
		name   string
		req    string
		status int
		header string // must appear in the answer
	}{
		{"wrong-path", upgradeRequest(map[string]string{"GET": "GET /other HTTP/1.1"}), 404, ""},
		{"missing-key", upgradeRequest(map[string]string{"Sec-WebSocket-Key": ""}), 400, ""},
		{"wrong-version", upgradeRequest(map[string]string{"Sec-WebSocket-Version": "Sec-WebSocket-Version: 8"}), 426, "Sec-WebSocket-Version: 13\r\n"},
		{"no-upgrade", upgradeRequest(map[string]string{"Upgrade": ""}), 426, "Upgrade: websocket\r\n"},
		{"no-subprotocol", upgradeRequest(map[string]string{"Sec-WebSocket-Protocol": ""}), 400, ""},
		{"not-http", "hello\r\n\r\n", 400, ""},
		{"head-too-large", "GET /stt HTTP/1.1\r\nX: " + strings.Repeat("a", 5000), 431, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := dialRaw(t, s.Addr())
			r.write([]byte(tc.req))
			status, head := r.readHead()
			if status != tc.status || !strings.Contains(head, tc.header) || !strings.Contains(head, "Content-Length: ") {
				t.Fatalf("answer:\n%s\nwant status %d with %q", head, tc.status, tc.header)
			}
			r.expectEOF()
		})
	}
	if st := s.Stats(); st.Refused != 7 || st.Upgrades != 0 {
		t.Fatalf("stats %+v: want 7 refused", st)
	}
}

func TestServerRelay(t *testing.T) {
	s, target := startServer(t, ServerConfig{})
	r := dialRaw(t, s.Addr())
	r.upgrade()

	// Client → target: one message, one datagram.
	r.writeFrame(opBinary, true, true, []byte("hello"))
	got, from := recvUDP(t, target)
	if string(got) != "hello" {
		t.Fatalf("target got %q", got)
	}
	// Target → client, small and 16-bit-length frames, unmasked.
	for _, msg := range [][]byte{[]byte("world"), bytes.Repeat([]byte{0xAB}, 2000)} {
		if _, err := target.WriteToUDPAddrPort(msg, from); err != nil {
			t.Fatal(err)
		}
		h, p, err := r.readFrame(roleClient)
		if err != nil || h.Opcode != opBinary || !h.Fin || !bytes.Equal(p, msg) {
			t.Fatalf("client got %+v %d bytes, %v", h, len(p), err)
		}
	}
	// A datagram over MaxMessage is dropped; the next one still arrives.
	_, _ = target.WriteToUDPAddrPort(make([]byte, 3000), from)
	_, _ = target.WriteToUDPAddrPort([]byte("after"), from)
	if _, p, err := r.readFrame(roleClient); err != nil || string(p) != "after" {
		t.Fatalf("after the oversized datagram: %q %v", p, err)
	}
	// A fragmented message with a ping between fragments: one datagram,
	// one pong with the ping's payload.
	r.writeFrame(opBinary, false, true, []byte("frag"))
	r.writeFrame(opPing, true, true, []byte("are you there"))
	r.writeFrame(opContinuation, false, true, []byte("men"))
	r.writeFrame(opContinuation, true, true, []byte("ted"))
	if h, p, err := r.readFrame(roleClient); err != nil || h.Opcode != opPong || string(p) != "are you there" {
		t.Fatalf("pong: %+v %q %v", h, p, err)
	}
	if got, _ := recvUDP(t, target); string(got) != "fragmented" {
		t.Fatalf("reassembled %q", got)
	}
	// Close handshake from the client: echo, then the server closes TCP.
	r.writeFrame(opClose, true, true, append(closePayload(CloseNormal), "bye"...))
	r.expectClose(CloseNormal)
	waitFor(t, "the connection to go", func() bool { return s.Stats().Active == 0 })
	st := s.Stats()
	if st.Upgrades != 1 || st.MessagesIn != 2 || st.MessagesOut != 3 || st.DropOversize != 1 || st.BytesIn != 15 {
		t.Fatalf("stats %+v", st)
	}
}

func TestServerProtocolViolations(t *testing.T) {
	s, _ := startServer(t, ServerConfig{})
	mask := []byte{1, 2, 3, 4}
	for _, tc := range []struct {
		name  string
		frame []byte
		code  CloseCode
	}{
		{"unmasked", []byte{0x82, 0x02, 'h', 'i'}, closeProtocolError},
		{"text", append([]byte{0x81, 0x82}, append(mask, 'h', 'i')...), closeUnsupportedData},
		// Only the header is sent: the server must refuse it without
		// waiting for a terabyte of payload.
		{"oversized-length", append([]byte{0x82, 0xFF, 0, 0, 1, 0, 0, 0, 0, 0}, mask...), CloseMessageTooBig},
		{"just-over-limit", append([]byte{0x82, 0xFE, 0x08, 0x01}, mask...), CloseMessageTooBig},
		{"reserved-bits", append([]byte{0xC2, 0x80}, mask...), closeProtocolError},
		{"unknown-opcode", append([]byte{0x85, 0x80}, mask...), closeProtocolError},
		{"continuation-first", append([]byte{0x80, 0x80}, mask...), closeProtocolError},
		{"fragmented-ping", append([]byte{0x09, 0x80}, mask...), closeProtocolError},
		{"long-ping", append([]byte{0x89, 0xFE, 0x00, 0x80}, mask...), closeProtocolError},
		{"one-byte-close", append([]byte{0x88, 0x81}, append(mask, 0x03)...), closeProtocolError},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := dialRaw(t, s.Addr())
			r.upgrade()
			r.write(tc.frame)
			r.expectClose(tc.code)
		})
	}
	waitFor(t, "connections to go", func() bool { return s.Stats().Active == 0 })
	if st := s.Stats(); st.ProtocolErrors != 10 {
		t.Fatalf("ProtocolErrors = %d, want 10", st.ProtocolErrors)
	}
}

func TestServerHandshakeTimeout(t *testing.T) {
	s, _ := startServer(t, ServerConfig{HandshakeTimeout: 200 * time.Millisecond})
	silent := dialRaw(t, s.Addr())
	slow := dialRaw(t, s.Addr())
	slow.write([]byte("GET /stt HTTP/1.1\r\nHost: x\r\n")) // and never the rest
	silent.expectEOF()
	slow.expectEOF()
	if st := s.Stats(); st.HandshakeTimeouts != 2 || st.Active != 0 {
		t.Fatalf("stats %+v: want 2 handshake timeouts", st)
	}
}

func TestServerMaxConns(t *testing.T) {
	s, _ := startServer(t, ServerConfig{MaxConns: 2})
	a := dialRaw(t, s.Addr())
	a.upgrade()
	b := dialRaw(t, s.Addr()) // in the handshake: counts too
	waitFor(t, "two connections", func() bool { return s.Stats().Active == 2 })

	c := dialRaw(t, s.Addr())
	if status, head := c.readHead(); status != 503 {
		t.Fatalf("third connection got:\n%s", head)
	}
	c.expectEOF()
	if st := s.Stats(); st.OverLimit != 1 {
		t.Fatalf("OverLimit = %d", st.OverLimit)
	}

	_ = b.c.Close()
	waitFor(t, "a free slot", func() bool { return s.Stats().Active == 1 })
	d := dialRaw(t, s.Addr())
	d.upgrade()
	a.writeFrame(opClose, true, true, closePayload(CloseNormal))
	a.expectClose(CloseNormal)
}

func TestServerKeepalive(t *testing.T) {
	const ping = 150 * time.Millisecond
	s, _ := startServer(t, ServerConfig{PingInterval: ping})

	t.Run("answering-client-stays", func(t *testing.T) {
		r := dialRaw(t, s.Addr())
		r.upgrade()
		pings := 0
		for end := time.Now().Add(8 * ping); time.Now().Before(end); {
			h, p, err := r.readFrame(roleClient)
			if err != nil {
				t.Fatalf("after %d pings: %v", pings, err)
			}
			if h.Opcode != opPing {
				t.Fatalf("got %v, want ping", h.Opcode)
			}
			pings++
			r.writeFrame(opPong, true, true, p)
		}
		if pings < 2 {
			t.Fatalf("%d pings in %v", pings, 8*ping)
		}
		r.writeFrame(opClose, true, true, nil) // a close without a code is echoed without one
		h, p, err := r.readFrame(roleClient)
		for err == nil && h.Opcode == opPing {
			h, p, err = r.readFrame(roleClient)
		}
		if err != nil || h.Opcode != opClose || len(p) != 0 {
			t.Fatalf("close echo: %+v % x %v", h, p, err)
		}
		r.expectEOF()
	})
	t.Run("silent-client-dropped", func(t *testing.T) {
		before := s.Stats().IdleTimeouts
		r := dialRaw(t, s.Addr())
		r.upgrade()
		r.expectClose(CloseGoingAway) // pings ignored, then dropped
		if st := s.Stats(); st.IdleTimeouts != before+1 {
			t.Fatalf("IdleTimeouts = %d, want %d", st.IdleTimeouts, before+1)
		}
	})
}

func TestServerShutdown(t *testing.T) {
	s, _ := startServer(t, ServerConfig{})
	r := dialRaw(t, s.Addr())
	r.upgrade()
	errc := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
		defer cancel()
		errc <- s.Shutdown(ctx)
	}()
	h, p, err := r.readFrame(roleClient)
	if code, _, perr := parseClose(p); err != nil || h.Opcode != opClose || perr != nil || code != CloseGoingAway {
		t.Fatalf("got %+v % x %v, want close 1001", h, p, err)
	}
	r.writeFrame(opClose, true, true, closePayload(CloseGoingAway))
	r.expectEOF()
	if err := <-errc; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if _, err := net.DialTimeout("tcp", s.Addr().String(), time.Second); err == nil {
		t.Fatal("listener still accepts after Shutdown")
	}
}

// TestServerShutdownDeadline: a client that never answers the close frame
// is cut off after CloseTimeout, within Shutdown's deadline.
func TestServerShutdownDeadline(t *testing.T) {
	s, _ := startServer(t, ServerConfig{CloseTimeout: 100 * time.Millisecond})
	r := dialRaw(t, s.Addr())
	r.upgrade()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	r.expectClose(CloseGoingAway)
}

// TestServerSlowReaderDrops: a client that stops reading does not make
// the server buffer without bound; datagrams for it are dropped and
// counted once MaxBuffered bytes wait on its TCP side.
func TestServerSlowReaderDrops(t *testing.T) {
	s, target := startServer(t, ServerConfig{QueueLen: 16, MaxBuffered: 64 << 10})
	r := dialRaw(t, s.Addr())
	r.upgrade()
	r.writeFrame(opBinary, true, true, []byte("hi"))
	_, from := recvUDP(t, target)
	msg := make([]byte, 2000)
	sent := 0
	for ; sent < 50000; sent++ { // 100 MB: far more than the kernel's TCP buffers hold
		if _, err := target.WriteToUDPAddrPort(msg, from); err != nil {
			t.Fatal(err)
		}
		if st := s.Stats(); st.DropBackpressure > 0 && sent%64 == 0 {
			break
		}
	}
	st := s.Stats()
	// Usually the TCP backlog fills first (DropBackpressure); on a starved
	// machine (-cpu 1) the event loop falls behind and the per-connection
	// queue overflows first (DropQueueFull). Either way the server drops
	// and counts instead of buffering.
	if st.DropBackpressure+st.DropQueueFull == 0 {
		t.Fatalf("no drops after %d datagrams: %+v", sent, st)
	}
	if out := st.BytesOut; out > 64<<20 {
		t.Fatalf("%d bytes written to a client that reads nothing", out)
	}
	t.Logf("after %d datagrams: %d relayed, %d dropped (backpressure), %d dropped (queue)", sent, st.MessagesOut, st.DropBackpressure, st.DropQueueFull)
	_ = r.c.Close()
	waitFor(t, "the connection to go", func() bool { return s.Stats().Active == 0 })
}
