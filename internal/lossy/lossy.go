package lossy

import (
	"container/heap"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/stt-go/stt/wire"
)

// Dir is the direction a datagram travels through the proxy.
type Dir uint8

// Directions.
const (
	ToTarget Dir = iota // from the client to the target
	ToClient            // from the target back to the client
)

// String returns "to-target" or "to-client".
func (d Dir) String() string {
	switch d {
	case ToTarget:
		return "to-target"
	case ToClient:
		return "to-client"
	}
	return fmt.Sprintf("Dir(%d)", uint8(d))
}

const (
	// DefaultMaxQueued bounds datagrams waiting for their delay when
	// Config.MaxQueued is zero: at a loopback rate of ~100 000 datagrams/s
	// and delays of a few milliseconds, a few hundred wait at once, so
	// 4096 leaves ample room while capping memory at 4096 datagrams.
	DefaultMaxQueued = 4096
	// maxDatagram is the largest UDP payload (65535 − 8 − 20).
	maxDatagram = 65507
	// socketBuffer is SO_RCVBUF/SO_SNDBUF for the proxy's sockets: the
	// nodes send GSO trains of up to 64 datagrams in one burst, and the
	// default ~200 KiB buffer would add loss the test did not ask for.
	// Linux caps it at net.core.rmem_max / wmem_max.
	socketBuffer = 4 << 20
)

// Config holds the fault callbacks. A nil callback never fires. Each gets
// the direction and the datagram; pkt is borrowed for the call (Corrupt's
// is the proxy's private copy, which it may modify). Callbacks run on the
// reader goroutine of their direction, so one shared by both directions
// must be safe for concurrent use. They are applied in this order:
// outage, Drop, Duplicate, then for each copy Corrupt and Delay.
type Config struct {
	// Drop discards the datagram when it returns true.
	Drop func(dir Dir, pkt []byte) bool
	// Delay holds the datagram back for the returned duration before it is
	// forwarded; datagrams behind it overtake it (reordering). Zero or
	// negative forwards at once.
	Delay func(dir Dir, pkt []byte) time.Duration
	// Duplicate forwards the datagram twice when it returns true; each copy
	// gets its own Corrupt and Delay call.
	Duplicate func(dir Dir, pkt []byte) bool
	// Corrupt may modify pkt, a copy owned by the proxy, in place (flip
	// bits, truncate is not possible); it returns true if it changed it,
	// which is counted in DirStats.Corrupted.
	Corrupt func(dir Dir, pkt []byte) bool
	// MaxQueued bounds datagrams waiting for their delay; beyond it delayed
	// datagrams are dropped and counted in DirStats.QueueFull. Default
	// DefaultMaxQueued.
	MaxQueued int
}

// DirStats counts what happened to datagrams in one direction.
type DirStats struct {
	Received   uint64 // datagrams read from the sender
	Forwarded  uint64 // datagrams written to the receiver (duplicates included)
	Dropped    uint64 // discarded by Config.Drop
	Outage     uint64 // discarded by the outage switch (on arrival or when their delay ended)
	Duplicated uint64 // extra copies made by Config.Duplicate
	Corrupted  uint64 // copies changed by Config.Corrupt
	Delayed    uint64 // copies held back by Config.Delay
	QueueFull  uint64 // delayed copies dropped because MaxQueued were waiting
	NoClient   uint64 // replies dropped because no client had sent yet
	WriteErrs  uint64 // failed socket writes
}

type dirCounters struct {
	received, forwarded, dropped, outage, duplicated  atomic.Uint64
	corrupted, delayed, queueFull, noClient, writeErr atomic.Uint64
}

func (c *dirCounters) snapshot() DirStats {
	return DirStats{
		Received:   c.received.Load(),
		Forwarded:  c.forwarded.Load(),
		Dropped:    c.dropped.Load(),
		Outage:     c.outage.Load(),
		Duplicated: c.duplicated.Load(),
		Corrupted:  c.corrupted.Load(),
		Delayed:    c.delayed.Load(),
		QueueFull:  c.queueFull.Load(),
		NoClient:   c.noClient.Load(),
		WriteErrs:  c.writeErr.Load(),
	}
}

// Proxy is a lossy UDP relay between one client and a target. Create it
// with New; all methods are safe for concurrent use.
type Proxy struct {
	cfg    Config
	target netip.AddrPort
	front  *net.UDPConn                // the client-facing socket, Addr()
	back   atomic.Pointer[net.UDPConn] // connected to target; swapped by Rebind

	client  atomic.Pointer[netip.AddrPort] // most recent sender on front
	outage  atomic.Bool
	closing atomic.Bool
	stats   [2]dirCounters

	delayed struct {
		mu    sync.Mutex // protects q and seq
		q     delayQueue
		seq   uint64
		wake  chan struct{} // cap 1: a new earliest deadline was queued
		count atomic.Int64  // len(q), readable without mu
	}

	quit      chan struct{}
	wg        sync.WaitGroup
	closeOnce sync.Once
}

// New starts a proxy listening on 127.0.0.1:0 that forwards to target
// (which must be a loopback address: tests never leave the machine). cfg
// may be nil (a perfect network until SetOutage). It starts three
// goroutines (two readers and the delay scheduler) that Close stops.
// Errors come from opening the sockets.
func New(target netip.AddrPort, cfg *Config) (*Proxy, error) {
	if !target.IsValid() || !target.Addr().IsLoopback() {
		return nil, fmt.Errorf("lossy: target %v is not a loopback address", target)
	}
	p := &Proxy{target: target, quit: make(chan struct{})}
	if cfg != nil {
		p.cfg = *cfg
	}
	if p.cfg.MaxQueued <= 0 {
		p.cfg.MaxQueued = DefaultMaxQueued
	}
	p.delayed.wake = make(chan struct{}, 1)
	local := netip.AddrPortFrom(target.Addr(), 0)
	front, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(local))
	if err != nil {
		return nil, fmt.Errorf("lossy: listen: %w", err)
	}
	back, err := net.DialUDP("udp", net.UDPAddrFromAddrPort(local), net.UDPAddrFromAddrPort(target))
	if err != nil {
		_ = front.Close()
		return nil, fmt.Errorf("lossy: dial %v: %w", target, err)
	}
	for _, c := range []*net.UDPConn{front, back} {
		// Best effort: a smaller buffer only adds loss.
		_ = c.SetReadBuffer(socketBuffer)
		_ = c.SetWriteBuffer(socketBuffer)
	}
	p.front = front
	p.back.Store(back)
	p.wg.Add(3)
	go func() { defer p.wg.Done(); p.readLoop(ToTarget) }()
	go func() { defer p.wg.Done(); p.readLoop(ToClient) }()
	go func() { defer p.wg.Done(); p.scheduleLoop() }()
	return p, nil
}

// Addr returns the address clients send to.
func (p *Proxy) Addr() netip.AddrPort { return p.front.LocalAddr().(*net.UDPAddr).AddrPort() }

// Target returns the address the proxy forwards to.
func (p *Proxy) Target() netip.AddrPort { return p.target }

// Client returns the address replies go to (the latest sender), and false
// before any client has sent.
func (p *Proxy) Client() (netip.AddrPort, bool) {
	if c := p.client.Load(); c != nil {
		return *c, true
	}
	return netip.AddrPort{}, false
}

// Rebind moves the proxy's target-facing socket to a new local port, as a
// NAT rebinding does: the target sees the client's packets come from a new
// address from then on. Datagrams already in flight to the old socket are
// lost.
func (p *Proxy) Rebind() error {
	local := netip.AddrPortFrom(p.target.Addr(), 0)
	nb, err := net.DialUDP("udp", net.UDPAddrFromAddrPort(local), net.UDPAddrFromAddrPort(p.target))
	if err != nil {
		return fmt.Errorf("lossy: rebind: %w", err)
	}
	_ = nb.SetReadBuffer(socketBuffer)
	_ = nb.SetWriteBuffer(socketBuffer)
	old := p.back.Swap(nb)
	return old.Close()
}

// SetOutage switches a total outage on or off: while on, every datagram in
// both directions is dropped, including delayed ones whose delay ends
// during the outage. It does not block.
func (p *Proxy) SetOutage(on bool) { p.outage.Store(on) }

// Stats returns the counters of one direction.
func (p *Proxy) Stats(dir Dir) DirStats { return p.stats[dir&1].snapshot() }

// Queued returns how many datagrams wait for their delay.
func (p *Proxy) Queued() int { return int(p.delayed.count.Load()) }

// Close closes the sockets, discards delayed datagrams and waits until
// every goroutine of the proxy has returned. Later calls return nil.
func (p *Proxy) Close() error {
	var err error
	p.closeOnce.Do(func() {
		p.closing.Store(true)
		close(p.quit)
		err = errors.Join(p.front.Close(), p.back.Load().Close())
		p.wg.Wait()
		p.delayed.mu.Lock()
		p.delayed.q = nil
		p.delayed.count.Store(0)
		p.delayed.mu.Unlock()
	})
	return err
}

// readLoop reads one direction's socket until it is closed and passes
// each datagram through the fault pipeline.
func (p *Proxy) readLoop(dir Dir) {
	buf := make([]byte, maxDatagram)
	c := &p.stats[dir]
	for {
		var (
			n    int
			from netip.AddrPort
			err  error
		)
		if dir == ToTarget {
			n, from, err = p.front.ReadFromUDPAddrPort(buf)
		} else {
			n, err = p.back.Load().Read(buf)
		}
		if err != nil {
			if p.closing.Load() || dir == ToTarget && errors.Is(err, net.ErrClosed) {
				return
			}
			if errors.Is(err, net.ErrClosed) {
				continue // Rebind replaced the socket
			}
			// ICMP port unreachable surfaces as a read error on the
			// connected socket while the target is down: keep going.
			continue
		}
		c.received.Add(1)
		if dir == ToTarget {
			if old := p.client.Load(); old == nil || *old != from {
				f := from
				p.client.Store(&f)
			}
		}
		p.handle(dir, buf[:n])
	}
}

// handle applies the fault callbacks to one datagram (borrowed).
func (p *Proxy) handle(dir Dir, pkt []byte) {
	c := &p.stats[dir]
	if p.outage.Load() {
		c.outage.Add(1)
		return
	}
	if f := p.cfg.Drop; f != nil && f(dir, pkt) {
		c.dropped.Add(1)
		return
	}
	copies := 1
	if f := p.cfg.Duplicate; f != nil && f(dir, pkt) {
		copies = 2
		c.duplicated.Add(1)
	}
	for range copies {
		out := pkt
		owned := false
		if f := p.cfg.Corrupt; f != nil {
			out = append([]byte(nil), pkt...)
			owned = true
			if f(dir, out) {
				c.corrupted.Add(1)
			}
		}
		var d time.Duration
		if f := p.cfg.Delay; f != nil {
			d = f(dir, out)
		}
		if d <= 0 {
			p.send(dir, out)
			continue
		}
		if !owned {
			out = append([]byte(nil), pkt...)
		}
		p.enqueue(dir, out, time.Now().Add(d))
	}
}

// send writes one datagram to dir's receiver.
func (p *Proxy) send(dir Dir, pkt []byte) {
	c := &p.stats[dir]
	var err error
	if dir == ToTarget {
		_, err = p.back.Load().Write(pkt)
	} else {
		to := p.client.Load()
		if to == nil {
			c.noClient.Add(1)
			return
		}
		_, err = p.front.WriteToUDPAddrPort(pkt, *to)
	}
	if err != nil {
		if !p.closing.Load() {
			c.writeErr.Add(1)
		}
		return
	}
	c.forwarded.Add(1)
}

// enqueue holds pkt (owned by the queue from now on) until at.
func (p *Proxy) enqueue(dir Dir, pkt []byte, at time.Time) {
	c := &p.stats[dir]
	d := &p.delayed
	d.mu.Lock()
	if len(d.q) >= p.cfg.MaxQueued {
		d.mu.Unlock()
		c.queueFull.Add(1)
		return
	}
	d.seq++
	heap.Push(&d.q, delayedPkt{at: at, seq: d.seq, dir: dir, pkt: pkt})
	d.count.Store(int64(len(d.q)))
	earliest := d.q[0].seq == d.seq
	d.mu.Unlock()
	c.delayed.Add(1)
	if earliest {
		select {
		case d.wake <- struct{}{}:
		default:
		}
	}
}

// scheduleLoop forwards delayed datagrams when their time comes.
func (p *Proxy) scheduleLoop() {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	var due []delayedPkt
	d := &p.delayed
	for {
		d.mu.Lock()
		now := time.Now()
		for len(d.q) > 0 && !d.q[0].at.After(now) {
			due = append(due, heap.Pop(&d.q).(delayedPkt))
		}
		d.count.Store(int64(len(d.q)))
		var wait time.Duration = -1
		if len(d.q) > 0 {
			wait = d.q[0].at.Sub(now)
		}
		d.mu.Unlock()
		for i := range due {
			if p.outage.Load() {
				p.stats[due[i].dir].outage.Add(1)
			} else {
				p.send(due[i].dir, due[i].pkt)
			}
			due[i] = delayedPkt{}
		}
		due = due[:0]
		if wait >= 0 {
			timer.Reset(wait)
		} else {
			timer.Stop()
		}
		select {
		case <-p.quit:
			return
		case <-d.wake:
		case <-timer.C:
		}
	}
}

// delayedPkt is one datagram waiting for its delay to end.
type delayedPkt struct {
	at  time.Time
	seq uint64 // FIFO among equal deadlines
	dir Dir
	pkt []byte
}

// delayQueue is a min-heap by (at, seq) for container/heap.
type delayQueue []delayedPkt

func (q delayQueue) Len() int { return len(q) }
func (q delayQueue) Less(i, j int) bool {
	if q[i].at.Equal(q[j].at) {
		return q[i].seq < q[j].seq
	}
	return q[i].at.Before(q[j].at)
}
func (q delayQueue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *delayQueue) Push(x any)   { *q = append(*q, x.(delayedPkt)) }
func (q *delayQueue) Pop() any {
	old := *q
	x := old[len(old)-1]
	old[len(old)-1] = delayedPkt{}
	*q = old[:len(old)-1]
	return x
}

// Random returns a callback for Drop, Duplicate or (with care) Corrupt
// that fires with probability prob in both directions, independently per
// datagram. It draws from math/rand/v2's global source, so it is safe for
// concurrent use and not reproducible.
func Random(prob float64) func(Dir, []byte) bool {
	return func(Dir, []byte) bool { return rand.Float64() < prob }
}

// RandomDelay returns a Delay callback that holds back a fraction prob of
// datagrams for a uniform random time in [lo, hi] and forwards the rest at
// once: with the rest overtaking them, that is reordering. Safe for
// concurrent use.
func RandomDelay(prob float64, lo, hi time.Duration) func(Dir, []byte) time.Duration {
	return func(Dir, []byte) time.Duration {
		if rand.Float64() >= prob {
			return 0
		}
		if hi <= lo {
			return lo
		}
		return lo + rand.N(hi-lo+1)
	}
}

// FlipBit flips bit i (0 = the least significant bit of pkt[0]) of pkt and
// reports whether i was inside it.
func FlipBit(pkt []byte, i int) bool {
	if i < 0 || i/8 >= len(pkt) {
		return false
	}
	pkt[i/8] ^= 1 << (i % 8)
	return true
}

// TransportPayload reports whether pkt is an STT TRANSPORT packet (not a
// handshake message) and, if so, the offset of its encrypted payload: the
// part a fault such as a bit flip can hit without the packet missing its
// session.
func TransportPayload(pkt []byte) (offset int, ok bool) {
	k, ok := wire.PeekKind(pkt)
	if !ok || k != wire.KindTransport || len(pkt) <= wire.HeaderLen {
		return 0, false
	}
	return wire.HeaderLen, true
}
