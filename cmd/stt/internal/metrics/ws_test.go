package metrics

import (
	"context"
	"errors"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/stt-go/stt"
	"github.com/stt-go/stt/transport/ws"
)

// fakeWSServer and fakeWSTunnel are stats sources whose counters a test
// sets between scrapes.
type fakeWSServer struct {
	mu sync.Mutex
	s  ws.ServerStats
}

func (f *fakeWSServer) Stats() ws.ServerStats {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.s
}

func (f *fakeWSServer) set(s ws.ServerStats) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.s = s
}

type fakeWSTunnel struct {
	mu sync.Mutex
	t  ws.TunnelStats
}

func (f *fakeWSTunnel) Stats() ws.TunnelStats {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.t
}

func (f *fakeWSTunnel) set(t ws.TunnelStats) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.t = t
}

// distinct returns a T whose numeric fields hold base+1, base+2, … in
// field order, so every exported value names the field it came from.
func distinct[T any](tb testing.TB, base int) (T, []float64) {
	tb.Helper()
	var v T
	rv := reflect.ValueOf(&v).Elem()
	var vals []float64
	for i := range rv.NumField() {
		f := rv.Field(i)
		n := base + i + 1
		switch f.Kind() {
		case reflect.Int:
			f.SetInt(int64(n))
		case reflect.Uint64:
			f.SetUint(uint64(n))
		default:
			tb.Fatalf("%s.%s: unexpected kind %s", rv.Type(), rv.Type().Field(i).Name, f.Kind())
		}
		vals = append(vals, float64(n))
	}
	return v, vals
}

// valuesWithPrefix returns the sorted values of every sample whose metric
// name starts with prefix and whose node label is node.
func valuesWithPrefix(all map[string][]series, prefix, node string) []float64 {
	var out []float64
	for name, ss := range all {
		if !strings.HasPrefix(name, prefix) {
			continue
		}
		for _, s := range ss {
			if s.labels["node"] == node {
				out = append(out, s.value)
			}
		}
	}
	slices.Sort(out)
	return out
}

// TestWSFake exports fake relay and tunnel counters and checks that every
// field of ws.ServerStats and ws.TunnelStats lands in exactly one series,
// under the right name and labels, read afresh at each scrape.
func TestWSFake(t *testing.T) {
	c := NewCollector(nil)
	reg := newRegistry(t, c)
	if n := testutil.CollectAndCount(c); n != 0 {
		t.Fatalf("no relay or tunnel added: %d metrics exported", n)
	}
	srv, tun := &fakeWSServer{}, &fakeWSTunnel{}
	if err := c.AddWSServer("local", srv); err != nil {
		t.Fatal(err)
	}
	if err := c.AddWSTunnel("local", tun); err != nil {
		t.Fatal(err)
	}

	// Every series exists at zero before any traffic.
	m := gather(t, reg)
	for name, want := range map[string]int{
		"stt_ws_server_connections_active": 1, "stt_ws_server_upgrades_total": 1,
		"stt_ws_server_messages_total": 2, "stt_ws_server_drops_total": 4,
		"stt_ws_tunnel_messages_total": 2, "stt_ws_tunnel_drops_total": 5,
	} {
		if got := find(m, name, kv("node", "local")); len(got) != want {
			t.Errorf("%s: %d series, want %d", name, len(got), want)
		}
	}
	if got := valuesWithPrefix(m, "stt_ws_", "local"); slices.ContainsFunc(got, func(v float64) bool { return v != 0 }) {
		t.Errorf("fresh sources: values %v, want all 0", got)
	}

	ss, sVals := distinct[ws.ServerStats](t, 0)
	ts, tVals := distinct[ws.TunnelStats](t, 100)
	srv.set(ss)
	tun.set(ts)
	m = gather(t, reg)

	// Each field appears exactly once: the exported values are exactly the
	// field values, with none missing or repeated.
	if got := valuesWithPrefix(m, "stt_ws_server_", "local"); !slices.Equal(got, sVals) {
		t.Errorf("stt_ws_server_* values %v, want one per ServerStats field %v", got, sVals)
	}
	if got := valuesWithPrefix(m, "stt_ws_tunnel_", "local"); !slices.Equal(got, tVals) {
		t.Errorf("stt_ws_tunnel_* values %v, want one per TunnelStats field %v", got, tVals)
	}

	// And each lands where it belongs.
	for _, tc := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"stt_ws_server_connections_active", nil, float64(ss.Active)},
		{"stt_ws_server_upgrades_total", nil, float64(ss.Upgrades)},
		{"stt_ws_server_refused_total", nil, float64(ss.Refused)},
		{"stt_ws_server_over_limit_total", nil, float64(ss.OverLimit)},
		{"stt_ws_server_handshake_timeouts_total", nil, float64(ss.HandshakeTimeouts)},
		{"stt_ws_server_idle_timeouts_total", nil, float64(ss.IdleTimeouts)},
		{"stt_ws_server_protocol_errors_total", nil, float64(ss.ProtocolErrors)},
		{"stt_ws_server_messages_total", kv("direction", "in"), float64(ss.MessagesIn)},
		{"stt_ws_server_bytes_total", kv("direction", "in"), float64(ss.BytesIn)},
		{"stt_ws_server_messages_total", kv("direction", "out"), float64(ss.MessagesOut)},
		{"stt_ws_server_bytes_total", kv("direction", "out"), float64(ss.BytesOut)},
		{"stt_ws_server_drops_total", kv("cause", "queue_full"), float64(ss.DropQueueFull)},
		{"stt_ws_server_drops_total", kv("cause", "backpressure"), float64(ss.DropBackpressure)},
		{"stt_ws_server_drops_total", kv("cause", "oversize"), float64(ss.DropOversize)},
		{"stt_ws_server_drops_total", kv("cause", "send_failed"), float64(ss.DropSendFailed)},
		{"stt_ws_server_target_unreachable_total", nil, float64(ss.TargetUnreachable)},
		{"stt_ws_tunnel_messages_total", kv("direction", "sent"), float64(ts.MessagesSent)},
		{"stt_ws_tunnel_bytes_total", kv("direction", "sent"), float64(ts.BytesSent)},
		{"stt_ws_tunnel_messages_total", kv("direction", "received"), float64(ts.MessagesReceived)},
		{"stt_ws_tunnel_bytes_total", kv("direction", "received"), float64(ts.BytesReceived)},
		{"stt_ws_tunnel_drops_total", kv("cause", "queue_full"), float64(ts.DropQueueFull)},
		{"stt_ws_tunnel_drops_total", kv("cause", "foreign"), float64(ts.DropForeign)},
		{"stt_ws_tunnel_drops_total", kv("cause", "oversize"), float64(ts.DropOversize)},
		{"stt_ws_tunnel_drops_total", kv("cause", "no_peer"), float64(ts.DropNoPeer)},
		{"stt_ws_tunnel_drops_total", kv("cause", "send_failed"), float64(ts.DropSendFailed)},
	} {
		labels := kv("node", "local")
		for k, v := range tc.labels {
			labels[k] = v
		}
		if got := one(t, m, tc.name, labels); got != tc.want {
			t.Errorf("%s%v = %v, want %v", tc.name, labels, got, tc.want)
		}
	}

	problems, err := testutil.GatherAndLint(reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}
}

func TestAddWSErrors(t *testing.T) {
	c := NewCollector(nil)
	for _, tc := range []struct {
		what string
		add  func() error
		want error
	}{
		{"server, empty name", func() error { return c.AddWSServer("", &fakeWSServer{}) }, ErrNodeName},
		{"tunnel, empty name", func() error { return c.AddWSTunnel("", &fakeWSTunnel{}) }, ErrNodeName},
		{"server", func() error { return c.AddWSServer("local", &fakeWSServer{}) }, nil},
		{"second server, same node", func() error { return c.AddWSServer("local", &fakeWSServer{}) }, ErrDuplicateWS},
		{"tunnel, same node as the server", func() error { return c.AddWSTunnel("local", &fakeWSTunnel{}) }, nil},
		{"second tunnel, same node", func() error { return c.AddWSTunnel("local", &fakeWSTunnel{}) }, ErrDuplicateWS},
		{"server, other node", func() error { return c.AddWSServer("b", &fakeWSServer{}) }, nil},
	} {
		if err := tc.add(); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.what, err, tc.want)
		}
	}
	// Two servers (local, b) and one tunnel, each with its full series set.
	m := gather(t, newRegistry(t, c))
	if got := len(m["stt_ws_server_drops_total"]); got != 2*4 {
		t.Errorf("stt_ws_server_drops_total: %d series, want 8", got)
	}
	if got := len(m["stt_ws_tunnel_drops_total"]); got != 5 {
		t.Errorf("stt_ws_tunnel_drops_total: %d series, want 5", got)
	}
}

// TestWSRelayAndTunnel runs a real relay and tunnel between two nodes on
// 127.0.0.1, moves data through them, and checks the scraped series before
// and after both shut down.
func TestWSRelayAndTunnel(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	// A node behind a tunnel caps its datagrams at the relay's message
	// size, as stt send --via does.
	a := newNode(t, 1, func(c *stt.Config) { c.MaxDatagram = ws.DefaultMaxMessage })
	b := newNode(t, 2)
	srv, err := ws.NewServer(ws.ServerConfig{Addr: "127.0.0.1:0", Target: b.Addr(), Loops: 1})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	tun, err := ws.Dial(ctx, "ws://"+srv.Addr().String()+ws.DefaultPath, ws.DialConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer tun.Close()

	c := NewCollector(nil)
	if err := c.AddWSServer("b", srv); err != nil {
		t.Fatal(err)
	}
	if err := c.AddWSTunnel("a", tun); err != nil {
		t.Fatal(err)
	}
	reg := newRegistry(t, c)

	// A request for another path is refused and counted.
	if code, _ := get(t, "http://"+srv.Addr().String()+"/elsewhere"); code < 400 {
		t.Fatalf("GET /elsewhere on the relay: status %d, want an HTTP error", code)
	}

	accepted := make(chan *stt.Session, 1)
	go func() {
		s, _ := b.Accept(ctx)
		accepted <- s
	}()
	sa, err := a.Connect(ctx, tun.Addr().String())
	if err != nil {
		t.Fatalf("Connect through the tunnel: %v", err)
	}
	sb := <-accepted
	if sb == nil {
		t.Fatal("Accept failed")
	}
	const size = 256 << 10
	transfer(t, sa, sb, size)

	m := gather(t, reg)
	for _, tc := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"stt_ws_server_connections_active", kv("node", "b"), 1},
		{"stt_ws_server_upgrades_total", kv("node", "b"), 1},
		{"stt_ws_server_refused_total", kv("node", "b"), 1},
		{"stt_ws_server_protocol_errors_total", kv("node", "b"), 0},
		{"stt_ws_server_drops_total", kv("node", "b", "cause", "oversize"), 0},
		{"stt_ws_tunnel_drops_total", kv("node", "a", "cause", "foreign"), 0},
	} {
		if got := one(t, m, tc.name, tc.labels); got != tc.want {
			t.Errorf("%s%v = %v, want %v", tc.name, tc.labels, got, tc.want)
		}
	}
	// What the relay received from the tunnel cannot exceed what the
	// tunnel sent. The tunnel counts a batch after its write returns, so
	// while acknowledgements still flow the relay may be ahead for a
	// moment: compare once two scrapes 20 ms apart agree.
	inSent := func(m map[string][]series, what string) (float64, float64) {
		return one(t, m, "stt_ws_server_"+what+"_total", kv("node", "b", "direction", "in")),
			one(t, m, "stt_ws_tunnel_"+what+"_total", kv("node", "a", "direction", "sent"))
	}
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
		next := gather(t, reg)
		i0, s0 := inSent(m, "messages")
		i1, s1 := inSent(next, "messages")
		m = next
		if i0 == i1 && s0 == s1 {
			break
		}
	}
	for _, what := range []string{"messages", "bytes"} {
		if in, sent := inSent(m, what); in == 0 || in > sent {
			t.Errorf("%s: relay in %v, tunnel sent %v, want 0 < in <= sent", what, in, sent)
		}
	}
	if got := one(t, m, "stt_ws_server_bytes_total", kv("node", "b", "direction", "in")); got < size {
		t.Errorf("stt_ws_server_bytes_total{in} = %v, want at least the %d bytes sent", got, size)
	}
	if got := one(t, m, "stt_ws_tunnel_messages_total", kv("node", "a", "direction", "received")); got == 0 {
		t.Error("stt_ws_tunnel_messages_total{received} = 0: no acknowledgement came back")
	}

	// Shut both down: the final counters stay exported.
	if err := sa.CloseContext(ctx); err != nil {
		t.Fatal(err)
	}
	if err := tun.Close(); err != nil {
		t.Fatalf("tunnel Close: %v", err)
	}
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatalf("relay Shutdown: %v", err)
	}
	final := gather(t, reg)
	if got := one(t, final, "stt_ws_server_connections_active", kv("node", "b")); got != 0 {
		t.Errorf("after Shutdown: stt_ws_server_connections_active = %v, want 0", got)
	}
	for _, tc := range []struct {
		name   string
		labels map[string]string
	}{
		{"stt_ws_server_upgrades_total", kv("node", "b")},
		{"stt_ws_server_bytes_total", kv("node", "b", "direction", "in")},
		{"stt_ws_tunnel_bytes_total", kv("node", "a", "direction", "sent")},
	} {
		if before, after := one(t, m, tc.name, tc.labels), one(t, final, tc.name, tc.labels); after < before {
			t.Errorf("%s%v went from %v to %v after shutdown", tc.name, tc.labels, before, after)
		}
	}

	problems, err := testutil.GatherAndLint(reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}
}
