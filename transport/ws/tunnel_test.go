package ws

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"math/big"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// dialTunnel dials s with cfg; the tunnel is closed when the test ends.
func dialTunnel(tb testing.TB, url string, cfg DialConfig) *Tunnel {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	tun, err := Dial(ctx, url, cfg)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = tun.Close() })
	return tun
}

// roundTrip checks one datagram each way between app (the node's socket),
// through tun and the server, and target.
func roundTrip(t *testing.T, app, target *net.UDPConn, tun *Tunnel, up, down string) {
	t.Helper()
	if _, err := app.WriteToUDPAddrPort([]byte(up), tun.Addr()); err != nil {
		t.Fatal(err)
	}
	got, from := recvUDP(t, target)
	if string(got) != up {
		t.Fatalf("target got %q, want %q", got, up)
	}
	if _, err := target.WriteToUDPAddrPort([]byte(down), from); err != nil {
		t.Fatal(err)
	}
	got, src := recvUDP(t, app)
	if string(got) != down || src != tun.Addr() {
		t.Fatalf("app got %q from %v, want %q from %v", got, src, down, tun.Addr())
	}
}

func TestTunnelRelay(t *testing.T) {
	s, target := startServer(t, ServerConfig{})
	tun := dialTunnel(t, wsURL(s), DialConfig{})
	app := newUDP(t)
	roundTrip(t, app, target, tun, "ping from the node", "pong from the target")
	roundTrip(t, app, target, tun, strings.Repeat("u", 2048), strings.Repeat("d", 2000))

	// Datagrams from another address are not the node's: dropped.
	other := newUDP(t)
	_, _ = other.WriteToUDPAddrPort([]byte("intruder"), tun.Addr())
	// Over MaxMessage: dropped on the client side.
	_, _ = app.WriteToUDPAddrPort(make([]byte, 2049), tun.Addr())
	roundTrip(t, app, target, tun, "still here", "yes")
	// The writer counts a batch after its write returns, so the reply can
	// be back before MessagesSent moves.
	waitFor(t, "the tunnel's counters", func() bool {
		st := tun.Stats()
		return st.MessagesSent >= 3 && st.MessagesReceived >= 3
	})
	st := tun.Stats()
	if st.DropForeign != 1 || st.DropOversize != 1 || st.MessagesSent != 3 || st.MessagesReceived != 3 {
		t.Fatalf("tunnel stats %+v", st)
	}
	if st.BytesSent != uint64(len("ping from the node")+2048+len("still here")) {
		t.Fatalf("BytesSent = %d", st.BytesSent)
	}

	if err := tun.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if !errors.Is(tun.Err(), ErrClosed) {
		t.Fatalf("Err after Close = %v", tun.Err())
	}
	waitFor(t, "the server to drop the connection", func() bool { return s.Stats().Active == 0 })
	if _, err := app.WriteToUDPAddrPort([]byte("x"), tun.Addr()); err != nil {
		t.Fatal(err) // UDP: nobody listens, nothing fails here
	}
}

func TestDialErrors(t *testing.T) {
	s, _ := startServer(t, ServerConfig{})
	ctx := context.Background()

	_, err := Dial(ctx, "ws://"+s.Addr().String()+"/nope", DialConfig{})
	var he *HandshakeError
	if !errors.As(err, &he) || he.StatusCode != 404 {
		t.Fatalf("wrong path: %v, want *HandshakeError 404", err)
	}
	for _, u := range []string{"http://" + s.Addr().String() + "/stt", "ws:///stt", "::"} {
		if _, err := Dial(ctx, u, DialConfig{}); err == nil {
			t.Fatalf("Dial(%q) succeeded", u)
		}
	}
	if _, err := Dial(ctx, wsURL(s), DialConfig{LocalAddr: "nonsense"}); err == nil || !strings.Contains(err.Error(), "LocalAddr") {
		t.Fatalf("bad LocalAddr: %v", err)
	}

	// A server that accepts TCP and never answers.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() { _, _ = io.Copy(io.Discard, c); _ = c.Close() })
		}
	})
	defer wg.Wait()
	defer ln.Close()
	silent := "ws://" + ln.Addr().String() + "/stt"
	_, err = Dial(ctx, silent, DialConfig{HandshakeTimeout: 150 * time.Millisecond})
	var ne net.Error
	if !errors.Is(err, ErrHandshakeTimeout) || !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("silent server: %v, want ErrHandshakeTimeout", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	time.AfterFunc(50*time.Millisecond, cancel)
	if _, err = Dial(cctx, silent, DialConfig{}); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled ctx: %v, want context.Canceled", err)
	}
}

func TestTunnelServerCloses(t *testing.T) {
	s, target := startServer(t, ServerConfig{})
	tun := dialTunnel(t, wsURL(s), DialConfig{})
	roundTrip(t, newUDP(t), target, tun, "a", "b")
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	select {
	case <-tun.Done():
	case <-time.After(testTimeout):
		t.Fatal("tunnel still up after the server shut down")
	}
	if err := tun.Err(); !errors.Is(err, &CloseError{Code: CloseGoingAway, Remote: true}) || !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Err = %v, want the server's close 1001", err)
	}
	if err := tun.Close(); err != nil {
		t.Fatalf("Close after the server closed: %v", err)
	}
}

func TestTunnelIdleTimeout(t *testing.T) {
	pings := make(chan int, 1)
	url := fakeServer(t, func(r *rawConn) {
		n := 0
		for { // read (and never answer) until the tunnel gives up
			h, _, err := r.readFrame(roleServer)
			if err != nil {
				break
			}
			if h.Opcode == opPing {
				n++
			}
		}
		pings <- n
	})
	tun := dialTunnel(t, url, DialConfig{PingInterval: 50 * time.Millisecond})
	select {
	case <-tun.Done():
	case <-time.After(testTimeout):
		t.Fatal("silent server not detected")
	}
	if err := tun.Err(); !errors.Is(err, ErrIdleTimeout) {
		t.Fatalf("Err = %v, want ErrIdleTimeout", err)
	}
	if n := <-pings; n < 1 {
		t.Fatalf("server saw %d pings before the drop", n)
	}
}

func TestTunnelCloseTimeout(t *testing.T) {
	gotClose := make(chan bool, 1)
	url := fakeServer(t, func(r *rawConn) {
		for { // never reply to the close
			h, p, err := r.readFrame(roleServer)
			if err != nil {
				gotClose <- false
				return
			}
			if h.Opcode == opClose {
				code, _, _ := parseClose(p)
				gotClose <- code == CloseNormal
				_, _ = io.Copy(io.Discard, r.br)
				return
			}
		}
	})
	tun := dialTunnel(t, url, DialConfig{CloseTimeout: 100 * time.Millisecond})
	if err := tun.Close(); !errors.Is(err, ErrCloseTimeout) {
		t.Fatalf("Close = %v, want ErrCloseTimeout", err)
	}
	if !<-gotClose {
		t.Fatal("server did not get close 1000")
	}
}

func TestTunnelRejectsMaskedServerFrame(t *testing.T) {
	closeCode := make(chan CloseCode, 1)
	url := fakeServer(t, func(r *rawConn) {
		b, _ := appendFrame(nil, frameHeader{Fin: true, Opcode: opBinary, Masked: true, Mask: [4]byte{1, 2, 3, 4}}, []byte("x"))
		_, _ = r.c.Write(b)
		h, p, err := r.readFrame(roleServer)
		if err != nil || h.Opcode != opClose {
			closeCode <- 0
			return
		}
		code, _, _ := parseClose(p)
		closeCode <- code
	})
	tun := dialTunnel(t, url, DialConfig{})
	select {
	case <-tun.Done():
	case <-time.After(testTimeout):
		t.Fatal("tunnel accepted a masked frame from the server")
	}
	if err := tun.Err(); !errors.Is(err, errMasking) {
		t.Fatalf("Err = %v, want errMasking", err)
	}
	if code := <-closeCode; code != closeProtocolError {
		t.Fatalf("server got close %d, want 1002", code)
	}
}

// TestTunnelWSS runs the tunnel over TLS, through a TLS-terminating relay
// in front of the (plain TCP) server, as deployed behind a reverse proxy.
func TestTunnelWSS(t *testing.T) {
	s, target := startServer(t, ServerConfig{})
	cert, pool := selfSigned(t)
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	defer ln.Close()
	wg.Go(func() { // the TLS front: one plain TCP connection to the server per client
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer c.Close()
				up, err := net.Dial("tcp", s.Addr().String())
				if err != nil {
					return
				}
				defer up.Close()
				wg.Go(func() { _, _ = io.Copy(up, c); _ = up.(*net.TCPConn).CloseWrite() })
				_, _ = io.Copy(c, up)
			})
		}
	})
	url := "wss://" + ln.Addr().String() + DefaultPath
	if _, err := Dial(context.Background(), url, DialConfig{HandshakeTimeout: 2 * time.Second}); err == nil {
		t.Fatal("wss with an untrusted certificate succeeded")
	} else if !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("untrusted certificate: %v", err)
	}
	tun := dialTunnel(t, url, DialConfig{TLSConfig: &tls.Config{RootCAs: pool}})
	roundTrip(t, newUDP(t), target, tun, "over tls", "and back")
	if err := tun.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

// selfSigned returns a certificate for 127.0.0.1 and a pool trusting it.
func selfSigned(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "stt ws test"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}
