package batch

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// freePort returns a loopback port that was free a moment ago.
func freePort(t *testing.T, ip string) netip.AddrPort {
	t.Helper()
	pc, err := net.ListenPacket("udp", net.JoinHostPort(ip, "0"))
	if err != nil {
		t.Skipf("%s unavailable: %v", ip, err)
	}
	ap := pc.LocalAddr().(*net.UDPAddr).AddrPort()
	pc.Close()
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}

// reuseportSocket binds addr with SO_REUSEPORT, as another program using
// reuseport (or another stt process's group) would.
func reuseportSocket(t *testing.T, addr netip.AddrPort) net.PacketConn {
	t.Helper()
	lc := net.ListenConfig{Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		if err := rc.Control(func(fd uintptr) {
			serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
		}); err != nil {
			return err
		}
		return serr
	}}
	pc, err := lc.ListenPacket(context.Background(), "udp", addr.String())
	if err != nil {
		t.Fatalf("reuseport socket on %v: %v", addr, err)
	}
	t.Cleanup(func() { pc.Close() })
	return pc
}

// TestListenAddrInUse: a port another socket holds is refused with
// EADDRINUSE — the case that matters is a foreign reuseport group, which
// SO_REUSEPORT alone would let a second group join silently — while the
// group's own sockets still share the port, and a refused attempt leaves
// the holder working.
func TestListenAddrInUse(t *testing.T) {
	type holder func(t *testing.T, addr netip.AddrPort) (netip.AddrPort, func())
	group := func(n int) holder {
		return func(t *testing.T, addr netip.AddrPort) (netip.AddrPort, func()) {
			g, err := ListenGroup(addr, n, nil)
			if err != nil {
				t.Fatalf("first group: %v", err)
			}
			return g.LocalAddr(), func() { g.Close() }
		}
	}
	plain := func(t *testing.T, addr netip.AddrPort) (netip.AddrPort, func()) {
		pc, err := net.ListenPacket("udp", addr.String())
		if err != nil {
			t.Fatal(err)
		}
		return addr, func() { pc.Close() }
	}
	reuse := func(t *testing.T, addr netip.AddrPort) (netip.AddrPort, func()) {
		pc := reuseportSocket(t, addr)
		return addr, func() { pc.Close() }
	}
	cases := []struct {
		name   string
		holdIP string // what the first socket binds
		bindIP string // what ListenGroup then asks for, same port
		hold   holder
		n      int
	}{
		{"second group joins a group", "127.0.0.1", "127.0.0.1", group(2), 2},
		{"single socket after a group", "127.0.0.1", "127.0.0.1", group(2), 1},
		{"group after a foreign reuseport socket", "127.0.0.1", "127.0.0.1", reuse, 2},
		{"group after a plain socket", "127.0.0.1", "127.0.0.1", plain, 2},
		{"loopback group under a wildcard group", "0.0.0.0", "127.0.0.1", group(2), 2},
		{"wildcard group over a loopback reuseport socket", "127.0.0.1", "0.0.0.0", reuse, 2},
		{"ipv6 group after a group", "::1", "::1", group(2), 2},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			addr := freePort(t, tc.holdIP)
			held, release := tc.hold(t, addr)
			defer release()
			want := netip.AddrPortFrom(netip.MustParseAddr(tc.bindIP), held.Port())
			g, err := ListenGroup(want, tc.n, nil)
			if err == nil {
				g.Close()
				t.Fatalf("ListenGroup(%v, %d) succeeded while %v is held", want, tc.n, held)
			}
			if !errors.Is(err, syscall.EADDRINUSE) {
				t.Fatalf("error %v does not match EADDRINUSE", err)
			}
			if got, wantMsg := err.Error(), "batch: "+want.String()+": address already in use"; got != wantMsg {
				t.Errorf("error %q, want %q", got, wantMsg)
			}
		})
	}

	t.Run("own group and reuse after close", func(t *testing.T) {
		addr := freePort(t, "127.0.0.1")
		g, err := ListenGroup(addr, 4, nil)
		if err != nil {
			t.Fatalf("group of 4 on a free port: %v", err)
		}
		if _, err := ListenGroup(addr, 4, nil); !errors.Is(err, syscall.EADDRINUSE) {
			t.Fatalf("second group: %v, want EADDRINUSE", err)
		}
		// The refused attempt left the first group whole: a datagram
		// still arrives on one of its sockets.
		sendPlain(t, addr, [][]byte{[]byte("still here")})
		got := groupReceive(t, g, 1)
		n := 0
		for _, per := range got {
			n += len(per)
		}
		if n != 1 {
			t.Fatalf("group received %d datagrams after the refused join, want 1", n)
		}
		// groupReceive closed g.
		g2, err := ListenGroup(addr, 4, nil)
		if err != nil {
			t.Fatalf("group on the port released by Close: %v", err)
		}
		g2.Close()
	})
}

// TestPortZeroGroups: groups opened on port 0 get ports nobody else holds.
// A bind to port 0 with SO_REUSEPORT may be given a port another reuseport
// socket of the same user holds; before the fix 600 groups of two on
// 127.0.0.1:0 shared a port 6 times, and the second group took part of the
// first one's traffic.
func TestPortZeroGroups(t *testing.T) {
	n := 600
	if testing.Short() {
		n = 200
	}
	seen := map[uint16]bool{}
	var groups []*Group
	defer func() {
		for _, g := range groups {
			g.Close()
		}
	}()
	for i := range n {
		g, err := ListenGroup(netip.MustParseAddrPort("127.0.0.1:0"), 2, nil)
		if err != nil {
			t.Fatal(err)
		}
		groups = append(groups, g)
		p := g.LocalAddr().Port()
		if seen[p] {
			t.Fatalf("group %d got port %d, which an open group already holds", i, p)
		}
		seen[p] = true
	}
}
