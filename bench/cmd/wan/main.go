// Command wan runs STT and quic-go side by side through an emulated
// wide-area path (internal/netem: a bottleneck of a given rate with a
// drop-tail queue, propagation delay, random loss), over a grid of rates,
// RTTs, loss rates and queue sizes, and prints a Markdown table: goodput
// as a share of the link, the time until a flow first uses 90% of it, the
// retransmission ratio, and the RTT the sender sees (base RTT plus the
// queueing delay its packets met at the bottleneck, measured by the
// emulator), then shared bottlenecks: one STT flow against one quic-go
// flow, and four STT flows (Jain's fairness index). STT appears once per
// congestion controller (sttVariants). Both ends of every flow run in this
// process; only the path between them is emulated. -short runs a few
// small rows in seconds; the grid flags select rows.
package main

import (
	"context"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/stt-go/stt/internal/netem"
)

// cond is one path condition of the grid.
type cond struct {
	rate  float64       // bits/s
	rtt   time.Duration // base round-trip time (propagation, both ways)
	queue float64       // drop-tail limit in BDP multiples
	loss  float64       // random loss on the data direction, a fraction
}

func (c cond) String() string {
	return fmt.Sprintf("%s, %s, %s BDP, %s loss", mbit(c.rate), ms(c.rtt), trim(c.queue), pct(c.loss))
}

// params are the run's sizes and limits.
type params struct {
	sizeFor   func(rate float64) int64 // bytes per single flow
	cap       time.Duration            // a single flow is cut here
	sharedDur time.Duration            // length of a shared-bottleneck run
	seed      uint64
	traceDir  string // -trace: write each flow's time series there
	mtu       int    // the links' MTU in IP-packet bytes (0: none)
}

// defaultSize is the bytes per flow: the 64 MiB at 100 Mbit/s and
// 96 MiB at 400, scaled down below 100 Mbit/s so a row at line rate takes
// about 10 s (24 MiB at 20 Mbit/s).
func defaultSize(rate float64) int64 {
	switch {
	case rate >= 400e6:
		return 96 << 20
	case rate >= 100e6:
		return 64 << 20
	}
	return max(1<<20, int64(rate/8*10)>>20<<20)
}

// shortSize keeps -short rows well under a second at line rate.
func shortSize(rate float64) int64 { return max(1<<20, int64(rate/8*0.6)>>20<<20) }

func main() {
	short := flag.Bool("short", false, "smoke mode: a few small rows, seconds each")
	rates := flag.String("rates", "20,100,400", "bottleneck rates, Mbit/s")
	rtts := flag.String("rtts", "10,40,150", "base RTTs, ms (e.g. 80 for the 400 Mbit/s startup row)")
	losses := flag.String("losses", "0,0.1,1,3", "random loss on the data direction, percent")
	queues := flag.String("queues", "0.25,1,4", "drop-tail queue, BDP multiples")
	only := flag.String("only", "", "comma-separated transport names (or prefixes, e.g. STT,quic) to run; default all")
	shared := flag.String("shared", "pair,four", "shared-bottleneck runs: pair (one STT vs one quic-go), four (4 STT flows), none")
	sharedOnly := flag.Bool("shared-only", false, "skip the single-flow grid")
	capD := flag.Duration("cap", 15*time.Second, "cut a single flow after this long (its goodput is then over the cap)")
	sharedDur := flag.Duration("shared-dur", 15*time.Second, "length of a shared-bottleneck run")
	size := flag.String("size", "", "bytes per single flow, e.g. 64MiB (default: 24 MiB at 20 Mbit/s, 64 MiB at 100, 96 MiB at 400)")
	seed := flag.Uint64("seed", 1, "emulator seed (loss draws per arrival)")
	mtu := flag.Int("mtu", 1500, "the links' MTU in IP-packet bytes, both directions (an Internet path: 1500; 0: no limit, which lets STT's path MTU discovery grow datagrams to 65 000 bytes while quic-go stays at 1452)")
	traceDir := flag.String("trace", "", "write each flow's time series (every 10 ms: delivered bytes, bottleneck bytes and queue, the sender's window, pacing rate and RTTs) as CSV files into this directory")
	flag.Parse()

	p := params{sizeFor: defaultSize, cap: *capD, sharedDur: *sharedDur, seed: *seed, traceDir: *traceDir, mtu: *mtu}
	if p.traceDir != "" {
		if err := os.MkdirAll(p.traceDir, 0o755); err != nil {
			fail(err)
		}
	}
	grid, err := parseGrid(*rates, *rtts, *losses, *queues)
	if err != nil {
		fail(err)
	}
	set := map[string]bool{}
	flag.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if *short {
		p.sizeFor, p.cap, p.sharedDur = shortSize, 4*time.Second, 3*time.Second
		if !set["rates"] && !set["rtts"] && !set["losses"] && !set["queues"] {
			grid = []cond{
				{rate: 100e6, rtt: 40 * time.Millisecond, queue: 1},
				{rate: 100e6, rtt: 40 * time.Millisecond, queue: 1, loss: 0.01},
				{rate: 20e6, rtt: 10 * time.Millisecond, queue: 0.25},
			}
		}
	}
	if *size != "" {
		n, err := parseSize(*size)
		if err != nil {
			fail(err)
		}
		p.sizeFor = func(float64) int64 { return n }
	}
	if *sharedOnly {
		grid = nil
	}
	var sharedConds []cond
	if *shared != "none" {
		// Shared runs: every selected rate × RTT, no loss, a 1 BDP queue.
		for _, c := range grid {
			s := cond{rate: c.rate, rtt: c.rtt, queue: 1}
			if !slices.Contains(sharedConds, s) {
				sharedConds = append(sharedConds, s)
			}
		}
		if *sharedOnly || len(sharedConds) == 0 {
			g, _ := parseGrid(*rates, *rtts, "0", "1")
			sharedConds = g
		}
		if *short && !set["rates"] && !set["rtts"] {
			sharedConds = []cond{{rate: 100e6, rtt: 40 * time.Millisecond, queue: 1}}
		}
	}
	ts := transports()
	if *only != "" {
		want := strings.Split(*only, ",")
		ts = slices.DeleteFunc(ts, func(t transport) bool {
			return !slices.ContainsFunc(want, func(w string) bool { return strings.HasPrefix(t.name, strings.TrimSpace(w)) })
		})
	}
	if err := run(os.Stdout, ts, grid, sharedConds, strings.Split(*shared, ","), p); err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "wan:", err)
	os.Exit(1)
}

// run starts every transport's server once, runs the grid and the shared
// runs, and prints the tables.
func run(w io.Writer, ts []transport, grid, sharedConds []cond, sharedKinds []string, p params) error {
	servers := make([]server, len(ts))
	for i, t := range ts {
		s, err := t.start()
		if err != nil {
			for _, s := range servers[:i] {
				s.stop()
			}
			return fmt.Errorf("%s: start: %w", t.name, err)
		}
		servers[i] = s
	}
	defer func() {
		for _, s := range servers {
			s.stop()
		}
	}()
	started := time.Now()
	var rows []row
	for ci, c := range grid {
		for i, t := range ts {
			fmt.Fprintf(os.Stderr, "wan: %s: %s\n", c, t.name)
			r := runSingle(t, servers[i], c, p, p.seed+uint64(ci)*2, traceName(p, c.String(), t.name))
			rows = append(rows, row{cond: c, transport: t.name, res: r})
		}
	}
	var shares []sharedRow
	for ci, c := range sharedConds {
		for _, kind := range sharedKinds {
			for _, set := range sharedSets(kind, ts, servers) {
				fmt.Fprintf(os.Stderr, "wan: shared %s: %s\n", c, set.label)
				r := runShared(set.members, c, p, p.seed+1000+uint64(ci)*2, traceName(p, "shared "+c.String(), set.label))
				shares = append(shares, sharedRow{cond: c, label: set.label, names: set.names(), res: r})
			}
		}
	}
	printTables(w, ts, rows, shares, p, time.Since(started))
	return nil
}

// member is one flow of a shared run.
type member struct {
	name string
	srv  server
}

type memberSet struct {
	label   string
	members []member
}

func (s memberSet) names() []string {
	var n []string
	for _, m := range s.members {
		n = append(n, m.name)
	}
	return n
}

// sharedSets returns the shared runs of one kind: "pair" is each STT
// variant against quic-go, "four" four flows of each STT variant.
func sharedSets(kind string, ts []transport, servers []server) []memberSet {
	var quic *member
	for i, t := range ts {
		if strings.HasPrefix(t.name, "quic-go") {
			quic = &member{t.name, servers[i]}
		}
	}
	var sets []memberSet
	for i, t := range ts {
		if !strings.HasPrefix(t.name, "STT") {
			continue
		}
		m := member{t.name, servers[i]}
		switch strings.TrimSpace(kind) {
		case "pair":
			if quic != nil {
				sets = append(sets, memberSet{label: t.name + " vs " + quic.name, members: []member{m, *quic}})
			}
		case "four":
			sets = append(sets, memberSet{label: "4 × " + t.name, members: []member{m, m, m, m}})
		}
	}
	return sets
}

// links builds the two directions of a condition: a symmetric bottleneck
// (rate, queue, RTT/2 of delay each way), random loss on the forward
// (data) direction only.
func links(c cond, p params, seed uint64) (fwd, rev *netem.Link, err error) {
	q := max(netem.BDP(c.rate, c.rtt, c.queue), 2*1500)
	fwd, err = netem.NewLink(&netem.LinkConfig{Rate: c.rate, QueueBytes: q, Delay: c.rtt / 2, Loss: c.loss, MTU: p.mtu, Seed: seed})
	if err != nil {
		return nil, nil, err
	}
	rev, err = netem.NewLink(&netem.LinkConfig{Rate: c.rate, QueueBytes: q, Delay: c.rtt / 2, MTU: p.mtu, Seed: seed + 1})
	if err != nil {
		fwd.Close()
		return nil, nil, err
	}
	return fwd, rev, nil
}

// flowResult is what one flow achieved.
type flowResult struct {
	bytes     int64         // delivered to the receiving application
	elapsed   time.Duration // from the stream's first byte to the last delivered, or to the cap
	cut       bool
	t90       time.Duration // first time the flow used 90% of the link (0: never)
	retx      float64
	retxOK    bool
	queue     netem.Histogram // the flow's queueing delays at the bottleneck
	queueDrop uint64          // its datagrams tail-dropped at the bottleneck
	lossDrop  uint64          // its datagrams dropped by random loss
	health    health
	err       error
}

var nextFlow atomic.Uint64

// flowRun is one flow in progress.
type flowRun struct {
	id      uint64
	t       *tally
	cn      conn
	path    *netem.Path
	base    netem.Counters
	start   time.Time
	samples []sample // the flow's wire bytes out of the bottleneck
	tracing bool
	trace   []traceRow
	writeMu sync.Mutex
	werr    error
	wdone   chan struct{}
}

// traceRow is one line of a -trace file: the flow at one sample.
type traceRow struct {
	at             time.Duration
	delivered      int64  // bytes the receiving application got
	wire           uint64 // the flow's bytes out of the bottleneck, IP headers included
	queue          int    // the forward link's backlog (all its flows), bytes
	qdrops, ldrops uint64 // the flow's queue and random drops so far
	p              senderProbe
}

type sample struct {
	at    time.Duration
	bytes uint64
}

// wireBytes is what the flow put through the bottleneck, headers included.
func wireBytes(c *netem.Counters) uint64 { return c.BytesForwarded + c.Forwarded*netem.IPv4Overhead }

// startFlow opens a stream on cn and writes size bytes to it in the
// background.
func startFlow(ctx context.Context, cn conn, path *netem.Path, size int64) (*flowRun, error) {
	f := &flowRun{id: nextFlow.Add(1), t: &tally{}, cn: cn, path: path, wdone: make(chan struct{})}
	flows.Store(f.id, f.t)
	st, err := cn.open(ctx)
	if err != nil {
		flows.Delete(f.id)
		return nil, err
	}
	f.base = path.Stats(netem.Forward)
	f.start = time.Now()
	go func() {
		defer close(f.wdone)
		var h [16]byte
		binary.BigEndian.PutUint64(h[:8], f.id)
		binary.BigEndian.PutUint64(h[8:], uint64(size))
		err := writeAll(st, h[:], size)
		f.writeMu.Lock()
		f.werr = err
		f.writeMu.Unlock()
	}()
	return f, nil
}

func writeAll(st io.WriteCloser, header []byte, size int64) error {
	if _, err := st.Write(header); err != nil {
		return err
	}
	buf := make([]byte, copyBuf)
	for i := range buf {
		buf[i] = byte(i * 7)
	}
	for left := size; left > 0; {
		k := min(left, int64(len(buf)))
		if _, err := st.Write(buf[:k]); err != nil {
			return err
		}
		left -= k
	}
	return st.Close()
}

func (f *flowRun) sample() {
	s := f.path.Stats(netem.Forward)
	at := time.Since(f.start)
	wire := wireBytes(&s) - wireBytes(&f.base)
	f.samples = append(f.samples, sample{at: at, bytes: wire})
	if f.tracing {
		got, _ := f.t.get()
		f.trace = append(f.trace, traceRow{
			at: at, delivered: got, wire: wire, queue: f.path.Link(netem.Forward).Stats().QueueBytes,
			qdrops: s.DroppedQueue - f.base.DroppedQueue, ldrops: s.DroppedLoss - f.base.DroppedLoss,
			p: f.cn.probe(),
		})
	}
}

// traceName is the -trace file for a run (without the flow suffix), or
// "" when not tracing.
func traceName(p params, run, transport string) string {
	if p.traceDir == "" {
		return ""
	}
	clean := func(s string) string {
		return strings.Map(func(r rune) rune {
			switch {
			case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.', r == '-':
				return r
			}
			return '_'
		}, s)
	}
	return filepath.Join(p.traceDir, clean(run)+"_"+clean(transport))
}

// writeTrace writes the flow's time series to name.csv; a failure is
// reported on stderr and does not stop the run.
func (f *flowRun) writeTrace(name string) {
	if !f.tracing || name == "" {
		return
	}
	var b strings.Builder
	b.WriteString("t_ms,delivered_bytes,wire_bytes,link_queue_bytes,queue_drops,random_drops,cwnd_bytes,pacing_Bps,srtt_ms,latest_rtt_ms,min_rtt_ms,packets_sent,packets_lost\n")
	for _, r := range f.trace {
		fmt.Fprintf(&b, "%.1f,%d,%d,%d,%d,%d,%d,%d,%.3f,%.3f,%.3f,%d,%d\n", msf(r.at), r.delivered, r.wire, r.queue, r.qdrops, r.ldrops,
			r.p.cwnd, r.p.pacing, msf(r.p.srtt), msf(r.p.latestRTT), msf(r.p.minRTT), r.p.pktsSent, r.p.pktsLost)
	}
	if err := os.WriteFile(name+".csv", []byte(b.String()), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "wan: trace:", err)
	}
}

// time90 returns the first sample time at which the flow's rate over the
// preceding window reached 90% of rate.
func (f *flowRun) time90(rate float64, window time.Duration) time.Duration {
	j := 0
	for i, s := range f.samples {
		for j+1 < i && f.samples[j+1].at <= s.at-window {
			j++
		}
		if d := s.at - f.samples[j].at; d >= window {
			if float64(s.bytes-f.samples[j].bytes)*8/d.Seconds() >= 0.9*rate {
				return s.at
			}
		}
	}
	return 0
}

func (f *flowRun) finish() {
	<-f.wdone
	flows.Delete(f.id)
}

const sampleEvery = 10 * time.Millisecond

// runSingle runs one flow of t through a fresh path of condition c.
func runSingle(t transport, srv server, c cond, p params, seed uint64, trace string) (res flowResult) {
	fwd, rev, err := links(c, p, seed)
	if err != nil {
		return flowResult{err: err}
	}
	defer rev.Close()
	defer fwd.Close()
	path, err := netem.NewPath(srv.addr(), fwd, rev)
	if err != nil {
		return flowResult{err: err}
	}
	defer path.Close()
	ctx, cancel := context.WithTimeout(context.Background(), p.cap+30*time.Second)
	defer cancel()
	cn, err := srv.dial(ctx, path.Addr())
	if err != nil {
		return flowResult{err: fmt.Errorf("dial: %w", err)}
	}
	closed := false
	defer func() {
		if !closed {
			cn.close()
		}
	}()
	size := p.sizeFor(c.rate)
	f, err := startFlow(ctx, cn, path, size)
	if err != nil {
		return flowResult{err: fmt.Errorf("open: %w", err)}
	}
	f.tracing = trace != ""
	defer f.writeTrace(trace)
	tick := time.NewTicker(sampleEvery)
	defer tick.Stop()
	for {
		<-tick.C
		f.sample()
		got, doneAt := f.t.get()
		if !doneAt.IsZero() {
			res.bytes, res.elapsed = got, doneAt.Sub(f.start)
			break
		}
		f.writeMu.Lock()
		werr := f.werr
		f.writeMu.Unlock()
		if werr != nil {
			res.err = fmt.Errorf("write: %w", werr)
			break
		}
		if el := time.Since(f.start); el >= p.cap {
			res.bytes, res.elapsed, res.cut = got, el, true
			break
		}
	}
	res.retx, res.retxOK = cn.retx()
	end := path.Stats(netem.Forward)
	res.queue = end.QueueDelay.Sub(&f.base.QueueDelay)
	res.health = measureHealth([]*netem.Path{path}, fwd, rev)
	res.queueDrop = end.DroppedQueue - f.base.DroppedQueue
	res.lossDrop = end.DroppedLoss - f.base.DroppedLoss
	res.t90 = f.time90(c.rate, max(c.rtt, 100*time.Millisecond))
	cn.close() // stops a cut writer
	closed = true
	f.finish()
	return res
}

// sharedResult is one shared-bottleneck run.
type sharedResult struct {
	shares []float64 // each flow's part of the goodput over the measured interval
	used   float64   // total goodput as a share of the link
	jain   float64
	p50    []time.Duration // each flow's RTT (base + queueing) median
	health health
	err    error
}

// health is how well the emulator kept up during a run: datagrams the
// kernel dropped at its sockets (loss it added) and the 99th percentile
// of its release lateness (delay it added).
type health struct {
	socketDrops uint64
	late99      time.Duration
}

// String is the table cell: the lateness, and the socket drops if any.
func (h health) String() string {
	s := fmt.Sprintf("%.2f", msf(h.late99))
	if h.socketDrops > 0 {
		s += fmt.Sprintf(" (%d socket drops)", h.socketDrops)
	}
	return s
}

func measureHealth(paths []*netem.Path, links ...*netem.Link) health {
	var h health
	for _, p := range paths {
		if p != nil {
			h.socketDrops += p.SocketDrops()
		}
	}
	for _, l := range links {
		late := l.Stats().Late
		h.late99 = max(h.late99, late.Quantile(0.99))
	}
	return h
}

// runShared starts one flow per member at once through one bottleneck
// and measures their goodput from a quarter of the run to its end (the
// first quarter is start-up and convergence).
func runShared(ms []member, c cond, p params, seed uint64, trace string) (res sharedResult) {
	fwd, rev, err := links(c, p, seed)
	if err != nil {
		return sharedResult{err: err}
	}
	defer rev.Close()
	defer fwd.Close()
	ctx, cancel := context.WithTimeout(context.Background(), p.sharedDur+30*time.Second)
	defer cancel()
	type live struct {
		path *netem.Path
		cn   conn
		f    *flowRun
	}
	lives := make([]live, len(ms))
	defer func() {
		for _, l := range lives {
			if l.cn != nil {
				l.cn.close()
			}
			if l.f != nil {
				l.f.finish()
			}
			if l.path != nil {
				l.path.Close()
			}
		}
	}()
	for i, m := range ms {
		path, err := netem.NewPath(m.srv.addr(), fwd, rev)
		if err != nil {
			return sharedResult{err: err}
		}
		lives[i].path = path
		cn, err := m.srv.dial(ctx, path.Addr())
		if err != nil {
			return sharedResult{err: fmt.Errorf("%s: dial: %w", m.name, err)}
		}
		lives[i].cn = cn
	}
	const unbounded = 1 << 40
	for i := range lives {
		f, err := startFlow(ctx, lives[i].cn, lives[i].path, unbounded)
		if err != nil {
			return sharedResult{err: fmt.Errorf("%s: open: %w", ms[i].name, err)}
		}
		lives[i].f = f
		if trace != "" {
			f.tracing = true
			defer f.writeTrace(fmt.Sprintf("%s_%d", trace, i))
		}
	}
	sleep := time.Sleep
	if trace != "" {
		sleep = func(d time.Duration) {
			tick := time.NewTicker(sampleEvery)
			defer tick.Stop()
			for end := time.Now().Add(d); time.Now().Before(end); {
				<-tick.C
				for _, l := range lives {
					l.f.sample()
				}
			}
		}
	}
	sleep(p.sharedDur / 4)
	b0 := make([]int64, len(lives))
	q0 := make([]netem.Histogram, len(lives))
	for i, l := range lives {
		b0[i], _ = l.f.t.get()
		q0[i] = l.path.Stats(netem.Forward).QueueDelay
	}
	t0 := time.Now()
	sleep(p.sharedDur * 3 / 4)
	el := time.Since(t0)
	var total float64
	xs := make([]float64, len(lives))
	for i, l := range lives {
		b, _ := l.f.t.get()
		xs[i] = float64(b - b0[i])
		total += xs[i]
		q := l.path.Stats(netem.Forward).QueueDelay
		d := q.Sub(&q0[i])
		res.p50 = append(res.p50, c.rtt+d.Quantile(0.5))
		l.f.writeMu.Lock()
		werr := l.f.werr
		l.f.writeMu.Unlock()
		if werr != nil {
			return sharedResult{err: fmt.Errorf("%s: write: %w", ms[i].name, werr)}
		}
	}
	if total == 0 {
		return sharedResult{err: errors.New("no bytes delivered")}
	}
	var sq float64
	for _, x := range xs {
		res.shares = append(res.shares, x/total)
		sq += x * x
	}
	res.used = total * 8 / el.Seconds() / c.rate
	paths := make([]*netem.Path, len(lives))
	for i, l := range lives {
		paths[i] = l.path
	}
	res.health = measureHealth(paths, fwd, rev)
	res.jain = total * total / (float64(len(xs)) * sq)
	return res
}

// ---- output ----

type row struct {
	cond      cond
	transport string
	res       flowResult
}

type sharedRow struct {
	cond  cond
	label string
	names []string
	res   sharedResult
}

func mtuText(mtu int) string {
	if mtu == 0 {
		return "no MTU limit (STT's path MTU discovery grows its datagrams to 65 000 bytes; quic-go stays at 1452)"
	}
	return fmt.Sprintf("an MTU of %d bytes, larger datagrams dropped without notice", mtu)
}

func printTables(w io.Writer, ts []transport, rows []row, shares []sharedRow, p params, took time.Duration) {
	fmt.Fprintf(w, "## WAN comparison (%s)\n\n", time.Now().UTC().Format("2006-01-02"))
	fmt.Fprintln(w, machine())
	fmt.Fprintf(w, "\nPath: internal/netem on loopback, symmetric links (the rate and a drop-tail queue of the given BDP multiple each way, RTT/2 of delay each way, %s), random loss on the data direction only; rates count IP packets (payload + 28 bytes).\n", mtuText(p.mtu))
	if len(rows) > 0 {
		var sizes []string
		seen := map[float64]bool{}
		for _, r := range rows {
			if !seen[r.cond.rate] {
				seen[r.cond.rate] = true
				sizes = append(sizes, fmt.Sprintf("%s at %s", size(p.sizeFor(r.cond.rate)), mbit(r.cond.rate)))
			}
		}
		fmt.Fprintf(w, "Single flows: %s per flow (scaled down with the rate so a row takes ~10 s at most at line rate), start-up included, cut at %s (goodput then over the cap, marked ✂). Time to 90%%: first moment the flow's rate out of the bottleneck over max(RTT, 100 ms) reached 90%% of the link. Sender RTT: base RTT + the queueing delay its packets met at the bottleneck.\n\n",
			strings.Join(sizes, ", "), p.cap)
		fmt.Fprintln(w, "| rate | RTT | queue | loss | transport | goodput % of link | time to 90% | retx % | sender RTT p50 / p99 ms | queue drops | random drops | emulator late p99 ms |")
		fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|---|---|---|---|")
		for _, r := range rows {
			c := r.cond
			lead := fmt.Sprintf("| %s | %s | %s BDP | %s | %s |", mbit(c.rate), ms(c.rtt), trim(c.queue), pct(c.loss), r.transport)
			if r.res.err != nil {
				fmt.Fprintf(w, "%s error: %s | | | | | | |\n", lead, strings.ReplaceAll(r.res.err.Error(), "|", "/"))
				continue
			}
			res := r.res
			good := fmt.Sprintf("%.0f%%", 100*float64(res.bytes)*8/res.elapsed.Seconds()/c.rate)
			if res.cut {
				good += fmt.Sprintf(" ✂ (%s in %s)", size(res.bytes), res.elapsed.Round(time.Second))
			}
			t90 := "never"
			if res.t90 > 0 {
				t90 = fmt.Sprintf("%.2f s", res.t90.Seconds())
			}
			retx := "–"
			if res.retxOK {
				retx = fmt.Sprintf("%.2f", 100*res.retx)
			}
			rtt := fmt.Sprintf("%.1f / %.1f", msf(c.rtt+res.queue.Quantile(0.5)), msf(c.rtt+res.queue.Quantile(0.99)))
			fmt.Fprintf(w, "%s %s | %s | %s | %s | %d | %d | %s |\n", lead, good, t90, retx, rtt, res.queueDrop, res.lossDrop, res.health)
		}
	}
	if len(shares) > 0 {
		fmt.Fprintf(w, "\nShared bottleneck: the flows start together through one link pair (no loss); shares of the goodput from %s to %s.\n\n",
			(p.sharedDur / 4).Round(time.Second), p.sharedDur.Round(time.Second))
		fmt.Fprintln(w, "| rate | RTT | queue | flows | shares of goodput | link used | Jain's index | sender RTT p50 ms | emulator late p99 ms |")
		fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|---|")
		for _, s := range shares {
			c := s.cond
			lead := fmt.Sprintf("| %s | %s | %s BDP | %s |", mbit(c.rate), ms(c.rtt), trim(c.queue), s.label)
			if s.res.err != nil {
				fmt.Fprintf(w, "%s error: %s | | | | |\n", lead, strings.ReplaceAll(s.res.err.Error(), "|", "/"))
				continue
			}
			var parts, rtts []string
			for i, x := range s.res.shares {
				name := s.names[i]
				if len(s.names) > 2 {
					name = ""
				}
				parts = append(parts, strings.TrimSpace(fmt.Sprintf("%s %.0f%%", name, 100*x)))
				rtts = append(rtts, fmt.Sprintf("%.1f", msf(s.res.p50[i])))
			}
			fmt.Fprintf(w, "%s %s | %.0f%% | %.3f | %s | %s |\n", lead, strings.Join(parts, " / "), 100*s.res.used, s.res.jain, strings.Join(rtts, " / "), s.res.health)
		}
	}
	var worst health
	for _, r := range rows {
		worst.socketDrops += r.res.health.socketDrops
		worst.late99 = max(worst.late99, r.res.health.late99)
	}
	for _, s := range shares {
		worst.socketDrops += s.res.health.socketDrops
		worst.late99 = max(worst.late99, s.res.health.late99)
	}
	fmt.Fprintf(w, "\nEmulator health: %d datagrams dropped at its sockets (loss it added; should be 0), release lateness p99 at most %.2f ms (delay it added; the last column of each row). Lateness of milliseconds means the machine was saturated during the row (both ends of every flow and the emulator share its cores): read such rows as indicative.\n\n",
		worst.socketDrops, msf(worst.late99))
	for _, t := range ts {
		fmt.Fprintf(w, "- %s: %s\n", t.name, t.note)
	}
	fmt.Fprintf(w, "- Run took %s.\n", took.Round(time.Second))
}

// ---- flags and formatting ----

func parseGrid(rates, rtts, losses, queues string) ([]cond, error) {
	rs, err := floats(rates, "rates")
	if err != nil {
		return nil, err
	}
	ts, err := floats(rtts, "rtts")
	if err != nil {
		return nil, err
	}
	ls, err := floats(losses, "losses")
	if err != nil {
		return nil, err
	}
	qs, err := floats(queues, "queues")
	if err != nil {
		return nil, err
	}
	var g []cond
	for _, r := range rs {
		for _, t := range ts {
			for _, q := range qs {
				for _, l := range ls {
					if r <= 0 || t <= 0 || q <= 0 || l < 0 || l >= 100 {
						return nil, fmt.Errorf("grid value out of range: rate %v Mbit/s, RTT %v ms, queue %v BDP, loss %v%%", r, t, q, l)
					}
					g = append(g, cond{rate: r * 1e6, rtt: time.Duration(t * float64(time.Millisecond)), queue: q, loss: l / 100})
				}
			}
		}
	}
	return g, nil
}

func floats(s, name string) ([]float64, error) {
	var out []float64
	for _, f := range strings.Split(s, ",") {
		v, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
		if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, fmt.Errorf("-%s: %q is not a number", name, f)
		}
		out = append(out, v)
	}
	return out, nil
}

func parseSize(s string) (int64, error) {
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		m      int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if strings.HasSuffix(s, u.suffix) {
			s, mult = strings.TrimSuffix(s, u.suffix), u.m
			break
		}
	}
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("-size: %q is not a positive size", s)
	}
	return n * mult, nil
}

func mbit(r float64) string { return trim(r/1e6) + " Mbit/s" }
func ms(d time.Duration) string {
	return trim(float64(d)/float64(time.Millisecond)) + " ms"
}
func msf(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
func pct(f float64) string        { return trim(100*f) + "%" }
func trim(f float64) string       { return strconv.FormatFloat(f, 'f', -1, 64) }

func size(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	}
	return fmt.Sprintf("%d KiB", n>>10)
}

func machine() string {
	model := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				model = strings.TrimSpace(v)
				break
			}
		}
	}
	kernel := "unknown"
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		kernel = strings.TrimSpace(string(b))
	}
	return fmt.Sprintf("Machine: %s, %d cores (GOMAXPROCS %d), Linux %s, %s, %s/%s; STT %s.",
		model, runtime.NumCPU(), runtime.GOMAXPROCS(0), kernel, runtime.Version(), runtime.GOOS, runtime.GOARCH, sttInfo)
}
