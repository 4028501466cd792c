package stt

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/stt-go/stt/batch"
	"github.com/stt-go/stt/control"
	"github.com/stt-go/stt/dataplane"
	"github.com/stt-go/stt/event"
	"github.com/stt-go/stt/stc"
	"github.com/stt-go/stt/wire"
)

// SessionStats is a snapshot of a session's counters.
type SessionStats = dataplane.SessionStats

// SessionState is a session's lifecycle state (Handshake, Active,
// Closing, Closed).
type SessionState = dataplane.SessionState

// Session states, the seed's Handshake → Active → Closing → Closed.
const (
	SessionHandshake = dataplane.StateHandshake // installed, waiting for the peer's first packet
	SessionActive    = dataplane.StateActive    // keys confirmed, streams flow
	SessionClosing   = dataplane.StateClosing   // closing: draining, CLOSE sent
	SessionClosed    = dataplane.StateClosed    // terminated
)

// StreamState is a stream's lifecycle state (Created, Open, Closing,
// Closed); see Stream.State.
type StreamState = dataplane.StreamState

// Stream states, the seed's Created → Open → Closing → Closed.
const (
	StreamCreated = dataplane.StreamCreated // opened; the peer not yet told
	StreamOpen    = dataplane.StreamOpen    // both ends know it; both directions open
	StreamClosing = dataplane.StreamClosing // a direction ended; the slot still held
	StreamClosed  = dataplane.StreamClosed  // both directions finished; slot released
)

// SessionID is the 8-byte session identifier both peers derive.
type SessionID = wire.SessionID

// StreamID identifies a stream within a session (odd: opened by the
// initiator, even: by the responder).
type StreamID = wire.StreamID

// NodeID is a node's 32-byte identity fingerprint, SHA3-256 over a label
// and its static public key.
type NodeID = stc.NodeID

// NodeState is a node's lifecycle state, the seed's
// Created → Started → Running → Stopped.
type NodeState int32

// Node states.
const (
	NodeCreated  NodeState = iota // built, not listening
	NodeStarted                   // sockets open, loops starting
	NodeRunning                   // serving sessions
	NodeStopping                  // Stop in progress: draining sessions
	NodeStopped                   // shut down; all goroutines gone
)

func (s NodeState) String() string {
	return [...]string{"Created", "Started", "Running", "Stopping", "Stopped"}[s]
}

// resetKeySalt separates the stateless-reset key from every other use of
// the node seed (HKDF-Extract salt).
const resetKeySalt = "stt stateless reset v1"

// acceptQueueLen bounds sessions accepted but not yet taken by Accept;
// beyond it new sessions are closed (a slow application cannot make the
// node buffer without bound).
const acceptQueueLen = 1024

// NodeStats are node-wide counters.
type NodeStats struct {
	Sessions int // sessions currently open
	// FramesDropped counts application frames dropped because their
	// handlers fell FrameQueueLen frames behind; FrameHandlerPanics counts
	// handler panics recovered.
	FramesDropped, FrameHandlerPanics uint64
	// Events counts lifecycle events emitted, delivered, dropped (a
	// handler too far behind) and failed (Node.On).
	Events    event.Stats
	Handshake control.Stats         // handshake outcomes and anti-DoS counters
	Dataplane dataplane.EngineStats // drops by cause, steering
	Batch     []batch.Stats         // per socket: GSO/GRO state, queue overflows
}

// Node is a participant in STT: it listens on UDP, dials and accepts
// sessions. Create it with NewNode, then Start; Stop shuts it down. All
// methods are safe for concurrent use.
type Node struct {
	cfg      Config
	identity *stc.Identity
	psk      [32]byte
	resetKey stc.Secret // stateless reset tokens (resetToken)
	suites   []stc.Suite

	state   atomic.Int32
	startMu sync.Mutex // serialises Start and Stop

	group  *batch.Group
	engine *dataplane.Engine
	plane  *control.Plane

	dispatcher FrameDispatcher
	events     *event.Emitter // lifecycle events (events.go)

	acceptQ  chan *Session
	mode     atomic.Int32 // 0 unset, 1 Accept/AcceptStream, 2 Receive
	packets  chan Packet
	stopping chan struct{}

	recvMu      sync.Mutex // protects recvStopped and recvWG.Add (Stop waits on recvWG)
	recvStopped bool
	recvWG      sync.WaitGroup

	sessMu   sync.Mutex // protects sessions
	sessions map[*Session]struct{}
}

const (
	modeUnset int32 = iota
	modeAccept
	modeReceive
)

// NewNode validates cfg and derives the node's identity. It does not open
// sockets (Start does). Errors name the Config field at fault.
func NewNode(cfg Config) (*Node, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if _, _, err := stc.SuiteFromEnv(); err != nil {
		// An operator's override with a typo is refused, not ignored.
		return nil, fmt.Errorf("stt: %w", err)
	}
	cfg.NodeSeed = append([]byte(nil), cfg.NodeSeed...)
	cfg.SharedSeed = append([]byte(nil), cfg.SharedSeed...)
	cfg.AllowPeers = append([]NodeID(nil), cfg.AllowPeers...)
	id, err := stc.NewIdentity(cfg.NodeSeed)
	if err != nil {
		return nil, fmt.Errorf("stt: Config.NodeSeed: %w", err)
	}
	psk, err := stc.DerivePSK(cfg.SharedSeed)
	if err != nil {
		return nil, fmt.Errorf("stt: Config.SharedSeed: %w", err)
	}
	n := &Node{
		cfg:      cfg,
		identity: id,
		psk:      psk,
		resetKey: stc.Extract([]byte(resetKeySalt), cfg.NodeSeed),
		acceptQ:  make(chan *Session, acceptQueueLen),
		packets:  make(chan Packet, 1024),
		stopping: make(chan struct{}),
		sessions: make(map[*Session]struct{}),
	}
	n.suites = suitesFor(cfg.Suite)
	n.events = n.newEvents()
	return n, nil
}

// resetToken is the node's stateless reset token for a session ID:
// HMAC-SHA256 under a key derived from the node seed, so a restarted node
// computes the same token for sessions it no longer holds, and nobody
// without the node seed can (docs/PROTOCOL.md §Stateless reset).
func (n *Node) resetToken(id wire.SessionID) [wire.ResetTokenLen]byte {
	key := n.resetKey.Bytes()
	mac := hmac.New(sha256.New, key)
	clear(key)
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(id))
	mac.Write(b[:])
	var tok [wire.ResetTokenLen]byte
	copy(tok[:], mac.Sum(nil))
	return tok
}

// suitesFor returns the offered suites, preferred first.
func suitesFor(name string) []stc.Suite {
	if name != "" {
		// A forced suite is the only one offered and accepted
		// (docs/HANDSHAKE.md §Suite negotiation).
		s, _ := stc.ParseSuite(name)
		return []stc.Suite{s}
	}
	first := stc.PreferredSuite()
	out := []stc.Suite{first}
	for _, s := range stc.Available() {
		if s != first {
			out = append(out, s)
		}
	}
	return out
}

// ID returns the node's ID, derived from its node seed.
func (n *Node) ID() NodeID { return n.identity.ID() }

// State returns the node's lifecycle state.
func (n *Node) State() NodeState { return NodeState(n.state.Load()) }

// Addr returns the bound UDP address (valid after Start).
func (n *Node) Addr() netip.AddrPort {
	if n.group == nil {
		return netip.AddrPort{}
	}
	return n.group.LocalAddr()
}

// Suite returns the name of the AEAD suite this node prefers.
func (n *Node) Suite() string { return n.suites[0].String() }

// Start opens the sockets and starts the loops and the control plane:
// Created → Started → Running. ctx bounds start-up only.
func (n *Node) Start(ctx context.Context) error {
	n.startMu.Lock()
	defer n.startMu.Unlock()
	if n.State() != NodeCreated {
		return fmt.Errorf("stt: Start on a node in state %s", n.State())
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	addr, err := resolveListen(n.cfg.ListenAddr)
	if err != nil {
		return err
	}
	loops := n.cfg.Loops
	if loops <= 0 {
		loops = runtime.GOMAXPROCS(0)
	}
	loops = min(max(loops, 1), 64)
	g, err := batch.ListenGroup(addr, loops, &batch.Options{
		DisableGSO:      n.cfg.DisableGSO,
		DisableGRO:      n.cfg.DisableGRO,
		DisableSteering: n.cfg.DisableSteering,
		Logger:          n.cfg.Logger,
	})
	if err != nil {
		return fmt.Errorf("stt: listen on %s: %w", addr, err)
	}
	n.group = g
	n.state.Store(int32(NodeStarted))

	dcfg := n.cfg.dataplaneConfig()
	dcfg.OnHandshake = n.onHandshake
	dcfg.OnAccept = n.onAccept
	dcfg.OnClose = n.onClose
	dcfg.ResetToken = n.resetToken
	dcfg.OnSessionEvent = n.onSessionEvent
	dcfg.OnUnreachable = func(to netip.AddrPort, err error) {
		if p := n.plane; p != nil {
			p.DestinationUnreachable(to, err)
		}
	}
	dcfg.SessionHandle = func(s *dataplane.Session) any { return &Session{s: s, n: n} }
	dcfg.StreamHandle = func(st *dataplane.Stream) any {
		return &Stream{st: st, sess: sessionOf(st.Session())}
	}
	dcfg.OnCustomFrame = n.dispatcher.dispatch
	dcfg.OnTicket = n.onTicket
	eng, err := dataplane.New(dcfg, g.Conns(), g.Steered())
	if err != nil {
		_ = g.Close()
		return err
	}
	n.engine = eng
	ec := eng.Config()
	plane, err := control.NewPlane(&control.Config{
		Identity:         n.identity,
		PSK:              n.psk,
		Suites:           n.suites,
		Hybrid:           !n.cfg.DisableHybrid,
		AllowPeers:       n.cfg.AllowPeers,
		HandshakeTimeout: n.cfg.HandshakeTimeout,
		RejectWrongSeed:  n.cfg.RejectWrongSeed,
		ForceCookies:     n.cfg.ForceCookies,
		Resumption:       !n.cfg.DisableResumption,
		Params: control.TransportParams{
			MaxStreams:           uint64(ec.MaxStreams),
			InitialMaxData:       uint64(ec.SessionWindow),
			InitialMaxStreamData: uint64(ec.StreamWindow),
			MaxDatagram:          uint16(ec.MaxDatagram),
			IdleTimeoutMs:        uint32(ec.IdleTimeout / time.Millisecond),
		},
		Logger: n.cfg.Logger,
	}, (*dataPlaneAdapter)(n))
	if err != nil {
		_ = eng.Close()
		return err
	}
	n.plane = plane
	n.dispatcher.start(n.cfg.Logger)
	eng.Start()
	n.state.Store(int32(NodeRunning))
	return nil
}

func resolveListen(s string) (netip.AddrPort, error) {
	if s == "" {
		s = ":0"
	}
	ua, err := net.ResolveUDPAddr("udp", s)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("stt: Config.ListenAddr %q: %w", s, err)
	}
	ap := ua.AddrPort()
	if !ap.Addr().IsValid() {
		ap = netip.AddrPortFrom(netip.IPv6Unspecified(), ap.Port())
	}
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), nil
}

func resolvePeer(s string) (netip.AddrPort, error) {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), nil
	}
	ua, err := net.ResolveUDPAddr("udp", s)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("stt: peer address %q: %w", s, err)
	}
	ap := ua.AddrPort()
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), nil
}

// Connect dials a peer and returns once the four-message handshake is
// complete (the seed's connect_udp). It fails with a *DialError matching
// ErrHandshakeTimeout (its Cause says what came back, if anything),
// ErrAuthentication (the peer refused us or failed authentication) or
// ErrUnreachable; with the context's error; or with ErrClosed after Stop.
func (n *Node) Connect(ctx context.Context, addr string) (*Session, error) {
	if n.State() != NodeRunning {
		return nil, n.notRunning()
	}
	to, err := resolvePeer(addr)
	if err != nil {
		return nil, err
	}
	if err := n.checkFamily(to); err != nil {
		return nil, err
	}
	est, err := n.plane.Dial(ctx, to)
	if err != nil {
		n.dialFailed(to, err)
		return nil, err
	}
	s := est.Installed.(*Session)
	n.connected(s)
	return s, nil
}

// checkFamily refuses, at once, a peer address the node's sockets cannot
// reach: an IPv6 peer from a node bound to an IPv4 address, or an IPv4 peer
// from one bound to a specific IPv6 address (a node bound to [::] reaches
// both).
func (n *Node) checkFamily(to netip.AddrPort) error {
	local := n.Addr().Addr()
	switch {
	case local.Is4() && to.Addr().Is6():
		return fmt.Errorf("stt: cannot reach IPv6 address %v from a node listening on IPv4 %v: listen on [::] or an IPv6 address", to, n.Addr())
	case local.Is6() && !local.IsUnspecified() && to.Addr().Is4():
		return fmt.Errorf("stt: cannot reach IPv4 address %v from a node listening on IPv6 %v: listen on [::] or an IPv4 address", to, n.Addr())
	}
	return nil
}

func (n *Node) notRunning() error {
	if n.State() >= NodeStopping {
		return ErrClosed
	}
	return ErrNotStarted
}

// Accept returns the next session a peer opened to this node, blocking
// until one arrives, ctx ends or the node stops (ErrClosed).
func (n *Node) Accept(ctx context.Context) (*Session, error) {
	if n.State() < NodeRunning {
		return nil, ErrNotStarted
	}
	if !n.mode.CompareAndSwap(modeUnset, modeAccept) && n.mode.Load() != modeAccept {
		return nil, ErrReceiveMode
	}
	select {
	case s := <-n.acceptQ:
		return s, nil
	case <-n.stopping:
		return nil, ErrClosed
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Stats returns node-wide counters.
func (n *Node) Stats() NodeStats {
	var st NodeStats
	n.sessMu.Lock()
	st.Sessions = len(n.sessions)
	n.sessMu.Unlock()
	st.FramesDropped, st.FrameHandlerPanics = n.dispatcher.dropped.Load(), n.dispatcher.panics.Load()
	st.Events = n.events.Stats()
	if n.plane != nil {
		st.Handshake = n.plane.Stats()
	}
	if n.engine != nil {
		st.Dataplane = n.engine.Stats()
	}
	if n.group != nil {
		for _, c := range n.group.Conns() {
			st.Batch = append(st.Batch, c.Stats())
		}
	}
	return st
}

// Sessions returns the node's open sessions.
func (n *Node) Sessions() []*Session {
	n.sessMu.Lock()
	defer n.sessMu.Unlock()
	out := make([]*Session, 0, len(n.sessions))
	for s := range n.sessions {
		out = append(out, s)
	}
	return out
}

// FrameDispatcher returns the node's dispatcher for application frame types
// 0x80-0xFF.
func (n *Node) FrameDispatcher() *FrameDispatcher { return &n.dispatcher }

// Stop shuts the node down gracefully: every session drains (peers
// acknowledge what was written), sends CLOSE and lingers three PTOs,
// repeating CLOSE twice so peers hear it on a lossy path, all bounded by
// ctx; then the sockets close and every goroutine exits → Stopped. Stop on a node
// that never started just marks it stopped.
func (n *Node) Stop(ctx context.Context) error {
	n.startMu.Lock()
	defer n.startMu.Unlock()
	switch n.State() {
	case NodeStopped, NodeStopping:
		return nil
	case NodeCreated:
		n.state.Store(int32(NodeStopped))
		close(n.stopping)
		return n.events.Shutdown(ctx)
	}
	n.state.Store(int32(NodeStopping))
	close(n.stopping)
	var wg sync.WaitGroup
	for _, s := range n.Sessions() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = s.s.Drain(ctx, CodeNodeStopping, "node stopping")
			// Linger until the session ends (three PTOs, repeating CLOSE
			// twice so a peer on a lossy path still hears it), or ctx ends.
			select {
			case <-s.Done():
			case <-ctx.Done():
			}
		}()
	}
	wg.Wait()
	_ = n.plane.Close()
	_ = n.engine.Close()
	n.dispatcher.stop(ctx)
	n.recvMu.Lock()
	n.recvStopped = true
	n.recvMu.Unlock()
	n.recvWG.Wait()
	_ = n.events.Shutdown(ctx)
	n.state.Store(int32(NodeStopped))
	return ctx.Err()
}

// ---- hooks called by the data plane (loop goroutines; must not block) ----

func (n *Node) onHandshake(pkt []byte, from netip.AddrPort) {
	if p := n.plane; p != nil {
		p.HandlePacket(pkt, from)
	}
}

// onAccept announces a responder session once the initiator's first
// packet confirmed it (it was registered at install).
func (n *Node) onAccept(ds *dataplane.Session) {
	s := sessionOf(ds)
	n.connected(s)
	if n.mode.Load() == modeReceive {
		return // its streams go to the node's readers (registerSession)
	}
	select {
	case n.acceptQ <- s:
	default:
		s.CloseWithError(dataplane.CodeInternal, "accept queue full")
	}
}

func (n *Node) onClose(ds *dataplane.Session) {
	s := sessionOf(ds)
	n.sessMu.Lock()
	delete(n.sessions, s)
	n.sessMu.Unlock()
	s.closed()
	n.closedEvent(s)
}

// onTicket hands a NEW_TICKET to the control plane (on the session's loop
// goroutine; StoreTicket takes a lock briefly and never blocks). A blob it
// cannot use is dropped: resumption is an optimisation, and the next
// Connect runs a full handshake.
func (n *Node) onTicket(ds *dataplane.Session, blob []byte) {
	if p := n.plane; p != nil {
		if err := p.StoreTicket(ds.ID(), blob); err != nil && n.cfg.Logger != nil {
			n.cfg.Logger.Debug("stt: resumption ticket not kept", "peer", ds.RemoteAddr(), "err", err)
		}
	}
}

// handshakeTimeout is the configured handshake timeout or its default.
func (n *Node) handshakeTimeout() time.Duration {
	if n.cfg.HandshakeTimeout > 0 {
		return n.cfg.HandshakeTimeout
	}
	return control.DefaultHandshakeTimeout
}

// dataPlaneAdapter implements control.DataPlane over the engine.
type dataPlaneAdapter Node

func (a *dataPlaneAdapter) SendHandshake(pkt []byte, to netip.AddrPort) error {
	return a.engine.SendRaw(pkt, to)
}

func (a *dataPlaneAdapter) Install(est *control.Established) (any, error) {
	n := (*Node)(a)
	p := &dataplane.SessionParams{
		ID:        est.SessionID,
		Suite:     est.Suite,
		Initiator: est.Initiator,
		Peer:      est.Peer,
		PeerID:    est.PeerID,
		// Transport parameters are literal (docs/HANDSHAKE.md): 0 means 0.
		PeerMaxStreams:    est.PeerParams.MaxStreams,
		PeerMaxData:       est.PeerParams.InitialMaxData,
		PeerMaxStreamData: est.PeerParams.InitialMaxStreamData,
		PeerIdleTimeout:   time.Duration(est.PeerParams.IdleTimeoutMs) * time.Millisecond,
		PeerMaxDatagram:   int(est.PeerParams.MaxDatagram),
		Confirmed:         est.Confirmed,
		Resumed:           est.Resumed,
		InitialRTT:        est.RTT,
		ConfirmTimeout:    n.handshakeTimeout(),
		Ticket:            est.Ticket,
	}
	p.SetSecrets(est.Secrets())
	est.Wipe() // the session holds the keys now (or nobody does)
	ds, err := n.engine.Install(p)
	if err != nil {
		if errors.Is(err, dataplane.ErrSessionExists) {
			return nil, fmt.Errorf("%w: %v", control.ErrSessionExists, err)
		}
		return nil, err
	}
	n.registerSession(sessionOf(ds))
	return sessionOf(ds), nil
}

// registerSession adds a session of either role to the node's set at
// install, so Stop closes it and Receive reads its streams. The mode is read
// after the session is registered: if Receive switched the mode before, it
// is seen here; if after, Receive's takeOverStreams finds the session in
// n.sessions.
func (n *Node) registerSession(s *Session) {
	n.sessMu.Lock()
	n.sessions[s] = struct{}{}
	n.sessMu.Unlock()
	if n.mode.Load() == modeReceive {
		n.receiveOn(s)
	}
}

// Remove drops a session whose handshake failed after Install.
func (a *dataPlaneAdapter) Remove(id wire.SessionID) { a.engine.Remove(id) }

func (a *dataPlaneAdapter) Loops() int { return a.engine.Loops() }
