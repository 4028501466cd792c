package control

import (
	"bytes"
	"context"
	"errors"
	"net/netip"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stt-go/stt/stc"
	"github.com/stt-go/stt/wire"
)

// replies collects what B sends back to A when A's messages are handed to
// B directly (p.a never sees them).
type replies struct {
	mu   sync.Mutex
	msgs [][]byte
}

func (r *replies) filter(from, _ netip.AddrPort, b []byte) []byte {
	if from == addrB {
		r.mu.Lock()
		r.msgs = append(r.msgs, bytes.Clone(b))
		r.mu.Unlock()
	}
	return nil
}

// take returns and forgets the replies so far.
func (r *replies) take() [][]byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	m := r.msgs
	r.msgs = nil
	return m
}

// types returns the handshake types of msgs.
func types(msgs [][]byte) []wire.HandshakeType {
	var out []wire.HandshakeType
	for _, m := range msgs {
		_, t, _ := wire.ParseHandshakeType(m)
		out = append(out, t)
	}
	return out
}

// send hands b to p.b as if from A and waits until B is done with it.
func (p *pair) send(b []byte) {
	p.b.HandlePacket(b, addrA)
	synctest.Wait()
}

// initiatorFor returns an Initiator with A's configuration offering suites.
func initiatorFor(t *testing.T, p *pair, hybrid bool, suites ...stc.Suite) *Initiator {
	t.Helper()
	c := p.a.cfg
	c.Hybrid = hybrid
	if suites != nil {
		c.Suites = suites
	}
	x, err := NewInitiator(&c, nil)
	if err != nil {
		t.Fatal(err)
	}
	return x
}

// TestSuiteNegotiation checks the rule of docs/HANDSHAKE.md "Suite
// negotiation": the responder takes the first offered suite it accepts,
// in the initiator's order, and refuses a HELLO offering none.
func TestSuiteNegotiation(t *testing.T) {
	const (
		aes256 = stc.SuiteAES256GCM
		chacha = stc.SuiteChaCha20Poly1305
		aes128 = stc.SuiteAES128GCM
	)
	tests := []struct {
		name    string
		accepts []stc.Suite // responder's Config.Suites
		offered []byte      // the HELLO's suites field
		want    stc.Suite   // 0: refused
	}{
		{"initiator order wins", []stc.Suite{aes256, aes128, chacha}, []byte{2, 1, 0, 0}, chacha},
		{"initiator order wins 2", []stc.Suite{chacha, aes256}, []byte{1, 3, 2, 0}, aes256},
		{"stt send offer", []stc.Suite{aes256, aes128, chacha}, []byte{1, 3, 2, 0}, aes256},
		{"skips what it does not accept", []stc.Suite{chacha}, []byte{1, 3, 2, 0}, chacha},
		{"unknown codes skipped", []stc.Suite{aes128}, []byte{9, 0xff, 3, 0}, aes128},
		{"zero padding anywhere", []stc.Suite{chacha}, []byte{0, 2, 0, 0}, chacha},
		{"forced responder refuses", []stc.Suite{chacha}, []byte{1, 0, 0, 0}, 0},
		{"nothing offered", []stc.Suite{aes256, chacha, aes128}, []byte{0, 0, 0, 0}, 0},
		{"only unknown codes", []stc.Suite{aes256, chacha, aes128}, []byte{4, 5, 6, 7}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := testConfig(t, 2, 100, false)
			c.Suites = tt.accepts
			p, err := newCore(c)
			if err != nil {
				t.Fatal(err)
			}
			if got := p.chooseSuite(tt.offered); got != tt.want {
				t.Fatalf("chooseSuite(%x) with %v = %v, want %v", tt.offered, tt.accepts, got, tt.want)
			}
		})
	}
}

// TestForcedSuiteResponder: a responder forced to one suite answers a HELLO
// offering it (in any position) with that suite, and refuses a HELLO that
// does not offer it: no RESPONSE, a REJECT(authentication) when it sends
// REJECTs, counted in SuiteRefused; the dialler reports the rejection.
func TestForcedSuiteResponder(t *testing.T) {
	for _, reject := range []bool{false, true} {
		t.Run(map[bool]string{false: "silent", true: "reject"}[reject], func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				p := newPair(t, true, func(a, b *Config) {
					b.Suites = []stc.Suite{stc.SuiteChaCha20Poly1305}
					b.RejectWrongSeed = reject
				})
				var r replies
				p.net.filter = r.filter
				now := time.Now()

				x := initiatorFor(t, p, true, stc.SuiteAES256GCM, stc.SuiteAES128GCM, stc.SuiteChaCha20Poly1305)
				hello, _ := x.Hello(now, nil)
				p.send(hello)
				msgs := r.take()
				if len(msgs) != 1 {
					t.Fatalf("offer with chacha last: replies %v", types(msgs))
				}
				est, _, err := x.Response(msgs[0])
				if err != nil || est.Suite != stc.SuiteChaCha20Poly1305 {
					t.Fatalf("RESPONSE: %v, suite %v; want chacha20poly1305", err, est)
				}

				x = initiatorFor(t, p, true, stc.SuiteAES256GCM)
				hello, _ = x.Hello(now, nil)
				p.send(hello)
				got := types(r.take())
				want := []wire.HandshakeType(nil)
				if reject {
					want = []wire.HandshakeType{wire.HandshakeReject}
				}
				if !slicesEqual(got, want) {
					t.Fatalf("offer without chacha: replies %v, want %v", got, want)
				}
				if n := p.b.Stats().SuiteRefused; n != 1 {
					t.Errorf("SuiteRefused = %d, want 1", n)
				}

				// Through Dial: the dialler offering only AES-256-GCM fails,
				// with "rejected" when the responder says so.
				p.net.filter = nil
				p.a.cfg.Suites = []stc.Suite{stc.SuiteAES256GCM}
				p.a.cfg.HandshakeTimeout = 2 * time.Second
				_, err = p.a.Dial(context.Background(), addrB)
				var de *DialError
				if !errors.As(err, &de) {
					t.Fatalf("Dial: %v", err)
				}
				wantCause := CauseNoAnswer
				if reject {
					wantCause = CauseRejected
				}
				if de.Cause != wantCause {
					t.Errorf("Dial cause %v, want %v (%v)", de.Cause, wantCause, err)
				}
			})
		})
	}
}

func slicesEqual[T comparable](a, b []T) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// helloWithPayloadSuites builds a genuine HELLO (A's seeds) whose sealed
// payload repeats payloadSuites instead of the header's suites.
func helloWithPayloadSuites(t *testing.T, p *pair, now time.Time, payloadSuites [4]byte) []byte {
	t.Helper()
	x := initiatorFor(t, p, false)
	d := &x.d
	b := d.hello[:wire.HelloEphemeralOffset]
	wire.PutHandshakePrefix(b, d.id, wire.HandshakeHello)
	b[wire.HelloFlagsOffset] = 0
	copy(b[wire.HelloSuitesOffset:], d.suites[:])
	clear(b[wire.HelloCookieOffset:wire.HelloHeaderLen])
	x.p.psk.start(&d.sym, b[:wire.HelloHeaderLen])
	b = append(b, d.e.pub[:]...)
	d.sym.mixHash(d.e.pub[:])
	d.sym.mixKey(d.e.pub[:])
	var pl [wire.HelloPayloadLen]byte
	id := x.p.cfg.Identity.ID()
	copy(pl[0:32], d.nonce[:])
	copy(pl[32:64], id[:])
	c := commitment(id, &d.nonce)
	copy(pl[64:96], c[:])
	putUint64(pl[96:104], uint64(now.UnixMilli()))
	copy(pl[104:108], payloadSuites[:])
	return bytes.Clone(d.sym.encryptAndHash(b, pl[:]))
}

// TestHelloSuiteListMismatch: a HELLO whose payload suites differ from its
// header's opens (the sender holds the shared seed) but is refused like
// any invalid HELLO: no RESPONSE, a REJECT(authentication) only when the
// responder sends REJECTs (docs/HANDSHAKE.md "Refusing a HELLO").
func TestHelloSuiteListMismatch(t *testing.T) {
	for _, reject := range []bool{false, true} {
		t.Run(map[bool]string{false: "silent", true: "reject"}[reject], func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				p := newPair(t, false, func(_, b *Config) { b.RejectWrongSeed = reject })
				var r replies
				p.net.filter = r.filter
				now := time.Now()
				hdr := [4]byte{byte(stc.SuiteChaCha20Poly1305), byte(stc.SuiteAES256GCM)}
				// Control: the same construction with equal lists is answered.
				p.send(helloWithPayloadSuites(t, p, now, hdr))
				if got := types(r.take()); !slicesEqual(got, []wire.HandshakeType{wire.HandshakeResponse}) {
					t.Fatalf("matching lists: replies %v, want a RESPONSE", got)
				}
				for _, pl := range [][4]byte{
					{byte(stc.SuiteAES256GCM), byte(stc.SuiteChaCha20Poly1305)}, // reordered
					{byte(stc.SuiteChaCha20Poly1305)},                           // shortened
					{byte(stc.SuiteChaCha20Poly1305), byte(stc.SuiteAES256GCM), 0, 9},
				} {
					malformed := p.b.Stats().Malformed
					p.send(helloWithPayloadSuites(t, p, now, pl))
					want := []wire.HandshakeType(nil)
					if reject {
						want = []wire.HandshakeType{wire.HandshakeReject}
					}
					if got := types(r.take()); !slicesEqual(got, want) {
						t.Errorf("payload suites %x: replies %v, want %v", pl, got, want)
					}
					if p.b.Stats().Malformed != malformed+1 {
						t.Errorf("payload suites %x: not counted as malformed", pl)
					}
				}
				if halfOpen(p.b) != 1 {
					t.Errorf("half-open %d, want only the control HELLO's", halfOpen(p.b))
				}
			})
		})
	}
}

// TestStaleHelloRejected: with RejectWrongSeed a HELLO outside the
// freshness window gets a REJECT(authentication); without it, nothing.
func TestStaleHelloRejected(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newPair(t, false, func(_, b *Config) { b.RejectWrongSeed = true })
		var r replies
		p.net.filter = r.filter
		x := initiatorFor(t, p, false)
		hello, _ := x.Hello(time.Now().Add(-10*time.Minute), nil)
		p.send(hello)
		if got := types(r.take()); !slicesEqual(got, []wire.HandshakeType{wire.HandshakeReject}) {
			t.Fatalf("stale HELLO: replies %v, want one REJECT", got)
		}
		if p.b.Stats().Stale != 1 {
			t.Errorf("Stale = %d", p.b.Stats().Stale)
		}
	})
}

// TestForceCookies: every HELLO without a valid cookie gets a COOKIE_REPLY
// and nothing else; the HELLO carrying the cookie is answered; Dial
// completes after one extra round trip.
func TestForceCookies(t *testing.T) {
	for _, hybrid := range []bool{false, true} {
		t.Run(map[bool]string{false: "x25519", true: "hybrid"}[hybrid], func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				p := newPair(t, hybrid, func(_, b *Config) { b.ForceCookies = true })
				var r replies
				p.net.filter = r.filter
				now := time.Now()
				x := initiatorFor(t, p, hybrid)
				hello, _ := x.Hello(now, nil)
				p.send(hello)
				msgs := r.take()
				if got := types(msgs); !slicesEqual(got, []wire.HandshakeType{wire.HandshakeCookieReply}) {
					t.Fatalf("HELLO without cookie: replies %v, want one COOKIE_REPLY", got)
				}
				if len(msgs[0]) != wire.CookieReplyLen || len(msgs[0]) >= len(hello) {
					t.Errorf("COOKIE_REPLY is %d bytes for a %d-byte HELLO", len(msgs[0]), len(hello))
				}
				cookie, err := x.OpenCookieReply(msgs[0])
				if err != nil {
					t.Fatal(err)
				}
				// A garbage cookie is no better than none.
				junk := initiatorFor(t, p, hybrid)
				h2, _ := junk.Hello(now, bytes.Repeat([]byte{7}, wire.CookieLen))
				p.send(h2)
				if got := types(r.take()); !slicesEqual(got, []wire.HandshakeType{wire.HandshakeCookieReply}) {
					t.Fatalf("HELLO with a wrong cookie: replies %v", got)
				}
				// A fresh attempt with the cookie completes.
				x = initiatorFor(t, p, hybrid)
				hello, _ = x.Hello(now, cookie[:])
				p.send(hello)
				msgs = r.take()
				if got := types(msgs); !slicesEqual(got, []wire.HandshakeType{wire.HandshakeResponse}) {
					t.Fatalf("HELLO with cookie: replies %v, want a RESPONSE", got)
				}
				est, proof, err := x.Response(msgs[0])
				if err != nil {
					t.Fatal(err)
				}
				p.send(proof)
				if s := p.dpB.session(est.SessionID); s == nil || !s.sendSecret.Equal(est.recvSecret) || !s.recvSecret.Equal(est.sendSecret) {
					t.Fatal("responder has no matching session")
				}
				// Dial handles it on its own.
				p.net.filter = nil
				if _, err := p.a.Dial(context.Background(), addrB); err != nil {
					t.Fatal(err)
				}
				if p.a.Stats().Retransmits != 0 {
					t.Errorf("the cookie round trip cost a retransmission timeout")
				}
			})
		})
	}
}

// TestCookieIgnoredWithoutLoad: a responder that requires no cookie ignores
// the cookie field, even a non-zero invalid one (docs/HANDSHAKE.md).
func TestCookieIgnoredWithoutLoad(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newPair(t, false, nil)
		var r replies
		p.net.filter = r.filter
		x := initiatorFor(t, p, false)
		hello, _ := x.Hello(time.Now(), bytes.Repeat([]byte{0xa5}, wire.CookieLen))
		p.send(hello)
		if got := types(r.take()); !slicesEqual(got, []wire.HandshakeType{wire.HandshakeResponse}) {
			t.Fatalf("replies %v, want a RESPONSE", got)
		}
	})
}

// TestInitiatorMatchesDial: the step-by-step Initiator completes a
// handshake with a Plane responder in both modes, rejects answers that are
// not for it, and recognises an authentic collision REJECT.
func TestInitiatorMatchesDial(t *testing.T) {
	for _, hybrid := range []bool{false, true} {
		t.Run(map[bool]string{false: "x25519", true: "hybrid"}[hybrid], func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				p := newPair(t, hybrid, nil)
				var r replies
				p.net.filter = r.filter
				x := initiatorFor(t, p, hybrid)
				if _, _, err := x.Response(make([]byte, wire.ResponseLen)); err == nil {
					t.Fatal("Response before Hello succeeded")
				}
				hello, _ := x.Hello(time.Now(), nil)
				if len(hello) != wire.HelloLenFor(hybrid) {
					t.Fatalf("HELLO is %d bytes", len(hello))
				}
				p.send(hello)
				msgs := r.take()
				if len(msgs) != 1 {
					t.Fatalf("replies %v", types(msgs))
				}
				other := initiatorFor(t, p, hybrid)
				other.Hello(time.Now(), nil)
				if _, _, err := other.Response(msgs[0]); !errors.Is(err, ErrNotForUs) {
					t.Fatalf("another attempt's RESPONSE: %v, want ErrNotForUs", err)
				}
				bad := bytes.Clone(msgs[0])
				bad[len(bad)-1] ^= 1
				if _, _, err := x.Response(bad); !errors.Is(err, ErrNotForUs) {
					t.Fatalf("corrupted RESPONSE: %v, want ErrNotForUs", err)
				}
				est, proof, err := x.Response(msgs[0])
				if err != nil {
					t.Fatal(err)
				}
				if est.Initiator != true || est.PeerID != p.b.cfg.Identity.ID() || est.Confirmed != nil {
					t.Errorf("Established %+v", est)
				}
				p.dpB.mu.Lock()
				p.dpB.collide = 1
				p.dpB.mu.Unlock()
				p.send(proof)
				msgs = r.take()
				if got := types(msgs); !slicesEqual(got, []wire.HandshakeType{wire.HandshakeReject}) {
					t.Fatalf("collision: replies %v, want REJECT", got)
				}
				if !x.rejectAuthentic(msgs[0]) || other.rejectAuthentic(msgs[0]) {
					t.Error("collision REJECT: authenticity not recognised")
				}
				forged := bytes.Clone(msgs[0])
				forged[wire.RejectTagOffset] ^= 1
				if x.rejectAuthentic(forged) {
					t.Error("forged collision REJECT accepted")
				}
			})
		})
	}
}

// TestInitiatorInputs: bad fixed inputs are reported, not used.
func TestInitiatorInputs(t *testing.T) {
	c := testConfig(t, 1, 100, true)
	for _, in := range []*InitiatorInputs{
		{Nonce: make([]byte, 5)},
		{KEMSeed: make([]byte, 12)},
		{Ephemeral: make([]byte, 31)},
	} {
		if _, err := NewInitiator(c, in); err == nil {
			t.Errorf("NewInitiator(%+v) accepted", in)
		}
	}
	x, err := NewInitiator(c, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := x.Hello(time.Now(), make([]byte, 3)); err == nil {
		t.Error("3-byte cookie accepted")
	}
}
