package ws

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/panjf2000/gnet/v2"
)

// ServerConfig configures a Server. Only Target is required; every other
// field has a documented default at its zero value (zero or negative means
// the default). NewServer copies the ServerConfig.
type ServerConfig struct {
	// Addr is the TCP address to listen on, "host:port". Default ":0"
	// (every interface, a free port; see Server.Addr).
	Addr string
	// Target is the UDP address of the STT node the relay feeds. Required.
	// Each WebSocket connection gets its own UDP socket connected to it,
	// so the node sees one distinct peer address per client, as behind a
	// NAT.
	Target netip.AddrPort
	// Path is the HTTP path of the WebSocket endpoint; requests for other
	// paths get 404. Default DefaultPath ("/stt"); must start with "/".
	Path string
	// MaxMessage is the largest binary message payload accepted or sent,
	// in bytes. Default DefaultMaxMessage (2048); clamped to
	// [MinMaxMessage, MaxMaxMessage]. A frame announcing more closes the
	// connection with 1009 before its payload is read; a datagram from
	// Target above it is dropped and counted.
	MaxMessage int
	// MaxConns bounds concurrent TCP connections (in the handshake or
	// open); one more is answered 503 and closed. Default DefaultMaxConns.
	MaxConns int
	// HandshakeTimeout is how long a new TCP connection has to complete
	// the HTTP upgrade before it is closed. Default 5 s.
	HandshakeTimeout time.Duration
	// PingInterval: a connection silent this long is sent a ping, and one
	// silent IdleFactor (3) times this long is dropped. Default 15 s.
	PingInterval time.Duration
	// CloseTimeout is how long the server waits for a client's close reply
	// after sending a close frame. Default 1 s.
	CloseTimeout time.Duration
	// QueueLen is how many datagrams from Target may wait per connection
	// for the event loop; more are dropped and counted. Default
	// DefaultQueueLen (256); clamped to [1, MaxQueueLen].
	QueueLen int
	// MaxBuffered is how many bytes a connection may hold unsent on its
	// TCP side before datagrams for it are dropped and counted. Default
	// DefaultMaxBuffered (256 KiB); values below MaxMessage+4 are raised.
	MaxBuffered int
	// Loops is the number of gnet event loops. Default GOMAXPROCS,
	// clamped to [1, 64].
	Loops int
	// Logger receives rare events at Debug (refused handshakes, protocol
	// errors, closes) and gnet's own messages. Nil means silent. Drops are
	// counted in Stats, never logged.
	Logger *slog.Logger
}

func (c *ServerConfig) populate() error {
	if !c.Target.IsValid() || c.Target.Port() == 0 {
		return errors.New("ws: ServerConfig.Target must be a UDP address with a port")
	}
	if c.Addr == "" {
		c.Addr = ":0"
	}
	if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		return fmt.Errorf("ws: ServerConfig.Addr: %w", err)
	}
	if c.Path == "" {
		c.Path = DefaultPath
	}
	if !strings.HasPrefix(c.Path, "/") || strings.ContainsAny(c.Path, "? \t\r\n") {
		return fmt.Errorf("ws: ServerConfig.Path must start with / and hold no query or spaces (got %q)", c.Path)
	}
	populateShared(&c.MaxMessage, &c.QueueLen, &c.HandshakeTimeout, &c.PingInterval, &c.CloseTimeout, &c.Logger)
	if c.MaxConns <= 0 {
		c.MaxConns = DefaultMaxConns
	}
	if c.MaxBuffered <= 0 {
		c.MaxBuffered = DefaultMaxBuffered
	}
	c.MaxBuffered = max(c.MaxBuffered, c.MaxMessage+serverFrameRoom)
	if c.Loops <= 0 {
		c.Loops = runtime.GOMAXPROCS(0)
	}
	c.Loops = min(max(c.Loops, 1), 64)
	return nil
}

// ServerStats is a snapshot of a Server's counters since Start.
type ServerStats struct {
	Active            int    // TCP connections open now, in the handshake or upgraded
	Upgrades          uint64 // WebSocket upgrades completed
	Refused           uint64 // upgrade requests answered with an HTTP error (400, 404, 426, 431, 502, 503)
	OverLimit         uint64 // connections answered 503 because MaxConns were open (also in Refused)
	HandshakeTimeouts uint64 // connections closed for not completing the upgrade in time
	IdleTimeouts      uint64 // connections dropped after IdleFactor × PingInterval of silence
	ProtocolErrors    uint64 // connections failed for a frame breaking RFC 6455 or the limits
	MessagesIn        uint64 // binary messages relayed to Target as datagrams
	BytesIn           uint64 // their payload bytes
	MessagesOut       uint64 // datagrams from Target relayed as binary messages
	BytesOut          uint64 // their payload bytes
	DropQueueFull     uint64 // datagrams from Target dropped: QueueLen already waiting
	DropBackpressure  uint64 // datagrams from Target dropped: MaxBuffered bytes unsent on TCP
	DropOversize      uint64 // datagrams from Target larger than MaxMessage
	DropSendFailed    uint64 // messages whose datagram the UDP socket refused (buffer full, Target unreachable)
	TargetUnreachable uint64 // ICMP errors (connection refused) reported by per-connection UDP sockets
}

// serverCounters are the atomics behind ServerStats.
type serverCounters struct {
	upgrades, refused, overLimit, handshakeTimeouts, idleTimeouts, protocolErrors atomic.Uint64
	messagesIn, bytesIn, messagesOut, bytesOut                                    atomic.Uint64
	dropQueueFull, dropBackpressure, dropOversize, dropSendFailed, unreachable    atomic.Uint64
}

// Server is the server half of the WebSocket fallback: a gnet event loop
// that accepts WebSocket connections (RFC 6455, subprotocol "stt") on TCP
// and relays each one's binary messages, one per datagram, to and from the
// STT node at ServerConfig.Target through a UDP socket of its own.
//
// Pipeline, per connection:
//  1. event loop, OnTraffic: HTTP upgrade, then frames parsed in place in
//     gnet's inbound buffer (bounded: a frame announcing more than
//     MaxMessage closes the connection) → unmask → one datagram per message,
//     sent without blocking the loop.
//  2. reader goroutine: datagram from Target → frame header written into
//     the buffer's headroom → bounded queue (QueueLen) → one loop task.
//  3. event loop, drain task: queued frames → one writev, dropping what
//     would push the unsent TCP backlog over MaxBuffered.
//  4. ticker → per-loop sweep task: handshake deadlines, pings, idle drops,
//     close-reply deadlines.
//
// Connection state is owned by its event loop; only the queue in step 2 is
// shared, under a mutex. Methods are safe for concurrent use.
type Server struct {
	cfg    ServerConfig
	log    *slog.Logger
	target *net.UDPAddr
	tick   time.Duration
	bufs   sync.Pool // *frameBuf, len serverFrameRoom+MaxMessage+1

	started   chan struct{} // closed at the first tick: the loops run
	startOnce sync.Once
	draining  atomic.Bool
	active    atomic.Int64 // OnOpen minus OnClose
	stats     serverCounters

	// life protects the lifecycle fields.
	life struct {
		mu      sync.Mutex
		state   int            // lifeNew, lifeRunning, lifeClosed
		runDone chan struct{}  // closed when gnet.Run returns
		eng     gnet.Engine    // set in OnBoot, before started/runDone
		addr    netip.AddrPort // listener address, set in OnBoot
		bootErr error
		runErr  error
	}

	// loops protects the list of per-loop connection sets (the sets
	// themselves are owned by their loops).
	loops struct {
		mu   sync.Mutex
		list []*loopConns
	}
	tickLoops []*loopConns // scratch, owned by gnet's ticker goroutine
}

const (
	lifeNew = iota
	lifeRunning
	lifeClosed
)

// NewServer checks cfg, fills defaults and returns a Server ready to
// Start. The error names the offending ServerConfig field.
func NewServer(cfg ServerConfig) (*Server, error) {
	if err := cfg.populate(); err != nil {
		return nil, err
	}
	s := &Server{
		cfg:     cfg,
		log:     cfg.Logger,
		target:  net.UDPAddrFromAddrPort(cfg.Target),
		tick:    min(max(min(cfg.HandshakeTimeout, cfg.PingInterval, cfg.CloseTimeout)/8, minTick), maxTick),
		started: make(chan struct{}),
	}
	size := serverFrameRoom + cfg.MaxMessage + 1 // +1 detects an oversized datagram
	s.bufs.New = func() any { return &frameBuf{b: make([]byte, size)} }
	return s, nil
}

// frameBuf is one server→client frame: b[start:end] is the header
// followed by the datagram read at b[serverFrameRoom:].
type frameBuf struct {
	b          []byte
	start, end int
}

// Start listens on ServerConfig.Addr and runs the event loops. ctx bounds
// the start-up only; stop the server with Close or Shutdown. It fails if
// the address cannot be bound or the Server was started or closed before.
func (s *Server) Start(ctx context.Context) error {
	s.life.mu.Lock()
	if state := s.life.state; state != lifeNew {
		s.life.mu.Unlock()
		if state == lifeClosed {
			return ErrClosed
		}
		return errors.New("ws: Server already started")
	}
	s.life.state = lifeRunning
	done := make(chan struct{})
	s.life.runDone = done
	s.life.mu.Unlock()

	h := &handler{s: s}
	go func() {
		err := gnet.Run(h, "tcp://"+s.cfg.Addr,
			gnet.WithNumEventLoop(s.cfg.Loops),
			gnet.WithTicker(true),
			gnet.WithReuseAddr(true),
			gnet.WithTCPNoDelay(gnet.TCPNoDelay),
			gnet.WithLogger(gnetLogger{s.log}))
		s.life.mu.Lock()
		s.life.runErr = err
		s.life.mu.Unlock()
		close(done)
	}()
	var err error
	select {
	case <-s.started:
	case <-done:
	case <-ctx.Done():
		err = ctx.Err()
	}
	s.waitBoot()
	if err == nil {
		select {
		case <-s.started:
			return nil
		default:
		}
		s.life.mu.Lock()
		err = errors.Join(s.life.bootErr, s.life.runErr)
		s.life.mu.Unlock()
		if err == nil {
			err = errors.New("ws: gnet engine stopped during start-up")
		}
		err = fmt.Errorf("ws: listen on %s: %w", s.cfg.Addr, err)
	}
	_ = s.Close()
	return err
}

// waitBoot returns once the engine runs or gnet.Run has returned.
func (s *Server) waitBoot() {
	s.life.mu.Lock()
	done := s.life.runDone
	s.life.mu.Unlock()
	if done == nil {
		return
	}
	select {
	case <-s.started:
	case <-done:
	}
}

// Addr returns the TCP address the server listens on; the zero AddrPort
// before Start.
func (s *Server) Addr() netip.AddrPort {
	s.life.mu.Lock()
	defer s.life.mu.Unlock()
	return s.life.addr
}

// Close stops the server at once: the event loops stop, every TCP
// connection is closed (its already-buffered output flushed, without a
// close handshake), every UDP socket is closed and every goroutine the
// server started has ended when Close returns — also for concurrent and
// later calls, which return nil.
func (s *Server) Close() error {
	s.waitBoot()
	s.life.mu.Lock()
	prev := s.life.state
	s.life.state = lifeClosed
	eng, done := s.life.eng, s.life.runDone
	s.life.mu.Unlock()
	switch prev {
	case lifeNew:
		return nil
	case lifeClosed: // another Close is stopping the engine, or did
		if done != nil {
			<-done
		}
		return nil
	}
	// Engine.Stop polls for the engine's end every 500 ms; wait for
	// gnet.Run to return instead and then release Stop.
	stopCtx, cancel := context.WithCancel(context.Background())
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		_ = eng.Stop(stopCtx)
	}()
	<-done
	cancel()
	<-stopped
	return nil
}

// Shutdown stops the server gracefully: it refuses new connections with
// 503, sends every open connection a close frame (1001 going away), waits
// until all have closed or ctx is done, and then does what Close does. It
// returns ctx's error if connections were still open at the deadline.
func (s *Server) Shutdown(ctx context.Context) error {
	s.waitBoot()
	s.life.mu.Lock()
	running, done := s.life.state == lifeRunning, s.life.runDone
	s.life.mu.Unlock()
	if !running {
		return s.Close()
	}
	// The sweep at the next tick (≤ maxTick) sends the close frames; it
	// runs inside the engine, so nothing here races the loops' end.
	s.draining.Store(true)
	t := time.NewTicker(minTick)
	defer t.Stop()
	var err error
wait:
	for s.active.Load() > 0 {
		select {
		case <-ctx.Done():
			err = ctx.Err()
			break wait
		case <-done:
			break wait
		case <-t.C:
		}
	}
	return errors.Join(err, s.Close())
}

// Stats returns a snapshot of the server's counters.
func (s *Server) Stats() ServerStats {
	c := &s.stats
	return ServerStats{
		Active:            int(s.active.Load()),
		Upgrades:          c.upgrades.Load(),
		Refused:           c.refused.Load(),
		OverLimit:         c.overLimit.Load(),
		HandshakeTimeouts: c.handshakeTimeouts.Load(),
		IdleTimeouts:      c.idleTimeouts.Load(),
		ProtocolErrors:    c.protocolErrors.Load(),
		MessagesIn:        c.messagesIn.Load(),
		BytesIn:           c.bytesIn.Load(),
		MessagesOut:       c.messagesOut.Load(),
		BytesOut:          c.bytesOut.Load(),
		DropQueueFull:     c.dropQueueFull.Load(),
		DropBackpressure:  c.dropBackpressure.Load(),
		DropOversize:      c.dropOversize.Load(),
		DropSendFailed:    c.dropSendFailed.Load(),
		TargetUnreachable: c.unreachable.Load(),
	}
}

func (s *Server) getBuf() *frameBuf   { return s.bufs.Get().(*frameBuf) }
func (s *Server) putBuf(fb *frameBuf) { s.bufs.Put(fb) }

// loopFor returns the connection set of event loop el, creating it.
func (s *Server) loopFor(el gnet.EventLoop) *loopConns {
	s.loops.mu.Lock()
	defer s.loops.mu.Unlock()
	for _, l := range s.loops.list {
		if l.el == el {
			return l
		}
	}
	l := &loopConns{srv: s, el: el, conns: make(map[*conn]struct{})}
	s.loops.list = append(s.loops.list, l)
	return l
}

// handler is the server's gnet.EventHandler, kept off Server's method set.
type handler struct {
	gnet.BuiltinEventEngine
	s *Server
}

// OnBoot records the engine and the listener's address.
func (h *handler) OnBoot(eng gnet.Engine) gnet.Action {
	s := h.s
	addr, err := listenerAddr(eng)
	s.life.mu.Lock()
	defer s.life.mu.Unlock()
	s.life.eng = eng
	if err != nil {
		s.life.bootErr = err
		return gnet.Shutdown
	}
	s.life.addr = addr
	return gnet.None
}

// listenerAddr reads the bound address from a duplicate of the listening
// socket (gnet exposes no address of its own for ":0").
func listenerAddr(eng gnet.Engine) (netip.AddrPort, error) {
	fd, err := eng.Dup()
	if err != nil {
		return netip.AddrPort{}, err
	}
	f := os.NewFile(uintptr(fd), "ws-listener")
	defer f.Close()
	ln, err := net.FileListener(f)
	if err != nil {
		return netip.AddrPort{}, err
	}
	defer ln.Close()
	ta, ok := ln.Addr().(*net.TCPAddr)
	if !ok {
		return netip.AddrPort{}, fmt.Errorf("ws: listener address %v is not TCP", ln.Addr())
	}
	return unmap(ta.AddrPort()), nil
}

// OnTick runs on gnet's ticker goroutine, concurrently with the loops: it
// only schedules each loop's sweep onto that loop.
func (h *handler) OnTick() (time.Duration, gnet.Action) {
	s := h.s
	s.startOnce.Do(func() { close(s.started) })
	s.loops.mu.Lock()
	s.tickLoops = append(s.tickLoops[:0], s.loops.list...)
	s.loops.mu.Unlock()
	for _, l := range s.tickLoops {
		if l.pending.CompareAndSwap(false, true) {
			if err := l.el.Execute(context.Background(), l); err != nil {
				l.pending.Store(false)
			}
		}
	}
	clear(s.tickLoops)
	return s.tick, gnet.None
}

// OnOpen admits a TCP connection into the handshake, or answers 503 when
// MaxConns are open.
func (h *handler) OnOpen(c gnet.Conn) ([]byte, gnet.Action) {
	s := h.s
	if s.active.Add(1) > int64(s.cfg.MaxConns) || s.draining.Load() {
		s.stats.refused.Add(1)
		if !s.draining.Load() {
			s.stats.overLimit.Add(1)
		}
		return appendErrorResponse(nil, 503, "too many connections"), gnet.Close
	}
	now := time.Now()
	w := &conn{srv: s, gc: c, state: stateHandshake, opened: now, lastRecv: now}
	w.asm.max = s.cfg.MaxMessage
	w.loop = s.loopFor(c.EventLoop())
	w.loop.conns[w] = struct{}{}
	c.SetContext(w)
	return nil, gnet.None
}

// OnClose releases a connection: its UDP socket closes and its reader
// goroutine has ended when OnClose returns, so no task for this
// connection is queued on a loop after it.
func (h *handler) OnClose(c gnet.Conn, err error) gnet.Action {
	s := h.s
	s.active.Add(-1)
	w, _ := c.Context().(*conn)
	if w == nil {
		return gnet.None
	}
	c.SetContext(nil)
	w.state = stateClosed
	delete(w.loop.conns, w)
	if w.udp != nil {
		_ = w.udp.Close()
		<-w.readerDone
	}
	if err != nil && !errors.Is(err, io.EOF) {
		s.log.Debug("ws: connection closed", "remote", w.remote, "err", err)
	}
	return gnet.None
}

// OnTraffic handles the bytes gnet read: the upgrade request first, then
// every complete frame. A partial frame stays in gnet's inbound buffer;
// since its header was checked against MaxMessage, that buffer never
// holds more than one frame plus one read.
func (h *handler) OnTraffic(c gnet.Conn) gnet.Action {
	w, _ := c.Context().(*conn)
	if w == nil { // refused in OnOpen; gnet closes it
		_, _ = c.Discard(-1)
		return gnet.Close
	}
	s := h.s
	now := time.Now()
	if w.state == stateHandshake {
		if act, upgraded := w.upgrade(now); !upgraded {
			return act
		}
	}
	received := false
	for {
		avail := c.InboundBuffered()
		if avail < 2 {
			break
		}
		hb, _ := c.Peek(min(avail, maxHeaderLen))
		hd, hn, err := parseHeader(hb, roleServer, s.cfg.MaxMessage)
		if err == io.ErrUnexpectedEOF {
			break
		}
		if err != nil {
			return w.fail(err)
		}
		total := hn + hd.Length
		if avail < total {
			break
		}
		fr, _ := c.Peek(total)
		p := fr[hn:total]
		applyMask(hd.Mask, p)
		received = true
		act := w.onFrame(&hd, p)
		if w.state == stateClosed { // a failed write closed it inside onFrame
			return gnet.None
		}
		if act != gnet.None {
			return act
		}
		_, _ = c.Discard(total)
	}
	if received {
		w.lastRecv = now
	}
	return gnet.None
}

// connState is a server connection's protocol state.
type connState uint8

const (
	stateHandshake connState = iota // waiting for the upgrade request
	stateOpen                       // upgraded, relaying
	stateClosing                    // we sent a close frame; waiting for the reply
	stateClosed                     // OnClose ran
)

// conn is one server-side WebSocket connection and its UDP socket towards
// the target. Fields without a comment are owned by the connection's
// event loop.
type conn struct {
	srv    *Server
	gc     gnet.Conn
	loop   *loopConns
	remote string // for logs

	state                                 connState
	opened, lastRecv, lastPing, closeSent time.Time
	asm                                   assembler
	iov                                   [][]byte
	batch                                 []*frameBuf // the queue's spare slice, swapped in by drain

	udp        *net.UDPConn // set at the upgrade; closed in OnClose
	send       udpSender
	readerDone chan struct{} // closed when relayFromTarget returns

	// out is the queue from the reader goroutine to the loop.
	out struct {
		mu        sync.Mutex
		q         []*frameBuf // protected by mu
		scheduled bool        // a drain task is queued on the loop; protected by mu
	}
}

// upgrade answers the HTTP upgrade request once it is complete (RFC 6455
// §4.2): 101 and a UDP socket towards the target, or an HTTP error and
// close. It reports whether the connection was upgraded.
func (w *conn) upgrade(now time.Time) (gnet.Action, bool) {
	s, c := w.srv, w.gc
	avail := c.InboundBuffered()
	b, _ := c.Peek(min(avail, maxRequestLen))
	end := headerEnd(b)
	if end < 0 {
		if avail >= maxRequestLen {
			return w.refuse(431, "request head too large"), false
		}
		return gnet.None, false
	}
	head := string(b[:end])
	_, _ = c.Discard(end)
	if s.draining.Load() {
		return w.refuse(503, "server shutting down"), false
	}
	key, rf := checkUpgrade(head, s.cfg.Path)
	if rf != nil {
		return w.refuse(rf.status, rf.reason), false
	}
	udp, err := net.DialUDP("udp", nil, s.target)
	if err == nil {
		err = w.send.init(udp)
		if err != nil {
			_ = udp.Close()
		}
	}
	if err != nil {
		s.log.Debug("ws: cannot open UDP socket to target", "target", s.cfg.Target, "err", err)
		return w.refuse(502, "cannot reach the STT node"), false
	}
	_ = udp.SetReadBuffer(udpSocketBuffer)
	_ = udp.SetWriteBuffer(udpSocketBuffer)
	if _, err := c.Write(appendUpgradeResponse(w.loop.scratch[:0], key)); err != nil || w.state == stateClosed {
		_ = udp.Close() // the write failed and gnet closed the connection
		return gnet.None, false
	}
	w.udp = udp
	w.state = stateOpen
	w.remote = c.RemoteAddr().String()
	w.lastRecv, w.lastPing = now, now
	w.readerDone = make(chan struct{})
	go w.relayFromTarget()
	s.stats.upgrades.Add(1)
	return gnet.None, true
}

// refuse answers an upgrade request with an HTTP error and closes.
func (w *conn) refuse(status int, reason string) gnet.Action {
	w.srv.stats.refused.Add(1)
	w.srv.log.Debug("ws: upgrade refused", "remote", w.gc.RemoteAddr(), "status", status, "reason", reason)
	_, _ = w.gc.Write(appendErrorResponse(w.loop.scratch[:0], status, reason))
	return gnet.Close
}

// onFrame handles one frame with its unmasked payload, borrowed from
// gnet's inbound buffer for the call.
func (w *conn) onFrame(h *frameHeader, p []byte) gnet.Action {
	switch h.Opcode {
	case opBinary, opContinuation:
		msg, ok, err := w.asm.add(h, p)
		if err != nil {
			return w.fail(err)
		}
		if ok && w.state == stateOpen {
			w.toTarget(msg)
		}
	case opPing:
		if w.state == stateOpen {
			w.writeControl(opPong, p) // RFC 6455 §5.5.3: same payload
		}
	case opPong:
	case opClose:
		code, reason, err := parseClose(p)
		if err != nil {
			return w.fail(err)
		}
		if w.state == stateOpen { // the client began the close: echo its code (RFC 6455 §5.5.1)
			var pl [2]byte
			n := 0
			if code != closeNoStatus {
				binary.BigEndian.PutUint16(pl[:], uint16(code))
				n = 2
			}
			w.writeControl(opClose, pl[:n])
		}
		w.srv.log.Debug("ws: closed by client", "remote", w.remote, "code", code, "reason", string(reason))
		return gnet.Close // the server closes TCP first (RFC 6455 §7.1.1)
	}
	return gnet.None
}

// toTarget sends one message to the target as a datagram, without
// blocking the loop.
func (w *conn) toTarget(msg []byte) {
	c := &w.srv.stats
	if err := w.send.send(msg); err != nil {
		c.dropSendFailed.Add(1)
		return
	}
	c.messagesIn.Add(1)
	c.bytesIn.Add(uint64(len(msg)))
}

// writeControl writes a control frame (server frames are unmasked).
func (w *conn) writeControl(op opcode, payload []byte) {
	b, err := appendFrame(w.loop.scratch[:0], frameHeader{Fin: true, Opcode: op}, payload)
	if err != nil {
		w.srv.log.Error("ws: BUG: control frame", "err", err)
		return
	}
	_, _ = w.gc.Write(b)
}

// sendClose starts the close handshake from our side.
func (w *conn) sendClose(code CloseCode, reason string, now time.Time) {
	pl, err := appendClosePayload(w.loop.closeScratch[:0], code, reason)
	if err != nil {
		pl, _ = appendClosePayload(w.loop.closeScratch[:0], code, "")
	}
	w.state = stateClosing
	w.closeSent = now
	w.writeControl(opClose, pl)
}

// fail closes the connection for a protocol error, telling the client why
// in a close frame (RFC 6455 §7.1.7).
func (w *conn) fail(err error) gnet.Action {
	s := w.srv
	s.stats.protocolErrors.Add(1)
	s.log.Debug("ws: protocol error", "remote", w.remote, "err", err)
	var pe *ProtocolError
	if w.state == stateOpen && errors.As(err, &pe) {
		w.sendClose(pe.Code, pe.Reason, time.Now())
	}
	return gnet.Close
}

// relayFromTarget is the connection's reader goroutine: each datagram from
// the target becomes one binary frame, built in place behind the headroom,
// and goes to the loop through the bounded queue.
func (w *conn) relayFromTarget() {
	defer close(w.readerDone)
	s := w.srv
	for {
		fb := s.getBuf()
		n, err := w.udp.Read(fb.b[serverFrameRoom:])
		if err != nil {
			s.putBuf(fb)
			if errors.Is(err, net.ErrClosed) {
				return
			}
			if errors.Is(err, syscall.ECONNREFUSED) { // ICMP port unreachable: the node is down for now
				s.stats.unreachable.Add(1)
				continue
			}
			s.log.Debug("ws: UDP read failed; closing connection", "remote", w.remote, "err", err)
			_ = w.gc.Close()
			return
		}
		if n > s.cfg.MaxMessage {
			s.stats.dropOversize.Add(1)
			s.putBuf(fb)
			continue
		}
		start := serverFrameRoom - 2
		if n > 125 {
			start = serverFrameRoom - 4
			fb.b[start+1] = 126
			binary.BigEndian.PutUint16(fb.b[start+2:], uint16(n))
		} else {
			fb.b[start+1] = byte(n)
		}
		fb.b[start] = 0x80 | byte(opBinary)
		fb.start, fb.end = start, serverFrameRoom+n
		w.enqueue(fb)
	}
}

// enqueue hands a frame to the loop, dropping it when QueueLen frames are
// already waiting. The first frame into an empty queue schedules a drain.
func (w *conn) enqueue(fb *frameBuf) {
	s := w.srv
	w.out.mu.Lock()
	if len(w.out.q) >= s.cfg.QueueLen {
		w.out.mu.Unlock()
		s.stats.dropQueueFull.Add(1)
		s.putBuf(fb)
		return
	}
	w.out.q = append(w.out.q, fb)
	wake := !w.out.scheduled
	w.out.scheduled = true
	w.out.mu.Unlock()
	if !wake {
		return
	}
	if err := w.gc.EventLoop().Execute(context.Background(), w); err != nil {
		// The engine is stopping: nothing will drain the queue.
		w.out.mu.Lock()
		for i, fb := range w.out.q {
			s.putBuf(fb)
			w.out.q[i] = nil
		}
		w.out.q = w.out.q[:0]
		w.out.scheduled = false
		w.out.mu.Unlock()
	}
}

// Run is the drain task, on the connection's loop: it writes every queued
// frame with one writev, dropping those that would push the unsent TCP
// backlog over MaxBuffered.
func (w *conn) Run(context.Context) error {
	s := w.srv
	w.out.mu.Lock()
	q := w.out.q
	w.out.q = w.batch[:0]
	w.out.scheduled = false
	w.out.mu.Unlock()

	if w.state == stateOpen {
		iov := w.iov[:0]
		backlog := w.gc.OutboundBuffered()
		var bytes uint64
		for _, fb := range q {
			f := fb.b[fb.start:fb.end]
			if backlog+len(f) > s.cfg.MaxBuffered {
				s.stats.dropBackpressure.Add(1)
				continue
			}
			backlog += len(f)
			bytes += uint64(fb.end - serverFrameRoom)
			iov = append(iov, f)
		}
		if len(iov) > 0 {
			// Writev copies what the socket does not take; on error gnet
			// closes the connection (OnClose runs inside the call).
			if _, err := w.gc.Writev(iov); err == nil {
				s.stats.messagesOut.Add(uint64(len(iov)))
				s.stats.bytesOut.Add(bytes)
			}
		}
		clear(iov)
		w.iov = iov[:0]
	}
	for i, fb := range q {
		s.putBuf(fb)
		q[i] = nil
	}
	w.batch = q[:0]
	return nil
}

// loopConns is the set of connections of one event loop. conns and the
// scratch buffers are owned by that loop; pending is set by the ticker.
type loopConns struct {
	srv          *Server
	el           gnet.EventLoop
	conns        map[*conn]struct{}
	pending      atomic.Bool // a sweep is queued on el
	scratch      [256]byte   // control frames, HTTP answers (built, then copied by gnet)
	closeScratch [maxControlPayload]byte
}

// Run is the sweep task, on the loop: handshake deadlines, pings, idle
// drops, draining and close-reply deadlines.
func (l *loopConns) Run(context.Context) error {
	l.pending.Store(false)
	s := l.srv
	now := time.Now()
	draining := s.draining.Load()
	for w := range l.conns {
		switch w.state {
		case stateHandshake:
			if draining || now.Sub(w.opened) >= s.cfg.HandshakeTimeout {
				if !draining {
					s.stats.handshakeTimeouts.Add(1)
				}
				_ = l.el.Close(w.gc)
			}
		case stateOpen:
			idle := now.Sub(w.lastRecv)
			switch {
			case draining:
				w.sendClose(CloseGoingAway, "server shutting down", now)
			case idle >= IdleFactor*s.cfg.PingInterval:
				s.stats.idleTimeouts.Add(1)
				s.log.Debug("ws: dropping silent client", "remote", w.remote, "idle", idle)
				w.sendClose(CloseGoingAway, "idle timeout", now)
				if w.state != stateClosed {
					_ = l.el.Close(w.gc)
				}
			case idle >= s.cfg.PingInterval && now.Sub(w.lastPing) >= s.cfg.PingInterval:
				w.lastPing = now
				w.writeControl(opPing, nil)
			}
		case stateClosing:
			if now.Sub(w.closeSent) >= s.cfg.CloseTimeout {
				_ = l.el.Close(w.gc)
			}
		}
	}
	return nil
}
