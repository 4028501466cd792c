package control

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stt-go/stt/stc"
	"github.com/stt-go/stt/wire"
)

// clock is a shared adjustable clock for Config.Now: the real time (with
// its monotonic reading) plus an offset.
type clock struct{ off atomic.Int64 }

func (c *clock) now() time.Time          { return time.Now().Add(time.Duration(c.off.Load())) }
func (c *clock) advance(d time.Duration) { c.off.Add(int64(d)) }

// newResumePair is newPair with resumption on at both ends, on clock c
// (nil: the real clock).
func newResumePair(tb testing.TB, hybrid bool, c *clock, mod func(a, b *Config)) *pair {
	tb.Helper()
	return newPair(tb, hybrid, func(a, b *Config) {
		a.Resumption, b.Resumption = true, true
		if c != nil {
			a.Now, b.Now = c.now, c.now
		}
		if mod != nil {
			mod(a, b)
		}
	})
}

func dialOK(tb testing.TB, p *Plane, to netip.AddrPort, opts *DialOptions) *Established {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	est, err := p.DialWith(ctx, to, opts)
	if err != nil {
		tb.Fatal(err)
	}
	return est
}

// checkPairInstalled checks that both ends hold the session est, with
// crosswise secrets, the expected peers and the resumed mark.
func checkPairInstalled(tb testing.TB, p *pair, est *Established, resumed bool) *Established {
	tb.Helper()
	rs := p.dpB.session(est.SessionID)
	// A resumed responder installs after its RESUME_RESPONSE is out: the
	// dial may return first.
	for deadline := time.Now().Add(5 * time.Second); rs == nil && time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		rs = p.dpB.session(est.SessionID)
	}
	if rs == nil {
		tb.Fatalf("responder has no session %v", est.SessionID)
	}
	if !rs.sendSecret.Equal(est.recvSecret) || !rs.recvSecret.Equal(est.sendSecret) || rs.Suite != est.Suite {
		tb.Fatal("the two ends derived different keys")
	}
	if est.PeerID != p.b.cfg.Identity.ID() || rs.PeerID != p.a.cfg.Identity.ID() ||
		est.PeerStatic != p.b.cfg.Identity.Public() || rs.PeerStatic != p.a.cfg.Identity.Public() {
		tb.Fatal("a session names the wrong peer")
	}
	if est.Resumed != resumed || rs.Resumed != resumed {
		tb.Fatalf("Resumed = %v/%v, want %v", est.Resumed, rs.Resumed, resumed)
	}
	if resumed && (est.Confirmed != nil || est.RTT <= 0) {
		tb.Fatalf("resumed initiator session: Confirmed %v, RTT %v", est.Confirmed, est.RTT)
	}
	if rs.Ticket == nil || len(rs.Ticket) != wire.NewTicketLen {
		tb.Fatalf("responder session carries no ticket (%d bytes)", len(rs.Ticket))
	}
	return rs
}

func heldTicket(p *Plane, to netip.AddrPort) *ticketEntry {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.mu.tickets[to]
}

// eventually waits up to 5 s for cond.
func eventually(tb testing.TB, cond func() bool) {
	tb.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			tb.Fatal("condition not reached")
		}
	}
}

// waitTicket waits until p holds a ticket for to other than old (nil: any):
// a resumed session's NEW_TICKET may arrive after the dial returned.
func waitTicket(tb testing.TB, p *Plane, to netip.AddrPort, old *[wire.TicketLen]byte) *ticketEntry {
	tb.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		if e := heldTicket(p, to); e != nil && (old == nil || e.ticket != *old) {
			return e
		}
	}
	tb.Fatal("no new ticket stored")
	return nil
}

// TestResume runs a full handshake, then resumed ones with the ticket it
// left, in both modes: the resumed sessions have fresh keys (forward
// secrecy from the ephemerals), both ends agree on them and on who the
// peer is, and each resumed session issues a new ticket.
func TestResume(t *testing.T) {
	for _, hybrid := range []bool{false, true} {
		t.Run(map[bool]string{false: "x25519", true: "hybrid"}[hybrid], func(t *testing.T) {
			p := newResumePair(t, hybrid, nil, nil)
			full := dialOK(t, p.a, addrB, nil)
			checkPairInstalled(t, p, full, false)
			if heldTicket(p.a, addrB) == nil {
				t.Fatal("no ticket stored after the full handshake")
			}
			seen := map[string]bool{string(full.sendSecret.Bytes()): true, string(full.recvSecret.Bytes()): true}
			ids := map[wire.SessionID]bool{full.SessionID: true}
			for i := range 3 {
				prev := heldTicket(p.a, addrB).ticket
				est := dialOK(t, p.a, addrB, nil)
				checkPairInstalled(t, p, est, true)
				if seen[string(est.sendSecret.Bytes())] || seen[string(est.recvSecret.Bytes())] || ids[est.SessionID] {
					t.Fatalf("resumption %d repeated keys or a session ID", i)
				}
				seen[string(est.sendSecret.Bytes())], seen[string(est.recvSecret.Bytes())], ids[est.SessionID] = true, true, true
				if est.LocalParams != p.a.cfg.Params || est.PeerParams != p.b.cfg.Params {
					t.Fatalf("transport parameters %+v / %+v", est.LocalParams, est.PeerParams)
				}
				waitTicket(t, p.a, addrB, &prev) // the resumed session's ticket replaces the old one
			}
			eventually(t, func() bool { return p.b.Stats().ResumeAccepted == 3 }) // counted after Install returns
			sa, sb := p.a.Stats(), p.b.Stats()
			if sa.Resumed != 3 || sa.HandshakesOK != 4 || sb.ResumeAccepted != 3 || sb.Accepted != 4 ||
				sb.TicketsIssued != 4 || sa.TicketsStored != 4 || sa.ResumeFallbacks != 0 {
				t.Fatalf("stats: initiator %+v responder %+v", sa, sb)
			}
			// Full on request, with a ticket held.
			est := dialOK(t, p.a, addrB, &DialOptions{Full: true})
			checkPairInstalled(t, p, est, false)
		})
	}
}

// TestResumeOff: without Config.Resumption no ticket is issued and a
// RESUME (from a node that has one) is refused with REJECT(ticket).
func TestResumeOff(t *testing.T) {
	p := newPair(t, false, nil)
	est := dialOK(t, p.a, addrB, nil)
	if rs := p.dpB.session(est.SessionID); rs.Ticket != nil {
		t.Fatal("ticket issued with resumption off")
	}
	if err := p.a.StoreTicket(est.SessionID, make([]byte, wire.NewTicketLen)); !errors.Is(err, ErrNoTicketWanted) {
		t.Fatalf("StoreTicket with resumption off: %v", err)
	}
}

// resumeFallback dials A→B holding a ticket that B will refuse (spoil
// prepares it) and checks the dial falls back to a full handshake at once
// on the REJECT(ticket), forgets the ticket and stores the new session's.
func resumeFallback(t *testing.T, c *clock, mod func(a, b *Config), spoil func(p *pair)) {
	t.Helper()
	p := newResumePair(t, false, c, mod)
	dialOK(t, p.a, addrB, nil)
	spoil(p)
	old := heldTicket(p.a, addrB)
	start := time.Now()
	est := dialOK(t, p.a, addrB, nil)
	checkPairInstalled(t, p, est, false)
	if el := time.Since(start); el >= initialRTO {
		t.Errorf("fallback took %v: it waited for a timer, not for the REJECT", el)
	}
	sa, sb := p.a.Stats(), p.b.Stats()
	if sa.ResumeFallbacks != 1 || sb.ResumeRefused != 1 || sb.RejectsSent != 1 || sa.Resumed != 0 {
		t.Fatalf("stats: initiator %+v responder %+v", sa, sb)
	}
	if h := heldTicket(p.a, addrB); h == nil || old != nil && h.ticket == old.ticket {
		t.Fatal("the refused ticket was kept, or the new session's was not stored")
	}
}

func TestResumeExpiredTicket(t *testing.T) {
	c := new(clock)
	resumeFallback(t, c, nil, func(p *pair) {
		// The initiator's copy claims a longer life than the responder gives.
		p.a.mu.Lock()
		p.a.mu.tickets[addrB].expires = c.now().Add(3 * ticketLifetime)
		p.a.mu.tickets[addrB].received = c.now().Add(-ticketLifetime) // its age stays consistent
		p.a.mu.Unlock()
		c.advance(ticketLifetime)
	})
	// The initiator itself forgets expired tickets: no RESUME at all.
	p := newResumePair(t, false, c, nil)
	dialOK(t, p.a, addrB, nil)
	c.advance(ticketLifetime)
	if est := dialOK(t, p.a, addrB, nil); est.Resumed || p.b.Stats().ResumeRefused != 0 {
		t.Fatal("an expired ticket was presented")
	}
}

func TestResumeUnknownTicketKey(t *testing.T) {
	resumeFallback(t, nil, nil, func(p *pair) {
		p.b.tickets.Store(newTicketKeys(nil, time.Now())) // B restarted: new keys
	})
}

func TestResumeTamperedTicket(t *testing.T) {
	resumeFallback(t, nil, nil, func(p *pair) {
		p.a.mu.Lock()
		p.a.mu.tickets[addrB].ticket[wire.TicketLen/2] ^= 1
		p.a.mu.Unlock()
	})
}

func TestResumeStale(t *testing.T) {
	resumeFallback(t, nil, nil, func(p *pair) {
		// The initiator's ticket age is a minute off.
		p.a.mu.Lock()
		p.a.mu.tickets[addrB].received = p.a.mu.tickets[addrB].received.Add(-time.Minute)
		p.a.mu.Unlock()
	})
}

func TestResumeNotAllowed(t *testing.T) {
	// B stops allowing A after the ticket was issued. A's full handshake is
	// refused too, so the dial fails; what matters is that the RESUME is
	// refused (not resumed) and the ticket dropped.
	p := newResumePair(t, false, nil, nil)
	dialOK(t, p.a, addrB, nil)
	p.b.allow = map[stc.NodeID]struct{}{{9}: {}}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if _, err := p.a.Dial(ctx, addrB); err == nil {
		t.Fatal("dial succeeded")
	}
	if s := p.b.Stats(); s.ResumeRefused != 1 || s.ResumeAccepted != 0 {
		t.Fatalf("responder stats %+v", s)
	}
	if heldTicket(p.a, addrB) != nil {
		t.Fatal("refused ticket kept")
	}
}

// TestResumeRotation: a ticket issued under the previous ticket key still
// resumes; one from two rotations ago (and so expired) does not.
func TestResumeRotation(t *testing.T) {
	c := new(clock)
	p := newResumePair(t, false, c, nil)
	dialOK(t, p.a, addrB, nil)
	c.advance(ticketRotation / 2)
	p.b.sweep(c.now()) // not yet
	first := p.b.tickets.Load()
	old := heldTicket(p.a, addrB).ticket
	if est := dialOK(t, p.a, addrB, nil); !est.Resumed {
		t.Fatal("not resumed")
	}
	waitTicket(t, p.a, addrB, &old) // issued half a rotation in: outlives the rotation
	c.advance(ticketRotation/2 + time.Second)
	p.b.sweep(c.now())
	if k := p.b.tickets.Load(); k == first || k.prev != first.cur {
		t.Fatal("ticket keys did not rotate")
	}
	if est := dialOK(t, p.a, addrB, nil); !est.Resumed {
		t.Fatal("a ticket under the previous key was refused")
	}
}

// TestResumeReplay replays a captured RESUME: it is not answered, installs
// nothing, and leaves the live session alone.
func TestResumeReplay(t *testing.T) {
	p := newResumePair(t, false, nil, nil)
	dialOK(t, p.a, addrB, nil)
	var mu sync.Mutex
	var captured []byte
	p.net.filter = func(from, _ netip.AddrPort, b []byte) []byte {
		if from == addrA && b[wire.HandshakeTypeOffset] == byte(wire.HandshakeResume) {
			mu.Lock()
			captured = bytes.Clone(b)
			mu.Unlock()
		}
		return b
	}
	est := dialOK(t, p.a, addrB, nil)
	if !est.Resumed {
		t.Fatal("not resumed")
	}
	p.net.filter = nil
	// The responder installs after its RESUME_RESPONSE is out: let it
	// finish before counting.
	eventually(t, func() bool { return p.b.Stats().ResumeAccepted == 1 })
	p.dpB.mu.Lock()
	before := p.dpB.installs
	p.dpB.mu.Unlock()
	sent := len(p.net.sent)
	w := newWorkerScratch()
	for _, from := range []netip.AddrPort{addrA, netip.MustParseAddrPort("192.0.2.9:9")} {
		if got := p.b.resumeWith(w, captured, from, time.Now(), nil); got != nil {
			t.Fatal("replayed RESUME installed a session")
		}
	}
	p.dpB.mu.Lock()
	installs := p.dpB.installs
	p.dpB.mu.Unlock()
	if installs != before || len(p.net.sent) != sent {
		t.Fatalf("replay installed %d sessions, sent %d datagrams", installs-before, len(p.net.sent)-sent)
	}
	if s := p.b.Stats(); s.Replays != 2 || s.ResumeAccepted != 1 {
		t.Fatalf("responder stats %+v", s)
	}
	if p.dpB.session(est.SessionID) == nil {
		t.Fatal("the live session was disturbed")
	}
}

// TestResumeReplayMemory checks the replay memory's bounds directly: an
// entry is remembered for at least 2 × resumeWindow, and a full current
// generation refuses rather than forgets.
func TestResumeReplayMemory(t *testing.T) {
	var r resumeReplay
	t0 := time.Now()
	e := func(i int) *[32]byte {
		var k [32]byte
		k[0], k[1], k[2] = byte(i), byte(i>>8), byte(i>>16)
		return &k
	}
	if seen, full := r.insert(e(1), t0); seen || full {
		t.Fatal("first insert refused")
	}
	for _, d := range []time.Duration{0, resumeWindow, 2*resumeWindow - 1, 2 * resumeWindow, 3 * resumeWindow, 4*resumeWindow - 1} {
		if seen, _ := r.insert(e(1), t0.Add(d)); !seen {
			t.Fatalf("replay at +%v not caught", d)
		}
	}
	// Two rotations later (each after 2 × resumeWindow) it is forgotten.
	r.rotate(t0.Add(4 * resumeWindow))
	r.rotate(t0.Add(6 * resumeWindow))
	if seen, _ := r.insert(e(1), t0.Add(6*resumeWindow)); seen {
		t.Fatal("entry kept past two generations")
	}
	var f resumeReplay
	for i := range resumeReplayMax {
		if _, full := f.insert(e(i+2), t0); full {
			t.Fatalf("full after %d entries", i)
		}
	}
	if seen, full := f.insert(e(1), t0); seen || !full {
		t.Fatal("a full generation accepted another entry")
	}
	if seen, _ := f.insert(e(2), t0); !seen {
		t.Fatal("a full generation forgot an entry")
	}
	if _, full := f.insert(e(1), t0.Add(2*resumeWindow)); full {
		t.Fatal("still full after rotation")
	}
}

// TestResumeIdentityBinding: a ticket from node B presented to node C (same
// shared seed, another node seed) is refused and the dial completes with a
// full handshake with C; even with B's ticket keys, C refuses a ticket that
// names B.
func TestResumeIdentityBinding(t *testing.T) {
	for _, sameKeys := range []bool{false, true} {
		p := newResumePair(t, false, nil, nil)
		addrC := netip.MustParseAddrPort("127.0.0.1:1003")
		dpC := p.net.add(addrC, 1)
		cc := testConfig(t, 3, 100, false)
		cc.Resumption = true
		pc, err := NewPlane(cc, dpC)
		if err != nil {
			t.Fatal(err)
		}
		dpC.plane = pc
		t.Cleanup(func() { pc.Close() })
		dialOK(t, p.a, addrB, nil)
		if sameKeys {
			pc.tickets.Store(p.b.tickets.Load())
		}
		p.a.mu.Lock()
		e := *p.a.mu.tickets[addrB]
		p.a.mu.tickets[addrC] = &e // A believes it holds a ticket for C
		p.a.mu.Unlock()
		est := dialOK(t, p.a, addrC, nil)
		if est.Resumed || est.PeerID != cc.Identity.ID() {
			t.Fatalf("sameKeys=%v: resumed %v with %v", sameKeys, est.Resumed, est.PeerID)
		}
		if s := pc.Stats(); s.ResumeRefused != 1 || s.ResumeAccepted != 0 {
			t.Fatalf("sameKeys=%v: C stats %+v", sameKeys, s)
		}
	}
}

// TestResumeTampered flips bits of a RESUME in flight: a change to the
// header, ephemeral, ticket or PSK tag fails the PSK tag (silent, counted
// as SeedMismatch), a change to the sealed payload fails its open
// (silent); nothing installs. The dial falls back to a full handshake at
// its first timer.
func TestResumeTampered(t *testing.T) {
	for _, off := range []int{wire.ResumeCookieOffset, wire.ResumeEphemeralOffset + 3, wire.ResumeTicketOffset + 40,
		wire.ResumePSKTagOffset + 1, wire.ResumeSealedOffset + 5, wire.ResumeLen - 1} {
		synctest.Test(t, func(t *testing.T) {
			p := newResumePair(t, false, nil, nil)
			dialOK(t, p.a, addrB, nil)
			p.net.filter = func(from, _ netip.AddrPort, b []byte) []byte {
				if from == addrA && b[wire.HandshakeTypeOffset] == byte(wire.HandshakeResume) {
					b[off] ^= 0x40
				}
				return b
			}
			est := dialOK(t, p.a, addrB, nil)
			checkPairInstalled(t, p, est, false)
			sa, sb := p.a.Stats(), p.b.Stats()
			if sb.ResumeAccepted != 0 || sa.ResumeFallbacks != 1 || sb.RejectsSent != 0 {
				t.Fatalf("offset %d: initiator %+v responder %+v", off, sa, sb)
			}
			if off < wire.ResumeSealedOffset && sb.SeedMismatch != 1 || off >= wire.ResumeSealedOffset && sb.Malformed != 1 {
				t.Fatalf("offset %d: responder %+v", off, sb)
			}
			if heldTicket(p.a, addrB) == nil {
				t.Fatal("ticket dropped after a silent failure")
			}
		})
	}
}

// TestResumeSilentResponder: a responder that drops RESUMEs (an
// implementation without resumption) costs one retransmission timer, then
// the dial completes with a full handshake and keeps the ticket.
func TestResumeSilentResponder(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newResumePair(t, true, nil, nil)
		dialOK(t, p.a, addrB, nil)
		p.net.filter = func(from, _ netip.AddrPort, b []byte) []byte {
			if b[wire.HandshakeTypeOffset] == byte(wire.HandshakeResume) {
				return nil
			}
			return b
		}
		start := time.Now()
		est := dialOK(t, p.a, addrB, nil)
		checkPairInstalled(t, p, est, false)
		if el := time.Since(start); el != initialRTO {
			t.Errorf("fallback after %v, want %v", el, initialRTO)
		}
		if s := p.a.Stats(); s.ResumeFallbacks != 1 {
			t.Fatalf("stats %+v", s)
		}
	})
}

// TestResumeCookie: a responder in cookie mode answers a RESUME with a
// COOKIE_REPLY, and the initiator resumes with the cookie.
func TestResumeCookie(t *testing.T) {
	p := newResumePair(t, false, nil, func(_, b *Config) { b.ForceCookies = true })
	dialOK(t, p.a, addrB, nil)
	p.a.mu.Lock()
	clear(p.a.mu.cookies) // so the RESUME comes without one
	p.a.mu.Unlock()
	est := dialOK(t, p.a, addrB, nil)
	if !est.Resumed {
		t.Fatal("not resumed")
	}
	if s := p.a.Stats(); s.Resumed != 1 || s.ResumeFallbacks != 0 {
		t.Fatalf("stats %+v", s)
	}
	if s := p.b.Stats(); s.CookiesSent != 2 {
		t.Fatalf("responder sent %d cookies, want 2 (one per dial)", s.CookiesSent)
	}
}

// TestResumeForgedAnswers: RESUME_RESPONSEs that do not open and REJECTs
// for other handshake IDs change nothing; the genuine answer resumes.
func TestResumeForgedAnswers(t *testing.T) {
	p := newResumePair(t, false, nil, nil)
	dialOK(t, p.a, addrB, nil)
	p.net.filter = func(from, to netip.AddrPort, b []byte) []byte {
		if from == addrB && b[wire.HandshakeTypeOffset] == byte(wire.HandshakeResumeResponse) {
			f := bytes.Clone(b)
			f[wire.ResumeResponseSealedOffset] ^= 1
			p.a.HandlePacket(f, addrB) // a corrupted copy first
			r := make([]byte, wire.RejectLen)
			wire.PutHandshakePrefix(r, 77, wire.HandshakeReject)
			r[wire.RejectReasonOffset] = wire.RejectTicket
			p.a.HandlePacket(r, addrB) // a REJECT for another ID
		}
		return b
	}
	est := dialOK(t, p.a, addrB, nil)
	if !est.Resumed {
		t.Fatal("not resumed")
	}
}

func TestStoreTicketErrors(t *testing.T) {
	p := newResumePair(t, false, nil, nil)
	var pe *wire.ParseError
	if err := p.a.StoreTicket(1, make([]byte, wire.NewTicketLen-1)); !errors.As(err, &pe) {
		t.Fatalf("short blob: %v", err)
	}
	if err := p.a.StoreTicket(1, make([]byte, wire.NewTicketLen)); !errors.Is(err, ErrNoTicketWanted) {
		t.Fatalf("unknown session: %v", err)
	}
	est := dialOK(t, p.a, addrB, nil)
	if err := p.a.StoreTicket(est.SessionID, make([]byte, wire.NewTicketLen)); !errors.Is(err, ErrNoTicketWanted) {
		t.Fatalf("second ticket for a session: %v", err)
	}
}

// TestCheckTicket covers the responder's ticket policy row by row.
func TestCheckTicket(t *testing.T) {
	p := newResumePair(t, false, nil, nil)
	now := time.Now()
	good := ticketContents{issued: now, chain: now, suite: p.b.cfg.Suites[0], idI: p.a.cfg.Identity.ID(), idR: p.b.cfg.Identity.ID()}
	if !p.b.checkTicket(&good, now) {
		t.Fatal("good ticket refused")
	}
	tests := []struct {
		name string
		mod  func(t *ticketContents)
	}{
		{"another responder", func(t *ticketContents) { t.idR[0] ^= 1 }},
		{"expired", func(t *ticketContents) { t.issued = now.Add(-ticketLifetime) }},
		{"issued in the future", func(t *ticketContents) { t.issued = now.Add(2 * resumeWindow) }},
		{"chain too old", func(t *ticketContents) { t.chain = now.Add(-maxResumeChain - time.Second) }},
		{"suite not accepted", func(t *ticketContents) { t.suite = stc.SuiteAES128GCM }},
		{"invalid suite", func(t *ticketContents) { t.suite = 0 }},
		{"own ID", func(t *ticketContents) { t.idI = p.b.cfg.Identity.ID() }},
	}
	for _, tt := range tests {
		c := good
		tt.mod(&c)
		if p.b.checkTicket(&c, now) {
			t.Errorf("%s: accepted", tt.name)
		}
	}
}

// TestTicketSealOpen: a ticket opens under the key that sealed it (current
// or previous), not under others, and any changed byte fails it.
func TestTicketSealOpen(t *testing.T) {
	now := time.UnixMilli(time.Now().UnixMilli())
	keys := newTicketKeys(nil, now)
	in := ticketContents{issued: now, chain: now.Add(-time.Minute), suite: 2}
	_, _ = rand.Read(in.idI[:])
	_, _ = rand.Read(in.res[:])
	var nonce [24]byte
	var tk [wire.TicketLen]byte
	sealTicket(&tk, keys.cur, &nonce, &in)
	var out ticketContents
	if err := openTicket(keys, tk[:], &out); err != nil || out != in {
		t.Fatalf("round trip: %v %+v", err, out)
	}
	next := newTicketKeys(keys, now)
	if err := openTicket(next, tk[:], &out); err != nil {
		t.Fatalf("previous key: %v", err)
	}
	if err := openTicket(newTicketKeys(next, now), tk[:], &out); !errors.Is(err, errTicket) {
		t.Fatalf("retired key: %v", err)
	}
	for i := range tk {
		bad := tk
		bad[i] ^= 1
		if err := openTicket(keys, bad[:], &out); !errors.Is(err, errTicket) {
			t.Fatalf("byte %d flipped: %v", i, err)
		}
	}
}
