package ws

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"
)

// testTimeout bounds every blocking step of a test.
const testTimeout = 10 * time.Second

// newUDP opens a UDP socket on 127.0.0.1:0, closed when the test ends.
func newUDP(tb testing.TB) *net.UDPConn {
	tb.Helper()
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = c.Close() })
	return c
}

func udpAddr(c *net.UDPConn) netip.AddrPort { return c.LocalAddr().(*net.UDPAddr).AddrPort() }

// startServer starts a Server on 127.0.0.1:0 with cfg (a fresh UDP target
// socket, returned, when cfg.Target is unset); it is closed when the test
// ends.
func startServer(tb testing.TB, cfg ServerConfig) (*Server, *net.UDPConn) {
	tb.Helper()
	var target *net.UDPConn
	if !cfg.Target.IsValid() {
		target = newUDP(tb)
		cfg.Target = udpAddr(target)
	}
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:0"
	}
	s, err := NewServer(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	if err := s.Start(ctx); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = s.Close() })
	return s, target
}

func wsURL(s *Server) string { return "ws://" + s.Addr().String() + DefaultPath }

// rawConn is a hand-driven WebSocket client (or server) over TCP.
type rawConn struct {
	tb testing.TB
	c  net.Conn
	br *bufio.Reader
}

func dialRaw(tb testing.TB, addr netip.AddrPort) *rawConn {
	tb.Helper()
	c, err := net.DialTimeout("tcp", addr.String(), testTimeout)
	if err != nil {
		tb.Fatal(err)
	}
	_ = c.SetDeadline(time.Now().Add(testTimeout))
	tb.Cleanup(func() { _ = c.Close() })
	return &rawConn{tb: tb, c: c, br: bufio.NewReader(c)}
}

// upgradeRequest is a valid opening handshake with the RFC 6455 §1.3 key,
// with the given lines replaced (by header name, or "GET" for the request
// line) or removed (empty value).
func upgradeRequest(edits map[string]string) string {
	lines := [][2]string{
		{"GET", "GET /stt HTTP/1.1"},
		{"Host", "Host: 127.0.0.1"},
		{"Upgrade", "Upgrade: websocket"},
		{"Connection", "Connection: Upgrade"},
		{"Sec-WebSocket-Key", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=="},
		{"Sec-WebSocket-Version", "Sec-WebSocket-Version: 13"},
		{"Sec-WebSocket-Protocol", "Sec-WebSocket-Protocol: stt"},
	}
	var b strings.Builder
	for _, l := range lines {
		v, ok := edits[l[0]]
		if !ok {
			v = l[1]
		}
		if v != "" {
			b.WriteString(v + "\r\n")
		}
	}
	b.WriteString("\r\n")
	return b.String()
}

func (r *rawConn) write(b []byte) {
	r.tb.Helper()
	if _, err := r.c.Write(b); err != nil {
		r.tb.Fatalf("write: %v", err)
	}
}

// readHead reads an HTTP response head and returns its status and text.
func (r *rawConn) readHead() (int, string) {
	r.tb.Helper()
	var head strings.Builder
	for {
		line, err := r.br.ReadString('\n')
		if err != nil {
			r.tb.Fatalf("reading HTTP head: %v (so far %q)", err, head.String())
		}
		head.WriteString(line)
		if line == "\r\n" {
			break
		}
	}
	s := head.String()
	f := strings.Fields(s)
	if len(f) < 2 {
		r.tb.Fatalf("bad status line in %q", s)
	}
	code, _ := strconv.Atoi(f[1])
	return code, s
}

// upgrade performs a valid handshake and checks the 101.
func (r *rawConn) upgrade() {
	r.tb.Helper()
	r.write([]byte(upgradeRequest(nil)))
	code, head := r.readHead()
	if code != 101 || !strings.Contains(head, "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n") ||
		!strings.Contains(head, "Sec-WebSocket-Protocol: stt\r\n") {
		r.tb.Fatalf("upgrade answered:\n%s", head)
	}
}

// writeFrame writes a frame, masked when masked is set (client role).
func (r *rawConn) writeFrame(op opcode, fin, masked bool, payload []byte) {
	r.tb.Helper()
	b, err := appendFrame(nil, frameHeader{Fin: fin, Opcode: op, Masked: masked, Mask: [4]byte{9, 8, 7, 6}}, payload)
	if err != nil {
		r.tb.Fatal(err)
	}
	r.write(b)
}

// readFrame reads one frame, parsing it in role as, and returns it
// unmasked.
func (r *rawConn) readFrame(as role) (frameHeader, []byte, error) {
	b, err := r.br.Peek(2)
	if err != nil {
		return frameHeader{}, nil, err
	}
	n := 2
	switch b[1] & 0x7F {
	case 126:
		n += 2
	case 127:
		n += 8
	}
	if b[1]&0x80 != 0 {
		n += 4
	}
	if b, err = r.br.Peek(n); err != nil {
		return frameHeader{}, nil, err
	}
	h, hn, err := parseHeader(b, as, 1<<20)
	if err != nil {
		return frameHeader{}, nil, err
	}
	_, _ = r.br.Discard(hn)
	p := make([]byte, h.Length)
	if _, err := io.ReadFull(r.br, p); err != nil {
		return frameHeader{}, nil, err
	}
	applyMask(h.Mask, p)
	return h, p, nil
}

// expectClose reads server frames up to a close frame, checks its code,
// and then expects the server to close TCP.
func (r *rawConn) expectClose(want CloseCode) {
	r.tb.Helper()
	for {
		h, p, err := r.readFrame(roleClient)
		if err != nil {
			r.tb.Fatalf("waiting for close %d: %v", want, err)
		}
		if h.Opcode != opClose {
			continue
		}
		code, _, err := parseClose(p)
		if err != nil || code != want {
			r.tb.Fatalf("close frame % x: code %d (%v), want %d", p, code, err, want)
		}
		break
	}
	r.expectEOF()
}

// expectEOF checks that the peer closes the connection.
func (r *rawConn) expectEOF() {
	r.tb.Helper()
	if n, err := io.Copy(io.Discard, r.br); err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			r.tb.Fatalf("connection still open after %d more bytes", n)
		}
		// ECONNRESET also means closed.
	}
}

// closePayload returns a close payload with code.
func closePayload(code CloseCode) []byte {
	return binary.BigEndian.AppendUint16(nil, uint16(code))
}

// fakeServer accepts one TCP connection on 127.0.0.1, answers its upgrade
// request with a valid 101 and hands it to serve, on a goroutine that the
// test waits for. It returns the ws:// URL.
func fakeServer(tb testing.TB, serve func(r *rawConn)) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	done := make(chan struct{})
	tb.Cleanup(func() {
		_ = ln.Close()
		<-done
	})
	go func() {
		defer close(done)
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(testTimeout))
		r := &rawConn{tb: tb, c: c, br: bufio.NewReader(c)}
		var key string
		for {
			line, err := r.br.ReadString('\n')
			if err != nil {
				return
			}
			if k, ok := strings.CutPrefix(line, "Sec-WebSocket-Key: "); ok {
				key = strings.TrimSpace(k)
			}
			if line == "\r\n" {
				break
			}
		}
		_, _ = c.Write([]byte("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
			"Sec-WebSocket-Accept: " + acceptKey(key) + "\r\nSec-WebSocket-Protocol: stt\r\n\r\n"))
		serve(r)
	}()
	return "ws://" + ln.Addr().String() + "/stt"
}

// waitFor polls cond until it holds or the test timeout passes.
func waitFor(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(testTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// recvUDP reads one datagram with a deadline.
func recvUDP(tb testing.TB, c *net.UDPConn) ([]byte, netip.AddrPort) {
	tb.Helper()
	buf := make([]byte, 70000)
	_ = c.SetReadDeadline(time.Now().Add(testTimeout))
	n, from, err := c.ReadFromUDPAddrPort(buf)
	if err != nil {
		tb.Fatalf("UDP read: %v", err)
	}
	return buf[:n], from
}
