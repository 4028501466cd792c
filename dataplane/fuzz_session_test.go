package dataplane_test

// FuzzSession (issue 15): the fuzzer's bytes become a sequence of datagrams
// fed into a live session of a real Engine — TRANSPORT packets sealed under
// the session's keys with packet numbers and key phases the input chooses,
// each a list of frames that mixes structured frames (DATA on any stream,
// offset and FIN, ACK ranges invented or true, credit, RESET, STOP_SENDING,
// path validation, RESET_TOKEN, CLOSE, FINAL, application frames, padding)
// with raw input bytes, sent from the peer's address or from others — plus
// garbage, replays, packets for unknown sessions, stateless resets, pauses
// that let timers fire, and application calls. The application side
// accepts, reads, writes and cancels streams concurrently.
//
// After each input, and again after the session is torn down:
//
//   - nothing panicked, and every goroutine the input started has ended;
//   - the session is open, or closed with a code errors.go documents for
//     what the input did (a peer's CLOSE code, a violation, the integrity
//     limit only after that many failed opens, CodePacketNumbers only near
//     the limit; never CodeInternal), and every CLOSE it sent carries it;
//   - every datagram the engine sent either opens under the session's keys
//     or is a well-formed stateless reset; no packet number repeats; every
//     packet parses into valid frames; no ACK covers a packet number the
//     peer never sealed;
//   - per datagram (batchtest.Conn.SetTap), an address that did not answer
//     a PATH_CHALLENGE was never sent more than 3x the bytes it sent, and
//     one that never sent a genuine packet was sent no session packet;
//   - the engine holds no session once the input's has ended, no session
//     stays reachable after its input (weak pointers), and the live heap
//     stays flat across inputs.
//
// Input: a header byte (the engine's role, the suite, packet numbers near
// 2^48, the peer's credit and stream limit), three bytes scripting what the
// application does with each accepted stream, then operations (op*), each
// a byte and its arguments; reading past the end yields zeros.
//
// Cost: one Engine per fuzz worker (per FuzzSession call), reused with a
// fresh session per input; an input is cut at fuzzMaxOps operations, so an
// exec takes about a millisecond (1500-2000 execs/s with two workers on a
// shared 2-core machine).

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"weak"

	"github.com/stt-go/stt/batch"
	"github.com/stt-go/stt/dataplane"
	"github.com/stt-go/stt/internal/batchtest"
	"github.com/stt-go/stt/stc"
	"github.com/stt-go/stt/wire"
	"go.uber.org/goleak"
)

// Limits on one input, so that an exec stays cheap and bounded.
const (
	fuzzMaxOps      = 64                    // operations decoded per input
	fuzzMaxFrames   = 8                     // frames per packet
	fuzzMaxGen      = 32                    // key generations the peer may rotate through
	fuzzMaxPause    = 40 * time.Millisecond // total sleep per input (pause ops)
	fuzzMaxDatagram = 2100                  // above ring.PacketBufSize: the receive buffers hold the engine's MaxDatagram (65 000 by default), so such datagrams arrive too
	fuzzMaxWrite    = 20000                 // bytes one application write op writes
	fuzzWatchdog    = 40 * time.Second      // an input running longer crashes the worker (run)
	// fuzzIntegrity is the engine's IntegrityLimit: low, so that the
	// integrity-limit close is reachable within one input.
	fuzzIntegrity = 24
	// fuzzMaxGaps is the engine's MaxGaps: low, so that the gap-overflow
	// path (packet left unacknowledged) is reachable.
	fuzzMaxGaps = 8
	// fuzzHibernate is the engine's HibernateAfter: below what pause ops
	// can sleep, so hibernation and waking are reachable.
	fuzzHibernate = 15 * time.Millisecond
	// fuzzHeapSlack bounds the live heap's growth over a worker's inputs:
	// each input's session, streams and buffers must be freed. Measured:
	// the live heap moves by tens of KiB over hundreds of inputs, while a
	// session kept alive after its input holds ~6 KiB at least (with the
	// engine's one AEAD per direction), so a leak of one per input
	// crosses this within ~350 inputs.
	fuzzHeapSlack = 2 << 20
	// fuzzHeapWarm is the input after which the live heap is first
	// measured (the engine's pools and the worker's caches have filled),
	// and fuzzHeapEvery how often (in inputs) it is compared after that.
	// A fuzz worker measures later: its mutator allocates a scratch
	// buffer of ~100 MB (internal/fuzz, maxPerVal) on its first mutation,
	// after the worker's share of the corpus ran unmutated.
	fuzzHeapWarm       = 64
	fuzzWorkerHeapWarm = 4096
	fuzzHeapEvery      = 256
)

// The addresses datagrams come from: the peer's (index 0, validated by the
// handshake) and three others (NAT rebinding, or an on-path attacker).
var fuzzFrom = [4]netip.AddrPort{
	peerAddr,
	netip.MustParseAddrPort("127.0.0.1:7101"),
	netip.MustParseAddrPort("127.0.0.1:7102"),
	netip.MustParseAddrPort("10.0.0.1:7103"),
}

// Operations: the first byte of each, modulo opCount.
const (
	opPacket         = iota // ctl, frame count, frames: one sealed TRANSPORT packet
	opDatagram              // ctl, length, bytes: raw bytes, optionally behind a header of the session
	opReplay                // index, from: an earlier datagram again, from any address
	opUnknownSession        // from, length: a packet for a session the engine does not hold
	opStatelessReset        // from, length: a datagram ending with the peer's reset token
	opSync                  // wait until the engine has processed and answered everything sent
	opPause                 // ms: sleep (timers: delayed ACK, PTO, hibernation)
	opApp                   // action, params: an application call
	opCount
)

// Packet control byte (opPacket): bits 0-1 source address (fuzzFrom), bits
// 2-3 key, bits 4-6 packet number, bit 7 pad the datagram (u16 follows).
const (
	keyCurrent  = 0 << 2 // the current generation
	keyRotate   = 1 << 2 // rotate: the next generation becomes current
	keyPrevious = 2 << 2 // the previous generation (a packet reordered across an update)
	keyForged   = 3 << 2 // the next generation's phase bit on the current key: cannot open

	pnNext     = 0 << 4 // one above the largest used (modes 0-3)
	pnJump     = 4 << 4 // largest + 1 + num
	pnOlder    = 5 << 4 // largest - 1 - u8 (reordered, or a reused number)
	pnAbsolute = 6 << 4 // num, 48 bits
	pnSame     = 7 << 4 // the last number again, with new contents

	ctlPad = 1 << 7
)

// Frame kinds: the first byte of each frame, modulo frameKinds.
const (
	fPadding       = iota // n
	fData                 // stream, flags, offset and length per flags
	fAck                  // invented ranges
	fAckTruthful          // what the engine really sent, minus a pattern
	fMaxData              // num
	fMaxStreams           // num
	fReset                // stream, code, final-size mode
	fStopSending          // stream, code
	fMaxStreamData        // stream, num
	fPing                 //
	fPathChallenge        // 8 bytes
	fPathResponse         // 8 bytes
	fPathEcho             // k: PATH_RESPONSE echoing the k-th newest PATH_CHALLENGE the engine sent
	fResetToken           // mode: the peer's token, or 16 input bytes
	fClose                // code, reason
	fFinal                // mode: this session's ID, or num
	fCustom               // type, length, payload
	fBlocked              // mode, stream, num: STREAM_BLOCKED or DATA_BLOCKED
	fRaw                  // length, bytes appended as they are
	frameKinds
)

// Application actions (opApp), modulo appActions.
const (
	appOpen        = iota // u16 bytes, then close mode: open a stream and write
	appSendFrame          // type, length
	appCancelRead         // k, code
	appCancelWrite        // k, code
	appCloseStream        // k
	appCloseError         // code: Session.CloseWithError
	appDrain              // Session.Drain (bounded)
	appDeadline           // k: a read deadline in the past
	appActions
)

// fuzzInput decodes the fuzzer's bytes; reading past the end yields zeros.
type fuzzInput struct{ b []byte }

func (in *fuzzInput) more() bool { return len(in.b) > 0 }

func (in *fuzzInput) u8() byte {
	if len(in.b) == 0 {
		return 0
	}
	v := in.b[0]
	in.b = in.b[1:]
	return v
}

func (in *fuzzInput) u16() int { return int(in.u8())<<8 | int(in.u8()) }

// take returns up to n bytes of input.
func (in *fuzzInput) take(n int) []byte {
	n = min(n, len(in.b))
	v := in.b[:n:n]
	in.b = in.b[n:]
	return v
}

// num reads a number in the shape of a QUIC varint: the first byte's top
// two bits select 1, 2, 4 or 8 bytes, big-endian, 62 bits at most. One byte
// reaches 0-63, so the fuzzer finds small values and edges alike.
func (in *fuzzInput) num() uint64 {
	b := in.u8()
	v := uint64(b & 0x3f)
	for range 1<<(b>>6) - 1 {
		v = v<<8 | uint64(in.u8())
	}
	return v
}

// appendNum is num's encoder, for seeds.
func appendNum(b []byte, v uint64) []byte {
	switch {
	case v < 1<<6:
		return append(b, byte(v))
	case v < 1<<14:
		return append(b, 0x40|byte(v>>8), byte(v))
	case v < 1<<30:
		return binary.BigEndian.AppendUint32(b, 0x80<<24|uint32(v))
	}
	return binary.BigEndian.AppendUint64(b, 0xc0<<56|v&(1<<62-1))
}

// FuzzSession feeds sequences of sealed frames into a live session; see the
// top of this file for the input format and the invariants.
func FuzzSession(f *testing.F) {
	for _, s := range fuzzSessionSeeds() {
		f.Add(s)
	}
	fe := newFuzzEngine(f)
	fe.heapWarm, fe.heapStrikes = fuzzWorkerHeapWarm, 2
	f.Fuzz(func(t *testing.T, data []byte) {
		fe.run(t, data)
	})
}

// TestFuzzSessionMemory runs the FuzzSession harness over generated inputs
// (the seeds, mutated by a fixed PRNG) and checks that every ended session
// is unreachable and the live heap stays flat across them: in a plain `go
// test` the seed corpus alone is too short for FuzzSession's own periodic
// memory check to run.
func TestFuzzSessionMemory(t *testing.T) {
	const inputs = fuzzHeapWarm + 3*fuzzHeapEvery
	fe := newFuzzEngine(t)
	seeds := fuzzSessionSeeds()
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range inputs {
		in := slices.Clone(seeds[i%len(seeds)])
		for range rng.IntN(8) {
			if len(in) > 0 {
				in[rng.IntN(len(in))] = byte(rng.Uint32())
			}
		}
		fe.run(t, in)
		if t.Failed() {
			return
		}
	}
	if fe.heapChecks == 0 {
		t.Fatal("the heap was never compared")
	}
	t.Logf("%d inputs; live heap %d KiB after input %d, %d KiB at the end", inputs, fe.heapBase>>10, fe.heapWarm, fe.heapLast>>10)
}

// fuzzEngine is the engine a fuzz worker reuses across inputs.
type fuzzEngine struct {
	eng   *dataplane.Engine
	peer  *batchtest.Conn // the peer's end: writes from peerAddr, InjectFrom for the others
	rec   *recordingConn  // the engine's end, recording what it writes
	led   *ampLedger
	bar   barrier
	seq   uint64 // last barrier sent
	rxEnd chan struct{}

	nextID      uint64 // sessions installed so far
	runs        int
	ended       []weak.Pointer[dataplane.Session] // sessions of the inputs since the last checkMemory
	heapWarm    int                               // the input after which the heap is first measured
	heapBase    uint64                            // live heap then
	heapLast    uint64                            // at the last measurement
	heapChecks  int                               // measurements compared with heapBase
	heapOver    int                               // consecutive ones above the bound
	heapStrikes int                               // how many in a row fail
}

// newFuzzEngine starts the engine and registers its teardown (and a
// goroutine-leak check) with tb.
func newFuzzEngine(tb testing.TB) *fuzzEngine {
	tb.Helper()
	fe := &fuzzEngine{heapWarm: fuzzHeapWarm, heapStrikes: 1}
	fe.start()
	tb.Cleanup(func() {
		fe.stop(waitFor)
		goleak.VerifyNone(tb)
	})
	return fe
}

func (fe *fuzzEngine) start() {
	ce, cp := batchtest.NewPair(engAddr, peerAddr)
	fe.led = &ampLedger{}
	fe.led.reset()
	ce.SetTap(fe.led.tap)
	fe.rec = &recordingConn{Conn: ce}
	fe.peer = cp
	fe.bar = barrier{notify: make(chan struct{}, 1)}
	cfg := dataplane.Config{
		StreamWindow: testStreamWindow, MaxStreamWindow: testStreamWindow,
		SessionWindow: testSessionWindow, MaxSessionWindow: testSessionWindow,
		MaxStreams:     testMaxStreams,
		MaxGaps:        fuzzMaxGaps,
		IntegrityLimit: fuzzIntegrity,
		HibernateAfter: fuzzHibernate,
		ResetToken:     engineToken,
		OnHandshake:    fe.bar.onHandshake,
		OnCustomFrame: func(_ *dataplane.Session, typ byte, payload []byte) bool {
			return typ&1 == 0 // even types have a handler, odd ones are counted as dropped
		},
	}
	eng, err := dataplane.New(&cfg, []batch.Conn{fe.rec}, true)
	if err != nil {
		panic(err) // a valid Config: cannot happen
	}
	fe.eng = eng
	eng.Start()
	fe.rxEnd = make(chan struct{})
	go func() { // the peer's reader: the recording conn keeps the contents
		defer close(fe.rxEnd)
		msgs := make([]batch.Message, batch.BatchSize)
		for {
			for i := range msgs {
				msgs[i] = batch.Message{Buf: make([]byte, 2048)}
			}
			if _, err := cp.ReadBatch(msgs); err != nil {
				return
			}
		}
	}()
}

// stop closes the engine; an engine whose loop does not stop within d (a
// failed input may have wedged it) is abandoned and reported false.
func (fe *fuzzEngine) stop(d time.Duration) bool {
	done := make(chan struct{})
	go func() {
		_ = fe.eng.Close()
		_ = fe.peer.Close()
		<-fe.rxEnd
		close(done)
	}()
	select {
	case <-done:
		return true
	case <-time.After(d):
		return false
	}
}

// engineToken is the engine's stateless reset token for a session ID.
func engineToken(id wire.SessionID) (t [wire.ResetTokenLen]byte) {
	for i := range t {
		t[i] = byte(uint64(id)>>(8*(i%8))) ^ byte(0x5A+i)
	}
	return t
}

// peerToken is the token the fuzzed peer gives in RESET_TOKEN.
func peerToken(id wire.SessionID) (t [wire.ResetTokenLen]byte) {
	for i := range t {
		t[i] = byte(uint64(id)>>(8*(i%8))) ^ byte(0xC3-i)
	}
	return t
}

// barrier lets the test wait until the loop has processed every datagram
// sent before a marker: the engine hands HANDSHAKE datagrams to
// Config.OnHandshake on its loop goroutine, in arrival order.
type barrier struct {
	seen   atomic.Uint64
	notify chan struct{}
}

var barrierMagic = []byte("stt fuzz barrier")

func (b *barrier) onHandshake(pkt []byte, _ netip.AddrPort) {
	rest, ok := bytes.CutPrefix(pkt[min(len(pkt), wire.HandshakePrefixLen):], barrierMagic)
	if !ok || len(rest) != 8 {
		return // a fuzzed HANDSHAKE datagram
	}
	b.seen.Store(binary.BigEndian.Uint64(rest))
	select {
	case b.notify <- struct{}{}:
	default:
	}
}

// sync returns once the loop has processed everything sent before and
// flushed what it sent in answer: the first marker is processed after
// them, and the loop handles one receive batch (ending with its flush)
// before the next, so the second marker proves the first batch's flush.
func (fe *fuzzEngine) sync(t testing.TB) {
	t.Helper()
	for range 2 {
		fe.seq++
		b := make([]byte, wire.HandshakePrefixLen, 64)
		wire.PutHandshakePrefix(b, 0, wire.HandshakeType(0x7f))
		b = binary.BigEndian.AppendUint64(append(b, barrierMagic...), fe.seq)
		if _, err := fe.peer.WriteBatch([]batch.Message{{Buf: b, Addr: engAddr}}); err != nil {
			t.Fatalf("barrier write: %v", err)
		}
		deadline := time.NewTimer(waitFor)
		for fe.bar.seen.Load() < fe.seq {
			select {
			case <-fe.bar.notify:
			case <-deadline.C:
				t.Fatalf("the engine's loop did not process a datagram within %v (wedged?)\n%s", waitFor, allStacks())
			}
		}
		deadline.Stop()
	}
}

func allStacks() []byte {
	buf := make([]byte, 1<<20)
	return buf[:runtime.Stack(buf, true)]
}

// recordingConn is the engine's batch.Conn: a batchtest.Conn that keeps a
// copy of every datagram the engine writes, whatever its destination
// (batchtest delivers only those to the peer's address).
type recordingConn struct {
	*batchtest.Conn
	mu  sync.Mutex
	log []outDatagram
}

type outDatagram struct {
	to netip.AddrPort
	b  []byte
}

func (c *recordingConn) WriteBatch(msgs []batch.Message) (int, error) {
	c.mu.Lock()
	for i := range msgs {
		c.log = append(c.log, outDatagram{msgs[i].Addr, bytes.Clone(msgs[i].Buf)})
	}
	c.mu.Unlock()
	return c.Conn.WriteBatch(msgs)
}

// since returns the datagrams written after the first n.
func (c *recordingConn) since(n int) []outDatagram {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.log[min(n, len(c.log)):])
}

func (c *recordingConn) reset() {
	c.mu.Lock()
	c.log = nil
	c.mu.Unlock()
}

// ampLedger checks the amplification limit per datagram, on the engine's
// writing goroutine (batchtest.Conn.SetTap): an address other than the
// peer's that has not been validated (the peer echoed a PATH_CHALLENGE the
// engine sent there) is never sent more than 3x the bytes it sent.
type ampLedger struct {
	mu        sync.Mutex
	recv      map[netip.AddrPort]int
	sent      map[netip.AddrPort]int
	validated map[netip.AddrPort]bool
	over      []string
}

func (l *ampLedger) reset() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.recv = map[netip.AddrPort]int{}
	l.sent = map[netip.AddrPort]int{}
	l.validated = map[netip.AddrPort]bool{}
	l.over = nil
}

func (l *ampLedger) received(from netip.AddrPort, n int) {
	l.mu.Lock()
	l.recv[from] += n
	l.mu.Unlock()
}

func (l *ampLedger) validate(addr netip.AddrPort) {
	l.mu.Lock()
	l.validated[addr] = true
	l.mu.Unlock()
}

func (l *ampLedger) tap(to netip.AddrPort, size int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sent[to] += size
	if to != peerAddr && !l.validated[to] && l.sent[to] > 3*l.recv[to] && len(l.over) < 4 {
		l.over = append(l.over, fmt.Sprintf("%v was sent %d bytes (this datagram %d) having sent %d: over 3x",
			to, l.sent[to], size, l.recv[to]))
	}
}

func (l *ampLedger) violations() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.over)
}

// run feeds one input to a fresh session and checks the invariants.
// (Deferred calls, because a failed check ends the goroutine with
// runtime.Goexit.)
func (fe *fuzzEngine) run(t *testing.T, data []byte) {
	fe.runs++
	// A watchdog for what no wait of the harness bounds: a wedged loop
	// stops reading, and the peer's writes then block forever. Crashing
	// the process makes the fuzzer keep the input, with every stack.
	dog := time.AfterFunc(fuzzWatchdog, func() {
		panic(fmt.Sprintf("FuzzSession: input still running after %v (engine wedged?); goroutines:\n%s", fuzzWatchdog, allStacks()))
	})
	defer dog.Stop()
	var sess *dataplane.Session
	defer func() {
		if t.Failed() {
			// The engine may be wedged or hold state of the failed input:
			// the next input gets a new one.
			if !fe.stop(waitFor) {
				t.Log("the failed input's engine did not stop; abandoned")
			}
			fe.start()
			return
		}
		if fe.runs == fe.heapWarm || fe.runs > fe.heapWarm && (fe.runs-fe.heapWarm)%fuzzHeapEvery == 0 {
			fe.checkMemory(t)
		}
		fe.ended = append(fe.ended, weak.Make(sess))
	}()
	fs := fe.newSession(t, data)
	sess = fs.sess
	defer fs.teardown()
	fs.play()
	fe.sync(t)
	fs.readEngine()
	fs.check()
	fs.summary()
}

// checkMemory checks that the sessions of the inputs since the last call
// are unreachable (nothing the engine or the harness keeps refers to them,
// or to their streams), and measures the live heap: from the second
// measurement on it must stay within fuzzHeapSlack of the first.
func (fe *fuzzEngine) checkMemory(t *testing.T) {
	runtime.GC()
	for i, w := range fe.ended {
		if s := w.Value(); s != nil {
			t.Fatalf("the session of input %d of the last %d (%v) is still reachable after it ended", i+1, len(fe.ended), s.ID())
		}
	}
	fe.ended = fe.ended[:0]
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	fe.heapLast = m.HeapAlloc
	if fe.heapBase == 0 {
		fe.heapBase = m.HeapAlloc
		return
	}
	fe.heapChecks++
	if m.HeapAlloc <= fe.heapBase+fuzzHeapSlack {
		fe.heapOver = 0
		return
	}
	// A leak persists; a fuzz worker's own transient allocations (it
	// copies coverage for an interesting input) were measured at up to
	// 2.4 MiB once in 100k inputs, and are gone at the next measurement.
	if fe.heapOver++; fe.heapOver >= fe.heapStrikes {
		if dir := os.Getenv("STT_FUZZ_HEAP_PROFILE"); dir != "" {
			// Where the growth is: a heap profile of the worker.
			if f, err := os.CreateTemp(dir, "fuzzsession-heap-*.pprof"); err == nil {
				_ = pprof.WriteHeapProfile(f)
				t.Logf("heap profile in %s", f.Name())
				f.Close()
			}
		}
		t.Fatalf("live heap grew from %d KiB to %d KiB over %d inputs (bound %d KiB, %d measurements in a row)",
			fe.heapBase>>10, m.HeapAlloc>>10, fe.runs-fe.heapWarm, fuzzHeapSlack>>10, fe.heapOver)
	}
}

// fuzzSession is one input's session and everything the checks need.
type fuzzSession struct {
	t    *testing.T
	fe   *fuzzEngine
	in   fuzzInput
	sess *dataplane.Session
	id   wire.SessionID

	suite     stc.Suite
	up        []stc.Secret // the peer's send secret per generation (up[0] from the handshake)
	down      stc.Secret   // the engine's send secret
	initiator bool         // the engine dialled
	nearLimit bool         // the engine's packet numbers start near 2^48

	// The peer's side.
	gen      int
	sealers  map[int]*sealer
	maxPN    uint64 // largest packet number used (anyPN)
	lastPN   uint64
	anyPN    bool
	validPN  map[uint64]bool         // numbers of authentic packets sent
	validSrc map[netip.AddrPort]bool // addresses that sent an authentic packet (or a copy of one)
	sent     []inDatagram            // every datagram sent, for replays
	nextOff  map[wire.StreamID]uint64
	closes   map[uint64]bool            // codes of CLOSE frames the peer sent
	tokens   [][wire.ResetTokenLen]byte // tokens the peer gave in RESET_TOKEN
	paused   time.Duration

	// What the engine sent (readEngine).
	cursor     int
	er         engineReader
	enginePNs  map[uint64]bool
	engineList []uint64 // in sending order
	chals      []sentChallenge
	engCloses  []wire.CloseFrame

	app fuzzApp
}

type inDatagram struct {
	b         []byte
	from      netip.AddrPort
	authentic bool // sealed under a real key with its phase bit (original or copy)
}

type sentChallenge struct {
	data [8]byte
	to   netip.AddrPort
}

type sealer struct {
	aead *stc.PacketAEAD
	last uint64
}

// newSession installs a session configured by the input's first bytes.
func (fe *fuzzEngine) newSession(t *testing.T, data []byte) *fuzzSession {
	fe.rec.reset()
	fe.led.reset()
	fe.nextID++
	fs := &fuzzSession{
		t: t, fe: fe, in: fuzzInput{data},
		id:       wire.SessionID(0x5eed_f000_0000_0000 | fe.nextID),
		sealers:  map[int]*sealer{},
		validPN:  map[uint64]bool{},
		validSrc: map[netip.AddrPort]bool{},
		nextOff:  map[wire.StreamID]uint64{},
		closes:   map[uint64]bool{},
	}
	h := fs.in.u8()
	fs.initiator = h&1 != 0
	fs.suite = [4]stc.Suite{stc.SuiteChaCha20Poly1305, stc.SuiteAES256GCM, stc.SuiteAES128GCM, stc.SuiteChaCha20Poly1305}[h>>1&3]
	fs.nearLimit = h&8 != 0
	credit := uint64(64 << 20)
	if h&16 != 0 {
		credit = 2000 // the application's writes block on the peer's credit
	}
	maxStreams := [8]uint64{16, 0, 1, 2, 4, 8, 100, 1 << 20}[h>>5]
	copy(fs.app.script[:], fs.in.take(3))

	var upB, downB [32]byte
	for i := range upB {
		upB[i] = byte(i) ^ byte(fe.nextID)
		downB[i] = byte(0xF0^i) ^ byte(fe.nextID>>8)
	}
	up := stc.SecretFrom(&upB)
	fs.down = stc.SecretFrom(&downB)
	fs.up = []stc.Secret{up}
	fs.er = engineReader{suite: fs.suite, secret: fs.down}
	fs.er.init(t)
	fs.enginePNs = map[uint64]bool{}

	sp := &dataplane.SessionParams{
		ID: fs.id, Suite: fs.suite,
		Initiator: fs.initiator, Peer: peerAddr,
		PeerMaxStreams: maxStreams, PeerMaxData: credit, PeerMaxStreamData: credit,
	}
	sp.SetSecrets(fs.down, up)
	if fs.nearLimit {
		dataplane.StartPacketNumbersAt(sp, wire.MaxPacketNumber-40)
	}
	sess, err := fe.eng.Install(sp)
	if err != nil {
		t.Fatalf("Install: %v", err)
	}
	fs.sess = sess
	fs.app.start(fs)
	return fs
}

// play decodes and runs the input's operations.
func (fs *fuzzSession) play() {
	for n := 0; n < fuzzMaxOps && fs.in.more(); n++ {
		switch fs.in.u8() % opCount {
		case opPacket:
			fs.opPacket()
		case opDatagram:
			fs.opDatagram()
		case opReplay:
			if len(fs.sent) > 0 {
				d := fs.sent[int(fs.in.u8())%len(fs.sent)]
				fs.send(fuzzFrom[fs.in.u8()&3], d.b, d.authentic)
			}
		case opUnknownSession:
			from := fuzzFrom[fs.in.u8()&3]
			b := make([]byte, wire.HeaderLen+int(fs.in.u8()))
			wire.Header{Kind: wire.KindTransport, SessionID: fs.id ^ 0x00ff_0000, PacketNumber: fs.in.num() & wire.MaxPacketNumber}.PutTo(b)
			fs.send(from, b, false)
		case opStatelessReset:
			from := fuzzFrom[fs.in.u8()&3]
			b := make([]byte, wire.HeaderLen+wire.ResetTokenLen+int(fs.in.u8()%64))
			wire.Header{Kind: wire.KindTransport, SessionID: fs.id, PacketNumber: fs.in.num() & wire.MaxPacketNumber}.PutTo(b)
			tok := peerToken(fs.id)
			copy(b[len(b)-wire.ResetTokenLen:], tok[:])
			fs.send(from, b, false)
		case opSync:
			fs.fe.sync(fs.t)
			fs.readEngine()
		case opPause:
			d := min(time.Duration(fs.in.u8()%16+1)*time.Millisecond, fuzzMaxPause-fs.paused)
			if d > 0 {
				fs.paused += d
				time.Sleep(d)
			}
		case opApp:
			fs.app.action(fs)
		}
	}
}

// opPacket builds, seals and sends one TRANSPORT packet.
func (fs *fuzzSession) opPacket() {
	ctl := fs.in.u8()
	from := fuzzFrom[ctl&3]
	gen, phase, real := fs.gen, fs.gen&1 == 1, true
	switch ctl & (3 << 2) {
	case keyRotate:
		if fs.gen < fuzzMaxGen {
			fs.gen++
		}
		gen, phase = fs.gen, fs.gen&1 == 1
	case keyPrevious:
		if gen > 0 {
			gen--
			phase = !phase
		}
	case keyForged:
		phase, real = !phase, false
	}
	pn := fs.nextPN()
	switch ctl & (7 << 4) {
	case pnJump:
		pn = min(pn+fs.in.num(), wire.MaxPacketNumber-1)
	case pnOlder:
		pn -= min(pn, 1+uint64(fs.in.u8()))
	case pnAbsolute:
		pn = min(fs.in.num()&wire.MaxPacketNumber, wire.MaxPacketNumber-1)
	case pnSame:
		pn = fs.lastPN
	}
	pad := 0
	if ctl&ctlPad != 0 {
		pad = fs.in.u16() % fuzzMaxDatagram
	}
	var payload []byte
	for range min(int(fs.in.u8()%(fuzzMaxFrames+1)), fuzzMaxFrames) {
		payload = fs.frame(payload)
	}
	if n := pad - (wire.HeaderLen + len(payload) + stc.Overhead); n > 0 {
		payload = wire.PaddingFrame{N: n}.AppendTo(payload)
	}
	fs.noteFrames(payload)
	b := fs.seal(gen, phase, pn, payload)
	if real {
		fs.validPN[pn] = true
	}
	fs.send(from, b, real)
}

// noteFrames records the CLOSE codes and reset tokens payload carries,
// as the engine parses it (raw input bytes and the frames around them can
// form any frame), if it parses whole: otherwise the engine acts on none.
func (fs *fuzzSession) noteFrames(payload []byte) {
	var f wire.Frame
	var closes []uint64
	var tokens [][wire.ResetTokenLen]byte
	for len(payload) > 0 {
		n, err := wire.ParseFrame(payload, &f)
		if err != nil {
			return
		}
		payload = payload[n:]
		switch {
		case f.Type == wire.FrameControl && f.Sub == wire.ControlClose:
			closes = append(closes, f.Close.Code)
		case f.Type == wire.FrameControl && f.Sub == wire.ControlResetToken:
			tokens = append(tokens, f.ResetToken.Token)
		}
	}
	for _, c := range closes {
		fs.closes[c] = true
	}
	fs.tokens = append(fs.tokens, tokens...)
}

// nextPN returns one above the largest packet number used.
func (fs *fuzzSession) nextPN() uint64 {
	if !fs.anyPN {
		return 0
	}
	return min(fs.maxPN+1, wire.MaxPacketNumber-1)
}

// seal seals payload as packet pn of this session under generation gen's
// key, with the given key-phase bit.
func (fs *fuzzSession) seal(gen int, phase bool, pn uint64, payload []byte) []byte {
	for len(fs.up) <= gen {
		fs.up = append(fs.up, fs.up[len(fs.up)-1].Next())
	}
	s := fs.sealers[gen]
	if s == nil || pn <= s.last {
		// PacketAEAD refuses a number it sealed before or below: a fresh
		// context for a reordered, reused or replayed number.
		a, err := stc.NewPacketAEAD(fs.suite, fs.up[gen])
		if err != nil {
			fs.t.Fatal(err)
		}
		s = &sealer{aead: a}
		fs.sealers[gen] = s
	}
	s.last = pn
	b := make([]byte, wire.HeaderLen, wire.HeaderLen+len(payload)+stc.Overhead)
	b = append(b, payload...)
	wire.Header{Kind: wire.KindTransport, KeyPhase: phase, SessionID: fs.id, PacketNumber: pn}.PutTo(b)
	fs.lastPN = pn
	if !fs.anyPN || pn > fs.maxPN {
		fs.maxPN, fs.anyPN = pn, true
	}
	return s.aead.Seal(b, wire.HeaderLen, pn)
}

// send writes one datagram to the engine from the given address; the
// ledger counts it first, so the tap sees the budget it allows.
func (fs *fuzzSession) send(from netip.AddrPort, b []byte, authentic bool) {
	fs.fe.led.received(from, len(b))
	fs.sent = append(fs.sent, inDatagram{b, from, authentic})
	if authentic { // every size here fits the engine's receive buffers
		fs.validSrc[from] = true
	}
	var err error
	if from == peerAddr {
		_, err = fs.fe.peer.WriteBatch([]batch.Message{{Buf: b, Addr: engAddr}})
	} else {
		err = fs.fe.peer.InjectFrom(from, b)
	}
	if err != nil {
		fs.t.Fatalf("peer write: %v", err)
	}
}

// opDatagram sends raw bytes: garbage, a truncated header, a HANDSHAKE
// datagram, or a forged packet of the session (its header, junk after).
func (fs *fuzzSession) opDatagram() {
	ctl := fs.in.u8()
	from := fuzzFrom[ctl&3]
	body := fs.in.take(int(fs.in.u8()))
	var b []byte
	if ctl&4 != 0 {
		b = make([]byte, wire.HeaderLen, wire.HeaderLen+len(body))
		wire.Header{Kind: wire.KindTransport, KeyPhase: ctl&8 != 0, SessionID: fs.id, PacketNumber: fs.nextPN()}.PutTo(b)
	}
	b = append(b, body...)
	fs.send(from, b, false)
}

// streamID picks a stream: mostly IDs 0-23 (both parities, around the
// stream limit), sometimes any.
func (fs *fuzzSession) streamID() wire.StreamID {
	if s := fs.in.u8(); s < 0xF0 {
		return wire.StreamID(s % 24)
	}
	return wire.StreamID(fs.in.num())
}

// frame appends one frame chosen by the input to b.
func (fs *fuzzSession) frame(b []byte) []byte {
	in := &fs.in
	switch in.u8() % frameKinds {
	case fPadding:
		return wire.PaddingFrame{N: int(in.u8()%64) + 1}.AppendTo(b)
	case fData:
		return fs.dataFrame(b)
	case fAck:
		return fs.inventedAck(b)
	case fAckTruthful:
		return fs.truthfulAck(b)
	case fMaxData:
		return wire.MaxDataFrame{Max: in.num()}.AppendTo(b)
	case fMaxStreams:
		return wire.MaxStreamsFrame{Max: in.num()}.AppendTo(b)
	case fReset:
		id := fs.streamID()
		code := in.num()
		final := fs.nextOff[id]
		switch in.u8() % 4 {
		case 1:
			final = in.num()
		case 2:
			final -= min(final, uint64(in.u8())+1)
		case 3:
			final += uint64(in.u8()) + 1
		}
		return wire.ResetStreamFrame{StreamID: id, Code: code, FinalSize: final}.AppendTo(b)
	case fStopSending:
		return wire.StopSendingFrame{StreamID: fs.streamID(), Code: in.num()}.AppendTo(b)
	case fMaxStreamData:
		return wire.MaxStreamDataFrame{StreamID: fs.streamID(), Max: in.num()}.AppendTo(b)
	case fPing:
		return wire.PingFrame{}.AppendTo(b)
	case fPathChallenge:
		var d [8]byte
		copy(d[:], in.take(8))
		return wire.PathChallengeFrame{Data: d}.AppendTo(b)
	case fPathResponse:
		var d [8]byte
		copy(d[:], in.take(8))
		return wire.PathResponseFrame{Data: d}.AppendTo(b)
	case fPathEcho:
		k := int(in.u8())
		if len(fs.chals) == 0 {
			return wire.PingFrame{}.AppendTo(b)
		}
		c := fs.chals[len(fs.chals)-1-k%len(fs.chals)]
		// Whoever receives at c.to answers: that address is validated
		// from now on (marked before the packet leaves, so the ledger is
		// never behind the engine).
		fs.fe.led.validate(c.to)
		return wire.PathResponseFrame{Data: c.data}.AppendTo(b)
	case fResetToken:
		tok := peerToken(fs.id)
		if in.u8()&1 == 1 {
			copy(tok[:], in.take(16))
		}
		return wire.ResetTokenFrame{Token: tok}.AppendTo(b)
	case fClose:
		return wire.CloseFrame{Code: in.num(), Reason: in.take(int(in.u8() % 64))}.AppendTo(b)
	case fFinal:
		id := fs.id
		if in.u8()&1 == 1 {
			id = wire.SessionID(in.num())
		}
		return wire.FinalFrame{SessionID: id}.AppendTo(b)
	case fCustom:
		typ := wire.FrameCustomMin | wire.FrameType(in.u8())
		return wire.CustomFrame{Type: typ, Payload: in.take(int(in.u8()))}.AppendTo(b)
	case fBlocked:
		if in.u8()&1 == 0 {
			return wire.StreamBlockedFrame{StreamID: fs.streamID(), Limit: in.num()}.AppendTo(b)
		}
		return wire.DataBlockedFrame{Limit: in.num()}.AppendTo(b)
	case fRaw:
		return append(b, in.take(int(in.u8()%64))...)
	}
	panic("unreachable")
}

// dataFrame: stream, flags (bit 0 FIN, bits 1-2 offset mode, bits 3-4
// length mode), then the fields the modes read. Data bytes are zeros
// unless length mode 3 takes them from the input.
func (fs *fuzzSession) dataFrame(b []byte) []byte {
	in := &fs.in
	id := fs.streamID()
	fl := in.u8()
	off := fs.nextOff[id] // mode 0: in order
	switch fl >> 1 & 3 {
	case 1:
		off = uint64(in.u16())
	case 2:
		off = in.num()
	case 3:
		off = testStreamWindow - min(testStreamWindow, uint64(in.u8())) // at the credit edge
	}
	var data []byte
	switch fl >> 3 & 3 {
	case 0:
		data = make([]byte, in.u8())
	case 1:
		data = make([]byte, in.u16()%1400)
	case 3:
		data = in.take(int(in.u8()))
	}
	fs.nextOff[id] = max(fs.nextOff[id], off+uint64(len(data)))
	return wire.DataFrame{StreamID: id, Offset: off, Data: data, Fin: fl&1 == 1}.AppendTo(b)
}

// inventedAck: ranges relative to the engine's largest packet number (or
// absolute), which mostly claim packets the engine never sent.
func (fs *fuzzSession) inventedAck(b []byte) []byte {
	in := &fs.in
	q := in.u8()
	var largest uint64
	if q&1 == 1 {
		if n := len(fs.engineList); n > 0 {
			largest = fs.engineList[n-1]
		}
		largest = uint64(max(int64(largest)+int64(q>>1)-64, 0))
	} else {
		largest = in.num() & wire.MaxPacketNumber
	}
	var a wire.AckFrame
	a.Delay = in.num()
	smallest := largest - min(largest, uint64(in.u8()))
	if a.AppendRange(smallest, largest) != nil {
		return b
	}
	for range in.u8() % 4 {
		gap, n := uint64(in.u8()), uint64(in.u8())
		if smallest < gap+2 {
			break
		}
		hi := smallest - gap - 2
		lo := hi - min(hi, n)
		if a.AppendRange(lo, hi) != nil {
			break
		}
		smallest = lo
	}
	return a.AppendTo(b)
}

// truthfulAck acknowledges the engine's packets seen so far (after the
// last sync), leaving out the newest k and, optionally, every m-th: a
// peer on a lossy path.
func (fs *fuzzSession) truthfulAck(b []byte) []byte {
	q := fs.in.u8()
	pns := slices.Clone(fs.engineList)
	slices.Sort(pns)
	pns = pns[:len(pns)-min(len(pns), int(q&7))]
	if q&8 != 0 {
		m := uint64(q>>4) + 2
		pns = slices.DeleteFunc(pns, func(pn uint64) bool { return pn%m == 0 })
	}
	var a wire.AckFrame
	a.Delay = uint64(fs.in.u8()) * 100
	for i := len(pns) - 1; i >= 0; {
		j := i
		for j > 0 && pns[j-1]+1 == pns[j] {
			j--
		}
		if a.AppendRange(pns[j], pns[i]) != nil {
			break
		}
		i = j - 1
	}
	if a.N == 0 {
		return wire.PingFrame{}.AppendTo(b)
	}
	return a.AppendTo(b)
}

// engineReader opens the engine's packets of the session in sending
// order, following its key updates.
type engineReader struct {
	suite     stc.Suite
	secret    stc.Secret
	phase     bool
	cur, next *stc.PacketAEAD
}

func (r *engineReader) init(t testing.TB) {
	var err error
	if r.cur, err = stc.NewPacketAEAD(r.suite, r.secret); err != nil {
		t.Fatal(err)
	}
	if r.next, err = stc.NewPacketAEAD(r.suite, r.secret.Next()); err != nil {
		t.Fatal(err)
	}
}

func (r *engineReader) open(pkt []byte, h wire.Header) ([]byte, bool) {
	key := r.cur
	if h.KeyPhase != r.phase {
		key = r.next
	}
	payload, err := key.Open(pkt, wire.HeaderLen, h.PacketNumber)
	if err != nil {
		return nil, false
	}
	if h.KeyPhase != r.phase {
		r.phase, r.secret = h.KeyPhase, r.secret.Next()
		r.cur = r.next
		r.next, _ = stc.NewPacketAEAD(r.suite, r.secret.Next())
	}
	return payload, true
}

// readEngine checks every datagram the engine wrote since the last call.
func (fs *fuzzSession) readEngine() {
	t := fs.t
	var f wire.Frame
	for _, d := range fs.fe.rec.since(fs.cursor) {
		fs.cursor++
		h, _, err := wire.ParseHeader(d.b)
		if err != nil || h.Kind != wire.KindTransport {
			t.Errorf("engine sent a datagram of %d bytes to %v that is not a TRANSPORT packet (%v)", len(d.b), d.to, err)
			continue
		}
		pkt := bytes.Clone(d.b)
		var payload []byte
		ok := false
		if h.SessionID == fs.id {
			payload, ok = fs.er.open(pkt, h)
		}
		if !ok {
			tok := engineToken(h.SessionID)
			if len(d.b) < wire.HeaderLen+8+wire.ResetTokenLen || len(d.b) > 64 || !bytes.HasSuffix(d.b, tok[:]) {
				t.Errorf("engine sent %d bytes to %v for session %v that neither open nor are a stateless reset", len(d.b), d.to, h.SessionID)
			}
			continue
		}
		pn := h.PacketNumber
		if fs.enginePNs[pn] {
			t.Errorf("engine sent packet number %d twice", pn)
		}
		fs.enginePNs[pn] = true
		fs.engineList = append(fs.engineList, pn)
		if d.to != peerAddr && !fs.validSrc[d.to] {
			t.Errorf("engine sent packet %d to %v, which never sent a genuine packet", pn, d.to)
		}
		if len(payload) == 0 {
			t.Errorf("engine sent packet %d without frames", pn)
		}
		for len(payload) > 0 {
			n, err := wire.ParseFrame(payload, &f)
			if err != nil {
				t.Errorf("engine packet %d holds a malformed frame: %v", pn, err)
				break
			}
			payload = payload[n:]
			switch {
			case f.Type == wire.FrameControl && f.Sub == wire.ControlAck:
				fs.checkAck(pn, &f.Ack)
			case f.Type == wire.FrameControl && f.Sub == wire.ControlClose:
				c := f.Close
				c.Reason = bytes.Clone(c.Reason)
				fs.engCloses = append(fs.engCloses, c)
			case f.Type == wire.FrameControl && f.Sub == wire.ControlPathChallenge:
				fs.chals = append(fs.chals, sentChallenge{f.PathChallenge.Data, d.to})
			}
		}
	}
}

// summary logs what the input did to the session (shown with -v, and
// with a failure).
func (fs *fuzzSession) summary() {
	ss, es := fs.sess.Stats(), fs.fe.eng.Stats()
	fs.t.Logf("session %v: err %v; %d datagrams in, %d packets opened (drops: auth %d, replay %d, malformed %d, migrations refused %d); %d rotations; %d packets out, %d challenges, %d CLOSE; remote %v; %d streams accepted; engine hibernations %d, wakes %d",
		fs.id, fs.sess.Err(), len(fs.sent), ss.PacketsReceived, ss.DropsAuth, ss.DropsReplay, ss.DropsMalformed, ss.MigrationsRefused,
		ss.KeyRotationsReceived, len(fs.engineList), len(fs.chals), len(fs.engCloses), fs.sess.RemoteAddr(), fs.app.accepted(), es.Hibernations, es.Wakes)
}

// checkAck fails the input if an ACK the engine sent covers a packet
// number the peer never sealed under a real key (a forged, garbage or
// never-sent packet was acknowledged).
func (fs *fuzzSession) checkAck(pn uint64, a *wire.AckFrame) {
	for i := range a.N {
		r := a.Ranges[i]
		if r.Largest-r.Smallest >= uint64(len(fs.validPN)) {
			fs.t.Errorf("engine packet %d acknowledges %d-%d: more packets than the peer sealed (%d)", pn, r.Smallest, r.Largest, len(fs.validPN))
			return
		}
		for x := r.Smallest; x <= r.Largest; x++ {
			if !fs.validPN[x] {
				fs.t.Errorf("engine packet %d acknowledges packet number %d, which the peer never sealed", pn, x)
				return
			}
		}
	}
}

// check verifies the invariants that hold at any time: the close code,
// the CLOSE frames on the wire, the amplification ledger.
func (fs *fuzzSession) check() {
	t := fs.t
	for _, v := range fs.fe.led.violations() {
		t.Errorf("amplification: %s", v)
	}
	for _, e := range fs.app.errs() {
		t.Errorf("application: %s", e)
	}
	err := fs.sess.Err()
	if err == nil {
		if len(fs.engCloses) > 0 {
			t.Errorf("engine sent CLOSE %d (%q) but the session is open", fs.engCloses[0].Code, fs.engCloses[0].Reason)
		}
		return
	}
	var se *dataplane.SessionError
	if !errors.As(err, &se) || !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Session.Err() = %v (%T), want a *SessionError matching net.ErrClosed", err, err)
	}
	if why := fs.codeAllowed(se); why != "" {
		t.Errorf("session closed with %v: %s", err, why)
	}
	for _, c := range fs.engCloses {
		if se.Remote || c.Code != se.Code {
			t.Errorf("engine sent CLOSE with code %d (%q), but the session ended with %v", c.Code, c.Reason, err)
			break
		}
	}
}

// codeAllowed returns why the session's close code is wrong for what the
// input did, or "".
func (fs *fuzzSession) codeAllowed(se *dataplane.SessionError) string {
	if se.Remote {
		switch {
		case fs.closes[se.Code]: // any code, CodeStatelessReset too
			return ""
		case se.Code == dataplane.CodeStatelessReset && fs.sentToken():
			return ""
		case se.Code == dataplane.CodeStatelessReset:
			return "a stateless reset the peer never sent (no datagram ended with a token it gave)"
		}
		return "the peer sent no CLOSE with this code"
	}
	switch se.Code {
	case dataplane.CodeFlowControl, dataplane.CodeStreamLimit, dataplane.CodeProtocol,
		dataplane.CodeFinalSize, dataplane.CodeTooManyFrames:
		return "" // violations a peer can commit
	case dataplane.CodeAEADLimit:
		if n := fs.sess.Stats().DropsAuth; n < fuzzIntegrity {
			return fmt.Sprintf("integrity limit after %d failed opens (limit %d)", n, fuzzIntegrity)
		}
		return ""
	case dataplane.CodePacketNumbers:
		if !fs.nearLimit {
			return "packet numbers exhausted, though they started at 0"
		}
		return ""
	case dataplane.CodeInternal:
		return "an internal error (a bug)"
	}
	if fs.app.closedWith(se.Code) {
		return ""
	}
	return "no event of this input explains the code"
}

// sentToken reports whether a datagram the peer sent ends with a token it
// gave in RESET_TOKEN.
func (fs *fuzzSession) sentToken() bool {
	for _, d := range fs.sent {
		for _, tok := range fs.tokens {
			if len(d.b) >= wire.HeaderLen+8+wire.ResetTokenLen && bytes.HasSuffix(d.b, tok[:]) {
				return true
			}
		}
	}
	return false
}

// teardown ends the session (the peer's CLOSE, which ends it at once even
// while it lingers after its own CLOSE), waits for every goroutine the
// input started, and checks what the engine sent until then and that it
// holds no session any more.
func (fs *fuzzSession) teardown() {
	t := fs.t
	if fs.sess.State() != dataplane.StateClosed {
		fs.fe.sync(t)
		// Seal under the key the engine expects now, above every number
		// used: the engine's generation is the count of its receive-key
		// rotations.
		gen := int(fs.sess.Stats().KeyRotationsReceived)
		fs.closes[dataplane.CodeNoError] = true
		pn := fs.nextPN()
		if fs.anyPN {
			pn = fs.maxPN + 1 // ≤ MaxPacketNumber: numbers used stay below it
		}
		b := fs.seal(gen, gen&1 == 1, pn, wire.CloseFrame{Code: dataplane.CodeNoError}.AppendTo(nil))
		fs.validPN[pn] = true
		fs.send(peerAddr, b, true)
		select {
		case <-fs.sess.Done():
		case <-time.After(waitFor):
			t.Errorf("session still open %v after the peer's genuine CLOSE (packet %d, generation %d, state %v)",
				waitFor, pn, gen, fs.sess.State())
			fs.sess.CloseWithError(0x1ead, "fuzz teardown")
			select {
			case <-fs.sess.Done():
			case <-time.After(waitFor):
				t.Fatalf("session never ended\n%s", allStacks())
			}
		}
	}
	fs.app.stop(t)
	fs.fe.sync(t)
	fs.readEngine()
	fs.check()
	if st := fs.fe.eng.Stats(); st.Sessions != 0 || st.Hibernating != 0 {
		t.Errorf("engine holds %d sessions (%d hibernating) after the input's ended", st.Sessions, st.Hibernating)
	}
	if n := fs.sess.Stats().ActiveStreams; n != 0 {
		t.Errorf("closed session reports %d active streams", n)
	}
}

// fuzzApp is the application side of one input's session: it accepts
// streams and treats each as the input's script says, and runs the
// input's application calls.
type fuzzApp struct {
	wg      sync.WaitGroup
	ctx     context.Context
	cancel  context.CancelFunc
	script  [3]byte
	codes   map[uint64]bool // codes the application closed the session with
	mu      sync.Mutex      // protects the fields below
	streams []*dataplane.Stream
	accepts int
	bad     []string
}

func (a *fuzzApp) start(fs *fuzzSession) {
	a.ctx, a.cancel = context.WithCancel(context.Background())
	a.codes = map[uint64]bool{}
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		for {
			st, err := fs.sess.AcceptStream(a.ctx)
			if err != nil {
				return
			}
			a.mu.Lock()
			a.streams = append(a.streams, st)
			i := a.accepts
			a.accepts++
			a.mu.Unlock()
			b := a.script[i/2%len(a.script)]
			if i&1 == 1 {
				b >>= 4
			}
			a.wg.Add(1)
			go func() {
				defer a.wg.Done()
				a.handle(st, b)
			}()
		}
	}()
}

// handle runs one accepted stream's script.
func (a *fuzzApp) handle(st *dataplane.Stream, b byte) {
	code := uint64(b) + 0x100
	switch b % 8 {
	case 0: // read to the end
		a.readAll(st)
	case 1: // read a little, then stop reading
		buf := make([]byte, 1000)
		_, _ = st.Read(buf)
		st.CancelRead(code)
	case 2: // reset our side, read theirs
		st.CancelWrite(code)
		a.readAll(st)
	case 3: // answer, then read
		_, _ = st.Write(make([]byte, 3000))
		_ = st.CloseWrite()
		a.readAll(st)
	case 4: // close at once
		_ = st.Close()
	case 5: // messages
		for {
			if _, err := st.ReceiveMessage(a.ctx); err != nil {
				return
			}
		}
	case 6: // echo
		buf := make([]byte, 4096)
		for {
			n, err := st.Read(buf)
			if n > 0 {
				if _, werr := st.Write(buf[:n]); werr != nil {
					return
				}
			}
			if err != nil {
				a.checkReadErr(st, err)
				_ = st.Close()
				return
			}
		}
	case 7: // never read
	}
}

func (a *fuzzApp) readAll(st *dataplane.Stream) {
	buf := make([]byte, 4096)
	for {
		if _, err := st.Read(buf); err != nil {
			a.checkReadErr(st, err)
			return
		}
	}
}

// checkReadErr records a Read error that is none of those Stream
// documents.
func (a *fuzzApp) checkReadErr(st *dataplane.Stream, err error) {
	var se *dataplane.StreamError
	var sess *dataplane.SessionError
	switch {
	case err == io.EOF:
	case errors.As(err, &se):
		if se.StreamID != st.ID() {
			a.fail(fmt.Sprintf("Read on stream %d returned %v", st.ID(), err))
		}
	case errors.As(err, &sess), errors.Is(err, dataplane.ErrClosed), errors.Is(err, os.ErrDeadlineExceeded):
	default:
		a.fail(fmt.Sprintf("Read on stream %d returned an undocumented error %v (%T)", st.ID(), err, err))
	}
}

func (a *fuzzApp) fail(s string) {
	a.mu.Lock()
	a.bad = append(a.bad, s)
	a.mu.Unlock()
}

func (a *fuzzApp) errs() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.bad)
}

func (a *fuzzApp) closedWith(code uint64) bool { return a.codes[code] }

func (a *fuzzApp) accepted() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.accepts
}

// stream returns the k-th stream the application holds, or nil.
func (a *fuzzApp) stream(k byte) *dataplane.Stream {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.streams) == 0 {
		return nil
	}
	return a.streams[int(k)%len(a.streams)]
}

// action runs one application call from the input.
func (a *fuzzApp) action(fs *fuzzSession) {
	in := &fs.in
	s := fs.sess
	switch in.u8() % appActions {
	case appOpen:
		n, mode := in.u16()%fuzzMaxWrite, in.u8()
		a.wg.Add(1)
		go func() {
			defer a.wg.Done()
			st, err := s.OpenStream(a.ctx)
			if err != nil {
				return
			}
			a.mu.Lock()
			a.streams = append(a.streams, st)
			a.mu.Unlock()
			_, _ = st.Write(make([]byte, n))
			switch mode % 4 {
			case 0:
				_ = st.CloseWrite()
			case 1:
				st.CancelWrite(uint64(mode))
			case 2:
				_ = st.Close()
			}
			a.readAll(st)
		}()
	case appSendFrame:
		typ := 0x80 | in.u8()
		_ = s.SendFrame(typ, make([]byte, int(in.u8())*8))
	case appCancelRead:
		if st := a.stream(in.u8()); st != nil {
			st.CancelRead(in.num())
		}
	case appCancelWrite:
		if st := a.stream(in.u8()); st != nil {
			st.CancelWrite(in.num())
		}
	case appCloseStream:
		if st := a.stream(in.u8()); st != nil {
			_ = st.Close()
		}
	case appCloseError:
		// Above the transport's codes, so that an application close
		// never hides an engine close with the same code.
		code := 0x100 + in.num()
		a.codes[code] = true
		s.CloseWithError(code, "fuzz application")
	case appDrain:
		a.codes[dataplane.CodeNoError] = true
		a.wg.Add(1)
		go func() {
			defer a.wg.Done()
			ctx, cancel := context.WithTimeout(a.ctx, 20*time.Millisecond)
			defer cancel()
			_ = s.Drain(ctx, dataplane.CodeNoError, "")
		}()
	case appDeadline:
		if st := a.stream(in.u8()); st != nil {
			_ = st.SetReadDeadline(time.Now().Add(-time.Second))
		}
	}
}

// stop waits for every goroutine of the application side; the session has
// ended, so each returns (AcceptStream, Read, Write and OpenStream end with
// the session).
func (a *fuzzApp) stop(t *testing.T) {
	a.cancel()
	done := make(chan struct{})
	go func() {
		a.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(waitFor):
		t.Fatalf("application goroutines still running %v after the session ended\n%s", waitFor, allStacks())
	}
}

// Seed encoders: each mirrors its decoder above.

func sHeader(h byte, script ...byte) []byte { return append([]byte{h}, append(script, 0, 0, 0)[:3]...) }

// sPacket is opPacket with ctl (its pn argument bytes, if any, in pnArg).
func sPacket(ctl byte, pnArg []byte, frames ...[]byte) []byte {
	b := append([]byte{opPacket, ctl}, pnArg...)
	b = append(b, byte(len(frames)))
	for _, f := range frames {
		b = append(b, f...)
	}
	return b
}

// sPkt is a packet from the peer's address with the next number under the
// current key.
func sPkt(frames ...[]byte) []byte { return sPacket(0, nil, frames...) }

func sNum(v uint64) []byte { return appendNum(nil, v) }

// sData is in-order DATA of n zero bytes (n < 256) on stream id.
func sData(id byte, n byte, fin bool) []byte {
	fl := byte(0)
	if fin {
		fl = 1
	}
	return []byte{fData, id, fl, n}
}

// sDataAt is DATA of n zero bytes (n < 1400) at offset off (< 2^16).
func sDataAt(id byte, off, n int, fin bool) []byte {
	fl := byte(1<<1 | 1<<3)
	if fin {
		fl |= 1
	}
	return []byte{fData, id, fl, byte(off >> 8), byte(off), byte(n >> 8), byte(n)}
}

func sAck(q, delay byte) []byte { return []byte{fAckTruthful, q, delay} }

var sPing = []byte{fPing}

func sFrame(kind byte, args ...[]byte) []byte {
	b := []byte{kind}
	for _, a := range args {
		b = append(b, a...)
	}
	return b
}

func sClose(code uint64, reason string) []byte {
	return sFrame(fClose, sNum(code), []byte{byte(len(reason))}, []byte(reason))
}

func sApp(action byte, args ...byte) []byte { return append([]byte{opApp, action}, args...) }

var sSync = []byte{opSync}

func sPause(ms byte) []byte { return []byte{opPause, ms - 1} }

func sReplay(idx, from byte) []byte { return []byte{opReplay, idx, from} }

func sSeed(parts ...[]byte) []byte {
	var b []byte
	for _, p := range parts {
		b = append(b, p...)
	}
	return b
}

// fuzzSessionSeeds returns realistic sequences, each reaching a different
// part of the session: a transfer, streams out of order and reset, a
// migration race, a key update, violations, a peer's close and stateless
// reset, hibernation, the dialling role, packet-number exhaustion,
// malformed packets and garbage, a lossy peer, the application's cancels.
func fuzzSessionSeeds() [][]byte {
	const ackAll = 0
	return [][]byte{
		// A stream in order, acknowledged truthfully, read to the end.
		sSeed(sHeader(0),
			sPkt(sData(1, 200, false)), sPkt(sData(1, 200, false)), sSync,
			sPkt(sAck(ackAll, 5), sData(1, 100, true)), sSync,
			sPkt(sAck(ackAll, 5), sPing), sPause(2), sSync, sPkt(sAck(ackAll, 0))),
		// Streams out of order, a RESET, the application opens and writes,
		// STOP_SENDING and credit for its stream.
		sSeed(sHeader(0, 0x12, 0x30),
			sPkt(sDataAt(3, 1000, 100, true)), sPkt(sData(1, 50, false)),
			sApp(appOpen, 0x13, 0x88, 0), sSync,
			sPkt(sAck(ackAll, 1), sDataAt(3, 0, 1000, false)),
			sPkt(sFrame(fReset, []byte{1}, sNum(7), []byte{0})),
			sPkt(sFrame(fStopSending, []byte{2}, sNum(9))), sSync,
			sPkt(sAck(ackAll, 1), sFrame(fMaxStreamData, []byte{2}, sNum(1<<20))), sSync,
			sPkt(sAck(ackAll, 1))),
		// Migration race: an attacker's copy of the newest packet first,
		// the genuine one second; the old path's challenge answered.
		sSeed(sHeader(0),
			sPkt(sPing, sAck(ackAll, 0)), sSync,
			sPacket(1, nil, sPing, sAck(ackAll, 0)), sReplay(1, 0), sSync,
			sPkt(sFrame(fPathEcho, []byte{0})), sSync,
			sPkt(sPing, sAck(ackAll, 0)), sSync),
		// NAT rebinding: the peer moves, answers the new path's challenge.
		sSeed(sHeader(0, 0x66),
			sPkt(sData(1, 100, false)), sSync, sPause(3),
			sPacket(2, nil, sPing, sAck(ackAll, 0), sData(1, 100, false)), sSync,
			sPacket(2, nil, sFrame(fPathEcho, []byte{1}), sAck(ackAll, 0)), sSync,
			sPacket(2, nil, sData(1, 100, true), sAck(ackAll, 0)), sSync),
		// Key update with a packet reordered across it and forged phase flips.
		sSeed(sHeader(2),
			sPkt(sPing),
			sPacket(keyRotate|pnJump, sNum(3), sPing, sData(1, 10, false)),
			sPacket(keyPrevious|pnOlder, []byte{1}, sData(1, 10, false)),
			sPacket(keyForged, nil, sPing), sPacket(keyForged, nil, sPing), sSync,
			sPkt(sAck(ackAll, 0)), sSync, sPacket(keyRotate, nil, sPing), sSync),
		// Flow-control violation at the stream's credit edge.
		sSeed(sHeader(0), sPkt([]byte{fData, 1, 3 << 1, 0, 1})),
		// The peer closes with an application code.
		sSeed(sHeader(0), sPkt(sData(1, 10, false)), sPkt(sClose(0x77, "bye"))),
		// A stateless reset carrying the token the peer gave.
		sSeed(sHeader(4),
			sPkt(sFrame(fResetToken, []byte{0}), sPing), sSync,
			[]byte{opStatelessReset, 0, 10, 5}),
		// Quiet long enough to hibernate, then woken by a packet.
		sSeed(sHeader(0),
			sPkt(sPing), sPkt(sPing), sSync, sPkt(sAck(ackAll, 0)), sPause(16), sPause(8),
			sPkt(sPing, sData(1, 20, true)), sSync),
		// The engine dialled: FINAL first, the peer opens an even stream.
		sSeed(sHeader(1, 0x30),
			sPkt(sFrame(fFinal, []byte{0}), sPing), sSync,
			sPkt(sAck(ackAll, 0), sData(2, 100, true)), sApp(appOpen, 0x04, 0x00, 0), sSync,
			sPkt(sAck(ackAll, 0)), sSync),
		// Packet numbers near 2^48: the engine closes before reusing any.
		sSeed(sHeader(8),
			sApp(appOpen, 0x4e, 0x1f, 0), sApp(appOpen, 0x4e, 0x1f, 0), sPause(2), sSync, sPkt(sPing, sAck(ackAll, 0)), sSync,
			sPkt(sPing, sAck(ackAll, 0)), sSync, sPkt(sPing, sAck(ackAll, 0)), sSync,
			sPkt(sPing, sAck(ackAll, 0)), sSync, sPkt(sPing, sAck(ackAll, 0)), sSync),
		// A malformed frame after a valid one: nothing of the packet acted on.
		sSeed(sHeader(0), sPkt(sData(1, 100, false), sFrame(fRaw, []byte{2, 0x03, 0x7f}))),
		// Garbage: raw bytes, a forged packet of the session, a HANDSHAKE
		// datagram, a packet for an unknown session from elsewhere; the
		// session carries on.
		sSeed(sHeader(0),
			[]byte{opDatagram, 0, 5, 'h', 'e', 'l', 'l', 'o'},
			[]byte{opDatagram, 4 | 1, 40}, make([]byte, 40),
			[]byte{opDatagram, 0, 12, wire.Version, byte(wire.KindHandshake), 1, 2, 3, 4, 5, 6, 7, 8, 9, 10},
			[]byte{opUnknownSession, 3, 100, 7},
			sPkt(sPing), sSync),
		// A lossy peer: the application writes, the peer acknowledges
		// every other packet and grants credit.
		sSeed(sHeader(16, 0x77),
			sApp(appOpen, 0x27, 0x10, 0), sPause(2), sSync, sPkt(sAck(0x08, 2)),
			sPkt(sFrame(fMaxData, sNum(1<<20)), sFrame(fMaxStreamData, []byte{2}, sNum(1<<20))), sSync,
			sPkt(sAck(0x08, 2)), sPause(5), sSync, sPkt(sAck(0x01, 2)), sPause(5), sSync, sPkt(sAck(ackAll, 0)), sSync),
		// The application cancels, closes and ends the session.
		sSeed(sHeader(0, 0x21, 0x45, 0x63),
			sPkt(sData(1, 100, false), sData(3, 100, false), sData(5, 100, true)), sSync,
			sApp(appCancelRead, 0, 3), sApp(appCancelWrite, 1, 4), sApp(appCloseStream, 2),
			sPkt(sAck(ackAll, 0), sData(1, 10, true)), sSync,
			sApp(appSendFrame, 0x82, 4), sApp(appCloseError, 0x2a), sSync,
			sPkt(sPing)),
	}
}
