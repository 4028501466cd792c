package batch

import (
	"errors"
	"net"
	"net/netip"
	"syscall"
	"testing"
	"time"
)

// TestUnreachableReported: a datagram to a closed loopback port comes back
// as an ICMP port unreachable, which ReadBatch reports as an
// *UnreachableError naming that destination (IP_RECVERR); the socket keeps
// working.
func TestUnreachableReported(t *testing.T) {
	c, err := Listen(netip.MustParseAddrPort("127.0.0.1:0"), &Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// A port nobody listens on: bind one, note it, close it.
	pc, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	closed := pc.LocalAddr().(*net.UDPAddr).AddrPort()
	_ = pc.Close()

	done := make(chan error, 1)
	go func() {
		msgs := []Message{{Buf: make([]byte, 2048)}}
		_, err := c.ReadBatch(msgs)
		done <- err
	}()
	if _, err := c.WriteBatch([]Message{{Buf: []byte("hello?"), Addr: closed}}); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		var ue *UnreachableError
		if !errors.As(err, &ue) || ue.To != closed || !errors.Is(err, syscall.ECONNREFUSED) {
			t.Fatalf("ReadBatch = %v; want an *UnreachableError for %v matching ECONNREFUSED", err, closed)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no error reported for a datagram to a closed port")
	}
}
