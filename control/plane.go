package control

import (
	"container/list"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/stt-go/stt/stc"
	"github.com/stt-go/stt/wire"
)

// DataPlane is the narrow interface the control plane uses to reach the fast
// path; implementations never block on the control plane. Methods may be
// called from several control goroutines at once.
type DataPlane interface {
	// SendHandshake sends one handshake datagram. pkt is borrowed for the call.
	SendHandshake(pkt []byte, to netip.AddrPort) error
	// Install installs s into the owning loop's shard and returns the data
	// plane's handle of the new session (Dial hands it back in
	// Established.Installed). It returns an error wrapping ErrSessionExists
	// if s.SessionID is taken (never overwrites).
	Install(s *Established) (any, error)
	// Remove removes a session Install added (failed confirmation).
	Remove(id wire.SessionID)
	// Loops returns the number of loops, for choosing session IDs (>= 1).
	Loops() int
}

// TransportParams are the initial transport parameters each side announces
// in the handshake (encoded in wire.TransportParamsLen fixed bytes,
// big-endian, in field order). Their meaning is specified in
// docs/HANDSHAKE.md "Transport parameters": MaxStreams is the initial
// cumulative MAX_STREAMS (stream indices of the peer's parity it may open),
// InitialMaxData and InitialMaxStreamData the initial MAX_DATA and
// per-stream MAX_STREAM_DATA credit, MaxDatagram the largest UDP payload
// the announcing side accepts (at least 1232), IdleTimeoutMs its idle
// timeout (0: none). The control plane carries them without interpreting
// them; the data plane applies them.
type TransportParams struct {
	MaxStreams           uint64
	InitialMaxData       uint64
	InitialMaxStreamData uint64
	MaxDatagram          uint16
	IdleTimeoutMs        uint32
}

// Established is a completed handshake handed to the data plane. Its
// traffic secrets (the Noise Split outputs, never sent) are reachable only
// through Secrets; the data plane moves them into the session and calls
// Wipe.
type Established struct {
	sendSecret, recvSecret stc.Secret

	SessionID   wire.SessionID
	Suite       stc.Suite
	Initiator   bool
	Peer        netip.AddrPort
	PeerID      stc.NodeID
	PeerStatic  [32]byte
	LocalParams TransportParams
	PeerParams  TransportParams
	// Confirmed is closed by the data plane when the first packet from the
	// peer opens under the receive secret (for the initiator: FINAL); a responder's
	// keys are confirmed by AUTH_PROOF, so its channel is closed at install.
	// It is nil on an initiator's resumed session, which the
	// RESUME_RESPONSE confirmed before Install.
	Confirmed chan struct{}
	// Installed is what DataPlane.Install returned for this session.
	Installed any
	// Resumed marks a session from a resumed handshake (docs/HANDSHAKE.md
	// "Resumption"). The data plane then sends no FINAL: an initiator's
	// session is active at install and sends an ack-eliciting packet at
	// once; a responder's waits for that packet (its first packet that
	// opens, as in a full handshake) and is removed, without a CLOSE, if
	// none opens within the handshake timeout.
	Resumed bool
	// Ticket, on a responder's session when Config.Resumption is set, is
	// the NEW_TICKET blob (wire.NewTicketLen bytes: lifetime ‖ ticket) for
	// the data plane to send the initiator in a NEW_TICKET frame, whose
	// data plane hands it to Plane.StoreTicket. Nil otherwise. The data
	// plane owns it after Install.
	Ticket []byte
	// RTT, on an initiator's resumed session, is the interval between
	// sending the RESUME that was answered and opening its RESUME_RESPONSE:
	// the session's first RTT sample. Zero otherwise.
	RTT time.Duration
}

// Secrets returns the session's traffic secrets: send protects what this
// side sends (key_i2r for the initiator), recv what it receives. The
// copies are the caller's to wipe.
func (e *Established) Secrets() (send, recv stc.Secret) { return e.sendSecret, e.recvSecret }

// Wipe clears the traffic secrets held here (once the data plane has its
// own copies).
func (e *Established) Wipe() {
	e.sendSecret.Wipe()
	e.recvSecret.Wipe()
}

// Config configures a Plane. NewPlane clones it; the caller may reuse it.
type Config struct {
	// Identity is this node's static key pair and node ID. Required.
	Identity *stc.Identity
	// PSK is the key derived from the shared seed (stc.DerivePSK). Required
	// (all-zero is rejected).
	PSK [32]byte
	// Suites are the AEAD suites this node speaks, at most
	// wire.MaxOfferedSuites: as initiator it offers them in this order; as
	// responder it accepts exactly these, and chooses the first suite of the
	// initiator's offered list that is among them (docs/HANDSHAKE.md "Suite
	// negotiation"), refusing a HELLO that offers none of them. Empty:
	// stc.PreferredSuite then the rest of stc.Available (all three). A
	// single suite forces it in both roles. Invalid or repeated suites are
	// an error.
	Suites []stc.Suite
	// Hybrid makes Dial add ML-KEM-768 to the handshake (post-quantum).
	// Callers set the default (true). A responder answers both modes
	// whatever Hybrid says (docs/HANDSHAKE.md requires it): the mode is in
	// the prologue, so only a PSK holder can choose it.
	Hybrid bool
	// AllowPeers, when non-empty, is the only set of peer node IDs accepted.
	AllowPeers []stc.NodeID
	// HandshakeTimeout bounds Dial and half-open state. Zero or negative:
	// DefaultHandshakeTimeout (10 s).
	HandshakeTimeout time.Duration
	// FreshnessWindow is the accepted HELLO clock skew either way, in
	// milliseconds' resolution. Zero or negative: defaultFreshnessWindow (90 s).
	FreshnessWindow time.Duration
	// MaxHalfOpen caps responder half-open handshakes. At the cap a HELLO
	// must carry a valid cookie (it gets a COOKIE_REPLY otherwise); one that
	// does evicts the oldest. Zero or negative: defaultMaxHalfOpen (1024).
	MaxHalfOpen int
	// MaxHalfOpenPerAddr caps half-open handshakes per source IP. At the
	// cap a HELLO from that IP must carry a valid cookie (it gets a
	// COOKIE_REPLY otherwise), so a flood with a spoofed source cannot
	// evict; one that does evicts the oldest entry of its own IP and port,
	// else of its IP. It also bounds concurrent dials from one peer IP
	// without a cookie round trip. Zero or negative:
	// defaultMaxHalfOpenPerAddr (16).
	MaxHalfOpenPerAddr int
	// CookieThreshold is the queue length above which HELLOs without a valid
	// cookie get a COOKIE_REPLY instead of crypto. Zero: queue/4 (256);
	// negative: cookies always required (as ForceCookies).
	CookieThreshold int
	// ForceCookies makes the responder answer every HELLO that does not
	// carry a valid cookie with a COOKIE_REPLY, whatever the load: every
	// handshake then takes one more round trip. It exists to test the
	// COOKIE_REPLY path of other implementations (stt listen
	// --force-cookies) and to run a node that always proves addresses
	// first; it is the same as a negative CookieThreshold.
	ForceCookies bool
	// RejectWrongSeed sends a rate-limited REJECT(authentication) for
	// HELLOs that do not open, and for HELLOs that open but are refused
	// (payload invalid, timestamp outside the freshness window, node ID
	// not allowed, no acceptable suite), so a misconfigured dialler sees
	// ErrAuthentication at its timeout instead of ErrHandshakeTimeout (a
	// REJECT cannot be authenticated, so the dialler does not act on it
	// earlier). Replays and HELLOs that need a cookie never get one. It
	// reveals that a node listens.
	RejectWrongSeed bool
	// Resumption turns on session resumption (docs/HANDSHAKE.md
	// "Resumption"): as responder, the plane issues a ticket in every
	// session it installs (Established.Ticket) and answers RESUMEs; as
	// initiator, it keeps the tickets the data plane hands to StoreTicket,
	// one per address, and Dial resumes with one when it holds a valid
	// ticket for the address, falling back to a full handshake when the
	// responder refuses it. Off, RESUMEs get REJECT(ticket) and Dial always
	// runs a full handshake. Callers set the default (true).
	Resumption bool
	// Params are this node's transport parameters, sent in the handshake.
	Params TransportParams
	// Logger receives rare events (nil: silent): at Warn, HELLOs that do not
	// open under our shared seed, at most one line per 10 s with the count
	// of those not logged. Drops are counted, not logged.
	Logger *slog.Logger
	// Now is the wall clock for HELLO timestamps and timers (nil: time.Now).
	Now func() time.Time
}

// Stats are cumulative counters, read with Plane.Stats.
type Stats struct {
	HandshakesOK      uint64 // Dials that returned a confirmed session
	Accepted          uint64 // responder sessions installed
	FailedTimeout     uint64 // Dials that ended matching ErrHandshakeTimeout
	FailedAuth        uint64 // authentication failures (either role), REJECT-ended Dials included
	FailedUnreachable uint64 // Dials failed by DestinationUnreachable
	// SeedMismatch counts HELLOs (and RESUMEs whose PSK tag fails) that do
	// not open under our shared seed:
	// the sender holds another shared seed (a misconfigured peer, the
	// usual case) or the packet is forged or corrupted. The PSK AEAD
	// cannot tell these apart. They are also reported at Warn through
	// Config.Logger, at most one line per 10 s.
	SeedMismatch     uint64
	Malformed        uint64 // handshake packets that failed to parse or open (other than SeedMismatch)
	SuiteRefused     uint64 // HELLOs that offered no suite in Config.Suites
	QueueDrops       uint64 // packets dropped because the queue was full
	CookiesSent      uint64 // COOKIE_REPLY messages sent
	CookieRejects    uint64 // HELLOs (and RESUMEs) answered with a COOKIE_REPLY: no or invalid cookie under load or at a half-open cap
	Replays          uint64 // HELLOs and RESUMEs whose ephemeral was already seen
	Stale            uint64 // HELLOs and RESUMEs outside their freshness window
	HalfOpenEvicted  uint64 // half-open handshakes evicted by the caps (only by HELLOs with a valid cookie)
	HalfOpenExpired  uint64 // half-open handshakes that timed out
	NoStateProofs    uint64 // AUTH_PROOFs for no half-open state (evicted, expired, or a duplicate after install)
	AmplificationCap uint64 // sends suppressed by the 3x ledger
	Collisions       uint64 // session-ID collisions (either role)
	RejectsSent      uint64 // REJECT messages sent
	RejectHints      uint64 // REJECT(authentication) messages received by Dials (unauthenticated: reported at the timeout)
	Retransmits      uint64 // HELLO/AUTH_PROOF retransmissions
	Restarts         uint64 // fresh HELLOs after an AUTH_PROOF went unconfirmed (also in Retransmits)
	PoolMisses       uint64 // ephemeral key pairs generated inline
	// Resumption (Config.Resumption).
	Resumed         uint64 // Dials that returned a resumed session (also in HandshakesOK)
	ResumeFallbacks uint64 // Dials that held a ticket but fell back to a full handshake (refused, or no answer to the RESUME)
	ResumeAccepted  uint64 // resumed responder sessions installed (also in Accepted)
	ResumeRefused   uint64 // RESUMEs refused for their ticket (unknown key, expired, not ours, stale, replay memory full): REJECT(ticket)
	TicketsIssued   uint64 // tickets issued as responder
	TicketsStored   uint64 // tickets kept as initiator (StoreTicket)
}

type stats struct {
	handshakesOK, accepted, failedTimeout, failedAuth, failedUnreachable, seedMismatch, malformed, suiteRefused,
	queueDrops, cookiesSent, cookieRejects, replays, stale, hoEvicted, hoExpired, noStateProofs,
	ampCap, collisions, rejectsSent, rejectHints, retransmits, restarts, poolMisses,
	resumed, resumeFallbacks, resumeAccepted, resumeRefused, ticketsIssued, ticketsStored atomic.Uint64
}

// Plane is the control plane: it dials, answers handshakes, and installs
// finished sessions into the data plane. All methods are safe for
// concurrent use. It runs worker goroutines, a janitor and key-pair
// refillers until Close.
type Plane struct {
	cfg    Config
	dp     DataPlane
	psk    pskState
	cookie cookieState
	pool   *keyPool
	log    *slog.Logger
	allow  map[stc.NodeID]struct{}
	st     stats

	queue     chan *packet
	free      chan *packet
	allocated atomic.Int64

	done      chan struct{}
	closeOnce sync.Once
	wg        sync.WaitGroup
	nextLoop  atomic.Uint64

	rejects       tokenBucket
	ticketRejects tokenBucket // REJECT(ticket)

	// tickets are the responder's ticket keys (current and previous),
	// replaced whole on rotation.
	tickets atomic.Pointer[ticketKeys]

	// seedLog rate-limits the Warn line for HELLOs that do not open under
	// our shared seed (lock-free: the reject path stays allocation-free).
	seedLog struct {
		last       atomic.Int64  // unix ns of the last line; 0 before the first
		suppressed atomic.Uint64 // mismatches since the last line, not logged
	}

	// dials are the initiator handshakes in flight by handshake ID, under
	// their own lock so that HandlePacket (on a loop goroutine) routes an
	// answer straight to its Dial without waiting for p.mu.
	dials struct {
		sync.RWMutex
		m map[wire.SessionID]*dial
	}

	mu struct {
		sync.Mutex
		halfOpen map[wire.SessionID]*list.Element // *respState, responder side
		order    list.List                        // half-open by age, oldest first
		perAddr  map[netip.Addr]int
		replay   replayCache
		ledger   map[netip.Addr]*ledgerEntry
		cookies  map[netip.AddrPort]cookieEntry // cookies received as initiator
		resumes  resumeReplay                   // RESUMEs accepted, responder side
		// tickets the initiator holds, by address (one each), and its
		// sessions waiting for their NEW_TICKET, by session ID.
		tickets map[netip.AddrPort]*ticketEntry
		pending map[wire.SessionID]*pendingTicket
	}
}

// packet is one queued handshake datagram (a copy; HandlePacket's buffer
// is the loop's).
type packet struct {
	buf  [wire.MaxHandshakeLen]byte
	n    int
	from netip.AddrPort
}

func (pk *packet) bytes() []byte { return pk.buf[:pk.n] }

// NewPlane validates cfg (cloned; defaults filled) and starts the plane's
// goroutines. Errors name the offending Config field.
func NewPlane(cfg *Config, dp DataPlane) (*Plane, error) {
	if dp == nil {
		return nil, errors.New("control: NewPlane needs a DataPlane")
	}
	p, err := newCore(cfg)
	if err != nil {
		return nil, err
	}
	c := &p.cfg
	p.dp = dp
	p.queue = make(chan *packet, queueLen)
	p.free = make(chan *packet, queueLen)
	p.done = make(chan struct{})
	now := c.Now()
	p.cookie.init(now)
	p.rejects = tokenBucket{rate: rejectRate, tokens: rejectRate, last: now}
	p.ticketRejects = tokenBucket{rate: resumeRejectRate, tokens: resumeRejectRate, last: now}
	p.tickets.Store(newTicketKeys(nil, now))
	p.mu.tickets = make(map[netip.AddrPort]*ticketEntry)
	p.mu.pending = make(map[wire.SessionID]*pendingTicket)
	p.dials.m = make(map[wire.SessionID]*dial)
	p.mu.halfOpen = make(map[wire.SessionID]*list.Element)
	p.mu.perAddr = make(map[netip.Addr]int)
	p.mu.replay.init(replayCacheSize)
	p.mu.ledger = make(map[netip.Addr]*ledgerEntry)
	p.mu.cookies = make(map[netip.AddrPort]cookieEntry)
	p.pool = newKeyPool(c.Hybrid, &p.st.poolMisses, &p.wg)
	workers := max(1, min(runtime.GOMAXPROCS(0), 4))
	for range workers {
		p.wg.Add(1)
		go p.worker()
	}
	p.wg.Add(1)
	go p.janitor()
	return p, nil
}

// newCore validates cfg and returns a Plane holding only what building and
// answering handshake messages needs (configuration, PSK-derived state,
// allow-list): no queue, goroutines or data plane. NewPlane completes it;
// an Initiator uses it as is.
func newCore(cfg *Config) (*Plane, error) {
	if cfg == nil || cfg.Identity == nil {
		return nil, errors.New("control: Config.Identity is required")
	}
	c := *cfg
	c.Suites = slices.Clone(cfg.Suites)
	c.AllowPeers = slices.Clone(cfg.AllowPeers)
	if c.PSK == ([32]byte{}) {
		return nil, errors.New("control: Config.PSK is required (stc.DerivePSK of the shared seed)")
	}
	if len(c.Suites) == 0 {
		c.Suites = append(c.Suites, stc.PreferredSuite())
		for _, s := range stc.Available() {
			if !slices.Contains(c.Suites, s) && len(c.Suites) < wire.MaxOfferedSuites {
				c.Suites = append(c.Suites, s)
			}
		}
	}
	if len(c.Suites) > wire.MaxOfferedSuites {
		return nil, fmt.Errorf("control: Config.Suites has %d entries, at most %d", len(c.Suites), wire.MaxOfferedSuites)
	}
	for i, s := range c.Suites {
		if !s.Valid() {
			return nil, fmt.Errorf("control: Config.Suites contains invalid suite %v", s)
		}
		if slices.Contains(c.Suites[:i], s) {
			return nil, fmt.Errorf("control: Config.Suites names %v twice", s)
		}
	}
	if c.HandshakeTimeout <= 0 {
		c.HandshakeTimeout = DefaultHandshakeTimeout
	}
	if c.FreshnessWindow <= 0 {
		c.FreshnessWindow = defaultFreshnessWindow
	}
	if c.MaxHalfOpen <= 0 {
		c.MaxHalfOpen = defaultMaxHalfOpen
	}
	if c.MaxHalfOpenPerAddr <= 0 {
		c.MaxHalfOpenPerAddr = defaultMaxHalfOpenPerAddr
	}
	if c.CookieThreshold == 0 {
		c.CookieThreshold = defaultCookieThreshold
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	p := &Plane{cfg: c, log: c.Logger}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	if len(c.AllowPeers) > 0 {
		p.allow = make(map[stc.NodeID]struct{}, len(c.AllowPeers))
		for _, id := range c.AllowPeers {
			p.allow[id] = struct{}{}
		}
	}
	p.psk.init(&c.PSK)
	return p, nil
}

// Close stops the plane's goroutines and fails Dials in progress with
// ErrClosed. Installed sessions stay with the data plane. Idempotent.
func (p *Plane) Close() error {
	p.closeOnce.Do(func() {
		close(p.done)
		p.pool.close()
	})
	p.wg.Wait()
	return nil
}

// Stats returns a snapshot of the counters. It does not allocate.
func (p *Plane) Stats() Stats {
	s := &p.st
	return Stats{
		HandshakesOK: s.handshakesOK.Load(), Accepted: s.accepted.Load(),
		FailedTimeout: s.failedTimeout.Load(), FailedAuth: s.failedAuth.Load(),
		FailedUnreachable: s.failedUnreachable.Load(),
		SeedMismatch:      s.seedMismatch.Load(), Malformed: s.malformed.Load(),
		SuiteRefused: s.suiteRefused.Load(),
		QueueDrops:   s.queueDrops.Load(), CookiesSent: s.cookiesSent.Load(),
		CookieRejects: s.cookieRejects.Load(), Replays: s.replays.Load(),
		Stale: s.stale.Load(), HalfOpenEvicted: s.hoEvicted.Load(),
		HalfOpenExpired: s.hoExpired.Load(), NoStateProofs: s.noStateProofs.Load(),
		AmplificationCap: s.ampCap.Load(),
		Collisions:       s.collisions.Load(), RejectsSent: s.rejectsSent.Load(),
		RejectHints: s.rejectHints.Load(),
		Retransmits: s.retransmits.Load(), Restarts: s.restarts.Load(),
		PoolMisses: s.poolMisses.Load(),
		Resumed:    s.resumed.Load(), ResumeFallbacks: s.resumeFallbacks.Load(),
		ResumeAccepted: s.resumeAccepted.Load(), ResumeRefused: s.resumeRefused.Load(),
		TicketsIssued: s.ticketsIssued.Load(), TicketsStored: s.ticketsStored.Load(),
	}
}

// HandlePacket is called by the loops with one HANDSHAKE datagram. It never
// blocks: it copies pkt (borrowed for the call) into a bounded queue for
// the workers, or, for an answer to one of our HELLOs or RESUMEs
// (RESPONSE, RESUME_RESPONSE, COOKIE_REPLY, REJECT), straight into the inbox of the Dial waiting for
// it (one goroutine hop less on the dial path); it drops and counts a
// packet when the queue or inbox is full or pkt cannot be a handshake
// message for us. It does not allocate once the packet pool is warm.
func (p *Plane) HandlePacket(pkt []byte, from netip.AddrPort) {
	if len(pkt) < wire.HandshakePrefixLen || len(pkt) > wire.MaxHandshakeLen ||
		pkt[0] != wire.Version || pkt[1] != byte(wire.KindHandshake) {
		p.st.malformed.Add(1)
		return
	}
	var d *dial
	switch wire.HandshakeType(pkt[wire.HandshakeTypeOffset]) {
	case wire.HandshakeResponse, wire.HandshakeResumeResponse, wire.HandshakeCookieReply, wire.HandshakeReject:
		id := wire.SessionID(binary.BigEndian.Uint64(pkt[2:10]))
		p.dials.RLock()
		d = p.dials.m[id]
		p.dials.RUnlock()
		if d == nil || d.to != from {
			p.st.malformed.Add(1)
			return
		}
	}
	pk := p.getPacket()
	if pk == nil {
		p.st.queueDrops.Add(1)
		return
	}
	pk.n = copy(pk.buf[:], pkt)
	pk.from = from
	q := p.queue
	if d != nil {
		q = d.in
	}
	select {
	case q <- pk:
	default:
		p.release(pk)
		p.st.queueDrops.Add(1)
	}
}

// getPacket returns a packet buffer from the free list, a new one while
// fewer than queueLen exist, or nil.
func (p *Plane) getPacket() *packet {
	select {
	case pk := <-p.free:
		return pk
	default:
	}
	if p.allocated.Add(1) > queueLen {
		p.allocated.Add(-1)
		return nil
	}
	return new(packet)
}

// release returns a packet to the free list.
func (p *Plane) release(pk *packet) {
	select {
	case p.free <- pk:
	default:
		p.allocated.Add(-1)
	}
}

// underLoad reports whether cookie mode is on.
func (p *Plane) underLoad() bool {
	return p.cfg.ForceCookies || p.cfg.CookieThreshold < 0 || len(p.queue) > p.cfg.CookieThreshold
}

// worker is the handshake worker goroutine: it takes packets off the queue
// and runs the responder state machine, or hands initiator packets to the
// Dial that owns them.
func (p *Plane) worker() {
	defer p.wg.Done()
	w := newWorkerScratch()
	for {
		select {
		case <-p.done:
			return
		case pk := <-p.queue:
			if p.dispatch(w, pk) {
				p.release(pk)
			}
		}
	}
}

// dispatch runs one packet from the queue (answers to our HELLOs go
// straight to their Dial, see HandlePacket); it reports whether the
// caller still owns pk.
func (p *Plane) dispatch(w *workerScratch, pk *packet) bool {
	b := pk.bytes()
	_, t, err := wire.ParseHandshakeType(b)
	if err != nil {
		p.st.malformed.Add(1)
		return true
	}
	switch t {
	case wire.HandshakeHello:
		p.handleHello(w, b, pk.from, p.cfg.Now())
	case wire.HandshakeAuthProof:
		p.handleAuthProof(b, pk.from)
	case wire.HandshakeResume:
		p.handleResume(w, b, pk.from, p.cfg.Now())
	default:
		p.st.malformed.Add(1)
	}
	return true
}

// janitor expires half-open state, rotates the cookie secret and forgets
// old cookies, once per janitorInterval.
func (p *Plane) janitor() {
	defer p.wg.Done()
	t := time.NewTicker(janitorInterval)
	defer t.Stop()
	for {
		select {
		case <-p.done:
			return
		case <-t.C:
			p.sweep(p.cfg.Now())
		}
	}
}

// sweep is one janitor pass at now.
func (p *Plane) sweep(now time.Time) {
	p.cookie.rotate(now)
	p.rotateTicketKeys(now)
	p.mu.Lock()
	defer p.mu.Unlock()
	p.mu.resumes.rotate(now)
	for k, t := range p.mu.tickets {
		if !now.Before(t.expires) {
			delete(p.mu.tickets, k)
		}
	}
	for k, t := range p.mu.pending {
		if !now.Before(t.expires) {
			delete(p.mu.pending, k)
		}
	}
	for e := p.mu.order.Front(); e != nil; e = p.mu.order.Front() {
		rs := e.Value.(*respState)
		if now.Before(rs.expires) {
			break
		}
		p.removeHalfOpenLocked(e)
		p.st.hoExpired.Add(1)
	}
	for k, c := range p.mu.cookies {
		if now.After(c.expires) {
			delete(p.mu.cookies, k)
		}
	}
	for k, l := range p.mu.ledger {
		if now.After(l.expires) {
			delete(p.mu.ledger, k)
		}
	}
}

// allowed reports whether id may complete a handshake with us.
func (p *Plane) allowed(id stc.NodeID) bool {
	if id == p.cfg.Identity.ID() {
		return false // reflection or a clone of our own seed
	}
	if p.allow == nil {
		return true
	}
	_, ok := p.allow[id]
	return ok
}

// send transmits b, logging (at debug) a data-plane error.
func (p *Plane) send(b []byte, to netip.AddrPort) {
	if err := p.dp.SendHandshake(b, to); err != nil {
		p.log.Debug("control: send handshake", "to", to, "err", err)
	}
}

// randomID returns a fresh random handshake ID.
func randomID() wire.SessionID {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return wire.SessionID(uint64(b[0])<<56 | uint64(b[1])<<48 | uint64(b[2])<<40 | uint64(b[3])<<32 |
		uint64(b[4])<<24 | uint64(b[5])<<16 | uint64(b[6])<<8 | uint64(b[7]))
}
