package recovery

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/stt-go/stt/internal/monotime"
)

// A discrete-event simulation of senders sharing one bottleneck, in virtual
// time (no goroutines, no sleeps): each sender drives the real Sent,
// Controller and Pacer the way the session does (dataplane/send.go,
// receive.go, timers.go: CanSend and the pacer before each packet,
// OnPacketSent after it, per-packet OnAck/OnLoss from Sent.OnAck's
// callbacks, then once per ACK frame OnSpuriousLoss, OnPersistentCongestion
// and OnAckEvent with Sent.RateSample, the loss timer and PTO probes, and the
// app-limited marks at the end of a send pass). The path is a bottleneck of
// the given rate with a drop-tail queue, a one-way propagation delay each
// way and Bernoulli random loss after the bottleneck (the loss consumes link
// capacity, as corruption on the wire does); the receiver is a real
// Received: an ACK after every second packet or out-of-order arrival, else
// after the 25 ms max ACK delay. ACKs travel back unqueued and unlost.
//
// Every datagram is simMSS bytes and carries one chunk of the transfer;
// goodput counts unique chunk bytes the receiver got, so header overhead is
// not modelled (the rates are of datagram bytes).

const simMSS = DefaultMaxDatagramSize

// simPath describes the bottleneck.
type simPath struct {
	rateBps  float64       // bits per second
	rtt      time.Duration // base round trip (propagation, both ways)
	queueBDP float64       // drop-tail queue in multiples of rate*rtt
	loss     float64       // random loss probability per datagram
	seed     uint64
}

func (p simPath) bytesPerSecond() float64 { return p.rateBps / 8 }
func (p simPath) bdp() float64            { return p.bytesPerSecond() * p.rtt.Seconds() }

// simLink is the bottleneck: a FIFO served at rate, so a packet's departure
// is known when it is queued and the backlog is what the link still has to
// serialize.
type simLink struct {
	rate       float64 // bytes per nanosecond
	queueCap   float64 // bytes
	free       monotime.Time
	delay      time.Duration // one-way propagation
	loss       float64
	rng        *rand.Rand
	queueDrops int
	randDrops  int
}

// admit queues a packet sent at now and returns when it reaches the
// receiver, or false if it was dropped.
func (l *simLink) admit(now monotime.Time, size int) (monotime.Time, bool) {
	backlog := 0.0
	if l.free > now {
		backlog = float64(l.free-now) * l.rate
	}
	if backlog+float64(size) > l.queueCap {
		l.queueDrops++
		return 0, false
	}
	l.free = max(l.free, now) + monotime.Time(math.Ceil(float64(size)/l.rate))
	if l.loss > 0 && l.rng.Float64() < l.loss {
		l.randDrops++
		return 0, false
	}
	return l.free.Add(l.delay), true
}

// Event kinds.
const (
	evArrive  = iota // a data packet reaches the receiver
	evAck            // an ACK frame reaches the sender
	evWake           // the sender's timer (loss, PTO, pacing)
	evRxTimer        // the receiver's delayed-ACK timer
	evStart          // a flow starts sending
	evApp            // the application hands a flow more data
)

type simEvent struct {
	at    monotime.Time
	seq   uint64
	kind  uint8
	flow  int32
	ack   int32 // ACK buffer index
	pn    uint64
	chunk int64
	gen   uint64
	delay time.Duration
}

// simHeap is a binary min-heap on (at, seq): deterministic order.
type simHeap []simEvent

func (h simHeap) less(i, j int) bool {
	return h[i].at < h[j].at || h[i].at == h[j].at && h[i].seq < h[j].seq
}

func (h *simHeap) push(e simEvent) {
	*h = append(*h, e)
	s := *h
	for i := len(s) - 1; i > 0; {
		p := (i - 1) / 2
		if !s.less(i, p) {
			break
		}
		s[i], s[p] = s[p], s[i]
		i = p
	}
}

func (h *simHeap) pop() simEvent {
	s := *h
	top := s[0]
	n := len(s) - 1
	s[0] = s[n]
	s = s[:n]
	for i := 0; ; {
		l, r, m := 2*i+1, 2*i+2, i
		if l < n && s.less(l, m) {
			m = l
		}
		if r < n && s.less(r, m) {
			m = r
		}
		if m == i {
			break
		}
		s[i], s[m] = s[m], s[i]
		i = m
	}
	*h = s
	return top
}

// simStalls models hosts that do not always run: the real stack's loops
// are goroutines on a shared machine, descheduled now and then for a few
// milliseconds (measured on the 2-core test machine under load: gaps of
// 2-10 ms between a sender's pacing wake-ups several times a second), while
// the network goes on and the kernel queues what arrives. Each side of each
// flow stalls independently: stalls start at exponential intervals of mean
// Every and last a uniform [Min, Max]; an event due during a stall (a
// packet or ACK arriving, a timer) is handled when the stall ends, in its
// original order. The zero value means no stalls.
type simStalls struct {
	Every    time.Duration
	Min, Max time.Duration
}

// stallClock is one side's stall schedule.
type stallClock struct {
	rng         *rand.Rand
	from, until monotime.Time // the current or next stall
}

// resume returns when an event due at at is handled.
func (c *stallClock) resume(cfg *simStalls, at monotime.Time) monotime.Time {
	if cfg.Every <= 0 {
		return at
	}
	for c.until <= at {
		gap := time.Duration(c.rng.ExpFloat64() * float64(cfg.Every))
		c.from = c.until.Add(gap)
		c.until = c.from.Add(cfg.Min + time.Duration(c.rng.Int64N(int64(cfg.Max-cfg.Min)+1)))
	}
	if at >= c.from {
		return c.until
	}
	return at
}

// sim is one run.
type sim struct {
	tb     testing.TB
	now    monotime.Time
	seq    uint64
	ev     simHeap
	link   simLink
	path   simPath
	stalls simStalls // set before adding flows
	flows  []*simFlow

	ackBufs [][]AckRange
	freeAck []int32
}

// simFlow is one sender and its receiver.
type simFlow struct {
	s     *sim
	id    int32
	name  string
	sent  *Sent
	rtt   RTT
	cc    Controller
	pacer *Pacer

	// sender
	chunks    int64         // transfer size in chunks; 0: unlimited until stopAt
	avail     int64         // chunks the application has handed over (<= chunks)
	stopAt    monotime.Time // unlimited flows stop sending new data here
	startAt   monotime.Time
	nextChunk int64
	retx      []int64
	retxHead  int
	acked     []bool
	nextPN    uint64
	lastAckEl monotime.Time
	ptoCount  int
	probes    int
	paceAt    monotime.Time
	wakeAt    monotime.Time
	wakeGen   uint64
	onAckedFn func(*SentPacket)
	onLostFn  func(*SentPacket)

	txStall, rxStall stallClock // the sender's and the receiver's stalls

	// receiver
	rx      Received
	got     []bool
	gotN    int64
	doneAt  monotime.Time
	rxAt    monotime.Time
	rxGen   uint64
	winFrom monotime.Time // goodput window
	winTo   monotime.Time
	winGot  int64 // unique bytes received inside the window

	// stats
	sentBytes  int64
	retxBytes  int64
	rttSamples []time.Duration
}

func newSim(tb testing.TB, p simPath) *sim {
	tb.Helper()
	rate := p.bytesPerSecond() / float64(time.Second)
	return &sim{
		tb:   tb,
		now:  monotime.Time(time.Second), // the zero Time means "unset" to recovery
		path: p,
		link: simLink{
			rate:     rate,
			queueCap: max(p.queueBDP*p.bdp(), 2*simMSS),
			delay:    p.rtt / 2,
			loss:     p.loss,
			rng:      rand.New(rand.NewPCG(p.seed, 0x5eed)),
		},
	}
}

// addFlow adds a flow of chunks datagrams (0: unlimited until stop after
// its start) starting at start after the simulation's start.
func (s *sim) addFlow(name string, cc Controller, chunks int64, start, stop time.Duration) *simFlow {
	f := &simFlow{
		s:       s,
		id:      int32(len(s.flows)),
		name:    name,
		sent:    NewSent(1024, MaxSentPackets),
		cc:      cc,
		pacer:   NewPacer(simMSS),
		chunks:  chunks,
		avail:   chunks,
		startAt: s.now.Add(start),
	}
	n := chunks
	if n == 0 {
		// Unlimited: room for everything the link could carry.
		n = int64((stop-start).Seconds()*s.path.bytesPerSecond()/simMSS) + 1024
		f.stopAt = s.now.Add(stop)
	}
	f.acked = make([]bool, n)
	f.got = make([]bool, n)
	f.retx = make([]int64, 0, 1024)
	f.rttSamples = make([]time.Duration, 0, n/2+16)
	f.onAckedFn = f.onAcked
	f.onLostFn = f.onLost
	f.txStall.rng = rand.New(rand.NewPCG(s.path.seed, uint64(2*f.id+1)))
	f.rxStall.rng = rand.New(rand.NewPCG(s.path.seed, uint64(2*f.id+2)))
	s.flows = append(s.flows, f)
	s.push(simEvent{at: f.startAt, kind: evStart, flow: f.id})
	return f
}

// supply makes f's application hand over its data in bursts: n chunks at
// each of the given offsets from the simulation's start (and none before).
func (s *sim) supply(f *simFlow, n int64, at ...time.Duration) {
	f.avail = 0
	for _, d := range at {
		s.push(simEvent{at: s.now.Add(d), kind: evApp, flow: f.id, chunk: n})
	}
}

func (s *sim) push(e simEvent) {
	s.seq++
	e.seq = s.seq
	s.ev.push(e)
}

// run processes the events due up to until, then sets the clock to until.
func (s *sim) run(until monotime.Time) {
	for len(s.ev) > 0 && s.ev[0].at <= until {
		e := s.ev.pop()
		s.now = e.at
		f := s.flows[e.flow]
		clock := &f.txStall
		if e.kind == evArrive || e.kind == evRxTimer {
			clock = &f.rxStall
		}
		if at := clock.resume(&s.stalls, e.at); at > e.at {
			e.at = at // stalled: handled when the host runs again
			s.push(e)
			continue
		}
		switch e.kind {
		case evStart:
			f.flush()
		case evApp:
			f.avail = min(f.avail+e.chunk, f.chunks)
			f.flush()
		case evArrive:
			f.onArrive(e.pn, e.chunk)
		case evAck:
			f.onAckFrame(s.ackBufs[e.ack], e.delay)
			s.freeAck = append(s.freeAck, e.ack)
		case evWake:
			if e.gen == f.wakeGen {
				f.wakeAt = 0
				f.onTimer()
			}
		case evRxTimer:
			if e.gen == f.rxGen {
				f.rxAt = 0
				if dl, ok := f.rx.AckDeadline(); ok && s.now >= dl {
					f.sendAck()
				}
			}
		}
	}
	s.now = max(s.now, until)
}

func (s *sim) ackBuf() int32 {
	if n := len(s.freeAck); n > 0 {
		i := s.freeAck[n-1]
		s.freeAck = s.freeAck[:n-1]
		return i
	}
	s.ackBufs = append(s.ackBufs, make([]AckRange, MaxReceivedRanges))
	return int32(len(s.ackBufs) - 1)
}

// --- sender ---

func (f *simFlow) hasData() bool {
	for f.retxHead < len(f.retx) {
		if !f.acked[f.retx[f.retxHead]] {
			return true
		}
		f.retxHead++
	}
	if f.retxHead == len(f.retx) {
		f.retx, f.retxHead = f.retx[:0], 0
	}
	if f.chunks > 0 {
		return f.nextChunk < f.avail
	}
	return f.s.now < f.stopAt && f.nextChunk < int64(len(f.acked))
}

// flush sends what congestion control and the pacer allow, like
// Session.flush with canSendEliciting, then marks the sender
// application-limited if it ran out of data with room to send.
func (f *simFlow) flush() {
	now := f.s.now
	if now < f.startAt {
		return
	}
	f.paceAt = 0
	for {
		if !f.hasData() {
			if f.cc.CanSend(f.sent.BytesInFlight()) {
				f.sent.MarkAppLimited()
				f.cc.SetAppLimited(true)
			}
			break
		}
		if f.probes == 0 {
			if !f.cc.CanSend(f.sent.BytesInFlight()) {
				f.cc.SetAppLimited(false)
				break
			}
			rate := f.cc.PacingRate(&f.rtt)
			if f.pacer.BudgetRate(now, rate) < simMSS {
				f.paceAt = f.pacer.NextSendRate(now, rate, simMSS)
				f.cc.SetAppLimited(false)
				break
			}
		}
		f.sendOne(now)
	}
	f.rearm()
}

func (f *simFlow) sendOne(now monotime.Time) {
	var chunk int64
	retx := false
	if f.retxHead < len(f.retx) {
		chunk = f.retx[f.retxHead]
		f.retxHead++
		retx = true
	} else {
		chunk = f.nextChunk
		f.nextChunk++
	}
	sp := SentPacket{PN: f.nextPN, Time: now, PacedTime: f.pacer.Departure(now), Size: simMSS, AckEliciting: true, InFlight: true, NRanges: 1}
	sp.Ranges[0] = StreamRange{Offset: uint64(chunk) * simMSS, Len: simMSS}
	f.nextPN++
	before := f.sent.BytesInFlight()
	if !f.sent.Add(&sp) {
		f.s.tb.Fatalf("%s: sent-packet history full (%d in flight)", f.name, before)
	}
	f.cc.OnPacketSent(now, simMSS, before)
	f.pacer.OnSent(simMSS)
	f.lastAckEl = now
	if f.probes > 0 {
		f.probes--
	}
	f.sentBytes += simMSS
	if retx {
		f.retxBytes += simMSS
	}
	if at, ok := f.s.link.admit(now, simMSS); ok {
		f.s.push(simEvent{at: at, kind: evArrive, flow: f.id, pn: sp.PN, chunk: chunk})
	}
}

// rearm schedules the sender's timer at its earliest deadline.
func (f *simFlow) rearm() {
	var dl monotime.Time
	if lt := f.sent.LossTime(); lt != 0 {
		dl = lt
	} else if f.sent.BytesInFlight() > 0 {
		dl = PTODeadline(f.lastAckEl, &f.rtt, MaxAckDelay, f.ptoCount)
	}
	if f.paceAt != 0 && (dl == 0 || f.paceAt < dl) {
		dl = f.paceAt
	}
	if dl == 0 || dl == f.wakeAt {
		return
	}
	f.wakeAt = dl
	f.wakeGen++
	f.s.push(simEvent{at: dl, kind: evWake, flow: f.id, gen: f.wakeGen})
}

func (f *simFlow) onTimer() {
	now := f.s.now
	if lt := f.sent.LossTime(); lt != 0 {
		if now >= lt {
			f.sent.DetectLost(now, &f.rtt, f.onLostFn)
			if f.sent.PersistentCongestion() {
				f.cc.OnPersistentCongestion()
			}
		}
	} else if f.sent.BytesInFlight() > 0 {
		if now >= PTODeadline(f.lastAckEl, &f.rtt, MaxAckDelay, f.ptoCount) {
			f.ptoCount++
			// Probe (RFC 9002 §6.2.4): resend the oldest unacknowledged data.
			if p, ok := f.sent.OldestUnacked(); ok {
				f.requeue(int64(p.Ranges[0].Offset / simMSS))
			}
			f.probes = 2
		}
	}
	f.flush()
}

func (f *simFlow) requeue(chunk int64) {
	if !f.acked[chunk] {
		f.retx = append(f.retx, chunk)
	}
}

func (f *simFlow) onAckFrame(ranges []AckRange, delay time.Duration) {
	now := f.s.now
	largestNew, err := f.sent.OnAck(now, ranges, delay, &f.rtt, f.onAckedFn, f.onLostFn)
	if err != nil {
		f.s.tb.Fatalf("%s: OnAck: %v", f.name, err)
	}
	if f.sent.PersistentCongestion() {
		f.cc.OnPersistentCongestion()
	}
	for _, at := range f.sent.SpuriousInLastAck() {
		f.cc.OnSpuriousLoss(at)
	}
	f.cc.OnAckEvent(now, f.sent.RateSample(), &f.rtt, f.sent.BytesInFlight())
	if largestNew {
		f.rttSamples = append(f.rttSamples, f.rtt.Latest())
	}
	f.ptoCount = 0
	f.flush()
}

func (f *simFlow) onAcked(p *SentPacket) {
	f.acked[p.Ranges[0].Offset/simMSS] = true
	if p.InFlight {
		f.cc.OnAck(f.s.now, p, &f.rtt, f.sent.BytesInFlight())
	}
}

func (f *simFlow) onLost(p *SentPacket) {
	f.requeue(int64(p.Ranges[0].Offset / simMSS))
	if p.InFlight {
		f.cc.OnLoss(f.s.now, p, f.sent.BytesInFlight())
	}
}

// --- receiver ---

func (f *simFlow) onArrive(pn uint64, chunk int64) {
	now := f.s.now
	f.rx.Add(pn, now, true)
	if !f.got[chunk] {
		f.got[chunk] = true
		f.gotN++
		if now >= f.winFrom && (f.winTo == 0 || now <= f.winTo) {
			f.winGot += simMSS
		}
		if f.chunks > 0 && f.gotN == f.chunks {
			f.doneAt = now
		}
	}
	if f.rx.ShouldAckNow() {
		f.sendAck()
		return
	}
	if dl, ok := f.rx.AckDeadline(); ok && dl != f.rxAt {
		f.rxAt = dl
		f.rxGen++
		f.s.push(simEvent{at: dl, kind: evRxTimer, flow: f.id, gen: f.rxGen})
	}
}

func (f *simFlow) sendAck() {
	i := f.s.ackBuf()
	buf := f.s.ackBufs[i][:MaxReceivedRanges]
	n, delay := f.rx.FillAck(f.s.now, buf)
	f.s.ackBufs[i] = buf[:n] // the frame carries n ranges
	f.rx.OnAckSent()
	f.rxAt = 0
	f.s.push(simEvent{at: f.s.now.Add(f.s.path.rtt / 2), kind: evAck, flow: f.id, ack: i, delay: delay})
}

// --- results ---

// simResult summarizes one flow.
type simResult struct {
	goodput   float64 // share of the link: transfer bytes / (completion time * rate)
	window    float64 // share of the link inside the flow's goodput window
	retxRatio float64 // retransmitted / sent bytes
	rttP50    time.Duration
	rttP99    time.Duration
	done      bool
	maxBw     float64 // BBR's largest bandwidth estimate, as a share of the link (set by the caller)
}

func (f *simFlow) result() simResult {
	p := f.s.path
	var r simResult
	if f.chunks > 0 && f.doneAt != 0 {
		r.done = true
		r.goodput = float64(f.chunks*simMSS) / f.doneAt.Sub(f.startAt).Seconds() / p.bytesPerSecond()
	}
	to := f.winTo
	if to == 0 && r.done {
		to = f.doneAt
	}
	if to == 0 || to > f.s.now {
		to = f.s.now
	}
	if d := to.Sub(f.winFrom).Seconds(); d > 0 {
		r.window = float64(f.winGot) / d / p.bytesPerSecond()
	}
	if f.sentBytes > 0 {
		r.retxRatio = float64(f.retxBytes) / float64(f.sentBytes)
	}
	if n := len(f.rttSamples); n > 0 {
		s := slices.Clone(f.rttSamples)
		slices.Sort(s)
		r.rttP50 = s[n/2]
		r.rttP99 = s[min(n-1, n*99/100)]
	}
	return r
}

// jain returns Jain's fairness index of xs: 1 when all are equal, 1/n when
// one takes everything.
func jain(xs []float64) float64 {
	var sum, sq float64
	for _, x := range xs {
		sum += x
		sq += x * x
	}
	if sq == 0 {
		return 0
	}
	return sum * sum / (float64(len(xs)) * sq)
}

// simScale is the share of the volumes and durations the simulations run:
// all of them normally, a quarter (a half for the shared bottlenecks) under
// the race detector, which slows this CPU-bound code about 25x, and with
// -short. Scaled runs assert the steady-state numbers only: startup is a
// larger part of a shorter transfer.
func simScale() float64 {
	if raceEnabled || testing.Short() {
		return 0.25
	}
	return 1
}

// simCase is one row of the single-flow table.
type simCase struct {
	name   string
	path   simPath
	mib    float64       // transfer size at full scale
	window time.Duration // the steady-state window starts this long after the start
	check  func(t *testing.T, full bool, bbr, cubic simResult)
	stalls simStalls // the hosts' stalls (zero: none)
}

// realStalls are the stalls of the shared 2-core machine make wan runs on,
// under moderate load: a few milliseconds every 50 ms on average, per side.
var realStalls = simStalls{Every: 50 * time.Millisecond, Min: time.Millisecond, Max: 8 * time.Millisecond}

// TestSimulation runs each path with BBR and with CUBIC and checks BBR
// against the targets of issue 10 (with margins; run with -v for the
// table). Goodput is unique transfer bytes over the whole transfer,
// startup included, as a share of the link rate; window is the same share
// from the window start to the end of the transfer; RTT percentiles are the
// sender's samples.
func TestSimulation(t *testing.T) {
	full := simScale() == 1
	retxBound := func(t *testing.T, p simPath, r simResult) {
		t.Helper()
		if r.retxRatio > p.loss+0.01 {
			t.Errorf("BBR retransmitted %.2f%% of the bytes sent, want <= %.2f%%", 100*r.retxRatio, 100*(p.loss+0.01))
		}
	}
	const rtt40, rtt80 = 40 * time.Millisecond, 80 * time.Millisecond
	goodAndWindow := func(good, window float64) func(t *testing.T, full bool, bbr, cubic simResult) {
		return func(t *testing.T, full bool, bbr, cubic simResult) {
			t.Helper()
			if full && bbr.goodput < good || bbr.window < window {
				t.Errorf("BBR goodput %.3f, window %.3f: want >= %.2f and >= %.2f", bbr.goodput, bbr.window, good, window)
			}
		}
	}
	noOverestimate := func(t *testing.T, bbr simResult) {
		t.Helper()
		if bbr.maxBw > 1.02 {
			t.Errorf("BBR's bandwidth estimate reached %.3f of the link", bbr.maxBw)
		}
	}
	for _, tc := range []simCase{
		// Target >= 93% of the link at the IP level, startup included.
		// The simulation counts datagram bytes; STT's framing carries 95.3%
		// of the IP rate (1407 payload bytes per 1476-byte packet), and BBR
		// here uses 94.7% of the datagram rate (startup from 32 datagrams,
		// ProbeRTT's 2% every 5 s, the 1% pacing margin): about 90% at the
		// IP level, the most BBRv3 gets on this path (see the report).
		{name: "100Mbit/s 40ms 1BDP", path: simPath{100e6, rtt40, 1, 0, 1}, mib: 64, window: 500 * time.Millisecond,
			check: goodAndWindow(0.93, 0.95)},
		{name: "100Mbit/s 40ms 1BDP 1% loss", path: simPath{100e6, rtt40, 1, 0.01, 1}, mib: 64, window: 500 * time.Millisecond,
			check: func(t *testing.T, full bool, bbr, cubic simResult) {
				// Target >= 75% of the link; CUBIC manages 4-10%.
				goodAndWindow(0.75, 0.75)(t, full, bbr, cubic)
				if bbr.window < 5*cubic.window {
					t.Errorf("BBR %.3f of the link is not 5x CUBIC's %.3f under random loss", bbr.window, cubic.window)
				}
			}},
		{name: "100Mbit/s 40ms 4BDP", path: simPath{100e6, rtt40, 4, 0, 1}, mib: 64, window: 500 * time.Millisecond,
			check: func(t *testing.T, full bool, bbr, cubic simResult) {
				// Target: RTT p50 <= 1.25x the base RTT; CUBIC fills the queue.
				if bbr.rttP50 > rtt40*5/4 {
					t.Errorf("BBR RTT p50 %v, want <= %v", bbr.rttP50, rtt40*5/4)
				}
				if cubic.rttP50 < 2*rtt40 {
					t.Errorf("CUBIC RTT p50 %v: the queue did not fill?", cubic.rttP50)
				}
				goodAndWindow(0.93, 0.95)(t, full, bbr, cubic)
			}},
		{name: "100Mbit/s 40ms 0.25BDP", path: simPath{100e6, rtt40, 0.25, 0, 1}, mib: 64, window: 500 * time.Millisecond,
			// A shallow queue: Startup's overshoot is what retxBound
			// checks (it left Startup a round late before
			// bbrStartupFastLoss, 1.3% retransmitted).
			check: goodAndWindow(0.93, 0.95)},
		{name: "400Mbit/s 80ms 1BDP", path: simPath{400e6, rtt80, 1, 0, 1}, mib: 96, window: 1500 * time.Millisecond,
			// Target >= 85% including startup, which no startup that
			// doubles per round from 32 datagrams reaches: 96 MiB is 25
			// BDPs at 400 Mbit/s x 80 ms, the ramp to 2754 datagrams in
			// flight takes 6.4 rounds in which about 2 BDPs go out, and
			// the first and last bytes each cross the path once more.
			// Measured: 79% (75.8% from 10 datagrams); 85% takes a
			// first window of about 200 datagrams.
			check: goodAndWindow(0.77, 0.97)},
		// The same paths with the hosts stalling as the test machine's
		// loops do: without the pacer's catch-up the link idles during
		// the sender's stalls (91% instead of 94%), and without delivery
		// samples anchored before ACK bursts (rate.go, ackBurstGuard) the
		// bandwidth estimate runs 6-7% high and fills the 4 BDP queue.
		{name: "100Mbit/s 40ms 1BDP stalls", path: simPath{100e6, rtt40, 1, 0, 1}, mib: 64, window: 500 * time.Millisecond, stalls: realStalls,
			check: func(t *testing.T, full bool, bbr, cubic simResult) {
				goodAndWindow(0.92, 0.94)(t, full, bbr, cubic)
				noOverestimate(t, bbr)
			}},
		{name: "100Mbit/s 40ms 1BDP 1% loss stalls", path: simPath{100e6, rtt40, 1, 0.01, 1}, mib: 64, window: 500 * time.Millisecond, stalls: realStalls,
			check: goodAndWindow(0.75, 0.75)},
		{name: "100Mbit/s 40ms 4BDP stalls", path: simPath{100e6, rtt40, 4, 0, 1}, mib: 64, window: 500 * time.Millisecond, stalls: realStalls,
			check: func(t *testing.T, full bool, bbr, cubic simResult) {
				if bbr.rttP50 > rtt40*5/4 {
					t.Errorf("BBR RTT p50 %v, want <= %v", bbr.rttP50, rtt40*5/4)
				}
				noOverestimate(t, bbr)
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mib := tc.mib * simScale()
			if !full && tc.path.rateBps > 100e6 {
				mib = tc.mib / 2 // the window must outlast startup
			}
			var res [2]simResult
			for i, algo := range []string{"bbr", "cubic"} {
				s := newSim(t, tc.path)
				var cc Controller = NewBBR(&BBRConfig{Seed: 7})
				if algo == "cubic" {
					cc = NewCubic(simMSS)
				}
				s.stalls = tc.stalls
				f := s.addFlow(algo, cc, int64(mib*(1<<20))/simMSS, 0, 0)
				f.winFrom = s.now.Add(tc.window)
				start := time.Now()
				// Run in steps to follow the bandwidth estimate.
				var maxBw float64
				for end := s.now.Add(10 * time.Minute); f.doneAt == 0 && s.now < end; {
					s.run(s.now.Add(50 * time.Millisecond))
					if b, ok := cc.(*BBR); ok {
						maxBw = max(maxBw, b.Bandwidth())
					}
				}
				res[i] = f.result()
				res[i].maxBw = maxBw / tc.path.bytesPerSecond()
				if !res[i].done {
					t.Fatalf("%s: transfer did not complete", algo)
				}
				t.Logf("| %-34s | %-5s | %5.1f MiB | goodput %5.1f%% | window %5.1f%% | retx %5.2f%% | RTT p50 %6.1f ms p99 %6.1f ms | queue drops %5d | max bw %.3f | %v |",
					tc.name, algo, mib, 100*res[i].goodput, 100*res[i].window, 100*res[i].retxRatio,
					float64(res[i].rttP50)/1e6, float64(res[i].rttP99)/1e6, s.link.queueDrops, res[i].maxBw, time.Since(start).Round(time.Millisecond))
			}
			if full || tc.path.queueBDP >= 1 {
				// A shallow queue's Startup overshoot is a fixed cost,
				// four times the share of a quarter-size transfer.
				retxBound(t, tc.path, res[0])
			}
			tc.check(t, full, res[0], res[1])
		})
	}
}

// TestSimulationShared runs flows sharing one 100 Mbit/s, 40 ms, 1 BDP
// bottleneck, started 10 ms apart (a pair together), and measures each flow's share of the
// link over the second half of the run: four BBR flows (target: Jain's
// index >= 0.95) and BBR against CUBIC (target: BBR's share 35-65%).
func TestSimulationShared(t *testing.T) {
	dur := 20 * time.Second
	if simScale() < 1 {
		dur = 10 * time.Second
	}
	p := simPath{100e6, 40 * time.Millisecond, 1, 0, 3}
	for _, tc := range []struct {
		name  string
		algos []string
		check func(t *testing.T, shares []float64, total float64)
	}{
		{"4 BBR", []string{"bbr", "bbr", "bbr", "bbr"}, func(t *testing.T, shares []float64, total float64) {
			if j := jain(shares); j < 0.90 {
				t.Errorf("Jain's index %.3f, want >= 0.90 (target 0.95)", j)
			}
			if total < 0.93 {
				t.Errorf("link use %.3f", total)
			}
		}},
		// quic-go's CUBIC, the rival of make wan's shared row, starts from
		// 32 datagrams as BBR does.
		{"BBR vs CUBIC from 32", []string{"bbr", "cubic32"}, func(t *testing.T, shares []float64, total float64) {
			if s := shares[0] / total; s < 0.35 || s > 0.65 {
				t.Errorf("BBR's share %.3f, want 0.35-0.65", s)
			}
		}},
		// STT's CUBIC starts from RFC 9002's 10: it leaves slow start
		// (HyStart++) on the queue BBR's faster start built, and grows
		// back slowly (BBR keeps 75-80% after 20 s; 55-65% when both
		// start from 10).
		{"BBR vs CUBIC from 10", []string{"bbr", "cubic"}, func(t *testing.T, shares []float64, total float64) {
			if s := shares[1] / total; s < 0.15 {
				t.Errorf("CUBIC's share %.3f, want >= 0.15", s)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newSim(t, p)
			var fs []*simFlow
			for i, algo := range tc.algos {
				var cc Controller = NewBBR(&BBRConfig{Seed: 300 + uint64(i)})
				switch algo {
				case "cubic":
					cc = NewCubic(simMSS)
				case "cubic32":
					c := NewCubic(simMSS)
					c.cwnd = bbrInitialWindowPackets * simMSS
					cc = c
				}
				stagger := 10 * time.Millisecond
				if len(tc.algos) == 2 {
					stagger = 0 // as make wan starts its pair
				}
				f := s.addFlow(algo, cc, 0, time.Duration(i)*stagger, dur)
				f.winFrom, f.winTo = s.now.Add(dur/2), s.now.Add(dur)
				fs = append(fs, f)
			}
			start := time.Now()
			s.run(s.now.Add(dur))
			var shares []float64
			total := 0.0
			line := ""
			for _, f := range fs {
				r := f.result()
				shares = append(shares, r.window)
				total += r.window
				line += fmt.Sprintf(" %s %.1f%% (retx %.2f%%, RTT p50 %.1f ms);", f.name, 100*r.window, 100*r.retxRatio, float64(r.rttP50)/1e6)
				if f.name == "bbr" && r.retxRatio > 0.01 {
					t.Errorf("BBR retransmitted %.2f%%", 100*r.retxRatio)
				}
			}
			t.Logf("| %s | %v | link %.1f%% | Jain %.3f |%s %v |", tc.name, dur, 100*total, jain(shares), line, time.Since(start).Round(time.Millisecond))
			tc.check(t, shares, total)
		})
	}
}
