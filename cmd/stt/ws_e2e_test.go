package main

import (
	"bytes"
	"context"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stt-go/stt/transport/ws"
)

// The WebSocket fallback in the CLI: listen --ws, send --via, bench --via.
// Everything runs on 127.0.0.1.

// wsFileSize is the file the fallback tests move: a few MiB, so thousands
// of datagrams cross the relay each way (data and ACKs).
const wsFileSize = 4 * miB

// relayLine parses listen's "listening on ws://HOST:PORT/PATH relaying to
// HOST:PORT" line into the URL and the relay's UDP target.
func relayLine(t *testing.T, line string) (url, target string) {
	t.Helper()
	f := strings.Fields(line)
	if len(f) != 6 || f[0] != "listening" || f[1] != "on" || f[3] != "relaying" || f[4] != "to" {
		t.Fatalf("unexpected relay line %q", line)
	}
	if !strings.HasPrefix(f[2], "ws://127.0.0.1:") || strings.HasPrefix(f[2], "ws://127.0.0.1:0/") {
		t.Fatalf("relay URL %q: want ws://127.0.0.1:<port>/...", f[2])
	}
	return f[2], f[5]
}

// wsSeeds writes the receiver's, the sender's and the shared seed in a
// fresh directory of tmp.
func wsSeeds(t *testing.T, tmp string) (recv, send, shared string) {
	t.Helper()
	dir := filepath.Join(tmp, "seeds")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	return keygen(t, dir, "recv.seed"), keygen(t, dir, "send.seed"), keygen(t, dir, "shared.seed")
}

// sameFile fails unless got holds exactly want's bytes.
func sameFile(t *testing.T, got, want string) {
	t.Helper()
	w, err := os.ReadFile(want)
	if err != nil {
		t.Fatal(err)
	}
	g, err := os.ReadFile(got)
	if err != nil || !bytes.Equal(g, w) {
		t.Fatalf("%s: %d bytes (err %v), want %d bytes identical to %s", got, len(g), err, len(w), want)
	}
}

// TestWebSocketFallback runs `listen --ws` with a custom path and sends a
// file through it with `send --via`, the receiver's copy checked byte for
// byte; then bench --via, a wrong path, and the relay's shutdown on SIGINT.
func TestWebSocketFallback(t *testing.T) {
	tmp := t.TempDir()
	recvSeed, sendSeed, shared := wsSeeds(t, tmp)
	out := filepath.Join(tmp, "out")
	os.Mkdir(out, 0o700)
	file := randomFile(t, tmp, "payload.bin", wsFileSize)

	p := startStt(t, "listen", "--addr", "127.0.0.1:0", "--ws", "127.0.0.1:0", "--ws-path", "/fallback",
		"--node-seed", recvSeed, "--shared-seed", shared, "--out", out)
	udp := strings.Fields(p.waitLine(t, p.stdout, "listening on "))[2]
	url, target := relayLine(t, p.waitLine(t, p.stderr, "listening on ws://"))
	if !strings.HasSuffix(url, "/fallback") {
		t.Fatalf("relay URL %q does not end in the --ws-path /fallback", url)
	}
	if target != udp {
		t.Fatalf("the relay feeds %s, the node listens on %s", target, udp)
	}

	r := runStt(t, nil, "send", "--via", url, "--node-seed", sendSeed, "--shared-seed", shared, "--progress", "off", file)
	if r.code != 0 {
		t.Fatalf("send --via failed (%d): %s", r.code, r.stderr)
	}
	if !strings.Contains(r.stdout, `sent "payload.bin"`) || !strings.Contains(r.stdout, "verified by the peer") {
		t.Fatalf("send output lacks the verified line:\n%s", r.stdout)
	}
	p.waitLine(t, p.stdout, `received "payload.bin"`)
	sameFile(t, filepath.Join(out, "payload.bin"), file)

	t.Run("bench", func(t *testing.T) {
		r := runStt(t, nil, "bench", "--via", url, "--node-seed", sendSeed, "--shared-seed", shared,
			"--size", "4MiB", "--messages", "2000", "--rtt", "100")
		if r.code != 0 {
			t.Fatalf("bench --via failed (%d): %s", r.code, r.stderr)
		}
		if !strings.Contains(r.stdout, "against "+url) || !strings.Contains(r.stdout, "bulk      1 stream(s)  4.0 MiB") || !strings.Contains(r.stdout, "p99") {
			t.Errorf("unexpected bench output:\n%s", r.stdout)
		}
	})
	t.Run("wrong path", func(t *testing.T) {
		wrong := strings.TrimSuffix(url, "/fallback") + ws.DefaultPath
		r := runStt(t, nil, "send", "--via", wrong, "--node-seed", sendSeed, "--shared-seed", shared, "--progress", "off", file)
		wantFailure(t, r, exitFailure, "send", "websocket dial "+wrong+": handshake failed: HTTP 404")
	})

	if code := p.interrupt(t); code != 0 {
		t.Fatalf("listen exit code %d after SIGINT, want 0", code)
	}
	hostPort := strings.TrimSuffix(strings.TrimPrefix(url, "ws://"), "/fallback")
	if c, err := net.DialTimeout("tcp", hostPort, time.Second); err == nil {
		c.Close()
		t.Errorf("the relay still accepts connections on %s after listen exited", hostPort)
	}
	checkDirHolds(t, out, "payload.bin")
}

// lineWriter collects what an in-process command writes, line by line,
// for a test to wait on. It is safe for concurrent use.
type lineWriter struct {
	mu      sync.Mutex
	partial []byte        // protected by mu
	lines   []string      // protected by mu
	changed chan struct{} // closed and replaced on each new line; protected by mu
}

func newLineWriter() *lineWriter { return &lineWriter{changed: make(chan struct{})} }

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.partial = append(w.partial, p...)
	grew := false
	for {
		i := bytes.IndexByte(w.partial, '\n')
		if i < 0 {
			break
		}
		w.lines = append(w.lines, string(w.partial[:i]))
		w.partial = w.partial[i+1:]
		grew = true
	}
	if grew {
		close(w.changed)
		w.changed = make(chan struct{})
	}
	return len(p), nil
}

func (w *lineWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return strings.Join(w.lines, "\n") + string(w.partial)
}

// waitLine returns the first line containing s, failing after cmdTimeout.
func (w *lineWriter) waitLine(t *testing.T, s string) string {
	t.Helper()
	timeout := time.After(cmdTimeout)
	for {
		w.mu.Lock()
		for _, l := range w.lines {
			if strings.Contains(l, s) {
				w.mu.Unlock()
				return l
			}
		}
		ch := w.changed
		w.mu.Unlock()
		select {
		case <-ch:
		case <-timeout:
			t.Fatalf("no line with %q within %v; output:\n%s", s, cmdTimeout, w.String())
		}
	}
}

// runInProcess runs the stt command args inside the test process and
// returns its exit code on the channel.
func runInProcess(ctx context.Context, args []string, stdout, stderr *lineWriter) <-chan int {
	code := make(chan int, 1)
	go func() { code <- run(ctx, args, stdout, stderr) }()
	return code
}

// waitExit returns the exit code from code, failing after cmdTimeout.
func waitExit(t *testing.T, what string, code <-chan int) int {
	t.Helper()
	select {
	case c := <-code:
		return c
	case <-time.After(cmdTimeout):
		t.Fatalf("%s did not finish within %v", what, cmdTimeout)
	}
	return -1
}

// TestWebSocketInProcess runs listen --ws and send --via inside the test
// process, so -race sees the relay, the tunnel and the CLI goroutines
// around them, and TestMain's leak check proves they all stop.
func TestWebSocketInProcess(t *testing.T) {
	tmp := t.TempDir()
	recvSeed, sendSeed, shared := wsSeeds(t, tmp)
	out := filepath.Join(tmp, "out")
	os.Mkdir(out, 0o700)
	file := randomFile(t, tmp, "inproc.bin", wsFileSize)

	lctx, stopListen := context.WithCancel(context.Background())
	defer stopListen()
	lout, lerr := newLineWriter(), newLineWriter()
	listenCode := runInProcess(lctx, []string{"listen", "--addr", "127.0.0.1:0", "--ws", "127.0.0.1:0",
		"--node-seed", recvSeed, "--shared-seed", shared, "--out", out}, lout, lerr)
	url, _ := relayLine(t, lerr.waitLine(t, "listening on ws://"))

	sctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
	defer cancel()
	sout, serr := newLineWriter(), newLineWriter()
	code := waitExit(t, "send", runInProcess(sctx, []string{"send", "--via", url, "--node-seed", sendSeed, "--shared-seed", shared,
		"--progress", "off", file}, sout, serr))
	if code != 0 {
		t.Fatalf("send --via: exit %d:\n%s\n%s", code, sout, serr)
	}
	sout.waitLine(t, `sent "inproc.bin"`)
	lout.waitLine(t, `received "inproc.bin"`)
	sameFile(t, filepath.Join(out, "inproc.bin"), file)

	stopListen()
	if code := waitExit(t, "listen", listenCode); code != 0 {
		t.Fatalf("listen: exit %d after cancellation:\n%s", code, lerr)
	}
}

// TestWebSocketTunnelEnds cuts the relay in the middle of a transfer: send
// must fail at once, saying the tunnel ended, rather than after its stall
// timeout.
func TestWebSocketTunnelEnds(t *testing.T) {
	tmp := t.TempDir()
	recvSeed, sendSeed, shared := wsSeeds(t, tmp)
	out := filepath.Join(tmp, "out")
	os.Mkdir(out, 0o700)
	// Large enough that the transfer is still running when the relay
	// goes: the test cuts it after the first 256 KiB.
	file := randomFile(t, tmp, "cut.bin", 64*miB)
	l := startListen(t, recvSeed, shared, out)

	relay, err := ws.NewServer(ws.ServerConfig{Addr: "127.0.0.1:0", Target: netip.MustParseAddrPort(l.addr)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
	defer cancel()
	if err := relay.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer relay.Close()
	url := "ws://" + relay.Addr().String() + ws.DefaultPath

	sout, serr := newLineWriter(), newLineWriter()
	sendCode := runInProcess(ctx, []string{"send", "--via", url, "--node-seed", sendSeed, "--shared-seed", shared,
		"--progress", "off", "--stall-timeout", "30s", file}, sout, serr)
	for relay.Stats().BytesIn < 256*kiB {
		select {
		case code := <-sendCode:
			t.Fatalf("send ended (exit %d) before the relay was cut:\n%s\n%s", code, sout, serr)
		case <-ctx.Done():
			t.Fatal("the transfer did not start")
		case <-time.After(time.Millisecond):
		}
	}
	cut := time.Now()
	relay.Close()
	code := waitExit(t, "send", sendCode)
	took := time.Since(cut)
	if code != exitFailure {
		t.Fatalf("send: exit %d after the relay was cut, want %d:\n%s\n%s", code, exitFailure, sout, serr)
	}
	if !strings.Contains(serr.String(), "stt: the WebSocket tunnel ended") {
		t.Errorf("send does not say the tunnel ended:\n%s", serr)
	}
	t.Logf("send ended %v after the cut: %s", took, serr)
	if took > 10*time.Second {
		t.Errorf("send took %v to give up after the relay was cut", took)
	}
}

// TestWebSocketUsage checks the new flags' usage errors (exit 2, one
// clear line) and help texts, in process.
func TestWebSocketUsage(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"send", "--via", "ws://127.0.0.1:1/stt", "--to", "127.0.0.1:1", "x"}, exitUsage, "either --to HOST:PORT (UDP) or --via URL (WebSocket), not both"},
		{[]string{"send", "--via", "http://127.0.0.1:1/stt", "x"}, exitUsage, `--via "http://127.0.0.1:1/stt": want a ws:// or wss:// URL`},
		{[]string{"send", "--via", "127.0.0.1:9000", "x"}, exitUsage, "want a ws:// or wss:// URL"},
		{[]string{"send", "--via", "ws:///stt", "x"}, exitUsage, "has no host"},
		{[]string{"send", "x"}, exitUsage, "--to HOST:PORT or --via URL is required"},
		{[]string{"bench", "--via", "ws://127.0.0.1:1/stt", "--to", "127.0.0.1:1"}, exitUsage, "not both"},
		{[]string{"bench", "--via", "tcp://127.0.0.1:1"}, exitUsage, "want a ws:// or wss:// URL"},
		{[]string{"listen", "--out", dir, "--ws-path", "/x"}, exitUsage, "--ws-path needs --ws HOST:PORT"},
		{[]string{"listen", "--out", dir, "--ws", "127.0.0.1"}, exitUsage, `--ws "127.0.0.1": want HOST:PORT`},
		{[]string{"listen", "--out", dir, "--ws", "127.0.0.1:0", "--ws-path", "stt"}, exitUsage, `--ws-path "stt"`},
		{[]string{"listen", "--out", dir, "--ws", "127.0.0.1:0", "--ws-path", "/a?b"}, exitUsage, "--ws-path"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			var so, se bytes.Buffer
			code := run(context.Background(), tt.args, &so, &se)
			wantFailure(t, result{stdout: so.String(), stderr: se.String(), code: code}, tt.code, tt.args[0], tt.want)
		})
	}
	for _, h := range []struct {
		cmd  string
		want []string
	}{
		{"listen", []string{"-ws HOST:PORT", "WebSocket fallback", "-ws-path PATH", `(default "/stt")`}},
		{"send", []string{"-via URL", "ws:// or wss://", "required unless --via"}},
		{"bench", []string{"-via URL", "-to HOST:PORT"}},
	} {
		var so, se bytes.Buffer
		if code := run(context.Background(), []string{h.cmd, "--help"}, &so, &se); code != exitOK {
			t.Fatalf("%s --help: exit %d", h.cmd, code)
		}
		for _, w := range h.want {
			if !strings.Contains(se.String(), w) {
				t.Errorf("%s --help lacks %q:\n%s", h.cmd, w, se.String())
			}
		}
	}
}

// TestWebSocketDialFailures checks that send and bench report a tunnel
// that cannot be set up with exit 1 and one line naming the URL and why.
func TestWebSocketDialFailures(t *testing.T) {
	tmp := t.TempDir()
	_, sendSeed, shared := wsSeeds(t, tmp)
	file := randomFile(t, tmp, "f", 10)

	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedAddr := closed.Addr().String()
	closedURL := "ws://" + closedAddr + "/stt"
	closed.Close()
	// A listener that never accepts: the kernel completes the TCP
	// handshake, nobody answers the upgrade.
	silent, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	silentURL := "ws://" + silent.Addr().String() + "/stt"

	seeds := []string{"--node-seed", sendSeed, "--shared-seed", shared, "--handshake-timeout", "1s"}
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"send closed port", append(append([]string{"send", "--via", closedURL, "--progress", "off"}, seeds...), file), "websocket dial " + closedURL + ": dial tcp " + closedAddr + ": connect: connection refused"},
		{"bench closed port", append([]string{"bench", "--via", closedURL}, seeds...), "websocket dial " + closedURL + ": dial tcp"},
		{"send silent server", append(append([]string{"send", "--via", silentURL, "--progress", "off"}, seeds...), file), "websocket dial " + silentURL + ": no WebSocket upgrade within 1s"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := runStt(t, nil, tc.args...)
			wantFailure(t, r, exitFailure, tc.args[0], tc.want)
			if r.elapsed > 10*time.Second {
				t.Errorf("took %v; the handshake timeout is 1s", r.elapsed)
			}
		})
	}
}

// TestWebSocketPortTaken checks that listen fails (exit 1, naming --ws)
// when the relay's port is taken, before it announces anything.
func TestWebSocketPortTaken(t *testing.T) {
	tmp := t.TempDir()
	recvSeed, _, shared := wsSeeds(t, tmp)
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	r := runStt(t, nil, "listen", "--addr", "127.0.0.1:0", "--ws", taken.Addr().String(),
		"--node-seed", recvSeed, "--shared-seed", shared, "--out", tmp)
	wantFailure(t, r, exitFailure, "listen", "--ws: listen on "+taken.Addr().String())
	if strings.Contains(r.stdout, "listening on") {
		t.Errorf("listen announced an address although the relay failed:\n%s", r.stdout)
	}
}

func TestRelayTarget(t *testing.T) {
	for _, tc := range []struct{ node, want string }{
		{"0.0.0.0:9000", "127.0.0.1:9000"},
		{"[::]:9000", "[::1]:9000"},
		{"[::ffff:0.0.0.0]:9000", "127.0.0.1:9000"},
		{"127.0.0.1:5", "127.0.0.1:5"},
		{"192.0.2.7:5", "192.0.2.7:5"},
		{"[2001:db8::1]:5", "[2001:db8::1]:5"},
	} {
		if got := relayTarget(netip.MustParseAddrPort(tc.node)); got.String() != tc.want {
			t.Errorf("relayTarget(%s) = %s, want %s", tc.node, got, tc.want)
		}
	}
}
