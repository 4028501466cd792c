package ws

import (
	"bufio"
	"context"
	crand "crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"net/url"
	"sync"
	"sync/atomic"
	"time"
)

// DialConfig configures Dial. Every field has a documented default at its
// zero value (zero or negative means the default). Dial copies it.
type DialConfig struct {
	// LocalAddr is the UDP address of the node-facing socket, "host:port".
	// Default DefaultLocalAddr ("127.0.0.1:0": loopback, a free port).
	LocalAddr string
	// MaxMessage is the largest binary message payload sent or accepted,
	// in bytes. Default DefaultMaxMessage (2048); clamped to
	// [MinMaxMessage, MaxMaxMessage]. It must not exceed the server's.
	MaxMessage int
	// HandshakeTimeout bounds the TCP connect, the TLS handshake (wss) and
	// the HTTP upgrade, together with Dial's ctx. Default 5 s.
	HandshakeTimeout time.Duration
	// PingInterval: after this long without a frame from the server the
	// tunnel sends a ping, and after IdleFactor (3) times this long it
	// ends with ErrIdleTimeout. Default 15 s.
	PingInterval time.Duration
	// CloseTimeout bounds Close's wait for the server's close reply.
	// Default 1 s.
	CloseTimeout time.Duration
	// QueueLen is how many datagrams from the node may wait for the TCP
	// connection; more are dropped and counted. Default DefaultQueueLen
	// (256); clamped to [1, MaxQueueLen].
	QueueLen int
	// TLSConfig is used for wss:// URLs. Nil means a default config; an
	// empty ServerName is set from the URL's host. Ignored for ws://.
	TLSConfig *tls.Config
	// Logger receives rare events at Debug. Nil means silent. Drops are
	// counted in Stats, never logged.
	Logger *slog.Logger
}

func (c *DialConfig) populate() {
	if c.LocalAddr == "" {
		c.LocalAddr = DefaultLocalAddr
	}
	populateShared(&c.MaxMessage, &c.QueueLen, &c.HandshakeTimeout, &c.PingInterval, &c.CloseTimeout, &c.Logger)
}

// TunnelStats is a snapshot of a Tunnel's counters.
type TunnelStats struct {
	MessagesSent     uint64 // datagrams from the node sent to the server as messages
	BytesSent        uint64 // their payload bytes
	MessagesReceived uint64 // messages from the server delivered to the node as datagrams
	BytesReceived    uint64 // their payload bytes
	DropQueueFull    uint64 // datagrams from the node dropped: QueueLen already waiting for TCP
	DropForeign      uint64 // datagrams from an address other than the node's (the first sender)
	DropOversize     uint64 // datagrams from the node larger than MaxMessage
	DropNoPeer       uint64 // messages from the server before the node sent anything
	DropSendFailed   uint64 // messages the UDP socket refused to deliver to the node
}

type tunnelCounters struct {
	messagesSent, bytesSent, messagesReceived, bytesReceived atomic.Uint64
	dropQueueFull, dropForeign, dropOversize, dropNoPeer     atomic.Uint64
	dropSendFailed                                           atomic.Uint64
}

// Tunnel is the client half of the WebSocket fallback: a WebSocket
// connection to a Server plus a local UDP socket. The local STT node
// connects to Addr as if it were the remote node; each datagram it sends
// there goes to the server as one masked binary message, and each message
// from the server comes back as a datagram to the address the node first
// sent from (datagrams from any other address are dropped and counted).
//
// Goroutines, each named by role: relayFromNode (UDP → queue, masking),
// writeToServer (queue and control frames → TCP, batched with writev),
// relayFromServer (TCP → UDP, pings, close) and keepalive (pings, idle
// drop). All end on Close or when the connection fails; Done and Err
// report that. Methods are safe for concurrent use.
type Tunnel struct {
	cfg   DialConfig
	log   *slog.Logger
	tcp   net.Conn
	br    *bufio.Reader // reads from tcp; owned by relayFromServer after Dial
	udp   *net.UDPConn
	local netip.AddrPort
	peer  atomic.Pointer[netip.AddrPort] // the node's address, learned from its first datagram
	bufs  sync.Pool                      // *frameBuf, len clientFrameRoom+MaxMessage+1

	q            chan *frameBuf // relayFromNode → writeToServer
	ctrl         chan ctrlFrame // control frames → writeToServer
	closing      atomic.Bool    // a close frame was sent or is being sent
	closeWritten chan struct{}  // closed by writeToServer after writing a close frame
	peerClosed   chan struct{}  // closed by relayFromServer when the reply to our close arrives
	alive        atomic.Bool    // a frame arrived since keepalive last looked
	wbufs, wv    net.Buffers    // writeToServer's writev lists
	wbatch       []*frameBuf    // writeToServer's batch
	stats        tunnelCounters

	done    chan struct{} // closed by end
	endOnce sync.Once
	errMu   sync.Mutex
	err     error // why the tunnel ended; protected by errMu

	closeOnce sync.Once
	closeErr  error
	wg        sync.WaitGroup
}

// ctrlFrame is a control frame waiting for writeToServer.
type ctrlFrame struct {
	op opcode
	n  uint8
	p  [maxControlPayload]byte
}

// Dial connects to the WebSocket endpoint at rawURL ("ws://host:port/path"
// or "wss://…"), performs the upgrade with subprotocol "stt", opens the
// local UDP socket and starts relaying. ctx bounds the dial and handshake
// (together with HandshakeTimeout); cancelling it later has no effect.
//
// Errors: a URL or config error naming the field; *HandshakeError when the
// server refuses the upgrade or answers badly; ErrHandshakeTimeout when
// HandshakeTimeout expires; ctx's error when ctx ends first; network errors
// from the TCP connect, the TLS handshake or the UDP socket.
func Dial(ctx context.Context, rawURL string, cfg DialConfig) (*Tunnel, error) {
	cfg.populate()
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("ws: Dial: %w", err)
	}
	port := u.Port()
	switch u.Scheme {
	case "ws":
		if port == "" {
			port = "80"
		}
	case "wss":
		if port == "" {
			port = "443"
		}
	default:
		return nil, fmt.Errorf("ws: Dial: URL scheme must be ws or wss (got %q)", u.Scheme)
	}
	if u.Hostname() == "" {
		return nil, fmt.Errorf("ws: Dial: URL %q has no host", rawURL)
	}
	hostPort := net.JoinHostPort(u.Hostname(), port)
	laddr, err := net.ResolveUDPAddr("udp", cfg.LocalAddr)
	if err != nil {
		return nil, fmt.Errorf("ws: DialConfig.LocalAddr: %w", err)
	}

	hctx, cancel := context.WithTimeout(ctx, cfg.HandshakeTimeout)
	defer cancel()
	conn, br, err := handshake(hctx, u, hostPort, &cfg)
	if err != nil {
		if hctx.Err() != nil {
			if ctx.Err() != nil {
				err = ctx.Err()
			} else {
				err = ErrHandshakeTimeout
			}
		}
		return nil, fmt.Errorf("ws: dial %s: %w", rawURL, err)
	}
	udp, err := net.ListenUDP("udp", laddr)
	if err != nil {
		_ = conn.Close()
		return nil, fmt.Errorf("ws: DialConfig.LocalAddr: %w", err)
	}
	_ = udp.SetReadBuffer(udpSocketBuffer)
	_ = udp.SetWriteBuffer(udpSocketBuffer)

	t := &Tunnel{
		cfg:          cfg,
		log:          cfg.Logger,
		tcp:          conn,
		br:           br,
		udp:          udp,
		local:        unmap(udp.LocalAddr().(*net.UDPAddr).AddrPort()),
		q:            make(chan *frameBuf, cfg.QueueLen),
		ctrl:         make(chan ctrlFrame, 4),
		closeWritten: make(chan struct{}),
		peerClosed:   make(chan struct{}),
		wbufs:        make(net.Buffers, 0, writeBatch),
		wbatch:       make([]*frameBuf, 0, writeBatch),
		done:         make(chan struct{}),
	}
	size := clientFrameRoom + cfg.MaxMessage + 1 // +1 detects an oversized datagram
	t.bufs.New = func() any { return &frameBuf{b: make([]byte, size)} }
	t.wg.Add(4)
	go t.relayFromNode()
	go t.writeToServer()
	go t.relayFromServer()
	go t.keepalive()
	return t, nil
}

// unmap turns an IPv4-mapped IPv6 address into plain IPv4, so Addr prints
// as "127.0.0.1:port" whatever form the socket layer reported.
func unmap(ap netip.AddrPort) netip.AddrPort {
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}

// handshake connects and upgrades; every blocking step ends when ctx does.
func handshake(ctx context.Context, u *url.URL, hostPort string, cfg *DialConfig) (net.Conn, *bufio.Reader, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", hostPort)
	if err != nil {
		return nil, nil, err
	}
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	fail := func(err error) (net.Conn, *bufio.Reader, error) {
		stop()
		_ = conn.Close()
		return nil, nil, err
	}
	if u.Scheme == "wss" {
		tc := cfg.TLSConfig.Clone()
		if tc == nil {
			tc = &tls.Config{}
		}
		if tc.ServerName == "" {
			tc.ServerName = u.Hostname()
		}
		tconn := tls.Client(conn, tc)
		if err := tconn.HandshakeContext(ctx); err != nil {
			return fail(err)
		}
		conn = tconn
	}
	var raw [16]byte
	_, _ = crand.Read(raw[:]) // never fails (crypto/rand)
	key := base64.StdEncoding.EncodeToString(raw[:])
	target := u.RequestURI()
	if _, err := conn.Write(appendUpgradeRequest(nil, u.Host, target, key)); err != nil {
		return fail(err)
	}
	br := bufio.NewReaderSize(conn, 64<<10)
	head, err := readHead(br, maxRequestLen)
	if err != nil {
		if errors.Is(err, io.EOF) {
			err = &HandshakeError{Reason: "connection closed during the upgrade"}
		}
		return fail(err)
	}
	if err := checkUpgradeResponse(head, key); err != nil {
		return fail(err)
	}
	if !stop() { // ctx ended: the deadline is (being) set in the past
		return fail(ctx.Err())
	}
	if err := conn.SetDeadline(time.Time{}); err != nil {
		return fail(err)
	}
	return conn, br, nil
}

// Addr returns the local UDP address the STT node should connect to, as
// node.Connect(ctx, tunnel.Addr().String()).
func (t *Tunnel) Addr() netip.AddrPort { return t.local }

// Done returns a channel closed when the tunnel has ended (Close, a close
// from the server, an idle timeout or a network error).
func (t *Tunnel) Done() <-chan struct{} { return t.done }

// Err returns why the tunnel ended, or nil while it runs: ErrClosed after
// Close, a *CloseError when the server closed it, ErrIdleTimeout, a
// *ProtocolError when the server broke RFC 6455, or a network error.
func (t *Tunnel) Err() error {
	select {
	case <-t.done:
	default:
		return nil
	}
	t.errMu.Lock()
	defer t.errMu.Unlock()
	return t.err
}

// Stats returns a snapshot of the tunnel's counters.
func (t *Tunnel) Stats() TunnelStats {
	c := &t.stats
	return TunnelStats{
		MessagesSent:     c.messagesSent.Load(),
		BytesSent:        c.bytesSent.Load(),
		MessagesReceived: c.messagesReceived.Load(),
		BytesReceived:    c.bytesReceived.Load(),
		DropQueueFull:    c.dropQueueFull.Load(),
		DropForeign:      c.dropForeign.Load(),
		DropOversize:     c.dropOversize.Load(),
		DropNoPeer:       c.dropNoPeer.Load(),
		DropSendFailed:   c.dropSendFailed.Load(),
	}
}

// Close performs the WebSocket close handshake (close 1000, then wait up
// to CloseTimeout for the server's reply), then closes the TCP connection
// and the UDP socket; every goroutine of the tunnel has ended when it
// returns. It returns ErrCloseTimeout if the server did not reply in time
// and nil otherwise, including when the tunnel had already ended (see
// Err). Further calls return the first call's result.
func (t *Tunnel) Close() error {
	t.closeOnce.Do(func() {
		t.closeErr = t.closeHandshake()
		t.end(ErrClosed)
		t.wg.Wait()
	})
	return t.closeErr
}

func (t *Tunnel) closeHandshake() error {
	timer := time.NewTimer(t.cfg.CloseTimeout)
	defer timer.Stop()
	if !t.closing.CompareAndSwap(false, true) {
		// The server began closing (relayFromServer finishes it) or a
		// protocol error is being reported: wait for the end.
		select {
		case <-t.done:
			return nil
		case <-timer.C:
			return ErrCloseTimeout
		}
	}
	cf := ctrlFrame{op: opClose}
	pl, _ := appendClosePayload(cf.p[:0], CloseNormal, "")
	cf.n = uint8(len(pl))
	// → CLOSE(1000)
	select {
	case t.ctrl <- cf:
	case <-t.done:
		return nil
	case <-timer.C:
		return ErrCloseTimeout
	}
	// ← CLOSE reply
	select {
	case <-t.peerClosed:
		return nil
	case <-t.done:
		return nil
	case <-timer.C:
		return ErrCloseTimeout
	}
}

// end records why the tunnel ended and releases the sockets, which ends
// every goroutine.
func (t *Tunnel) end(err error) {
	t.endOnce.Do(func() {
		t.errMu.Lock()
		t.err = err
		t.errMu.Unlock()
		close(t.done)
		_ = t.tcp.Close()
		_ = t.udp.Close()
		if err != ErrClosed {
			t.log.Debug("ws: tunnel ended", "err", err)
		}
	})
}

// sendCtrl queues a control frame unless the queue is full (a ping or
// pong can be dropped: the next one will do).
func (t *Tunnel) sendCtrl(op opcode, payload []byte) {
	cf := ctrlFrame{op: op}
	cf.n = uint8(copy(cf.p[:], payload))
	select {
	case t.ctrl <- cf:
	default:
	}
}

// failProtocol ends the tunnel for a server that broke the protocol,
// telling it why in a close frame first (RFC 6455 §7.1.7).
func (t *Tunnel) failProtocol(err error) {
	var pe *ProtocolError
	if errors.As(err, &pe) && t.closing.CompareAndSwap(false, true) {
		cf := ctrlFrame{op: opClose}
		pl, perr := appendClosePayload(cf.p[:0], pe.Code, pe.Reason)
		if perr != nil {
			pl, _ = appendClosePayload(cf.p[:0], pe.Code, "")
		}
		cf.n = uint8(len(pl))
		timer := time.NewTimer(t.cfg.CloseTimeout)
		select {
		case t.ctrl <- cf:
			select {
			case <-t.closeWritten:
			case <-t.done:
			case <-timer.C:
			}
		case <-t.done:
		case <-timer.C:
		}
		timer.Stop()
	}
	t.end(err)
}

// relayFromNode reads the node's datagrams into frame buffers, writes a
// masked binary frame header into their headroom, masks the payload in
// place and queues them for writeToServer, dropping when the queue is full.
func (t *Tunnel) relayFromNode() {
	defer t.wg.Done()
	var seed [32]byte
	_, _ = crand.Read(seed[:])
	keys := rand.NewChaCha8(seed) // masking keys must be unpredictable (RFC 6455 §5.3)
	for {
		fb := t.bufs.Get().(*frameBuf)
		n, from, err := t.udp.ReadFromUDPAddrPort(fb.b[clientFrameRoom:])
		if err != nil {
			t.bufs.Put(fb)
			if !errors.Is(err, net.ErrClosed) {
				t.end(fmt.Errorf("ws: UDP read: %w", err))
			}
			return
		}
		if p := t.peer.Load(); p == nil {
			node := from // a copy: taking from's address would move it to the heap on every read
			t.peer.Store(&node)
		} else if *p != from {
			t.stats.dropForeign.Add(1)
			t.bufs.Put(fb)
			continue
		}
		if n > t.cfg.MaxMessage {
			t.stats.dropOversize.Add(1)
			t.bufs.Put(fb)
			continue
		}
		start := clientFrameRoom - 6
		if n > 125 {
			start = clientFrameRoom - 8
			fb.b[start+1] = 0x80 | 126
			binary.BigEndian.PutUint16(fb.b[start+2:], uint16(n))
		} else {
			fb.b[start+1] = 0x80 | byte(n)
		}
		fb.b[start] = 0x80 | byte(opBinary)
		var key [4]byte
		binary.LittleEndian.PutUint32(key[:], uint32(keys.Uint64()))
		copy(fb.b[clientFrameRoom-4:], key[:])
		applyMask(key, fb.b[clientFrameRoom:clientFrameRoom+n])
		fb.start, fb.end = start, clientFrameRoom+n
		select {
		case t.q <- fb:
		default:
			t.stats.dropQueueFull.Add(1)
			t.bufs.Put(fb)
		}
	}
}

// writeToServer is the only writer of the TCP connection: control frames
// first, then up to writeBatch queued data frames per writev. It stops
// after writing a close frame (RFC 6455 §5.5.1: no data after close).
func (t *Tunnel) writeToServer() {
	defer t.wg.Done()
	var seed [32]byte
	_, _ = crand.Read(seed[:])
	keys := rand.NewChaCha8(seed)
	var cbuf [maxHeaderLen + maxControlPayload]byte
	for {
		select {
		case cf := <-t.ctrl:
			if !t.writeCtrl(&cf, keys, cbuf[:0]) {
				return
			}
			continue
		default:
		}
		select {
		case <-t.done:
			return
		case cf := <-t.ctrl:
			if !t.writeCtrl(&cf, keys, cbuf[:0]) {
				return
			}
		case fb := <-t.q:
			if !t.writeBatch(fb) {
				return
			}
		}
	}
}

// writeCtrl writes one control frame and reports whether writing goes on.
func (t *Tunnel) writeCtrl(cf *ctrlFrame, keys *rand.ChaCha8, buf []byte) bool {
	h := frameHeader{Fin: true, Opcode: cf.op, Masked: true}
	binary.LittleEndian.PutUint32(h.Mask[:], uint32(keys.Uint64()))
	b, err := appendFrame(buf, h, cf.p[:cf.n])
	if err != nil {
		t.end(fmt.Errorf("ws: BUG: control frame: %w", err))
		return false
	}
	if _, err := t.tcp.Write(b); err != nil {
		t.end(fmt.Errorf("ws: write: %w", err))
		return false
	}
	if cf.op == opClose {
		close(t.closeWritten)
		return false
	}
	return true
}

// writeBatch writes fb and whatever else is queued (up to writeBatch
// frames) with one writev, and reports whether writing goes on.
func (t *Tunnel) writeBatch(fb *frameBuf) bool {
	batch := append(t.wbatch[:0], fb)
gather:
	for len(batch) < writeBatch {
		select {
		case fb := <-t.q:
			batch = append(batch, fb)
		default:
			break gather
		}
	}
	var bytes uint64
	bufs := t.wbufs[:0]
	for _, fb := range batch {
		bufs = append(bufs, fb.b[fb.start:fb.end])
		bytes += uint64(fb.end - clientFrameRoom)
	}
	t.wv = bufs
	_, err := t.wv.WriteTo(t.tcp)
	for i, fb := range batch {
		t.bufs.Put(fb)
		batch[i] = nil
	}
	clear(bufs)
	t.wbufs, t.wbatch, t.wv = bufs[:0], batch[:0], nil
	if err != nil {
		t.end(fmt.Errorf("ws: write: %w", err))
		return false
	}
	t.stats.messagesSent.Add(uint64(len(batch)))
	t.stats.bytesSent.Add(bytes)
	return true
}

// relayFromServer reads frames from the server: messages go to the node
// as datagrams, pings are answered, and a close frame either completes
// our close or starts the server's.
func (t *Tunnel) relayFromServer() {
	defer t.wg.Done()
	buf := make([]byte, t.cfg.MaxMessage)
	asm := assembler{max: t.cfg.MaxMessage}
	for {
		h, p, err := t.readFrame(buf)
		if err != nil {
			var pe *ProtocolError
			if errors.As(err, &pe) {
				t.failProtocol(err)
			} else {
				t.end(fmt.Errorf("ws: read: %w", err))
			}
			return
		}
		t.alive.Store(true)
		switch h.Opcode {
		case opBinary, opContinuation:
			msg, ok, err := asm.add(&h, p)
			if err != nil {
				t.failProtocol(err)
				return
			}
			if ok {
				t.toNode(msg)
			}
		case opPing:
			t.sendCtrl(opPong, p) // RFC 6455 §5.5.3: same payload
		case opPong:
		case opClose:
			code, reason, err := parseClose(p)
			if err != nil {
				t.failProtocol(err)
				return
			}
			t.onClose(code, string(reason))
			return
		}
	}
}

// onClose handles the server's close frame: the reply to ours, or the
// server closing, which we echo and then wait (bounded) for it to close
// TCP (RFC 6455 §7.1.1).
func (t *Tunnel) onClose(code CloseCode, reason string) {
	cerr := &CloseError{Code: code, Reason: reason, Remote: true}
	if !t.closing.CompareAndSwap(false, true) {
		close(t.peerClosed) // ← CLOSE reply; Close finishes
		return
	}
	cf := ctrlFrame{op: opClose}
	if code != closeNoStatus {
		binary.BigEndian.PutUint16(cf.p[:], uint16(code))
		cf.n = 2
	}
	timer := time.NewTimer(t.cfg.CloseTimeout)
	defer timer.Stop()
	select {
	case t.ctrl <- cf:
	case <-t.done:
		return
	case <-timer.C:
		t.end(cerr)
		return
	}
	_ = t.tcp.SetReadDeadline(time.Now().Add(t.cfg.CloseTimeout))
	_, _ = io.Copy(io.Discard, t.br) // until EOF (the server closed) or the deadline
	t.end(cerr)
}

// readFrame reads one frame into buf (len ≥ MaxMessage ≥ 125) and returns
// its header and payload (borrowed from buf until the next call).
func (t *Tunnel) readFrame(buf []byte) (frameHeader, []byte, error) {
	b, err := t.br.Peek(2)
	if err != nil {
		return frameHeader{}, nil, err
	}
	if b, err = t.br.Peek(headerLen(b[0], b[1])); err != nil {
		return frameHeader{}, nil, err
	}
	h, n, err := parseHeader(b, roleClient, t.cfg.MaxMessage)
	if err != nil {
		return frameHeader{}, nil, err
	}
	_, _ = t.br.Discard(n)
	p := buf[:h.Length]
	if _, err := io.ReadFull(t.br, p); err != nil {
		return frameHeader{}, nil, err
	}
	return h, p, nil
}

// toNode delivers one message to the node as a datagram.
func (t *Tunnel) toNode(msg []byte) {
	p := t.peer.Load()
	if p == nil {
		t.stats.dropNoPeer.Add(1)
		return
	}
	if _, err := t.udp.WriteToUDPAddrPort(msg, *p); err != nil {
		t.stats.dropSendFailed.Add(1)
		return
	}
	t.stats.messagesReceived.Add(1)
	t.stats.bytesReceived.Add(uint64(len(msg)))
}

// keepalive pings a silent server and ends a tunnel silent for
// IdleFactor × PingInterval.
func (t *Tunnel) keepalive() {
	defer t.wg.Done()
	ping := t.cfg.PingInterval
	tk := time.NewTicker(max(ping/4, minTick))
	defer tk.Stop()
	last := time.Now()
	lastPing := last
	for {
		select {
		case <-t.done:
			return
		case now := <-tk.C:
			if t.alive.Swap(false) {
				last = now
			}
			idle := now.Sub(last)
			switch {
			case idle >= IdleFactor*ping:
				t.end(ErrIdleTimeout)
				return
			case idle >= ping && now.Sub(lastPing) >= ping:
				lastPing = now
				t.sendCtrl(opPing, nil)
			}
		}
	}
}
