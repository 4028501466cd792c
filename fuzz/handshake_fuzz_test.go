package fuzz

import (
	"context"
	"errors"
	"net/netip"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stt-go/stt/control"
	"github.com/stt-go/stt/stc"
	"github.com/stt-go/stt/wire"
)

// hsNet is an in-memory DataPlane pair for FuzzHandshake: SendHandshake
// hands the datagram to the other Plane, replacing every message of one
// type with the fuzzer's bytes; the responder's Install plays FINAL.
type hsNet struct {
	mu       sync.Mutex
	replace  wire.HandshakeType
	with     []byte
	planes   map[netip.AddrPort]*control.Plane
	sessions map[netip.AddrPort]map[wire.SessionID]*control.Established
}

type hsDP struct {
	n    *hsNet
	addr netip.AddrPort
}

// keysMatch reports whether a's receive secret is b's send secret.
func keysMatch(a, b *control.Established) bool {
	_, recv := a.Secrets()
	send, _ := b.Secrets()
	return recv.Equal(send)
}

func (d hsDP) SendHandshake(pkt []byte, to netip.AddrPort) error {
	d.n.mu.Lock()
	dst := d.n.planes[to]
	b := pkt
	if len(pkt) > wire.HandshakeTypeOffset && wire.HandshakeType(pkt[wire.HandshakeTypeOffset]) == d.n.replace {
		b = d.n.with
	}
	d.n.mu.Unlock()
	if dst != nil {
		dst.HandlePacket(b, d.addr)
	}
	return nil
}

func (d hsDP) Install(s *control.Established) (any, error) {
	d.n.mu.Lock()
	defer d.n.mu.Unlock()
	m := d.n.sessions[d.addr]
	if _, ok := m[s.SessionID]; ok {
		return nil, control.ErrSessionExists
	}
	m[s.SessionID] = s
	if !s.Initiator { // FINAL: opens at the initiator only under matching keys
		if ps := d.n.sessions[s.Peer][s.SessionID]; ps != nil && keysMatch(ps, s) {
			close(ps.Confirmed)
		}
	}
	return s, nil
}

func (d hsDP) Remove(id wire.SessionID) {
	d.n.mu.Lock()
	delete(d.n.sessions[d.addr], id)
	d.n.mu.Unlock()
}

func (d hsDP) Loops() int { return 2 }

func hsConfig(t *testing.T, node byte) *control.Config {
	seed := make([]byte, 32)
	for i := range seed {
		seed[i] = node + byte(i)
	}
	id, err := stc.NewIdentity(seed)
	if err != nil {
		t.Fatal(err)
	}
	psk, err := stc.DerivePSK(make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	return &control.Config{Identity: id, PSK: psk, HandshakeTimeout: 2 * time.Second,
		Suites: []stc.Suite{stc.SuiteChaCha20Poly1305}}
}

// FuzzHandshake runs two real Planes in memory (non-hybrid, to keep each
// run short) with every handshake message of one type replaced by the
// fuzzer's bytes, which are also injected raw into both planes. Whatever
// the bytes, the dial must fail without a session left on either side and
// without a panic or goroutine leak: a session needs all genuine messages.
func FuzzHandshake(f *testing.F) {
	for typ := range byte(5) {
		f.Add(typ, []byte{})
		for _, n := range []int{wire.HelloLen, wire.ResponseLen, wire.AuthProofLen, wire.CookieReplyLen, wire.RejectLen} {
			b := make([]byte, n)
			wire.PutHandshakePrefix(b, 1, wire.HandshakeType(typ+1))
			f.Add(typ, b)
		}
	}
	f.Fuzz(func(t *testing.T, typ byte, data []byte) {
		synctest.Test(t, func(t *testing.T) {
			a, b := netip.MustParseAddrPort("127.0.0.1:1"), netip.MustParseAddrPort("127.0.0.1:2")
			n := &hsNet{replace: wire.HandshakeType(typ%3 + 1), with: data,
				planes:   map[netip.AddrPort]*control.Plane{},
				sessions: map[netip.AddrPort]map[wire.SessionID]*control.Established{a: {}, b: {}}}
			pa, err := control.NewPlane(hsConfig(t, 1), hsDP{n, a})
			if err != nil {
				t.Fatal(err)
			}
			defer pa.Close()
			pb, err := control.NewPlane(hsConfig(t, 2), hsDP{n, b})
			if err != nil {
				t.Fatal(err)
			}
			defer pb.Close()
			n.mu.Lock()
			n.planes[a], n.planes[b] = pa, pb
			n.mu.Unlock()
			pa.HandlePacket(data, b)
			pb.HandlePacket(data, a)
			est, err := pa.Dial(context.Background(), b)
			if err == nil {
				t.Fatalf("session %#x established with message type %d replaced by %x", uint64(est.SessionID), n.replace, data)
			}
			if !errors.Is(err, control.ErrHandshakeTimeout) && !errors.Is(err, control.ErrAuthentication) {
				t.Fatalf("unexpected error %v", err)
			}
			synctest.Wait()
			n.mu.Lock()
			defer n.mu.Unlock()
			if len(n.sessions[a])+len(n.sessions[b]) != 0 {
				t.Fatalf("sessions left: %d at initiator, %d at responder", len(n.sessions[a]), len(n.sessions[b]))
			}
			if s := pb.Stats(); s.Accepted != 0 {
				t.Fatalf("responder accepted %d sessions", s.Accepted)
			}
		})
	})
}

// FuzzHandshakeParse feeds arbitrary bytes to every handshake message
// parser: a message that parses has exactly its type's length, its
// accessors stay inside it, and re-encoding the prefix reproduces it.
func FuzzHandshakeParse(f *testing.F) {
	for _, n := range []int{wire.HelloLen, wire.HelloHybridLen, wire.ResponseLen, wire.ResponseHybridLen, wire.AuthProofLen, wire.CookieReplyLen, wire.RejectLen, wire.ResumeLen, wire.ResumeResponseLen} {
		for typ := wire.HandshakeHello; typ <= wire.HandshakeResumeResponse; typ++ {
			b := make([]byte, n)
			wire.PutHandshakePrefix(b, 0x0102030405060708, typ)
			if typ == wire.HandshakeHello && n == wire.HelloHybridLen {
				b[wire.HelloFlagsOffset] = wire.HelloFlagHybrid
			}
			if typ == wire.HandshakeReject {
				b[wire.RejectReasonOffset] = wire.RejectCollision
			}
			f.Add(b)
			if typ == wire.HandshakeReject && n == wire.RejectLen {
				t := append([]byte(nil), b...)
				t[wire.RejectReasonOffset] = wire.RejectTicket
				f.Add(t)
			}
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		id, typ, err := wire.ParseHandshakeType(b)
		if err != nil {
			return
		}
		var pre [wire.HandshakePrefixLen]byte
		wire.PutHandshakePrefix(pre[:], id, typ)
		if string(pre[:]) != string(b[:wire.HandshakePrefixLen]) {
			t.Fatalf("prefix does not round-trip: %x vs %x", pre, b[:wire.HandshakePrefixLen])
		}
		if h, err := wire.ParseHello(b); err == nil {
			if len(b) != wire.HelloLenFor(h.Hybrid()) || h.ID() != id || len(h.Sealed()) != wire.HelloSealedLen ||
				len(h.Ephemeral()) != wire.KeyLen || (h.Hybrid() && len(h.KEMKey()) != wire.KEMEncapKeyLen) {
				t.Fatalf("HELLO view inconsistent (len %d)", len(b))
			}
		}
		for _, hybrid := range []bool{false, true} {
			if r, err := wire.ParseResponse(b, hybrid); err == nil {
				if len(b) != wire.ResponseLenFor(hybrid) || r.ID() != id || len(r.SealedStatic()) != wire.ResponseSealedStaticLen ||
					len(r.Sealed()) != wire.ResponseSealedLen || (hybrid != (r.KEMCiphertext() != nil)) {
					t.Fatalf("RESPONSE view inconsistent (len %d hybrid %v)", len(b), hybrid)
				}
			}
		}
		if a, err := wire.ParseAuthProof(b); err == nil && (len(b) != wire.AuthProofLen || len(a.SealedStatic())+len(a.Sealed())+wire.HandshakePrefixLen != len(b)) {
			t.Fatal("AUTH_PROOF view inconsistent")
		}
		if c, err := wire.ParseCookieReply(b); err == nil && (len(c.Nonce()) != wire.CookieReplyNonceLen || len(c.Sealed()) != wire.CookieLen+wire.TagLen) {
			t.Fatal("COOKIE_REPLY view inconsistent")
		}
		if r, err := wire.ParseReject(b); err == nil && (len(r.Tag()) != wire.TagLen ||
			(r.Reason() != wire.RejectAuthentication && r.Reason() != wire.RejectCollision && r.Reason() != wire.RejectTicket)) {
			t.Fatal("REJECT view inconsistent")
		}
		if r, err := wire.ParseResume(b); err == nil && (len(b) != wire.ResumeLen || r.ID() != id ||
			len(r.Cookie()) != wire.CookieLen || len(r.Ephemeral()) != 32 || len(r.Ticket()) != wire.TicketLen || len(r.PSKTag()) != wire.TagLen) {
			t.Fatal("RESUME view inconsistent")
		}
		if r, err := wire.ParseResumeResponse(b); err == nil && (len(b) != wire.ResumeResponseLen || r.ID() != id || len(r.Ephemeral()) != 32) {
			t.Fatal("RESUME_RESPONSE view inconsistent")
		}
		if _, ticket, err := wire.ParseNewTicket(b); err == nil && (len(b) != wire.NewTicketLen || len(ticket) != wire.TicketLen) {
			t.Fatal("NEW_TICKET blob view inconsistent")
		}
	})
}
