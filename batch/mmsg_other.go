//go:build !linux

package batch

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"sync/atomic"
	"syscall"
)

// The portable fallback: one ReadFromUDPAddrPort or WriteToUDPAddrPort per
// message, no GSO, GRO, SO_RXQ_OVFL or steering. Without a portable
// SO_REUSEPORT that spreads unicast datagrams, a group's n Conns share one
// socket (concurrent readers of one UDP socket each get whole datagrams).

// conn is the portable Conn.
type conn struct {
	pc    *net.UDPConn
	local netip.AddrPort
	log   *slog.Logger

	stats struct {
		txLost, txBatches, txMessages, rxBatches, rxMsgs atomic.Uint64
	}
}

func listenGroup(addr netip.AddrPort, n int, cfg config) (*Group, error) {
	if addr.Addr().Is4In6() {
		addr = netip.AddrPortFrom(addr.Addr().Unmap(), addr.Port())
	}
	var lc net.ListenConfig
	pc, err := lc.ListenPacket(context.Background(), network(addr.Addr()), addr.String())
	if err != nil {
		return nil, err
	}
	udp := pc.(*net.UDPConn)
	_ = udp.SetReadBuffer(cfg.sockBuf)
	_ = udp.SetWriteBuffer(cfg.sockBuf)
	local := udp.LocalAddr().(*net.UDPAddr).AddrPort()
	local = netip.AddrPortFrom(local.Addr().Unmap(), local.Port())
	g := &Group{conns: make([]Conn, n), local: local}
	for i := range g.conns {
		g.conns[i] = &conn{pc: udp, local: local, log: cfg.log}
	}
	return g, nil
}

// LocalAddr implements Conn.
func (c *conn) LocalAddr() netip.AddrPort { return c.local }

// Close implements Conn. It closes the socket shared by the whole group.
func (c *conn) Close() error { return c.pc.Close() }

// Stats implements Conn.
func (c *conn) Stats() Stats {
	return Stats{
		TxLost:     c.stats.txLost.Load(),
		TxBatches:  c.stats.txBatches.Load(),
		TxMessages: c.stats.txMessages.Load(),
		RxBatches:  c.stats.rxBatches.Load(),
		RxMessages: c.stats.rxMsgs.Load(),
	}
}

// ReadBatch implements Conn; it returns one message per call.
func (c *conn) ReadBatch(msgs []Message) (int, error) {
	if len(msgs) == 0 {
		return 0, nil
	}
	m := &msgs[0]
	for {
		n, ap, err := c.pc.ReadFromUDPAddrPort(m.Buf)
		if err != nil {
			if isRxTransient(err) {
				continue
			}
			return 0, err
		}
		m.N, m.SegSize = n, 0
		m.Addr = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
		c.stats.rxBatches.Add(1)
		c.stats.rxMsgs.Add(1)
		return 1, nil
	}
}

// WriteBatch implements Conn, one syscall per message.
func (c *conn) WriteBatch(msgs []Message) (int, error) {
	for i := range msgs {
		m := &msgs[i]
		if !m.Addr.IsValid() {
			return i + 1, &net.OpError{Op: "write", Net: "udp", Err: ErrBadAddr}
		}
		_, err := c.pc.WriteToUDPAddrPort(m.Buf, m.Addr)
		switch {
		case err == nil:
			c.stats.txBatches.Add(1)
			c.stats.txMessages.Add(1)
		case isTxLoss(err):
			c.stats.txLost.Add(1)
		case errors.Is(err, syscall.EMSGSIZE):
			return i + 1, &MsgSizeError{Addr: m.Addr, Size: len(m.Buf)}
		default:
			return i, err
		}
	}
	return len(msgs), nil
}

// isTxLoss reports whether a send error means "this datagram is lost, go on".
func isTxLoss(err error) bool {
	return errors.Is(err, syscall.ENOBUFS) || errors.Is(err, syscall.EPERM) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.EHOSTUNREACH) ||
		errors.Is(err, syscall.ENETUNREACH)
}

// isRxTransient reports whether a receive error is an ICMP echo of an
// earlier send (Windows reports port-unreachable as a reset) to read past.
func isRxTransient(err error) bool {
	return errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.EHOSTUNREACH) ||
		errors.Is(err, syscall.ENETUNREACH) || errors.Is(err, syscall.ECONNRESET)
}
