package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/stt-go/stt"
)

// demoSizes are the demo's workloads.
type demoSizes struct {
	bulk1, bulk2 int64 // bytes on the two bulk streams
	messages     int64 // 64-byte messages on the message stream
}

// settleStats bounds the wait for the streams' closing acknowledgements
// before the demo prints the session counters: forty of the peer's ACK
// delays (25 ms), ample on a loaded machine; the wait ends as soon as
// both ends count no active stream (within ~30 ms here), and a stream
// still open after it is shown as it is.
const settleStats = time.Second

// Demo presets: "full" is what `make demo` runs (well under a minute on
// two cores); "small" is for tests.
var demoPresets = map[string]demoSizes{
	"full":  {bulk1: 256 * miB, bulk2: 64 * miB, messages: 100_000},
	"small": {bulk1: 8 * miB, bulk2: 2 * miB, messages: 5_000},
}

// parseDemoSize accepts a preset name or a byte count for the first bulk
// stream (the second gets a quarter, messages scale along).
func parseDemoSize(s string) (demoSizes, error) {
	if p, ok := demoPresets[s]; ok {
		return p, nil
	}
	n, err := parseSize(s)
	if err != nil {
		return demoSizes{}, usagef("--size: want full, small or a size such as 64MiB: %v", err)
	}
	full := demoPresets["full"]
	return demoSizes{bulk1: n, bulk2: n / 4, messages: max(1000, full.messages*n/full.bulk1)}, nil
}

// demoResult is the outcome of one demo workload.
type demoResult struct {
	name    string
	what    string
	bytes   int64
	elapsed time.Duration
	err     error
}

func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("demo", "demo [--size full|small|BYTES] [--progress MODE]", stderr)
	var nf nodeFlags
	nf.register(fs, false)
	var mf metricsFlags
	mf.register(fs)
	sizeS := fs.String("size", "full", "workload: full (256 MiB + 64 MiB + 100 000 messages), small, or the first bulk stream's size (e.g. 64MiB)")
	stall := fs.Duration("stall-timeout", defaultStallTimeout, "fail when no data moved for this `duration` (0 disables)")
	prog := fs.String("progress", "auto", "progress display: auto (bars on a terminal), bar, plain or off")
	if err := fs.parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	sz, err := parseDemoSize(*sizeS)
	if err != nil {
		return err
	}
	mode, err := parseProgressMode(*prog)
	if err != nil {
		return err
	}
	if nf.handshakeTimeout <= 0 {
		return usagef("--handshake-timeout must be positive")
	}
	log, err := nf.logger(stderr)
	if err != nil {
		return err
	}
	mx, err := mf.start(stderr)
	if err != nil {
		return err
	}
	defer mx.close(ctx)

	fmt.Fprintf(stdout, "STT demo: two nodes in one process on 127.0.0.1, %d CPUs, %s\n", runtime.GOMAXPROCS(0), runtime.Version())
	t0 := time.Now()
	a, b, sa, err := loopbackPair(ctx, &nf, log)
	if err != nil {
		return err
	}
	hs := time.Since(t0)
	if err := mx.addPair(a, b, sa); err != nil {
		stopNode(a)
		stopNode(b)
		return err
	}
	srv := &server{log: log, onSession: mx.tracker(b)}
	defer srv.serveInProcess(ctx, a, b)()
	fmt.Fprintf(stdout, "handshake: node A %s (%s) -> node B %s (%s) in %s, suite %s, node IDs verified\n",
		a.ID().Short(), a.Addr(), b.ID().Short(), b.Addr(), fmtDur(hs), sa.Stats().Suite)
	fmt.Fprintf(stdout, "sending at once: bulk-1 %s, bulk-2 %s, %s messages of %d B; every byte checked by the receiver (%s)\n",
		formatBytes(sz.bulk1), formatBytes(sz.bulk2), formatCount(sz.messages), messageLen, "compared with the deterministic generator")

	pg := newProgress(stdout, mode.resolve(os.Stdout), sizeOf(os.Stdout))
	wctx, cancelWork := context.WithCancelCause(ctx)
	defer cancelWork(nil)
	cpu0, haveCPU := cpuTime()
	start := time.Now()
	jobs := []struct {
		name, what string
		total      int64
		unit       string
		run        func(t *task) error
	}{
		{"bulk-1", "bytes", sz.bulk1, "", func(t *task) error {
			_, err := sendBody(wctx, sa, header{Kind: kindPattern, Size: uint64(sz.bulk1), Seed: 1}, &patternReader{seed: 1, n: uint64(sz.bulk1)}, t)
			return err
		}},
		{"messages", "messages", sz.messages, "msgs", func(t *task) error {
			_, err := sendMessages(wctx, sa, uint64(sz.messages), 3, t)
			return err
		}},
		{"bulk-2", "bytes", sz.bulk2, "", func(t *task) error {
			_, err := sendBody(wctx, sa, header{Kind: kindPattern, Size: uint64(sz.bulk2), Seed: 2}, &patternReader{seed: 2, n: uint64(sz.bulk2)}, t)
			return err
		}},
	}
	results := make([]demoResult, len(jobs))
	var wg sync.WaitGroup
	for i, j := range jobs {
		t := pg.Add(j.name, j.total, j.unit, start)
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := j.run(t)
			t.Finish(time.Now(), err != nil)
			n := j.total
			if j.unit != "" {
				n *= messageLen
			}
			results[i] = demoResult{name: j.name, what: j.what, bytes: n, elapsed: time.Since(start), err: err}
		}()
	}
	pctx, stopProgress := context.WithCancel(context.Background())
	progressDone := make(chan struct{})
	go func() {
		defer close(progressDone)
		pg.Run(pctx)
	}()
	go pg.Watch(pctx, *stall, func() {
		cancelWork(fmt.Errorf("%w: no data moved for %v", errStalled, *stall))
	})
	wg.Wait()
	wall := time.Since(start)
	cpu1, _ := cpuTime()
	stopProgress()
	<-progressDone

	var errs []error
	var total int64
	fmt.Fprintln(stdout)
	for _, r := range results {
		if r.err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", r.name, r.err))
			fmt.Fprintf(stdout, "%-8s FAILED: %s\n", r.name, oneLine(r.err.Error()))
			continue
		}
		total += r.bytes
		fmt.Fprintf(stdout, "%-8s verified  %s in %.3fs  %s\n", r.name, formatBytes(r.bytes), r.elapsed.Seconds(), formatRate(r.bytes, r.elapsed))
	}
	// Every job has its reply, but the receiver's last streams are still
	// open until the sender's acknowledgement of their FIN arrives (an ACK
	// may wait up to the peer's ACK delay): give the counters that long to
	// settle, so "active streams" shows what stays open, not what is in
	// flight.
	var sb stt.SessionStats
	for settle := time.Now().Add(settleStats); ; time.Sleep(time.Millisecond) {
		for _, s := range b.Sessions() {
			if s.PeerID() == a.ID() {
				sb = s.Stats()
			}
		}
		if (sb.ActiveStreams == 0 && sa.Stats().ActiveStreams == 0) || time.Now().After(settle) {
			break
		}
	}
	printSessionStats(stdout, sa.Stats(), sb)
	fmt.Fprintf(stdout, "\ntotal     %s in %.3fs  %s", formatBytes(total), wall.Seconds(), formatRate(total, wall))
	if haveCPU && total > 0 {
		cpu := cpu1 - cpu0
		fmt.Fprintf(stdout, "  CPU %.2f s  %.2f CPU-s/GiB (both nodes, data generation and checks included)", cpu.Seconds(), cpu.Seconds()/(float64(total)/giB))
	}
	fmt.Fprintln(stdout)
	cctx, cancel := context.WithTimeout(context.Background(), stopTimeout)
	_ = sa.CloseContext(cctx)
	cancel()
	if cause := context.Cause(wctx); errors.Is(cause, errStalled) {
		return cause
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	fmt.Fprintf(stdout, "OK: every byte verified (%s bulk, %s messages)\n", formatBytes(sz.bulk1+sz.bulk2), formatCount(sz.messages))
	return nil
}

// printSessionStats prints both ends' session counters side by side: the
// seed's list (bytes, messages, created, last active, streams) plus RTT,
// loss, congestion window and key rotations.
func printSessionStats(w io.Writer, a, b stt.SessionStats) {
	fmt.Fprintln(w, "\nsession stats")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "\tnode A (initiator)\tnode B (responder)")
	row := func(name string, f func(s stt.SessionStats) string) {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", name, f(a), f(b))
	}
	u := func(v uint64) string { return formatCount(int64(v)) }
	row("bytes sent", func(s stt.SessionStats) string { return formatBytes(int64(s.BytesSent)) })
	row("bytes received", func(s stt.SessionStats) string { return formatBytes(int64(s.BytesReceived)) })
	row("messages sent", func(s stt.SessionStats) string { return u(s.MessagesSent) })
	row("messages received", func(s stt.SessionStats) string { return u(s.MessagesReceived) })
	row("packets sent", func(s stt.SessionStats) string { return u(s.PacketsSent) })
	row("packets received", func(s stt.SessionStats) string { return u(s.PacketsReceived) })
	row("packets lost", func(s stt.SessionStats) string { return u(s.PacketsLost) })
	row("packets retransmitted", func(s stt.SessionStats) string { return u(s.PacketsRetransmitted) })
	row("smoothed RTT", func(s stt.SessionStats) string { return fmtDur(s.SmoothedRTT) })
	row("min RTT", func(s stt.SessionStats) string { return fmtDur(s.MinRTT) })
	row("congestion window", func(s stt.SessionStats) string { return formatBytes(int64(s.CongestionWindow)) })
	row("key rotations sent/recv", func(s stt.SessionStats) string { return u(s.KeyRotationsSent) + " / " + u(s.KeyRotationsReceived) })
	row("drops auth/replay/malformed", func(s stt.SessionStats) string {
		return u(s.DropsAuth) + " / " + u(s.DropsReplay) + " / " + u(s.DropsMalformed)
	})
	row("active streams", func(s stt.SessionStats) string { return formatCount(int64(s.ActiveStreams)) })
	row("created", func(s stt.SessionStats) string { return s.Created.Format("15:04:05.000") })
	row("last active", func(s stt.SessionStats) string { return s.LastActive.Format("15:04:05.000") })
	row("suite", func(s stt.SessionStats) string { return s.Suite })
	tw.Flush()
}
