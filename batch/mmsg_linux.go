package batch

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"sync/atomic"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Receive and send paths (one socket):
//
//  1. ReadBatch points the rx scratch (mmsghdr, iovec, sockaddr, control
//     arrays allocated once per conn) at the caller's buffers.
//  2. recvmmsg runs inside syscall.RawConn.Read; EAGAIN returns false, which
//     parks the goroutine in the netpoller until the socket is readable.
//  3. Each entry's sockaddr becomes a netip.AddrPort, its control messages
//     give the GRO segment size and the SO_RXQ_OVFL drop counter.
//
//  1. WriteBatch groups messages into entries: a GSO run (same Addr, equal
//     lengths, last shorter) becomes one entry with a UDP_SEGMENT control
//     message and one iovec per packet; anything else one entry per packet.
//  2. sendmmsg runs inside syscall.RawConn.Write (EAGAIN parks); a partial
//     send resumes at the first unsent entry, and an error on the first entry
//     is classified (lost / message size / GSO refused / fatal).
//
// Reads and writes use separate scratch, so one reader and one writer may
// run concurrently.

// mmsghdr is struct mmsghdr from <sys/socket.h>; Go pads it to the C size on
// every architecture (64 bytes on 64-bit, 32 on 32-bit).
type mmsghdr struct {
	hdr unix.Msghdr
	len uint32
}

// txIovecs is the number of iovecs (one per datagram) one send syscall can
// carry: four full GSO runs, so a WriteBatch of a few hundred same-size
// packets still needs few syscalls, for 4 KiB of scratch per conn.
const txIovecs = 4 * MaxGSOSegments

// Control-buffer sizes in 8-byte words (uint64 storage keeps them aligned
// for unix.Cmsghdr). rx: UDP_GRO (int) + SO_RXQ_OVFL (uint32), each
// CmsgSpace(4) = 24 bytes on 64-bit; 64 bytes leaves room for one more.
// tx: UDP_SEGMENT (uint16), CmsgSpace(2) = 24 bytes on 64-bit.
const (
	rxControlWords = 8
	txControlWords = 4
)

// rxScratch is the receive side's syscall memory, owned by the single
// ReadBatch caller.
type rxScratch struct {
	hdrs  [BatchSize]mmsghdr
	iovs  [BatchSize]unix.Iovec
	names [BatchSize]unix.RawSockaddrInet6
	ctrl  [BatchSize][rxControlWords]uint64

	count int           // entries offered to recvmmsg
	n     int           // entries filled by the last recvmmsg
	errno syscall.Errno // errno of the last recvmmsg
}

// txScratch is the send side's syscall memory, owned by the single
// WriteBatch caller.
type txScratch struct {
	hdrs  [BatchSize]mmsghdr
	iovs  [txIovecs]unix.Iovec
	names [BatchSize]unix.RawSockaddrInet6
	ctrl  [BatchSize][txControlWords]uint64
	end   [BatchSize]int // end[e]: index after entry e's last message, relative to the build start
	seg   [BatchSize]int // seg[e]: entry e's segment size (its first message's length)

	from, to int           // entries [from, to) offered to sendmmsg
	n        int           // entries sent by the last sendmmsg
	errno    syscall.Errno // errno of the last sendmmsg
}

// conn is the Linux Conn.
type conn struct {
	pc     *net.UDPConn
	rc     syscall.RawConn
	local  netip.AddrPort
	family int // unix.AF_INET or unix.AF_INET6
	log    *slog.Logger

	recvFn func(fd uintptr) bool // c.recvmmsg, bound once so ReadBatch does not allocate
	sendFn func(fd uintptr) bool // c.sendmmsg, bound once

	gso atomic.Bool // GSO in use; cleared on fallback
	gro bool        // set at setup, read-only after

	stats struct {
		rxOverflow, rxTruncated, txLost          atomic.Uint64
		txBatches, txMessages, rxBatches, rxMsgs atomic.Uint64
		gsoFallbacks                             atomic.Uint64
	}

	rx rxScratch // owned by the ReadBatch caller
	tx txScratch // owned by the WriteBatch caller
}

func newConn(pc *net.UDPConn, rc syscall.RawConn, local netip.AddrPort, family int, log *slog.Logger) *conn {
	c := &conn{pc: pc, rc: rc, local: local, family: family, log: log}
	c.recvFn = c.recvmmsg
	c.sendFn = c.sendmmsg
	return c
}

// LocalAddr implements Conn.
func (c *conn) LocalAddr() netip.AddrPort { return c.local }

// Close implements Conn.
func (c *conn) Close() error { return c.pc.Close() }

// Stats implements Conn.
func (c *conn) Stats() Stats {
	return Stats{
		GSO:             c.gso.Load(),
		GRO:             c.gro,
		RxQueueOverflow: c.stats.rxOverflow.Load(),
		RxTruncated:     c.stats.rxTruncated.Load(),
		TxLost:          c.stats.txLost.Load(),
		TxBatches:       c.stats.txBatches.Load(),
		TxMessages:      c.stats.txMessages.Load(),
		RxBatches:       c.stats.rxBatches.Load(),
		RxMessages:      c.stats.rxMsgs.Load(),
		GSOFallbacks:    c.stats.gsoFallbacks.Load(),
	}
}

// recvmmsg is the RawConn.Read callback; false parks until readable.
func (c *conn) recvmmsg(fd uintptr) bool {
	for {
		r, _, errno := unix.Syscall6(unix.SYS_RECVMMSG, fd,
			uintptr(unsafe.Pointer(&c.rx.hdrs[0])), uintptr(c.rx.count), 0, 0, 0)
		switch errno {
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			return false
		}
		c.rx.n, c.rx.errno = int(r), errno
		return true
	}
}

// sendmmsg is the RawConn.Write callback; false parks until writable.
func (c *conn) sendmmsg(fd uintptr) bool {
	tx := &c.tx
	for {
		r, _, errno := unix.Syscall6(unix.SYS_SENDMMSG, fd,
			uintptr(unsafe.Pointer(&tx.hdrs[tx.from])), uintptr(tx.to-tx.from), 0, 0, 0)
		switch errno {
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			return false
		}
		tx.n, tx.errno = int(r), errno
		return true
	}
}

// ReadBatch implements Conn.
func (c *conn) ReadBatch(msgs []Message) (int, error) {
	k := min(len(msgs), BatchSize)
	if k == 0 {
		return 0, nil
	}
	rx := &c.rx
	for {
		rx.count = k
		for i := range k {
			iov := &rx.iovs[i]
			if b := msgs[i].Buf; len(b) > 0 {
				iov.Base = &b[0]
				iov.SetLen(len(b))
			} else {
				iov.Base = nil
				iov.SetLen(0)
			}
			h := &rx.hdrs[i].hdr
			h.Name = (*byte)(unsafe.Pointer(&rx.names[i]))
			h.Namelen = unix.SizeofSockaddrInet6
			h.Iov = iov
			h.SetIovlen(1)
			h.Control = (*byte)(unsafe.Pointer(&rx.ctrl[i][0]))
			h.SetControllen(rxControlWords * 8)
			h.Flags = 0
		}
		err := c.rc.Read(c.recvFn)
		if err != nil {
			c.releaseRx(k)
			return 0, err
		}
		if rx.errno == 0 {
			break
		}
		switch rx.errno {
		case unix.ECONNREFUSED, unix.EHOSTUNREACH, unix.ENETUNREACH, unix.ECONNRESET, unix.EHOSTDOWN, unix.ENETDOWN:
			// An ICMP error from an earlier send (IP_RECVERR queued it):
			// report which destination it was for; the data queue may
			// still hold datagrams, read on the next call.
			if ue := c.readErrQueue(); ue != nil {
				c.releaseRx(k)
				return 0, ue
			}
			continue
		}
		c.releaseRx(k)
		return 0, os.NewSyscallError("recvmmsg", rx.errno)
	}
	n := rx.n
	datagrams := 0
	var drops uint32
	for i := range n {
		m := &msgs[i]
		h := &rx.hdrs[i]
		m.N = int(h.len)
		m.Addr = sockaddrToAddrPort(&rx.names[i])
		ctrl := unsafe.Slice((*byte)(unsafe.Pointer(&rx.ctrl[i][0])), rxControlWords*8)
		seg, d := parseRxControl(ctrl[:min(int(h.hdr.Controllen), len(ctrl))])
		drops = max(drops, d)
		if seg <= 0 || m.N <= seg {
			seg = 0
		}
		m.SegSize = seg
		if h.hdr.Flags&unix.MSG_TRUNC != 0 {
			// The datagram (or the GRO train's tail) did not fit Buf.
			if seg > 0 {
				m.N -= m.N % seg
			} else {
				m.N = 0
			}
			c.stats.rxTruncated.Add(1)
		}
		if seg > 0 {
			datagrams += (m.N + seg - 1) / seg
		} else {
			datagrams++
		}
	}
	c.releaseRx(k)
	if uint64(drops) > c.stats.rxOverflow.Load() {
		c.stats.rxOverflow.Store(uint64(drops))
	}
	c.stats.rxBatches.Add(1)
	c.stats.rxMsgs.Add(uint64(datagrams))
	return n, nil
}

// releaseRx drops the scratch's references to the caller's buffers so they
// do not stay reachable after the call.
func (c *conn) releaseRx(k int) {
	for i := range k {
		c.rx.iovs[i].Base = nil
	}
}

// WriteBatch implements Conn.
func (c *conn) WriteBatch(msgs []Message) (int, error) {
	return c.writeBatch(msgs, true)
}

// writeBatch sends msgs, coalescing GSO runs when coalesce is set and GSO is
// on. See Conn.WriteBatch for the result contract.
func (c *conn) writeBatch(msgs []Message, coalesce bool) (int, error) {
	tx := &c.tx
	done := 0
build:
	for done < len(msgs) {
		entries, iovs := c.buildTx(msgs[done:], coalesce && c.gso.Load())
		if entries == 0 {
			// msgs[done] has an address this socket cannot use.
			m := &msgs[done]
			c.releaseTx(0)
			return done + 1, &net.OpError{Op: "write", Net: "udp", Addr: net.UDPAddrFromAddrPort(m.Addr), Err: ErrBadAddr}
		}
		tx.from, tx.to = 0, entries
		for tx.from < tx.to {
			if err := c.rc.Write(c.sendFn); err != nil {
				c.releaseTx(iovs)
				return done + c.entryStart(tx.from), err
			}
			if tx.errno == 0 {
				if tx.n <= 0 || tx.n > tx.to-tx.from {
					// sendmmsg sends at least one entry or fails; anything
					// else would loop forever.
					c.releaseTx(iovs)
					return done + c.entryStart(tx.from), fmt.Errorf("BUG: sendmmsg returned %d for %d entries", tx.n, tx.to-tx.from)
				}
				c.stats.txBatches.Add(1)
				c.stats.txMessages.Add(uint64(c.entryStart(tx.from+tx.n) - c.entryStart(tx.from)))
				tx.from += tx.n
				continue
			}
			e := tx.from
			first, end := done+c.entryStart(e), done+tx.end[e]
			switch errno := tx.errno; {
			case txLoss(errno):
				c.stats.txLost.Add(uint64(end - first))
				tx.from++
			case errno == unix.EIO || errno == unix.EINVAL || errno == unix.EMSGSIZE:
				if end-first == 1 {
					if errno == unix.EMSGSIZE {
						c.releaseTx(iovs)
						return end, &MsgSizeError{Addr: msgs[first].Addr, Size: tx.seg[e]}
					}
					c.releaseTx(iovs)
					return first, os.NewSyscallError("sendmmsg", errno)
				}
				// The kernel refused the GSO run: resend it one packet per
				// entry. If that resend hits EMSGSIZE, the run failed for its
				// size, not for GSO, and GSO stays on.
				c.releaseTx(iovs)
				k, err := c.writeBatch(msgs[first:end], false)
				var mse *MsgSizeError
				if errno == unix.EIO || !errors.As(err, &mse) {
					c.disableGSO(errno)
				}
				if err != nil {
					return first + k, err
				}
				done = end
				continue build
			default:
				c.releaseTx(iovs)
				return first, os.NewSyscallError("sendmmsg", errno)
			}
		}
		c.releaseTx(iovs)
		done += tx.end[entries-1]
	}
	return done, nil
}

// entryStart returns the index (relative to the build start) of entry e's
// first message.
func (c *conn) entryStart(e int) int {
	if e == 0 {
		return 0
	}
	return c.tx.end[e-1]
}

// disableGSO turns GSO off for this conn after the kernel refused a run.
func (c *conn) disableGSO(errno syscall.Errno) {
	if c.gso.Swap(false) {
		c.stats.gsoFallbacks.Add(1)
		c.log.Warn("batch: kernel refused UDP GSO; sending uncoalesced", "local", c.local, "errno", errno)
	}
}

// buildTx fills the tx scratch with entries for a prefix of msgs and returns
// the number of entries and of iovecs used. It returns 0 entries only when
// msgs[0]'s address cannot be encoded; a bad address later ends the build
// before it.
func (c *conn) buildTx(msgs []Message, coalesce bool) (entries, iovs int) {
	tx := &c.tx
	i := 0
	for i < len(msgs) && entries < BatchSize && iovs < txIovecs {
		m := &msgs[i]
		namelen, ok := putSockaddr(&tx.names[entries], m.Addr, c.family)
		if !ok {
			break
		}
		start, firstIov := i, iovs
		seg := len(m.Buf)
		total := seg
		setIovec(&tx.iovs[iovs], m.Buf)
		iovs++
		i++
		if coalesce && seg > 0 {
			for i < len(msgs) && i-start < MaxGSOSegments && iovs < txIovecs {
				next := &msgs[i]
				l := len(next.Buf)
				if l == 0 || l > seg || total+l > MaxGSOBytes || next.Addr != m.Addr {
					break
				}
				setIovec(&tx.iovs[iovs], next.Buf)
				iovs++
				i++
				total += l
				if l < seg {
					break // a shorter packet ends the run
				}
			}
		}
		h := &tx.hdrs[entries].hdr
		h.Name = (*byte)(unsafe.Pointer(&tx.names[entries]))
		h.Namelen = namelen
		h.Iov = &tx.iovs[firstIov]
		h.SetIovlen(i - start)
		h.Flags = 0
		if i-start > 1 {
			n := putSegmentControl(&tx.ctrl[entries], seg)
			h.Control = (*byte)(unsafe.Pointer(&tx.ctrl[entries][0]))
			h.SetControllen(n)
		} else {
			h.Control = nil
			h.SetControllen(0)
		}
		tx.end[entries] = i
		tx.seg[entries] = seg
		entries++
	}
	return entries, iovs
}

// releaseTx drops the scratch's references to the caller's buffers.
func (c *conn) releaseTx(iovs int) {
	for i := range iovs {
		c.tx.iovs[i].Base = nil
	}
}

func setIovec(iov *unix.Iovec, b []byte) {
	if len(b) > 0 {
		iov.Base = &b[0]
	} else {
		iov.Base = nil
	}
	iov.SetLen(len(b))
}

// putSockaddr encodes ap into sa for a socket of the given family and
// returns the sockaddr length. On an AF_INET6 socket IPv4 destinations are
// sent as IPv4-mapped IPv6 (reachable on dual-stack sockets); on an AF_INET
// socket IPv4-mapped destinations are unmapped and IPv6 ones are refused.
// Zones are ignored (scope ID 0). It does not allocate.
func putSockaddr(sa *unix.RawSockaddrInet6, ap netip.AddrPort, family int) (uint32, bool) {
	a := ap.Addr()
	if !a.IsValid() {
		return 0, false
	}
	port := ap.Port()
	if family == unix.AF_INET {
		a = a.Unmap()
		if !a.Is4() {
			return 0, false
		}
		sa4 := (*unix.RawSockaddrInet4)(unsafe.Pointer(sa))
		*sa4 = unix.RawSockaddrInet4{Family: unix.AF_INET, Addr: a.As4()}
		p := (*[2]byte)(unsafe.Pointer(&sa4.Port))
		p[0], p[1] = byte(port>>8), byte(port)
		return unix.SizeofSockaddrInet4, true
	}
	*sa = unix.RawSockaddrInet6{Family: unix.AF_INET6, Addr: a.As16()}
	p := (*[2]byte)(unsafe.Pointer(&sa.Port))
	p[0], p[1] = byte(port>>8), byte(port)
	return unix.SizeofSockaddrInet6, true
}

// sockaddrToAddrPort decodes a kernel-filled sockaddr (AF_INET or AF_INET6).
// IPv4-mapped IPv6 addresses (dual-stack sockets receiving IPv4) are
// unmapped, so a peer has one address whatever the socket family; the scope
// ID is dropped. It returns the zero AddrPort for other families. It does
// not allocate.
func sockaddrToAddrPort(sa *unix.RawSockaddrInet6) netip.AddrPort {
	switch sa.Family {
	case unix.AF_INET:
		sa4 := (*unix.RawSockaddrInet4)(unsafe.Pointer(sa))
		p := (*[2]byte)(unsafe.Pointer(&sa4.Port))
		return netip.AddrPortFrom(netip.AddrFrom4(sa4.Addr), uint16(p[0])<<8|uint16(p[1]))
	case unix.AF_INET6:
		p := (*[2]byte)(unsafe.Pointer(&sa.Port))
		return netip.AddrPortFrom(netip.AddrFrom16(sa.Addr).Unmap(), uint16(p[0])<<8|uint16(p[1]))
	}
	return netip.AddrPort{}
}

// readErrQueue takes one entry from the socket's error queue (IP_RECVERR /
// IPV6_RECVERR): the ICMP error an earlier datagram met, with the address
// that datagram was sent to. It returns nil when the queue is empty or the
// entry is not an ICMP destination-unreachable report. It allocates (the
// path runs once per ICMP error, never per packet).
func (c *conn) readErrQueue() *UnreachableError {
	var (
		name unix.RawSockaddrInet6
		oob  [128]byte
		buf  [64]byte // the start of the original datagram; not used
		ue   *UnreachableError
	)
	_ = c.rc.Read(func(fd uintptr) bool {
		iov := unix.Iovec{Base: &buf[0]}
		iov.SetLen(len(buf))
		var h unix.Msghdr
		h.Name = (*byte)(unsafe.Pointer(&name))
		h.Namelen = unix.SizeofSockaddrInet6
		h.Iov = &iov
		h.SetIovlen(1)
		h.Control = &oob[0]
		h.SetControllen(len(oob))
		_, _, errno := unix.Syscall(unix.SYS_RECVMSG, fd, uintptr(unsafe.Pointer(&h)), unix.MSG_ERRQUEUE|unix.MSG_DONTWAIT)
		if errno != 0 {
			return true // EAGAIN: the queue is empty; do not park
		}
		msgs, err := unix.ParseSocketControlMessage(oob[:h.Controllen])
		if err != nil {
			return true
		}
		for _, m := range msgs {
			isV4 := m.Header.Level == unix.SOL_IP && m.Header.Type == unix.IP_RECVERR
			isV6 := m.Header.Level == unix.SOL_IPV6 && m.Header.Type == unix.IPV6_RECVERR
			if (!isV4 && !isV6) || len(m.Data) < int(unsafe.Sizeof(unix.SockExtendedErr{})) {
				continue
			}
			ee := (*unix.SockExtendedErr)(unsafe.Pointer(&m.Data[0]))
			if ee.Origin != unix.SO_EE_ORIGIN_ICMP && ee.Origin != unix.SO_EE_ORIGIN_ICMP6 {
				continue
			}
			ue = &UnreachableError{To: sockaddrToAddrPort(&name), Err: syscall.Errno(ee.Errno)}
		}
		return true
	})
	return ue
}

// WriteTo sends b to addr as one datagram with a plain sendto, from any
// goroutine: it shares no scratch with WriteBatch and uses no GSO, so a
// rare datagram (a handshake message) can leave without waiting for the
// goroutine that owns WriteBatch. It never parks: with the send buffer
// full it returns an error matching syscall.EAGAIN (the caller may queue
// the datagram for WriteBatch instead). Addresses are mapped as for
// WriteBatch (an unusable one gives ErrBadAddr); the errors WriteBatch
// counts in Stats.TxLost are counted there and return nil. It allocates
// (its closure: it shares no scratch, being callable from any goroutine).
func (c *conn) WriteTo(b []byte, addr netip.AddrPort) error {
	var sa unix.RawSockaddrInet6
	salen, ok := putSockaddr(&sa, addr, c.family)
	if !ok {
		return fmt.Errorf("%w: %v", ErrBadAddr, addr)
	}
	var serr syscall.Errno
	err := c.rc.Write(func(fd uintptr) bool {
		_, _, serr = unix.Syscall6(unix.SYS_SENDTO, fd, uintptr(unsafe.Pointer(unsafe.SliceData(b))), uintptr(len(b)),
			0, uintptr(unsafe.Pointer(&sa)), uintptr(salen))
		return true
	})
	if err != nil {
		return err
	}
	switch {
	case serr == 0:
	case txLoss(serr):
		c.stats.txLost.Add(1)
		return nil
	case serr == unix.EMSGSIZE:
		return &MsgSizeError{Addr: addr, Size: len(b)}
	default:
		return os.NewSyscallError("sendto", serr)
	}
	c.stats.txBatches.Add(1)
	c.stats.txMessages.Add(1)
	return nil
}

// txLoss reports whether a send's errno means "this datagram is lost, go
// on" (counted in Stats.TxLost): WriteBatch and WriteTo treat these alike.
func txLoss(errno syscall.Errno) bool {
	switch errno {
	case unix.ENOBUFS, unix.EPERM, unix.ECONNREFUSED, unix.EHOSTUNREACH, unix.ENETUNREACH:
		return true
	}
	return false
}
