package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/stt-go/stt"
)

// Defaults of `stt bench`.
const (
	defaultBenchSize     = 256 * miB // bulk bytes in total, split over the streams
	defaultBenchMessages = 200_000   // 64-byte messages for the message rate
	defaultBenchRTT      = 5_000     // 64-byte round trips for p50/p99
)

// benchResult holds one run's numbers.
type benchResult struct {
	Bytes      int64
	Streams    int
	Bulk       time.Duration
	BulkCPU    time.Duration // process CPU during the bulk phase (0: unknown)
	Messages   int64
	MsgTime    time.Duration
	RTTs       []time.Duration
	Suite      string
	Loopback   bool
	Sess       stt.SessionStats
	HaveCPU    bool
	Handshake  time.Duration
	RemoteAddr string
}

func runBench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("bench", "bench [(--to HOST:PORT | --via URL) --node-seed FILE --shared-seed FILE] [--size N] [--streams N]", stderr)
	var nf nodeFlags
	nf.register(fs, true)
	var mf metricsFlags
	mf.register(fs)
	var pf peerFlags
	pf.register(fs, "benchmark against a listening node at UDP `HOST:PORT` (default: two in-process nodes on loopback)")
	sizeS := fs.String("size", "256MiB", "bulk `bytes` in total, split over the streams (e.g. 64MiB, 1GiB)")
	streams := fs.Int("streams", 1, "bulk streams at once")
	messages := fs.Int64("messages", defaultBenchMessages, "64-byte messages for the message rate (0 skips)")
	rtt := fs.Int("rtt", defaultBenchRTT, "64-byte round trips for p50/p99 (0 skips)")
	if err := fs.parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	if err := pf.check(false); err != nil {
		return err
	}
	size, err := parseSize(*sizeS)
	if err != nil {
		return usagef("--size: %v", err)
	}
	if *streams < 1 || *streams > 256 {
		return usagef("--streams must be in [1, 256]")
	}
	if *messages < 0 || *rtt < 0 {
		return usagef("--messages and --rtt must not be negative")
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
	var sess *stt.Session
	res := benchResult{Streams: *streams, Loopback: !pf.remote()}
	t0 := time.Now()
	if res.Loopback {
		a, b, sa, err := loopbackPair(ctx, &nf, log)
		if err != nil {
			return err
		}
		res.Handshake = time.Since(t0)
		if err := mx.addPair(a, b, sa); err != nil {
			stopNode(a)
			stopNode(b)
			return err
		}
		srv := &server{log: log, onSession: mx.tracker(b)}
		shutdown := srv.serveInProcess(ctx, a, b)
		defer func() {
			sa.Close()
			shutdown()
		}()
		sess = sa
		res.Suite = a.Suite()
	} else {
		cfg, err := nf.config("", log)
		if err != nil {
			return err
		}
		var node *stt.Node
		var cleanup func()
		ctx, node, sess, cleanup, err = dialPeer(ctx, &pf, &nf, cfg, mx, log)
		if err != nil {
			return err
		}
		defer cleanup()
		res.Handshake = time.Since(t0)
		res.Suite = node.Suite()
		res.RemoteAddr = pf.name()
	}
	if err := benchSession(ctx, sess, size, *streams, *messages, *rtt, &res); err != nil {
		if cause := context.Cause(ctx); errors.Is(cause, errTunnelEnded) {
			return cause
		}
		if ctx.Err() != nil {
			return err
		}
		return sessionCause(sess, err)
	}
	res.Sess = sess.Stats()
	if res.Sess.Suite != "" {
		res.Suite = res.Sess.Suite
	}
	printBench(stdout, &res)
	return nil
}

// benchSession runs the three measurements on sess.
func benchSession(ctx context.Context, sess *stt.Session, size int64, streams int, messages int64, rtt int, res *benchResult) error {
	if size > 0 {
		cpu0, ok := cpuTime()
		start := time.Now()
		var wg sync.WaitGroup
		errs := make([]error, streams)
		per := size / int64(streams)
		for i := range streams {
			n := per
			if i == streams-1 {
				n = size - per*int64(streams-1)
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, errs[i] = sendBody(ctx, sess, header{Kind: kindSink, Size: uint64(n)}, &repeatReader{n: n}, nil)
			}()
		}
		wg.Wait()
		res.Bulk = time.Since(start)
		cpu1, _ := cpuTime()
		res.BulkCPU, res.HaveCPU = cpu1-cpu0, ok
		res.Bytes = size
		for _, err := range errs {
			if err != nil {
				return fmt.Errorf("bulk: %w", err)
			}
		}
	}
	if messages > 0 {
		start := time.Now()
		if _, err := sendMessages(ctx, sess, uint64(messages), 42, nil); err != nil {
			return fmt.Errorf("messages: %w", err)
		}
		res.MsgTime = time.Since(start)
		res.Messages = messages
	}
	if rtt > 0 {
		rtts, err := roundTrips(ctx, sess, rtt)
		if err != nil {
			return fmt.Errorf("rtt: %w", err)
		}
		res.RTTs = rtts
	}
	return nil
}

// repeatReader yields n bytes of one fixed buffer of generator data, so the
// benchmark measures the transport, not a data source.
type repeatReader struct {
	n, off int64
	buf    []byte
}

func (r *repeatReader) Read(p []byte) (int, error) {
	if r.off >= r.n {
		return 0, io.EOF
	}
	if r.buf == nil {
		r.buf = make([]byte, copyBufSize)
		patternAt(r.buf, 1, 0)
	}
	k := copy(p, r.buf[r.off%int64(len(r.buf)):])
	k = int(min(int64(k), r.n-r.off))
	r.off += int64(k)
	return k, nil
}

// percentile returns the q-quantile (0..1) of sorted d (nearest rank).
func percentile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(q*float64(len(sorted))+0.5) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

func printBench(w io.Writer, r *benchResult) {
	where := "loopback, two in-process nodes (CPU covers both)"
	if !r.Loopback {
		where = "against " + r.RemoteAddr + " (CPU covers this side only)"
	}
	fmt.Fprintf(w, "stt bench: %s, suite %s, handshake %.1f ms\n", where, r.Suite, float64(r.Handshake.Microseconds())/1000)
	if r.Bytes > 0 {
		cpu := "-"
		if r.HaveCPU {
			cpu = fmt.Sprintf("%.2f CPU-s/GiB", r.BulkCPU.Seconds()/(float64(r.Bytes)/giB))
		}
		fmt.Fprintf(w, "bulk      %d stream(s)  %s in %.3fs  %s  %s\n", r.Streams, formatBytes(r.Bytes), r.Bulk.Seconds(), formatRate(r.Bytes, r.Bulk), cpu)
	}
	if r.Messages > 0 {
		fmt.Fprintf(w, "messages  %s x %d B in %.3fs  %s msg/s\n", formatCount(r.Messages), messageLen, r.MsgTime.Seconds(), formatCount(int64(float64(r.Messages)/r.MsgTime.Seconds())))
	}
	if len(r.RTTs) > 0 {
		s := slices.Clone(r.RTTs)
		slices.Sort(s)
		fmt.Fprintf(w, "rtt       %s x %d B round trips  p50 %s  p99 %s  max %s\n", formatCount(int64(len(s))), messageLen, fmtDur(percentile(s, 0.5)), fmtDur(percentile(s, 0.99)), fmtDur(s[len(s)-1]))
	}
	fmt.Fprintf(w, "session   packets sent %s, received %s, lost %s, retransmitted %s, srtt %s, cwnd %s\n",
		formatCount(int64(r.Sess.PacketsSent)), formatCount(int64(r.Sess.PacketsReceived)), formatCount(int64(r.Sess.PacketsLost)),
		formatCount(int64(r.Sess.PacketsRetransmitted)), fmtDur(r.Sess.SmoothedRTT), formatBytes(int64(r.Sess.CongestionWindow)))
}

// fmtDur prints a duration rounded to a readable precision.
func fmtDur(d time.Duration) string {
	switch {
	case d < time.Millisecond:
		return fmt.Sprintf("%d µs", d.Microseconds())
	case d < time.Second:
		return fmt.Sprintf("%.2f ms", float64(d.Microseconds())/1000)
	}
	return fmt.Sprintf("%.2f s", d.Seconds())
}
