package main

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"fmt"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/quic-go/quic-go"
	"github.com/stt-go/stt"
	"github.com/stt-go/stt/bench/internal/peer"
	kcp "github.com/xtaci/kcp-go/v5"
)

// sttInfo describes STT's chosen suite and offloads for the machine line.
var sttInfo = "not run"

// tlsSuite is the cipher suite crypto/tls negotiated for the TLS/TCP
// baseline (its own choice: AES-128-GCM first where the CPU has AES-GCM
// instructions, ChaCha20-Poly1305 otherwise), recorded at its first dial,
// so the table says which cipher STT's suite is compared with.
var tlsSuite atomic.Value // string

func tlsDetail() string {
	if s, ok := tlsSuite.Load().(string); ok {
		return "cipher suite " + s + " (crypto/tls's choice on this CPU; STT_SUITE=aes128gcm gives STT the same cipher)"
	}
	return ""
}

// How the byte-stream transports carry the 64-byte message workload (see
// messages and serve); said in each of their notes.
const byteStreamMsgs = "64 B messages written through a bufio.Writer (4 KiB) flushed when the sender has nothing more queued, read through a bufio.Reader"

func transports() []transport {
	return []transport{
		{name: "STT", start: startSTT,
			note: "hybrid X25519+ML-KEM-768 handshake; streams multiplexed on one session; bulk: 256 KiB Stream.Write calls; 64 B messages: one SendMessage per message, one ReceiveMessage per message"},
		{name: "quic-go v0.65", start: startQUIC,
			note: "TLS 1.3 (AES-128-GCM), streams multiplexed on one connection; bulk: 256 KiB Stream.Write calls; " + byteStreamMsgs},
		{name: "TLS 1.3/TCP", start: startTLS, detail: tlsDetail,
			note: "crypto/tls over loopback TCP (kernel TSO/GRO), one connection per stream; bulk: 256 KiB tls.Conn.Write calls; " + byteStreamMsgs},
		{name: "kcp-go v5 AES", start: func() (server, error) { return startKCP(true) }, noHandshake: true,
			note: "kcp-go with AES block crypt (no authentication), no FEC, one session per stream, no handshake; " + byteStreamMsgs},
		{name: "kcp-go v5 none", start: func() (server, error) { return startKCP(false) }, noHandshake: true,
			note: "kcp-go without crypto, no FEC, one session per stream, no handshake; " + byteStreamMsgs},
		{name: "raw UDP, one datagram per syscall", raw: true, noHandshake: true,
			note: "no crypto, no reliability, no congestion control: 1452 B datagrams (64 B for messages), one sendto per datagram (net.UDPConn.Write) and one recvfrom per datagram; goodput at the receiver, loss shown; 4 streams = 4 socket pairs, a reader goroutine per receiving socket"},
		{name: "raw UDP + GSO/GRO", raw: true, rawGSO: true, noHandshake: true, detail: rawGSODetail,
			note: "the ceiling of any UDP transport on this host: no crypto, no reliability, no congestion control; package batch's sendmmsg with UDP_SEGMENT (GSO super-packets of " +
				fmt.Sprint(rawRunSegs(rawDatagram)) + " × 1452 B, the most that fit the 65507 B UDP payload limit; " + fmt.Sprint(rawRunSegs(msgLen)) + " × 64 B for messages) and recvmmsg with UDP_GRO (up to 64 trains per call); goodput at the receiver, loss shown; 4 streams = 4 socket pairs, a reader goroutine per receiving socket; RTT not measured (GSO and GRO do not apply to a lone datagram: see the row above)"},
	}
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// ---- STT ----

type sttClient struct{ s *stt.Session }

func (c sttClient) open(ctx context.Context) (stream, error) {
	st, err := c.s.OpenStream(ctx)
	if err != nil {
		return nil, err
	}
	return sttStream{st}, nil
}
func (c sttClient) close() { c.s.CloseWithError(0, "bench done") }

// sttStream closes only its write side on Close (the peer's read sees EOF).
type sttStream struct{ *stt.Stream }

func (s sttStream) Close() error { return s.Stream.Close() }

func seed() []byte {
	b := make([]byte, 32)
	rand.Read(b)
	return b
}

func startSTT() (server, error) {
	ctx := context.Background()
	shared := seed()
	mk := func(noResume bool) (*stt.Node, error) {
		n, err := stt.NewNode(stt.Config{NodeSeed: seed(), SharedSeed: shared, ListenAddr: "127.0.0.1:0", DisableResumption: noResume})
		if err != nil {
			return nil, err
		}
		return n, n.Start(ctx)
	}
	// The server issues tickets; cli runs full handshakes (the
	// handshakes/s column) and the bulk workloads; rcli resumes.
	srv, err := mk(false)
	if err != nil {
		return server{}, err
	}
	cli, err := mk(true)
	if err != nil {
		srv.Stop(ctx)
		return server{}, err
	}
	rcli, err := mk(false)
	if err != nil {
		cli.Stop(ctx)
		srv.Stop(ctx)
		return server{}, err
	}
	sctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			sess, err := srv.Accept(sctx)
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					st, err := sess.AcceptStream(sctx)
					if err != nil {
						return
					}
					go serve(sttStream{st}, func(n uint64) error {
						for range n {
							if _, err := st.ReceiveMessage(sctx); err != nil {
								return err
							}
						}
						return nil
					})
				}
			}()
		}
	}()
	gso, gro := false, false
	if b := srv.Stats().Batch; len(b) > 0 {
		gso, gro = b[0].GSO, b[0].GRO
	}
	sttInfo = fmt.Sprintf("suite %s, GSO %v, GRO %v, %d loops", srv.Suite(), onOff(gso), onOff(gro), len(srv.Stats().Batch))
	addr := srv.Addr().String()
	dial := func(ctx context.Context) (client, error) {
		s, err := cli.Connect(ctx, addr)
		if err != nil {
			return nil, err
		}
		return sttClient{s}, nil
	}
	resume := func(ctx context.Context) (client, error) {
		if rcli.Stats().Handshake.TicketsStored == 0 {
			// The first dial is a full handshake that earns the ticket;
			// untimed, it is not a resumption.
			if err := firstTicket(ctx, rcli, addr); err != nil {
				return nil, err
			}
		}
		before := rcli.Stats().Handshake.Resumed
		s, err := rcli.Connect(ctx, addr)
		if err != nil {
			return nil, err
		}
		if rcli.Stats().Handshake.Resumed == before {
			s.CloseWithError(0, "bench done")
			return nil, fmt.Errorf("stt: Connect did not resume (%+v)", rcli.Stats().Handshake)
		}
		return sttClient{s}, nil
	}
	stop := func() {
		sctx2, c := context.WithTimeout(ctx, 10*time.Second)
		defer c()
		rcli.Stop(sctx2)
		cli.Stop(sctx2)
		cancel()
		srv.Stop(sctx2)
		wg.Wait()
	}
	return server{dial: dial, resume: resume, stop: stop}, nil
}

// firstTicket runs one full handshake from n to addr and waits for the
// ticket the session hands out.
func firstTicket(ctx context.Context, n *stt.Node, addr string) error {
	s, err := n.Connect(ctx, addr)
	if err != nil {
		return err
	}
	defer s.CloseWithError(0, "ticket fetched")
	for n.Stats().Handshake.TicketsStored == 0 {
		select {
		case <-ctx.Done():
			return fmt.Errorf("stt: no resumption ticket: %w", context.Cause(ctx))
		case <-time.After(time.Millisecond):
		}
	}
	return nil
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}

// ---- TLS certificates (QUIC and TLS/TCP) ----

// ---- quic-go ----

type quicClient struct{ c *quic.Conn }

func (q quicClient) open(ctx context.Context) (stream, error) {
	s, err := q.c.OpenStreamSync(ctx)
	if err != nil {
		return nil, err
	}
	return s, nil
}
func (q quicClient) close() { q.c.CloseWithError(0, "") }

func startQUIC() (server, error) {
	tc, err := peer.ServerTLS("stt-bench")
	if err != nil {
		return server{}, err
	}
	ln, err := quic.ListenAddr("127.0.0.1:0", tc, peer.QUICConfig())
	if err != nil {
		return server{}, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		for {
			c, err := ln.Accept(ctx)
			if err != nil {
				return
			}
			go func() {
				for {
					s, err := c.AcceptStream(ctx)
					if err != nil {
						return
					}
					go serve(s, nil)
				}
			}()
		}
	}()
	addr := ln.Addr().String()
	dial := func(ctx context.Context) (client, error) {
		c, err := quic.DialAddr(ctx, addr, peer.ClientTLS("stt-bench"), peer.QUICConfig())
		if err != nil {
			return nil, err
		}
		return quicClient{c}, nil
	}
	return server{dial: dial, stop: func() { cancel(); ln.Close() }}, nil
}

// ---- TLS 1.3 over TCP (one connection per stream) ----

type connClient struct {
	dial func(ctx context.Context) (stream, error)
}

func (c connClient) open(ctx context.Context) (stream, error) { return c.dial(ctx) }
func (c connClient) close()                                   {}

func startTLS() (server, error) {
	tc, err := peer.ServerTLS("stt-bench")
	if err != nil {
		return server{}, err
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", tc)
	if err != nil {
		return server{}, err
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go serve(c, nil)
		}
	}()
	addr := ln.Addr().String()
	d := func(ctx context.Context) (stream, error) {
		td := tls.Dialer{Config: peer.ClientTLS("stt-bench")}
		c, err := td.DialContext(ctx, "tcp", addr)
		if err != nil {
			return nil, err
		}
		tc := c.(*tls.Conn)
		tlsSuite.CompareAndSwap(nil, tls.CipherSuiteName(tc.ConnectionState().CipherSuite))
		return tc, nil
	}
	dial := func(ctx context.Context) (client, error) {
		// A handshake per "dial" so handshakes/s measures TLS set-up.
		c, err := d(ctx)
		if err != nil {
			return nil, err
		}
		c.Close()
		return connClient{dial: d}, nil
	}
	return server{dial: dial, stop: func() { ln.Close() }}, nil
}

// ---- kcp-go (one session per stream) ----

func tuneKCP(s *kcp.UDPSession) {
	//lint:ignore SA1019 stream mode packs a byte stream into full segments, the mode a bulk benchmark needs
	s.SetStreamMode(true)
	s.SetWriteDelay(false)
	s.SetNoDelay(1, 10, 2, 1)
	s.SetWindowSize(4096, 4096)
	s.SetMtu(1400)
	s.SetReadBuffer(4 << 20)
	s.SetWriteBuffer(4 << 20)
}

func startKCP(aes bool) (server, error) {
	block := func() (kcp.BlockCrypt, error) {
		if !aes {
			return nil, nil
		}
		key := make([]byte, 32)
		for i := range key {
			key[i] = byte(i)
		}
		return kcp.NewAESBlockCrypt(key)
	}
	b, err := block()
	if err != nil {
		return server{}, err
	}
	ln, err := kcp.ListenWithOptions("127.0.0.1:0", b, 0, 0)
	if err != nil {
		return server{}, err
	}
	ln.SetReadBuffer(4 << 20)
	ln.SetWriteBuffer(4 << 20)
	go func() {
		for {
			s, err := ln.AcceptKCP()
			if err != nil {
				return
			}
			tuneKCP(s)
			go serve(s, nil)
		}
	}()
	addr := ln.Addr().String()
	d := func(ctx context.Context) (stream, error) {
		b, err := block()
		if err != nil {
			return nil, err
		}
		s, err := kcp.DialWithOptions(addr, b, 0, 0)
		if err != nil {
			return nil, err
		}
		tuneKCP(s)
		if dl, ok := ctx.Deadline(); ok {
			s.SetDeadline(dl)
		}
		return s, nil
	}
	dial := func(ctx context.Context) (client, error) { return connClient{dial: d}, nil }
	return server{dial: dial, stop: func() { ln.Close() }}, nil
}
