package control

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stt-go/stt/stc"
	"github.com/stt-go/stt/wire"
)

// forgedHello returns random bytes shaped like a HELLO: right version,
// kind, type, flags and length, random everything else.
func forgedHello(hybrid bool) []byte {
	b := make([]byte, wire.HelloLenFor(hybrid))
	_, _ = rand.Read(b)
	wire.PutHandshakePrefix(b, wire.SessionID(1), wire.HandshakeHello)
	b[wire.HelloFlagsOffset] = 0
	if hybrid {
		b[wire.HelloFlagsOffset] = wire.HelloFlagHybrid
	}
	return b
}

func TestNoAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are not meaningful under -race")
	}
	// Cookie mode off: under load a forged HELLO gets a COOKIE_REPLY by design.
	h := &recordHandler{}
	p := newPair(t, true, func(_, b *Config) { b.CookieThreshold = queueLen + 1; b.Logger = slog.New(h) })
	w := newWorkerScratch()
	now := time.Now()
	// The first HELLO that does not open is logged (AllocsPerRun's warm-up
	// call); the rest within seedLogInterval are counted only.
	tests := []struct {
		name string
		fn   func()
	}{
		{"RejectForgedHello/x25519", func() { p.b.handleHello(w, forgedHelloX, addrA, now) }},
		{"RejectForgedHello/hybrid", func() { p.b.handleHello(w, forgedHelloH, addrA, now) }},
		{"RejectForgedResume", func() { p.b.handleResume(w, forgedResumeMsg, addrA, now) }},
		{"Stats", func() { _ = p.b.Stats() }},
		{"CookieValid", func() { _ = p.b.cookie.valid(forgedHelloX[:wire.CookieLen], addrA) }},
	}
	// Warm the packet pool, then HandlePacket (and the worker dropping the
	// forged HELLO) must not allocate either.
	for range 2 * queueLen {
		p.b.HandlePacket(forgedHelloH, addrA)
	}
	for len(p.b.queue) > 0 {
		time.Sleep(time.Millisecond)
	}
	tests = append(tests, struct {
		name string
		fn   func()
	}{"HandlePacket", func() { p.b.HandlePacket(forgedHelloH, addrA) }})
	tests = append(tests, struct {
		name string
		fn   func()
	}{"HandlePacket/resume", func() { p.b.HandlePacket(forgedResumeMsg, addrA) }})
	for _, tt := range tests {
		if n := testing.AllocsPerRun(200, tt.fn); n != 0 {
			t.Errorf("%s: %v allocs, want 0", tt.name, n)
		}
	}
	if n := len(h.records()); n != 1 {
		t.Errorf("%d log records for forged HELLOs within one interval, want 1", n)
	}
	if len(p.net.sent) != 0 || halfOpen(p.b) != 0 {
		t.Errorf("forged HELLOs were answered: %d sent, %d half-open", len(p.net.sent), halfOpen(p.b))
	}
	if s := p.b.Stats(); s.SeedMismatch == 0 || s.ResumeRefused != 0 {
		t.Errorf("forged HELLOs not counted, or a forged RESUME reached its ticket: %+v", s)
	}
}

var forgedHelloX, forgedHelloH = forgedHello(false), forgedHello(true)

// forgedResume returns random bytes shaped like a RESUME (size, version,
// type, zero flags and reserved bytes right).
func forgedResume() []byte {
	b := make([]byte, wire.ResumeLen)
	_, _ = rand.Read(b)
	wire.PutHandshakePrefix(b, wire.SessionID(2), wire.HandshakeResume)
	clear(b[wire.ResumeFlagsOffset:wire.ResumeCookieOffset])
	return b
}

var forgedResumeMsg = forgedResume()

// captureHello dials once with every datagram recorded and returns A's
// first HELLO (the handshake completes).
func captureHello(t *testing.T, p *pair) []byte {
	t.Helper()
	if _, err := p.dialB(t); err != nil {
		t.Fatal(err)
	}
	for _, s := range p.net.sent {
		if s.from == addrA && s.b[wire.HandshakeTypeOffset] == byte(wire.HandshakeHello) {
			return s.b
		}
	}
	t.Fatal("no HELLO captured")
	return nil
}

func TestReplayedHello(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newPair(t, false, nil)
		hello := captureHello(t, p)
		sent := len(p.net.sent)
		for range 3 {
			p.b.HandlePacket(hello, addrA)
			synctest.Wait()
		}
		if halfOpen(p.b) != 0 || len(p.net.sent) != sent || p.dpB.count() != 1 {
			t.Errorf("replay answered: halfOpen %d sent %d sessions %d", halfOpen(p.b), len(p.net.sent)-sent, p.dpB.count())
		}
		if r := p.b.Stats().Replays; r != 3 {
			t.Errorf("Replays = %d, want 3", r)
		}
		// The live session is untouched and a new dial still works.
		if _, err := p.dialB(t); err != nil {
			t.Fatal(err)
		}
	})
}

func TestFreshness(t *testing.T) {
	for _, skew := range []time.Duration{-100 * time.Second, 100 * time.Second} {
		t.Run(fmt.Sprint(skew), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var off atomic.Int64
				off.Store(int64(skew))
				p := newPair(t, false, func(a, _ *Config) {
					a.Now = func() time.Time { return time.Now().Add(time.Duration(off.Load())) }
					a.HandshakeTimeout = 2 * time.Second
				})
				if _, err := p.dialB(t); !errors.Is(err, ErrHandshakeTimeout) {
					t.Fatalf("skewed dial: %v", err)
				}
				if p.b.Stats().Stale == 0 {
					t.Error("stale HELLOs not counted")
				}
				off.Store(0) // clock fixed: the next dial succeeds
				if _, err := p.dialB(t); err != nil {
					t.Fatal(err)
				}
			})
		})
	}
}

// TestLossOnce drops the first copy of each message kind and checks the
// handshake recovers through retransmission.
func TestLossOnce(t *testing.T) {
	tests := []struct {
		name string
		drop wire.HandshakeType // 0: FINAL
	}{
		{"HELLO", wire.HandshakeHello},
		{"RESPONSE", wire.HandshakeResponse},
		{"AUTH_PROOF", wire.HandshakeAuthProof},
		{"FINAL", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				p := newPair(t, true, nil)
				dropped := false
				if tt.drop == 0 {
					p.dpB.dropFinal = 1
				} else {
					p.net.filter = func(_, _ netip.AddrPort, b []byte) []byte {
						if !dropped && wire.HandshakeType(b[wire.HandshakeTypeOffset]) == tt.drop {
							dropped = true
							return nil
						}
						return b
					}
				}
				start := time.Now()
				ei, err := p.dialB(t)
				if err != nil {
					t.Fatal(err)
				}
				checkEstablished(t, p, ei)
				if time.Since(start) > 2*initialRTO {
					t.Errorf("recovery took %v", time.Since(start))
				}
				if tt.drop != 0 && p.a.Stats().Retransmits == 0 {
					t.Error("no retransmission counted")
				}
				if tt.drop == wire.HandshakeAuthProof && p.dpB.installs != 1 {
					t.Errorf("installs = %d", p.dpB.installs)
				}
			})
		})
	}
}

func TestHalfOpenCaps(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newPair(t, false, func(_, b *Config) { b.MaxHalfOpen = 8; b.MaxHalfOpenPerAddr = 3 })
		p.net.filter = func(from, _ netip.AddrPort, b []byte) []byte {
			if from == addrB {
				return nil // no RESPONSE ever arrives: B keeps half-open state
			}
			return b
		}
		w := newWorkerScratch()
		helloFrom := func(addr netip.AddrPort) {
			d := &dial{to: addrB, in: make(chan *packet, dialInbox)}
			d.suites[0] = byte(stc.SuiteChaCha20Poly1305)
			p.a.startHello(d)
			p.a.unregister(d)
			p.b.handleHello(w, d.hello[:d.nHello], addr, time.Now())
		}
		for range 10 {
			helloFrom(addrA)
		}
		if n := halfOpen(p.b); n != 3 {
			t.Errorf("one address holds %d half-open, want cap 3", n)
		}
		for i := range 20 {
			helloFrom(netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, byte(2 + i)}), 9))
		}
		if n := halfOpen(p.b); n != 8 {
			t.Errorf("%d half-open, want cap 8", n)
		}
		if p.b.Stats().HalfOpenEvicted != 10-3+3+20-8+3-3 {
			t.Logf("evicted %d", p.b.Stats().HalfOpenEvicted)
		}
		time.Sleep(DefaultHandshakeTimeout + 2*janitorInterval)
		if n := halfOpen(p.b); n != 0 {
			t.Errorf("%d half-open after the handshake timeout, want 0", n)
		}
		if p.b.Stats().HalfOpenExpired != 8 {
			t.Errorf("expired %d, want 8", p.b.Stats().HalfOpenExpired)
		}
	})
}

func TestAmplificationLedger(t *testing.T) {
	p := newPair(t, false, nil)
	a := netip.MustParseAddr("127.0.0.9")
	now := time.Now()
	p.b.mu.Lock()
	defer p.b.mu.Unlock()
	if p.b.ledgerSendLocked(a, 1) {
		t.Error("send allowed to an address we never heard from")
	}
	p.b.ledgerRecvLocked(a, 100, false, now)
	if p.b.ledgerSendLocked(a, 1) {
		t.Error("unauthenticated bytes created a ledger entry")
	}
	p.b.ledgerRecvLocked(a, 100, true, now)
	if !p.b.ledgerSendLocked(a, 250) || !p.b.ledgerSendLocked(a, 50) {
		t.Error("send within 3x refused")
	}
	if p.b.ledgerSendLocked(a, 1) {
		t.Error("send beyond 3x allowed")
	}
	p.b.ledgerRecvLocked(a, 10, false, now)
	if !p.b.ledgerSendLocked(a, 30) || p.b.ledgerSendLocked(a, 1) {
		t.Error("credit from later packets wrong")
	}
	p.b.ledgerValidateLocked(a, now)
	if !p.b.ledgerSendLocked(a, 1<<20) {
		t.Error("validated address still limited")
	}
	for i := range ledgerSize + 10 {
		p.b.ledgerRecvLocked(netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}), 1, true, now)
	}
	if len(p.b.mu.ledger) > ledgerSize {
		t.Errorf("ledger grew to %d", len(p.b.mu.ledger))
	}
}

func TestCookies(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newPair(t, true, func(_, b *Config) { b.CookieThreshold = -1 })
		ei, err := p.dialB(t)
		if err != nil {
			t.Fatal(err)
		}
		checkEstablished(t, p, ei)
		if p.b.Stats().CookiesSent != 1 || p.b.Stats().CookieRejects != 1 {
			t.Errorf("stats %+v", p.b.Stats())
		}
		c := p.b.cookie.make(addrA)
		other := netip.MustParseAddrPort("127.0.0.1:1003")
		flipped := c
		flipped[5] ^= 0x10
		tests := []struct {
			name   string
			cookie []byte
			addr   netip.AddrPort
			want   bool
		}{
			{"valid", c[:], addrA, true},
			{"wrong address", c[:], other, false},
			{"bit flip", flipped[:], addrA, false},
			{"zero", make([]byte, wire.CookieLen), addrA, false},
		}
		for _, tt := range tests {
			if got := p.b.cookie.valid(tt.cookie, tt.addr); got != tt.want {
				t.Errorf("%s: valid = %v", tt.name, got)
			}
		}
		p.b.cookie.rotate(time.Now().Add(cookieRotation))
		if !p.b.cookie.valid(c[:], addrA) {
			t.Error("cookie invalid after one rotation (previous secret must stay valid)")
		}
		p.b.cookie.rotate(time.Now().Add(2 * cookieRotation))
		if p.b.cookie.valid(c[:], addrA) {
			t.Error("cookie valid after its secret expired")
		}
		// A forged COOKIE_REPLY (wrong key) is ignored by the initiator.
		d := &dial{to: addrB, in: make(chan *packet, dialInbox), hybrid: true}
		d.e = newEphemeral()
		bad := make([]byte, wire.CookieReplyLen)
		wire.PutHandshakePrefix(bad, 7, wire.HandshakeCookieReply)
		if p.a.takeCookie(d, bad) {
			t.Error("forged COOKIE_REPLY accepted")
		}
	})
}

func TestCollision(t *testing.T) {
	for _, side := range []string{"initiator", "responder"} {
		t.Run(side, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				p := newPair(t, false, nil)
				if side == "initiator" {
					p.dpA.collide = 1
				} else {
					p.dpB.collide = 1
				}
				ei, err := p.dialB(t)
				if err != nil {
					t.Fatal(err)
				}
				checkEstablished(t, p, ei)
				if p.dpA.count() != 1 || p.dpB.count() != 1 {
					t.Errorf("sessions %d/%d, want 1/1", p.dpA.count(), p.dpB.count())
				}
				if p.a.Stats().Collisions != 1 {
					t.Errorf("initiator collisions %d", p.a.Stats().Collisions)
				}
			})
		})
	}
}

// TestMiddlebox covers a suite downgrade, a reflected HELLO and an
// allow-list: each must fail without a session.
func TestMiddlebox(t *testing.T) {
	tests := []struct {
		name   string
		mod    func(a, b *Config)
		filter func(p *pair) func(from, to netip.AddrPort, b []byte) []byte
		want   error
	}{
		{"suite downgrade", nil, func(*pair) func(netip.AddrPort, netip.AddrPort, []byte) []byte {
			return func(_, _ netip.AddrPort, b []byte) []byte {
				if b[wire.HandshakeTypeOffset] == byte(wire.HandshakeHello) {
					copy(b[wire.HelloSuitesOffset:], []byte{byte(stc.SuiteAES128GCM), 0, 0, 0})
				}
				return b
			}
		}, ErrHandshakeTimeout},
		{"hybrid stripped", nil, func(*pair) func(netip.AddrPort, netip.AddrPort, []byte) []byte {
			return func(_, _ netip.AddrPort, b []byte) []byte {
				if b[wire.HandshakeTypeOffset] == byte(wire.HandshakeHello) && len(b) == wire.HelloHybridLen {
					nb := append([]byte(nil), b[:wire.HelloKEMOffset]...)
					nb[wire.HelloFlagsOffset] = 0
					return append(nb, b[wire.HelloKEMOffset+wire.KEMEncapKeyLen:]...)
				}
				return b
			}
		}, ErrHandshakeTimeout},
		{"reflection", nil, func(p *pair) func(netip.AddrPort, netip.AddrPort, []byte) []byte {
			return func(from, to netip.AddrPort, b []byte) []byte {
				if from == addrA {
					p.a.HandlePacket(b, addrB) // A's HELLO comes back to A as if from B
					return nil
				}
				return b
			}
		}, ErrHandshakeTimeout},
		{"responder allow-list", func(_, b *Config) { b.AllowPeers = []stc.NodeID{{1}}; b.RejectWrongSeed = true }, nil, ErrAuthentication},
		{"initiator allow-list", func(a, _ *Config) { a.AllowPeers = []stc.NodeID{{1}} }, nil, ErrAuthentication},
		{"same identity", func(a, b *Config) { b.Identity = a.Identity }, nil, ErrHandshakeTimeout},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				p := newPair(t, true, func(a, b *Config) {
					a.HandshakeTimeout = 3 * time.Second
					if tt.mod != nil {
						tt.mod(a, b)
					}
				})
				if tt.filter != nil {
					p.net.filter = tt.filter(p)
				}
				_, err := p.a.Dial(context.Background(), addrB)
				if !errors.Is(err, tt.want) {
					t.Fatalf("err = %v, want %v", err, tt.want)
				}
				synctest.Wait()
				if p.dpA.count() != 0 || p.dpB.count() != 0 || dials(p.a) != 0 {
					t.Error("state left behind")
				}
			})
		})
	}
}

// TestOutOfOrder delivers messages that do not belong to any handshake in
// progress: all are ignored and counted.
func TestOutOfOrder(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newPair(t, false, nil)
		var msgs [][]byte
		p.net.filter = func(_, _ netip.AddrPort, b []byte) []byte {
			msgs = append(msgs, bytes.Clone(b))
			return b
		}
		if _, err := p.dialB(t); err != nil {
			t.Fatal(err)
		}
		before := p.dpA.installs + p.dpB.installs
		sent := len(p.net.sent)
		for _, m := range msgs { // every message again, to both planes, after the handshake
			p.a.HandlePacket(m, addrB)
			p.b.HandlePacket(m, addrA)
			synctest.Wait()
		}
		if p.dpA.installs+p.dpB.installs != before || len(p.net.sent) != sent {
			t.Errorf("stale messages caused installs or replies")
		}
	})
}

// TestSlowResponse delays every RESPONSE beyond the first retransmission
// timeout: the RESPONSE to the superseded HELLO must still complete the
// handshake, without waiting for the next round.
func TestSlowResponse(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newPair(t, false, nil)
		const delay = initialRTO + 100*time.Millisecond
		p.net.filter = func(from, _ netip.AddrPort, b []byte) []byte {
			if from == addrB && b[wire.HandshakeTypeOffset] == byte(wire.HandshakeResponse) {
				time.AfterFunc(delay, func() { p.a.HandlePacket(b, addrB) })
				return nil
			}
			return b
		}
		start := time.Now()
		ei, err := p.dialB(t)
		if err != nil {
			t.Fatal(err)
		}
		checkEstablished(t, p, ei)
		if d := time.Since(start); d != delay {
			t.Errorf("completed after %v, want %v (the first RESPONSE)", d, delay)
		}
		time.Sleep(2 * delay) // let the second RESPONSE arrive: ignored
		if p.dpA.count() != 1 || p.dpA.installs != 1 {
			t.Errorf("initiator sessions %d installs %d", p.dpA.count(), p.dpA.installs)
		}
	})
}
