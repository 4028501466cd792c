package control

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/stt-go/stt/wire"
)

// udpDP is a minimal DataPlane over a real UDP socket on 127.0.0.1, for the
// loopback handshake benchmark: handshake datagrams go to the Plane; the
// responder's Install sends a stand-in FINAL (TRANSPORT kind, session ID,
// and 8 bytes of SHA-256 of its send secret, then the NEW_TICKET blob if
// any) that closes the initiator's Confirmed when the keys match
// crosswise. Resumed sessions play the resumed data-plane rules: the
// initiator sends a stand-in first packet (TRANSPORT kind, session ID) at
// install, which the responder answers with a stand-in NEW_TICKET
// (session ID, blob).
type udpDP struct {
	conn  *net.UDPConn
	plane *Plane
	wg    sync.WaitGroup

	mu       sync.Mutex
	sessions map[wire.SessionID]*Established
	closed   map[wire.SessionID]bool
}

const (
	udpFinalLen  = 18
	udpFirstLen  = 10
	udpTicketLen = udpFirstLen + wire.NewTicketLen
)

func newUDPDP(tb testing.TB) *udpDP {
	tb.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		tb.Fatal(err)
	}
	d := &udpDP{conn: c, sessions: map[wire.SessionID]*Established{}, closed: map[wire.SessionID]bool{}}
	tb.Cleanup(func() { c.Close(); d.wg.Wait() })
	return d
}

func (d *udpDP) addr() netip.AddrPort { return d.conn.LocalAddr().(*net.UDPAddr).AddrPort() }

// start runs the receive loop once the Plane is set.
func (d *udpDP) start(p *Plane) {
	d.plane = p
	d.wg.Add(1)
	go d.receive()
}

// receive is the socket's read loop goroutine.
func (d *udpDP) receive() {
	defer d.wg.Done()
	var buf [2048]byte
	for {
		n, from, err := d.conn.ReadFromUDPAddrPort(buf[:])
		if err != nil {
			return
		}
		b := buf[:n]
		switch {
		case n > 1 && b[1] == byte(wire.KindHandshake):
			d.plane.HandlePacket(b, from)
		case n == udpFinalLen || n == udpFinalLen+wire.NewTicketLen: // FINAL [+ NEW_TICKET]
			id := wire.SessionID(binary.BigEndian.Uint64(b[2:10]))
			d.mu.Lock()
			s := d.sessions[id]
			ok := s != nil && s.Initiator && !s.Resumed && !d.closed[id]
			if ok {
				h := sha256.Sum256(s.recvSecret.Bytes())
				ok = [8]byte(b[10:18]) == [8]byte(h[:8])
				d.closed[id] = ok
			}
			d.mu.Unlock()
			if ok {
				if n > udpFinalLen {
					_ = d.plane.StoreTicket(id, b[udpFinalLen:])
				}
				close(s.Confirmed)
			}
		case n == udpFirstLen: // a resumed initiator's first packet
			id := wire.SessionID(binary.BigEndian.Uint64(b[2:10]))
			d.mu.Lock()
			s := d.sessions[id]
			d.mu.Unlock()
			if s != nil && s.Resumed && !s.Initiator && s.Ticket != nil && s.Peer == from {
				var f [udpTicketLen]byte
				copy(f[:udpFirstLen], b)
				copy(f[udpFirstLen:], s.Ticket)
				_, _ = d.conn.WriteToUDPAddrPort(f[:], from)
			}
		case n == udpTicketLen: // NEW_TICKET in a resumed session
			_ = d.plane.StoreTicket(wire.SessionID(binary.BigEndian.Uint64(b[2:10])), b[udpFirstLen:])
		}
	}
}

func (d *udpDP) SendHandshake(pkt []byte, to netip.AddrPort) error {
	_, err := d.conn.WriteToUDPAddrPort(pkt, to)
	return err
}

func (d *udpDP) Install(s *Established) (any, error) {
	d.mu.Lock()
	if _, ok := d.sessions[s.SessionID]; ok {
		d.mu.Unlock()
		return nil, ErrSessionExists
	}
	d.sessions[s.SessionID] = s
	d.mu.Unlock()
	var f [udpFinalLen + wire.NewTicketLen]byte
	f[0], f[1] = wire.Version, byte(wire.KindTransport)
	binary.BigEndian.PutUint64(f[2:10], uint64(s.SessionID))
	switch {
	case s.Resumed && s.Initiator:
		_, _ = d.conn.WriteToUDPAddrPort(f[:udpFirstLen], s.Peer)
	case !s.Resumed && !s.Initiator:
		h := sha256.Sum256(s.sendSecret.Bytes())
		copy(f[10:], h[:8])
		n := udpFinalLen
		if s.Ticket != nil {
			n += copy(f[udpFinalLen:], s.Ticket)
		}
		_, _ = d.conn.WriteToUDPAddrPort(f[:n], s.Peer)
	}
	return s, nil
}

func (d *udpDP) Remove(id wire.SessionID) {
	d.mu.Lock()
	delete(d.sessions, id)
	delete(d.closed, id)
	d.mu.Unlock()
}

func (d *udpDP) Loops() int { return 2 }

// newUDPPair starts two Planes on real loopback sockets, with resumption
// on when resume is set.
func newUDPPair(tb testing.TB, hybrid, resume bool) (a, b *Plane, da, db *udpDP) {
	tb.Helper()
	da, db = newUDPDP(tb), newUDPDP(tb)
	ca, cb := testConfig(tb, 1, 100, hybrid), testConfig(tb, 2, 100, hybrid)
	ca.Resumption, cb.Resumption = resume, resume
	var err error
	if a, err = NewPlane(ca, da); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { a.Close() })
	if b, err = NewPlane(cb, db); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { b.Close() })
	da.start(a)
	db.start(b)
	return a, b, da, db
}

func TestUDPLoopback(t *testing.T) {
	for _, hybrid := range []bool{false, true} {
		a, _, da, db := newUDPPair(t, hybrid, true)
		for i := range 3 { // full, then resumed twice
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			est, err := a.Dial(ctx, db.addr())
			cancel()
			if err != nil {
				t.Fatalf("hybrid=%v dial %d: %v", hybrid, i, err)
			}
			if est.Resumed != (i > 0) {
				t.Fatalf("hybrid=%v dial %d: Resumed %v", hybrid, i, est.Resumed)
			}
			var er *Established
			// A resumed responder installs after its RESUME_RESPONSE is out.
			for deadline := time.Now().Add(5 * time.Second); er == nil && time.Now().Before(deadline); time.Sleep(time.Millisecond) {
				db.mu.Lock()
				er = db.sessions[est.SessionID]
				db.mu.Unlock()
			}
			if er == nil || !er.recvSecret.Equal(est.sendSecret) || er.Peer != da.addr() {
				t.Fatalf("hybrid=%v dial %d: responder session wrong", hybrid, i)
			}
			if i == 0 {
				waitTicket(t, a, db.addr(), nil) // FINAL's ticket; later ones may race the next dial
			}
		}
	}
}

// BenchmarkHandshakeUDP is BenchmarkHandshake over real UDP sockets on
// 127.0.0.1: the "complete handshakes per second over loopback",
// full (X25519-only and hybrid) and resumed (with a ticket from a hybrid
// handshake), one at a time and 8 at once.
func BenchmarkHandshakeUDP(b *testing.B) {
	for _, mode := range []string{"x25519", "hybrid", "resumed"} {
		for _, conc := range []int{1, 8} {
			b.Run(mode+"/concurrent"+string(rune('0'+conc)), func(b *testing.B) {
				resume := mode == "resumed"
				a, _, da, db := newUDPPair(b, mode != "x25519", resume)
				to := db.addr()
				if resume {
					if _, err := a.Dial(context.Background(), to); err != nil {
						b.Fatal(err)
					}
					waitTicket(b, a, to, nil)
				}
				b.ReportAllocs()
				start, cpu0 := time.Now(), cpuTime()
				jobs := make(chan struct{})
				var wg sync.WaitGroup
				for range conc {
					wg.Go(func() {
						for range jobs {
							est, err := a.Dial(context.Background(), to)
							if err != nil {
								b.Error(err)
								continue
							}
							if est.Resumed != resume {
								b.Errorf("Resumed = %v", est.Resumed)
							}
							da.Remove(est.SessionID)
							db.Remove(est.SessionID)
						}
					})
				}
				for b.Loop() {
					jobs <- struct{}{}
				}
				close(jobs)
				wg.Wait()
				b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "handshakes/s")
				b.ReportMetric(cpuSince(cpu0).Seconds()*1e6/float64(b.N), "cpu-µs/op")
				b.ReportMetric(float64(a.Stats().Retransmits)/float64(b.N), "retx/op")
			})
		}
	}
}
