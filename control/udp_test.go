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
// and 8 bytes of SHA-256 of its send secret) that closes the initiator's
// Confirmed when the keys match crosswise.
type udpDP struct {
	conn  *net.UDPConn
	plane *Plane
	wg    sync.WaitGroup

	mu       sync.Mutex
	sessions map[wire.SessionID]*Established
	closed   map[wire.SessionID]bool
}

const udpFinalLen = 18

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
		case n == udpFinalLen:
			id := wire.SessionID(binary.BigEndian.Uint64(b[2:10]))
			d.mu.Lock()
			if s := d.sessions[id]; s != nil && s.Initiator && !d.closed[id] {
				h := sha256.Sum256(s.recvSecret.Bytes())
				if [8]byte(b[10:18]) == [8]byte(h[:8]) {
					d.closed[id] = true
					close(s.Confirmed)
				}
			}
			d.mu.Unlock()
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
	if !s.Initiator {
		var f [udpFinalLen]byte
		f[0], f[1] = wire.Version, byte(wire.KindTransport)
		binary.BigEndian.PutUint64(f[2:10], uint64(s.SessionID))
		h := sha256.Sum256(s.sendSecret.Bytes())
		copy(f[10:], h[:8])
		_, _ = d.conn.WriteToUDPAddrPort(f[:], s.Peer)
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

// newUDPPair starts two Planes on real loopback sockets.
func newUDPPair(tb testing.TB, hybrid bool) (a, b *Plane, da, db *udpDP) {
	tb.Helper()
	da, db = newUDPDP(tb), newUDPDP(tb)
	var err error
	if a, err = NewPlane(testConfig(tb, 1, 100, hybrid), da); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { a.Close() })
	if b, err = NewPlane(testConfig(tb, 2, 100, hybrid), db); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { b.Close() })
	da.start(a)
	db.start(b)
	return a, b, da, db
}

func TestUDPLoopback(t *testing.T) {
	for _, hybrid := range []bool{false, true} {
		a, _, da, db := newUDPPair(t, hybrid)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		est, err := a.Dial(ctx, db.addr())
		cancel()
		if err != nil {
			t.Fatalf("hybrid=%v: %v", hybrid, err)
		}
		db.mu.Lock()
		er := db.sessions[est.SessionID]
		db.mu.Unlock()
		if er == nil || !er.recvSecret.Equal(est.sendSecret) || er.Peer != da.addr() {
			t.Fatalf("hybrid=%v: responder session wrong", hybrid)
		}
	}
}

// BenchmarkHandshakeUDP is BenchmarkHandshake over real UDP sockets on
// 127.0.0.1: the "complete handshakes per second over loopback".
func BenchmarkHandshakeUDP(b *testing.B) {
	for _, hybrid := range []bool{false, true} {
		mode := map[bool]string{false: "x25519", true: "hybrid"}[hybrid]
		for _, conc := range []int{1, 8} {
			b.Run(mode+"/concurrent"+string(rune('0'+conc)), func(b *testing.B) {
				a, _, da, db := newUDPPair(b, hybrid)
				to := db.addr()
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
