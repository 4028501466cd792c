package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/stt-go/stt"
	"github.com/stt-go/stt/cmd/stt/internal/metrics"
	"github.com/stt-go/stt/transport/ws"
)

// metricsCloseTimeout bounds waiting for scrapes in flight when a command
// ends; a scrape of a few nodes takes milliseconds.
const metricsCloseTimeout = 2 * time.Second

// Node label values of the exported metrics.
const (
	metricsNodeLocal = "local" // the one node of listen, send and bench --to
	metricsNodeA     = "a"     // demo and loopback bench: the initiator, "node A"
	metricsNodeB     = "b"     // demo and loopback bench: the responder, "node B"
)

// metricsFlags are the Prometheus flags of the networked subcommands.
type metricsFlags struct {
	addr       string
	perSession bool
	linger     time.Duration
}

// register adds --metrics, --metrics-per-session and --metrics-linger.
func (f *metricsFlags) register(fs *flagSet) {
	fs.StringVar(&f.addr, "metrics", "", "serve Prometheus metrics over HTTP at http://`HOST:PORT`/metrics (port 0 picks a free one; the bound address is printed on stderr; an empty host means every interface)")
	fs.BoolVar(&f.perSession, "metrics-per-session", false, "add per-session series labelled by session ID (one set per open session)")
	fs.DurationVar(&f.linger, "metrics-linger", 0, "keep serving the final metrics this `duration` after the work ends, so a scraper sees them (an interrupt ends it early)")
}

// start validates the flags and, when --metrics is set, binds the HTTP
// server and prints its URL on stderr. With --metrics unset it returns a
// nil *metricsExport, whose methods do nothing.
func (f *metricsFlags) start(stderr io.Writer) (*metricsExport, error) {
	if f.linger < 0 {
		return nil, usagef("--metrics-linger must not be negative")
	}
	if f.addr == "" {
		if f.perSession || f.linger > 0 {
			return nil, usagef("--metrics-per-session and --metrics-linger need --metrics HOST:PORT")
		}
		return nil, nil
	}
	if _, _, err := net.SplitHostPort(f.addr); err != nil {
		return nil, usagef("--metrics %q: want HOST:PORT: %v", f.addr, err)
	}
	col := metrics.NewCollector(&metrics.Options{PerSession: f.perSession})
	reg, err := metrics.NewRegistry(col)
	if err != nil {
		return nil, err
	}
	srv, err := metrics.Listen(f.addr, reg)
	if err != nil {
		return nil, fmt.Errorf("--metrics: %v", err)
	}
	// Scripts and tests read this line for the port when it was 0.
	fmt.Fprintf(stderr, "metrics: serving %s\n", srv.URL())
	return &metricsExport{col: col, srv: srv, stderr: stderr, linger: f.linger}, nil
}

// metricsExport is a running --metrics server. A nil *metricsExport is
// valid and does nothing. Its methods are safe for concurrent use.
type metricsExport struct {
	col    *metrics.Collector
	srv    *metrics.Server
	stderr io.Writer
	linger time.Duration
}

// addNode exports n under the label node=name.
func (m *metricsExport) addNode(name string, n *stt.Node) error {
	if m == nil {
		return nil
	}
	return m.col.Add(name, n)
}

// addWSServer exports the counters of srv, the --ws relay feeding the
// node exported as name. It does nothing when srv is nil (no --ws).
func (m *metricsExport) addWSServer(name string, srv *ws.Server) error {
	if m == nil || srv == nil {
		return nil
	}
	return m.col.AddWSServer(name, srv)
}

// addWSTunnel exports the counters of tun, the --via tunnel carrying the
// datagrams of the node exported as name. It does nothing when tun is nil
// (plain UDP).
func (m *metricsExport) addWSTunnel(name string, tun *ws.Tunnel) error {
	if m == nil || tun == nil {
		return nil
	}
	return m.col.AddWSTunnel(name, tun)
}

// addPair exports the two in-process nodes of demo and loopback bench as
// node="a" (a, the initiator) and node="b", and tracks sa, a's session to
// b. Call it before b's sessions are served, so that tracking them finds b.
func (m *metricsExport) addPair(a, b *stt.Node, sa *stt.Session) error {
	if m == nil {
		return nil
	}
	if err := m.col.Add(metricsNodeA, a); err != nil {
		return err
	}
	if err := m.col.Add(metricsNodeB, b); err != nil {
		return err
	}
	m.col.Track(a, sa)
	return nil
}

// track counts s, a session of n, in the totals even if it closes
// between two scrapes.
func (m *metricsExport) track(n *stt.Node, s *stt.Session) {
	if m != nil {
		m.col.Track(n, s)
	}
}

// tracker returns a hook that tracks n's sessions, or nil without
// --metrics.
func (m *metricsExport) tracker(n *stt.Node) func(*stt.Session) {
	if m == nil {
		return nil
	}
	return func(s *stt.Session) { m.col.Track(n, s) }
}

// close keeps serving for --metrics-linger unless ctx ends first, then
// stops the server and waits for its goroutine.
func (m *metricsExport) close(ctx context.Context) {
	if m == nil {
		return
	}
	if m.linger > 0 && ctx.Err() == nil {
		fmt.Fprintf(m.stderr, "metrics: holding the final values at %s for %v (interrupt to stop)\n", m.srv.URL(), m.linger)
		t := time.NewTimer(m.linger)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
		}
	}
	cctx, cancel := context.WithTimeout(context.Background(), metricsCloseTimeout)
	defer cancel()
	_ = m.srv.Close(cctx)
}
