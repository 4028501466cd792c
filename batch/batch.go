package batch

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strconv"
	"syscall"

	"github.com/stt-go/stt/wire"
)

// Batch and GSO limits.
const (
	// BatchSize is the most messages one ReadBatch returns and the number of
	// sendmmsg entries one syscall carries. 64 matches the kernel's historical
	// UDP_MAX_SEGMENTS (the GSO/GRO segment cap) and wireguard-go's
	// IdealBatchSize, so one batch is one GRO train or one GSO run. Per-Conn
	// scratch arrays are sized from it once.
	BatchSize = 64

	// MaxGSOSegments is the most datagrams one GSO run (one sendmsg entry with a
	// UDP_SEGMENT control message) carries: the kernel refuses more than
	// UDP_MAX_SEGMENTS, which is 64 on every kernel before 6.9 (include/linux/udp.h).
	MaxGSOSegments = 64

	// MaxGSOBytes is the most payload bytes one GSO run carries: the largest
	// UDP payload in one IPv4 datagram, 65535 - 20 (IPv4 header) - 8 (UDP
	// header). The kernel builds the run as one super-datagram and rejects
	// anything larger with EMSGSIZE; IPv6 would allow 20 more bytes, but one
	// limit keeps runs identical on both families.
	MaxGSOBytes = 65507

	// GROBufferSize is the Buf length a reader must offer per message when
	// GRO is on (Stats.GRO): the kernel coalesces a train of up to 64 KiB into
	// one message, and a shorter buffer loses the segments that do not fit
	// (counted in Stats.RxTruncated).
	GROBufferSize = 65535

	// defaultSocketBuffer is SO_RCVBUF and SO_SNDBUF when Options.SocketBuffer
	// is zero: 7 MiB holds about 5000 full-size packets, ~50 ms at 1 Gbit/s,
	// enough to ride out a descheduled loop. quic-go and Tailscale use the
	// same figure.
	defaultSocketBuffer = 7 << 20

	// maxGroupSize bounds ListenGroup's n: more sockets than any plausible
	// loop count only burns file descriptors.
	maxGroupSize = 1024
)

// Header fields the steering program reads (docs/PROTOCOL.md "Packet
// header"), from wire: the kind byte and the low 32 bits of the big-endian
// session ID.
const (
	kindOffset    = wire.KindOffset
	kindMask      = wire.KindMask
	kindTransport = byte(wire.KindTransport)
	// steerOffset is where the low 32 bits of the big-endian session ID start;
	// the BPF program loads a 32-bit word from here.
	steerOffset = wire.SessionIDOffset + 8 - 4
	// steerMinLen is the shortest packet whose steering word is readable.
	steerMinLen = steerOffset + 4
)

// Message is one datagram, or on receive with GRO several coalesced
// datagrams of SegSize bytes each (the last possibly shorter).
//
// Ownership: Buf belongs to the caller before and after every call; batch
// never keeps a reference past the call's return.
type Message struct {
	// Buf is, for reads, the buffer to fill (its full len is offered to the
	// kernel; with GRO on it should be GROBufferSize long); for writes, the
	// datagram's bytes.
	Buf []byte
	// N is, for reads, the number of bytes received into Buf. Writes ignore
	// it (len(Buf) is sent).
	N int
	// Addr is, for reads, the source (IPv4-mapped IPv6 sources are unmapped to
	// IPv4, and zones are dropped); for writes, the destination.
	Addr netip.AddrPort
	// SegSize is, for reads, the GRO segment size when Buf[:N] holds several
	// datagrams, and 0 when it holds one. Writes ignore it.
	SegSize int
}

// Segments calls yield for every datagram in m.Buf[:m.N]: one call when
// SegSize is 0, otherwise one per SegSize-byte segment (the last possibly
// shorter). It stops early when yield returns false. It does not allocate;
// the slices alias m.Buf.
func (m *Message) Segments(yield func(seg []byte) bool) {
	b := m.Buf[:m.N]
	if m.SegSize <= 0 {
		yield(b)
		return
	}
	for len(b) > 0 {
		k := min(m.SegSize, len(b))
		if !yield(b[:k]) {
			return
		}
		b = b[k:]
	}
}

// Conn is a batched UDP socket.
//
// Concurrency: ReadBatch must not run concurrently with another ReadBatch,
// nor WriteBatch with another WriteBatch (each owns per-Conn scratch space);
// one ReadBatch and one WriteBatch may run concurrently. LocalAddr, Stats and
// Close are safe from any goroutine. Implementations: the Linux socket, the
// portable fallback, and batchtest's in-memory pair.
type Conn interface {
	// ReadBatch fills msgs[i] for i < n with received datagrams, at most
	// min(len(msgs), BatchSize) of them. It blocks (parked in the Go netpoller,
	// never spinning) until at least one message arrives; with len(msgs) == 0
	// it returns 0, nil at once. A datagram larger than its Buf is dropped
	// (N = 0, counted in Stats.RxTruncated); a GRO train keeps the whole
	// segments that fit. ICMP-induced errors are retried. After Close it
	// returns an error matching net.ErrClosed. It does not allocate.
	ReadBatch(msgs []Message) (n int, err error)

	// WriteBatch sends msgs in order. Consecutive messages to the same Addr
	// with equal len(Buf) (the last of a run may be shorter) leave as one
	// sendmsg entry with a UDP_SEGMENT control message and one iovec per
	// packet (no copy), at most MaxGSOSegments and MaxGSOBytes per run.
	//
	// n counts the messages processed: sent, or counted in Stats.TxLost
	// (ENOBUFS, EPERM, ECONNREFUSED, EHOSTUNREACH, ENETUNREACH; the batch goes
	// on). err == nil means n == len(msgs). Otherwise msgs[n:] were not tried:
	// a *MsgSizeError (path-MTU signal) or an ErrBadAddr means msgs[n-1] was
	// skipped and the caller may resume with msgs[n:]; an error matching
	// net.ErrClosed means the Conn is closed; any other error is a
	// *os.SyscallError. It blocks only while the send buffer is full
	// (parked in the netpoller). If the kernel rejects GSO (EIO, or EINVAL
	// not caused by size), GSO is turned off for this Conn (Stats.GSO false,
	// Stats.GSOFallbacks counts it) and the run is resent uncoalesced.
	// It does not allocate on success.
	WriteBatch(msgs []Message) (n int, err error)

	// LocalAddr returns the bound address (with the port the kernel picked).
	LocalAddr() netip.AddrPort

	// Close closes the socket, unblocking ReadBatch and WriteBatch with an
	// error matching net.ErrClosed. Closing twice returns an error.
	Close() error

	// Stats returns a snapshot of the counters. It does not allocate.
	Stats() Stats
}

// Stats is a snapshot of a Conn's counters. Counters only grow.
type Stats struct {
	// GSO reports whether WriteBatch currently coalesces runs with UDP GSO.
	GSO bool
	// GRO reports whether the socket receives coalesced trains (UDP_GRO).
	GRO bool
	// RxQueueOverflow is the kernel's count of datagrams dropped because the
	// receive queue was full (SO_RXQ_OVFL), as of the last received message.
	RxQueueOverflow uint64
	// RxTruncated counts received datagrams dropped because they did not fit
	// their Message.Buf.
	RxTruncated uint64
	// TxLost counts datagrams the kernel refused with ENOBUFS, EPERM,
	// ECONNREFUSED, EHOSTUNREACH or ENETUNREACH; WriteBatch went on past them.
	TxLost uint64
	// TxBatches counts send syscalls that carried at least one datagram.
	TxBatches uint64
	// TxMessages counts datagrams handed to the kernel (each GSO segment
	// counts once).
	TxMessages uint64
	// RxBatches counts receive syscalls that returned at least one message.
	RxBatches uint64
	// RxMessages counts datagrams received (each GRO segment counts once).
	RxMessages uint64
	// GSOFallbacks counts the times the kernel refused GSO and it was turned off.
	GSOFallbacks uint64
}

// Options tunes ListenGroup and Listen. A nil *Options means all defaults;
// the caller's value is never modified.
type Options struct {
	// DisableGSO turns off UDP GSO on send. Default false (GSO when the kernel
	// supports it). STT_DISABLE_GSO=1 forces it on.
	DisableGSO bool
	// DisableGRO turns off UDP GRO on receive. Default false.
	// STT_DISABLE_GRO=1 forces it on.
	DisableGRO bool
	// DisableSteering skips the reuseport BPF program. Default false.
	// STT_DISABLE_STEERING=1 forces it on.
	DisableSteering bool
	// SocketBuffer is SO_RCVBUF and SO_SNDBUF in bytes. Zero means
	// defaultSocketBuffer; negative is an error. When the kernel grants less
	// (net.core.rmem_max / wmem_max without CAP_NET_ADMIN), one warning is
	// logged and the smaller size is used.
	SocketBuffer int
	// Logger receives setup warnings (never per-packet logs). Nil is silent.
	Logger *slog.Logger
}

// config is Options after defaults and environment overrides.
type config struct {
	gso, gro, steer bool
	sockBuf         int
	log             *slog.Logger
}

// Environment variables that force a feature off.
const (
	envDisableGSO      = "STT_DISABLE_GSO"
	envDisableGRO      = "STT_DISABLE_GRO"
	envDisableSteering = "STT_DISABLE_STEERING"
)

func envTrue(name string) bool {
	v, err := strconv.ParseBool(os.Getenv(name))
	return err == nil && v
}

func resolve(opts *Options) (config, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.SocketBuffer < 0 {
		return config{}, fmt.Errorf("batch: Options.SocketBuffer must not be negative, got %d", o.SocketBuffer)
	}
	c := config{
		gso:     !o.DisableGSO && !envTrue(envDisableGSO),
		gro:     !o.DisableGRO && !envTrue(envDisableGRO),
		steer:   !o.DisableSteering && !envTrue(envDisableSteering),
		sockBuf: o.SocketBuffer,
		log:     o.Logger,
	}
	if c.sockBuf == 0 {
		c.sockBuf = defaultSocketBuffer
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	return c, nil
}

// MsgSizeError reports a datagram the kernel refused with EMSGSIZE: larger
// than the path MTU (path-MTU discovery is in probe mode, so only the local
// interface MTU counts) or than a UDP datagram can be. It unwraps to
// syscall.EMSGSIZE.
type MsgSizeError struct {
	// Addr is the destination of the refused datagram.
	Addr netip.AddrPort
	// Size is the refused datagram's length in bytes (the segment size for
	// a GSO run).
	Size int
}

// Error names the size and the destination.
func (e *MsgSizeError) Error() string {
	return fmt.Sprintf("batch: datagram of %d bytes to %v too large (EMSGSIZE)", e.Size, e.Addr)
}

// Unwrap returns syscall.EMSGSIZE.
func (e *MsgSizeError) Unwrap() error { return syscall.EMSGSIZE }

// Is reports whether target is a *MsgSizeError whose non-zero fields equal e's.
func (e *MsgSizeError) Is(target error) bool {
	t, ok := target.(*MsgSizeError)
	return ok && (!t.Addr.IsValid() || t.Addr == e.Addr) && (t.Size == 0 || t.Size == e.Size)
}

// ErrBadAddr is returned (wrapped, with the address) by WriteBatch for a
// destination the socket cannot reach by construction: an invalid AddrPort,
// or an IPv6 address on an IPv4 socket. The message is skipped.
var ErrBadAddr = errors.New("batch: destination not usable on this socket")

// steerIndex is the steering decision the Linux reuseport BPF program makes,
// computed in Go (for the handoff fallback and tests): for a TRANSPORT
// packet (kind bits of byte 1 == 2) at least 10 bytes long it returns (low
// 32 bits of the big-endian session ID at bytes [2:10]) mod n and true;
// for anything else, or n < 1, it returns 0, false (the kernel then picks a
// random socket, except that a TRANSPORT packet too short for the session
// ID goes to socket 0, where classic BPF's failed load leaves it). It does
// not allocate.
func steerIndex(pkt []byte, n int) (int, bool) {
	if n < 1 || len(pkt) < steerMinLen || pkt[kindOffset]&kindMask != kindTransport {
		return 0, false
	}
	id, _ := wire.PeekSessionID(pkt)
	return id.Loop(n), true
}

// Group is a set of sockets bound to one address with SO_REUSEPORT, one per
// data-plane loop. Its methods are safe for concurrent use.
type Group struct {
	conns   []Conn
	local   netip.AddrPort
	steered bool
}

// Conns returns the group's sockets; Conns()[i] receives the TRANSPORT
// packets whose steerIndex is i when Steered reports true. The slice is a
// fresh copy.
func (g *Group) Conns() []Conn { return append([]Conn(nil), g.conns...) }

// Steered reports whether the steering BPF program is attached. It is false
// on non-Linux systems, when n == 1, when disabled, and when the kernel
// refused the program.
func (g *Group) Steered() bool { return g.steered }

// LocalAddr returns the address every socket of the group is bound to.
func (g *Group) LocalAddr() netip.AddrPort { return g.local }

// Close closes every socket and returns their errors joined.
func (g *Group) Close() error {
	errs := make([]error, 0, len(g.conns))
	for _, c := range g.conns {
		errs = append(errs, c.Close())
	}
	return errors.Join(errs...)
}

// ListenGroup opens n UDP sockets bound to addr with SO_REUSEPORT (when addr's
// port is 0 the first socket picks the port and the rest join it). On Linux,
// for n > 1 and unless steering is disabled, it attaches a classic-BPF
// program (SO_ATTACH_REUSEPORT_CBPF) that sends every TRANSPORT packet to
// socket steerIndex(pkt, n) and anything else to a random socket; a kernel
// refusal is logged and leaves Steered false. An IPv4 addr opens IPv4
// sockets; the IPv6 unspecified address opens dual-stack sockets. On other
// systems the n Conns share one socket, and closing any of them closes it.
//
// A non-zero port already bound by another socket — another process's
// reuseport group included — is refused with an error matching
// syscall.EADDRINUSE: SO_REUSEPORT alone would let the group join that
// socket's group silently, share its traffic and take it over when it
// stops. Before binding the group, ListenGroup binds addr once without
// SO_REUSEPORT and closes that probe at once; the kernel refuses the probe
// exactly when any socket already holds an overlapping address (the same
// one, or the wildcard of its family, with or without SO_REUSEPORT). Two
// ListenGroup calls that race on one port inside the microseconds between
// a probe and the first bind may still both succeed; a port that was
// bound when ListenGroup started never is. Port 0 picks a port nobody
// holds (see the comment in the body) and binds the group there.
//
// Errors: a bad n or Options field (named in the message), an address in
// use (errors.Is(err, syscall.EADDRINUSE)), or the socket calls' errors.
func ListenGroup(addr netip.AddrPort, n int, opts *Options) (*Group, error) {
	if n < 1 || n > maxGroupSize {
		return nil, fmt.Errorf("batch: ListenGroup n must be in [1, %d], got %d", maxGroupSize, n)
	}
	if !addr.IsValid() {
		return nil, fmt.Errorf("batch: ListenGroup address %v is invalid", addr)
	}
	cfg, err := resolve(opts)
	if err != nil {
		return nil, err
	}
	if addr.Port() != 0 {
		if _, err := probeUnused(addr); err != nil {
			return nil, err
		}
		return listenGroup(addr, n, cfg)
	}
	if n == 1 {
		return listenGroup(addr, n, cfg) // no SO_REUSEPORT: the kernel's pick is free
	}
	// Port 0 with a group: a bind to port 0 with SO_REUSEPORT may be given
	// a port another reuseport socket of the same user already holds (the
	// kernel counts such sockets as sharers, not conflicts), and the group
	// would then split that socket's traffic: two nodes started on :0 in
	// one process got the same port 6 times in 600 (TestPortZeroGroups),
	// and one node's HELLOs reached the other. So the port is picked by a
	// bind without SO_REUSEPORT, which the kernel gives only a port nobody
	// holds, and the group binds that port; another socket taking it in
	// between fails the bind with EADDRINUSE, and the pick is retried.
	for try := 0; ; try++ {
		port, err := probeUnused(addr)
		if err != nil {
			return nil, err
		}
		g, err := listenGroup(netip.AddrPortFrom(addr.Addr(), port), n, cfg)
		if err == nil || !errors.Is(err, syscall.EADDRINUSE) || try == 3 {
			return g, err
		}
	}
}

// probeUnused binds addr once without SO_REUSEPORT (net.ListenPacket sets
// neither SO_REUSEPORT nor, for unicast, SO_REUSEADDR), closes it and
// returns the port it got: the kernel's own conflict rules decide whether
// another socket holds the address, and for port 0 it picks a port nobody
// holds. EADDRINUSE comes back as "batch: ADDR: address already in use"
// matching syscall.EADDRINUSE; other bind errors (an address not on this
// host, a privileged port) are returned as they are, since the group's
// own bind would fail the same way.
func probeUnused(addr netip.AddrPort) (uint16, error) {
	addr = netip.AddrPortFrom(addr.Addr().Unmap(), addr.Port())
	pc, err := net.ListenPacket(network(addr.Addr()), addr.String())
	if errors.Is(err, syscall.EADDRINUSE) {
		return 0, fmt.Errorf("batch: %v: %w", addr, syscall.EADDRINUSE)
	}
	if err != nil {
		return 0, err
	}
	port := uint16(pc.LocalAddr().(*net.UDPAddr).Port)
	return port, pc.Close()
}

// Listen is ListenGroup with n = 1: one socket, no steering, the same
// address-in-use refusal.
func Listen(addr netip.AddrPort, opts *Options) (Conn, error) {
	g, err := ListenGroup(addr, 1, opts)
	if err != nil {
		return nil, err
	}
	return g.conns[0], nil
}

// network picks the net package's network name for addr: "udp4" for IPv4,
// dual-stack "udp" for the IPv6 unspecified address, "udp6" otherwise.
func network(addr netip.Addr) string {
	switch {
	case addr.Is4() || addr.Is4In6():
		return "udp4"
	case addr.IsUnspecified():
		return "udp"
	default:
		return "udp6"
	}
}

// UnreachableError is returned by ReadBatch (with n = 0) when the network
// reported a datagram sent earlier undeliverable: an ICMP port, host or
// network unreachable for destination To (Linux: IP_RECVERR). Err is the
// errno (syscall.ECONNREFUSED for a closed port). ICMP is not
// authenticated: callers treat it as a hint. The next ReadBatch carries on.
type UnreachableError struct {
	To  netip.AddrPort
	Err error
}

func (e *UnreachableError) Error() string {
	return "batch: " + e.To.String() + " unreachable: " + e.Err.Error()
}

// Unwrap returns Err.
func (e *UnreachableError) Unwrap() error { return e.Err }
