package main

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// maxDatagram bounds the UDP payload of any STT packet
// (dataplane.MaxDatagramLimit: path MTU discovery may reach it on
// loopback), so bytes/maxDatagram is a floor on packets.
const maxDatagram = 65000

// sample is one line of the Prometheus text format.
type sample struct {
	labels map[string]string
	value  float64
}

// parseExposition parses the text format our server writes: comments,
// then `name{k="v",...} value` lines; label values never hold quotes.
func parseExposition(tb testing.TB, text string) map[string][]sample {
	tb.Helper()
	out := make(map[string][]sample)
	for _, line := range strings.Split(text, "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		sp := strings.LastIndexByte(line, ' ')
		if sp < 0 {
			tb.Fatalf("bad exposition line %q", line)
		}
		v, err := strconv.ParseFloat(line[sp+1:], 64)
		if err != nil {
			tb.Fatalf("bad value in %q: %v", line, err)
		}
		head := line[:sp]
		s := sample{labels: make(map[string]string), value: v}
		name, rest, hasLabels := strings.Cut(head, "{")
		if hasLabels {
			for _, pair := range strings.Split(strings.TrimSuffix(rest, "}"), ",") {
				k, val, ok := strings.Cut(pair, "=")
				if !ok {
					tb.Fatalf("bad label %q in %q", pair, line)
				}
				s.labels[k] = strings.Trim(val, `"`)
			}
		}
		out[name] = append(out[name], s)
	}
	return out
}

// scrape fetches and parses url without keeping a connection open (an idle
// pooled connection would outlive the test and fail the leak check).
func scrape(tb testing.TB, url string) map[string][]sample {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		tb.Fatal(err)
	}
	tr := &http.Transport{DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		tb.Fatalf("scraping %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		tb.Fatalf("scraping %s: status %d, %v", url, resp.StatusCode, err)
	}
	return parseExposition(tb, string(body))
}

// metricValue returns the value of the one series of name whose labels
// include want (label=value pairs), and whether exactly one matched.
func metricValue(m map[string][]sample, name string, want ...string) (float64, bool) {
	var found []float64
next:
	for _, s := range m[name] {
		for i := 0; i+1 < len(want); i += 2 {
			if s.labels[want[i]] != want[i+1] {
				continue next
			}
		}
		found = append(found, s.value)
	}
	if len(found) != 1 {
		return 0, false
	}
	return found[0], true
}

// process is a running stt command whose output lines are streamed.
type process struct {
	cmd    *exec.Cmd
	stdout chan string
	stderr chan string
	seen   []string
	done   chan struct{} // closed once the process has exited
	err    error         // cmd.Wait's result, set before done closes
}

// startStt starts stt with args, streaming stdout and stderr lines.
// Cleanup kills it if the test did not wait for it.
func startStt(t *testing.T, args ...string) *process {
	t.Helper()
	cmd := exec.Command(sttBin, args...)
	so, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	se, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	p := &process{cmd: cmd, stdout: make(chan string, 4096), stderr: make(chan string, 4096), done: make(chan struct{})}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pipe := func(r io.Reader, ch chan<- string) <-chan struct{} {
		eof := make(chan struct{})
		go func() {
			defer close(eof)
			defer close(ch)
			sc := bufio.NewScanner(r)
			for sc.Scan() {
				ch <- sc.Text()
			}
		}()
		return eof
	}
	e1, e2 := pipe(so, p.stdout), pipe(se, p.stderr)
	go func() {
		<-e1
		<-e2
		p.err = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		for range p.stdout {
		}
		for range p.stderr {
		}
		<-p.done
	})
	return p
}

// waitLine returns the first line on ch containing s, failing after
// cmdTimeout or at the end of the output.
func (p *process) waitLine(t *testing.T, ch <-chan string, s string) string {
	t.Helper()
	timeout := time.After(cmdTimeout)
	for {
		select {
		case line, ok := <-ch:
			if !ok {
				t.Fatalf("output ended before a line with %q; lines: %q", s, p.seen)
			}
			p.seen = append(p.seen, line)
			if strings.Contains(line, s) {
				return line
			}
		case <-timeout:
			t.Fatalf("no line with %q within %v; lines: %q", s, cmdTimeout, p.seen)
		}
	}
}

// metricsURL reads the "metrics: serving URL" line from stderr.
func (p *process) metricsURL(t *testing.T) string {
	t.Helper()
	line := p.waitLine(t, p.stderr, "metrics: serving ")
	url := strings.TrimPrefix(line, "metrics: serving ")
	if !strings.HasPrefix(url, "http://127.0.0.1:") || !strings.HasSuffix(url, "/metrics") || strings.HasPrefix(url, "http://127.0.0.1:0/") {
		t.Fatalf("metrics URL %q: want http://127.0.0.1:<port>/metrics", url)
	}
	return url
}

// interrupt sends SIGINT and returns the exit code.
func (p *process) interrupt(t *testing.T) int {
	t.Helper()
	p.cmd.Process.Signal(syscall.SIGINT)
	go func() {
		for range p.stdout {
		}
	}()
	go func() {
		for range p.stderr {
		}
	}()
	select {
	case <-p.done:
		if p.err == nil {
			return 0
		}
		var ee *exec.ExitError
		if errors.As(p.err, &ee) {
			return ee.ExitCode()
		}
		t.Fatalf("wait: %v", p.err)
	case <-time.After(cmdTimeout):
		t.Fatal("no exit within the timeout after SIGINT")
	}
	return -1
}

// TestMetricsDemo runs the demo with --metrics on a free port, scrapes the
// final values it holds for --metrics-linger, and checks that an interrupt
// ends it with exit 0 and the server closed.
func TestMetricsDemo(t *testing.T) {
	p := startStt(t, "demo", "--size", "small", "--progress", "off",
		"--metrics", "127.0.0.1:0", "--metrics-per-session", "--metrics-linger", "1m")
	url := p.metricsURL(t)
	p.waitLine(t, p.stdout, "OK: every byte verified")
	p.waitLine(t, p.stderr, "metrics: holding the final values")

	m := scrape(t, url)
	small := demoPresets["small"]
	bulk := float64(small.bulk1 + small.bulk2)
	for _, tc := range []struct {
		name    string
		labels  []string
		atLeast float64
		atMost  float64
	}{
		{"stt_bytes_total", []string{"node", "a", "direction", "sent"}, bulk, 2 * bulk},
		{"stt_bytes_total", []string{"node", "b", "direction", "received"}, bulk, 2 * bulk},
		{"stt_messages_total", []string{"node", "a", "direction", "sent"}, float64(small.messages), 2 * float64(small.messages)},
		{"stt_packets_total", []string{"node", "a", "direction", "sent"}, bulk / maxDatagram, bulk},
		{"stt_handshakes_completed_total", []string{"node", "a", "role", "initiator"}, 1, 1},
		{"stt_handshakes_completed_total", []string{"node", "b", "role", "responder"}, 1, 1},
		{"stt_handshake_failures_total", []string{"node", "b", "cause", "auth"}, 0, 0},
		{"stt_drops_total", []string{"node", "b", "cause", "auth"}, 0, 0},
		{"stt_sessions", []string{"node", "a"}, 0, 0}, // the demo has ended
		{"stt_socket_gso", []string{"node", "a", "socket", "0"}, 0, 1},
		{"stt_socket_gro", []string{"node", "b", "socket", "0"}, 0, 1},
		{"stt_socket_rx_queue_overflow_total", []string{"node", "b", "socket", "0"}, 0, bulk},
		{"process_cpu_seconds_total", nil, 0, 1e9},
	} {
		v, ok := metricValue(m, tc.name, tc.labels...)
		if !ok {
			t.Errorf("%s%v: not exactly one series", tc.name, tc.labels)
			continue
		}
		if v < tc.atLeast || v > tc.atMost {
			t.Errorf("%s%v = %v, want in [%v, %v]", tc.name, tc.labels, v, tc.atLeast, tc.atMost)
		}
	}
	if n := len(m["stt_session_bytes_total"]); n != 0 {
		t.Errorf("%d per-session series after the sessions closed", n)
	}

	start := time.Now()
	if code := p.interrupt(t); code != 0 {
		t.Fatalf("exit code %d after SIGINT during --metrics-linger, want 0", code)
	}
	if d := time.Since(start); d > 30*time.Second {
		t.Errorf("SIGINT took %v to end the linger", d)
	}
	addr := strings.TrimSuffix(strings.TrimPrefix(url, "http://"), "/metrics")
	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		c.Close()
		t.Errorf("metrics server still accepts connections on %s after exit", addr)
	}
}

// TestMetricsListen scrapes a listener while a send runs against it: the
// received bytes stay in the totals after the sender's session closes.
func TestMetricsListen(t *testing.T) {
	tmp := t.TempDir()
	seeds := filepath.Join(tmp, "seeds")
	os.Mkdir(seeds, 0o700)
	recvSeed := keygen(t, seeds, "recv.seed")
	sendSeed := keygen(t, seeds, "send.seed")
	shared := keygen(t, seeds, "shared.seed")
	out := filepath.Join(tmp, "out")
	os.Mkdir(out, 0o700)
	const size = 300 << 10
	file := randomFile(t, tmp, "payload.bin", size)

	p := startStt(t, "listen", "--addr", "127.0.0.1:0", "--node-seed", recvSeed, "--shared-seed", shared, "--out", out,
		"--metrics", "127.0.0.1:0")
	url := p.metricsURL(t)
	line := p.waitLine(t, p.stdout, "listening on ")
	addr := strings.Fields(line)[2]

	m := scrape(t, url)
	if v, ok := metricValue(m, "stt_node_info", "node", "local"); !ok || v != 1 {
		t.Fatalf("stt_node_info{node=local} = %v, %v", v, ok)
	}
	if v, ok := metricValue(m, "stt_bytes_total", "node", "local", "direction", "received"); !ok || v != 0 {
		t.Fatalf("before send: stt_bytes_total{received} = %v, %v", v, ok)
	}

	if r := runStt(t, nil, "send", "--to", addr, "--node-seed", sendSeed, "--shared-seed", shared, "--progress", "off", file); r.code != 0 {
		t.Fatalf("send: exit %d: %s", r.code, r.stderr)
	}
	p.waitLine(t, p.stdout, "received \"payload.bin\"")
	// The sender has gone: wait for the listener to drop the session, then
	// check its bytes are still counted (Track folded them in).
	deadline := time.Now().Add(cmdTimeout)
	for {
		m = scrape(t, url)
		if v, ok := metricValue(m, "stt_sessions", "node", "local"); ok && v == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the listener still counts an open session after send exited")
		}
		time.Sleep(10 * time.Millisecond)
	}
	for _, tc := range []struct {
		name    string
		labels  []string
		atLeast float64
	}{
		{"stt_bytes_total", []string{"node", "local", "direction", "received"}, size},
		{"stt_packets_total", []string{"node", "local", "direction", "received"}, size / maxDatagram},
		{"stt_handshakes_completed_total", []string{"node", "local", "role", "responder"}, 1},
	} {
		if v, ok := metricValue(m, tc.name, tc.labels...); !ok || v < tc.atLeast {
			t.Errorf("%s%v = %v (found %v), want at least %v", tc.name, tc.labels, v, ok, tc.atLeast)
		}
	}
	// Plain UDP: no relay, so no WebSocket series.
	for name := range m {
		if strings.HasPrefix(name, "stt_ws_") {
			t.Errorf("listen without --ws exports %s", name)
		}
	}
	if code := p.interrupt(t); code != 0 {
		t.Fatalf("listen exit code %d after SIGINT, want 0", code)
	}
}

// TestMetricsWebSocket runs listen --ws, then send --via and bench --via,
// all with --metrics: the listener exports its relay's series, the sender
// and the benchmark their tunnel's (final values, held by
// --metrics-linger), and neither the other's.
func TestMetricsWebSocket(t *testing.T) {
	tmp := t.TempDir()
	recvSeed, sendSeed, shared := wsSeeds(t, tmp)
	out := filepath.Join(tmp, "out")
	os.Mkdir(out, 0o700)
	const size = 300 << 10
	file := randomFile(t, tmp, "payload.bin", size)

	l := startStt(t, "listen", "--addr", "127.0.0.1:0", "--ws", "127.0.0.1:0", "--node-seed", recvSeed, "--shared-seed", shared, "--out", out,
		"--metrics", "127.0.0.1:0")
	lurl := l.metricsURL(t)
	relay, _ := relayLine(t, l.waitLine(t, l.stderr, "listening on ws://"))
	m := scrape(t, lurl)
	for _, tc := range [][]string{
		{"stt_ws_server_connections_active", "node", "local"},
		{"stt_ws_server_upgrades_total", "node", "local"},
		{"stt_ws_server_bytes_total", "node", "local", "direction", "in"},
	} {
		if v, ok := metricValue(m, tc[0], tc[1:]...); !ok || v != 0 {
			t.Fatalf("before send: %s%v = %v (found %v), want 0", tc[0], tc[1:], v, ok)
		}
	}

	s := startStt(t, "send", "--via", relay, "--node-seed", sendSeed, "--shared-seed", shared, "--progress", "off",
		"--metrics", "127.0.0.1:0", "--metrics-linger", "1m", file)
	surl := s.metricsURL(t)
	s.waitLine(t, s.stdout, `sent "payload.bin"`)
	s.waitLine(t, s.stderr, "metrics: holding the final values")
	l.waitLine(t, l.stdout, `received "payload.bin"`)

	sm := scrape(t, surl)
	for _, tc := range []struct {
		name          string
		labels        []string
		atLeast, most float64
	}{
		{"stt_ws_tunnel_messages_total", []string{"node", "local", "direction", "sent"}, size / maxDatagram, 1e9},
		{"stt_ws_tunnel_bytes_total", []string{"node", "local", "direction", "sent"}, size, 1e9},
		{"stt_ws_tunnel_messages_total", []string{"node", "local", "direction", "received"}, 1, 1e9},
		{"stt_ws_tunnel_drops_total", []string{"node", "local", "cause", "foreign"}, 0, 0},
		{"stt_ws_tunnel_drops_total", []string{"node", "local", "cause", "no_peer"}, 0, 0},
	} {
		if v, ok := metricValue(sm, tc.name, tc.labels...); !ok || v < tc.atLeast || v > tc.most {
			t.Errorf("send: %s%v = %v (found %v), want in [%v, %v]", tc.name, tc.labels, v, ok, tc.atLeast, tc.most)
		}
	}

	// The tunnel has closed: wait for the relay to count the connection
	// gone, then check what it carried.
	deadline := time.Now().Add(cmdTimeout)
	for {
		m = scrape(t, lurl)
		if v, ok := metricValue(m, "stt_ws_server_connections_active", "node", "local"); ok && v == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the relay still counts an open connection after send closed its tunnel")
		}
		time.Sleep(10 * time.Millisecond)
	}
	for _, tc := range []struct {
		name          string
		labels        []string
		atLeast, most float64
	}{
		{"stt_ws_server_upgrades_total", []string{"node", "local"}, 1, 1},
		{"stt_ws_server_refused_total", []string{"node", "local"}, 0, 0},
		{"stt_ws_server_messages_total", []string{"node", "local", "direction", "in"}, size / maxDatagram, 1e9},
		{"stt_ws_server_bytes_total", []string{"node", "local", "direction", "in"}, size, 1e9},
		{"stt_ws_server_messages_total", []string{"node", "local", "direction", "out"}, 1, 1e9},
		{"stt_ws_server_drops_total", []string{"node", "local", "cause", "oversize"}, 0, 0},
		{"stt_bytes_total", []string{"node", "local", "direction", "received"}, size, 1e9},
	} {
		if v, ok := metricValue(m, tc.name, tc.labels...); !ok || v < tc.atLeast || v > tc.most {
			t.Errorf("listen: %s%v = %v (found %v), want in [%v, %v]", tc.name, tc.labels, v, ok, tc.atLeast, tc.most)
		}
	}
	for name := range m {
		if strings.HasPrefix(name, "stt_ws_tunnel_") {
			t.Errorf("listen exports %s", name)
		}
	}
	for name := range sm {
		if strings.HasPrefix(name, "stt_ws_server_") {
			t.Errorf("send exports %s", name)
		}
	}

	if code := s.interrupt(t); code != 0 {
		t.Errorf("send exit code %d after SIGINT during --metrics-linger, want 0", code)
	}

	// bench --via exports its tunnel the same way.
	const benchSize = 1 << 20
	b := startStt(t, "bench", "--via", relay, "--node-seed", sendSeed, "--shared-seed", shared,
		"--size", "1MiB", "--messages", "100", "--rtt", "10", "--metrics", "127.0.0.1:0", "--metrics-linger", "1m")
	burl := b.metricsURL(t)
	b.waitLine(t, b.stdout, "stt bench: against "+relay)
	b.waitLine(t, b.stderr, "metrics: holding the final values")
	bm := scrape(t, burl)
	if v, ok := metricValue(bm, "stt_ws_tunnel_bytes_total", "node", "local", "direction", "sent"); !ok || v < benchSize {
		t.Errorf("bench: stt_ws_tunnel_bytes_total{sent} = %v (found %v), want at least %d", v, ok, benchSize)
	}
	if code := b.interrupt(t); code != 0 {
		t.Errorf("bench exit code %d after SIGINT during --metrics-linger, want 0", code)
	}
	if code := l.interrupt(t); code != 0 {
		t.Fatalf("listen exit code %d after SIGINT, want 0", code)
	}
}

func TestMetricsFlagErrors(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"linger without metrics", []string{"demo", "--metrics-linger", "1s"}, exitUsage, "need --metrics"},
		{"per-session without metrics", []string{"bench", "--metrics-per-session"}, exitUsage, "need --metrics"},
		{"no port", []string{"demo", "--metrics", "127.0.0.1"}, exitUsage, "want HOST:PORT"},
		{"negative linger", []string{"demo", "--metrics", "127.0.0.1:0", "--metrics-linger", "-1s"}, exitUsage, "must not be negative"},
		{"port taken", []string{"demo", "--size", "small", "--metrics", taken.Addr().String()}, exitFailure, "--metrics"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantFailure(t, runStt(t, nil, tc.args...), tc.code, tc.args[0], tc.want)
		})
	}
}
