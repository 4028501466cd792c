package batch

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// listenGroup opens the n sockets of a group and, when asked, attaches the
// steering program. On error every socket opened so far is closed.
func listenGroup(addr netip.AddrPort, n int, cfg config) (*Group, error) {
	if addr.Addr().Is4In6() {
		addr = netip.AddrPortFrom(addr.Addr().Unmap(), addr.Port())
	}
	g := &Group{conns: make([]Conn, 0, n)}
	fail := func(err error) (*Group, error) {
		for _, c := range g.conns {
			c.Close()
		}
		return nil, err
	}
	warned := false
	bind := addr
	for i := range n {
		c, err := listenOne(bind, n > 1, cfg, &warned)
		if err != nil {
			return fail(err)
		}
		g.conns = append(g.conns, c)
		if i == 0 {
			// Port 0: the first socket picked the port; the others join it.
			bind = netip.AddrPortFrom(addr.Addr(), c.local.Port())
			g.local = c.local
		}
	}
	if n > 1 && cfg.steer {
		// The program attaches to the whole reuseport group through any
		// member; socket i of the group is the i-th one bound.
		if err := attachSteering(g.conns[0].(*conn), n); err != nil {
			cfg.log.Warn("batch: kernel refused the reuseport steering program; packets are spread by hash",
				"local", g.local, "err", err)
		} else {
			g.steered = true
		}
	}
	return g, nil
}

// listenOne opens and configures one socket.
func listenOne(addr netip.AddrPort, reuse bool, cfg config, warned *bool) (*conn, error) {
	var lc net.ListenConfig
	if reuse {
		lc.Control = func(_, _ string, rc syscall.RawConn) error {
			var serr error
			if err := rc.Control(func(fd uintptr) {
				serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
			}); err != nil {
				return err
			}
			return os.NewSyscallError("setsockopt SO_REUSEPORT", serr)
		}
	}
	pc, err := lc.ListenPacket(context.Background(), network(addr.Addr()), addr.String())
	if err != nil {
		return nil, err
	}
	udp := pc.(*net.UDPConn)
	rc, err := udp.SyscallConn()
	if err != nil {
		udp.Close()
		return nil, err
	}
	var (
		s    setup
		serr error
	)
	if err := rc.Control(func(fd uintptr) { s, serr = configure(int(fd), cfg) }); err != nil {
		udp.Close()
		return nil, err
	}
	if serr != nil {
		udp.Close()
		return nil, serr
	}
	if (s.rcvBuf < cfg.sockBuf || s.sndBuf < cfg.sockBuf) && !*warned {
		*warned = true
		cfg.log.Warn("batch: socket buffers smaller than requested; raise sysctl net.core.rmem_max and net.core.wmem_max (or run with CAP_NET_ADMIN)",
			slog.Int("requested", cfg.sockBuf), slog.Int("rcvbuf", s.rcvBuf), slog.Int("sndbuf", s.sndBuf))
	}
	c := newConn(udp, rc, s.local, s.family, cfg.log)
	c.gso.Store(s.gso)
	c.gro = s.gro
	return c, nil
}

// setup is what configure learned about a socket.
type setup struct {
	family         int
	local          netip.AddrPort
	rcvBuf, sndBuf int // granted sizes (the kernel's doubled read-back, halved)
	gso, gro       bool
}

// configure applies STT's socket options to fd. Buffer sizes and
// SO_RXQ_OVFL are best effort; path-MTU probing is required.
func configure(fd int, cfg config) (setup, error) {
	var s setup
	sa, err := unix.Getsockname(fd)
	if err != nil {
		return s, os.NewSyscallError("getsockname", err)
	}
	switch sa := sa.(type) {
	case *unix.SockaddrInet4:
		s.family = unix.AF_INET
		s.local = netip.AddrPortFrom(netip.AddrFrom4(sa.Addr), uint16(sa.Port))
	case *unix.SockaddrInet6:
		s.family = unix.AF_INET6
		s.local = netip.AddrPortFrom(netip.AddrFrom16(sa.Addr).Unmap(), uint16(sa.Port))
	default:
		return s, fmt.Errorf("batch: unexpected socket address %T", sa)
	}

	s.rcvBuf = setBuffer(fd, unix.SO_RCVBUFFORCE, unix.SO_RCVBUF, cfg.sockBuf)
	s.sndBuf = setBuffer(fd, unix.SO_SNDBUFFORCE, unix.SO_SNDBUF, cfg.sockBuf)

	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RXQ_OVFL, 1); err != nil {
		cfg.log.Debug("batch: SO_RXQ_OVFL unavailable; RxQueueOverflow stays 0", "err", err)
	}

	// Probe mode: send at the interface MTU and ignore ICMP "fragmentation
	// needed", so a forged ICMP cannot shrink our packets; path MTU is the
	// data plane's business (DPLPMTUD), and EMSGSIZE reports the local limit.
	if s.family == unix.AF_INET {
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_MTU_DISCOVER, unix.IP_PMTUDISC_PROBE); err != nil {
			return s, os.NewSyscallError("setsockopt IP_MTU_DISCOVER", err)
		}
	} else {
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_MTU_DISCOVER, unix.IPV6_PMTUDISC_PROBE); err != nil {
			return s, os.NewSyscallError("setsockopt IPV6_MTU_DISCOVER", err)
		}
		// Dual-stack sockets send IPv4 too; the IPv4 option is best effort
		// there (an IPv6-only socket never uses it).
		_ = unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_MTU_DISCOVER, unix.IP_PMTUDISC_PROBE)
	}

	// Queue ICMP errors (port/host unreachable) with the destination they
	// concern, so ReadBatch can report them (UnreachableError): a dial to a
	// closed port fails at once instead of at its timeout. Best effort.
	if s.family == unix.AF_INET {
		_ = unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_RECVERR, 1)
	} else {
		_ = unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_RECVERR, 1)
		_ = unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_RECVERR, 1)
	}

	s.gso = cfg.gso && probeGSO(fd)
	s.gro = cfg.gro && enableGRO(fd)
	return s, nil
}

// setBuffer sets a socket buffer to size, with the privileged FORCE option
// (ignores net.core.[rw]mem_max; needs CAP_NET_ADMIN) when permitted and the
// plain one otherwise, and returns the size the kernel granted.
func setBuffer(fd, force, plain, size int) int {
	if unix.SetsockoptInt(fd, unix.SOL_SOCKET, force, size) != nil {
		// EPERM without CAP_NET_ADMIN: the plain option caps the size at
		// the sysctl maximum, which the caller's warning names.
		_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, plain, size)
	}
	got, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, plain)
	if err != nil {
		return 0
	}
	// The kernel doubles the requested size for its bookkeeping overhead
	// (socket(7)) and reports the doubled value.
	return got / 2
}
