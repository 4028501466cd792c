//go:build !unix

package ws

import "net"

// udpSender is the portable fallback: a plain Write on the connected
// socket, which may briefly block when the socket buffer is full.
type udpSender struct{ c *net.UDPConn }

func (s *udpSender) init(c *net.UDPConn) error { s.c = c; return nil }

// send writes p as one datagram.
func (s *udpSender) send(p []byte) error {
	_, err := s.c.Write(p)
	return err
}
