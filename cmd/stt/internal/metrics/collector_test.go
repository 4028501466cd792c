package metrics

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"go.uber.org/goleak"

	"github.com/stt-go/stt"
)

// TestMain checks that every test leaves no goroutine behind. The two
// ignored ones belong to gnet's package-level ants worker pool (imported
// through transport/ws): created at package init, they live for the
// process (see transport/ws/main_test.go).
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		goleak.IgnoreTopFunction("github.com/panjf2000/ants/v2.(*poolCommon).purgeStaleWorkers"),
		goleak.IgnoreTopFunction("github.com/panjf2000/ants/v2.(*poolCommon).ticktock"))
}

// testTimeout bounds each test's network work.
const testTimeout = 20 * time.Second

func seed(b byte) []byte { return bytes.Repeat([]byte{b}, 32) }

// newNode starts a node on 127.0.0.1 that stops at the test's end; cfg,
// if given, adjusts its configuration.
func newNode(tb testing.TB, ns byte, cfg ...func(*stt.Config)) *stt.Node {
	tb.Helper()
	c := stt.Config{NodeSeed: seed(ns), SharedSeed: seed(0xAA), ListenAddr: "127.0.0.1:0"}
	for _, f := range cfg {
		f(&c)
	}
	n, err := stt.NewNode(c)
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	if err := n.Start(ctx); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = n.Stop(ctx)
	})
	return n
}

// connect opens a session from a to b and returns both ends.
func connect(tb testing.TB, a, b *stt.Node) (sa, sb *stt.Session) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	accepted := make(chan *stt.Session, 1)
	go func() {
		s, _ := b.Accept(ctx)
		accepted <- s
	}()
	sa, err := a.Connect(ctx, b.Addr().String())
	if err != nil {
		tb.Fatalf("Connect: %v", err)
	}
	if sb = <-accepted; sb == nil {
		tb.Fatal("Accept failed")
	}
	return sa, sb
}

// transfer writes size bytes on a new stream of from and reads them all on
// to's side, so both ends' byte counters have moved when it returns.
func transfer(tb testing.TB, from, to *stt.Session, size int) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	got := make(chan error, 1)
	go func() {
		st, err := to.AcceptStream(ctx)
		if err != nil {
			got <- err
			return
		}
		n, err := io.Copy(io.Discard, st)
		if err == nil && n != int64(size) {
			err = errors.New("short read")
		}
		got <- err
	}()
	st, err := from.OpenStream(ctx)
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := st.Write(make([]byte, size)); err != nil {
		tb.Fatal(err)
	}
	if err := st.Close(); err != nil {
		tb.Fatal(err)
	}
	if err := <-got; err != nil {
		tb.Fatalf("receiving: %v", err)
	}
}

// waitGone waits until n lists no session: a closed session leaves the
// node's list just after its Done channel closes.
func waitGone(tb testing.TB, ctx context.Context, n *stt.Node) {
	tb.Helper()
	for len(n.Sessions()) > 0 {
		select {
		case <-ctx.Done():
			tb.Fatalf("%d sessions still open", len(n.Sessions()))
		case <-time.After(time.Millisecond):
		}
	}
}

// series is one gathered sample.
type series struct {
	labels map[string]string
	value  float64
}

// gather collects g and indexes samples by metric name.
func gather(tb testing.TB, g prometheus.Gatherer) map[string][]series {
	tb.Helper()
	mfs, err := g.Gather()
	if err != nil {
		tb.Fatalf("Gather: %v", err)
	}
	out := make(map[string][]series)
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			s := series{labels: make(map[string]string)}
			for _, lp := range m.GetLabel() {
				s.labels[lp.GetName()] = lp.GetValue()
			}
			switch mf.GetType() {
			case dto.MetricType_COUNTER:
				s.value = m.GetCounter().GetValue()
			case dto.MetricType_GAUGE:
				s.value = m.GetGauge().GetValue()
			}
			out[mf.GetName()] = append(out[mf.GetName()], s)
		}
	}
	return out
}

// kv builds a label set from pairs.
func kv(pairs ...string) map[string]string {
	m := make(map[string]string, len(pairs)/2)
	for i := 0; i+1 < len(pairs); i += 2 {
		m[pairs[i]] = pairs[i+1]
	}
	return m
}

// find returns the samples of name whose labels include want.
func find(all map[string][]series, name string, want map[string]string) []series {
	var out []series
next:
	for _, s := range all[name] {
		for k, v := range want {
			if s.labels[k] != v {
				continue next
			}
		}
		out = append(out, s)
	}
	return out
}

// one returns the single sample of name matching want.
func one(tb testing.TB, all map[string][]series, name string, want map[string]string) float64 {
	tb.Helper()
	got := find(all, name, want)
	if len(got) != 1 {
		tb.Fatalf("%s%v: %d samples, want 1", name, want, len(got))
	}
	return got[0].value
}

func newRegistry(tb testing.TB, c *Collector) *prometheus.Registry {
	tb.Helper()
	reg := prometheus.NewPedanticRegistry()
	if err := reg.Register(c); err != nil {
		tb.Fatal(err)
	}
	return reg
}

// TestCollectorPair scrapes a real pair of nodes before and after a
// transfer and checks that the metrics name the nodes, sessions, sockets
// and traffic, and that they lint clean.
func TestCollectorPair(t *testing.T) {
	a, b := newNode(t, 1), newNode(t, 2)
	c := NewCollector(&Options{PerSession: true})
	if err := c.Add("a", a); err != nil {
		t.Fatal(err)
	}
	if err := c.Add("b", b); err != nil {
		t.Fatal(err)
	}
	reg := newRegistry(t, c)

	m := gather(t, reg)
	for _, node := range []string{"a", "b"} {
		if v := one(t, m, "stt_sessions", kv("node", node)); v != 0 {
			t.Errorf("node %s: stt_sessions = %v before Connect, want 0", node, v)
		}
	}

	sa, sb := connect(t, a, b)
	c.Track(a, sa)
	c.Track(b, sb)
	const size = 1 << 20
	transfer(t, sa, sb, size)

	m = gather(t, reg)
	for _, tc := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"stt_sessions", kv("node", "a"), 1},
		{"stt_sessions", kv("node", "b"), 1},
		{"stt_handshakes_completed_total", kv("node", "a", "role", "initiator"), 1},
		{"stt_handshakes_completed_total", kv("node", "b", "role", "responder"), 1},
		{"stt_handshake_failures_total", kv("node", "a", "cause", "auth"), 0},
		{"stt_handshake_failures_total", kv("node", "b", "cause", "seed_mismatch"), 0},
		{"stt_bytes_total", kv("node", "a", "direction", "sent"), size},
		{"stt_bytes_total", kv("node", "b", "direction", "received"), size},
		{"stt_drops_total", kv("node", "b", "cause", "auth"), 0},
		{"stt_node_info", kv("node", "a", "id", a.ID().String(), "addr", a.Addr().String()), 1},
		{"stt_session_bytes_total", kv("node", "b", "session", sb.ID().String(), "peer", a.ID().Short(), "direction", "received"), size},
	} {
		if got := one(t, m, tc.name, tc.labels); got != tc.want {
			t.Errorf("%s%v = %v, want %v", tc.name, tc.labels, got, tc.want)
		}
	}
	ssA, ssB := sa.Stats(), sb.Stats()
	for _, tc := range []struct {
		node       string
		dir        string
		atLeast    uint64
		sessionNow uint64
	}{
		{"a", "sent", 1, ssA.PacketsSent},
		{"b", "received", 1, ssB.PacketsReceived},
	} {
		got := one(t, m, "stt_packets_total", kv("node", tc.node, "direction", tc.dir))
		if got < float64(tc.atLeast) || got > float64(tc.sessionNow) {
			t.Errorf("stt_packets_total{node=%s,direction=%s} = %v, want in [%d, %d]", tc.node, tc.dir, got, tc.atLeast, tc.sessionNow)
		}
	}
	// One GSO and one GRO gauge per socket, 0 or 1.
	for _, node := range []struct {
		name string
		n    *stt.Node
	}{{"a", a}, {"b", b}} {
		sockets := len(node.n.Stats().Batch)
		for _, name := range []string{"stt_socket_gso", "stt_socket_gro", "stt_socket_rx_queue_overflow_total"} {
			got := find(m, name, kv("node", node.name))
			if len(got) != sockets || sockets == 0 {
				t.Errorf("%s{node=%s}: %d series, want one per socket (%d)", name, node.name, len(got), sockets)
			}
			for _, s := range got {
				if name != "stt_socket_rx_queue_overflow_total" && s.value != 0 && s.value != 1 {
					t.Errorf("%s%v = %v, want 0 or 1", name, s.labels, s.value)
				}
			}
		}
	}
	// After a transfer the sender has an RTT sample: five quantiles, ordered.
	q := find(m, "stt_smoothed_rtt_seconds", kv("node", "a"))
	if len(q) != len(rttQuantiles) {
		t.Fatalf("stt_smoothed_rtt_seconds{node=a}: %d series, want %d", len(q), len(rttQuantiles))
	}
	if lo, hi := one(t, m, "stt_smoothed_rtt_seconds", kv("node", "a", "session_quantile", "0")), one(t, m, "stt_smoothed_rtt_seconds", kv("node", "a", "session_quantile", "1")); lo <= 0 || lo > hi {
		t.Errorf("smoothed RTT quantiles: min %v max %v, want 0 < min <= max", lo, hi)
	}

	problems, err := testutil.GatherAndLint(reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}
}

// TestCollectorTotalsSurviveClose checks that summed counters stay put when
// a session closes, whether the Collector learnt of it by Track or by an
// earlier scrape, and are never counted twice.
func TestCollectorTotalsSurviveClose(t *testing.T) {
	const size = 64 << 10
	for _, tc := range []struct {
		name        string
		track       bool
		scrapeFirst bool
		want        float64 // bytes after close
	}{
		{"tracked", true, false, size},
		{"seen-by-scrape", false, true, size},
		{"tracked-and-seen", true, true, size},
		{"unseen", false, false, 0}, // documented: opened and closed between scrapes
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, b := newNode(t, 1), newNode(t, 2)
			c := NewCollector(&Options{PerSession: true})
			if err := c.Add("a", a); err != nil {
				t.Fatal(err)
			}
			reg := newRegistry(t, c)
			sa, sb := connect(t, a, b)
			if tc.track {
				c.Track(a, sa)
			}
			transfer(t, sa, sb, size)
			sent := kv("node", "a", "direction", "sent")
			if tc.scrapeFirst {
				if got := one(t, gather(t, reg), "stt_bytes_total", sent); got != size {
					t.Fatalf("before close: stt_bytes_total = %v, want %v", got, size)
				}
			}
			ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
			defer cancel()
			if err := sa.CloseContext(ctx); err != nil {
				t.Fatal(err)
			}
			waitGone(t, ctx, a)
			for i := range 2 { // a second scrape must not count it again
				m := gather(t, reg)
				if got := one(t, m, "stt_bytes_total", sent); got != tc.want {
					t.Errorf("scrape %d after close: stt_bytes_total = %v, want %v", i, got, tc.want)
				}
				if got := find(m, "stt_session_bytes_total", kv("node", "a")); len(got) != 0 {
					t.Errorf("scrape %d after close: %d per-session series remain", i, len(got))
				}
			}
		})
	}
}

// TestTrackSweeps checks that tracking many short sessions with nobody
// scraping keeps the bookkeeping bounded and the totals exact.
func TestTrackSweeps(t *testing.T) {
	const (
		sessions = 6
		size     = 4 << 10
	)
	a, b := newNode(t, 1), newNode(t, 2)
	c := NewCollector(nil)
	c.minSweep = 2
	if err := c.Add("a", a); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	for range sessions {
		sa, sb := connect(t, a, b)
		c.Track(a, sa)
		transfer(t, sa, sb, size)
		if err := sa.CloseContext(ctx); err != nil {
			t.Fatal(err)
		}
		<-sa.Done()
	}
	c.mu.Lock()
	live := len(c.nodes[0].live)
	c.mu.Unlock()
	if live > 2*c.minSweep {
		t.Errorf("%d sessions still tracked after %d closed, want at most %d", live, sessions, 2*c.minSweep)
	}
	m := gather(t, newRegistry(t, c))
	if got := one(t, m, "stt_bytes_total", kv("node", "a", "direction", "sent")); got != sessions*size {
		t.Errorf("stt_bytes_total = %v, want %v", got, sessions*size)
	}
}

func TestCollectorAdd(t *testing.T) {
	a, b := newNode(t, 1), newNode(t, 2)
	c := NewCollector(nil)
	if err := c.Add("a", a); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		node *stt.Node
		want error
	}{
		{"", b, ErrNodeName},
		{"a", b, ErrDuplicateNode},
		{"other", a, ErrDuplicateNode},
		{"b", b, nil},
	} {
		if err := c.Add(tc.name, tc.node); !errors.Is(err, tc.want) {
			t.Errorf("Add(%q) = %v, want %v", tc.name, err, tc.want)
		}
	}
	// Track on a node that was never added is a no-op, not a panic.
	c2 := NewCollector(nil)
	sa, _ := connect(t, a, b)
	c2.Track(a, sa)
	if n := testutil.CollectAndCount(c2); n != 0 {
		t.Errorf("collector without nodes exported %d metrics", n)
	}
}

func TestQuantile(t *testing.T) {
	v := []float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	for _, tc := range []struct {
		sorted []float64
		q      float64
		want   float64
	}{
		{v, 0, 1},
		{v, 0.5, 5},
		{v, 0.9, 9},
		{v, 0.99, 10},
		{v, 1, 10},
		{[]float64{7}, 0, 7},
		{[]float64{7}, 0.5, 7},
		{[]float64{7}, 1, 7},
	} {
		if got := quantile(tc.sorted, tc.q); got != tc.want {
			t.Errorf("quantile(%v, %v) = %v, want %v", tc.sorted, tc.q, got, tc.want)
		}
	}
}

// TestDescribeMatchesCollect checks that every metric Collect sends has a
// descriptor Describe announced (a pedantic registry enforces it) and that
// per-session descriptors appear only with PerSession.
func TestDescribeMatchesCollect(t *testing.T) {
	for _, per := range []bool{false, true} {
		c := NewCollector(&Options{PerSession: per})
		ch := make(chan *prometheus.Desc, 64)
		c.Describe(ch)
		close(ch)
		var names []string
		for d := range ch {
			names = append(names, d.String())
		}
		want := len(allDescs) + len(wsDescs)
		if per {
			want += len(sessionDescs)
		}
		if len(names) != want {
			t.Errorf("PerSession=%v: Describe sent %d descriptors, want %d", per, len(names), want)
		}
		hasSession := strings.Contains(strings.Join(names, "\n"), "stt_session_bytes_total")
		if hasSession != per {
			t.Errorf("PerSession=%v: per-session descriptors announced = %v", per, hasSession)
		}
		// The WebSocket descriptors are announced up front: a relay or
		// tunnel is added after the Collector is registered.
		for _, name := range []string{"stt_ws_server_upgrades_total", "stt_ws_tunnel_drops_total"} {
			if !strings.Contains(strings.Join(names, "\n"), `"`+name+`"`) {
				t.Errorf("PerSession=%v: %s not announced", per, name)
			}
		}
	}
}
