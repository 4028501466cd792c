package netem

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"

	"github.com/stt-go/stt/batch"
	"github.com/stt-go/stt/internal/monotime"
)

// Dir is the direction a datagram travels through a path.
type Dir uint8

// Directions.
const (
	Forward Dir = iota // from the client to the target
	Reverse            // from the target back to the client
)

// String returns "forward" or "reverse".
func (d Dir) String() string {
	switch d {
	case Forward:
		return "forward"
	case Reverse:
		return "reverse"
	}
	return fmt.Sprintf("Dir(%d)", uint8(d))
}

const (
	// readBatch is how many messages one ReadBatch of a path's reader
	// asks for. With GRO each is a train of up to 64 datagrams, so 16
	// messages take up to 1024 datagrams per syscall; the buffers cost
	// 16 × 64 KiB per reader.
	readBatch = 16
	// socketBuffer is SO_RCVBUF/SO_SNDBUF of a path's sockets (set with
	// SO_RCVBUFFORCE when running as root): the emulator must not add loss
	// of its own when a sender bursts a whole congestion window.
	socketBuffer = 8 << 20
)

// Config configures New: one LinkConfig per direction.
type Config struct {
	Forward, Reverse LinkConfig
}

// Path relays UDP datagrams between one client and a target through a
// forward and a reverse Link, like a router between them: a client sends
// to Addr, the path sends on from its own socket to the target, and the
// target's replies go back to the client that sent most recently (so a
// rebinding client keeps working). Datagrams reaching the path's outer
// socket from any address other than the target are ignored, and so are
// empty datagrams (neither transport sends them). It runs two
// reader goroutines, one per direction; the links' goroutines write. All
// methods are safe for concurrent use.
type Path struct {
	target netip.AddrPort
	front  batch.Conn // the client-facing socket, Addr(); written by the reverse link
	back   batch.Conn // sends to target; written by the forward link
	links  [2]*Link
	flows  [2]*flow
	owned  [2]bool // links Close closes (New, or nil in NewPath)

	client atomic.Pointer[netip.AddrPort] // latest sender on front
	dst    atomic.Pointer[netip.AddrPort] // the target, for the forward flow

	wg        sync.WaitGroup
	closing   atomic.Bool
	closeOnce sync.Once
	closeErr  error
}

// New starts a path to target (a loopback address: tests never leave the
// machine) through two links of its own built from cfg (nil: perfect
// wires both ways), which Close also closes. Errors wrap ErrConfig for a
// bad configuration, or come from opening the sockets.
func New(target netip.AddrPort, cfg *Config) (*Path, error) {
	var c Config
	if cfg != nil {
		c = *cfg
	}
	fwd, err := NewLink(&c.Forward)
	if err != nil {
		return nil, fmt.Errorf("Config.Forward: %w", err)
	}
	rev, err := NewLink(&c.Reverse)
	if err != nil {
		fwd.Close()
		return nil, fmt.Errorf("Config.Reverse: %w", err)
	}
	return newPath(target, [2]*Link{fwd, rev}, [2]bool{true, true})
}

// NewPath starts a path to target (a loopback address) through links the
// caller owns and may share with other paths: this path's datagrams then
// compete with theirs for each link's queue and rate, in arrival order. A
// nil link is a perfect wire of the path's own, closed with it. Close the
// paths before the links they use. Errors come from the target or the
// sockets.
func NewPath(target netip.AddrPort, forward, reverse *Link) (*Path, error) {
	links := [2]*Link{forward, reverse}
	var owned [2]bool
	for i := range links {
		if links[i] == nil {
			l, err := NewLink(nil)
			if err != nil {
				return nil, err // unreachable: the zero config is valid
			}
			links[i], owned[i] = l, true
		}
	}
	return newPath(target, links, owned)
}

// newPath opens the sockets and starts the readers. On error it closes
// the owned links.
func newPath(target netip.AddrPort, links [2]*Link, owned [2]bool) (_ *Path, err error) {
	defer func() {
		if err != nil {
			for i, l := range links {
				if owned[i] {
					l.Close()
				}
			}
		}
	}()
	if !target.IsValid() || !target.Addr().IsLoopback() {
		return nil, fmt.Errorf("netem: target %v is not a loopback address", target)
	}
	target = netip.AddrPortFrom(target.Addr().Unmap(), target.Port())
	opts := &batch.Options{SocketBuffer: socketBuffer, DisableSteering: true}
	local := netip.AddrPortFrom(target.Addr(), 0)
	front, err := batch.Listen(local, opts)
	if err != nil {
		return nil, fmt.Errorf("netem: listen: %w", err)
	}
	back, err := batch.Listen(local, opts)
	if err != nil {
		front.Close()
		return nil, fmt.Errorf("netem: listen: %w", err)
	}
	overhead := IPv4Overhead
	if target.Addr().Is6() {
		overhead = IPv6Overhead
	}
	p := &Path{target: target, front: front, back: back, links: links, owned: owned}
	p.dst.Store(&target)
	p.flows[Forward] = &flow{out: back, dst: &p.dst, overhead: overhead}
	p.flows[Reverse] = &flow{out: front, dst: &p.client, overhead: overhead}
	p.wg.Add(2)
	go func() { defer p.wg.Done(); p.readLoop(Forward) }()
	go func() { defer p.wg.Done(); p.readLoop(Reverse) }()
	return p, nil
}

// Addr returns the address clients send to.
func (p *Path) Addr() netip.AddrPort { return p.front.LocalAddr() }

// Target returns the address the path forwards to.
func (p *Path) Target() netip.AddrPort { return p.target }

// Client returns the address replies go to (the latest sender), and false
// before any client has sent.
func (p *Path) Client() (netip.AddrPort, bool) {
	if c := p.client.Load(); c != nil {
		return *c, true
	}
	return netip.AddrPort{}, false
}

// Link returns the link of direction d.
func (p *Path) Link(d Dir) *Link { return p.links[d&1] }

// Stats returns this path's counters on the link of direction d (its
// flow's share of a shared link).
func (p *Path) Stats(d Dir) Counters {
	l, f := p.links[d&1], p.flows[d&1]
	l.mu.Lock()
	defer l.mu.Unlock()
	return f.c
}

// SocketDrops returns how many datagrams the kernel dropped because one
// of the path's receive queues was full (SO_RXQ_OVFL on both sockets):
// loss the emulator added by not keeping up, which a sound run keeps at 0.
func (p *Path) SocketDrops() uint64 {
	return p.front.Stats().RxQueueOverflow + p.back.Stats().RxQueueOverflow
}

// Close drops the path's datagrams still held by the links (counted in
// DroppedClosed), closes its sockets, waits for its readers to return,
// and closes the links the path owns.
// Later calls return the first call's result.
func (p *Path) Close() error {
	p.closeOnce.Do(func() {
		p.closing.Store(true)
		for d, l := range p.links {
			l.detach(p.flows[d])
		}
		p.closeErr = errors.Join(p.front.Close(), p.back.Close())
		p.wg.Wait()
		for i, l := range p.links {
			if p.owned[i] {
				l.Close()
			}
		}
	})
	return p.closeErr
}

// readLoop reads one direction's socket until it is closed and passes
// each batch to that direction's link.
func (p *Path) readLoop(d Dir) {
	c, l, f := p.front, p.links[Forward], p.flows[Forward]
	if d == Reverse {
		c, l, f = p.back, p.links[Reverse], p.flows[Reverse]
	}
	msgs := make([]batch.Message, readBatch)
	for i := range msgs {
		msgs[i].Buf = make([]byte, batch.GROBufferSize)
	}
	for {
		n, err := c.ReadBatch(msgs)
		if err != nil {
			if errors.Is(err, net.ErrClosed) || p.closing.Load() {
				return
			}
			continue // transient (ICMP errors are retried inside batch)
		}
		now := monotime.Now()
		got := msgs[:n]
		if d == Forward {
			for i := range got {
				if old := p.client.Load(); old == nil || *old != got[i].Addr {
					a := got[i].Addr
					p.client.Store(&a)
				}
			}
		} else {
			got = keepFrom(got, p.target)
		}
		l.arrive(now, f, got)
	}
}

// keepFrom moves the messages from addr to the front of msgs and returns
// them. It does not allocate.
func keepFrom(msgs []batch.Message, addr netip.AddrPort) []batch.Message {
	k := 0
	for i := range msgs {
		if msgs[i].Addr == addr {
			msgs[k], msgs[i] = msgs[i], msgs[k]
			k++
		}
	}
	return msgs[:k]
}
