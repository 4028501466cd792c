package main

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/stt-go/stt/batch"
)

// Raw UDP baselines: no crypto, no reliability, no congestion control. A
// sender blasts datagrams tagged with a fresh run ID; the receiver counts
// the bytes of every run ID; the sender then asks for its count (FIN,
// resent until answered) and reports goodput and loss. Two flavours share
// the protocol:
//
//   - plain: one datagram per sendto (net.UDPConn.Write) and one per
//     recvfrom (ReadFromUDPAddrPort), the syscall cost every datagram pays
//     without offloads;
//   - GSO/GRO: package batch's sendmmsg with UDP_SEGMENT super-packets and
//     recvmmsg with UDP_GRO trains, the ceiling of any UDP transport on the
//     host.
//
// Datagram layout: byte 0 the kind, bytes 1-8 the big-endian run ID (data,
// FIN) or probe number (ping); a count answer adds the big-endian byte
// count at bytes 9-16.
const (
	rawDatagram = 1452 // STT's default maximum datagram, for a like-for-like packet size
	rawHeader   = 9    // kind + run ID
	rawCountLen = rawHeader + 8
	rawData     = 'D'
	rawFin      = 'F'
	rawCount    = 'C'
	rawPing     = 'P'
	rawFinWait  = 50 * time.Millisecond // resend FIN after this long
	// rawSettle is how long the sender waits, untimed, before asking for
	// its count a second time: datagrams of one sender can still sit in
	// another CPU's backlog when the FIN (queued later) is answered, and
	// those arrived, so they count as delivered rather than lost.
	rawSettle = 20 * time.Millisecond
	// rawMaxRuns bounds the counters one receiver keeps; data of further
	// run IDs is ignored (a harness run uses a handful).
	rawMaxRuns = 1024
	// rawRunsPerWrite is the GSO super-packets per WriteBatch call: batch's
	// send scratch carries 4 × MaxGSOSegments iovecs per sendmmsg, so four
	// full runs leave in one syscall.
	rawRunsPerWrite = 4
	// rawPlainBuffer is SO_RCVBUF/SO_SNDBUF of the plain flavour: 4 MiB, the
	// net.core.rmem_max of the development machine (an unprivileged
	// process gets no more). The GSO flavour uses batch's default (7 MiB,
	// forced when privileged).
	rawPlainBuffer = 4 << 20
)

// rawRunID numbers runs across servers, so a stale answer never matches.
var rawRunID atomic.Uint64

// rawRunSegs is the datagrams of sz bytes one GSO super-packet carries: at
// most batch.MaxGSOSegments, and no more than fit the largest UDP payload
// (batch.MaxGSOBytes), so 45 for 1452-byte datagrams and 64 for 64-byte
// ones.
func rawRunSegs(sz int) int { return min(batch.MaxGSOSegments, batch.MaxGSOBytes/sz) }

// rawCounter holds the bytes received per run ID. It is owned by one
// server's reader goroutine.
type rawCounter struct {
	counts map[uint64]uint64
}

// handle counts one datagram and returns the answer to send back, if any:
// the count for a FIN (written into out), the datagram itself for a ping.
func (c *rawCounter) handle(d []byte, out *[rawCountLen]byte) []byte {
	if len(d) == 0 {
		return nil
	}
	switch d[0] {
	case rawData:
		if len(d) < rawHeader {
			return nil
		}
		id := binary.BigEndian.Uint64(d[1:rawHeader])
		if _, ok := c.counts[id]; ok || len(c.counts) < rawMaxRuns {
			c.counts[id] += uint64(len(d))
		}
	case rawFin:
		if len(d) < rawHeader {
			return nil
		}
		out[0] = rawCount
		copy(out[1:rawHeader], d[1:rawHeader])
		binary.BigEndian.PutUint64(out[rawHeader:], c.counts[binary.BigEndian.Uint64(d[1:rawHeader])])
		return out[:]
	case rawPing:
		return d
	}
	return nil
}

// rawServer is one receiving socket and its reader goroutine.
type rawServer struct {
	addr  netip.AddrPort
	close func() error
	done  chan struct{} // closed when the reader goroutine has returned
	gro   func() bool   // GSO flavour: whether the socket receives GRO trains

	// GSO flavour: messages (GRO trains or lone datagrams) and datagrams
	// received; written by the reader, read by the runner between runs.
	trains, datagrams atomic.Uint64
}

func (s *rawServer) stop() {
	s.close()
	<-s.done
}

func startRawServer(gso bool) (*rawServer, error) {
	if gso {
		return startRawGSOServer()
	}
	return startRawPlainServer()
}

// startRawPlainServer reads one datagram per recvfrom.
func startRawPlainServer() (*rawServer, error) {
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return nil, err
	}
	if err := c.SetReadBuffer(rawPlainBuffer); err != nil {
		c.Close()
		return nil, err
	}
	s := &rawServer{addr: c.LocalAddr().(*net.UDPAddr).AddrPort(), close: c.Close, done: make(chan struct{})}
	go func() {
		defer close(s.done)
		ctr := rawCounter{counts: map[uint64]uint64{}}
		buf := make([]byte, 65536)
		var out [rawCountLen]byte
		for {
			n, from, err := c.ReadFromUDPAddrPort(buf)
			if err != nil {
				// Closed (an unconnected UDP socket reports nothing else);
				// a sender still waiting for its count fails at its context.
				return
			}
			if reply := ctr.handle(buf[:n], &out); reply != nil {
				c.WriteToUDPAddrPort(reply, from)
			}
		}
	}()
	return s, nil
}

// startRawGSOServer reads up to batch.BatchSize GRO trains per recvmmsg.
func startRawGSOServer() (*rawServer, error) {
	c, err := batch.Listen(netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, 1}), 0), nil)
	if err != nil {
		return nil, err
	}
	s := &rawServer{addr: c.LocalAddr(), close: c.Close, done: make(chan struct{}), gro: func() bool { return c.Stats().GRO }}
	go func() {
		defer close(s.done)
		ctr := rawCounter{counts: map[uint64]uint64{}}
		msgs := make([]batch.Message, batch.BatchSize)
		for i := range msgs {
			msgs[i].Buf = make([]byte, batch.GROBufferSize)
		}
		reply := make([]batch.Message, 1)
		var out [rawCountLen]byte
		for {
			n, err := c.ReadBatch(msgs)
			if err != nil {
				return // closed, or a socket error the sender meets as a missing count
			}
			for i := range n {
				m := &msgs[i]
				b := m.Buf[:m.N]
				seg := m.SegSize
				if seg <= 0 {
					seg = len(b)
				}
				if len(b) > 0 {
					s.trains.Add(1)
				}
				var k uint64
				for len(b) > 0 {
					d := b[:min(seg, len(b))]
					b = b[len(d):]
					k++
					if r := ctr.handle(d, &out); r != nil {
						reply[0] = batch.Message{Buf: r, Addr: m.Addr}
						c.WriteBatch(reply)
					}
				}
				s.datagrams.Add(k)
			}
		}
	}()
	return s, nil
}

// rawResult is one blast as the sender saw it.
type rawResult struct {
	sent, got uint64        // bytes handed to the kernel, bytes the receiver counted
	d         time.Duration // first datagram to the first count answer
	end       time.Time     // when the first count answer arrived
	tx        batch.Stats   // GSO flavour: the sending socket's counters
}

// rawBlast sends n bytes, rounded up to whole datagrams of sz bytes, to
// the server at to under a fresh run ID, then asks for the count.
func rawBlast(ctx context.Context, gso bool, to netip.AddrPort, n int64, sz int) (rawResult, error) {
	var r rawResult
	ctl, err := net.DialUDP("udp4", nil, net.UDPAddrFromAddrPort(to))
	if err != nil {
		return r, err
	}
	defer ctl.Close()
	id := rawRunID.Add(1)
	buf := make([]byte, sz)
	buf[0] = rawData
	binary.BigEndian.PutUint64(buf[1:rawHeader], id)
	count := int((n + int64(sz) - 1) / int64(sz))
	r.sent = uint64(count) * uint64(sz)

	var start time.Time
	if gso {
		c, err := batch.Listen(netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, 1}), 0), nil)
		if err != nil {
			return r, err
		}
		defer c.Close()
		// Every message points at the same buffer: batch builds iovecs, it
		// does not copy or modify.
		msgs := make([]batch.Message, rawRunSegs(sz)*rawRunsPerWrite)
		for i := range msgs {
			msgs[i] = batch.Message{Buf: buf, Addr: to}
		}
		start = time.Now()
		for left := count; left > 0; {
			k := min(left, len(msgs))
			if _, err := c.WriteBatch(msgs[:k]); err != nil {
				return r, err
			}
			left -= k
		}
		r.tx = c.Stats()
	} else {
		if err := ctl.SetWriteBuffer(rawPlainBuffer); err != nil {
			return r, err
		}
		start = time.Now()
		for range count {
			// A refused datagram (ENOBUFS) is lost, like one the receiver
			// drops; the count shows it.
			ctl.Write(buf)
		}
	}
	got, err := rawAsk(ctx, ctl, id)
	if err != nil {
		return r, err
	}
	r.end = time.Now()
	r.d = r.end.Sub(start)
	time.Sleep(rawSettle)
	again, err := rawAsk(ctx, ctl, id)
	if err != nil {
		return r, err
	}
	r.got = max(got, again)
	return r, nil
}

// rawAsk asks the server for run id's count over c, resending the FIN
// every rawFinWait until the answer comes or ctx ends.
func rawAsk(ctx context.Context, c *net.UDPConn, id uint64) (uint64, error) {
	var fin [rawHeader]byte
	fin[0] = rawFin
	binary.BigEndian.PutUint64(fin[1:], id)
	var ans [rawCountLen + 1]byte // one spare byte exposes an oversized answer
	for ctx.Err() == nil {
		if _, err := c.Write(fin[:]); err != nil {
			return 0, fmt.Errorf("raw UDP: FIN: %w", err)
		}
		if err := c.SetReadDeadline(time.Now().Add(rawFinWait)); err != nil {
			return 0, err
		}
		for {
			k, err := c.Read(ans[:])
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				break // resend
			}
			if err != nil {
				return 0, fmt.Errorf("raw UDP: count: %w", err)
			}
			if k == rawCountLen && ans[0] == rawCount && binary.BigEndian.Uint64(ans[1:rawHeader]) == id {
				return binary.BigEndian.Uint64(ans[rawHeader:rawCountLen]), nil
			}
			// Anything else (a duplicate answer to a resent FIN of an
			// earlier run): keep reading until the deadline.
		}
	}
	return 0, ctx.Err()
}

// rawGSOLast is what the last GSO round measured about its offloads (the
// one-stream bulk), for the row's note. Written by runRaw and read by
// printTable, both on run's goroutine.
var rawGSOLast struct {
	measured bool
	gso, gro bool
	perSend  float64 // datagrams per sendmmsg
	perTrain float64 // datagrams per received message (GRO train)
}

// rawGSODetail reports whether GSO and GRO were in effect in the last round.
func rawGSODetail() string {
	l := rawGSOLast
	if !l.measured {
		return ""
	}
	on := func(b bool) string {
		if b {
			return "on"
		}
		return "OFF (not the ceiling: the kernel refused it)"
	}
	return fmt.Sprintf("last round's one-stream bulk: GSO %s, GRO %s, %.0f datagrams per sendmmsg, %.1f datagrams per received GRO train",
		on(l.gso), on(l.gro), l.perSend, l.perTrain)
}

// runRaw runs the raw UDP workloads once (gso selects the flavour) and
// appends to res. RTT is measured for the plain flavour only: a lone
// 64-byte datagram is neither segmented nor coalesced.
func runRaw(ctx context.Context, gso bool, p params, res *results) error {
	srv, err := startRawServer(gso)
	if err != nil {
		return err
	}
	defer srv.stop()

	trains0, datagrams0 := srv.trains.Load(), srv.datagrams.Load()
	cpu0 := cpuTime()
	r, err := rawBlast(ctx, gso, srv.addr, p.size, rawDatagram)
	if err != nil {
		return err
	}
	cpu := cpuTime() - cpu0
	if r.got == 0 {
		return errors.New("raw UDP: no data arrived")
	}
	res.bulk1 = append(res.bulk1, gbits(int64(r.got), r.d))
	res.cpu = append(res.cpu, cpu.Seconds()/(float64(r.got)/(1<<30)))
	res.loss1 = append(res.loss1, lossPct(r.sent, r.got))
	if gso {
		trains, datagrams := srv.trains.Load()-trains0, srv.datagrams.Load()-datagrams0
		rawGSOLast.measured = true
		rawGSOLast.gso, rawGSOLast.gro = r.tx.GSO, srv.gro()
		rawGSOLast.perSend = float64(r.tx.TxMessages) / float64(max(r.tx.TxBatches, 1))
		rawGSOLast.perTrain = float64(datagrams) / float64(max(trains, 1))
	}

	// Four streams are four socket pairs, each receiving socket with its own
	// reader goroutine, as TLS/TCP and kcp-go get a connection and a server
	// goroutine per stream: four unpaced senders into one reader on two
	// cores starve the reader and measure little but loss.
	srvs := make([]*rawServer, bulkStreams)
	for i := range srvs {
		if srvs[i], err = startRawServer(gso); err != nil {
			for _, s := range srvs[:i] {
				s.stop()
			}
			return err
		}
	}
	defer func() {
		for _, s := range srvs {
			s.stop()
		}
	}()
	var wg sync.WaitGroup
	rs := make([]rawResult, bulkStreams)
	errs := make([]error, bulkStreams)
	start := time.Now()
	for i := range bulkStreams {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rs[i], errs[i] = rawBlast(ctx, gso, srvs[i].addr, p.size/bulkStreams, rawDatagram)
		}()
	}
	wg.Wait()
	// The clock stops when the last sender has its count, as it stops for
	// the transports at the last stream's ack; the untimed settle waits
	// come after.
	var end time.Time
	var sent, got uint64
	for i, r := range rs {
		if errs[i] != nil {
			return fmt.Errorf("bulk x%d: %w", bulkStreams, errs[i])
		}
		if r.end.After(end) {
			end = r.end
		}
		sent += r.sent
		got += r.got
	}
	d := end.Sub(start)
	res.bulk4 = append(res.bulk4, gbits(int64(got), d))
	res.loss4 = append(res.loss4, lossPct(sent, got))

	r, err = rawBlast(ctx, gso, srv.addr, int64(p.messages)*msgLen, msgLen)
	if err != nil {
		return fmt.Errorf("messages: %w", err)
	}
	res.msgs = append(res.msgs, float64(r.got/msgLen)/r.d.Seconds())
	res.lossMsgs = append(res.lossMsgs, lossPct(r.sent, r.got))

	if gso {
		return nil
	}
	rtts, err := rawPings(ctx, srv.addr, p.rtt)
	if err != nil {
		return fmt.Errorf("rtt: %w", err)
	}
	res.p50 = append(res.p50, us(pct(rtts, 0.50)))
	res.p99 = append(res.p99, us(pct(rtts, 0.99)))
	return nil
}

// lossPct is the percentage of sent bytes that did not arrive.
func lossPct(sent, got uint64) float64 {
	if sent == 0 || got >= sent {
		return 0
	}
	return 100 * float64(sent-got) / float64(sent)
}

// rawPings measures n answered round trips of a 64-byte datagram, one
// sendto and one recvfrom each way; a probe unanswered within a second is
// resent under a new number and not counted.
func rawPings(ctx context.Context, to netip.AddrPort, n int) ([]time.Duration, error) {
	c, err := net.DialUDP("udp4", nil, net.UDPAddrFromAddrPort(to))
	if err != nil {
		return nil, err
	}
	defer c.Close()
	var m, back [msgLen]byte
	m[0] = rawPing
	rtts := make([]time.Duration, 0, n)
	for seq := uint64(1); len(rtts) < n; seq++ {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		binary.BigEndian.PutUint64(m[1:rawHeader], seq)
		t0 := time.Now()
		if _, err := c.Write(m[:]); err != nil {
			return nil, err
		}
		if err := c.SetReadDeadline(t0.Add(time.Second)); err != nil {
			return nil, err
		}
		for {
			k, err := c.Read(back[:])
			if err != nil {
				break // lost (or a transient error): next probe
			}
			if k == msgLen && back[0] == rawPing && binary.BigEndian.Uint64(back[1:rawHeader]) == seq {
				rtts = append(rtts, time.Since(t0))
				break
			}
			// A late echo of an earlier probe: keep waiting for this one.
		}
	}
	return rtts, nil
}
