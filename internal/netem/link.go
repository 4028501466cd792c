package netem

import (
	"errors"
	"math/rand/v2"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/stt-go/stt/batch"
	"github.com/stt-go/stt/internal/monotime"
)

// Release pipeline of a Link (one goroutine, releaseLoop):
//
//  1. arrive (the paths' reader goroutines, under Link.mu): MTU check,
//     random draws, loss, drop-tail queue, hard cap; the datagram is
//     copied into a pooled buffer and gets a release time on the virtual
//     schedule: start = max(arrival, end of the previous serialisation),
//     end = start + size/rate, release = end + Delay + jitter (never
//     before the previous release), + ReorderDelay if reordered. It joins
//     the main line or the reorder line, both ordered by release time.
//  2. collect (releaseLoop, under Link.mu): pops every datagram due by
//     now from the heads of both lines, earliest first, up to
//     releaseBatch.
//  3. write (releaseLoop, no lock): sends them with batch.Conn.WriteBatch,
//     one call per run of datagrams leaving through the same socket (GSO
//     coalesces same-size runs to one destination).
//  4. finish (releaseLoop, under Link.mu): counts them and returns their
//     buffers to the pool; then the loop sleeps until the next release
//     time (at most maxSleep) or, when both lines are empty, until an
//     arrival wakes it.
//
// Because release times come from the virtual schedule, the forwarded
// rate is exact over any interval longer than the wake-up interval, however
// late a wake-up is; lateness only adds delay (LinkStats.Late).

const (
	// releaseBatch is the most datagrams one collect pops: 256 full-size
	// datagrams are 3 ms at 1 Gbit/s, so one wake-up of a late goroutine
	// drains in one or two rounds; bigger only grows the scratch arrays.
	releaseBatch = 256
	// maxSleep bounds one sleep of the release goroutine, so Close is seen
	// within about a millisecond even while datagrams wait for long delays.
	maxSleep = time.Millisecond
	// reorderPoll bounds the sleep while only reordered datagrams wait: a
	// new arrival may then be due before them, and arrivals do not
	// interrupt a sleep.
	reorderPoll = 200 * time.Microsecond
)

// Buffer size classes for held datagrams: ACKs, ordinary datagrams up to
// 2 KiB (1500-byte MTU), jumbo frames (9000) and the 64 KiB maximum.
var classSizes = [...]int{256, 2048, 16 << 10, 64 << 10}

func classOf(n int) int {
	for i, s := range classSizes {
		if n <= s {
			return i
		}
	}
	return len(classSizes) - 1 // n ≤ 65535 always (reader buffers)
}

// flow is one path direction attached to a link: where its datagrams go
// and its counters.
type flow struct {
	out      batch.Conn                      // writes to the next hop; written only by the link's releaseLoop
	dst      *atomic.Pointer[netip.AddrPort] // the next hop (the target, or the path's latest client)
	overhead int                             // IP+UDP header bytes per datagram
	closed   bool                            // protected by Link.mu
	c        Counters                        // protected by Link.mu
}

// held is one datagram waiting in a link.
type held struct {
	buf []byte // pooled buffer, len = datagram size
	f   *flow
	at  monotime.Time // release time
}

// line is a FIFO of held datagrams in release-time order (a ring that
// grows by doubling, bounded by the hard cap on held bytes).
type line struct {
	q          []held
	head, size int
}

func (l *line) push(h held) {
	if l.size == len(l.q) {
		q := make([]held, max(64, 2*len(l.q)))
		for i := range l.size {
			q[i] = l.q[(l.head+i)%len(l.q)]
		}
		l.q, l.head = q, 0
	}
	l.q[(l.head+l.size)%len(l.q)] = h
	l.size++
}

func (l *line) front() *held { return &l.q[l.head] }

func (l *line) pop() held {
	h := l.q[l.head]
	l.q[l.head] = held{}
	l.head = (l.head + 1) % len(l.q)
	l.size--
	return h
}

// Link is one direction of a bottleneck, configured by a LinkConfig, that
// one or more paths send through (Path, NewPath): their datagrams share
// its queue and its rate in arrival order, and each path's are counted
// apart (Path.Stats) as well as together (Link.Stats). Create it with
// NewLink; Close stops its goroutine. All methods are safe for concurrent
// use.
//
// Memory: the drop-tail queue bounds the queued bytes to QueueBytes; the
// delay line after it holds at most Rate × (Delay + Jitter + ReorderDelay)
// bytes, since datagrams leave the queue at Rate at most; both together
// are capped at MaxHeld bytes of buffers (each datagram takes a buffer of
// 256 B, 2 KiB, 16 KiB or 64 KiB, the smallest that fits). Buffers are
// pooled per link and reused, so a link in steady state allocates nothing
// per datagram; the pool keeps what the busiest moment needed, up to
// MaxHeld.
type Link struct {
	cfg       LinkConfig // immutable after NewLink, except MTU (st.mtu)
	nsPerByte float64    // serialisation time of one byte; 0 without a rate
	maxHeld   int

	mu sync.Mutex // protects st
	st struct {
		rng       *rand.Rand
		bad       bool          // Gilbert–Elliott state
		busyUntil monotime.Time // end of the last scheduled serialisation
		floorMain monotime.Time // release time of the last datagram on main
		floorReo  monotime.Time // release time of the last datagram on reo
		main, reo line
		held      int // datagrams in main and reo
		heldBytes int // their buffers' capacity
		free      [len(classSizes)][][]byte
		mtu       int
		maxQueue  int
		total     Counters
		late      Histogram
		closed    bool
	}

	wake      chan struct{} // cap 1: an arrival found both lines empty
	quit      chan struct{}
	done      chan struct{}
	closeOnce sync.Once
}

// NewLink validates cfg (nil means the zero LinkConfig, a perfect wire)
// and starts the link's release goroutine, which Close stops. Errors wrap
// ErrConfig and name the field.
func NewLink(cfg *LinkConfig) (*Link, error) {
	l, err := newLink(cfg)
	if err != nil {
		return nil, err
	}
	go l.releaseLoop()
	return l, nil
}

// newLink builds a link without starting its goroutine (tests drive
// arriveOne and collect with their own clock).
func newLink(cfg *LinkConfig) (*Link, error) {
	l := &Link{
		wake: make(chan struct{}, 1),
		quit: make(chan struct{}),
		done: make(chan struct{}),
	}
	if cfg != nil {
		l.cfg = *cfg
	}
	if l.cfg.Burst != nil {
		g := *l.cfg.Burst
		l.cfg.Burst = &g // never share the caller's value
	}
	if err := l.cfg.validate(); err != nil {
		return nil, err
	}
	if l.cfg.Rate > 0 {
		l.nsPerByte = 8e9 / l.cfg.Rate
	}
	l.maxHeld = l.cfg.maxHeld()
	l.st.rng = rand.New(rand.NewPCG(l.cfg.Seed, l.cfg.Seed^0x9e3779b97f4a7c15))
	l.st.mtu = l.cfg.MTU
	return l, nil
}

// Config returns the link's configuration, with the current MTU.
func (l *Link) Config() LinkConfig {
	c := l.cfg
	if c.Burst != nil {
		g := *c.Burst
		c.Burst = &g
	}
	l.mu.Lock()
	c.MTU = l.st.mtu
	l.mu.Unlock()
	return c
}

// SetMTU changes the MTU from the next arrival on (0: no limit); datagrams
// already accepted are still delivered. Use it to open a black hole in the
// middle of a transfer. An MTU outside [0, MaxMTU] returns an error
// wrapping ErrConfig and changes nothing.
func (l *Link) SetMTU(mtu int) error {
	if mtu < 0 || mtu > MaxMTU {
		return configError("MTU must be in [0, %d], got %d", MaxMTU, mtu)
	}
	l.mu.Lock()
	l.st.mtu = mtu
	l.mu.Unlock()
	return nil
}

// Stats returns a snapshot of the link's counters (all flows together).
// It copies two histograms (~20 KiB) and allocates nothing else.
func (l *Link) Stats() LinkStats {
	now := monotime.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	return LinkStats{
		Counters:      l.st.total,
		QueueBytes:    l.backlog(now),
		MaxQueueBytes: l.st.maxQueue,
		Held:          l.st.held,
		HeldBytes:     l.st.heldBytes,
		Late:          l.st.late,
		MTU:           l.st.mtu,
	}
}

// Close stops the release goroutine, waits for it, and drops every
// datagram the link still holds (counted in DroppedClosed); later
// arrivals are dropped the same way. Later calls do nothing. It returns
// nil.
func (l *Link) Close() error {
	l.closeOnce.Do(func() {
		close(l.quit)
		<-l.done
		l.mu.Lock()
		l.st.closed = true
		for _, ln := range []*line{&l.st.main, &l.st.reo} {
			for ln.size > 0 {
				h := ln.pop()
				l.bump(h.f, func(c *Counters) { c.DroppedClosed++ })
				l.recycle(h.buf)
			}
		}
		l.st.free = [len(classSizes)][][]byte{}
		l.mu.Unlock()
	})
	return nil
}

// detach marks f closed and drops the datagrams the link holds for it
// (counted in DroppedClosed), keeping the others in order.
func (l *Link) detach(f *flow) {
	l.mu.Lock()
	defer l.mu.Unlock()
	f.closed = true
	for _, ln := range []*line{&l.st.main, &l.st.reo} {
		for range ln.size {
			h := ln.pop()
			if h.f == f {
				l.bump(f, func(c *Counters) { c.DroppedClosed++ })
				l.recycle(h.buf)
				continue
			}
			ln.push(h) // rotates the ring: after size pops and pushes it is back in order
		}
	}
}

// bump applies inc to the flow's and the link's counters. Callers hold mu.
func (l *Link) bump(f *flow, inc func(c *Counters)) {
	inc(&f.c)
	inc(&l.st.total)
}

// backlog returns the bytes not yet serialised at now. Callers hold mu.
func (l *Link) backlog(now monotime.Time) int {
	if l.nsPerByte == 0 || l.st.busyUntil <= now {
		return 0
	}
	return int(float64(l.st.busyUntil-now) / l.nsPerByte)
}

// drawLoss advances the loss model by one arrival and reports whether the
// datagram is lost. Callers hold mu.
func (l *Link) drawLoss() bool {
	r := l.st.rng
	g := l.cfg.Burst
	if g == nil {
		return l.cfg.Loss > 0 && r.Float64() < l.cfg.Loss
	}
	if l.st.bad {
		l.st.bad = r.Float64() >= g.PBadToGood
	} else {
		l.st.bad = r.Float64() < g.PGoodToBad
	}
	p := g.LossGood
	if l.st.bad {
		p = g.LossBad
	}
	return r.Float64() < p
}

// arrive passes the datagrams of one received batch (borrowed; copied
// if accepted) through the link. All arrived at now.
func (l *Link) arrive(now monotime.Time, f *flow, msgs []batch.Message) {
	l.mu.Lock()
	wasEmpty := l.st.main.size+l.st.reo.size == 0
	for i := range msgs {
		m := &msgs[i]
		b := m.Buf[:m.N]
		seg := m.SegSize
		if seg <= 0 {
			seg = len(b)
		}
		for len(b) > 0 {
			k := min(seg, len(b))
			l.arriveOne(now, f, b[:k])
			b = b[k:]
		}
	}
	nowEmpty := l.st.main.size+l.st.reo.size == 0
	l.mu.Unlock()
	if wasEmpty && !nowEmpty {
		select {
		case l.wake <- struct{}{}:
		default:
		}
	}
}

// arriveOne handles one datagram. Callers hold mu. It does not allocate
// once the buffer pool and the lines have grown to the traffic's needs.
func (l *Link) arriveOne(now monotime.Time, f *flow, pkt []byte) {
	n := len(pkt)
	st := &l.st
	f.c.DatagramsIn++
	f.c.BytesIn += uint64(n)
	st.total.DatagramsIn++
	st.total.BytesIn += uint64(n)
	if st.closed || f.closed {
		l.bump(f, func(c *Counters) { c.DroppedClosed++ })
		return
	}
	size := n + f.overhead
	// The draws come first and for every datagram, so the k-th arrival
	// always gets the k-th draws whatever happens to the others.
	lost := l.drawLoss()
	var jitter time.Duration
	if l.cfg.Jitter > 0 {
		jitter = time.Duration(st.rng.Int64N(int64(l.cfg.Jitter) + 1))
	}
	reorder := l.cfg.Reorder > 0 && st.rng.Float64() < l.cfg.Reorder

	switch {
	case st.mtu > 0 && size > st.mtu:
		l.bump(f, func(c *Counters) { c.DroppedMTU++; c.BytesDroppedMTU += uint64(n) })
		return
	case lost:
		l.bump(f, func(c *Counters) { c.DroppedLoss++; c.BytesDroppedLoss += uint64(n) })
		return
	}
	start, backlog := now, 0
	if l.nsPerByte > 0 {
		backlog = l.backlog(now)
		if backlog > 0 && backlog+size > l.cfg.QueueBytes {
			l.bump(f, func(c *Counters) { c.DroppedQueue++; c.BytesDroppedQueue += uint64(n) })
			return
		}
		start = max(now, st.busyUntil)
	}
	class := classOf(n)
	if st.heldBytes+classSizes[class] > l.maxHeld {
		l.bump(f, func(c *Counters) { c.DroppedOverflow++; c.BytesDroppedCap += uint64(n) })
		return
	}

	// Accepted: schedule it.
	end := start
	if l.nsPerByte > 0 {
		end = start + monotime.Time(float64(size)*l.nsPerByte+0.5)
		st.busyUntil = end
		st.maxQueue = max(st.maxQueue, backlog+size)
	}
	wait := start.Sub(now)
	f.c.QueueDelay.Record(wait)
	st.total.QueueDelay.Record(wait)
	at := max(end.Add(l.cfg.Delay+jitter), st.floorMain)
	buf := l.buffer(class, n)
	copy(buf, pkt)
	if reorder {
		at = max(at.Add(l.cfg.ReorderDelay), st.floorReo)
		st.floorReo = at
		st.reo.push(held{buf: buf, f: f, at: at})
		l.bump(f, func(c *Counters) { c.Reordered++ })
	} else {
		st.floorMain = at
		st.main.push(held{buf: buf, f: f, at: at})
	}
	st.held++
	st.heldBytes += classSizes[class]
}

// buffer returns a pooled buffer of the class, resliced to n. Callers
// hold mu.
func (l *Link) buffer(class, n int) []byte {
	fl := &l.st.free[class]
	if k := len(*fl); k > 0 {
		b := (*fl)[k-1]
		(*fl)[k-1] = nil
		*fl = (*fl)[:k-1]
		return b[:n]
	}
	return make([]byte, n, classSizes[class])
}

// recycle returns a held datagram's buffer to the pool. Callers hold mu.
func (l *Link) recycle(b []byte) {
	class := classOf(cap(b))
	l.st.held--
	l.st.heldBytes -= classSizes[class]
	if !l.st.closed {
		l.st.free[class] = append(l.st.free[class], b[:0])
	}
}

// collect pops the datagrams due by now into out (up to its capacity),
// earliest first, and returns them with the next release time, whether
// anything still waits, and whether only reordered datagrams wait.
// Callers hold mu.
func (l *Link) collect(now monotime.Time, out []held) (_ []held, next monotime.Time, pending, onlyReo bool) {
	st := &l.st
	for len(out) < cap(out) {
		var ln *line
		switch {
		case st.main.size > 0 && (st.reo.size == 0 || st.main.front().at <= st.reo.front().at):
			ln = &st.main
		case st.reo.size > 0:
			ln = &st.reo
		}
		if ln == nil || ln.front().at > now {
			break
		}
		h := ln.pop()
		st.late.Record(now.Sub(h.at))
		out = append(out, h)
	}
	switch {
	case st.main.size > 0 && st.reo.size > 0:
		next = min(st.main.front().at, st.reo.front().at)
	case st.main.size > 0:
		next = st.main.front().at
	case st.reo.size > 0:
		next, onlyReo = st.reo.front().at, true
	}
	return out, next, st.main.size+st.reo.size > 0, onlyReo
}

// releaseLoop is the link's goroutine: stages 2-4 of the pipeline.
func (l *Link) releaseLoop() {
	defer close(l.done)
	out := make([]held, 0, releaseBatch)
	msgs := make([]batch.Message, releaseBatch)
	pos := make([]int, releaseBatch)
	result := make([]outcome, releaseBatch)
	for {
		l.mu.Lock()
		now := monotime.Now()
		var (
			next             monotime.Time
			pending, onlyReo bool
		)
		out, next, pending, onlyReo = l.collect(now, out[:0])
		l.mu.Unlock()

		if len(out) > 0 {
			l.write(out, msgs, pos, result)
			l.mu.Lock()
			for i, h := range out {
				switch result[i] {
				case sent:
					n := uint64(len(h.buf))
					l.bump(h.f, func(c *Counters) { c.Forwarded++; c.BytesForwarded += n })
				case closedFlow:
					l.bump(h.f, func(c *Counters) { c.DroppedClosed++ })
				default:
					l.bump(h.f, func(c *Counters) { c.WriteErrors++ })
				}
				l.recycle(h.buf)
				out[i] = held{}
			}
			l.mu.Unlock()
			if len(out) == cap(out) {
				continue // more may be due already
			}
		}
		select {
		case <-l.quit:
			return
		default:
		}
		if !pending {
			select {
			case <-l.quit:
				return
			case <-l.wake:
			}
			continue
		}
		d := min(next.Sub(monotime.Now()), maxSleep)
		if onlyReo {
			d = min(d, reorderPoll)
		}
		if d > 0 {
			sleep(d)
		}
	}
}

// outcome is what became of one released datagram.
type outcome uint8

const (
	sent       outcome = iota
	closedFlow         // the path (its socket) was closed
	writeError         // the socket refused it, or no client to send to
)

// write sends out (stage 3), one WriteBatch per run of datagrams leaving
// through the same socket, and fills result. msgs, pos and result are
// scratch of at least len(out).
func (l *Link) write(out []held, msgs []batch.Message, pos []int, result []outcome) {
	for i := 0; i < len(out); {
		c := out[i].f.out
		j, k := i, 0
		for ; j < len(out) && out[j].f.out == c; j++ {
			dst := out[j].f.dst.Load()
			if dst == nil {
				result[j] = writeError // no client has sent yet
				continue
			}
			result[j] = sent
			msgs[k] = batch.Message{Buf: out[j].buf, Addr: *dst}
			pos[k] = j
			k++
		}
		send(c, msgs[:k], pos[:k], result)
		clear(msgs[:k])
		i = j
	}
}

// send writes msgs through c and marks in result (at pos[m] for msgs[m])
// the datagrams that were not sent.
func send(c batch.Conn, msgs []batch.Message, pos []int, result []outcome) {
	lost0 := c.Stats().TxLost
	for done := 0; done < len(msgs); {
		n, err := c.WriteBatch(msgs[done:])
		done += n
		switch {
		case err == nil:
		case errors.Is(err, net.ErrClosed):
			for _, p := range pos[done:] {
				result[p] = closedFlow
			}
			done = len(msgs)
		default:
			// A *MsgSizeError or ErrBadAddr means msgs[done-1] was
			// skipped; any other error that msgs[done] was not sent.
			// Either way one datagram failed and the rest is tried.
			var mse *batch.MsgSizeError
			if !errors.As(err, &mse) && !errors.Is(err, batch.ErrBadAddr) {
				done++
			}
			if done > 0 {
				result[pos[done-1]] = writeError
			}
		}
	}
	if lost := c.Stats().TxLost - lost0; lost > 0 {
		// The kernel refused some datagrams (ENOBUFS and the like) and
		// WriteBatch went on; which ones is not reported, so the count is
		// taken from the last ones sent.
		for m := len(pos) - 1; m >= 0 && lost > 0; m-- {
			if result[pos[m]] == sent {
				result[pos[m]] = writeError
				lost--
			}
		}
	}
}
