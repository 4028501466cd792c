package control

import (
	"context"
	"crypto/ecdh"
	"crypto/rand"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stt-go/stt/internal/lossy"
	"github.com/stt-go/stt/stc"
	"github.com/stt-go/stt/wire"
)

// insider builds genuine HELLOs: sealed with the shared seed the pair uses,
// claiming the insider's own node ID, each with a fresh ephemeral, nonce
// and handshake ID. The ephemeral public key is 32 random bytes: the
// responder cannot tell (any 32 bytes are an X25519 point it will use),
// and it keeps the attacker's cost to one AEAD seal.
type insider struct {
	p *Plane
}

// newInsider starts a Plane holding the pair's shared seed (100) with node
// seed 3, on no address, for building HELLOs.
func newInsider(tb testing.TB) *insider {
	tb.Helper()
	p, err := NewPlane(testConfig(tb, 3, 100, false), newFakeNet().add(netip.MustParseAddrPort("127.0.0.3:3"), 1))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { p.Close() })
	return &insider{p: p}
}

// hello returns a fresh genuine HELLO stamped now.
func (in *insider) hello(now time.Time) []byte { return in.helloCookie(now, nil) }

// helloCookie is hello carrying cookie (nil: none).
func (in *insider) helloCookie(now time.Time, cookie []byte) []byte {
	d := &dial{to: addrB}
	d.id = randomID()
	_, _ = rand.Read(d.e.pub[:])
	_, _ = rand.Read(d.nonce[:])
	for i, s := range in.p.cfg.Suites {
		d.suites[i] = byte(s)
	}
	in.p.buildHello(d, cookie, now)
	return append([]byte(nil), d.hello[:d.nHello]...)
}

// delayNet makes the fake network deliver every datagram between A and B
// after oneWay (RTT 2*oneWay), and drop datagrams to any other address.
func delayNet(p *pair, oneWay time.Duration) {
	p.net.filter = func(_, to netip.AddrPort, b []byte) []byte {
		var dst *Plane
		switch to {
		case addrA:
			dst = p.a
		case addrB:
			dst = p.b
		default:
			return nil
		}
		from := addrB
		if dst == p.b {
			from = addrA
		}
		time.AfterFunc(oneWay, func() { dst.HandlePacket(b, from) })
		return nil
	}
}

// TestAuthProofMeetsNoState: the responder loses its half-open state before
// the initiator's AUTH_PROOF arrives (evicted, say). The responder answers
// nothing; the initiator must start over with a fresh HELLO within its
// timeout instead of resending the same AUTH_PROOF until it expires.
func TestAuthProofMeetsNoState(t *testing.T) {
	for _, hybrid := range []bool{false, true} {
		t.Run(map[bool]string{false: "x25519", true: "hybrid"}[hybrid], func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				p := newPair(t, hybrid, nil)
				lost := 0
				p.net.filter = func(from, _ netip.AddrPort, b []byte) []byte {
					if from == addrA && b[wire.HandshakeTypeOffset] == byte(wire.HandshakeAuthProof) && lost == 0 {
						lost++
						p.b.mu.Lock()
						for e := p.b.mu.order.Front(); e != nil; e = p.b.mu.order.Front() {
							p.b.removeHalfOpenLocked(e)
						}
						p.b.mu.Unlock()
					}
					return b
				}
				start := time.Now()
				ei, err := p.dialB(t)
				if err != nil {
					t.Fatalf("dial after the responder lost its state: %v", err)
				}
				checkEstablished(t, p, ei)
				if d := time.Since(start); d >= DefaultHandshakeTimeout/2 {
					t.Errorf("took %v to recover", d)
				}
				synctest.Wait()
				if p.dpA.count() != 1 || p.dpB.count() != 1 {
					t.Errorf("sessions %d/%d, want 1/1 (the abandoned one removed)", p.dpA.count(), p.dpB.count())
				}
				if a, b := p.a.Stats(), p.b.Stats(); a.Restarts != 1 || b.NoStateProofs == 0 {
					t.Errorf("Restarts %d (want 1), responder NoStateProofs %d (want > 0)", a.Restarts, b.NoStateProofs)
				}
			})
		})
	}
}

// TestInsiderHelloFlood is issue 15's "done when": under 2k genuine HELLOs/s
// from the victim's IP (sealed with the shared seed by an insider, source
// spoofed: the attacker never sees the replies), the victim's dial at
// 100 ms RTT completes within its timeout, and the flood costs the
// responder no DH once the victim's IP is at its half-open cap.
func TestInsiderHelloFlood(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newPair(t, true, nil)
		in := newInsider(t)
		delayNet(p, 50*time.Millisecond)
		stop := make(chan struct{})
		var wg sync.WaitGroup
		var sent int
		wg.Go(func() {
			tick := time.NewTicker(time.Millisecond)
			defer tick.Stop()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				case <-tick.C:
				}
				for j := range 2 { // 2 per ms: 2000/s
					from := addrA // the victim's own address and other ports of its IP
					if j == 1 {
						from = netip.AddrPortFrom(addrA.Addr(), uint16(20000+i%1000))
					}
					p.b.HandlePacket(in.hello(time.Now()), from)
					sent++
				}
			}
		})
		time.Sleep(100 * time.Millisecond) // the flood fills the victim IP's half-open slots first
		start := time.Now()
		ei, err := p.dialB(t)
		elapsed := time.Since(start)
		close(stop)
		wg.Wait()
		if err != nil {
			t.Fatalf("victim's dial under an insider HELLO flood: %v (after %v, %d flood HELLOs)", err, elapsed, sent)
		}
		checkEstablished(t, p, ei)
		t.Logf("dial completed in %v under %d flood HELLOs; responder %+v", elapsed, sent, p.b.Stats())
		if s := p.b.Stats(); s.CookiesSent == 0 {
			t.Error("no cookie replies: the flood was not made to prove its address")
		}
	})
}

// TestLateFinalAfterRestart: the FINAL is slower than the initiator's
// patience for AUTH_PROOF. The initiator starts over, but the first
// session, which the responder did install, still completes the dial when
// its FINAL arrives; the second is removed.
func TestLateFinalAfterRestart(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newPair(t, false, nil)
		p.dpB.finalDelay = 2 * time.Second // beyond the restart at 1.5 s
		start := time.Now()
		ei, err := p.dialB(t)
		if err != nil {
			t.Fatal(err)
		}
		checkEstablished(t, p, ei)
		if d := time.Since(start); d != p.dpB.finalDelay {
			t.Errorf("completed after %v, want %v (the first FINAL)", d, p.dpB.finalDelay)
		}
		synctest.Wait()
		if p.a.Stats().Restarts != 1 || p.dpA.count() != 1 || p.dpA.session(ei.SessionID) == nil {
			t.Errorf("restarts %d, initiator sessions %d: want 1 restart and only the confirmed session kept",
				p.a.Stats().Restarts, p.dpA.count())
		}
	})
}

// TestInsiderHelloFloodUDP is TestInsiderHelloFlood over real sockets: the
// victim dials through a relay that delays each direction by 50 ms
// (internal/lossy), while an insider sends 2000 genuine HELLOs/s from the
// victim's IP (127.0.0.1) and never reads the replies, as a spoofer cannot.
func TestInsiderHelloFloodUDP(t *testing.T) {
	a, b, _, db := newUDPPair(t, true, false)
	px, err := lossy.New(db.addr(), &lossy.Config{Delay: func(lossy.Dir, []byte) time.Duration { return 50 * time.Millisecond }})
	if err != nil {
		t.Fatal(err)
	}
	defer px.Close()
	in := newInsider(t)
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var sent atomic.Int64
	wg.Go(func() {
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			for range 10 { // 10 per 5 ms: 2000/s
				if _, err := conn.WriteToUDPAddrPort(in.hello(time.Now()), db.addr()); err == nil {
					sent.Add(1)
				}
			}
		}
	})
	time.Sleep(200 * time.Millisecond) // the flood fills 127.0.0.1's half-open slots first
	const timeout = 10 * time.Second
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	start := time.Now()
	est, err := a.Dial(ctx, px.Addr())
	elapsed := time.Since(start)
	close(stop)
	wg.Wait()
	if err != nil {
		t.Fatalf("victim's dial at 100 ms RTT under %d flood HELLOs: %v", sent.Load(), err)
	}
	if est.PeerID != b.cfg.Identity.ID() {
		t.Error("session with the wrong peer")
	}
	t.Logf("dial through a 100 ms RTT relay completed in %v under %d insider HELLOs (%.0f/s); responder %+v",
		elapsed, sent.Load(), float64(sent.Load())/(elapsed+200*time.Millisecond).Seconds(), b.Stats())
}

// TestHalfOpenEvictionNeedsCookie pins the responder's admission rule at a
// cap: a HELLO without a valid cookie gets a COOKIE_REPLY and evicts
// nothing; one with a cookie evicts the oldest entry of its own address
// and port, else the oldest of its IP; the node-wide cap works the same.
func TestHalfOpenEvictionNeedsCookie(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newPair(t, false, func(_, b *Config) { b.MaxHalfOpenPerAddr = 3; b.MaxHalfOpen = 5 })
		in := newInsider(t)
		w := newWorkerScratch()
		ip := netip.MustParseAddr("127.0.0.7")
		port := func(n uint16) netip.AddrPort { return netip.AddrPortFrom(ip, n) }
		send := func(from netip.AddrPort, cookie bool) {
			var c []byte
			if cookie {
				k := p.b.cookie.make(from)
				c = k[:]
			}
			p.b.handleHello(w, in.helloCookie(time.Now(), c), from, time.Now())
		}
		ports := func() (out []uint16) {
			p.b.mu.Lock()
			defer p.b.mu.Unlock()
			for e := p.b.mu.order.Front(); e != nil; e = e.Next() {
				if rs := e.Value.(*respState); rs.from.Addr() == ip {
					out = append(out, rs.from.Port())
				}
			}
			return out
		}
		for _, n := range []uint16{1, 2, 3} {
			send(port(n), false)
		}
		send(port(4), false) // at the per-IP cap without a cookie
		if got, s := ports(), p.b.Stats(); !slices.Equal(got, []uint16{1, 2, 3}) || s.CookieRejects != 1 || s.CookiesSent != 1 || s.HalfOpenEvicted != 0 {
			t.Fatalf("cookieless HELLO at the cap: ports %v, stats %+v", got, s)
		}
		send(port(2), true) // evicts its own address's entry, not the oldest (port 1)
		if got := ports(); !slices.Equal(got, []uint16{1, 3, 2}) {
			t.Fatalf("after a cookie HELLO from port 2: %v, want [1 3 2]", got)
		}
		send(port(9), true) // no entry of its own: the IP's oldest goes
		if got := ports(); !slices.Equal(got, []uint16{3, 2, 9}) {
			t.Fatalf("after a cookie HELLO from port 9: %v, want [3 2 9]", got)
		}
		other := netip.MustParseAddrPort("127.0.0.8:1")
		send(other, false)
		send(netip.MustParseAddrPort("127.0.0.8:2"), false) // 5: the node cap
		send(netip.MustParseAddrPort("127.0.0.9:1"), false) // refused
		if n := halfOpen(p.b); n != 5 || p.b.Stats().CookieRejects != 2 {
			t.Fatalf("node cap: %d half-open, %d cookie rejects", n, p.b.Stats().CookieRejects)
		}
		send(netip.MustParseAddrPort("127.0.0.9:1"), true) // evicts the node's oldest (port 3)
		if got := ports(); halfOpen(p.b) != 5 || !slices.Equal(got, []uint16{2, 9}) {
			t.Fatalf("node cap with a cookie: %d half-open, ports %v", halfOpen(p.b), got)
		}
	})
}

// TestHandshakeFlood floods the responder with every kind of handshake
// garbage at once (genuine insider HELLOs from spoofed addresses, the
// victim's IP among them; forged HELLOs of both sizes; replays of a
// captured HELLO; random RESPONSE, AUTH_PROOF, COOKIE_REPLY and REJECT
// messages; bursts that overflow the queue) while a legitimate dial runs,
// and measures bytes in and out per source address: the responder never
// sends an address more than 3x what it received from it, the dial
// succeeds and the responder's state stays within its caps.
func TestHandshakeFlood(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newPair(t, true, nil)
		captured := captureHello(t, p)
		in := newInsider(t)
		var mu sync.Mutex
		bytesIn := map[netip.AddrPort]int{}
		inject := func(b []byte, from netip.AddrPort) {
			mu.Lock()
			bytesIn[from] += len(b)
			mu.Unlock()
			p.b.HandlePacket(b, from)
		}
		garbage := func(k int) []byte {
			kinds := []struct {
				t wire.HandshakeType
				n int
			}{
				{wire.HandshakeResponse, wire.ResponseLen}, {wire.HandshakeResponse, wire.ResponseHybridLen},
				{wire.HandshakeAuthProof, wire.AuthProofLen}, {wire.HandshakeCookieReply, wire.CookieReplyLen},
				{wire.HandshakeReject, wire.RejectLen},
			}
			g := kinds[k%len(kinds)]
			b := make([]byte, g.n)
			_, _ = rand.Read(b)
			wire.PutHandshakePrefix(b, randomID(), g.t)
			if g.t == wire.HandshakeReject {
				b[wire.RejectReasonOffset] = wire.RejectAuthentication
			}
			return b
		}
		stop := make(chan struct{})
		var wg sync.WaitGroup
		var flood int
		wg.Go(func() {
			tick := time.NewTicker(5 * time.Millisecond)
			defer tick.Stop()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				case <-tick.C:
				}
				for j := range 8 {
					k := i*8 + j
					ip := netip.AddrFrom4([4]byte{127, 1, byte(k % 40), 1})
					if k%5 == 0 {
						ip = addrA.Addr() // the victim's IP
					}
					inject(in.hello(time.Now()), netip.AddrPortFrom(ip, uint16(1000+k%7)))
					inject(forgedHello(k%2 == 0), netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 2, byte(k % 40), 1}), 9))
					inject(captured, netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 3, byte(k % 40), 1}), 9))
					inject(garbage(k), netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 4, byte(k % 40), 1}), 9))
					flood += 4
				}
				if i%40 == 0 { // every 200 ms a burst beyond the queue
					for k := range 1500 {
						inject(forgedHello(false), netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 5, byte(k % 200), 1}), 9))
					}
					flood += 1500
				}
			}
		})
		time.Sleep(50 * time.Millisecond)
		ei, err := p.dialB(t)
		if err != nil {
			t.Fatalf("legitimate dial during the flood: %v", err)
		}
		checkEstablished(t, p, ei)
		time.Sleep(time.Second)
		close(stop)
		wg.Wait()
		synctest.Wait()

		out := map[netip.AddrPort]int{}
		p.net.mu.Lock()
		for _, s := range p.net.sent {
			switch {
			case s.from == addrB:
				out[s.to] += len(s.b)
			case s.from == addrA && s.to == addrB:
				bytesIn[addrA] += len(s.b)
			}
		}
		p.net.mu.Unlock()
		var totalIn, totalOut int
		for _, n := range bytesIn {
			totalIn += n
		}
		for addr, n := range out {
			totalOut += n
			if n > amplificationFactor*bytesIn[addr] {
				t.Errorf("%v: sent %d bytes for %d received (over %dx)", addr, n, bytesIn[addr], amplificationFactor)
			}
		}
		s := p.b.Stats()
		if n := halfOpen(p.b); n > p.b.cfg.MaxHalfOpen {
			t.Errorf("%d half-open, cap %d", n, p.b.cfg.MaxHalfOpen)
		}
		p.b.mu.Lock()
		ledger := len(p.b.mu.ledger)
		p.b.mu.Unlock()
		if ledger > ledgerSize {
			t.Errorf("ledger holds %d entries, cap %d", ledger, ledgerSize)
		}
		if s.SeedMismatch == 0 || s.Replays == 0 || s.CookiesSent == 0 {
			t.Errorf("flood not seen as expected: %+v", s)
		}
		t.Logf("%d flood datagrams, %d B in, %d B out (%.2fx) to %d addresses; responder %+v",
			flood, totalIn, totalOut, float64(totalOut)/float64(totalIn), len(out), s)
	})
}

// forgeResponse is an insider's RESPONSE to hello: it holds the shared
// seed (in's PSK) and its own static key, and claims node ID claim.
func forgeResponse(t *testing.T, in *Plane, hello []byte, claim stc.NodeID) []byte {
	t.Helper()
	h, err := wire.ParseHello(hello)
	if err != nil || h.Hybrid() {
		t.Fatalf("forgeResponse needs a non-hybrid HELLO: %v", err)
	}
	var sym symmetric
	in.psk.start(&sym, h.Header())
	sym.mixHash(h.Ephemeral()) // e
	sym.mixKey(h.Ephemeral())
	if _, err := sym.decryptAndHash(make([]byte, wire.HelloPayloadLen), h.Sealed()); err != nil {
		t.Fatal(err)
	}
	er := newEphemeral()
	ei, err := ecdh.X25519().NewPublicKey(h.Ephemeral())
	if err != nil {
		t.Fatal(err)
	}
	ee, _ := er.priv.ECDH(ei)
	es, _ := in.cfg.Identity.ECDH(ei)
	out := make([]byte, wire.ResponseKEMOffset, wire.ResponseLen)
	wire.PutHandshakePrefix(out, h.ID(), wire.HandshakeResponse)
	copy(out[wire.ResponseEphemeralOffset:], er.pub[:])
	sym.mixHash(er.pub[:]) // e
	sym.mixKey(er.pub[:])
	sym.mixKey(ee) // ee
	spub := in.cfg.Identity.Public()
	out = sym.encryptAndHash(out, spub[:]) // s
	sym.mixKey(es)                         // es
	var pl [wire.ResponsePayloadLen]byte
	_, _ = rand.Read(pl[:32])
	copy(pl[32:64], claim[:])
	pl[64] = byte(stc.SuiteChaCha20Poly1305)
	putParams(pl[65:], &in.cfg.Params)
	return sym.encryptAndHash(out, pl[:])
}

// TestInsiderClaimsAnotherID: a node that holds the shared seed but not
// the victim's node seed claims the victim's node ID, as initiator and as
// responder. It never gets a session under that ID, and it cannot abort
// the victim's dial by answering first.
func TestInsiderClaimsAnotherID(t *testing.T) {
	t.Run("initiator", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			p := newPair(t, false, nil)
			in := newInsider(t)
			insiderAddr := netip.MustParseAddrPort("127.0.0.3:3")
			var resp []byte
			p.net.filter = func(_, to netip.AddrPort, b []byte) []byte {
				if to == insiderAddr {
					resp = b
					return nil
				}
				return b
			}
			// The HELLO claims A's node ID: it needs only A's public ID
			// (buildHello on A's plane reads nothing else of A's).
			d := &dial{to: addrB, in: make(chan *packet, dialInbox)}
			d.suites[0] = byte(stc.SuiteChaCha20Poly1305)
			d.id, d.e = randomID(), newEphemeral()
			_, _ = rand.Read(d.nonce[:])
			p.a.buildHello(d, nil, time.Now())
			p.b.HandlePacket(d.hello[:d.nHello], insiderAddr)
			synctest.Wait()
			if resp == nil {
				t.Fatal("no RESPONSE to the insider's HELLO")
			}
			// The insider completes with the only static key it has: its own.
			var proof [wire.AuthProofLen]byte
			var rk [32]byte
			if _, err := in.p.finish(d, resp, &proof, &rk); err != nil {
				t.Fatal(err)
			}
			p.b.HandlePacket(proof[:], insiderAddr)
			synctest.Wait()
			if p.dpB.count() != 0 || p.b.Stats().FailedAuth != 1 {
				t.Fatalf("insider claiming A's ID: %d sessions at B, FailedAuth %d", p.dpB.count(), p.b.Stats().FailedAuth)
			}
			// A itself still gets in.
			ei, err := p.dialB(t)
			if err != nil {
				t.Fatal(err)
			}
			checkEstablished(t, p, ei)
		})
	})
	for _, tt := range []struct {
		name  string
		claim func(p *pair, in *insider) stc.NodeID
		mod   func(a, b *Config)
	}{
		// It claims B's ID with its own static key: the ID is not the hash
		// of the key.
		{"responder claims B", func(p *pair, _ *insider) stc.NodeID { return p.b.cfg.Identity.ID() }, nil},
		// It claims its own ID honestly, but A accepts only B.
		{"responder not allowed", func(_ *pair, in *insider) stc.NodeID { return in.p.cfg.Identity.ID() },
			func(a, b *Config) { a.AllowPeers = []stc.NodeID{b.Identity.ID()} }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				p := newPair(t, false, tt.mod)
				in := newInsider(t)
				claim := tt.claim(p, in)
				var raced int
				p.net.filter = func(from, _ netip.AddrPort, b []byte) []byte {
					if from == addrA && b[wire.HandshakeTypeOffset] == byte(wire.HandshakeHello) {
						// On path, the insider answers first for B.
						p.a.HandlePacket(forgeResponse(t, in.p, b, claim), addrB)
						raced++
						hello := b
						time.AfterFunc(10*time.Millisecond, func() { p.b.HandlePacket(hello, addrA) })
						return nil
					}
					return b
				}
				ei, err := p.dialB(t)
				if err != nil {
					t.Fatalf("dial with an insider's RESPONSE racing B's: %v", err)
				}
				checkEstablished(t, p, ei)
				if raced == 0 {
					t.Fatal("no RESPONSE raced")
				}
			})
		})
	}
}

// TestRejectIsAHint: a REJECT(authentication) carries no tag, so anyone who
// saw the HELLO can forge one; a forged collision REJECT has a bad tag. Neither
// may abort or restart a dial that would otherwise succeed. A genuine
// collision REJECT (authenticated) is acted on at once: TestCollision.
func TestRejectIsAHint(t *testing.T) {
	for _, tt := range []struct {
		name   string
		on     wire.HandshakeType // the message the REJECT answers
		reason byte
	}{
		{"authentication", wire.HandshakeHello, wire.RejectAuthentication},
		{"collision with a bad tag", wire.HandshakeAuthProof, wire.RejectCollision},
	} {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				p := newPair(t, true, nil)
				var forged int
				p.net.filter = func(from, _ netip.AddrPort, b []byte) []byte {
					if from == addrA && b[wire.HandshakeTypeOffset] == byte(tt.on) {
						// An on-path attacker answers first with a REJECT.
						r := make([]byte, wire.RejectLen)
						id, _, _ := wire.ParseHandshakeType(b)
						wire.PutHandshakePrefix(r, id, wire.HandshakeReject)
						r[wire.RejectReasonOffset] = tt.reason
						_, _ = rand.Read(r[wire.RejectTagOffset:])
						p.a.HandlePacket(r, addrB)
						forged++
						pkt := b
						time.AfterFunc(10*time.Millisecond, func() { p.b.HandlePacket(pkt, addrA) })
						return nil
					}
					return b
				}
				ei, err := p.a.Dial(context.Background(), addrB)
				if err != nil {
					t.Fatalf("dial with a forged REJECT in front of the answer: %v", err)
				}
				checkEstablished(t, p, ei)
				if forged == 0 {
					t.Fatal("no REJECT injected")
				}
				if s := p.a.Stats(); s.Collisions != 0 || s.Restarts != 0 {
					t.Errorf("a forged REJECT was acted on: %+v", s)
				}
			})
		})
	}
}

// TestDialErrorCauses: each way a dial can end at its timeout gets its own
// cause and message, matching the sentinel callers already branch on.
func TestDialErrorCauses(t *testing.T) {
	const timeout = 3 * time.Second
	tests := []struct {
		name     string
		mod      func(a, b *Config)
		filter   func(from netip.AddrPort, b []byte) []byte
		cause    DialCause
		sentinel error
		say      string // in the message
	}{
		{"no answer", nil, func(netip.AddrPort, []byte) []byte { return nil },
			CauseNoAnswer, ErrHandshakeTimeout, "no answer: the peer is unreachable or not listening, or holds another shared seed"},
		{"wrong seed, silent", func(_, b *Config) { b.PSK[0] ^= 1 }, nil,
			CauseNoAnswer, ErrHandshakeTimeout, "no answer"},
		{"wrong seed, REJECT", func(_, b *Config) { b.PSK[0] ^= 1; b.RejectWrongSeed = true }, nil,
			CauseRejected, ErrAuthentication, "REJECTs (our HELLO does not open under its shared seed, or it refuses our node ID)"},
		{"not allowed, REJECT", func(_, b *Config) { b.AllowPeers = []stc.NodeID{{1}}; b.RejectWrongSeed = true }, nil,
			CauseRejected, ErrAuthentication, "REJECT"},
		{"cookies only", func(_, b *Config) { b.CookieThreshold = -1 }, func(from netip.AddrPort, b []byte) []byte {
			if from == addrA && b[wire.HandshakeTypeOffset] == byte(wire.HandshakeHello) && b[wire.HelloCookieOffset] != 0 {
				return nil // HELLOs carrying the cookie are lost
			}
			return b
		}, CauseCookiesOnly, ErrHandshakeTimeout, "cookie reply (so it holds our shared seed)"},
		{"bad responses", nil, func(from netip.AddrPort, b []byte) []byte {
			if from == addrB {
				b[len(b)-1] ^= 1
			}
			return b
		}, CauseBadResponses, ErrHandshakeTimeout, "RESPONSEs did not open"},
		{"unconfirmed", nil, func(from netip.AddrPort, b []byte) []byte {
			if b[wire.HandshakeTypeOffset] == byte(wire.HandshakeAuthProof) {
				return nil
			}
			return b
		}, CauseUnconfirmed, ErrHandshakeTimeout, "never confirmed the session"},
		{"refused", func(a, _ *Config) { a.AllowPeers = []stc.NodeID{{1}} }, nil,
			CauseRefused, ErrAuthentication, "not in AllowPeers"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				p := newPair(t, true, func(a, b *Config) {
					a.HandshakeTimeout = timeout
					if tt.mod != nil {
						tt.mod(a, b)
					}
				})
				if tt.filter != nil {
					p.net.filter = func(from, _ netip.AddrPort, b []byte) []byte { return tt.filter(from, b) }
				}
				start := time.Now()
				_, err := p.dialB(t)
				var de *DialError
				if !errors.As(err, &de) {
					t.Fatalf("err = %v (%T), want a *DialError", err, err)
				}
				if de.Cause != tt.cause || de.Peer != addrB || de.Elapsed != timeout || time.Since(start) != timeout {
					t.Errorf("cause %v peer %v elapsed %v (returned after %v), want %v %v %v", de.Cause, de.Peer, de.Elapsed, time.Since(start), tt.cause, addrB, timeout)
				}
				if !errors.Is(err, tt.sentinel) {
					t.Errorf("%v does not match %v", err, tt.sentinel)
				}
				other := ErrAuthentication
				if tt.sentinel == ErrAuthentication {
					other = ErrHandshakeTimeout
				}
				if errors.Is(err, other) {
					t.Errorf("%v also matches %v", err, other)
				}
				var ne net.Error
				if isTimeout := errors.As(err, &ne) && ne.Timeout(); isTimeout != (tt.sentinel == ErrHandshakeTimeout) ||
					errors.Is(err, net.ErrClosed) != isTimeout {
					t.Errorf("net.Error Timeout %v, matches net.ErrClosed %v; want both %v", isTimeout, errors.Is(err, net.ErrClosed), tt.sentinel == ErrHandshakeTimeout)
				}
				if msg := err.Error(); !strings.Contains(msg, tt.say) || !strings.Contains(msg, addrB.String()) {
					t.Errorf("message %q does not say %q and name %v", msg, tt.say, addrB)
				}
				synctest.Wait()
				if p.dpA.count() != 0 || p.dpB.count() != 0 || dials(p.a) != 0 {
					t.Errorf("state left: sessions %d/%d, dials %d", p.dpA.count(), p.dpB.count(), dials(p.a))
				}
			})
		})
	}
}

// TestDestinationUnreachable: the data plane reports an address
// unreachable (ICMP port unreachable): dials to it fail at once with an
// error that says so; dials elsewhere and dials whose peer has already
// answered authentically go on.
func TestDestinationUnreachable(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newPair(t, false, func(a, _ *Config) { a.HandshakeTimeout = 3 * time.Second })
		closed := netip.MustParseAddrPort("127.0.0.1:9")
		p.a.DestinationUnreachable(closed, syscall.ECONNREFUSED) // no dial: a no-op
		delayNet(p, 100*time.Millisecond)
		var wg sync.WaitGroup
		var errB error
		wg.Go(func() { _, errB = p.dialB(t) })
		time.AfterFunc(50*time.Millisecond, func() {
			p.a.DestinationUnreachable(netip.AddrPortFrom(netip.AddrFrom16(closed.Addr().As16()), closed.Port()), syscall.ECONNREFUSED)
		})
		start := time.Now()
		_, err := p.a.Dial(context.Background(), closed)
		var de *DialError
		if !errors.As(err, &de) || de.Cause != CauseUnreachable || !errors.Is(err, ErrUnreachable) || !errors.Is(err, syscall.ECONNREFUSED) {
			t.Fatalf("dial to a closed port: %v, want a DialError matching ErrUnreachable and ECONNREFUSED", err)
		}
		if errors.Is(err, ErrHandshakeTimeout) || errors.Is(err, ErrAuthentication) {
			t.Errorf("%v matches a timeout or authentication sentinel", err)
		}
		if d := time.Since(start); d != 50*time.Millisecond {
			t.Errorf("failed after %v, want at once (50ms)", d)
		}
		if msg := err.Error(); !strings.Contains(msg, "destination unreachable") || !strings.Contains(msg, "connection refused") || !strings.Contains(msg, closed.String()) {
			t.Errorf("message %q", msg)
		}
		wg.Wait()
		if errB != nil {
			t.Errorf("concurrent dial to another address: %v", errB)
		}
		// A report without an error (say, a host unreachable the data plane
		// has no errno for) fails the dial the same way.
		closed2 := netip.MustParseAddrPort("127.0.0.1:10")
		time.AfterFunc(10*time.Millisecond, func() { p.a.DestinationUnreachable(closed2, nil) })
		if _, err := p.a.Dial(context.Background(), closed2); !errors.As(err, &de) || !errors.Is(err, ErrUnreachable) || de.Err != nil {
			t.Errorf("dial with a nil-error report: %v", err)
		}
		if p.a.Stats().FailedUnreachable != 2 {
			t.Errorf("FailedUnreachable = %d", p.a.Stats().FailedUnreachable)
		}

		// After an authenticated RESPONSE the report is ignored: the dial
		// ends at its timeout (AUTH_PROOFs are lost) with that cause.
		time.Sleep(time.Second) // delayed datagrams of the dials above are delivered
		synctest.Wait()
		p.net.filter = func(from, _ netip.AddrPort, b []byte) []byte {
			if b[wire.HandshakeTypeOffset] == byte(wire.HandshakeAuthProof) {
				time.AfterFunc(time.Millisecond, func() { p.a.DestinationUnreachable(addrB, syscall.EHOSTUNREACH) })
				return nil
			}
			return b
		}
		_, err = p.dialB(t)
		if !errors.As(err, &de) || de.Cause != CauseUnconfirmed {
			t.Errorf("unreachable after an authenticated answer: %v, want the timeout (unconfirmed)", err)
		}
	})
}

// recordHandler keeps every slog record.
type recordHandler struct {
	mu   sync.Mutex
	recs []slog.Record
}

func (h *recordHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *recordHandler) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	h.recs = append(h.recs, r.Clone())
	h.mu.Unlock()
	return nil
}
func (h *recordHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *recordHandler) WithGroup(string) slog.Handler      { return h }

func (h *recordHandler) records() []slog.Record {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.recs)
}

// TestSeedMismatchLog: HELLOs that do not open under our shared seed are
// reported at Warn through the Config logger, naming the source and the
// two possible causes, at most once per seedLogInterval with the count of
// those not reported; the counter is SeedMismatch.
func TestSeedMismatchLog(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := &recordHandler{}
		p := newPair(t, false, func(a, b *Config) {
			b.PSK[0] ^= 1
			b.Logger = slog.New(h)
			a.HandshakeTimeout = 2 * time.Second
		})
		if _, err := p.dialB(t); !errors.Is(err, ErrHandshakeTimeout) {
			t.Fatalf("wrong-seed dial: %v", err)
		}
		recs := h.records()
		want := "control: handshake from 127.0.0.1:1001 does not open under our shared seed: the peer holds another shared seed, or the packet is forged"
		if len(recs) != 1 || recs[0].Level != slog.LevelWarn || recs[0].Message != want {
			t.Fatalf("records %+v, want one Warn %q", recs, want)
		}
		hellos := p.b.Stats().SeedMismatch
		if hellos < 2 {
			t.Fatalf("SeedMismatch = %d, want every HELLO of the dial", hellos)
		}
		w := newWorkerScratch()
		logged := recs[0].Time
		for range 1000 {
			p.b.handleHello(w, forgedHelloX, addrA, time.Now())
		}
		p.b.handleHello(w, forgedHelloX, addrA, logged.Add(seedLogInterval-time.Millisecond))
		if n := len(h.records()); n != 1 {
			t.Fatalf("%d records within one interval, want 1", n)
		}
		p.b.handleHello(w, forgedHelloX, addrA, logged.Add(seedLogInterval))
		recs = h.records()
		if len(recs) != 2 {
			t.Fatalf("%d records after the interval, want 2", len(recs))
		}
		var notLogged uint64
		recs[1].Attrs(func(a slog.Attr) bool {
			if a.Key == "not_logged_since_last" {
				notLogged = a.Value.Uint64()
			}
			return true
		})
		if want := hellos - 1 + 1000 + 1; notLogged != want {
			t.Errorf("not_logged_since_last = %d, want %d", notLogged, want)
		}
		if s := p.b.Stats().SeedMismatch; s != hellos+1002 {
			t.Errorf("SeedMismatch = %d, want %d", s, hellos+1002)
		}
	})
}

// TestReplayToOtherNode documents the bound on issue 15's "captured HELLO
// replayed to another node holding the same seed" (docs/HANDSHAKE.md
// "Replays to other nodes"): the other node answers a given HELLO at most
// once (its replay cache), with a RESPONSE no larger than the HELLO, to the
// replay's source; under load, its cookies (bound to its own secret) stop
// replays before any DH.
func TestReplayToOtherNode(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newPair(t, false, nil)
		addrC := netip.MustParseAddrPort("127.0.0.1:1004")
		dpC := p.net.add(addrC, 1)
		c, err := NewPlane(testConfig(t, 4, 100, false), dpC)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		dpC.plane = c
		hello := captureHello(t, p)
		sent := func() (n, bytes int) {
			p.net.mu.Lock()
			defer p.net.mu.Unlock()
			for _, s := range p.net.sent {
				if s.from == addrC {
					n++
					bytes += len(s.b)
				}
			}
			return n, bytes
		}
		attacker := netip.MustParseAddrPort("127.0.0.66:6")
		for range 3 {
			c.HandlePacket(hello, attacker)
			synctest.Wait()
		}
		if n, b := sent(); n != 1 || b > len(hello) || halfOpen(c) != 1 || c.Stats().Replays != 2 {
			t.Fatalf("3 replays to C: %d replies (%d B for a %d B HELLO), %d half-open, %d replays counted",
				n, b, len(hello), halfOpen(c), c.Stats().Replays)
		}
		// Under load C wants its own cookie, which the captured HELLO cannot carry.
		c.cfg.CookieThreshold = -1
		hello2 := captureHello(t, p)
		c.HandlePacket(hello2, attacker)
		synctest.Wait()
		if halfOpen(c) != 1 || c.Stats().CookieRejects != 1 {
			t.Fatalf("replay under load: %d half-open, %d cookie rejects", halfOpen(c), c.Stats().CookieRejects)
		}
	})
}
