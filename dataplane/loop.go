package dataplane

// A loop owns one UDP socket of the node's reuseport group, the shard of
// the session table whose IDs steer to it, a timer wheel and a tx batch.
// Two goroutines serve it:
//
//   - readLoop (one per loop): recvmmsg into preallocated rx batches and
//     hand each full batch to the loop goroutine over a channel. When the
//     loop falls behind, no free batch is left, the reader stops reading
//     and the kernel drops (SO_RXQ_OVFL counts it): memory stays bounded.
//   - run (the loop goroutine) processes, in order per wake-up:
//     1. an rx batch: split GRO trains into datagrams; HANDSHAKE packets go
//        to the control plane (Config.OnHandshake copies, never blocks);
//        TRANSPORT packets are looked up in the shard (or handed to their
//        owner loop when BPF steering is off) and opened by their session
//     2. commands from API goroutines and the control plane (MPSC ring)
//     3. timers due on the wheel
//     4. flush: every session marked dirty packetizes and seals into the
//        tx batch; full batches leave with sendmmsg + GSO
//     5. after-batch work: derive precomputed keys for sessions that
//        rotated (allocates once per rotation, never per packet)
//     6. after an iteration that moved many bytes, a few microseconds of
//        yielding before it blocks (linger)
//
// The clock is read once per wake-up.

import (
	"errors"
	"net/netip"
	"runtime"
	"time"

	"github.com/stt-go/stt/batch"
	"github.com/stt-go/stt/dataplane/internal/recovery"
	"github.com/stt-go/stt/dataplane/internal/streambuf"
	"github.com/stt-go/stt/internal/monotime"
	"github.com/stt-go/stt/ring"
	"github.com/stt-go/stt/wire"
)

// Commands from other goroutines to a loop.
const (
	opInstall uint8 = iota + 1
	opRemove
	opStreamOpen
	opStreamWake
	opStreamReset
	opStreamStop
	opSessionDrain
	opSessionClose
	opSendRaw
	opHandoff
	opCustomFrame
)

// cmd is one command on a loop's MPSC ring (a value, so posting does not
// allocate).
type cmd struct {
	op     uint8
	sess   *Session
	stream *Stream
	code   uint64
	reason string
	pkt    []byte
	addr   netip.AddrPort
	id     wire.SessionID
	reply  chan error
}

// rxBatch is one recvmmsg batch with its own buffers.
type rxBatch struct {
	msgs []batch.Message
	bufs [][]byte
	n    int
}

const (
	// rxBatches is the number of rx batches per loop: one being read, one
	// being processed, and slack for bursts.
	rxBatches = 4
	// cmdRingSize bounds queued commands per loop; posters wait (yielding)
	// when it is full, so API goroutines feel back-pressure, never loss.
	cmdRingSize = 4096
)

type loop struct {
	e    *Engine
	idx  int
	conn batch.Conn

	sessions map[wire.SessionID]*Session // owned by this loop; touched only from run
	wheel    *recovery.Wheel
	cmds     *ring.MPSC[cmd]
	notify   *ring.Notify
	rxFull   chan *rxBatch
	rxFree   chan *rxBatch
	quit     chan struct{}
	done     chan struct{}
	readDone chan struct{}

	// The tx batch: packets are built back to back in txSlab (each slot
	// as large as the packet being built may get, then trimmed to what it
	// used), txN of them queued in tx, flushed when either runs out.
	tx     []batch.Message
	txSlab []byte
	txOff  int // first free byte of txSlab
	txN    int
	moved  uint64 // bytes received and handled plus bytes queued to send, ever (linger's activity test)

	// The DATA frame being laid out (appendStreamData): its stream and
	// room, what layoutData chose for them, and layoutData bound once as a
	// method value, so that passing it does not allocate.
	layoutID              wire.StreamID
	layoutRoom            int
	layoutSkip, layoutFit int
	layoutFn              streambuf.Layout

	dirty    []*Session
	needKeys []*Session
	timer    *time.Timer
	timerAt  monotime.Time
	now      monotime.Time // clock read once per wake-up

	// Scratch shared by the loop's sessions (used only on this goroutine).
	pkt   packet // the packet being built
	noAck bool   // the packet being processed must not be acknowledged (onPacket)

	resetBudget tokenBucket // stateless resets this loop may still send
	frame       wire.Frame
	ackRanges   [wire.MaxAckRanges + 1]recovery.AckRange
}

func newLoop(e *Engine, idx int, conn batch.Conn, now monotime.Time) *loop {
	l := &loop{
		e:        e,
		idx:      idx,
		conn:     conn,
		sessions: make(map[wire.SessionID]*Session),
		wheel:    recovery.NewWheel(time.Millisecond, 1024, now),
		cmds:     ring.NewMPSC[cmd](cmdRingSize),
		notify:   ring.NewNotify(),
		rxFull:   make(chan *rxBatch, rxBatches),
		rxFree:   make(chan *rxBatch, rxBatches),
		quit:     make(chan struct{}),
		done:     make(chan struct{}),
		readDone: make(chan struct{}),
		tx:       make([]batch.Message, txQueueMax),
		txSlab:   make([]byte, max(txSlabBytes, 2*e.cfg.MaxDatagram)),
	}
	gro := conn.Stats().GRO
	msgs, size := batch.BatchSize, ring.PacketBufSize
	if gro || e.cfg.MaxDatagram > size {
		// With GRO one message holds a train of up to 64 KiB, and without
		// it one datagram may be as large as the path MTU ceiling; fewer
		// messages per batch keep the memory per loop at 4 x 8 x 64 KiB =
		// 2 MiB.
		msgs, size = 8, max(batch.GROBufferSize, e.cfg.MaxDatagram)
	}
	for range rxBatches {
		b := &rxBatch{msgs: make([]batch.Message, msgs), bufs: make([][]byte, msgs)}
		for i := range b.bufs {
			b.bufs[i] = make([]byte, size)
		}
		l.rxFree <- b
	}
	l.layoutFn = l.layoutData
	l.timer = time.NewTimer(time.Hour)
	l.timer.Stop()
	return l
}

// post queues a command for the loop; it never drops. When the ring is
// full the caller yields until there is room (back-pressure on the API).
func (l *loop) post(c cmd) {
	for !l.cmds.Push(c) {
		select {
		case <-l.done:
			return
		default:
		}
		runtime.Gosched()
	}
	l.notify.Signal()
}

// readLoop is the loop's reader goroutine.
func (l *loop) readLoop() {
	defer close(l.readDone)
	for {
		var b *rxBatch
		select {
		case b = <-l.rxFree:
		case <-l.quit:
			return
		}
		for i := range b.msgs {
			b.msgs[i] = batch.Message{Buf: b.bufs[i]}
		}
		n, err := l.conn.ReadBatch(b.msgs)
		if err != nil {
			if isClosedErr(err) {
				return
			}
			var ue *batch.UnreachableError
			if errors.As(err, &ue) {
				l.e.stats.unreachable.Add(1)
				if h := l.e.cfg.OnUnreachable; h != nil {
					h(ue.To, ue.Err)
				}
			} else {
				l.e.stats.readErrors.Add(1)
			}
			l.rxFree <- b
			continue
		}
		b.n = n
		select {
		case l.rxFull <- b:
		case <-l.quit:
			return
		}
	}
}

// run is the loop goroutine.
func (l *loop) run() {
	defer close(l.done)
	for {
		moved := l.moved
		select {
		case b := <-l.rxFull:
			l.now = monotime.Now()
			l.processRx(l.now, b)
			l.rxFree <- b
		case <-l.notify.C():
		case <-l.timer.C:
			l.timerAt = 0
		case <-l.quit:
			l.shutdown()
			return
		}
		now := monotime.Now()
		l.now = now
		l.drainCmds(now)
		l.wheel.Advance(now)
		l.flushDirty(now)
		l.afterBatch()
		l.rearmTimer(now)
		if l.moved-moved >= lingerBytes {
			l.linger()
		}
	}
}

// loopSpins is how many times a busy loop yields its core, looking for new
// packets or commands, before it blocks (linger); lingerBytes is what
// makes a loop iteration busy: bytes received plus bytes queued to send.
const (
	loopSpins   = 100
	lingerBytes = 16 << 10
)

// linger keeps the loop's goroutine runnable for a few microseconds after
// an iteration that moved many bytes (loopSpins yields, ~8 us when
// nothing else runs), returning as soon as a batch or a command is
// waiting.
//
// In a bulk transfer the next packets come microseconds later, and
// blocking at once lets the Go scheduler park the thread: waking it (a
// futex wake and, in a VM, an interrupt to an idle vCPU), or an idle P
// stealing the goroutine that was just readied (runtime.runqgrab's
// usleep), costs more than the wait. perf sched on a one-stream 1 GiB
// loopback transfer: 32% of the context switches were that usleep, 26%
// netpoll waits, 14% parked threads; the rounds that suffered ran at
// 11-12.5 Gbit/s and 1.25-1.34 CPU-s per GiB against 14.5-16.8 and
// 0.99-1.09. With linger, 20 fresh node pairs per run, both ends in one
// process (a test kept out of the tree), two runs each, interleaved: every
// round within 15% of its run's median (slowest 13.6-13.7 Gbit/s, medians
// 15.1-15.6) against 3-6 rounds per run below that without (slowest
// 11.3-13.1); go test -bench 'Bulk/streams=4/gso-gro=true/cc=bbr$', five
// interleaved runs: 15.5-16.5 Gbit/s at 1.03-1.08 CPU-s per GiB against
// 12.1-13.4 at 1.23-1.33 (those with 50 yields; 100 gave the slowest
// round 14.3-14.6 against 12.7-13.9 with 50 in the same test, two runs
// each, with 64-byte messages 2-3% slower; 200 was worse).
//
// Only busy iterations linger. Lingering after every one took RTT p50
// from 12-13 to 21 us and sequential handshakes down 13%: a lone packet (a
// round trip, a handshake message) waited for the spin to end, most likely
// because no P looks at the netpoller while goroutines keep yielding.
func (l *loop) linger() {
	for range loopSpins {
		if len(l.rxFull) > 0 || l.cmds.Len() > 0 {
			return
		}
		runtime.Gosched()
	}
}

// processRx handles one rx batch.
func (l *loop) processRx(now monotime.Time, b *rxBatch) {
	for i := 0; i < b.n; i++ {
		m := &b.msgs[i]
		buf := m.Buf[:m.N]
		seg := m.SegSize
		if seg <= 0 {
			seg = len(buf)
		}
		for len(buf) > 0 {
			k := min(seg, len(buf))
			l.processPacket(now, buf[:k], m.Addr)
			l.moved += uint64(k)
			buf = buf[k:]
		}
	}
	l.drainCmds(now)
	l.flushDirty(now)
}

// processPacket dispatches one datagram.
func (l *loop) processPacket(now monotime.Time, pkt []byte, from netip.AddrPort) {
	kind, ok := wire.PeekKind(pkt)
	if !ok {
		l.e.stats.dropMalformed.Add(1)
		return
	}
	switch kind {
	case wire.KindHandshake:
		if h := l.e.cfg.OnHandshake; h != nil {
			h(pkt, from)
		}
	case wire.KindTransport:
		id, _ := wire.PeekSessionID(pkt)
		if s := l.sessions[id]; s != nil {
			s.onPacket(now, pkt, from)
			return
		}
		if owner := l.e.owner(id); owner != l.idx {
			// Not ours: without BPF steering any loop may receive any packet;
			// with it, UDP GRO still coalesces datagrams of one 4-tuple —
			// every session between the same two nodes — into one train that
			// lands on one socket. Hand the datagram to its owner loop; the
			// copy is the price of that path (counted in Stats().Handoffs).
			cp := l.e.handoffBuf(len(pkt))
			if cp == nil {
				l.e.stats.dropHandoff.Add(1)
				return
			}
			n := copy(cp, pkt)
			o := l.e.loops[owner]
			if !o.cmds.Push(cmd{op: opHandoff, pkt: cp[:n], addr: from}) {
				l.e.putHandoff(cp)
				l.e.stats.dropHandoff.Add(1)
				return
			}
			o.notify.Signal()
			l.e.stats.handoffs.Add(1)
			return
		}
		l.unknownSession(pkt, id, from)
	default:
		l.e.stats.dropMalformed.Add(1)
	}
}

// drainCmds runs queued commands.
func (l *loop) drainCmds(now monotime.Time) {
	for {
		c, ok := l.cmds.Pop()
		if !ok {
			return
		}
		l.exec(now, &c)
	}
}

// exec runs one command: one method per op (commands.go).
func (l *loop) exec(now monotime.Time, c *cmd) {
	switch c.op {
	case opInstall:
		l.execInstall(now, c.sess, c.reply)
	case opRemove:
		l.execRemove(now, c.id)
	case opStreamOpen:
		execStreamOpen(now, c.stream)
	case opStreamWake:
		l.streamWake(now, c.stream)
	case opStreamReset:
		execStreamReset(now, c.stream, c.code)
	case opStreamStop:
		execStreamStop(now, c.stream, c.code)
	case opSessionDrain:
		if c.sess.ready(now) {
			c.sess.startDrain(now, c.code, c.reason)
		}
	case opSessionClose:
		c.sess.closeLocal(now, c.code, c.reason)
	case opSendRaw:
		l.execSendRaw(c.pkt, c.addr)
	case opCustomFrame:
		execCustomFrame(now, c.sess, byte(c.code), c.pkt)
	case opHandoff:
		l.execHandoff(now, c.pkt, c.addr)
	}
}

// streamWake handles a stream's wake-up from the API side: new data to
// send, consumed receive window to return, a finished direction.
func (l *loop) streamWake(now monotime.Time, st *Stream) {
	st.wakeQueued.Store(false)
	s := st.sess
	if s.State() == StateClosed || st.removed || !s.wake(now) {
		return
	}
	if s.isLocal(st.id) {
		s.registerLocal(st)
	}
	if st.bounded != nil {
		s.registerBounded(st)
		s.abandonWritten(st)
	}
	s.creditChanged(st)
	if lim, ok := st.recv.MaybeGrowLimit(now, s.rtt.Smoothed()); ok {
		st.advertised = lim
		st.pendWindow = true
		s.queueStreamCtl(st)
	}
	consumed := st.recv.Consumed()
	if d := consumed - st.consumedSeen; d > 0 {
		st.consumedSeen = consumed
		s.recvWin.OnConsumed(int(d))
		if _, ok := s.recvWin.MaybeGrowLimit(now, s.rtt.Smoothed()); ok {
			s.hot.pend |= ctrlMaxData
			s.markDirty()
		}
	}
	s.checkStreamDone(st)
	s.checkDrained(now)
}

// flushDirty lets every dirty session send, then writes the tx batch.
func (l *loop) flushDirty(now monotime.Time) {
	for i := 0; i < len(l.dirty); i++ {
		s := l.dirty[i]
		s.dirty = false
		s.checkDrained(now)
		s.flush(now)
		l.dirty[i] = nil
	}
	l.dirty = l.dirty[:0]
	l.txFlush()
}

// afterBatch derives the next keys of sessions that rotated.
func (l *loop) afterBatch() {
	for i, s := range l.needKeys {
		if s.State() != StateClosed && s.hot != nil {
			s.precomputeKeys()
		}
		l.needKeys[i] = nil
	}
	l.needKeys = l.needKeys[:0]
}

// rearmTimer points the loop's timer at the wheel's next deadline.
func (l *loop) rearmTimer(now monotime.Time) {
	next, ok := l.wheel.Next()
	if !ok {
		if l.timerAt != 0 {
			l.timer.Stop()
			l.timerAt = 0
		}
		return
	}
	if next == l.timerAt {
		return
	}
	l.timerAt = next
	d := next.Sub(now)
	if d < 0 {
		d = 0
	}
	l.timer.Reset(d)
}

// txSlot returns room for a packet of at most size bytes to addr in the tx
// slab (len size), flushing the batch first if the slab or the message
// list is full. txCommit then records how much of it the packet used.
func (l *loop) txSlot(addr netip.AddrPort, size int) []byte {
	if l.txN == len(l.tx) || l.txOff+size > len(l.txSlab) {
		l.txFlush()
	}
	l.tx[l.txN].Addr = addr
	return l.txSlab[l.txOff : l.txOff+size : l.txOff+size]
}

// txCommit records the packet of n bytes written into the current slot.
func (l *loop) txCommit(n int) {
	l.tx[l.txN].Buf = l.txSlab[l.txOff : l.txOff+n : l.txOff+n]
	l.txOff += n
	l.txN++
	l.moved += uint64(n)
	if l.txN == len(l.tx) {
		l.txFlush()
	}
}

// txFlush writes the queued packets with one sendmmsg (+GSO).
func (l *loop) txFlush() {
	if l.txN == 0 {
		return
	}
	msgs := l.tx[:l.txN]
	for len(msgs) > 0 {
		n, err := l.conn.WriteBatch(msgs)
		if err != nil {
			if isClosedErr(err) {
				break
			}
			l.e.stats.writeErrors.Add(1)
			if n == 0 {
				n = 1 // skip the message that failed
			}
		}
		msgs = msgs[n:]
	}
	l.txN, l.txOff = 0, 0
}

// remove deletes s from the shard.
func (l *loop) remove(s *Session) {
	if l.sessions[s.id] == s {
		delete(l.sessions, s.id)
		l.e.stats.sessions.Add(-1)
	}
}

// shutdown closes every session abruptly (Engine.Close after the node's
// graceful drain) and stops.
func (l *loop) shutdown() {
	// Sessions still here did not finish their graceful close in time (or
	// were never drained): each sends one CLOSE, best effort, so the peer
	// does not have to find out by timeout.
	now := monotime.Now()
	for _, s := range l.sessions {
		if s.closingUntil == 0 {
			s.closeLocal(now, CodeNodeStopping, "node stopped")
		}
	}
	l.flushDirty(now)
	for _, s := range l.sessions {
		s.finish(&SessionError{Code: CodeNodeStopping, Reason: "node stopped"})
	}
	l.timer.Stop()
}
