package dataplane

import (
	"context"
	"errors"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/stt-go/stt/dataplane/internal/recovery"
	"github.com/stt-go/stt/dataplane/internal/streambuf"
	"github.com/stt-go/stt/internal/monotime"
	"github.com/stt-go/stt/stc"
	"github.com/stt-go/stt/wire"
)

// SessionState is a session's lifecycle state, the seed's
// Handshake → Active → Closing → Closed.
type SessionState int32

// Session states.
const (
	StateHandshake SessionState = iota // installed, waiting for the peer's first packet (initiator: FINAL)
	StateActive                        // keys confirmed, streams flow
	StateClosing                       // Close called: draining unacknowledged data
	StateClosed                        // terminated; resources released
)

func (s SessionState) String() string {
	switch s {
	case StateHandshake:
		return "Handshake"
	case StateActive:
		return "Active"
	case StateClosing:
		return "Closing"
	case StateClosed:
		return "Closed"
	}
	return "SessionState(?)"
}

// SessionParams is what the handshake hands the data plane to install a
// session (the root package translates control.Established into it).
type SessionParams struct {
	send, recv stc.Secret // the traffic secrets (SetSecrets); Install moves them into the session

	ID        wire.SessionID
	Suite     stc.Suite
	Initiator bool
	Peer      netip.AddrPort
	PeerID    stc.NodeID

	// The peer's transport parameters from the handshake.
	PeerMaxStreams       uint64
	PeerMaxData          uint64
	PeerMaxStreamData    uint64
	PeerIdleTimeout      time.Duration
	PeerMaxDatagram      int
	Confirmed            chan struct{} // closed on the first packet that opens (may be nil)
	AcceptedByApp        bool          // responder sessions are announced through Config.OnAccept
	InitialRecvWindow    uint64        // what we advertised as session credit (LocalParams.InitialMaxData)
	InitialStreamWindow  uint64        // what we advertised per stream
	InitialLocalMaxStrms uint64        // what we advertised as MAX_STREAMS

	// Resumed marks a session from a resumed handshake (docs/HANDSHAKE.md
	// "Resumption"). An initiator's starts Active — RESUME_RESPONSE
	// confirmed its keys — takes InitialRTT as its first RTT sample, and
	// sends PING and RESET_TOKEN at once so the responder can confirm. A
	// responder's sends nothing until the initiator's first packet opens,
	// and ends silently if none does within ConfirmTimeout (0: the idle
	// timeout).
	Resumed        bool
	InitialRTT     time.Duration
	ConfirmTimeout time.Duration
	// Ticket, for a responder, is the NEW_TICKET blob (docs/PROTOCOL.md)
	// for the initiator; nil sends none. Install keeps the slice.
	Ticket []byte

	firstPN uint64 // first packet number to send (0; tests start near the limit)
}

// SetSecrets sets the session's traffic secrets: send protects what this
// side sends, recv what it receives. Install moves them into the session
// and wipes them here; the caller wipes its own copies.
func (p *SessionParams) SetSecrets(send, recv stc.Secret) { p.send, p.recv = send, recv }

// SessionStats is a snapshot of a session's counters: the seed's list
// (bytes and messages sent/received, created, last active, active streams)
// plus transport health. Safe to call from any goroutine.
type SessionStats struct {
	BytesSent, BytesReceived       uint64 // stream payload bytes written by the app / delivered to it
	MessagesSent, MessagesReceived uint64 // SendMessage / ReceiveMessage calls
	// MessagesAbandoned counts messages of latency-bounded streams this
	// side gave up on (their deadline passed before they were delivered);
	// MessagesSkipped counts those the peer gave up on, as reported to
	// ReceiveMessage.
	MessagesAbandoned, MessagesSkipped uint64
	PacketsSent, PacketsReceived       uint64
	PacketsLost, PacketsRetransmitted  uint64
	PacketsSpuriouslyLost              uint64 // declared lost, then acknowledged: reordering (loss detection adapts to it)
	Created, LastActive                time.Time
	ActiveStreams                      int
	SmoothedRTT, MinRTT, LatestRTT     time.Duration
	CongestionWindow                   int
	// DatagramSize is the size of the datagrams the session sends now: it
	// starts at 1452 (or less) and path MTU discovery raises it up to the
	// path's limit (Config.MaxDatagram caps it). PMTUProbes counts the
	// probes sent; PMTUBlackHoles the times the size had to fall back
	// because large packets stopped getting through.
	DatagramSize                           int
	PMTUProbes, PMTUBlackHoles             uint64
	CongestionControl                      string // "bbr" or "cubic" (Config.CongestionControl)
	PacingRate                             uint64 // bytes per second the sender paces at (0 before the first send)
	KeyRotationsSent, KeyRotationsReceived uint64
	Suite                                  string
	// Drops by cause.
	DropsAuth, DropsReplay, DropsMalformed, DropsCustomUnregistered uint64
	// DropsGaps counts packets left unacknowledged because a stream had no
	// room for another out-of-order range (the peer resends them).
	DropsGaps uint64
	// MigrationsRefused counts packets from a new address that did not move
	// the session (not the newest packet, or within a PTO of the last move);
	// PathValidationFailures counts migrations undone because the new path
	// never answered its PATH_CHALLENGE.
	MigrationsRefused, PathValidationFailures uint64
}

// sessionCounters are updated by the loop and read by Stats from any
// goroutine.
type sessionCounters struct {
	bytesWritten, bytesRead           atomic.Uint64
	msgsSent, msgsRecv                atomic.Uint64
	pktsSent, pktsRecv                atomic.Uint64
	pktsLost, pktsRetx                atomic.Uint64
	pktsSpurious                      atomic.Uint64
	lastActive                        atomic.Int64 // monotime.Time
	srtt, minRTT, latestRTT           atomic.Int64
	cwnd                              atomic.Int64
	pacing                            atomic.Uint64
	rotSent, rotRecv                  atomic.Uint64
	dropAuth, dropReplay, dropMalform atomic.Uint64
	dropCustom                        atomic.Uint64
	msgsAbandoned, msgsSkipped        atomic.Uint64
	pmtuProbes, pmtuBlackHoles        atomic.Uint64
	dropGaps, dropMigrate             atomic.Uint64
	pathFailures                      atomic.Uint64
	activeStreams                     atomic.Int64
}

// control-frame bits recorded in recovery.SentPacket.Ctrl so a lost packet
// re-queues what it carried.
const (
	ctrlMaxData    = 1 << iota // MAX_DATA
	ctrlMaxStreams             // MAX_STREAMS
	ctrlFinal                  // FINAL
	ctrlPing                   // PING
	ctrlClose                  // CLOSE
	ctrlPath                   // PATH_CHALLENGE/RESPONSE
	ctrlResetToken             // RESET_TOKEN
	ctrlNewTicket              // NEW_TICKET (responder)
)

// Session is an established, encrypted connection to one peer, carrying
// streams. Its methods are safe for concurrent use. It is owned by one loop
// of the data plane; each group of fields below names its owner (see the
// package doc, "Concurrency").
type Session struct {
	// Owner: immutable. Set by newSession before the session is
	// published; read by any goroutine.
	id        wire.SessionID
	initiator bool
	peerID    stc.NodeID
	suite     stc.Suite
	cfg       *Config
	loop      *loop
	created   time.Time
	handle    any // Config.SessionHandle's result; set before the session is published

	// Owner: shared. Atomics and channels: written by the loop, read (and
	// waited on) by any goroutine.
	state     atomic.Int32
	done      chan struct{} // closed when the session is closed
	closing   chan struct{} // closed when CLOSE has been queued (Closing or Closed)
	closingMu sync.Once
	closeOnce sync.Once
	closeErr  atomic.Pointer[error]
	confirmed chan struct{}                  // the initiator's Established.Confirmed; closed (by the loop) at the first packet that opens
	remote    atomic.Pointer[netip.AddrPort] // the peer's address, for RemoteAddr

	stats sessionCounters // written by the loop and the API, read by Stats

	framesQueued atomic.Int64 // application frames posted, not yet sent
	apiDatagram  atomic.Int64 // maxDatagram, for MaxFramePayload on API goroutines

	// Owner: api.mu. The API goroutines' state. The loop takes api.mu only
	// off the per-packet path: when a stream opens (queueAccept,
	// registerLocal), on the rare miss of streamFor, and on MAX_STREAMS.
	api struct {
		mu           sync.Mutex    // protects the fields below
		nextLocal    wire.StreamID // next stream ID we open
		openedLocal  uint64        // streams we opened
		peerMaxStrms uint64        // streams we may open in total (peer's MAX_STREAMS)
		limitCh      chan struct{} // made by a waiting OpenStream; closed (and cleared) when peerMaxStrms grows
		accepts      []*Stream     // peer-opened streams for AcceptStream (at most MaxStreams unfinished)
		acceptCh     chan struct{} // made by a waiting AcceptStream; signalled when accepts grows
		handler      func(*Stream) // set by HandleStreams: takes peer-opened streams instead of accepts
		// opening holds streams OpenStream returned whose opStreamOpen the
		// loop has not run yet. Commands from different goroutines reach
		// the loop in any order, so the peer can answer on stream 5 (opened
		// implicitly by stream 7's first frame) before stream 5's command
		// arrives; the loop then registers it from here (registerLocal).
		opening map[wire.StreamID]*Stream
	}

	// Owner: loop. Everything below is touched only by s.loop's goroutine.
	hot *sessionHot // the state moving packets needs; nil while hibernating (hibernate.go): pass Session.ready first

	peer          netip.AddrPort
	peerStreamMax uint64 // peer's initial per-stream credit (transport parameter)
	peerIdle      time.Duration
	sendSecret    stc.Secret // secret of sendKey
	keyPackets    uint64     // packets sealed with sendKey
	keyBytes      uint64
	keyStart      monotime.Time
	keyUpdPN      uint64        // first PN sealed with the current key after an update
	keyAckedAt    monotime.Time // when keyUpdAcked last became true (0: initial keys)
	rotateAt      uint64        // packets under the current key before the next rotation

	recvSecret stc.Secret // secret of recvKey
	recvFirst  uint64     // first PN opened under recvKey
	prevExpiry monotime.Time
	replayMax  uint64 // replay window's highest PN while hibernating
	failed     uint64 // failed opens across keys (integrity limit)

	nextPN      uint64
	skipPN      uint64 // next PN to skip deliberately (optimistic-ACK detection)
	rtt         recovery.RTT
	lastAckEl   monotime.Time // last ack-eliciting packet sent
	lastRecv    monotime.Time // last authenticated packet received
	lastAcked   monotime.Time // last time a packet of ours was newly acknowledged
	lastSend    monotime.Time
	wokeAt      monotime.Time // last wake from hibernation
	installedAt monotime.Time // when the loop installed the session (the initiator's AUTH_PROOF went out)
	confirmWait time.Duration // a resumed responder's wait for the initiator's first packet (0: idle timeout)
	ticket      []byte        // responder: the NEW_TICKET blob to send; nil once acknowledged
	sleptBW     float64       // BBR's bandwidth estimate (bytes/s) when the session last hibernated
	sleptAt     monotime.Time // when it last hibernated
	timer       recovery.Timer
	maxDatagram int       // bytes per datagram now (path MTU discovery moves it: pmtu.go)
	pmtu        pmtuState // the path MTU search

	sendWin streambuf.SendWindow
	recvWin *streambuf.RecvWindow

	streams         map[wire.StreamID]*Stream
	bounded         []*Stream     // latency-bounded streams with messages to watch (bounded.go)
	nextExpiry      monotime.Time // earliest message expiry among them (0: none)
	peerStreamsSeen uint64        // highest peer stream index opened (implicitly opens lower ones)
	localMaxStreams uint64        // MAX_STREAMS we advertised (cumulative)
	peerStreamsDone uint64        // peer streams fully finished (to raise localMaxStreams)

	closeCode    uint64
	closeReason  string
	drainDL      monotime.Time
	closingUntil monotime.Time            // after CLOSE sent: linger, answer packets with CLOSE
	closingRecv  uint64                   // packets received while closing (rate-limits CLOSE replies)
	pathRecv     uint64                   // bytes received on an unvalidated new path
	pathSent     uint64                   // bytes sent on an unvalidated new path
	validPeer    netip.AddrPort           // the last validated address (fallback during a validation)
	migratedAt   monotime.Time            // last migration (at most one per PTO)
	pathDeadline monotime.Time            // validation of the new path fails at this time (0: none running)
	peerToken    [wire.ResetTokenLen]byte // the peer's stateless reset token (RESET_TOKEN)
	localToken   [wire.ResetTokenLen]byte // ours for this session (Config.ResetToken), sent in RESET_TOKEN
	peerTokenSet bool

	// Flags, kept together: each bool among 8-byte fields costs 7 bytes of
	// padding, and the struct must stay within malloc's 1280-byte size
	// class (TestSessionSize), which every idle session pays.
	sendPhase    bool // key phase of sendKey
	keyUpdAcked  bool // a packet sealed with the current key has been acknowledged
	recvPhase    bool // key phase of recvKey
	resumed      bool // from a resumed handshake (SessionParams.Resumed)
	closedByPeer bool
	draining     bool // Close called: send CLOSE once all streams are done
	dirty        bool // queued in the loop's flush list
	pathValid    bool
}

// ID returns the session ID: the XOR of both nonces and node IDs (first 8
// bytes), identical on both ends.
func (s *Session) ID() wire.SessionID { return s.id }

// PeerID returns the authenticated node ID of the peer.
func (s *Session) PeerID() stc.NodeID { return s.peerID }

// Initiator reports whether this side dialled the session.
func (s *Session) Initiator() bool { return s.initiator }

// RemoteAddr returns the peer's current UDP address (it changes when the
// peer migrates and the new address is authenticated).
func (s *Session) RemoteAddr() netip.AddrPort {
	if p := s.remote.Load(); p != nil {
		return *p
	}
	return netip.AddrPort{}
}

// State returns the session's lifecycle state.
func (s *Session) State() SessionState { return SessionState(s.state.Load()) }

// Done returns a channel closed when the session is closed.
func (s *Session) Done() <-chan struct{} { return s.done }

// Err returns why the session closed, or nil while it is open.
func (s *Session) Err() error { return s.closedErr() }

func (s *Session) closedErr() error {
	if p := s.closeErr.Load(); p != nil {
		return *p
	}
	return nil
}

// Stats returns a snapshot of the session's counters.
func (s *Session) Stats() SessionStats {
	c := &s.stats
	return SessionStats{
		BytesSent:               c.bytesWritten.Load(),
		BytesReceived:           c.bytesRead.Load(),
		MessagesSent:            c.msgsSent.Load(),
		MessagesReceived:        c.msgsRecv.Load(),
		MessagesAbandoned:       c.msgsAbandoned.Load(),
		MessagesSkipped:         c.msgsSkipped.Load(),
		PacketsSent:             c.pktsSent.Load(),
		PacketsReceived:         c.pktsRecv.Load(),
		PacketsLost:             c.pktsLost.Load(),
		PacketsRetransmitted:    c.pktsRetx.Load(),
		PacketsSpuriouslyLost:   c.pktsSpurious.Load(),
		Created:                 s.created,
		LastActive:              monotime.Time(c.lastActive.Load()).Time(),
		ActiveStreams:           int(c.activeStreams.Load()),
		SmoothedRTT:             time.Duration(c.srtt.Load()),
		MinRTT:                  time.Duration(c.minRTT.Load()),
		LatestRTT:               time.Duration(c.latestRTT.Load()),
		CongestionWindow:        int(c.cwnd.Load()),
		DatagramSize:            int(s.apiDatagram.Load()),
		PMTUProbes:              c.pmtuProbes.Load(),
		PMTUBlackHoles:          c.pmtuBlackHoles.Load(),
		CongestionControl:       s.ccName(),
		PacingRate:              c.pacing.Load(),
		KeyRotationsSent:        c.rotSent.Load(),
		KeyRotationsReceived:    c.rotRecv.Load(),
		Suite:                   s.suite.String(),
		DropsAuth:               c.dropAuth.Load(),
		DropsReplay:             c.dropReplay.Load(),
		DropsMalformed:          c.dropMalform.Load(),
		DropsCustomUnregistered: c.dropCustom.Load(),
		DropsGaps:               c.dropGaps.Load(),
		MigrationsRefused:       c.dropMigrate.Load(),
		PathValidationFailures:  c.pathFailures.Load(),
	}
}

// OpenStream opens a new stream. It blocks while the peer's concurrent
// stream limit is reached, until ctx ends (ErrStreamLimit wrapping
// ctx.Err()) or the session closes.
func (s *Session) OpenStream(ctx context.Context) (*Stream, error) {
	return s.OpenStreamWith(ctx, StreamOptions{})
}

// StreamOptions configures a stream opened with OpenStreamWith.
type StreamOptions struct {
	// Deadline, when positive, makes the stream latency-bounded
	// (bounded.go): a message written with SendMessage that is not
	// delivered within Deadline of being written is abandoned, and the
	// receiver's ReceiveMessage reports it as skipped. Write is refused
	// (ErrMessagesOnly). Zero: an ordinary reliable stream.
	Deadline time.Duration
}

// OpenStreamWith is OpenStream with options.
func (s *Session) OpenStreamWith(ctx context.Context, opts StreamOptions) (*Stream, error) {
	for {
		if err := s.closedErr(); err != nil {
			return nil, err
		}
		s.api.mu.Lock()
		if s.api.openedLocal < s.api.peerMaxStrms {
			id := s.api.nextLocal
			s.api.nextLocal += 2
			s.api.openedLocal++
			st := s.newStream(id, s.peerStreamMax)
			if opts.Deadline > 0 {
				st.bounded = &boundedState{deadline: opts.Deadline}
			}
			if s.api.opening == nil {
				s.api.opening = make(map[wire.StreamID]*Stream)
			}
			s.api.opening[id] = st
			s.api.mu.Unlock()
			s.loop.post(cmd{op: opStreamOpen, stream: st})
			return st, nil
		}
		if s.api.limitCh == nil {
			s.api.limitCh = make(chan struct{})
		}
		ch := s.api.limitCh
		s.api.mu.Unlock()
		select {
		case <-ch:
		case <-s.done:
		case <-ctx.Done():
			return nil, &limitError{ctx.Err()}
		}
	}
}

type limitError struct{ cause error }

func (e *limitError) Error() string { return ErrStreamLimit.Error() + ": " + e.cause.Error() }
func (e *limitError) Unwrap() []error {
	return []error{ErrStreamLimit, e.cause}
}

// AcceptStream returns the next stream the peer opened, blocking until
// one arrives, ctx ends, or the session closes.
func (s *Session) AcceptStream(ctx context.Context) (*Stream, error) {
	for {
		s.api.mu.Lock()
		if len(s.api.accepts) > 0 {
			st := s.api.accepts[0]
			s.api.accepts[0] = nil
			s.api.accepts = s.api.accepts[1:]
			if len(s.api.accepts) == 0 {
				s.api.accepts = nil // release the backing array
			}
			s.api.mu.Unlock()
			return st, nil
		}
		if s.api.acceptCh == nil {
			s.api.acceptCh = make(chan struct{}, 1)
		}
		ch := s.api.acceptCh
		s.api.mu.Unlock()
		select {
		case <-ch:
		case <-s.done:
			s.api.mu.Lock()
			n := len(s.api.accepts)
			s.api.mu.Unlock()
			if n == 0 {
				return nil, s.closedErr()
			}
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// HandleStreams routes every peer-opened stream to h instead of the
// AcceptStream queue: first those already queued and not yet accepted, in
// order, then each new one as it arrives. It lets a caller take over a
// session's streams at any time without stranding one that arrived
// earlier. h runs on the caller's goroutine for queued streams and on the
// session's loop goroutine for new ones, so it must not block. Once set,
// AcceptStream waits for nothing; a second call replaces h.
func (s *Session) HandleStreams(h func(*Stream)) {
	s.api.mu.Lock()
	s.api.handler = h
	queued := s.api.accepts
	s.api.accepts = nil
	s.api.mu.Unlock()
	for _, st := range queued {
		h(st)
	}
}

// queueAccept hands a peer-opened stream to AcceptStream, or to the
// HandleStreams handler.
func (s *Session) queueAccept(st *Stream) {
	s.api.mu.Lock()
	if h := s.api.handler; h != nil {
		s.api.mu.Unlock()
		h(st)
		return
	}
	s.api.accepts = append(s.api.accepts, st)
	ch := s.api.acceptCh
	s.api.mu.Unlock()
	if ch != nil {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

// Close closes the session gracefully: it waits (bounded by the idle
// timeout) until the peer has acknowledged all data written to every
// stream, then sends CLOSE and returns; the session lingers in Closing for
// three PTOs to answer stray packets, then is Closed (Done).
func (s *Session) Close() error {
	return s.CloseContext(context.Background())
}

// CloseContext is Close bounded by ctx: when ctx ends before the drain
// completes the session is closed immediately.
func (s *Session) CloseContext(ctx context.Context) error {
	return s.Drain(ctx, CodeNoError, "")
}

// Drain is CloseContext with the code and reason its CLOSE carries (the
// node uses CodeNodeStopping when it stops).
func (s *Session) Drain(ctx context.Context, code uint64, reason string) error {
	if s.State() == StateClosed {
		return nil
	}
	if len(reason) > wire.MaxCloseReason {
		reason = reason[:wire.MaxCloseReason]
	}
	s.loop.post(cmd{op: opSessionDrain, sess: s, code: code, reason: reason})
	select {
	case <-s.closing:
	case <-s.done:
	case <-ctx.Done():
		s.CloseWithError(code, "close: context ended before drain")
		select {
		case <-s.closing:
		case <-s.done:
		}
	}
	return nil
}

// CloseWithError closes the session at once with an application code and
// reason, sent to the peer in CLOSE; unsent data is discarded.
func (s *Session) CloseWithError(code uint64, reason string) {
	if len(reason) > wire.MaxCloseReason {
		reason = reason[:wire.MaxCloseReason]
	}
	s.loop.post(cmd{op: opSessionClose, sess: s, code: code, reason: reason})
}

func (s *Session) newStream(id wire.StreamID, peerMax uint64) *Stream {
	st := &Stream{
		id:        id,
		sess:      s,
		send:      streambuf.NewSendTuned(min(initialSendBuffer, s.cfg.SendBuffer), s.cfg.SendBuffer),
		kickRead:  make(chan struct{}, 1),
		kickWrite: make(chan struct{}, 1),
		recv:      streambuf.NewRecv(s.cfg.StreamWindow, s.cfg.MaxStreamWindow, s.cfg.MaxGaps),
	}
	st.peerMaxData = peerMax
	st.send.SetPeerLimit(peerMax)
	st.advertised = uint64(s.cfg.StreamWindow)
	if h := s.cfg.StreamHandle; h != nil {
		st.handle = h(st)
	}
	return st
}

// ccName is the configured controller's name for stats.
func (s *Session) ccName() string {
	if s.cfg.CongestionControl == CongestionCubic {
		return CongestionCubic
	}
	return CongestionBBR
}

// Handle returns what Config.SessionHandle built for s (nil without one).
func (s *Session) Handle() any { return s.handle }

// peerStopped returns the *StreamError for a stream the peer asked to stop
// (STOP_SENDING), or nil.
func (s *Session) peerStopped(st *Stream) error {
	if st.peerStopped.Load() {
		return &StreamError{StreamID: st.id, Code: st.peerStopCode.Load(), Remote: true}
	}
	return nil
}

func (s *Session) queueReset(st *Stream, code uint64) {
	s.loop.post(cmd{op: opStreamReset, stream: st, code: code})
}

func (s *Session) queueStop(st *Stream, code uint64) {
	s.loop.post(cmd{op: opStreamStop, stream: st, code: code})
}

// isLocal reports whether id is of the parity this side opens.
func (s *Session) isLocal(id wire.StreamID) bool {
	odd := id&1 == 1
	return odd == s.initiator
}

// streamIndex maps a stream ID to its 1-based index among its side's IDs.
func streamIndex(id wire.StreamID) uint64 { return (uint64(id) + 1) / 2 }

// streamIDFromIndex is the inverse of streamIndex for the given parity.
func streamIDFromIndex(idx uint64, odd bool) wire.StreamID {
	if odd {
		return wire.StreamID(2*idx - 1)
	}
	return wire.StreamID(2 * idx)
}

// registerLocal adds a stream this side opened to the loop's map, once:
// from its opStreamOpen, or earlier from streamFor when the peer already
// answers on it. A stream finished and removed meanwhile stays removed.
func (s *Session) registerLocal(st *Stream) {
	if st.removed || s.streams[st.id] != nil {
		return
	}
	s.api.mu.Lock()
	delete(s.api.opening, st.id)
	if len(s.api.opening) == 0 {
		s.api.opening = nil
	}
	s.api.mu.Unlock()
	s.addStream(st)
}

// addStream registers st in the loop-owned stream map (created lazily so
// idle sessions without streams do not carry one).
func (s *Session) addStream(st *Stream) {
	if s.streams == nil {
		s.streams = make(map[wire.StreamID]*Stream)
	}
	s.streams[st.id] = st
	s.stats.activeStreams.Add(1)
}

// ErrFrameType is returned by SendFrame for a type below 0x80 (reserved).
var ErrFrameType = errors.New("stt: frame types 0x00-0x7F are reserved to STT; application frames use 0x80-0xFF")

// ErrFrameTooLarge is returned by SendFrame for a payload that cannot fit
// one packet.
var ErrFrameTooLarge = errors.New("stt: application frame does not fit one packet")

// ErrFrameQueueFull is returned by SendFrame when maxQueuedFrames
// application frames already wait to be sent.
var ErrFrameQueueFull = errors.New("stt: application frame queue full")

// MaxFramePayload returns the largest payload SendFrame accepts on this
// session: what fits one packet with the frame's type and length.
func (s *Session) MaxFramePayload() int {
	room := int(s.apiDatagram.Load()) - wire.HeaderLen - stc.Overhead
	return room - 1 - wire.VarintLen(uint64(room))
}

// SendFrame sends one application frame (type 0x80-0xFF) to the peer's
// FrameDispatcher. The payload is copied. Application frames are
// datagrams: encrypted and authenticated like everything else, each in one
// packet, delivered at most once and possibly out of order, and NOT
// retransmitted if lost — build reliability on a stream if you need it.
// Errors: ErrFrameType, ErrFrameTooLarge, ErrFrameQueueFull, and the
// session's error once it is closed.
func (s *Session) SendFrame(typ byte, payload []byte) error {
	if typ < byte(wire.FrameCustomMin) {
		return ErrFrameType
	}
	if len(payload) > s.MaxFramePayload() {
		return ErrFrameTooLarge
	}
	if err := s.closedErr(); err != nil {
		return err
	}
	if s.framesQueued.Add(1) > maxQueuedFrames {
		s.framesQueued.Add(-1)
		return ErrFrameQueueFull
	}
	s.loop.post(cmd{op: opCustomFrame, sess: s, code: uint64(typ), pkt: append([]byte(nil), payload...)})
	return nil
}

// SessionEventKind says what a SessionEvent reports.
type SessionEventKind uint8

// Session events (Config.OnSessionEvent).
const (
	EventStreamOpened SessionEventKind = iota + 1 // the peer opened Stream
	EventKeyRotated                               // a traffic key was updated: ours (Send) or the peer's
	EventPathMigrated                             // the peer's address changed From → To; Validated says whether To answered its challenge yet
)

// SessionEvent is one lifecycle event of a session (Config.OnSessionEvent).
type SessionEvent struct {
	Kind      SessionEventKind
	Stream    *Stream        // EventStreamOpened
	Send      bool           // EventKeyRotated: our send key (else the peer's)
	Rotations uint64         // EventKeyRotated: updates in that direction so far
	From, To  netip.AddrPort // EventPathMigrated
	Validated bool           // EventPathMigrated
}

// event reports ev to Config.OnSessionEvent.
func (s *Session) event(ev *SessionEvent) {
	if h := s.cfg.OnSessionEvent; h != nil {
		h(s, ev)
	}
}
