package netem

import (
	"encoding/binary"
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stt-go/stt/internal/monotime"
)

// sim drives a link without sockets or goroutines: arrivals and releases
// happen at the times the test gives (time is an argument).
type sim struct {
	tb  testing.TB
	l   *Link
	f   *flow
	buf []byte
	out []held
}

func newSim(tb testing.TB, cfg LinkConfig) *sim {
	tb.Helper()
	l, err := newLink(&cfg)
	if err != nil {
		tb.Fatal(err)
	}
	return &sim{tb: tb, l: l, f: &flow{overhead: IPv4Overhead}, buf: make([]byte, 65535), out: make([]held, 0, 1<<16)}
}

// t0 keeps simulated times well away from the zero Time.
const t0 = monotime.Time(time.Hour)

// send offers datagram seq of n payload bytes at time at and reports
// whether the link accepted it (the counters tell why not).
func (s *sim) send(at monotime.Time, seq uint64, n int) bool {
	binary.BigEndian.PutUint64(s.buf, seq)
	before := s.l.st.held
	s.l.arriveOne(at, s.f, s.buf[:n])
	return s.l.st.held > before
}

// release is one released datagram: its sequence number, size and time.
type release struct {
	seq uint64
	n   int
	at  monotime.Time
}

// drain releases everything due by until, in release order.
func (s *sim) drain(until monotime.Time) []release {
	var rs []release
	for {
		out, _, _, _ := s.l.collect(until, s.out[:0])
		for _, h := range out {
			rs = append(rs, release{seq: binary.BigEndian.Uint64(h.buf), n: len(h.buf), at: h.at})
			s.l.recycle(h.buf)
		}
		if len(out) < cap(s.out) {
			return rs
		}
	}
}

const ms = monotime.Time(time.Millisecond)
const us = monotime.Time(time.Microsecond)
const hour = monotime.Time(time.Hour)

func TestConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		name  string
		cfg   LinkConfig
		field string
	}{
		{"negative rate", LinkConfig{Rate: -1}, "Rate"},
		{"NaN rate", LinkConfig{Rate: math.NaN()}, "Rate"},
		{"infinite rate", LinkConfig{Rate: math.Inf(1)}, "Rate"},
		{"rate without queue", LinkConfig{Rate: 1e6}, "QueueBytes"},
		{"negative queue", LinkConfig{QueueBytes: -1}, "QueueBytes"},
		{"negative delay", LinkConfig{Delay: -time.Second}, "Delay"},
		{"negative jitter", LinkConfig{Jitter: -1}, "Jitter"},
		{"loss above 1", LinkConfig{Loss: 1.5}, "Loss"},
		{"NaN loss", LinkConfig{Loss: math.NaN()}, "Loss"},
		{"reorder without delay", LinkConfig{Reorder: 0.1}, "ReorderDelay"},
		{"negative reorder delay", LinkConfig{ReorderDelay: -1}, "ReorderDelay"},
		{"reorder above 1", LinkConfig{Reorder: 2, ReorderDelay: 1}, "Reorder"},
		{"MTU too large", LinkConfig{MTU: MaxMTU + 1}, "MTU"},
		{"negative MTU", LinkConfig{MTU: -1}, "MTU"},
		{"negative MaxHeld", LinkConfig{MaxHeld: -1}, "MaxHeld"},
		{"burst probability", LinkConfig{Burst: &GilbertElliott{PGoodToBad: 1.1}}, "Burst.PGoodToBad"},
		{"burst loss", LinkConfig{Burst: &GilbertElliott{LossBad: -0.1}}, "Burst.LossBad"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewLink(&tc.cfg)
			if !errors.Is(err, ErrConfig) {
				t.Fatalf("NewLink: err = %v, want ErrConfig", err)
			}
			if !strings.Contains(err.Error(), "LinkConfig."+tc.field) {
				t.Errorf("error %q does not name LinkConfig.%s", err, tc.field)
			}
		})
	}
	if _, err := BurstLoss(1, 2); err == nil {
		t.Error("BurstLoss(1, 2): no error")
	}
	if _, err := BurstLoss(0.1, 0.5); err == nil {
		t.Error("BurstLoss(0.1, 0.5): no error")
	}
	l, err := NewLink(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if err := l.SetMTU(-5); !errors.Is(err, ErrConfig) {
		t.Errorf("SetMTU(-5) = %v, want ErrConfig", err)
	}
}

func TestBDP(t *testing.T) {
	if got := BDP(100e6, 40*time.Millisecond, 1); got != 500_000 {
		t.Errorf("BDP(100 Mbit/s, 40 ms) = %d, want 500000", got)
	}
	if got := BDP(20e6, 10*time.Millisecond, 0.25); got != 6250 {
		t.Errorf("BDP(20 Mbit/s, 10 ms, 0.25) = %d, want 6250", got)
	}
}

// TestRateSchedule: datagrams offered faster than the rate leave exactly
// size/rate apart, and each waits in the queue for the ones before it.
func TestRateSchedule(t *testing.T) {
	// 8 Mbit/s is one byte per microsecond: a 972-byte payload is a
	// 1000-byte IP packet and takes 1 ms.
	s := newSim(t, LinkConfig{Rate: 8e6, QueueBytes: 1 << 20, Delay: 10 * time.Millisecond})
	for i := range 50 {
		if !s.send(t0+monotime.Time(i)*100*us, uint64(i), 972) {
			t.Fatalf("datagram %d dropped", i)
		}
	}
	rs := s.drain(t0 + hour)
	if len(rs) != 50 {
		t.Fatalf("released %d, want 50", len(rs))
	}
	for i, r := range rs {
		want := t0 + monotime.Time(i+1)*ms + 10*ms
		if r.seq != uint64(i) || r.at != want {
			t.Fatalf("release %d: seq %d at %v, want seq %d at %v", i, r.seq, r.at-t0, i, want-t0)
		}
	}
	st := s.l.st.total
	// Datagram i arrives at i×0.1 ms and starts at i ms.
	if got, want := st.QueueDelay.Max(), time.Duration(49*900)*time.Microsecond; got != want {
		t.Errorf("max queueing delay %v, want %v", got, want)
	}
}

// refQueue is the obviously-right drop-tail queue: it keeps every
// accepted datagram with its serialisation end and sums what is left.
type refQueue struct {
	rate  float64 // bytes per ns
	limit int
	q     []struct {
		end  float64
		size int
	}
}

func (r *refQueue) offer(now float64, size int) (accepted bool, end float64) {
	backlog := 0.0
	busy := now
	keep := r.q[:0]
	for _, p := range r.q {
		if p.end > now {
			keep = append(keep, p)
			// Bytes of p not yet serialised.
			backlog += math.Min(float64(p.size), (p.end-now)*r.rate)
			busy = p.end
		}
	}
	r.q = keep
	if backlog >= 1 && int(backlog)+size > r.limit {
		return false, 0
	}
	end = busy + float64(size)/r.rate
	r.q = append(r.q, struct {
		end  float64
		size int
	}{end, size})
	return true, end
}

// TestQueueAgainstReference compares the link's drop-tail decisions and
// departure times with refQueue over random bursty traffic.
func TestQueueAgainstReference(t *testing.T) {
	const rate = 80e6 // 10 bytes/µs
	for _, limit := range []int{1500, 6000, 50_000} {
		s := newSim(t, LinkConfig{Rate: rate, QueueBytes: limit})
		ref := &refQueue{rate: rate / 8 / 1e9, limit: limit}
		r := rand.New(rand.NewPCG(1, 2))
		now := t0
		drops := 0
		for i := range 20_000 {
			if i%500 < 400 {
				now += monotime.Time(r.IntN(40)) * us // a burst, ~4x the rate
			} else {
				now += monotime.Time(r.IntN(800)) * us // a lull that drains the queue
			}
			n := 40 + r.IntN(1460)
			got := s.send(now, uint64(i), n)
			want, end := ref.offer(float64(now), n+IPv4Overhead)
			if got != want {
				t.Fatalf("limit %d, datagram %d (%d B at %v): link accepted=%v, reference %v", limit, i, n, now-t0, got, want)
			}
			if !got {
				drops++
				continue
			}
			rs := s.drain(now + hour)
			if len(rs) != 1 || math.Abs(float64(rs[0].at)-end) > float64(i+1) {
				t.Fatalf("limit %d, datagram %d: released %v, reference end %.0f", limit, i, rs, end-float64(t0))
			}
			if st := s.l.st.total; st.DroppedQueue != uint64(drops) {
				t.Fatalf("DroppedQueue %d, want %d", st.DroppedQueue, drops)
			}
		}
		if drops == 0 || drops == 20_000 {
			t.Errorf("limit %d: %d drops; the traffic did not exercise the queue", limit, drops)
		}
		if mq := s.l.st.maxQueue; mq > max(limit, 1500+IPv4Overhead) {
			t.Errorf("limit %d: max queue %d bytes", limit, mq)
		}
	}
}

// TestQueueLimit: a burst into a 10-datagram queue keeps 10.
func TestQueueLimit(t *testing.T) {
	s := newSim(t, LinkConfig{Rate: 8e6, QueueBytes: 10_000})
	acc := 0
	for i := range 100 {
		if s.send(t0, uint64(i), 972) {
			acc++
		}
	}
	st := s.l.st.total
	if acc != 10 || st.DroppedQueue != 90 || s.l.st.maxQueue != 10_000 {
		t.Errorf("accepted %d, DroppedQueue %d, max queue %d; want 10, 90, 10000", acc, st.DroppedQueue, s.l.st.maxQueue)
	}
	// Half-way through the third datagram's serialisation 7.5 slots free.
	if got := s.l.backlog(t0 + 2500*us); got != 7500 {
		t.Errorf("backlog after 2.5 ms = %d, want 7500", got)
	}
	for i := range 8 {
		ok := s.send(t0+2500*us, uint64(100+i), 972)
		if ok != (i < 2) {
			t.Errorf("arrival %d after 2.5 ms: accepted %v", i, ok)
		}
	}
}

// binomialBound returns the half-width of a ±z standard-deviation interval
// of a binomial count.
func binomialBound(n int, p, z float64) float64 { return z * math.Sqrt(float64(n)*p*(1-p)) }

func TestBernoulliLoss(t *testing.T) {
	const n = 100_000
	for _, p := range []float64{0.001, 0.01, 0.03} {
		s := newSim(t, LinkConfig{Loss: p, Seed: 7})
		for i := range n {
			s.send(t0+monotime.Time(i)*us, uint64(i), 100)
			s.drain(t0 + monotime.Time(i)*us)
		}
		lost := float64(s.l.st.total.DroppedLoss)
		if d := math.Abs(lost - n*p); d > binomialBound(n, p, 4) {
			t.Errorf("p=%v: lost %v of %d, want %v ± %.0f (4 sd)", p, lost, n, n*p, binomialBound(n, p, 4))
		}
	}
}

// lossRuns returns the loss rate and the mean length of runs of
// consecutive losses over n arrivals.
func lossRuns(t *testing.T, cfg LinkConfig, n int) (rate, meanRun float64) {
	t.Helper()
	s := newSim(t, cfg)
	lost, runs, inRun := 0, 0, false
	for i := range n {
		before := s.l.st.total.DroppedLoss
		s.send(t0+monotime.Time(i)*us, uint64(i), 100)
		s.drain(t0 + monotime.Time(i)*us)
		if s.l.st.total.DroppedLoss > before {
			lost++
			if !inRun {
				runs++
			}
			inRun = true
		} else {
			inRun = false
		}
	}
	return float64(lost) / float64(n), float64(lost) / float64(max(runs, 1))
}

// TestGilbertElliott: the bursty model keeps its mean loss rate and loses
// in runs of the configured mean length, where Bernoulli loss at the same
// rate loses one datagram at a time.
func TestGilbertElliott(t *testing.T) {
	const n = 200_000
	g, err := BurstLoss(0.02, 5)
	if err != nil {
		t.Fatal(err)
	}
	if m := g.MeanLoss(); math.Abs(m-0.02) > 1e-12 {
		t.Fatalf("MeanLoss = %v, want 0.02", m)
	}
	rate, run := lossRuns(t, LinkConfig{Burst: g, Seed: 3}, n)
	if math.Abs(rate-0.02) > 0.004 {
		t.Errorf("Gilbert–Elliott loss rate %.4f, want 0.02 ± 0.004", rate)
	}
	if run < 4 || run > 6 {
		t.Errorf("Gilbert–Elliott mean burst %.2f, want 5 ± 1", run)
	}
	bRate, bRun := lossRuns(t, LinkConfig{Loss: 0.02, Seed: 3}, n)
	if math.Abs(bRate-0.02) > 0.002 || bRun > 1.1 {
		t.Errorf("Bernoulli: loss %.4f, mean burst %.2f; want 0.02, ~1.02", bRate, bRun)
	}
	// A lossy Good state and a lossless Bad one: MeanLoss weighs them.
	g2 := &GilbertElliott{PGoodToBad: 0.1, PBadToGood: 0.3, LossGood: 0.04, LossBad: 0.5}
	want := 0.75*0.04 + 0.25*0.5
	if m := g2.MeanLoss(); math.Abs(m-want) > 1e-12 {
		t.Errorf("MeanLoss = %v, want %v", m, want)
	}
	rate2, _ := lossRuns(t, LinkConfig{Burst: g2, Seed: 9}, n)
	if math.Abs(rate2-want) > 0.01 {
		t.Errorf("general model: loss %.4f, want %.4f ± 0.01", rate2, want)
	}
}

// TestJitterKeepsOrder: jitter spreads delays but never reorders.
func TestJitterKeepsOrder(t *testing.T) {
	s := newSim(t, LinkConfig{Delay: 20 * time.Millisecond, Jitter: 10 * time.Millisecond, Seed: 5})
	for i := range 2000 {
		s.send(t0+monotime.Time(i)*ms, uint64(i), 200)
	}
	rs := s.drain(t0 + hour)
	if len(rs) != 2000 {
		t.Fatalf("released %d, want 2000", len(rs))
	}
	var minD, maxD time.Duration = time.Hour, 0
	for i, r := range rs {
		if r.seq != uint64(i) {
			t.Fatalf("position %d holds datagram %d: jitter reordered", i, r.seq)
		}
		d := r.at.Sub(t0 + monotime.Time(i)*ms)
		minD, maxD = min(minD, d), max(maxD, d)
	}
	if minD < 20*time.Millisecond || maxD > 30*time.Millisecond || maxD-minD < 8*time.Millisecond {
		t.Errorf("delays in [%v, %v], want a spread inside [20 ms, 30 ms]", minD, maxD)
	}
}

// TestReorder: about Reorder of the datagrams are overtaken, by the
// configured extra delay, and keep their order among themselves.
func TestReorder(t *testing.T) {
	const n = 20_000
	s := newSim(t, LinkConfig{Delay: 5 * time.Millisecond, Reorder: 0.05, ReorderDelay: 3 * time.Millisecond, Seed: 11})
	for i := range n {
		s.send(t0+monotime.Time(i)*100*us, uint64(i), 200)
	}
	rs := s.drain(t0 + hour)
	if len(rs) != n {
		t.Fatalf("released %d, want %d", len(rs), n)
	}
	reordered := s.l.st.total.Reordered
	if d := math.Abs(float64(reordered) - n*0.05); d > binomialBound(n, 0.05, 4) {
		t.Errorf("reordered %d of %d, want %v ± %.0f", reordered, n, n*0.05, binomialBound(n, 0.05, 4))
	}
	late, lastLate := 0, -1
	for i, r := range rs {
		if i > 0 && r.at < rs[i-1].at {
			t.Fatalf("release times go back at %d", i)
		}
		d := r.at.Sub(t0 + monotime.Time(r.seq)*100*us)
		switch d {
		case 5 * time.Millisecond:
		case 8 * time.Millisecond:
			late++
			if int(r.seq) < lastLate {
				t.Fatalf("reordered datagrams %d and %d swapped", lastLate, r.seq)
			}
			lastLate = int(r.seq)
		default:
			t.Fatalf("datagram %d delayed %v, want 5 or 8 ms", r.seq, d)
		}
	}
	if uint64(late) != reordered {
		t.Errorf("%d datagrams delayed by ReorderDelay, counter says %d", late, reordered)
	}
}

func TestMTU(t *testing.T) {
	s := newSim(t, LinkConfig{MTU: 1500})
	for i, c := range []struct {
		n    int
		pass bool
	}{{1472, true}, {1473, false}, {100, true}, {9000, false}} {
		if got := s.send(t0, uint64(i), c.n); got != c.pass {
			t.Errorf("%d-byte payload at MTU 1500: passed %v, want %v", c.n, got, c.pass)
		}
	}
	if err := s.l.SetMTU(9000); err != nil {
		t.Fatal(err)
	}
	if !s.send(t0, 9, 8972) || s.send(t0, 10, 8973) {
		t.Error("MTU 9000: want 8972-byte payloads through and 8973 dropped")
	}
	if err := s.l.SetMTU(0); err != nil {
		t.Fatal(err)
	}
	if !s.send(t0, 11, 65507) {
		t.Error("no MTU: a 65507-byte datagram was dropped")
	}
	if st := s.l.st.total; st.DroppedMTU != 3 || st.BytesDroppedMTU != 1473+9000+8973 {
		t.Errorf("DroppedMTU %d (%d B), want 3 (%d B)", st.DroppedMTU, st.BytesDroppedMTU, 1473+9000+8973)
	}
}

// decisions replays an arrival sequence and records every outcome.
func decisions(t *testing.T, cfg LinkConfig) []release {
	t.Helper()
	s := newSim(t, cfg)
	r := rand.New(rand.NewPCG(42, 42)) // the arrival sequence, the same every call
	now := t0
	var out []release
	for i := range 5000 {
		now += monotime.Time(r.IntN(300)) * us
		if !s.send(now, uint64(i), 64+r.IntN(1400)) {
			out = append(out, release{seq: uint64(i), at: -1})
		}
		out = append(out, s.drain(now)...)
	}
	return append(out, s.drain(now+hour)...)
}

// TestDeterministic: the same seed and arrivals give the same drops,
// delays and reordering; another seed does not.
func TestDeterministic(t *testing.T) {
	cfg := LinkConfig{Rate: 20e6, QueueBytes: 20_000, Delay: 10 * time.Millisecond, Jitter: 2 * time.Millisecond,
		Loss: 0.02, Reorder: 0.02, ReorderDelay: time.Millisecond, MTU: 1400, Seed: 99}
	a, b := decisions(t, cfg), decisions(t, cfg)
	if !slices.Equal(a, b) {
		t.Fatal("two runs with the same seed and arrivals differ")
	}
	cfg.Seed = 100
	if slices.Equal(a, decisions(t, cfg)) {
		t.Fatal("another seed gave the same decisions")
	}
}

// TestHardCap: MaxHeld bounds the buffers held, whatever the delay.
func TestHardCap(t *testing.T) {
	s := newSim(t, LinkConfig{Delay: time.Second, MaxHeld: 64 << 10})
	for i := range 100 {
		s.send(t0+monotime.Time(i)*us, uint64(i), 1400)
		if s.l.st.heldBytes > 64<<10 {
			t.Fatalf("held %d bytes, cap %d", s.l.st.heldBytes, 64<<10)
		}
	}
	if st := s.l.st.total; s.l.st.held != 32 || st.DroppedOverflow != 68 {
		t.Errorf("held %d, DroppedOverflow %d; want 32 (64 KiB of 2 KiB buffers), 68", s.l.st.held, st.DroppedOverflow)
	}
	if got := (&LinkConfig{Rate: 1e9, QueueBytes: 1 << 20, Delay: 50 * time.Millisecond}).maxHeld(); got != 2*(1<<20+6_250_000) {
		t.Errorf("default MaxHeld = %d", got)
	}
}

func TestHistogram(t *testing.T) {
	for v := uint64(0); v < 1<<22; v = v*5/4 + 1 {
		i := histIndex(v)
		lo, hi := histBounds(i)
		if v < lo || v > hi {
			t.Fatalf("value %d in bucket %d = [%d, %d]", v, i, lo, hi)
		}
		if v >= histSub && float64(hi-lo) > float64(lo)/histSub {
			t.Fatalf("bucket %d = [%d, %d] wider than 1/%d", i, lo, hi, histSub)
		}
	}
	if histIndex(1<<62) != histBuckets-1 {
		t.Errorf("huge value not in the last bucket")
	}
	var h Histogram
	if h.Quantile(0.5) != 0 || h.Mean() != 0 {
		t.Error("empty histogram: non-zero quantile or mean")
	}
	for i := 1; i <= 1000; i++ {
		h.Record(time.Duration(i) * time.Microsecond)
	}
	for _, q := range []float64{0.01, 0.5, 0.9, 0.99, 1} {
		want := time.Duration(q*1000) * time.Microsecond
		if got := h.Quantile(q); math.Abs(float64(got-want)) > float64(want)/30 {
			t.Errorf("Quantile(%v) = %v, want %v ± 3%%", q, got, want)
		}
	}
	if h.Count() != 1000 || h.Max() != time.Millisecond || h.Mean() != 500500*time.Nanosecond {
		t.Errorf("count %d, max %v, mean %v", h.Count(), h.Max(), h.Mean())
	}
	old := h
	h.Record(time.Second)
	d := h.Sub(&old)
	if d.Count() != 1 || d.Quantile(0.5) < 970*time.Millisecond {
		t.Errorf("Sub: count %d, median %v; want 1, ~1 s", d.Count(), d.Quantile(0.5))
	}
	h.Record(-time.Second)
	if h.Count() != 1002 || h.Quantile(0) != 0 {
		t.Error("negative duration not recorded as 0")
	}
}

// TestNoAllocs: arrival, release and recycling allocate nothing once the
// pool and the lines have grown.
func TestNoAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	s := newSim(t, LinkConfig{Rate: 1e9, QueueBytes: 1 << 20, Delay: 5 * time.Millisecond, Jitter: time.Millisecond,
		Loss: 0.01, Reorder: 0.01, ReorderDelay: time.Millisecond})
	now := t0
	step := func() {
		for range 16 {
			now += 12 * us
			s.send(now, 0, 1452)
		}
		s.drain(now)
	}
	for range 2000 { // warm up: 6 ms of traffic fills pool and lines
		step()
	}
	s.out = s.out[:0]
	if a := testing.AllocsPerRun(200, func() {
		for range 16 {
			now += 12 * us
			s.send(now, 0, 1452)
		}
		out, _, _, _ := s.l.collect(now, s.out[:0])
		for _, h := range out {
			s.l.recycle(h.buf)
		}
	}); a != 0 {
		t.Errorf("%v allocations per 16 datagrams", a)
	}
}

// BenchmarkLink is the emulator's own cost per datagram through a
// 1 Gbit/s bottleneck (arrival, schedule, release, recycling), without
// the sockets.
func BenchmarkLink(b *testing.B) {
	for _, size := range []int{64, 1452, 8972} {
		b.Run(strconv.Itoa(size), func(b *testing.B) {
			s := newSim(b, LinkConfig{Rate: 1e9, QueueBytes: 1 << 20, Delay: time.Millisecond, Loss: 0.001})
			step := monotime.Time(float64(size+IPv4Overhead) * 8) // ns at 1 Gbit/s
			now := t0
			b.ReportAllocs()
			b.SetBytes(int64(size))
			for b.Loop() {
				now += step
				s.send(now, 0, size)
				out, _, _, _ := s.l.collect(now, s.out[:0])
				for _, h := range out {
					s.l.recycle(h.buf)
				}
			}
		})
	}
}
