package dataplane

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/stt-go/stt/batch"
	"github.com/stt-go/stt/dataplane/internal/streambuf"
	"github.com/stt-go/stt/internal/monotime"
	"github.com/stt-go/stt/ring"
	"github.com/stt-go/stt/stc"
	"github.com/stt-go/stt/wire"
)

// Config configures an Engine. Zero fields take the documented defaults
// (params.go); the root package's Config documents each for users.
type Config struct {
	MaxDatagram      int           // bytes per UDP payload; default defaultMaxDatagram, range [minDatagram, MaxDatagramLimit]
	MaxStreams       int           // concurrent peer-opened streams we allow; default defaultMaxStreams
	StreamWindow     int           // initial per-stream receive credit; default defaultStreamWindow
	MaxStreamWindow  int           // per-stream auto-tune ceiling; default defaultMaxStreamWindow
	SessionWindow    int           // initial per-session receive credit; default defaultSessionWindow
	MaxSessionWindow int           // per-session auto-tune ceiling; default defaultMaxSessionWindow
	SendBuffer       int           // unacknowledged bytes a stream buffers; default defaultSendBuffer
	MaxGaps          int           // out-of-order holes per stream; default defaultMaxGaps
	MaxMessageSize   int           // SendMessage limit; default defaultMaxMessageSize
	IdleTimeout      time.Duration // default defaultIdleTimeout
	MaxProbes        int           // consecutive probe timeouts without an acknowledgement, data in flight, before the peer is declared unresponsive; default defaultMaxProbes; negative disables
	KeepAlive        time.Duration // default defaultKeepAlive; negative disables
	HibernateAfter   time.Duration // quiet time before an idle session releases its hot state (hibernate.go); default defaultHibernateAfter; negative disables
	RotateBytes      uint64        // default defaultRotateBytes
	RotateAfter      time.Duration // default defaultRotateAfter
	RotateMessages   uint64        // packets per key after the first rotation; default defaultRotateMessages
	IntegrityLimit   uint64        // failed opens that close a session; 0 = the suite's limit (tests lower it)
	// CongestionControl picks the controller: CongestionBBR (default, also
	// for "") or CongestionCubic. Other values are an error from New.
	CongestionControl string

	// OnHandshake receives HANDSHAKE datagrams (borrowed for the call). It
	// must copy and return at once: the loop never waits for the control
	// plane (Invariant 4).
	OnHandshake func(pkt []byte, from netip.AddrPort)
	// OnAccept announces a session the peer opened, once the peer's first
	// packet under the new keys opened (the handshake is confirmed on both
	// ends). Called on the session's loop goroutine; must not block.
	OnAccept func(*Session)
	// OnTicket receives a NEW_TICKET the responder sent to this initiator
	// session (a resumption ticket for the control plane to keep; the blob
	// is borrowed for the call). Called on the session's loop goroutine;
	// must not block. Nil ignores tickets.
	OnTicket func(s *Session, blob []byte)
	// ResetToken, if set, returns this node's stateless reset token for a
	// session ID: 16 bytes derived from a secret that survives a restart
	// (the root derives it from the node seed), never from the session's
	// keys. Each session gives the peer its token (RESET_TOKEN), and a
	// TRANSPORT packet for a session this node does not hold is answered
	// with a stateless reset carrying the token — smaller than the packet
	// that triggered it and rate-limited (docs/PROTOCOL.md §Stateless
	// reset). Nil disables both. Called on loop and Install goroutines
	// concurrently; must not block.
	ResetToken func(id wire.SessionID) [wire.ResetTokenLen]byte
	// SessionHandle and StreamHandle, if set, build the application's
	// handle of a session or stream as it is created, before any other
	// goroutine can see it; Session.Handle and Stream.Handle return it. The
	// root package keeps its Session and Stream wrappers there, so a
	// wrapper's identity is the object's.
	SessionHandle func(*Session) any
	StreamHandle  func(*Stream) any
	// OnUnreachable, if set, receives the network's reports that a datagram
	// to an address was undeliverable (ICMP port/host unreachable): the
	// control plane fails a dial to that address at once. Called on a
	// reader goroutine; must not block. ICMP is unauthenticated: a hint.
	OnUnreachable func(to netip.AddrPort, err error)
	// OnSessionEvent, if set, is told of a session's lifecycle events on
	// its loop goroutine (a stream the peer opened, a key update, a path
	// change); ev is borrowed for the call. It must not block: the root
	// hands each to the node's event emitter, which queues or drops.
	OnSessionEvent func(s *Session, ev *SessionEvent)
	// OnClose is called on the loop goroutine when a session ends.
	OnClose func(*Session)
	// OnCustomFrame handles application frames 0x80-0xFF; payload is
	// borrowed for the call. It returns false if no handler is registered
	// (the frame is counted as dropped). Must not block.
	OnCustomFrame func(s *Session, typ byte, payload []byte) bool
	// Logger receives rare events; nil means silent.
	Logger *slog.Logger
}

func (c *Config) withDefaults() *Config {
	cc := *c
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&cc.MaxDatagram, defaultMaxDatagram)
	cc.MaxDatagram = min(max(cc.MaxDatagram, minDatagram), MaxDatagramLimit)
	def(&cc.MaxStreams, defaultMaxStreams)
	def(&cc.StreamWindow, defaultStreamWindow)
	def(&cc.MaxStreamWindow, defaultMaxStreamWindow)
	cc.MaxStreamWindow = max(cc.MaxStreamWindow, cc.StreamWindow)
	def(&cc.SessionWindow, defaultSessionWindow)
	def(&cc.MaxSessionWindow, defaultMaxSessionWindow)
	cc.MaxSessionWindow = max(cc.MaxSessionWindow, cc.SessionWindow)
	def(&cc.SendBuffer, defaultSendBuffer)
	def(&cc.MaxGaps, defaultMaxGaps)
	def(&cc.MaxMessageSize, defaultMaxMessageSize)
	if cc.IdleTimeout <= 0 {
		cc.IdleTimeout = defaultIdleTimeout
	}
	if cc.MaxProbes == 0 {
		cc.MaxProbes = defaultMaxProbes
	} else if cc.MaxProbes < 0 {
		cc.MaxProbes = 0
	}
	if cc.KeepAlive == 0 {
		cc.KeepAlive = defaultKeepAlive
	} else if cc.KeepAlive < 0 {
		cc.KeepAlive = 0
	}
	if cc.HibernateAfter == 0 {
		cc.HibernateAfter = defaultHibernateAfter
	} else if cc.HibernateAfter < 0 {
		cc.HibernateAfter = 0
	}
	if cc.RotateBytes == 0 {
		cc.RotateBytes = defaultRotateBytes
	}
	if cc.RotateAfter <= 0 {
		cc.RotateAfter = defaultRotateAfter
	}
	if cc.RotateMessages == 0 {
		cc.RotateMessages = defaultRotateMessages
	}
	return &cc
}

func (c *Config) integrityLimit(s stc.Suite) uint64 {
	if c.IntegrityLimit > 0 {
		return c.IntegrityLimit
	}
	return s.IntegrityLimit()
}

// EngineStats are node-wide data-plane counters.
type EngineStats struct {
	DropsUnknownSession uint64 // TRANSPORT packets for no session we hold
	DropsMalformed      uint64 // datagrams too short or of an unknown kind
	DropsHandoff        uint64 // hand-offs lost to a full ring or pool
	Handoffs            uint64 // datagrams passed to their owner loop (steering off, or GRO trains mixing sessions)
	ReadErrors          uint64
	WriteErrors         uint64
	Sessions            int    // sessions installed and not yet closed
	Hibernating         int    // of which hibernating: idle, holding no cipher contexts or recovery state
	Hibernations, Wakes uint64 // hot state released / rebuilt
	StatelessResets     uint64 // stateless resets sent for packets of sessions this node does not hold
	Unreachable         uint64 // ICMP destination-unreachable reports received
	Steered             bool   // BPF steering attached
}

type engineCounters struct {
	dropUnknownSession, dropMalformed, dropHandoff atomic.Uint64
	handoffs                                       atomic.Uint64
	readErrors, writeErrors                        atomic.Uint64
	sessions, hibernating                          atomic.Int64
	hibernations, wakes                            atomic.Uint64
	resetsSent, unreachable                        atomic.Uint64
}

// Engine is the data plane: one loop per socket of a reuseport group.
// Its methods are safe for concurrent use.
type Engine struct {
	cfg         *Config
	loops       []*loop
	steered     bool
	handoffPool *ring.Pool
	stats       engineCounters
	wg          sync.WaitGroup
	closeOnce   sync.Once
	closed      chan struct{}
}

// New builds an engine over conns (one loop per conn). steered says
// whether the kernel steers TRANSPORT packets to conn index = session ID
// mod len(conns); when false, loops hand misdelivered packets to their
// owner. The engine takes ownership of conns and closes them in Close.
func New(cfg *Config, conns []batch.Conn, steered bool) (*Engine, error) {
	if len(conns) == 0 {
		return nil, errors.New("stt: dataplane needs at least one socket")
	}
	if cfg == nil {
		cfg = &Config{}
	}
	switch cfg.CongestionControl {
	case "", CongestionBBR, CongestionCubic:
	default:
		return nil, fmt.Errorf("stt: unknown congestion controller %q (want %q or %q)", cfg.CongestionControl, CongestionBBR, CongestionCubic)
	}
	e := &Engine{
		cfg:     cfg.withDefaults(),
		steered: steered || len(conns) == 1,
		closed:  make(chan struct{}),
		// Fallback hand-offs copy into pooled packet buffers; the cap bounds
		// memory when one loop floods another.
		handoffPool: ring.NewPool(ring.PacketBufSize, 64, 4096),
	}
	now := monotime.Now()
	for i, c := range conns {
		e.loops = append(e.loops, newLoop(e, i, c, now))
	}
	return e, nil
}

// Start launches the loops' goroutines.
func (e *Engine) Start() {
	for _, l := range e.loops {
		e.wg.Add(2)
		go func() { defer e.wg.Done(); l.readLoop() }()
		go func() { defer e.wg.Done(); l.run() }()
	}
}

// handoffBuf returns a buffer for a datagram of n bytes handed to another
// loop: pooled up to ring.PacketBufSize, allocated above (a datagram larger
// than a pooled buffer exists only after path MTU discovery raised the size,
// and a hand-off happens only when GRO mixed sessions or steering is off).
// nil when the pool is exhausted.
func (e *Engine) handoffBuf(n int) []byte {
	if n > ring.PacketBufSize {
		return make([]byte, n)
	}
	return e.handoffPool.Get()
}

// putHandoff returns a hand-off buffer.
func (e *Engine) putHandoff(b []byte) {
	if cap(b) == ring.PacketBufSize {
		e.handoffPool.Put(b[:cap(b)])
	}
}

// Loops returns the number of loops.
func (e *Engine) Loops() int { return len(e.loops) }

// owner returns the loop index that owns session id.
func (e *Engine) owner(id wire.SessionID) int {
	return id.Loop(len(e.loops))
}

// Install creates the session the handshake established and installs it in
// its owner loop's shard. It returns ErrSessionExists if the ID is taken
// (never overwriting) and ErrClosed after Close. Responder sessions send
// FINAL at once and are announced through Config.OnAccept.
func (e *Engine) Install(p *SessionParams) (*Session, error) {
	select {
	case <-e.closed:
		return nil, ErrClosed
	default:
	}
	s, err := e.newSession(p)
	if err != nil {
		return nil, err
	}
	reply := make(chan error, 1)
	s.loop.post(cmd{op: opInstall, sess: s, reply: reply})
	select {
	case err := <-reply:
		if err != nil {
			return nil, err
		}
	case <-s.loop.done:
		return nil, ErrClosed
	}
	return s, nil
}

// newSession builds the session p describes, keys and all, for its owner
// loop; nothing else sees it yet.
func (e *Engine) newSession(p *SessionParams) (*Session, error) {
	now := monotime.Now()
	s := &Session{
		id:        p.ID,
		initiator: p.Initiator,
		peerID:    p.PeerID,
		suite:     p.Suite,
		cfg:       e.cfg,
		loop:      e.loops[e.owner(p.ID)],
		created:   time.Now(),
		done:      make(chan struct{}),
		closing:   make(chan struct{}),
		peer:      p.Peer,
		pathValid: true,
	}
	peer := p.Peer // not &p.Peer: that would keep all of p alive
	s.remote.Store(&peer)
	if h := e.cfg.SessionHandle; h != nil {
		s.handle = h(s)
	}
	if rt := e.cfg.ResetToken; rt != nil {
		s.localToken = rt(p.ID)
	}
	s.peerStreamMax, s.peerIdle = p.PeerMaxStreamData, p.PeerIdleTimeout
	s.api.peerMaxStrms = p.PeerMaxStreams
	s.api.nextLocal = 2
	if p.Initiator {
		s.api.nextLocal = 1
	}
	s.localMaxStreams = uint64(e.cfg.MaxStreams)
	s.sendWin.SetLimit(p.PeerMaxData)
	s.recvWin = streambuf.NewRecvWindow(e.cfg.SessionWindow, e.cfg.MaxSessionWindow)
	// Literal, as every transport parameter: a peer MaxDatagram of 0 (or
	// anything below the IPv6 minimum) means the minimum.
	s.initPMTU(min(e.cfg.MaxDatagram, max(p.PeerMaxDatagram, minDatagram)), now)
	s.nextPN = p.firstPN
	s.skipPN = s.nextPN + 1 + uint64(randUint32()%(2*pnSkipInterval))
	s.timer.Fire = s.onTimer
	if err := s.installKeys(p, now); err != nil {
		return nil, err
	}
	s.stats.lastActive.Store(int64(now))
	s.start(p)
	return s, nil
}

// start sets the session's starting state from the handshake's outcome.
func (s *Session) start(p *SessionParams) {
	// Both roles start in Handshake: the initiator until FINAL opens, the
	// responder until the initiator's first packet opens under the
	// initiator's key — proof that the initiator adopted this session
	// (a dial that restarted with a fresh HELLO abandons the sessions its
	// earlier attempts installed here). Only then is a responder session
	// announced (Config.OnAccept).
	s.state.Store(int32(StateHandshake))
	s.resumed, s.confirmWait, s.ticket = p.Resumed, p.ConfirmTimeout, p.Ticket
	switch {
	case p.Initiator && p.Resumed:
		// RESUME_RESPONSE opened under the new keys: confirmed already,
		// and its round trip is the first RTT sample.
		s.state.Store(int32(StateActive))
		if p.InitialRTT > 0 {
			s.rtt.Update(p.InitialRTT, 0, false)
			s.publishRecoveryStats()
		}
	case p.Initiator:
		s.confirmed = p.Confirmed
	}
	if !p.Initiator && p.Confirmed != nil {
		close(p.Confirmed) // the control plane's view: AUTH_PROOF (or RESUME) opened, the keys are right
	}
}

// Remove tears down a session Install added whose handshake failed to
// confirm, or that a dial abandoned. It sends CLOSE (the peer, if it holds
// the session, drops it at once instead of idling it out) and lingers as
// any close does.
func (e *Engine) Remove(id wire.SessionID) {
	e.loops[e.owner(id)].post(cmd{op: opRemove, id: id})
}

// SendRaw transmits one datagram (a handshake message) to addr. pkt is
// copied; the call never waits for the network.
func (e *Engine) SendRaw(pkt []byte, to netip.AddrPort) error {
	select {
	case <-e.closed:
		return ErrClosed
	default:
	}
	if len(pkt) > ring.PacketBufSize {
		return errors.New("stt: datagram larger than a packet buffer")
	}
	l := e.loops[int(to.Port())%len(e.loops)]
	if w, ok := l.conn.(directWriter); ok {
		// Straight out, from the caller's goroutine: posting to the loop
		// costs a wake-up of its goroutine on every handshake message's
		// path (sequential resumed handshakes: 4050-4210/s through the
		// loop, 4310-4590/s direct, three interleaved runs each). With
		// the socket's send buffer full the loop sends it instead.
		if err := w.WriteTo(pkt, to); !errors.Is(err, syscall.EAGAIN) {
			return err
		}
	}
	l.post(cmd{op: opSendRaw, pkt: append([]byte(nil), pkt...), addr: to})
	return nil
}

// Stats returns the engine's counters.
func (e *Engine) Stats() EngineStats {
	return EngineStats{
		DropsUnknownSession: e.stats.dropUnknownSession.Load(),
		DropsMalformed:      e.stats.dropMalformed.Load(),
		DropsHandoff:        e.stats.dropHandoff.Load(),
		Handoffs:            e.stats.handoffs.Load(),
		ReadErrors:          e.stats.readErrors.Load(),
		WriteErrors:         e.stats.writeErrors.Load(),
		Sessions:            int(e.stats.sessions.Load()),
		Hibernating:         int(e.stats.hibernating.Load()),
		Hibernations:        e.stats.hibernations.Load(),
		Wakes:               e.stats.wakes.Load(),
		StatelessResets:     e.stats.resetsSent.Load(),
		Unreachable:         e.stats.unreachable.Load(),
		Steered:             e.steered,
	}
}

// Close stops the loops (closing every remaining session abruptly with
// CodeNodeStopping), closes the sockets and waits for every goroutine.
func (e *Engine) Close() error {
	e.closeOnce.Do(func() {
		close(e.closed)
		for _, l := range e.loops {
			close(l.quit)
		}
		for _, l := range e.loops {
			<-l.done
		}
		for _, l := range e.loops {
			_ = l.conn.Close()
		}
		e.wg.Wait()
	})
	return nil
}

func isClosedErr(err error) bool { return errors.Is(err, net.ErrClosed) }

// randUint32 returns a random number from the OS CSPRNG.
func randUint32() uint32 {
	var b [4]byte
	fillRandom(b[:])
	return binary.LittleEndian.Uint32(b[:])
}

func fillRandom(b []byte) {
	if _, err := rand.Read(b); err != nil {
		panic("stt: crypto/rand failed: " + err.Error())
	}
}

// Config returns the engine's effective configuration (defaults filled).
func (e *Engine) Config() Config { return *e.cfg }

// directWriter is a batch.Conn that can also send one datagram from any
// goroutine without parking (batch's own conns on Linux can; SendRaw uses
// it).
type directWriter interface {
	WriteTo(b []byte, addr netip.AddrPort) error
}
