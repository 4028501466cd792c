// Command compare runs STT against other transports on loopback, both ends
// in one process, in interleaved rounds (A B C … A B C …), and prints a
// Markdown table of medians with min–max: bulk throughput on one stream
// and on four, CPU-seconds per GiB for the one-stream bulk (rusage, both
// ends), 64-byte messages per second, handshakes per second and the
// round-trip time of a 64-byte message (p50/p99). Streams of transports
// without multiplexing (TLS over TCP, kcp-go) are separate connections.
// Raw UDP has no reliability, congestion control or crypto: its bulk and
// message numbers are goodput at the receiver, with the loss shown. -short
// runs a smoke round with small sizes in a few seconds.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"
)

// Workload sizes.
const (
	defaultSize       = 1 << 30 // bulk bytes per run (the 1 GiB)
	shortSize         = 32 << 20
	defaultMessages   = 200_000
	shortMessages     = 20_000
	defaultHandshakes = 200
	shortHandshakes   = 20
	defaultRTT        = 2_000
	shortRTT          = 200
	msgLen            = 64        // bytes per message and per RTT probe
	copyBuf           = 256 << 10 // write and read size of bulk copies
	bulkStreams       = 4         // the multi-stream bulk run
	runTimeout        = 5 * time.Minute
)

// client opens byte streams to the transport's server.
type client interface {
	open(ctx context.Context) (stream, error)
	close()
}

// stream is one reliable byte stream (a QUIC/STT stream, or a whole
// connection for TLS and kcp).
type stream interface {
	io.ReadWriter
	Close() error
}

// transport is one contender.
type transport struct {
	name string
	note string
	// start starts the server and returns a dial function and a stop.
	start func() (dial func(ctx context.Context) (client, error), stop func(), err error)
	// noHandshake marks transports without a handshake (kcp).
	noHandshake bool
	// raw is set for raw UDP, which runs its own workloads.
	raw bool
}

// sample collects one metric over rounds.
type sample []float64

func (s sample) stats() (med, lo, hi float64, ok bool) {
	if len(s) == 0 {
		return 0, 0, 0, false
	}
	c := slices.Clone(s)
	slices.Sort(c)
	return c[len(c)/2], c[0], c[len(c)-1], true
}

// results holds every metric of one transport.
type results struct {
	bulk1, cpu, bulk4, msgs, hs, p50, p99 sample
	loss                                  sample // raw UDP: percent lost in bulk
	err                                   error
}

func main() {
	short := flag.Bool("short", false, "smoke mode: small sizes, one round")
	size := flag.Int64("size", defaultSize, "bulk bytes per run")
	rounds := flag.Int("rounds", 3, "interleaved rounds")
	messages := flag.Int("messages", defaultMessages, "64-byte messages per run")
	handshakes := flag.Int("handshakes", defaultHandshakes, "handshakes per run")
	rtt := flag.Int("rtt", defaultRTT, "round trips per run")
	only := flag.String("only", "", "comma-separated transports to run (default all)")
	flag.Parse()
	if *short {
		*size, *rounds, *messages, *handshakes, *rtt = shortSize, 1, shortMessages, shortHandshakes, shortRTT
	}
	ts := transports()
	if *only != "" {
		want := strings.Split(*only, ",")
		ts = slices.DeleteFunc(ts, func(t transport) bool { return !slices.Contains(want, t.name) })
	}
	if err := run(os.Stdout, ts, *size, *rounds, *messages, *handshakes, *rtt); err != nil {
		fmt.Fprintln(os.Stderr, "compare:", err)
		os.Exit(1)
	}
}

type params struct {
	size                 int64
	messages, handshakes int
	rtt                  int
}

func run(w io.Writer, ts []transport, size int64, rounds, messages, handshakes, rtt int) error {
	p := params{size: size, messages: messages, handshakes: handshakes, rtt: rtt}
	type live struct {
		dial func(ctx context.Context) (client, error)
		stop func()
	}
	servers := make([]live, len(ts))
	for i, t := range ts {
		dial, stop, err := t.start()
		if err != nil {
			return fmt.Errorf("%s: start: %w", t.name, err)
		}
		servers[i] = live{dial, stop}
	}
	defer func() {
		for _, s := range servers {
			s.stop()
		}
	}()
	res := make([]results, len(ts))
	for r := range rounds {
		for i, t := range ts {
			if res[i].err != nil {
				continue
			}
			fmt.Fprintf(os.Stderr, "round %d/%d: %s\n", r+1, rounds, t.name)
			ctx, cancel := context.WithTimeout(context.Background(), runTimeout)
			var err error
			if t.raw {
				err = runRaw(ctx, p, &res[i])
			} else {
				err = runOne(ctx, t, servers[i].dial, p, &res[i])
			}
			cancel()
			if err != nil {
				res[i].err = err
			}
		}
	}
	printTable(w, ts, res, p, rounds)
	return nil
}

// runOne runs every workload once on t and appends to res.
func runOne(ctx context.Context, t transport, dial func(context.Context) (client, error), p params, res *results) error {
	cl, err := dial(ctx)
	if err != nil {
		return fmt.Errorf("dial: %w", err)
	}
	defer cl.close()
	// Warm-up: one small transfer so lazy set-up costs stay out.
	if err := bulk(ctx, cl, 1<<20, 1); err != nil {
		return fmt.Errorf("warm-up: %w", err)
	}
	cpu0 := cpuTime()
	start := time.Now()
	if err := bulk(ctx, cl, p.size, 1); err != nil {
		return fmt.Errorf("bulk: %w", err)
	}
	d := time.Since(start)
	cpu := cpuTime() - cpu0
	res.bulk1 = append(res.bulk1, gbits(p.size, d))
	res.cpu = append(res.cpu, cpu.Seconds()/(float64(p.size)/(1<<30)))

	start = time.Now()
	if err := bulk(ctx, cl, p.size, bulkStreams); err != nil {
		return fmt.Errorf("bulk x%d: %w", bulkStreams, err)
	}
	res.bulk4 = append(res.bulk4, gbits(p.size, time.Since(start)))

	start = time.Now()
	if err := messages(ctx, cl, p.messages); err != nil {
		return fmt.Errorf("messages: %w", err)
	}
	res.msgs = append(res.msgs, float64(p.messages)/time.Since(start).Seconds())

	rtts, err := roundTrips(ctx, cl, p.rtt)
	if err != nil {
		return fmt.Errorf("rtt: %w", err)
	}
	res.p50 = append(res.p50, us(pct(rtts, 0.50)))
	res.p99 = append(res.p99, us(pct(rtts, 0.99)))

	if !t.noHandshake {
		// Only the dial (handshake) is timed; closing is not part of set-up
		// and some stacks drain on close.
		var total time.Duration
		for range p.handshakes {
			t0 := time.Now()
			c, err := dial(ctx)
			total += time.Since(t0)
			if err != nil {
				return fmt.Errorf("handshake: %w", err)
			}
			c.close()
		}
		res.hs = append(res.hs, float64(p.handshakes)/total.Seconds())
	}
	return nil
}

// Stream modes of the generic server (first byte of a stream, then a
// big-endian uint64 n).
const (
	modeBulk     = 'B' // n bytes, then a 1-byte ack
	modeMessages = 'M' // n 64-byte writes (STT: n messages), then a 1-byte ack
	modeEcho     = 'E' // n 64-byte round trips
)

func writeHeader(w io.Writer, mode byte, n uint64) error {
	var h [9]byte
	h[0] = mode
	for i := range 8 {
		h[1+i] = byte(n >> (56 - 8*i))
	}
	_, err := w.Write(h[:])
	return err
}

// serve answers one stream of the generic protocol. msgs, when non-nil,
// receives modeMessages as whole messages (STT's message API).
func serve(st stream, msgs func(n uint64) error) {
	defer st.Close()
	var h [9]byte
	if _, err := io.ReadFull(st, h[:]); err != nil {
		return
	}
	var n uint64
	for i := range 8 {
		n = n<<8 | uint64(h[1+i])
	}
	switch h[0] {
	case modeBulk, modeMessages:
		if h[0] == modeMessages && msgs != nil {
			if msgs(n) != nil {
				return
			}
		} else {
			total := n
			if h[0] == modeMessages {
				total = n * msgLen
			}
			buf := make([]byte, copyBuf)
			if _, err := io.CopyBuffer(io.Discard, io.LimitReader(st, int64(total)), buf); err != nil {
				return
			}
		}
		st.Write([]byte{1})
		// Wait for the client's close so the ack is not cut off.
		st.Read(h[:1])
	case modeEcho:
		var b [msgLen]byte
		for range n {
			if _, err := io.ReadFull(st, b[:]); err != nil {
				return
			}
			if _, err := st.Write(b[:]); err != nil {
				return
			}
		}
		st.Read(h[:1])
	}
}

// bulk sends size bytes split over k streams at once.
func bulk(ctx context.Context, cl client, size int64, k int) error {
	var wg sync.WaitGroup
	errs := make([]error, k)
	per := size / int64(k)
	for i := range k {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = bulkOne(ctx, cl, per)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

func bulkOne(ctx context.Context, cl client, n int64) error {
	st, err := cl.open(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	if err := writeHeader(st, modeBulk, uint64(n)); err != nil {
		return err
	}
	buf := make([]byte, copyBuf)
	for i := range buf {
		buf[i] = byte(i * 7)
	}
	for left := n; left > 0; {
		k := min(left, int64(len(buf)))
		if _, err := st.Write(buf[:k]); err != nil {
			return err
		}
		left -= k
	}
	var ack [1]byte
	_, err = io.ReadFull(st, ack[:])
	return err
}

// messageSender is implemented by streams with a message API (STT).
type messageSender interface {
	SendMessage(ctx context.Context, msg []byte) error
}

func messages(ctx context.Context, cl client, n int) error {
	st, err := cl.open(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	if err := writeHeader(st, modeMessages, uint64(n)); err != nil {
		return err
	}
	var m [msgLen]byte
	ms, isMsg := st.(messageSender)
	bg := context.Background()
	for i := range n {
		m[0] = byte(i)
		if isMsg {
			err = ms.SendMessage(bg, m[:])
		} else {
			_, err = st.Write(m[:])
		}
		if err != nil {
			return err
		}
	}
	var ack [1]byte
	_, err = io.ReadFull(st, ack[:])
	return err
}

func roundTrips(ctx context.Context, cl client, n int) ([]time.Duration, error) {
	st, err := cl.open(ctx)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	if err := writeHeader(st, modeEcho, uint64(n)); err != nil {
		return nil, err
	}
	var m, back [msgLen]byte
	out := make([]time.Duration, 0, n)
	for i := range n {
		m[0] = byte(i)
		t0 := time.Now()
		if _, err := st.Write(m[:]); err != nil {
			return nil, err
		}
		if _, err := io.ReadFull(st, back[:]); err != nil {
			return nil, err
		}
		out = append(out, time.Since(t0))
	}
	return out, nil
}

func gbits(n int64, d time.Duration) float64 { return float64(n) * 8 / d.Seconds() / 1e9 }
func us(d time.Duration) float64             { return float64(d.Nanoseconds()) / 1e3 }

func pct(d []time.Duration, q float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	i := int(q*float64(len(s))+0.5) - 1
	return s[min(max(i, 0), len(s)-1)]
}

func printTable(w io.Writer, ts []transport, res []results, p params, rounds int) {
	fmt.Fprintf(w, "## Loopback comparison (%s)\n\n", time.Now().UTC().Format("2006-01-02"))
	fmt.Fprintln(w, machine())
	fmt.Fprintf(w, "\nBulk %s per run (4 streams: %s each), %d × %d B messages, %d handshakes, %d RTT probes; %d interleaved round(s); median (min–max).\n\n",
		size(p.size), size(p.size/bulkStreams), p.messages, msgLen, p.handshakes, p.rtt, rounds)
	fmt.Fprintln(w, "| transport | bulk 1 stream Gbit/s | CPU-s/GiB (both ends) | bulk 4 streams Gbit/s | 64 B msgs/s | handshakes/s | RTT p50 µs | RTT p99 µs |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|")
	for i, t := range ts {
		r := res[i]
		if r.err != nil {
			fmt.Fprintf(w, "| %s | error: %s | | | | | | |\n", t.name, strings.ReplaceAll(r.err.Error(), "|", "/"))
			continue
		}
		bulk1 := cell(r.bulk1, "%.2f")
		if len(r.loss) > 0 {
			m, _, _, _ := r.loss.stats()
			bulk1 += fmt.Sprintf(" (%.1f%% lost)", max(m, 0))
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %s | %s |\n", t.name, bulk1, cell(r.cpu, "%.2f"), cell(r.bulk4, "%.2f"),
			cell(r.msgs, "%.0f"), cell(r.hs, "%.0f"), cell(r.p50, "%.0f"), cell(r.p99, "%.0f"))
	}
	fmt.Fprintln(w)
	for _, t := range ts {
		if t.note != "" {
			fmt.Fprintf(w, "- %s: %s\n", t.name, t.note)
		}
	}
}

func cell(s sample, f string) string {
	m, lo, hi, ok := s.stats()
	if !ok {
		return "–"
	}
	if len(s) == 1 {
		return fmt.Sprintf(f, m)
	}
	return fmt.Sprintf(f+" ("+f+"–"+f+")", m, lo, hi)
}

func size(n int64) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return fmt.Sprintf("%d GiB", n>>30)
	case n >= 1<<20:
		return fmt.Sprintf("%d MiB", n>>20)
	}
	return fmt.Sprintf("%d B", n)
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
