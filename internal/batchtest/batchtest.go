package batchtest

import (
	"net"
	"net/netip"
	"sync"
	"sync/atomic"

	"github.com/stt-go/stt/batch"
)

// QueueLen is how many datagrams a Conn's inbound queue holds before a
// writer blocks: enough for several full batches (batch.BatchSize) in
// flight, small enough that a stuck reader shows up as a stuck writer
// instead of unbounded memory.
const QueueLen = 16 * batch.BatchSize

// Filter decides the fate of one datagram on its way to the peer. m is the
// datagram's own copy (Buf may be modified or resliced, Addr is the
// destination); the return value is how many copies to deliver: 0 drops it,
// 1 delivers it, k > 1 duplicates it. Filters run on the writer's goroutine.
type Filter func(m *batch.Message) (deliver int)

// datagram is one queued packet.
type datagram struct {
	buf  []byte
	from netip.AddrPort
}

// Conn is one end of an in-memory pair; it implements batch.Conn.
type Conn struct {
	local  netip.AddrPort
	peer   *Conn
	in     chan datagram
	closed chan struct{}
	once   sync.Once
	filter atomic.Pointer[Filter]
	tap    atomic.Pointer[func(to netip.AddrPort, size int)]

	rxBatches, rxMsgs, rxTruncated      atomic.Uint64
	txBatches, txMsgs, txLost, filtered atomic.Uint64
}

var _ batch.Conn = (*Conn)(nil)

// NewPair returns two connected Conns bound to a and b: datagrams written by
// one to the other's address arrive at the other, in order; datagrams to any
// other address are counted in Stats.TxLost, like an unreachable host.
func NewPair(a, b netip.AddrPort) (*Conn, *Conn) {
	ca := &Conn{local: a, in: make(chan datagram, QueueLen), closed: make(chan struct{})}
	cb := &Conn{local: b, in: make(chan datagram, QueueLen), closed: make(chan struct{})}
	ca.peer, cb.peer = cb, ca
	return ca, cb
}

// SetTap installs f to observe every datagram this Conn writes, whatever
// its destination (nil removes it), before the filter runs: tests measure
// what a node sends to addresses that are not the pair's (a spoofed source,
// an old path). It runs on the writer's goroutine.
func (c *Conn) SetTap(f func(to netip.AddrPort, size int)) {
	if f == nil {
		c.tap.Store(nil)
		return
	}
	c.tap.Store(&f)
}

// InjectFrom queues datagrams at this Conn's peer as if they came from the
// address from, not this Conn's own: an attacker spoofing a source, or a
// peer whose address changed (NAT rebinding). The filter does not apply.
func (c *Conn) InjectFrom(from netip.AddrPort, pkts ...[]byte) error {
	for _, b := range pkts {
		select {
		case c.peer.in <- datagram{buf: append([]byte(nil), b...), from: from}:
		case <-c.peer.closed:
		case <-c.closed:
			return closedErr("write")
		}
	}
	return nil
}

// SetFilter installs f for datagrams this Conn writes (nil removes it). It
// takes effect from the next message.
func (c *Conn) SetFilter(f Filter) {
	if f == nil {
		c.filter.Store(nil)
		return
	}
	c.filter.Store(&f)
}

// Filtered returns how many datagrams the Filter dropped (returned 0 for).
func (c *Conn) Filtered() uint64 { return c.filtered.Load() }

func closedErr(op string) error {
	return &net.OpError{Op: op, Net: "batchtest", Err: net.ErrClosed}
}

// ReadBatch implements batch.Conn: it blocks until a datagram is queued or
// the Conn is closed, then copies up to min(len(msgs), batch.BatchSize)
// queued datagrams into msgs[i].Buf. A datagram longer than its Buf is
// dropped (N = 0, Stats.RxTruncated). SegSize is always 0.
func (c *Conn) ReadBatch(msgs []batch.Message) (int, error) {
	k := min(len(msgs), batch.BatchSize)
	if k == 0 {
		return 0, nil
	}
	select {
	case <-c.closed:
		return 0, closedErr("read")
	default:
	}
	var d datagram
	select {
	case d = <-c.in:
	case <-c.closed:
		return 0, closedErr("read")
	}
	n := 0
fill:
	for {
		m := &msgs[n]
		m.Addr, m.SegSize = d.from, 0
		if len(d.buf) > len(m.Buf) {
			m.N = 0
			c.rxTruncated.Add(1)
		} else {
			m.N = copy(m.Buf, d.buf)
		}
		n++
		if n == k {
			break
		}
		select {
		case d = <-c.in:
		default:
			break fill // nothing more queued
		}
	}
	c.rxBatches.Add(1)
	c.rxMsgs.Add(uint64(n))
	return n, nil
}

// WriteBatch implements batch.Conn: each message is copied, passed through
// the Filter, and queued at the peer, blocking while the peer's queue is
// full. Datagrams to an address other than the peer's count as TxLost;
// datagrams to a closed peer vanish, as on a network. It returns an error
// matching net.ErrClosed once this Conn is closed.
func (c *Conn) WriteBatch(msgs []batch.Message) (int, error) {
	f := c.filter.Load()
	for i := range msgs {
		select {
		case <-c.closed:
			return i, closedErr("write")
		default:
		}
		m := batch.Message{Buf: append([]byte(nil), msgs[i].Buf...), Addr: msgs[i].Addr}
		if t := c.tap.Load(); t != nil {
			(*t)(m.Addr, len(m.Buf))
		}
		if m.Addr != c.peer.local {
			c.txLost.Add(1)
			continue
		}
		copies := 1
		if f != nil {
			copies = (*f)(&m)
		}
		if copies <= 0 {
			c.filtered.Add(1)
		}
		for j := range copies {
			buf := m.Buf
			if j > 0 {
				buf = append([]byte(nil), m.Buf...)
			}
			select {
			case c.peer.in <- datagram{buf: buf, from: c.local}:
			case <-c.peer.closed:
			case <-c.closed:
				return i, closedErr("write")
			}
		}
		c.txMsgs.Add(1)
	}
	if len(msgs) > 0 {
		c.txBatches.Add(1)
	}
	return len(msgs), nil
}

// LocalAddr implements batch.Conn.
func (c *Conn) LocalAddr() netip.AddrPort { return c.local }

// Close implements batch.Conn: pending and later ReadBatch and WriteBatch
// calls return an error matching net.ErrClosed. Closing twice returns one.
func (c *Conn) Close() error {
	err := closedErr("close")
	c.once.Do(func() {
		close(c.closed)
		err = nil
	})
	return err
}

// Stats implements batch.Conn; GSO, GRO and RxQueueOverflow are always zero.
func (c *Conn) Stats() batch.Stats {
	return batch.Stats{
		RxTruncated: c.rxTruncated.Load(),
		TxLost:      c.txLost.Load(),
		TxBatches:   c.txBatches.Load(),
		TxMessages:  c.txMsgs.Load(),
		RxBatches:   c.rxBatches.Load(),
		RxMessages:  c.rxMsgs.Load(),
	}
}
