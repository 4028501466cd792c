// Command compare runs STT against other transports on loopback, both ends
// in one process, in interleaved rounds (A B C … A B C …), and prints a
// Markdown table of medians with min–max: bulk throughput on one stream
// and on four, CPU-seconds per GiB for the one-stream bulk (rusage, both
// ends), 64-byte messages per second, full and resumed handshakes per
// second and the round-trip time of a 64-byte message (p50/p99), then a
// note per transport saying what it is and how it writes, and a note for
// every cell whose rounds are bimodal. Streams of transports without
// multiplexing (TLS over TCP, kcp-go) are separate connections. The two raw
// UDP rows have no reliability, congestion control or crypto: one sends a
// datagram per syscall, the other sends GSO super-packets with sendmmsg and
// receives GRO trains with recvmmsg (package batch), the ceiling of any
// UDP transport on the host; their bulk and message numbers are goodput at
// the receiver, with the loss shown. -short runs a smoke round with small
// sizes in a few seconds.
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"math"
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
	defaultMessages   = 1_000_000 // ~0.1 s for the fastest (buffered TLS), a few s for plain raw UDP
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

// bimodalRatio is the max/min ratio of one cell's rounds above which the
// table notes that the rounds fall into two modes (issue 11 item 6: "say
// when runs are bimodal and how often"). 1.25 is well above the few-percent
// spread of a quiet machine and below the 11.7 vs 15.7 Gbit/s split the
// issue reports.
const bimodalRatio = 1.25

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

// dialer sets up one client (a full handshake, or a resumed one).
type dialer func(ctx context.Context) (client, error)

// server is a started contender.
type server struct {
	// dial performs a full handshake (kcp: none) and returns a client.
	dial dialer
	// resume performs a resumed handshake (its client fetches a ticket
	// with one untimed full handshake first); nil when the transport
	// offers no resumption here (the column prints "–").
	resume dialer
	// stop stops the server and any client node.
	stop func()
}

// transport is one contender.
type transport struct {
	name string
	// note says what the transport is and how it writes; detail, when set,
	// adds what a run measured about it (e.g. offloads in effect).
	note   string
	detail func() string
	// start starts the server. Unused for raw transports.
	start func() (server, error)
	// noHandshake marks transports without a handshake (kcp, raw UDP).
	noHandshake bool
	// raw is set for the raw UDP rows, which run their own workloads.
	raw    bool
	rawGSO bool // raw UDP with GSO/GRO (package batch) rather than one datagram per syscall
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
	bulk1, cpu, bulk4, msgs, hs, resumed, p50, p99 sample
	// Raw UDP: percent of the bytes sent that did not arrive, per run of
	// bulk1, bulk4 and msgs.
	loss1, loss4, lossMsgs sample
	err                    error
}

func main() {
	short := flag.Bool("short", false, "smoke mode: small sizes, one round")
	size := flag.Int64("size", defaultSize, "bulk bytes per run")
	rounds := flag.Int("rounds", 3, "interleaved rounds")
	messages := flag.Int("messages", defaultMessages, "64-byte messages per run")
	handshakes := flag.Int("handshakes", defaultHandshakes, "handshakes per run")
	rtt := flag.Int("rtt", defaultRTT, "round trips per run")
	var names []string
	for _, t := range transports() {
		names = append(names, fmt.Sprintf("%q", t.name))
	}
	only := flag.String("only", "", "comma-separated transports to run (default all): "+strings.Join(names, ", "))
	flag.Parse()
	if *short {
		*size, *rounds, *messages, *handshakes, *rtt = shortSize, 1, shortMessages, shortHandshakes, shortRTT
	}
	ts, err := selectTransports(transports(), *only)
	if err == nil {
		err = run(os.Stdout, ts, *size, *rounds, *messages, *handshakes, *rtt)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "compare:", err)
		os.Exit(1)
	}
}

// selectTransports keeps the transports named in only, a comma-separated
// list. Names may themselves contain commas ("raw UDP, one datagram per
// syscall"), so a name is selected when it appears in only between commas
// (or at either end). An empty only selects all; a selection of none is an
// error.
func selectTransports(ts []transport, only string) ([]transport, error) {
	if only == "" {
		return ts, nil
	}
	list := "," + only + ","
	ts = slices.DeleteFunc(slices.Clone(ts), func(t transport) bool { return !strings.Contains(list, ","+t.name+",") })
	if len(ts) == 0 {
		return nil, fmt.Errorf("-only %q names no transport (see -help for the names)", only)
	}
	return ts, nil
}

type params struct {
	size                 int64
	messages, handshakes int
	rtt                  int
}

func run(w io.Writer, ts []transport, size int64, rounds, messages, handshakes, rtt int) error {
	if size < bulkStreams*copyBuf || rounds < 1 || messages < 1 || handshakes < 1 || rtt < 1 {
		return fmt.Errorf("need -size ≥ %d and -rounds, -messages, -handshakes, -rtt ≥ 1", bulkStreams*copyBuf)
	}
	p := params{size: size, messages: messages, handshakes: handshakes, rtt: rtt}
	load0 := loadAverage()
	servers := make([]server, len(ts))
	for i, t := range ts {
		if t.raw {
			servers[i] = server{stop: func() {}}
			continue
		}
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
				err = runRaw(ctx, t.rawGSO, p, &res[i])
			} else {
				err = runOne(ctx, t, servers[i], p, &res[i])
			}
			cancel()
			if err != nil {
				res[i].err = err
			}
		}
	}
	printTable(w, ts, res, p, rounds, load0, loadAverage())
	return nil
}

// runOne runs every workload once on t and appends to res.
func runOne(ctx context.Context, t transport, srv server, p params, res *results) error {
	cl, err := srv.dial(ctx)
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
		rate, err := dialRate(ctx, srv.dial, p.handshakes)
		if err != nil {
			return fmt.Errorf("handshake: %w", err)
		}
		res.hs = append(res.hs, rate)
	}
	if srv.resume != nil {
		// The client above completed full handshakes with this server, so
		// a resuming client has what it needs to resume.
		rate, err := dialRate(ctx, srv.resume, p.handshakes)
		if err != nil {
			return fmt.Errorf("resumed handshake: %w", err)
		}
		res.resumed = append(res.resumed, rate)
	}
	return nil
}

// dialRate dials n times one after another and returns dials per second.
// Only the dial (handshake) is timed; closing is not part of set-up and
// some stacks drain on close.
func dialRate(ctx context.Context, dial dialer, n int) (float64, error) {
	var total time.Duration
	for range n {
		t0 := time.Now()
		c, err := dial(ctx)
		total += time.Since(t0)
		if err != nil {
			return 0, err
		}
		c.close()
	}
	return float64(n) / total.Seconds(), nil
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
// receives modeMessages as whole messages (STT's message API); otherwise
// the messages are read as an application reading a byte stream would:
// 64 bytes at a time through a bufio.Reader.
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
	case modeBulk:
		buf := make([]byte, copyBuf)
		if _, err := io.CopyBuffer(io.Discard, io.LimitReader(st, int64(n)), buf); err != nil {
			return
		}
	case modeMessages:
		if msgs != nil {
			if msgs(n) != nil {
				return
			}
			break
		}
		br := bufio.NewReader(st)
		var m [msgLen]byte
		for range n {
			if _, err := io.ReadFull(br, m[:]); err != nil {
				return
			}
		}
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
		return
	default:
		return
	}
	st.Write([]byte{1})
	// Wait for the client's close so the ack is not cut off.
	st.Read(h[:1])
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

// messages sends n 64-byte messages on one stream and waits for the
// server's ack. Streams with a message API (STT) send one message per
// SendMessage call. Byte streams are written as a real application with a
// queue of messages would: through a bufio.Writer (4 KiB), flushed when the
// sender has nothing more queued; here the whole run is queued up front, so
// the writer flushes when full and once at the end.
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
	if ms, ok := st.(messageSender); ok {
		bg := context.Background()
		for i := range n {
			m[0] = byte(i)
			if err := ms.SendMessage(bg, m[:]); err != nil {
				return err
			}
		}
	} else {
		bw := bufio.NewWriter(st)
		for i := range n {
			m[0] = byte(i)
			if _, err := bw.Write(m[:]); err != nil {
				return err
			}
			// A real sender flushes here when its queue is empty; this
			// one's queue empties only after the last message.
		}
		if err := bw.Flush(); err != nil {
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

// column is one metric of the table.
type column struct {
	head   string // header cell
	name   string // the metric in notes
	format string // value format
	get    func(*results) sample
	loss   func(*results) sample // raw UDP: percent lost, shown in the cell
}

var columns = []column{
	{"bulk 1 stream Gbit/s", "bulk 1 stream", "%.2f", func(r *results) sample { return r.bulk1 }, func(r *results) sample { return r.loss1 }},
	{"CPU-s/GiB (both ends)", "CPU-s/GiB", "%.2f", func(r *results) sample { return r.cpu }, nil},
	{"bulk 4 streams Gbit/s", "bulk 4 streams", "%.2f", func(r *results) sample { return r.bulk4 }, func(r *results) sample { return r.loss4 }},
	{"64 B msgs/s", "64 B msgs/s", "%.0f", func(r *results) sample { return r.msgs }, func(r *results) sample { return r.lossMsgs }},
	{"handshakes/s", "handshakes/s", "%.0f", func(r *results) sample { return r.hs }, nil},
	{"resumed handshakes/s", "resumed handshakes/s", "%.0f", func(r *results) sample { return r.resumed }, nil},
	{"RTT p50 µs", "RTT p50", "%.0f", func(r *results) sample { return r.p50 }, nil},
	{"RTT p99 µs", "RTT p99", "%.0f", func(r *results) sample { return r.p99 }, nil},
}

func printTable(w io.Writer, ts []transport, res []results, p params, rounds int, load0, load1 string) {
	fmt.Fprintf(w, "## Loopback comparison (%s)\n\n", time.Now().UTC().Format("2006-01-02 15:04 UTC"))
	fmt.Fprintln(w, machine())
	fmt.Fprintf(w, "Load average (1, 5, 15 min) at start %s, at end %s.\n", load0, load1)
	fmt.Fprintf(w, "\nBulk %s per run (4 streams: %s each), %d × %d B messages, %d handshakes, %d RTT probes; %d interleaved round(s)",
		size(p.size), size(p.size/bulkStreams), p.messages, msgLen, p.handshakes, p.rtt, rounds)
	if rounds > 1 {
		fmt.Fprint(w, "; median (min–max)")
	}
	fmt.Fprint(w, ".\n\n| transport |")
	for _, c := range columns {
		fmt.Fprintf(w, " %s |", c.head)
	}
	fmt.Fprint(w, "\n|---|")
	for range columns {
		fmt.Fprint(w, "---|")
	}
	fmt.Fprintln(w)
	for i, t := range ts {
		r := &res[i]
		fmt.Fprintf(w, "| %s |", t.name)
		if r.err != nil {
			fmt.Fprintf(w, " error: %s |%s\n", strings.ReplaceAll(r.err.Error(), "|", "/"), strings.Repeat(" |", len(columns)-1))
			continue
		}
		for _, c := range columns {
			v := cell(c.get(r), c.format)
			if c.loss != nil {
				if l := c.loss(r); len(l) > 0 {
					v += ", lost " + cell(l, "%.1f%%")
				}
			}
			fmt.Fprintf(w, " %s |", v)
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintln(w)
	for _, t := range ts {
		note := t.note
		if t.detail != nil {
			if d := t.detail(); d != "" {
				note += "; " + d
			}
		}
		fmt.Fprintf(w, "- %s: %s\n", t.name, note)
	}
	var bimodal []string
	for i, t := range ts {
		if res[i].err != nil {
			continue
		}
		var cells []string
		for _, c := range columns {
			if lo, hi, ok := modes(c.get(&res[i])); ok {
				cells = append(cells, c.name+" "+describeModes(lo, hi, c.format))
			}
		}
		if len(cells) > 0 {
			bimodal = append(bimodal, t.name+": "+strings.Join(cells, "; "))
		}
	}
	if len(bimodal) > 0 {
		fmt.Fprintf(w, "\nBimodal cells (max/min > %.2f; rounds split at the widest gap):\n\n", bimodalRatio)
		for _, b := range bimodal {
			fmt.Fprintf(w, "- %s\n", b)
		}
	} else if rounds > 1 {
		fmt.Fprintf(w, "\nNo cell is bimodal (max/min ≤ %.2f in every cell).\n", bimodalRatio)
	}
	printRatios(w, ts, res, rounds)
}

// printRatios lists, round by round, STT's bulk rate divided by each other
// connection-oriented transport's: the rounds are interleaved, so round i
// of every transport ran within minutes of the others, and a bar that must
// hold "in every round" is judged on these pairs, not on one transport's
// minimum against another's maximum. Nothing is printed for one round or
// when STT or the other transport did not finish every round.
func printRatios(w io.Writer, ts []transport, res []results, rounds int) {
	stt := slices.IndexFunc(ts, func(t transport) bool { return t.name == "STT" })
	if rounds < 2 || stt < 0 || res[stt].err != nil {
		return
	}
	metrics := []struct {
		name string
		get  func(*results) sample
	}{{"bulk 1 stream", func(r *results) sample { return r.bulk1 }}, {"bulk 4 streams", func(r *results) sample { return r.bulk4 }}}
	header := false
	for i, t := range ts {
		if i == stt || t.raw || res[i].err != nil {
			continue
		}
		var parts []string
		for _, m := range metrics {
			a, b := m.get(&res[stt]), m.get(&res[i])
			if len(a) != rounds || len(b) != rounds {
				continue
			}
			rs := make([]string, rounds)
			lo := math.Inf(1)
			for r := range rounds {
				q := a[r] / b[r]
				lo = min(lo, q)
				rs[r] = fmt.Sprintf("%.2fx", q)
			}
			parts = append(parts, fmt.Sprintf("%s %s (lowest %.2fx)", m.name, strings.Join(rs, ", "), lo))
		}
		if len(parts) == 0 {
			continue
		}
		if !header {
			fmt.Fprintf(w, "\nSTT's bulk rate over each transport's, round by round (interleaved rounds):\n\n")
			header = true
		}
		fmt.Fprintf(w, "- over %s: %s\n", t.name, strings.Join(parts, "; "))
	}
}

// cell formats a sample as its value (one round) or median (min–max), or
// "–" when the metric was not measured.
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

// modes splits s into a lower and an upper mode when its rounds are
// bimodal: at least two rounds, all positive, and max/min above
// bimodalRatio. The split is at the largest ratio between neighbouring
// sorted values. It reports false otherwise.
func modes(s sample) (lo, hi sample, ok bool) {
	if len(s) < 2 {
		return nil, nil, false
	}
	c := slices.Clone(s)
	slices.Sort(c)
	if c[0] <= 0 || c[len(c)-1]/c[0] <= bimodalRatio {
		return nil, nil, false
	}
	cut, widest := 1, 0.0
	for i := 1; i < len(c); i++ {
		if g := c[i] / c[i-1]; g > widest {
			cut, widest = i, g
		}
	}
	return c[:cut], c[cut:], true
}

// describeModes says how many rounds fell in each mode and where.
func describeModes(lo, hi sample, f string) string {
	n := len(lo) + len(hi)
	span := func(s sample) string {
		a, b := fmt.Sprintf(f, s[0]), fmt.Sprintf(f, s[len(s)-1])
		if a == b {
			return a
		}
		return a + "–" + b
	}
	return fmt.Sprintf("%d of %d rounds at %s, %d at %s", len(lo), n, span(lo), len(hi), span(hi))
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

// loadAverage returns the 1, 5 and 15 minute load averages from
// /proc/loadavg, so a table measured on a busy machine says so.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], ", ")
}
