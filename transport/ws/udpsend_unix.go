//go:build unix

package ws

import (
	"net"
	"syscall"
)

// udpSender writes datagrams on a connected UDP socket without ever
// parking the calling goroutine: the server calls it on a gnet event loop,
// which must not block. A full socket buffer fails the write with EAGAIN
// and the datagram is dropped, as it would be anywhere on a UDP path.
// Owned by one goroutine; send does not allocate.
type udpSender struct {
	rc  syscall.RawConn
	fn  func(fd uintptr) bool // s.write, bound once so send does not allocate
	p   []byte
	err error
}

func (s *udpSender) init(c *net.UDPConn) error {
	rc, err := c.SyscallConn()
	if err != nil {
		return err
	}
	s.rc, s.fn = rc, s.write
	return nil
}

// send writes p as one datagram.
func (s *udpSender) send(p []byte) error {
	s.p, s.err = p, nil
	err := s.rc.Write(s.fn)
	s.p = nil
	if err != nil {
		return err
	}
	return s.err
}

func (s *udpSender) write(fd uintptr) bool {
	for {
		_, err := syscall.Write(int(fd), s.p)
		if err == syscall.EINTR {
			continue
		}
		s.err = err
		return true // never wait for writability: drop instead
	}
}
