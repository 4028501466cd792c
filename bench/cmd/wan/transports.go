package main

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/quic-go/quic-go"
	"github.com/stt-go/stt"
	"github.com/stt-go/stt/bench/internal/peer"
)

// sttVariant is STT with one congestion controller.
type sttVariant struct {
	name string // the table's label
	cc   string // stt.Config.CongestionControl
}

// sttVariants are the STT rows of every table: one per congestion
// controller (stt.Config.CongestionControl).
var sttVariants = []sttVariant{{name: "STT (BBR)", cc: "bbr"}, {name: "STT (CUBIC)", cc: "cubic"}}

// transport is one contender: a server in this process and a way to dial
// it through an emulated path.
type transport struct {
	name  string
	note  string
	start func() (server, error)
}

// server accepts flows (see serveFlow) until stop.
type server interface {
	addr() netip.AddrPort
	// dial connects to the server through via (a netem path's address).
	dial(ctx context.Context, via netip.AddrPort) (conn, error)
	stop()
}

// conn is one connection (session) carrying one bulk flow.
type conn interface {
	open(ctx context.Context) (io.WriteCloser, error)
	// retx returns retransmitted / sent as the transport counts it.
	retx() (ratio float64, ok bool)
	// probe returns the sender's view of the connection now (for -trace).
	probe() senderProbe
	close()
}

// senderProbe is the sender's state at one instant, as the transport
// reports it (zero where it does not).
type senderProbe struct {
	cwnd                    uint64 // congestion window, bytes
	pacing                  uint64 // pacing rate, bytes/s (0: not reported)
	srtt, latestRTT, minRTT time.Duration
	pktsSent, pktsLost      uint64
}

func transports() []transport {
	var ts []transport
	for _, v := range sttVariants {
		ts = append(ts, transport{
			name:  v.name,
			note:  "STT defaults (hybrid handshake, path MTU discovery from 1452-byte datagrams up to what the path carries: 1472 at a 1500-byte MTU, where a full packet carries 1427 bytes of stream data in 1500 bytes of IP packet, so goodput tops out at 95.1% of the link; 16 MiB stream / 24 MiB session windows); retransmission ratio = (PacketsLost + PacketsRetransmitted) / PacketsSent",
			start: func() (server, error) { return startSTT(v) },
		})
	}
	ts = append(ts, transport{
		name:  "quic-go v0.65",
		note:  "bench/cmd/compare's settings (16 MiB stream / 24 MiB connection windows), TLS 1.3; retransmission ratio = BytesLost / BytesSent",
		start: startQUIC,
	})
	return ts
}

// ---- the flow protocol ----

// A flow is one stream: the client writes a 16-byte header (flow ID and
// size, big-endian) and size bytes; the server counts them into the
// flow's tally as they arrive and notes when the last one came.

type tally struct {
	bytes  int64 // protected by mu
	doneAt time.Time
	mu     sync.Mutex
}

func (t *tally) add(n int, now time.Time, want int64) {
	t.mu.Lock()
	t.bytes += int64(n)
	if t.bytes >= want && t.doneAt.IsZero() {
		t.doneAt = now
	}
	t.mu.Unlock()
}

func (t *tally) get() (int64, time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.bytes, t.doneAt
}

// flows maps flow IDs to their tallies (registered by the client side
// before the stream opens).
var flows sync.Map // uint64 → *tally

const copyBuf = 256 << 10

// serveFlow reads one flow's stream to its end.
func serveFlow(r io.Reader) {
	var h [16]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return
	}
	v, ok := flows.Load(binary.BigEndian.Uint64(h[:8]))
	if !ok {
		return
	}
	t := v.(*tally)
	want := int64(binary.BigEndian.Uint64(h[8:]))
	buf := make([]byte, copyBuf)
	for {
		n, err := r.Read(buf)
		if n > 0 {
			t.add(n, time.Now(), want)
		}
		if err != nil {
			return
		}
	}
}

// ---- STT ----

func seed() []byte {
	b := make([]byte, 32)
	rand.Read(b)
	return b
}

// sttInfo describes STT's suite for the machine line.
var sttInfo = "not run"

type sttServer struct {
	srv, cli *stt.Node
	cancel   context.CancelFunc
	wg       sync.WaitGroup
}

func startSTT(v sttVariant) (server, error) {
	ctx := context.Background()
	shared := seed()
	mk := func() (*stt.Node, error) {
		cfg := stt.Config{NodeSeed: seed(), SharedSeed: shared, ListenAddr: "127.0.0.1:0"}
		cfg.CongestionControl = v.cc
		n, err := stt.NewNode(cfg)
		if err != nil {
			return nil, err
		}
		return n, n.Start(ctx)
	}
	srv, err := mk()
	if err != nil {
		return nil, err
	}
	cli, err := mk()
	if err != nil {
		srv.Stop(ctx)
		return nil, err
	}
	s := &sttServer{srv: srv, cli: cli}
	sctx, cancel := context.WithCancel(ctx)
	s.cancel = cancel
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			sess, err := srv.Accept(sctx)
			if err != nil {
				return
			}
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				for {
					st, err := sess.AcceptStream(sctx)
					if err != nil {
						return
					}
					go serveFlow(st)
				}
			}()
		}
	}()
	sttInfo = fmt.Sprintf("suite %s", srv.Suite())
	return s, nil
}

func (s *sttServer) addr() netip.AddrPort { return s.srv.Addr() }

func (s *sttServer) dial(ctx context.Context, via netip.AddrPort) (conn, error) {
	sess, err := s.cli.Connect(ctx, via.String())
	if err != nil {
		return nil, err
	}
	return sttConn{sess}, nil
}

func (s *sttServer) stop() {
	ctx, c := context.WithTimeout(context.Background(), 10*time.Second)
	defer c()
	s.cli.Stop(ctx)
	s.cancel()
	s.srv.Stop(ctx)
	s.wg.Wait()
}

type sttConn struct{ s *stt.Session }

func (c sttConn) open(ctx context.Context) (io.WriteCloser, error) {
	st, err := c.s.OpenStream(ctx)
	if err != nil {
		return nil, err
	}
	return st, nil
}

func (c sttConn) retx() (float64, bool) {
	st := c.s.Stats()
	if st.PacketsSent == 0 {
		return 0, false
	}
	return float64(st.PacketsLost+st.PacketsRetransmitted) / float64(st.PacketsSent), true
}

func (c sttConn) probe() senderProbe {
	st := c.s.Stats()
	return senderProbe{
		cwnd: uint64(st.CongestionWindow), pacing: st.PacingRate,
		srtt: st.SmoothedRTT, latestRTT: st.LatestRTT, minRTT: st.MinRTT,
		pktsSent: st.PacketsSent, pktsLost: st.PacketsLost,
	}
}

func (c sttConn) close() { c.s.CloseWithError(0, "wan done") }

// ---- quic-go ----

type quicServer struct {
	ln     *quic.Listener
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

func startQUIC() (server, error) {
	tc, err := peer.ServerTLS("stt-wan")
	if err != nil {
		return nil, err
	}
	ln, err := quic.ListenAddr("127.0.0.1:0", tc, peer.QUICConfig())
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &quicServer{ln: ln, cancel: cancel}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept(ctx)
			if err != nil {
				return
			}
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				for {
					st, err := c.AcceptStream(ctx)
					if err != nil {
						return
					}
					go serveFlow(st)
				}
			}()
		}
	}()
	return s, nil
}

func (s *quicServer) addr() netip.AddrPort { return s.ln.Addr().(*net.UDPAddr).AddrPort() }

func (s *quicServer) dial(ctx context.Context, via netip.AddrPort) (conn, error) {
	c, err := quic.DialAddr(ctx, via.String(), peer.ClientTLS("stt-wan"), peer.QUICConfig())
	if err != nil {
		return nil, err
	}
	return quicConn{c}, nil
}

func (s *quicServer) stop() {
	s.cancel()
	s.ln.Close()
	s.wg.Wait()
}

type quicConn struct{ c *quic.Conn }

func (q quicConn) open(ctx context.Context) (io.WriteCloser, error) {
	st, err := q.c.OpenStreamSync(ctx)
	if err != nil {
		return nil, err
	}
	return st, nil
}

func (q quicConn) retx() (float64, bool) {
	st := q.c.ConnectionStats()
	if st.BytesSent == 0 {
		return 0, false
	}
	return float64(st.BytesLost) / float64(st.BytesSent), true
}

func (q quicConn) probe() senderProbe {
	st := q.c.ConnectionStats()
	return senderProbe{
		cwnd: st.CongestionWindow, srtt: st.SmoothedRTT, latestRTT: st.LatestRTT, minRTT: st.MinRTT,
		pktsSent: st.PacketsSent, pktsLost: st.PacketsLost,
	}
}

func (q quicConn) close() { q.c.CloseWithError(0, "") }
