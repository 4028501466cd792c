package dataplane_test

// Peer misbehaviour (issue 5, "Tests"; issue 4's forged key-phase flips,
// integrity limit and idle-under-garbage): a real Engine with one loop on
// an in-memory batchtest Conn, and on the other end a scripted peer that
// holds the session's secrets, so it can seal any packet it likes. Every
// violation must end in the right *SessionError code (locally, and in the
// CLOSE the engine sends), and every forged or malformed packet must be a
// counted drop that leaves the session working.

import (
	"context"
	"errors"
	"net/netip"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/stt-go/stt/batch"
	"github.com/stt-go/stt/dataplane"
	"github.com/stt-go/stt/internal/batchtest"
	"github.com/stt-go/stt/stc"
	"github.com/stt-go/stt/wire"
	"go.uber.org/goleak"
)

var (
	engAddr  = netip.MustParseAddrPort("127.0.0.1:7001")
	peerAddr = netip.MustParseAddrPort("127.0.0.1:7002")
)

const (
	testID = wire.SessionID(0x5eed_0000_0000_0001)
	// Receive limits the engine advertises in these tests: small, so a
	// violation takes one packet.
	testStreamWindow  = 16 << 10
	testSessionWindow = 24 << 10
	testMaxStreams    = 4
	// waitFor bounds every wait for the engine; generous for -race on 2
	// cores, never reached when the engine behaves.
	waitFor = 10 * time.Second
)

// scriptedPeer is the far end of one engine session. Its methods run on the
// test goroutine; a reader goroutine opens what the engine sends.
type scriptedPeer struct {
	tb      testing.TB
	eng     *dataplane.Engine
	sess    *dataplane.Session
	conn    *batchtest.Conn
	engConn *batchtest.Conn // the engine's end
	suite   stc.Suite
	up      stc.Secret // peer → engine: the engine's receive secret
	seal    *stc.PacketAEAD
	pn      uint64 // next packet number the peer seals

	mu      sync.Mutex // protects the fields below, written by the reader
	got     []ackRange // engine packet numbers received, descending, merged
	acked   uint64     // largest packet number the engine acknowledged + 1
	closes  []wire.CloseFrame
	pings   int                       // engine packets carrying a PING (asking us to acknowledge)
	chals   []wire.PathChallengeFrame // PATH_CHALLENGEs the engine sent, in order
	resets  map[uint64]wire.StreamID  // engine packet number -> stream its RESET named
	token   [wire.ResetTokenLen]byte  // the engine's RESET_TOKEN, if seen
	unopen  [][]byte                  // datagrams that did not open (stateless resets)
	notify  chan struct{}             // cap 1: the reader saw a new packet
	rxDone  chan struct{}
	rxCount int
	dataN   int // stream bytes the engine sent in DATA frames
}

type ackRange struct{ lo, hi uint64 }

// newScriptedPeer starts an engine with cfg (its receive limits defaulting
// to the small test values) and installs a responder session for a peer
// that initiated it, so the engine owns the even stream IDs and the peer
// the odd ones.
func newScriptedPeer(tb testing.TB, cfg dataplane.Config) *scriptedPeer {
	tb.Helper()
	return newScriptedPeerWith(tb, cfg, nil)
}

// newScriptedPeerWith is newScriptedPeer with a hook that adjusts the
// session's parameters before Install.
func newScriptedPeerWith(tb testing.TB, cfg dataplane.Config, params func(*dataplane.SessionParams)) *scriptedPeer {
	tb.Helper()
	tb.Cleanup(func() { goleak.VerifyNone(tb) }) // registered first: runs last
	if cfg.StreamWindow == 0 {
		cfg.StreamWindow, cfg.MaxStreamWindow = testStreamWindow, testStreamWindow
	}
	if cfg.SessionWindow == 0 {
		cfg.SessionWindow, cfg.MaxSessionWindow = testSessionWindow, testSessionWindow
	}
	if cfg.MaxStreams == 0 {
		cfg.MaxStreams = testMaxStreams
	}
	ce, cp := batchtest.NewPair(engAddr, peerAddr)
	eng, err := dataplane.New(&cfg, []batch.Conn{ce}, true)
	if err != nil {
		tb.Fatal(err)
	}
	eng.Start()
	p := &scriptedPeer{
		tb: tb, eng: eng, conn: cp, engConn: ce, suite: stc.SuiteChaCha20Poly1305,
		notify: make(chan struct{}, 1), rxDone: make(chan struct{}),
	}
	var upB, downB [32]byte
	for i := range upB {
		upB[i], downB[i] = byte(i), byte(0xF0^i)
	}
	down := stc.SecretFrom(&downB)
	p.up = stc.SecretFrom(&upB)
	go p.readLoop(down)
	tb.Cleanup(func() {
		_ = eng.Close()
		_ = cp.Close()
		<-p.rxDone
	})
	if p.seal, err = stc.NewPacketAEAD(p.suite, p.up); err != nil {
		tb.Fatal(err)
	}
	sp := &dataplane.SessionParams{
		ID: testID, Suite: p.suite,
		Initiator: false, Peer: peerAddr,
		PeerMaxStreams: 16, PeerMaxData: 64 << 20, PeerMaxStreamData: 64 << 20,
	}
	sp.SetSecrets(down, p.up)
	if params != nil {
		params(sp)
	}
	p.sess, err = eng.Install(sp)
	if err != nil {
		tb.Fatal(err)
	}
	// The engine's first packet (FINAL) proves the path works.
	p.waitUntil("the engine's FINAL", func() bool { return len(p.got) > 0 })
	return p
}

// readLoop opens every packet the engine sends, following its key phase,
// and records packet numbers, ACKs and CLOSE frames. It never blocks the
// engine: it only takes the mutex briefly.
func (p *scriptedPeer) readLoop(down stc.Secret) {
	defer close(p.rxDone)
	cur, _ := stc.NewPacketAEAD(p.suite, down)
	next, _ := stc.NewPacketAEAD(p.suite, down.Next())
	secret, phase := down, false
	msgs := make([]batch.Message, batch.BatchSize)
	bufs := make([][]byte, len(msgs))
	for i := range bufs {
		bufs[i] = make([]byte, 65536) // PMTU probes reach 65 000
	}
	var f wire.Frame
	for {
		for i := range msgs {
			msgs[i] = batch.Message{Buf: bufs[i]}
		}
		n, err := p.conn.ReadBatch(msgs)
		if err != nil {
			return
		}
		for i := range n {
			pkt := msgs[i].Buf[:msgs[i].N]
			h, _, err := wire.ParseHeader(pkt)
			if err != nil || h.Kind != wire.KindTransport {
				continue
			}
			key := cur
			if h.KeyPhase != phase {
				key = next
			}
			raw := append([]byte(nil), pkt...)
			payload, err := key.Open(pkt, wire.HeaderLen, h.PacketNumber)
			if err != nil {
				p.mu.Lock()
				p.unopen = append(p.unopen, raw)
				p.mu.Unlock()
				continue
			}
			if h.KeyPhase != phase {
				phase, secret = h.KeyPhase, secret.Next()
				cur = next
				next, _ = stc.NewPacketAEAD(p.suite, secret.Next())
			}
			p.mu.Lock()
			p.rxCount++
			p.got = addPN(p.got, h.PacketNumber)
			for b := payload; len(b) > 0; {
				k, err := wire.ParseFrame(b, &f)
				if err != nil {
					break
				}
				b = b[k:]
				switch {
				case f.Type == wire.FrameData:
					p.dataN += len(f.Data.Data)
				case f.Type == wire.FrameControl && f.Sub == wire.ControlAck:
					p.acked = max(p.acked, f.Ack.Largest()+1)
				case f.Type == wire.FrameControl && f.Sub == wire.ControlPing:
					p.pings++
				case f.Type == wire.FrameControl && f.Sub == wire.ControlClose:
					c := f.Close
					c.Reason = append([]byte(nil), c.Reason...)
					p.closes = append(p.closes, c)
				case f.Type == wire.FrameControl && f.Sub == wire.ControlPathChallenge:
					p.chals = append(p.chals, f.PathChallenge)
				case f.Type == wire.FrameControl && f.Sub == wire.ControlResetToken:
					p.token = f.ResetToken.Token
				case f.Type == wire.FrameStreamControl && f.Sub == wire.StreamReset:
					if p.resets == nil {
						p.resets = make(map[uint64]wire.StreamID)
					}
					p.resets[h.PacketNumber] = f.ResetStream.StreamID
				}
			}
			p.mu.Unlock()
		}
		select {
		case p.notify <- struct{}{}:
		default:
		}
	}
}

// addPN records pn in descending, merged ranges.
func addPN(rs []ackRange, pn uint64) []ackRange {
	for i := range rs {
		r := &rs[i]
		switch {
		case pn >= r.lo && pn <= r.hi:
			return rs
		case pn == r.hi+1:
			r.hi = pn
			if i > 0 && rs[i-1].lo == pn+1 {
				rs[i-1].lo = r.lo
				return append(rs[:i], rs[i+1:]...)
			}
			return rs
		case pn > r.hi:
			return append(rs[:i], append([]ackRange{{pn, pn}}, rs[i:]...)...)
		case pn+1 == r.lo:
			r.lo = pn
			if i+1 < len(rs) && rs[i+1].hi+1 == pn {
				r.lo = rs[i+1].lo
				return append(rs[:i+1], rs[i+2:]...)
			}
			return rs
		}
	}
	return append(rs, ackRange{pn, pn})
}

// waitUntil waits until cond (called with p.mu held) holds, or fails.
func (p *scriptedPeer) waitUntil(what string, cond func() bool) {
	p.tb.Helper()
	deadline := time.NewTimer(waitFor)
	defer deadline.Stop()
	for {
		p.mu.Lock()
		ok := cond()
		p.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-p.notify:
		case <-deadline.C:
			p.tb.Fatalf("timed out waiting for %s (session error: %v)", what, p.sess.Err())
		}
	}
}

// packet seals frames under the peer's key into a TRANSPORT packet with the
// next packet number and the given key-phase bit.
func (p *scriptedPeer) packet(phase bool, frames ...[]byte) []byte {
	p.tb.Helper()
	b := make([]byte, wire.HeaderLen, 2048)
	for _, f := range frames {
		b = append(b, f...)
	}
	wire.Header{Kind: wire.KindTransport, KeyPhase: phase, SessionID: testID, PacketNumber: p.pn}.PutTo(b)
	out := p.seal.Seal(b, wire.HeaderLen, p.pn)
	p.pn++
	return out
}

// forged returns a TRANSPORT packet for the session with the next packet
// number whose ciphertext is junk: it must fail to open.
func (p *scriptedPeer) forged(phase bool) []byte {
	b := make([]byte, wire.HeaderLen+40)
	wire.Header{Kind: wire.KindTransport, KeyPhase: phase, SessionID: testID, PacketNumber: p.pn}.PutTo(b)
	for i := wire.HeaderLen; i < len(b); i++ {
		b[i] = byte(i * 7)
	}
	p.pn++
	return b
}

// send writes datagrams to the engine in one batch.
func (p *scriptedPeer) send(pkts ...[]byte) {
	p.tb.Helper()
	msgs := make([]batch.Message, len(pkts))
	for i, b := range pkts {
		msgs[i] = batch.Message{Buf: b, Addr: engAddr}
	}
	if _, err := p.conn.WriteBatch(msgs); err != nil {
		p.tb.Fatalf("peer write: %v", err)
	}
}

// ackFrame acknowledges every engine packet received so far, truthfully.
func (p *scriptedPeer) ackFrame() []byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	var a wire.AckFrame
	for _, r := range p.got {
		if a.AppendRange(r.lo, r.hi) != nil {
			break
		}
	}
	return a.AppendTo(nil)
}

var ping = wire.PingFrame{}.AppendTo(nil)

// roundTrip sends two ack-eliciting packets (the second carrying frames,
// e.g. an ACK) and waits until the engine acknowledges them. The loop
// handles datagrams in order, so everything sent before has been processed
// when it returns. It proves the session still works.
func (p *scriptedPeer) roundTrip(frames ...[]byte) {
	p.tb.Helper()
	p.send(p.packet(false, ping), p.packet(false, append([][]byte{ping}, frames...)...))
	want := p.pn
	p.waitUntil("the engine's ACK", func() bool { return p.acked >= want })
}

// wantClosed waits for the engine's CLOSE and checks its code, locally
// (Session.Err) and on the wire.
func (p *scriptedPeer) wantClosed(code uint64) {
	p.tb.Helper()
	p.waitUntil("CLOSE", func() bool { return len(p.closes) > 0 })
	var se *dataplane.SessionError
	if err := p.sess.Err(); !errors.As(err, &se) || se.Code != code || se.Remote {
		p.tb.Fatalf("Session.Err() = %v, want a local *SessionError with code %d", err, code)
	}
	if !errors.Is(p.sess.Err(), dataplane.ErrClosed) {
		p.tb.Fatalf("Session.Err() = %v does not match ErrClosed", p.sess.Err())
	}
	p.mu.Lock()
	c := p.closes[0]
	p.mu.Unlock()
	if c.Code != code {
		p.tb.Fatalf("CLOSE on the wire has code %d (%q), want %d", c.Code, c.Reason, code)
	}
}

// wantAlive checks that the session is open and working.
func (p *scriptedPeer) wantAlive() {
	p.tb.Helper()
	p.roundTrip(p.ackFrame())
	if err := p.sess.Err(); err != nil {
		p.tb.Fatalf("session closed: %v", err)
	}
}

func data(id wire.StreamID, off uint64, n int, fin bool) []byte {
	return wire.DataFrame{StreamID: id, Offset: off, Data: make([]byte, n), Fin: fin}.AppendTo(nil)
}

// TestMisbehaviourCloses: every protocol violation a peer can commit ends
// the session with the code that names it.
func TestMisbehaviourCloses(t *testing.T) {
	for _, tc := range []struct {
		name   string
		frames [][][]byte // packets, each a list of frames
		code   uint64
	}{
		{"data beyond stream credit", [][][]byte{{data(1, testStreamWindow, 1, false)}}, dataplane.CodeFlowControl},
		{"data beyond stream credit at offset 0", [][][]byte{
			{data(1, 0, 1000, false)}, {data(1, testStreamWindow-100, 101, false)},
		}, dataplane.CodeFlowControl},
		{"data beyond session credit", [][][]byte{
			{data(1, testStreamWindow-1, 1, false)}, {data(3, testStreamWindow-1, 1, false)},
		}, dataplane.CodeFlowControl},
		{"final size changed", [][][]byte{{data(1, 0, 10, true)}, {data(1, 0, 20, true)}}, dataplane.CodeFinalSize},
		{"final size lowered", [][][]byte{{data(1, 0, 10, true)}, {data(1, 0, 5, true)}}, dataplane.CodeFinalSize},
		{"data beyond final size", [][][]byte{{data(1, 0, 10, true)}, {data(1, 10, 5, false)}}, dataplane.CodeFinalSize},
		{"reset below data received", [][][]byte{
			{data(1, 0, 100, false)},
			{wire.ResetStreamFrame{StreamID: 1, Code: 7, FinalSize: 50}.AppendTo(nil)},
		}, dataplane.CodeFinalSize},
		{"stream beyond the limit", [][][]byte{{data(2*testMaxStreams+1, 0, 1, false)}}, dataplane.CodeStreamLimit},
		// docs/TRANSPORT.md §Streams: a stream ID of the receiver's parity
		// it never opened is a protocol violation (0x4), not a limit.
		{"stream of our parity never opened", [][][]byte{{data(2, 0, 1, false)}}, dataplane.CodeProtocol},
		{"credit for our stream never opened", [][][]byte{
			{wire.MaxStreamDataFrame{StreamID: 4, Max: 1 << 20}.AppendTo(nil)},
		}, dataplane.CodeProtocol},
		{"stop sending our stream never opened", [][][]byte{
			{wire.StopSendingFrame{StreamID: 6, Code: 1}.AppendTo(nil)},
		}, dataplane.CodeProtocol},
		{"data on the reserved stream 0", [][][]byte{{data(0, 0, 1, false)}}, dataplane.CodeProtocol},
		{"ACK of a packet never sent", [][][]byte{{func() []byte {
			var a wire.AckFrame
			_ = a.AppendRange(0, 1000)
			return a.AppendTo(nil)
		}()}}, dataplane.CodeProtocol},
		{"FINAL for another session", [][][]byte{
			{wire.FinalFrame{SessionID: testID + 1}.AppendTo(nil)},
		}, dataplane.CodeProtocol},
		{"unknown frame type", [][][]byte{{{0x06, 0x00}}}, dataplane.CodeProtocol},
		{"handshake frame in a transport packet", [][][]byte{{{0x01}}}, dataplane.CodeProtocol},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newScriptedPeer(t, dataplane.Config{})
			var pkts [][]byte
			for _, frames := range tc.frames {
				pkts = append(pkts, p.packet(false, frames...))
			}
			p.send(pkts...)
			p.wantClosed(tc.code)
		})
	}
}

// TestMisbehaviourWithinLimits: the same frames as above, inside the
// limits, keep the session open — the closes above are not false alarms.
func TestMisbehaviourWithinLimits(t *testing.T) {
	p := newScriptedPeer(t, dataplane.Config{})
	p.send(
		p.packet(false, data(1, 0, testStreamWindow, false)),        // exactly the stream credit
		p.packet(false, data(2*testMaxStreams-1, 4<<10-1, 1, true)), // the highest stream allowed
		p.packet(false, data(3, 0, 10, true), data(3, 0, 10, true)), // a duplicate with the same final size
		p.packet(false, wire.ResetStreamFrame{StreamID: 5, Code: 7, FinalSize: 0}.AppendTo(nil)),
	)
	p.wantAlive()
	if got := len(acceptAll(t, p.sess)); got != testMaxStreams {
		t.Fatalf("accepted %d streams, want %d", got, testMaxStreams)
	}
}

// acceptAll takes every stream queued for AcceptStream.
func acceptAll(t *testing.T, s *dataplane.Session) []*dataplane.Stream {
	t.Helper()
	var out []*dataplane.Stream
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		st, err := s.AcceptStream(ctx)
		cancel()
		if err != nil {
			return out
		}
		out = append(out, st)
	}
}

// TestMisbehaviourOptimisticACK: the engine skips packet numbers now and
// then; a peer that acknowledges one (it claims packets it never received,
// to inflate our congestion window) is caught with CodeProtocol.
func TestMisbehaviourOptimisticACK(t *testing.T) {
	p := newScriptedPeer(t, dataplane.Config{})
	// Elicit engine packets (ACKs of our PINGs), acknowledging them
	// truthfully, until a packet number is missing: the skip. The engine
	// skips one within its first 2*4096+1 packets.
	var gap uint64
	for rounds := 0; ; rounds++ {
		if rounds > 20000 {
			t.Fatal("the engine sent 20000 packets without skipping a packet number")
		}
		p.roundTrip(p.ackFrame())
		p.mu.Lock()
		if len(p.got) > 1 {
			gap = p.got[1].hi + 1
		}
		p.mu.Unlock()
		if gap != 0 {
			break
		}
	}
	if p.sess.Err() != nil {
		t.Fatalf("session closed while acknowledging truthfully: %v", p.sess.Err())
	}
	p.mu.Lock()
	largest := p.got[0].hi
	p.mu.Unlock()
	var a wire.AckFrame
	_ = a.AppendRange(0, largest) // covers the skipped packet number
	p.send(p.packet(false, a.AppendTo(nil)))
	p.wantClosed(dataplane.CodeProtocol)
	t.Logf("skipped packet number %d detected after %d packets", gap, largest+1)
}

// TestMisbehaviourPingFlood: a peer that sends PINGs as fast as the engine
// answers them must not make the engine hold memory for every ACK it sent.
// The engine asks for acknowledgements itself (a PING on its ACKs, RFC 9000
// §13.2.4): a peer that answers those keeps getting every ACK; a peer that
// withholds all ACKs stops getting ACK-only packets once a bounded backlog
// is reached. Either way the heap stays flat, the session stays open, and
// it works normally once the peer acknowledges.
func TestMisbehaviourPingFlood(t *testing.T) {
	const rounds = 20000
	for _, tc := range []struct {
		name     string
		withhold bool // never acknowledge, even when asked
	}{
		{"ACKs withheld", true},
		{"ACKs only when asked", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newScriptedPeer(t, dataplane.Config{})
			p.wantAlive()
			before := heapInUse()
			answered, quiet, acksSent, seenPings := 0, false, 0, 0
			for range rounds {
				p.mu.Lock()
				n, pings := p.rxCount, p.pings
				p.mu.Unlock()
				second := p.packet(false, ping)
				if !tc.withhold && pings > seenPings {
					// Like any implementation: acknowledge ack-eliciting
					// packets, and only those.
					seenPings = pings
					second = p.packet(false, ping, p.ackFrame())
					acksSent++
				}
				p.send(p.packet(false, ping), second)
				if !p.waitShort(func() bool { return p.rxCount > n }) {
					quiet = true // the engine stopped answering with ACK-only packets
					break
				}
				answered++
			}
			after := heapInUse()
			p.mu.Lock()
			pings := p.pings
			p.mu.Unlock()
			t.Logf("answered %d of %d PING pairs (quiet %v); engine PINGs %d, our ACKs %d; heap %d → %d KiB",
				answered, rounds, quiet, pings, acksSent, before>>10, after>>10)
			// Unbounded, every answered pair costs one sent-history entry
			// (~240 B): 20000 pairs would hold ~5 MB (an 8 MB ring).
			const bound = 2 << 20
			if grown := int64(after) - int64(before); grown > bound {
				t.Errorf("heap grew by %d KiB during the flood (bound %d KiB)", grown>>10, bound>>10)
			}
			if pings == 0 {
				t.Error("the engine never asked for an acknowledgement")
			}
			if !tc.withhold && answered != rounds {
				t.Errorf("the engine stopped answering a peer that acknowledges when asked (after %d rounds)", answered)
			}
			if err := p.sess.Err(); err != nil {
				t.Fatalf("the flood closed the session: %v", err)
			}
			p.wantAlive()
			p.wantAlive()
		})
	}
}

// waitShort is waitUntil with a short bound and no failure: it reports
// whether cond held within 200 ms.
func (p *scriptedPeer) waitShort(cond func() bool) bool {
	deadline := time.NewTimer(200 * time.Millisecond)
	defer deadline.Stop()
	for {
		p.mu.Lock()
		ok := cond()
		p.mu.Unlock()
		if ok {
			return true
		}
		select {
		case <-p.notify:
		case <-deadline.C:
			return false
		}
	}
}

func heapInUse() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// TestMisbehaviourDrops: garbage, forged, replayed and misrouted datagrams
// are dropped and counted by cause, and the session carries on.
func TestMisbehaviourDrops(t *testing.T) {
	type counts struct{ engMalformed, engUnknown, auth, malformed, replay uint64 }
	for _, tc := range []struct {
		name string
		pkts func(p *scriptedPeer) [][]byte
		want counts
	}{
		{"one byte", func(*scriptedPeer) [][]byte { return [][]byte{{wire.Version}} }, counts{engMalformed: 1}},
		{"wrong version", func(p *scriptedPeer) [][]byte {
			b := p.packet(false, ping)
			b[0] ^= 0xFF
			return [][]byte{b}
		}, counts{engMalformed: 1}},
		{"unknown kind", func(p *scriptedPeer) [][]byte {
			b := p.packet(false, ping)
			b[1] = 0x03
			return [][]byte{b}
		}, counts{engMalformed: 1}},
		{"unknown session", func(p *scriptedPeer) [][]byte {
			b := p.packet(false, ping)
			b[wire.SessionIDOffset] ^= 0x80
			return [][]byte{b}
		}, counts{engUnknown: 1}},
		{"shorter than the tag", func(p *scriptedPeer) [][]byte {
			return [][]byte{p.forged(false)[:wire.HeaderLen+stc.Overhead-1]}
		}, counts{malformed: 1}},
		{"junk ciphertext", func(p *scriptedPeer) [][]byte {
			return [][]byte{p.forged(false), p.forged(false), p.forged(false)}
		}, counts{auth: 3}},
		{"flipped bit in the tag", func(p *scriptedPeer) [][]byte {
			b := p.packet(false, ping)
			b[len(b)-1] ^= 1
			return [][]byte{b}
		}, counts{auth: 1}},
		{"flipped bit in the header", func(p *scriptedPeer) [][]byte {
			b := p.packet(false, ping)
			b[wire.HeaderLen-1] ^= 1 // the packet number, part of the AAD and the nonce
			return [][]byte{b}
		}, counts{auth: 1}},
		{"sealed under another key", func(p *scriptedPeer) [][]byte {
			other, _ := stc.NewPacketAEAD(p.suite, stc.SecretFrom(&[32]byte{1, 2, 3}))
			b := make([]byte, wire.HeaderLen, 64)
			b = append(b, ping...)
			wire.Header{Kind: wire.KindTransport, SessionID: testID, PacketNumber: p.pn}.PutTo(b)
			b = other.Seal(b, wire.HeaderLen, p.pn)
			p.pn++
			return [][]byte{b}
		}, counts{auth: 1}},
		{"replayed", func(p *scriptedPeer) [][]byte {
			b := p.packet(false, ping)
			return [][]byte{b, append([]byte(nil), b...), append([]byte(nil), b...)}
		}, counts{replay: 2}},
		{"key phase flipped on a genuine packet", func(p *scriptedPeer) [][]byte {
			b := p.packet(false, ping)
			b[1] |= 0x80 // the bit is authenticated: the next key cannot open it
			return [][]byte{b}
		}, counts{auth: 1}},
		{"forged key-phase flips", func(p *scriptedPeer) [][]byte {
			return [][]byte{p.forged(true), p.forged(true), p.forged(true), p.forged(true)}
		}, counts{auth: 4}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newScriptedPeer(t, dataplane.Config{})
			p.send(tc.pkts(p)...)
			p.wantAlive() // also a barrier: the loop has processed the garbage
			es, ss := p.eng.Stats(), p.sess.Stats()
			got := counts{es.DropsMalformed, es.DropsUnknownSession, ss.DropsAuth, ss.DropsMalformed, ss.DropsReplay}
			if got != tc.want {
				t.Fatalf("drops %+v, want %+v", got, tc.want)
			}
			if ss.KeyRotationsReceived != 0 {
				t.Fatalf("a forged packet switched the receive key (%d rotations)", ss.KeyRotationsReceived)
			}
		})
	}
}

// TestMisbehaviourKeyPhase: a genuine key update still works after forged
// key-phase flips were dropped (they must not have consumed or replaced the
// precomputed next key), and packets reordered across the update open.
func TestMisbehaviourKeyPhase(t *testing.T) {
	p := newScriptedPeer(t, dataplane.Config{})
	p.send(p.forged(true), p.forged(true))
	old := p.packet(false, ping) // sealed before the update, delivered after it
	// Rotate the peer's send key.
	next, err := stc.NewPacketAEAD(p.suite, p.up.Next())
	if err != nil {
		t.Fatal(err)
	}
	p.seal = next
	p.send(p.packet(true, ping), p.packet(true, ping), old)
	p.roundTripPhase(true)
	ss := p.sess.Stats()
	if ss.KeyRotationsReceived != 1 || ss.DropsAuth != 2 || ss.DropsReplay != 0 {
		t.Fatalf("stats %+v: want 1 rotation received, 2 auth drops (the forgeries), the reordered packet opened", ss)
	}
}

// roundTripPhase is roundTrip with the given key phase.
func (p *scriptedPeer) roundTripPhase(phase bool) {
	p.tb.Helper()
	p.send(p.packet(phase, ping), p.packet(phase, ping, p.ackFrame()))
	want := p.pn
	p.waitUntil("the engine's ACK", func() bool { return p.acked >= want })
}

// TestMisbehaviourIntegrityLimit: the session closes with CodeAEADLimit
// when the failed opens reach Config.IntegrityLimit, and not before.
func TestMisbehaviourIntegrityLimit(t *testing.T) {
	const limit = 10
	p := newScriptedPeer(t, dataplane.Config{IntegrityLimit: limit})
	for range limit - 1 {
		p.send(p.forged(false))
	}
	p.wantAlive()
	if got := p.sess.Stats().DropsAuth; got != limit-1 {
		t.Fatalf("DropsAuth = %d, want %d", got, limit-1)
	}
	p.send(p.forged(true)) // failures count across keys
	p.wantClosed(dataplane.CodeAEADLimit)
}

// TestMisbehaviourIdleUnderGarbage: garbage does not keep a session alive.
// A session whose peer only sends forged, replayed, malformed or misrouted
// datagrams times out at IdleTimeout after the last authentic packet.
func TestMisbehaviourIdleUnderGarbage(t *testing.T) {
	const idle = 300 * time.Millisecond
	p := newScriptedPeer(t, dataplane.Config{IdleTimeout: idle, KeepAlive: -1})
	genuine := p.packet(false, ping) // replayed below as garbage
	start := time.Now()
	p.send(genuine)
	p.roundTrip(p.ackFrame()) // the last authentic packets
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	sent := 0
	for {
		select {
		case <-p.sess.Done():
			elapsed := time.Since(start)
			var se *dataplane.SessionError
			if err := p.sess.Err(); !errors.As(err, &se) || se.Code != dataplane.CodeIdleTimeout || !se.Timeout() {
				t.Fatalf("Session.Err() = %v, want an idle timeout", err)
			}
			t.Logf("closed after %v; %d garbage datagrams; drops %+v", elapsed, sent, p.sess.Stats())
			// The deadline is the last authentic packet + idle; allow
			// generous scheduling slack above it, none below.
			if elapsed < idle || elapsed > idle+time.Second {
				t.Fatalf("idle timeout after %v, want %v (+ slack)", elapsed, idle)
			}
			if p.sess.Stats().DropsAuth == 0 || p.sess.Stats().DropsReplay == 0 {
				t.Fatalf("the garbage was not seen: %+v", p.sess.Stats())
			}
			return
		case <-tick.C:
			short := p.forged(false)[:wire.HeaderLen+3]
			p.send(p.forged(false), p.forged(true), genuine, short)
			sent += 4
		case <-time.After(waitFor):
			t.Fatalf("no idle timeout after %v of garbage", waitFor)
		}
	}
}

// TestCloseRepeatedWhilePeerSilent: a session closed locally sends CLOSE,
// then twice more during its linger although the peer (silent: every
// CLOSE might have been lost) sends nothing, and then ends.
func TestCloseRepeatedWhilePeerSilent(t *testing.T) {
	p := newScriptedPeer(t, dataplane.Config{})
	p.sess.CloseWithError(42, "bye")
	p.waitUntil("three CLOSE frames", func() bool { return len(p.closes) >= 3 })
	select {
	case <-p.sess.Done():
	case <-time.After(waitFor):
		t.Fatal("session still lingering")
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.closes) != 3 {
		t.Fatalf("%d CLOSE frames, want 3 (one, then two repeats)", len(p.closes))
	}
	for _, c := range p.closes {
		if c.Code != 42 || string(c.Reason) != "bye" {
			t.Fatalf("CLOSE %d %q, want 42 \"bye\"", c.Code, c.Reason)
		}
	}
}

// ackExcept acknowledges every engine packet received so far but pn.
func (p *scriptedPeer) ackExcept(pn uint64) []byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	var a wire.AckFrame
	for _, r := range p.got { // descending
		parts := []ackRange{r}
		if pn >= r.lo && pn <= r.hi {
			parts = parts[:0]
			if pn < r.hi {
				parts = append(parts, ackRange{pn + 1, r.hi})
			}
			if pn > r.lo {
				parts = append(parts, ackRange{r.lo, pn - 1})
			}
		}
		for _, q := range parts {
			if a.AppendRange(q.lo, q.hi) != nil {
				return a.AppendTo(nil)
			}
		}
	}
	return a.AppendTo(nil)
}

// engineConn returns the engine's end of the in-memory pair.
func (p *scriptedPeer) engineConn() *batchtest.Conn { return p.engConn }

// readFull reads len(buf) bytes from st.
func readFull(st *dataplane.Stream, buf []byte) (int, error) {
	n := 0
	for n < len(buf) {
		k, err := st.Read(buf[n:])
		n += k
		if err != nil {
			return n, err
		}
	}
	return n, nil
}
