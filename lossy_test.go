package stt_test

// Integration tests over a bad network (issue 5, "Tests"; issue 4's loss
// and rotation cases): node A dials node B through internal/lossy, a UDP
// proxy on 127.0.0.1 that drops, delays (reorders), duplicates, corrupts
// and cuts traffic. Each test proves a property end to end and logs the
// transport's recovery counters. goleak (TestMain in node_test.go) checks
// that every goroutine stops.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stt-go/stt"
	"github.com/stt-go/stt/internal/lossy"
)

// faults is a switchable fault model for the proxy: nothing happens until
// on is set, so a test can establish its session on a clean path first.
type faults struct {
	on                 atomic.Bool
	loss, dup, reorder float64       // probabilities per datagram, each direction
	delayLo, delayHi   time.Duration // reordering delay range
	corrupt            float64       // probability of one flipped bit in a TRANSPORT packet's ciphertext
	transportOnly      bool          // spare HANDSHAKE packets
	// maxBurst, when positive, caps consecutive drops per direction: the
	// next datagram after maxBurst drops always passes. It bounds the
	// retries a random loss pattern can demand, so tests whose retry timers
	// back off exponentially finish in bounded time by construction.
	maxBurst int
	burst    [2]atomic.Int32 // consecutive drops so far, per lossy.Dir
}

func (f *faults) drop(dir lossy.Dir, pkt []byte) bool {
	if f.loss == 0 || !f.applies(pkt) {
		return false
	}
	b := &f.burst[dir&1]
	if f.maxBurst > 0 && int(b.Load()) >= f.maxBurst {
		b.Store(0)
		return false
	}
	if rand.Float64() < f.loss {
		b.Add(1)
		return true
	}
	b.Store(0)
	return false
}

func (f *faults) applies(pkt []byte) bool {
	if !f.on.Load() {
		return false
	}
	if f.transportOnly {
		_, ok := lossy.TransportPayload(pkt)
		return ok
	}
	return true
}

func (f *faults) config() *lossy.Config {
	return &lossy.Config{
		Drop: f.drop,
		Duplicate: func(_ lossy.Dir, pkt []byte) bool {
			return f.dup > 0 && f.applies(pkt) && rand.Float64() < f.dup
		},
		Delay: func(_ lossy.Dir, pkt []byte) time.Duration {
			if f.reorder == 0 || !f.applies(pkt) || rand.Float64() >= f.reorder {
				return 0
			}
			return f.delayLo + rand.N(f.delayHi-f.delayLo+1)
		},
		Corrupt: func(_ lossy.Dir, pkt []byte) bool {
			off, ok := lossy.TransportPayload(pkt)
			if f.corrupt == 0 || !f.applies(pkt) || !ok || rand.Float64() >= f.corrupt {
				return false
			}
			// Flip a bit after the header: the ciphertext or the tag, so the
			// packet still reaches its session and must fail to open.
			return lossy.FlipBit(pkt, off*8+rand.N((len(pkt)-off)*8))
		},
	}
}

// lossyPair is two running nodes, A dialling B through a lossy proxy.
type lossyPair struct {
	a, b   *stt.Node
	sa, sb *stt.Session
	proxy  *lossy.Proxy
}

// newLossyPair starts nodes A and B on 127.0.0.1, puts a proxy with f's
// fault model in front of B and connects A to B through it. Faults are on
// during the handshake only if f.on is already set.
func newLossyPair(tb testing.TB, f *faults, cfg func(*stt.Config)) *lossyPair {
	tb.Helper()
	// Longer than any test's HandshakeTimeout: Connect ends on its own.
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	defer cancel()
	p := &lossyPair{a: startNode(tb, ctx, 1, cfg), b: startNode(tb, ctx, 2, cfg)}
	proxy, err := lossy.New(p.b.Addr(), f.config())
	if err != nil {
		tb.Fatal(err)
	}
	// Registered after the nodes' cleanups, so it runs first: the network
	// heals, both nodes stop gracefully through it (their own cleanups
	// then find them stopped), and only then the proxy closes.
	tb.Cleanup(func() {
		f.on.Store(false)
		proxy.SetOutage(false)
		var wg sync.WaitGroup
		for _, n := range []*stt.Node{p.a, p.b} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				sctx, c := context.WithTimeout(context.Background(), 5*time.Second)
				defer c()
				_ = n.Stop(sctx)
			}()
		}
		wg.Wait()
		_ = proxy.Close()
	})
	p.proxy = proxy
	accepted := make(chan *stt.Session, 1)
	go func() {
		defer close(accepted)
		if s, err := p.b.Accept(ctx); err == nil {
			accepted <- s
		}
	}()
	p.sa, err = p.a.Connect(ctx, proxy.Addr().String())
	if err != nil {
		tb.Fatalf("Connect through the proxy: %v\ndialler: %+v\nresponder: %+v\nproxy to B: %+v\nproxy to A: %+v",
			err, p.a.Stats().Handshake, p.b.Stats().Handshake, proxy.Stats(lossy.ToTarget), proxy.Stats(lossy.ToClient))
	}
	p.sb = <-accepted
	if p.sb == nil {
		tb.Fatal("Accept failed")
	}
	return p
}

// logStats reports what the network did and how the transport coped.
func (p *lossyPair) logStats(tb testing.TB, elapsed time.Duration) {
	tb.Helper()
	for _, d := range []lossy.Dir{lossy.ToTarget, lossy.ToClient} {
		tb.Logf("proxy %v: %+v", d, p.proxy.Stats(d))
	}
	for name, s := range map[string]*stt.Session{"A": p.sa, "B": p.sb} {
		st := s.Stats()
		tb.Logf("%s: sent %d pkts, lost %d (spurious %d), retransmitted(PTO) %d, received %d, rotations %d/%d, drops auth %d replay %d malformed %d gaps %d, srtt %v, cwnd %d",
			name, st.PacketsSent, st.PacketsLost, st.PacketsSpuriouslyLost, st.PacketsRetransmitted, st.PacketsReceived,
			st.KeyRotationsSent, st.KeyRotationsReceived, st.DropsAuth, st.DropsReplay, st.DropsMalformed, st.DropsGaps,
			st.SmoothedRTT, st.CongestionWindow)
	}
	tb.Logf("elapsed %v", elapsed)
}

// watchdog closes both sessions when ctx ends so that blocked Reads and
// Writes return and the test fails instead of hanging.
func (p *lossyPair) watchdog(ctx context.Context) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		select {
		case <-ctx.Done():
			p.sa.CloseWithError(stt.CodeInternal, "test timeout")
			p.sb.CloseWithError(stt.CodeInternal, "test timeout")
		case <-done:
		}
	}()
	return func() { close(done); wg.Wait() }
}

// streamSource is size deterministic pseudo-random bytes for stream i.
func streamSource(i, size int) io.Reader {
	return io.LimitReader(rand.NewChaCha8([32]byte{byte(i), 0x5A}), int64(size))
}

// transfer sends one stream of size bytes per entry of sizes from A to B,
// all at once, and checks that each arrives byte-exact and in order
// (SHA-256 of everything read up to io.EOF against SHA-256 of what was
// written). progress, if non-nil, counts bytes the sender has written
// into its streams (the sender's progress: a reader can lag it by the
// whole session window, 24 MiB by default).
func transfer(ctx context.Context, t *testing.T, p *lossyPair, sizes []int, progress *atomic.Int64) {
	t.Helper()
	type result struct {
		id  stt.StreamID
		sum [32]byte
		n   int64
		err error
	}
	sent := make(chan result, len(sizes))
	for i, size := range sizes {
		st, err := p.sa.OpenStream(ctx)
		if err != nil {
			t.Fatalf("OpenStream %d: %v", i, err)
		}
		go func() {
			h := sha256.New()
			n, err := io.Copy(countingWriter{st, progress}, io.TeeReader(streamSource(i, size), h))
			if err == nil {
				err = st.CloseWrite()
			}
			sent <- result{st.ID(), [32]byte(h.Sum(nil)), n, err}
		}()
	}
	recvd := make(chan result, len(sizes))
	for range sizes {
		rs, err := p.sb.AcceptStream(ctx)
		if err != nil {
			t.Fatalf("AcceptStream: %v", err)
		}
		go func() {
			h := sha256.New()
			n, err := io.Copy(h, rs)
			recvd <- result{rs.ID(), [32]byte(h.Sum(nil)), n, err}
		}()
	}
	want := map[stt.StreamID]result{}
	for range sizes {
		r := <-sent
		if r.err != nil {
			t.Errorf("stream %d: write: %v after %d bytes", r.id, r.err, r.n)
		}
		want[r.id] = r
	}
	for range sizes {
		r := <-recvd
		w := want[r.id]
		switch {
		case r.err != nil:
			t.Errorf("stream %d: read: %v after %d of %d bytes", r.id, r.err, r.n, w.n)
		case r.n != w.n || r.sum != w.sum:
			t.Errorf("stream %d: read %d bytes (sha256 %x), wrote %d (sha256 %x)", r.id, r.n, r.sum[:8], w.n, w.sum[:8])
		}
	}
}

type countingWriter struct {
	w io.Writer
	n *atomic.Int64
}

func (w countingWriter) Write(p []byte) (int, error) {
	n, err := w.w.Write(p)
	if w.n != nil {
		w.n.Add(int64(n))
	}
	return n, err
}

// TestLossyBulk: three concurrent 16 MiB streams through 5% loss, 5%
// duplication and 10% reordering (1-5 ms) in both directions, plus one 2 s
// total outage in the middle, arrive byte-exact and in order.
func TestLossyBulk(t *testing.T) {
	size := 16 << 20
	if testing.Short() {
		size = 2 << 20
	}
	f := &faults{loss: 0.05, dup: 0.05, reorder: 0.10, delayLo: time.Millisecond, delayHi: 5 * time.Millisecond}
	p := newLossyPair(t, f, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	defer p.watchdog(ctx)()
	f.on.Store(true)

	var progress atomic.Int64
	total := int64(3 * size)
	outage := make(chan time.Duration, 1)
	octx, stopOutage := context.WithCancel(ctx)
	defer stopOutage()
	go func() {
		// The outage starts once the sender has written half the data.
		for progress.Load() < total/2 {
			select {
			case <-octx.Done():
				outage <- 0
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
		start := time.Now()
		p.proxy.SetOutage(true)
		select {
		case <-time.After(2 * time.Second):
		case <-octx.Done():
		}
		p.proxy.SetOutage(false)
		outage <- time.Since(start)
	}()
	start := time.Now()
	transfer(ctx, t, p, []int{size, size, size}, &progress)
	elapsed := time.Since(start)
	stopOutage() // a failed transfer must not wait for progress that never comes
	if d := <-outage; d < 2*time.Second {
		t.Errorf("the 2 s outage did not happen in full (%v)", d)
	}
	p.logStats(t, elapsed)
	if st := p.proxy.Stats(lossy.ToTarget); st.Dropped == 0 || st.Duplicated == 0 || st.Delayed == 0 {
		t.Errorf("the proxy did not apply every fault: %+v", st)
	}
	// The outage must have cut traffic, but not necessarily the sender's:
	// a sender blocked by flow control with everything acknowledged (the
	// reader lags by up to the 24 MiB session window) sends nothing while
	// the receiver's window updates are the ones lost.
	if to, from := p.proxy.Stats(lossy.ToTarget), p.proxy.Stats(lossy.ToClient); to.Outage+from.Outage == 0 {
		t.Errorf("the outage discarded nothing in either direction")
	}
	if st := p.sa.Stats(); st.PacketsLost == 0 {
		t.Errorf("sender declared no packet lost at 5%% loss: %+v", st)
	}
	if err := p.sa.Err(); err != nil {
		t.Fatalf("session closed: %v", err)
	}
}

// TestLossyMessages: messages keep their boundaries and order under loss,
// duplication and reordering, on several streams at once.
func TestLossyMessages(t *testing.T) {
	f := &faults{loss: 0.05, dup: 0.05, reorder: 0.10, delayLo: time.Millisecond, delayHi: 5 * time.Millisecond}
	p := newLossyPair(t, f, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	defer p.watchdog(ctx)()
	f.on.Store(true)

	const streams, n = 3, 1500
	// msg is message i of stream s: its size spans empty, tiny, one packet
	// and several packets, and every byte encodes (s, i, position).
	msg := func(s, i int) []byte {
		size := []int{0, 1, 17, 700, 1400, 1500, 4000, 9000}[i%8] + i%5
		b := make([]byte, size)
		for j := range b {
			b[j] = byte(s*31 + i*7 + j)
		}
		return b
	}
	var wg sync.WaitGroup
	for s := range streams {
		st, err := p.sa.OpenStream(ctx)
		if err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			// The first message names the sender's index so the receiver
			// knows which sequence to expect.
			if err := st.SendMessage(ctx, []byte{byte(s)}); err != nil {
				t.Errorf("stream %d: SendMessage: %v", s, err)
				return
			}
			for i := range n {
				if err := st.SendMessage(ctx, msg(s, i)); err != nil {
					t.Errorf("stream %d: SendMessage %d: %v", s, i, err)
					return
				}
			}
			if err := st.CloseWrite(); err != nil {
				t.Errorf("stream %d: CloseWrite: %v", s, err)
			}
		}()
	}
	for range streams {
		rs, err := p.sb.AcceptStream(ctx)
		if err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			first, err := rs.ReceiveMessage(ctx)
			if err != nil || len(first) != 1 {
				t.Errorf("stream %d: first message %x, %v", rs.ID(), first, err)
				return
			}
			s := int(first[0])
			for i := range n {
				got, err := rs.ReceiveMessage(ctx)
				if err != nil {
					t.Errorf("stream %d: ReceiveMessage %d: %v", s, i, err)
					return
				}
				if want := msg(s, i); !bytes.Equal(got, want) {
					t.Errorf("stream %d: message %d: got %d bytes, want %d (boundary or content lost)", s, i, len(got), len(want))
					return
				}
			}
			if _, err := rs.ReceiveMessage(ctx); err != io.EOF {
				t.Errorf("stream %d: after the last message: %v, want io.EOF", s, err)
			}
		}()
	}
	wg.Wait()
	if got := p.sb.Stats().MessagesReceived; got != streams*(n+1) {
		t.Errorf("MessagesReceived = %d, want %d", got, streams*(n+1))
	}
	p.logStats(t, 0)
}

// TestLossyCloseLosesNothing: data written, then CloseWrite and a graceful
// Session.Close, is all readable by the peer followed by io.EOF, even when
// the reader only starts after the peer's session has ended and the network
// lost packets along the way. Session.Close returns only once the peer has
// acknowledged every byte and the FIN, so nothing acknowledged may be
// discarded. The peer's session ends by the CLOSE, or, when the loss took
// the CLOSE itself (CLOSE is answered, not retransmitted), by its idle
// timeout, kept short here so that case costs 3 s, not 30.
func TestLossyCloseLosesNothing(t *testing.T) {
	for _, tc := range []struct {
		name       string
		size       int
		readBefore bool // read concurrently instead of after the peer closed
	}{
		{"read after close", 200 << 10, false},
		{"read during close", 3 << 20, true},
		{"empty", 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &faults{loss: 0.05, dup: 0.05, reorder: 0.10, delayLo: time.Millisecond, delayHi: 5 * time.Millisecond}
			p := newLossyPair(t, f, func(c *stt.Config) {
				c.IdleTimeout = 3 * time.Second
				c.KeepAlive = 300 * time.Millisecond
			})
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			f.on.Store(true)

			st, err := p.sa.OpenStream(ctx)
			if err != nil {
				t.Fatal(err)
			}
			data := make([]byte, tc.size)
			_, _ = io.ReadFull(streamSource(7, tc.size), data)
			type readResult struct {
				got []byte
				err error
			}
			read := make(chan readResult, 1)
			startRead := func() {
				rs, err := p.sb.AcceptStream(ctx)
				if err != nil {
					read <- readResult{nil, fmt.Errorf("AcceptStream: %w", err)}
					return
				}
				got, err := io.ReadAll(rs)
				read <- readResult{got, err}
			}
			if tc.readBefore {
				go startRead()
			}
			if _, err := st.Write(data); err != nil {
				t.Fatal(err)
			}
			if err := st.CloseWrite(); err != nil {
				t.Fatal(err)
			}
			cctx, ccancel := context.WithTimeout(ctx, 20*time.Second)
			defer ccancel()
			if err := p.sa.CloseContext(cctx); err != nil {
				t.Fatal(err)
			}
			if cctx.Err() != nil {
				t.Fatal("Session.Close did not drain within 20 s")
			}
			var se *stt.SessionError
			if err := p.sa.Err(); !errors.As(err, &se) || se.Code != stt.CodeNoError || se.Remote {
				t.Fatalf("closing side: Err() = %v, want a local SessionError with CodeNoError", err)
			}
			select {
			case <-p.sb.Done():
			case <-ctx.Done():
				t.Fatal("peer session never ended")
			}
			switch err := p.sb.Err(); {
			case errors.As(err, &se) && se.Code == stt.CodeNoError && se.Remote:
			case errors.As(err, &se) && se.Timeout():
				t.Logf("the CLOSE was lost; the peer timed out: %v", err)
			default:
				t.Fatalf("peer: Err() = %v, want the remote CLOSE or an idle timeout", err)
			}
			if !tc.readBefore {
				go startRead()
			}
			r := <-read
			if r.err != nil {
				t.Fatalf("reader: %v after %d of %d bytes", r.err, len(r.got), len(data))
			}
			if !bytes.Equal(r.got, data) {
				t.Fatalf("reader got %d bytes, want %d byte-exact", len(r.got), len(data))
			}
		})
	}
}

// TestLossyCorrupt: packets with flipped bits fail to open, are counted in
// DropsAuth, and the session carries on (Invariant 1) and delivers
// byte-exact data.
func TestLossyCorrupt(t *testing.T) {
	f := &faults{corrupt: 0.05}
	p := newLossyPair(t, f, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	defer p.watchdog(ctx)()
	f.on.Store(true)

	// 2 MiB cross in ~100 packets once the path MTU reaches 65 000, so at
	// 5% a transfer corrupts nothing about once in 200 (seen in a -race
	// -shuffle run): repeat until a few packets were corrupted.
	corrupted := uint64(0)
	for i := 0; corrupted < 5; i++ {
		if i == 20 {
			t.Fatalf("the proxy corrupted %d packets in %d transfers of 2 MiB", corrupted, i)
		}
		transfer(ctx, t, p, []int{2 << 20}, nil)
		corrupted = p.proxy.Stats(lossy.ToTarget).Corrupted + p.proxy.Stats(lossy.ToClient).Corrupted
	}
	p.logStats(t, 0)
	drops := p.sa.Stats().DropsAuth + p.sb.Stats().DropsAuth
	// Every corrupted packet that reached a session failed to open; a few
	// may still sit in flight or arrive after their session moved on, so
	// the counts agree up to the packets in flight.
	if drops == 0 || drops > corrupted {
		t.Fatalf("DropsAuth %d for %d corrupted packets", drops, corrupted)
	}
	for _, s := range []*stt.Session{p.sa, p.sb} {
		if err := s.Err(); err != nil {
			t.Fatalf("session closed by corruption: %v", err)
		}
	}
	// Still alive: a round trip after the corruption stops.
	f.on.Store(false)
	transfer(ctx, t, p, []int{64 << 10}, nil)
}

// TestLossyHandshake: Connect succeeds through 1/3 random loss in both
// directions, every handshake message and the first transport packets
// included: the control plane retransmits HELLO and AUTH_PROOF, the data
// plane FINAL. Drops are capped at 2 in a row per direction, so at most 9
// HELLOs and 3 AUTH_PROOFs are needed: with their backoff (0.5 s doubling
// to 4 s) that bounds a handshake near 30 s by construction, under the
// 40 s HandshakeTimeout, instead of by luck (the loss rate stays near
// 0.3; typical handshakes take 0-4 s).
func TestLossyHandshake(t *testing.T) {
	const tries = 2
	f := &faults{loss: 1.0 / 3, maxBurst: 2}
	f.on.Store(true)
	start := time.Now()
	for i := range tries {
		t0 := time.Now()
		p := newLossyPair(t, f, func(c *stt.Config) { c.HandshakeTimeout = 40 * time.Second })
		if p.sa.ID() != p.sb.ID() {
			t.Fatalf("try %d: session IDs differ", i)
		}
		hs := p.a.Stats().Handshake
		t.Logf("try %d: connected in %v, %d retransmissions; proxy dropped %d of %d to B, %d of %d to A", i, time.Since(t0), hs.Retransmits,
			p.proxy.Stats(lossy.ToTarget).Dropped, p.proxy.Stats(lossy.ToTarget).Received,
			p.proxy.Stats(lossy.ToClient).Dropped, p.proxy.Stats(lossy.ToClient).Received)
		// The session works through the same loss.
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		transfer(ctx, t, p, []int{32 << 10}, nil)
		cancel()
	}
	t.Logf("%d handshakes through 1/3 loss in %v", tries, time.Since(start))
}

// TestLossyKeyRotation: with a key-update threshold of 1 and of 50 packets,
// 10% reordering (1-5 ms) and 5% duplication, data stays byte-exact across
// many rotations: reordered packets under the previous key still open,
// duplicates are dropped as replays, and no packet is lost to a key
// switch (no failed opens at all). Updates are spaced by 3 PTOs after the
// previous one is acknowledged (RFC 9001 §6.5), so the stream runs until
// the wanted number of rotations happened.
func TestLossyKeyRotation(t *testing.T) {
	const rotations = 8
	for _, tc := range []struct {
		name   string
		rotate uint64
	}{
		{"every packet", 1},
		{"every 50 packets", 50},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &faults{dup: 0.05, reorder: 0.10, delayLo: time.Millisecond, delayHi: 5 * time.Millisecond}
			p := newLossyPair(t, f, func(c *stt.Config) { c.RotateMessages = tc.rotate })
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			defer p.watchdog(ctx)()
			f.on.Store(true)
			start := time.Now()

			st, err := p.sa.OpenStream(ctx)
			if err != nil {
				t.Fatal(err)
			}
			type result struct {
				sum [32]byte
				n   int64
				err error
			}
			sent := make(chan result, 1)
			go func() {
				// Write until enough rotations happened, then end the stream.
				h := sha256.New()
				src := rand.NewChaCha8([32]byte{9})
				chunk := make([]byte, 64<<10)
				var n int64
				var err error
				for p.sa.Stats().KeyRotationsSent < rotations && ctx.Err() == nil {
					_, _ = src.Read(chunk)
					h.Write(chunk)
					var k int
					k, err = st.Write(chunk)
					n += int64(k)
					if err != nil {
						break
					}
				}
				if err == nil {
					err = st.CloseWrite()
				}
				sent <- result{[32]byte(h.Sum(nil)), n, err}
			}()
			rs, err := p.sb.AcceptStream(ctx)
			if err != nil {
				t.Fatal(err)
			}
			h := sha256.New()
			n, err := io.Copy(h, rs)
			if err != nil {
				t.Fatalf("read: %v after %d bytes", err, n)
			}
			w := <-sent
			if w.err != nil {
				t.Fatalf("write: %v", w.err)
			}
			if n != w.n || [32]byte(h.Sum(nil)) != w.sum {
				t.Fatalf("read %d bytes, wrote %d: not byte-exact", n, w.n)
			}
			p.logStats(t, time.Since(start))
			sa, sb := p.sa.Stats(), p.sb.Stats()
			if sa.KeyRotationsSent < rotations || sb.KeyRotationsReceived < rotations {
				t.Errorf("rotations: A sent %d, B followed %d; want %d", sa.KeyRotationsSent, sb.KeyRotationsReceived, rotations)
			}
			if sa.DropsAuth+sb.DropsAuth != 0 {
				t.Errorf("packets failed to open across key updates: A %d, B %d", sa.DropsAuth, sb.DropsAuth)
			}
			if sb.DropsReplay == 0 {
				t.Errorf("no duplicate was dropped as a replay at 5%% duplication")
			}
		})
	}
}

// TestPeerMaxDatagram checks that each side sends datagrams no larger than
// the peer advertised (its MaxDatagram transport parameter), even when its
// own limit is larger: B allows 1280 bytes, A 1452; 1 MiB goes each way and
// the proxy between them measures every TRANSPORT datagram.
func TestPeerMaxDatagram(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	a := startNode(t, ctx, 1, nil)
	b := startNode(t, ctx, 2, func(c *stt.Config) { c.MaxDatagram = 1280 })
	var largest [2]atomic.Int64
	proxy, err := lossy.New(b.Addr(), &lossy.Config{Drop: func(dir lossy.Dir, pkt []byte) bool {
		if len(pkt) > 1 && pkt[1]&0x7f == 2 { // TRANSPORT
			for {
				cur := largest[dir].Load()
				if int64(len(pkt)) <= cur || largest[dir].CompareAndSwap(cur, int64(len(pkt))) {
					break
				}
			}
		}
		return false
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		sctx, c := context.WithTimeout(context.Background(), 5*time.Second)
		defer c()
		_ = a.Stop(sctx)
		_ = b.Stop(sctx)
		_ = proxy.Close()
	})
	accepted := make(chan *stt.Session, 1)
	go func() {
		defer close(accepted)
		if s, err := b.Accept(ctx); err == nil {
			accepted <- s
		}
	}()
	sa, err := a.Connect(ctx, proxy.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	sb := <-accepted
	if sb == nil {
		t.Fatal("Accept failed")
	}
	data := bytes.Repeat([]byte("0123456789abcdef"), 1<<16)
	echo := func(from, to *stt.Session) {
		st, err := from.OpenStream(ctx)
		if err != nil {
			t.Fatal(err)
		}
		go func() { _, _ = st.Write(data); _ = st.CloseWrite() }()
		rs, err := to.AcceptStream(ctx)
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(rs)
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("got %d bytes, %v", len(got), err)
		}
	}
	echo(sa, sb)
	echo(sb, sa)
	if l := largest[lossy.ToTarget].Load(); l > 1280 || l < 1200 {
		t.Errorf("A sent datagrams up to %d bytes to B, which allows 1280", l)
	}
	if l := largest[lossy.ToClient].Load(); l > 1280 || l < 1200 {
		t.Errorf("B sent datagrams up to %d bytes (its own limit is 1280)", l)
	}
}

// keepSending opens a stream from p.sa that writes until it fails, drains
// it on p.sb, and returns once data has flowed for 100 ms.
func keepSending(t *testing.T, ctx context.Context, p *lossyPair) {
	t.Helper()
	st, err := p.sa.OpenStream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		buf := make([]byte, 64<<10)
		for {
			if _, err := st.Write(buf); err != nil {
				return
			}
		}
	}()
	go func() {
		if rs, err := p.sb.AcceptStream(ctx); err == nil {
			_, _ = io.Copy(io.Discard, rs)
		}
	}()
	time.Sleep(100 * time.Millisecond)
}

// TestDeadPeerNoticed: the peer vanishes mid-transfer (a total outage, as a
// crashed host or a pulled cable): with data in flight and nothing
// acknowledged for Config.MaxProbes probe timeouts the session ends with
// CodeUnresponsive, in seconds, long before the 30 s idle timeout (issue
// 17, item 9).
func TestDeadPeerNoticed(t *testing.T) {
	f := &faults{}
	p := newLossyPair(t, f, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	keepSending(t, ctx, p)
	p.proxy.SetOutage(true)
	start := time.Now()
	select {
	case <-p.sa.Done():
	case <-ctx.Done():
		t.Fatal("the sender did not notice a dead peer within 30 s")
	}
	var se *stt.SessionError
	if err := p.sa.Err(); !errors.As(err, &se) || se.Code != stt.CodeUnresponsive || se.Remote {
		t.Fatalf("Err() = %v; want a local *SessionError with CodeUnresponsive", err)
	}
	t.Logf("dead peer noticed after %v: %v", time.Since(start), p.sa.Err())
}

// TestRestartedPeerResets: the listener restarts (same node seed, same
// port) and has forgotten the session; the sender's next packets reach it
// and it answers with a stateless reset, which ends the sender's session at
// once with CodeStatelessReset instead of after its probe timeouts or the
// idle timeout (issue 17, item 9).
func TestRestartedPeerResets(t *testing.T) {
	f := &faults{}
	p := newLossyPair(t, f, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	keepSending(t, ctx, p)
	// The listener dies: its CLOSE never reaches the sender.
	addr := p.b.Addr()
	p.proxy.SetOutage(true)
	sctx, scancel := context.WithTimeout(ctx, 100*time.Millisecond)
	_ = p.b.Stop(sctx)
	scancel()
	b2, err := stt.NewNode(stt.Config{NodeSeed: seed(2), SharedSeed: seed(0xAA), ListenAddr: addr.String()})
	if err != nil {
		t.Fatal(err)
	}
	if err := b2.Start(ctx); err != nil {
		t.Fatalf("restart on %v: %v", addr, err)
	}
	t.Cleanup(func() { _ = b2.Stop(context.Background()) })
	start := time.Now()
	p.proxy.SetOutage(false)
	select {
	case <-p.sa.Done():
	case <-ctx.Done():
		t.Fatal("the sender's session outlived the restart")
	}
	var se *stt.SessionError
	if err := p.sa.Err(); !errors.As(err, &se) || se.Code != stt.CodeStatelessReset || !se.Remote {
		t.Fatalf("Err() = %v; want a remote *SessionError with CodeStatelessReset\nrestarted node: %+v\nproxy to it: %+v",
			err, b2.Stats().Dataplane, p.proxy.Stats(lossy.ToTarget))
	}
	if b2.Stats().Dataplane.StatelessResets == 0 {
		t.Error("the restarted node counts no stateless reset sent")
	}
	t.Logf("restarted peer noticed %v after the path healed: %v", time.Since(start), p.sa.Err())
}
