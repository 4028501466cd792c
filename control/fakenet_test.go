package control

import (
	"fmt"
	"net/netip"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/stt-go/stt/stc"
	"github.com/stt-go/stt/wire"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fakeNet connects fake data planes in memory: SendHandshake calls the
// destination Plane's HandlePacket synchronously (it never blocks), through
// an optional filter that may drop (return nil) or rewrite a copy.
type fakeNet struct {
	fmu    sync.Mutex // serialises filter calls
	pmu    sync.Mutex // serialises pairResumed
	mu     sync.Mutex
	nodes  map[netip.AddrPort]*fakeDP
	filter func(from, to netip.AddrPort, pkt []byte) []byte
	sent   []sentPkt // log of every handshake datagram, in order
}

type sentPkt struct {
	from, to netip.AddrPort
	b        []byte
}

func newFakeNet() *fakeNet { return &fakeNet{nodes: make(map[netip.AddrPort]*fakeDP)} }

// fakeDP is the in-memory DataPlane: it records installed sessions and
// plays the responder data plane's FINAL by closing the initiator's
// Confirmed when the keys match crosswise.
type fakeDP struct {
	net   *fakeNet
	addr  netip.AddrPort
	plane *Plane
	loops int

	mu        sync.Mutex
	sessions  map[wire.SessionID]*Established
	collide   int // Install calls that fail with ErrSessionExists
	dropFinal int // FINALs to lose (retransmitted after finalRetx)
	// finalDelay, when set, delays every FINAL by this much (a slow path
	// back to the initiator).
	finalDelay time.Duration
	installs   int // successful Install calls
	removes    int // Remove calls
	confirmed  map[wire.SessionID]bool
}

const finalRetx = 300 * time.Millisecond

func (n *fakeNet) add(addr netip.AddrPort, loops int) *fakeDP {
	d := &fakeDP{net: n, addr: addr, loops: loops, sessions: map[wire.SessionID]*Established{}, confirmed: map[wire.SessionID]bool{}}
	n.mu.Lock()
	n.nodes[addr] = d
	n.mu.Unlock()
	return d
}

func (d *fakeDP) SendHandshake(pkt []byte, to netip.AddrPort) error {
	b := append([]byte(nil), pkt...)
	d.net.mu.Lock()
	f := d.net.filter
	dst := d.net.nodes[to]
	d.net.sent = append(d.net.sent, sentPkt{d.addr, to, append([]byte(nil), b...)})
	d.net.mu.Unlock()
	if f != nil {
		d.net.fmu.Lock() // filters keep state; serialise them
		b = f(d.addr, to, b)
		d.net.fmu.Unlock()
	}
	if b == nil || dst == nil || dst.plane == nil {
		return nil
	}
	dst.plane.HandlePacket(b, d.addr)
	return nil
}

func (d *fakeDP) Install(s *Established) (any, error) {
	d.mu.Lock()
	if d.collide > 0 {
		d.collide--
		d.mu.Unlock()
		return nil, fmt.Errorf("fake: %w", ErrSessionExists)
	}
	if _, ok := d.sessions[s.SessionID]; ok {
		d.mu.Unlock()
		return nil, fmt.Errorf("fake: %w", ErrSessionExists)
	}
	d.sessions[s.SessionID] = s
	d.installs++
	delay := d.finalDelay
	if !s.Initiator && d.dropFinal > 0 {
		d.dropFinal--
		delay += finalRetx
	}
	d.mu.Unlock()
	switch {
	case s.Resumed:
		d.net.pairResumed(d, s)
	case !s.Initiator:
		if delay > 0 {
			time.AfterFunc(delay, func() { d.sendFinal(s) })
		} else {
			d.sendFinal(s)
		}
	}
	return s, nil
}

// sendFinal plays FINAL (with the NEW_TICKET that rides in its packet):
// the initiator's session opens it if its receive secret is our send
// secret.
func (d *fakeDP) sendFinal(s *Established) {
	d.net.mu.Lock()
	peer := d.net.nodes[s.Peer]
	d.net.mu.Unlock()
	if peer == nil {
		return
	}
	peer.mu.Lock()
	ps := peer.sessions[s.SessionID]
	if ps == nil || !ps.Initiator || !ps.recvSecret.Equal(s.sendSecret) || peer.confirmed[s.SessionID] {
		peer.mu.Unlock()
		return
	}
	peer.confirmed[s.SessionID] = true
	peer.mu.Unlock()
	if s.Ticket != nil && peer.plane != nil {
		_ = peer.plane.StoreTicket(s.SessionID, s.Ticket)
	}
	close(ps.Confirmed)
}

// pairResumed plays what the data planes do after a resumed handshake:
// the initiator's first packet confirms the responder's session, which
// answers with its NEW_TICKET. The two installs race (the responder
// installs after sending RESUME_RESPONSE), so whichever comes second
// completes the pair.
func (n *fakeNet) pairResumed(d *fakeDP, s *Established) {
	n.pmu.Lock()
	defer n.pmu.Unlock()
	n.mu.Lock()
	peer := n.nodes[s.Peer]
	n.mu.Unlock()
	if peer == nil {
		return
	}
	peer.mu.Lock()
	ps := peer.sessions[s.SessionID]
	peer.mu.Unlock()
	if ps == nil || ps.Initiator == s.Initiator || !ps.recvSecret.Equal(s.sendSecret) || !ps.sendSecret.Equal(s.recvSecret) {
		return
	}
	ini, resp, iDP := s, ps, d
	if !s.Initiator {
		ini, resp, iDP = ps, s, peer
	}
	iDP.mu.Lock()
	iDP.confirmed[ini.SessionID] = true
	iDP.mu.Unlock()
	if resp.Ticket != nil && iDP.plane != nil {
		_ = iDP.plane.StoreTicket(ini.SessionID, resp.Ticket)
	}
}

func (d *fakeDP) Remove(id wire.SessionID) {
	d.mu.Lock()
	delete(d.sessions, id)
	d.removes++
	d.mu.Unlock()
}

func (d *fakeDP) Loops() int { return d.loops }

func (d *fakeDP) session(id wire.SessionID) *Established {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.sessions[id]
}

func (d *fakeDP) count() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.sessions)
}

var (
	addrA = netip.MustParseAddrPort("127.0.0.1:1001")
	addrB = netip.MustParseAddrPort("127.0.0.1:1002")
)

// testSeeds maps identities made by testConfig to their node seeds.
var testSeeds sync.Map

func seed(b byte) []byte {
	s := make([]byte, 32)
	for i := range s {
		s[i] = b + byte(i)
	}
	return s
}

// testConfig returns a Config for the node seeded by nodeSeed and sharing
// sharedSeed.
func testConfig(tb testing.TB, nodeSeed, sharedSeed byte, hybrid bool) *Config {
	tb.Helper()
	id, err := stc.NewIdentity(seed(nodeSeed))
	if err != nil {
		tb.Fatal(err)
	}
	testSeeds.Store(id, seed(nodeSeed))
	psk, err := stc.DerivePSK(seed(sharedSeed))
	if err != nil {
		tb.Fatal(err)
	}
	return &Config{
		Identity: id, PSK: psk, Hybrid: hybrid,
		Suites: []stc.Suite{stc.SuiteChaCha20Poly1305, stc.SuiteAES256GCM},
		Params: TransportParams{MaxStreams: uint64(nodeSeed), InitialMaxData: 1 << 20, InitialMaxStreamData: 1 << 18, MaxDatagram: 1350, IdleTimeoutMs: 30000},
	}
}

type pair struct {
	net      *fakeNet
	a, b     *Plane
	dpA, dpB *fakeDP
}

// newPair starts two Planes (A dials, B answers) on a fake net. mod may
// change either config before start. Both are closed at cleanup.
func newPair(tb testing.TB, hybrid bool, mod func(a, b *Config)) *pair {
	tb.Helper()
	ca, cb := testConfig(tb, 1, 100, hybrid), testConfig(tb, 2, 100, hybrid)
	if mod != nil {
		mod(ca, cb)
	}
	n := newFakeNet()
	p := &pair{net: n, dpA: n.add(addrA, 2), dpB: n.add(addrB, 4)}
	var err error
	if p.a, err = NewPlane(ca, p.dpA); err != nil {
		tb.Fatal(err)
	}
	if p.b, err = NewPlane(cb, p.dpB); err != nil {
		p.a.Close()
		tb.Fatal(err)
	}
	p.dpA.plane, p.dpB.plane = p.a, p.b
	tb.Cleanup(func() { p.a.Close(); p.b.Close() })
	return p
}

// halfOpen returns the number of half-open handshakes at p.
func halfOpen(p *Plane) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.mu.halfOpen)
}

func dials(p *Plane) int {
	p.dials.RLock()
	defer p.dials.RUnlock()
	return len(p.dials.m)
}
