package main

// stt conformance: a scripted STT peer that drives another implementation
// (any node listening like `stt listen`) through the handshake, data on a
// stream, key updates, a migration and a close, and through the cases it
// must refuse (docs/TRANSPORT.md "Conformance"). It builds every datagram
// itself from package wire's codecs, package stc's packet protection and
// control.Initiator's handshake messages, so it can send what a correct
// node never would (stale or replayed handshakes, data beyond credit,
// frames on forbidden streams) and see exactly what comes back.
//
// Each case prints one line: PASS, FAIL (a MUST of the docs is broken),
// WARN (a SHOULD is not followed, e.g. another close code) or SKIP (not
// exercised, with the reason). The exit status is non-zero on any FAIL.

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/stt-go/stt/control"
	"github.com/stt-go/stt/stc"
	"github.com/stt-go/stt/wire"
)

// Defaults of the conformance run.
const (
	// confTimeout bounds each wait for something the peer must send: far
	// above a loopback or LAN round trip, so only a peer that never answers
	// reaches it.
	confTimeout = 3 * time.Second
	// confQuiet is how long a case listens for an answer that must not
	// come (a replayed HELLO, a packet after CLOSE).
	confQuiet = 500 * time.Millisecond
	// confRTO is the tool's own retransmission timeout for its data: it
	// resends unacknowledged frames in new packets after this long.
	confRTO = 300 * time.Millisecond
	// confWindow bounds the tool's packets in flight.
	confWindow = 64
	// confMaxDatagram is the largest datagram the tool sends (and the
	// MaxDatagram it announces).
	confMaxDatagram = 1452
	// confCredit is the stream and session credit the tool grants the
	// peer, large enough that it never needs to send MAX_*DATA.
	confCredit = 64 << 20
	// echoMessages and echoSize shape the data case: enough packets that a
	// node rotating its keys after ~100 packets (this implementation's
	// policy) does so within the case.
	echoMessages, echoSize = 300, 1000
)

// Close codes (docs/TRANSPORT.md "Close").
const (
	closeFlowControl = 0x2
	closeStreamLimit = 0x3
	closeProtocol    = 0x4
)

// verdict is a case outcome.
type verdict string

const (
	vPass verdict = "PASS"
	vFail verdict = "FAIL"
	vWarn verdict = "WARN"
	vSkip verdict = "SKIP"
)

// caseResult is one printed line.
type caseResult struct {
	Name    string
	Verdict verdict
	Detail  string
}

// confConfig configures a run.
type confConfig struct {
	Peer       netip.AddrPort
	Bind       netip.Addr // local address for the tool's sockets
	NodeSeed   []byte
	SharedSeed []byte
	Hybrid     bool
	Timeout    time.Duration
	Quiet      time.Duration
	Run        *regexp.Regexp // nil: every case
}

func runConformance(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("conformance", "conformance --peer HOST:PORT --node-seed FILE --shared-seed FILE [flags]", stderr)
	peer := fs.String("peer", "", "the node under test, UDP `HOST:PORT` (required)")
	nodeSeed := fs.String("node-seed", "", "this tool's node seed `FILE` (else hex in $"+envNodeSeed+")")
	sharedSeed := fs.String("shared-seed", "", "the shared seed `FILE` the node holds (else hex in $"+envSharedSeed+")")
	bind := fs.String("bind", "", "local `ADDRESS` for the tool's sockets (default: one that reaches --peer)")
	hybrid := fs.Bool("hybrid", true, "use the hybrid (ML-KEM-768) handshake for the session cases")
	timeout := fs.Duration("timeout", confTimeout, "wait at most this `duration` for an answer the node must send")
	quiet := fs.Duration("quiet", confQuiet, "listen this `duration` for an answer the node must not send")
	runRE := fs.String("run", "", "run only the cases whose name matches `REGEXP`")
	if err := fs.parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	if *peer == "" {
		return usagef("--peer HOST:PORT is required")
	}
	if *timeout <= 0 || *quiet <= 0 {
		return usagef("--timeout and --quiet must be positive")
	}
	cfg := confConfig{Hybrid: *hybrid, Timeout: *timeout, Quiet: *quiet}
	if *runRE != "" {
		re, err := regexp.Compile(*runRE)
		if err != nil {
			return usagef("--run: %v", err)
		}
		cfg.Run = re
	}
	ua, err := net.ResolveUDPAddr("udp", *peer)
	if err != nil {
		return usagef("--peer %q: %v", *peer, err)
	}
	cfg.Peer = netip.AddrPortFrom(ua.AddrPort().Addr().Unmap(), ua.AddrPort().Port())
	local := *bind
	if local == "" {
		if local, err = bindFor(*peer); err != nil {
			return err
		}
	}
	if ap, err := netip.ParseAddrPort(local); err == nil {
		cfg.Bind = ap.Addr()
	} else if a, err := netip.ParseAddr(local); err == nil {
		cfg.Bind = a
	} else {
		return usagef("--bind %q: want an IP address", local)
	}
	if cfg.NodeSeed, err = loadSeed("node-seed", *nodeSeed, envNodeSeed, stderr); err != nil {
		return err
	}
	if cfg.SharedSeed, err = loadSeed("shared-seed", *sharedSeed, envSharedSeed, stderr); err != nil {
		return err
	}
	results, err := conformance(ctx, &cfg, stdout)
	if err != nil {
		return err
	}
	var failed []string
	for _, r := range results {
		if r.Verdict == vFail {
			failed = append(failed, r.Name)
		}
	}
	if len(failed) > 0 {
		return fmt.Errorf("%d of %d cases failed: %s", len(failed), len(results), strings.Join(failed, ", "))
	}
	return nil
}

// conformance runs every case against cfg.Peer, printing one line per case
// to out as it completes, and returns the results.
func conformance(ctx context.Context, cfg *confConfig, out io.Writer) ([]caseResult, error) {
	t, err := newTester(ctx, cfg, out)
	if err != nil {
		return nil, err
	}
	defer t.close()
	t.run()
	counts := map[verdict]int{}
	for _, r := range t.results {
		counts[r.Verdict]++
	}
	fmt.Fprintf(out, "summary: %d PASS, %d WARN, %d SKIP, %d FAIL against %v\n",
		counts[vPass], counts[vWarn], counts[vSkip], counts[vFail], cfg.Peer)
	return t.results, ctx.Err()
}

// tester holds what the cases share: configuration, sockets, results.
type tester struct {
	ctx      context.Context
	cfg      *confConfig
	out      io.Writer
	identity *stc.Identity
	psk      [32]byte
	in       chan inbound
	wg       sync.WaitGroup
	mu       sync.Mutex
	socks    []*net.UDPConn
	results  []caseResult
	// cookies holds the cookie the node gave each of our source
	// addresses; cookieReplies counts COOKIE_REPLYs seen.
	cookies       map[netip.AddrPort][wire.CookieLen]byte
	cookieReplies int
	// peerSuites records which suites the node accepted when offered alone.
	peerSuites map[stc.Suite]bool
}

// inbound is one datagram received on one of the tool's sockets.
type inbound struct {
	sock *net.UDPConn
	b    []byte
	from netip.AddrPort
}

func newTester(ctx context.Context, cfg *confConfig, out io.Writer) (*tester, error) {
	id, err := stc.NewIdentity(cfg.NodeSeed)
	if err != nil {
		return nil, fmt.Errorf("--node-seed: %w", err)
	}
	psk, err := stc.DerivePSK(cfg.SharedSeed)
	if err != nil {
		return nil, fmt.Errorf("--shared-seed: %w", err)
	}
	return &tester{ctx: ctx, cfg: cfg, out: out, identity: id, psk: psk, in: make(chan inbound, 4096),
		cookies: map[netip.AddrPort][wire.CookieLen]byte{}, peerSuites: map[stc.Suite]bool{}}, nil
}

// socket opens a new UDP socket on the bind address with a reader
// goroutine feeding t.in.
func (t *tester) socket() (*net.UDPConn, error) {
	c, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(t.cfg.Bind, 0)))
	if err != nil {
		return nil, fmt.Errorf("conformance: open a UDP socket: %w", err)
	}
	t.mu.Lock()
	t.socks = append(t.socks, c)
	t.mu.Unlock()
	t.wg.Add(1)
	go func() {
		defer t.wg.Done()
		for {
			buf := make([]byte, 65536)
			n, from, err := c.ReadFromUDPAddrPort(buf)
			if err != nil {
				if errors.Is(err, net.ErrClosed) {
					return
				}
				continue // e.g. ECONNREFUSED from an ICMP error: keep reading
			}
			select {
			case t.in <- inbound{sock: c, b: buf[:n], from: netip.AddrPortFrom(from.Addr().Unmap(), from.Port())}:
			default: // the tool is not reading: drop, as a kernel would
			}
		}
	}()
	return c, nil
}

func (t *tester) close() {
	t.mu.Lock()
	for _, c := range t.socks {
		c.Close()
	}
	t.mu.Unlock()
	t.wg.Wait()
}

func localAddr(c *net.UDPConn) netip.AddrPort {
	a := c.LocalAddr().(*net.UDPAddr).AddrPort()
	return netip.AddrPortFrom(a.Addr().Unmap(), a.Port())
}

// report records and prints a result.
func (t *tester) report(name string, v verdict, format string, args ...any) {
	r := caseResult{Name: name, Verdict: v, Detail: fmt.Sprintf(format, args...)}
	t.results = append(t.results, r)
	fmt.Fprintf(t.out, "%-4s  %-34s %s\n", r.Verdict, r.Name, r.Detail)
}

// want reports whether the case name is selected by --run.
func (t *tester) want(name string) bool {
	return t.ctx.Err() == nil && (t.cfg.Run == nil || t.cfg.Run.MatchString(name))
}

// initiatorConfig is the control.Config of the tool's handshakes.
func (t *tester) initiatorConfig(hybrid bool, suites []stc.Suite, psk [32]byte) *control.Config {
	return &control.Config{Identity: t.identity, PSK: psk, Hybrid: hybrid, Suites: suites,
		Params: control.TransportParams{MaxStreams: 256, InitialMaxData: confCredit, InitialMaxStreamData: confCredit,
			MaxDatagram: confMaxDatagram, IdleTimeoutMs: 30000}}
}

// drain discards datagrams already queued (late answers to earlier cases).
func (t *tester) drain() {
	for {
		select {
		case <-t.in:
		default:
			return
		}
	}
}

// next returns the next datagram from the peer, or false at the deadline.
func (t *tester) next(deadline time.Time) (inbound, bool) {
	tm := time.NewTimer(time.Until(deadline))
	defer tm.Stop()
	for {
		select {
		case in := <-t.in:
			if in.from == t.cfg.Peer {
				return in, true
			}
		case <-tm.C:
			return inbound{}, false
		case <-t.ctx.Done():
			return inbound{}, false
		}
	}
}

// helloReply is what came back to one HELLO.
type helloReply struct {
	response, cookieReply []byte
	rejects               int
	other                 int // handshake messages for other IDs, or unparsable
}

// exchangeHello sends hello from sock and collects the handshake answers
// for id until one RESPONSE or COOKIE_REPLY arrives or wait passes.
func (t *tester) exchangeHello(sock *net.UDPConn, hello []byte, id wire.SessionID, wait time.Duration) (helloReply, error) {
	var r helloReply
	if _, err := sock.WriteToUDPAddrPort(hello, t.cfg.Peer); err != nil {
		return r, err
	}
	deadline := time.Now().Add(wait)
	for {
		in, ok := t.next(deadline)
		if !ok {
			return r, nil
		}
		if in.sock != sock {
			continue
		}
		hid, typ, err := wire.ParseHandshakeType(in.b)
		if err != nil || hid != id {
			r.other++
			continue
		}
		switch typ {
		case wire.HandshakeResponse:
			r.response = in.b
			return r, nil
		case wire.HandshakeCookieReply:
			r.cookieReply = in.b
			return r, nil
		case wire.HandshakeReject:
			r.rejects++
		default:
			r.other++
		}
	}
}

// helloOpts shapes one handshake attempt.
type helloOpts struct {
	hybrid bool
	suites []stc.Suite // nil: every suite, this machine's preference first
	psk    *[32]byte   // nil: the shared seed's
	stamp  time.Time   // zero: now
}

// sendHello builds a HELLO per o (with the cookie this socket holds) and
// exchanges it; a COOKIE_REPLY that opens is answered once with a fresh
// HELLO carrying the cookie. It returns the Initiator of the last HELLO,
// its bytes and the reply.
func (t *tester) sendHello(sock *net.UDPConn, o helloOpts, wait time.Duration) (*control.Initiator, []byte, helloReply, error) {
	psk := t.psk
	if o.psk != nil {
		psk = *o.psk
	}
	for attempt := 0; ; attempt++ {
		x, err := control.NewInitiator(t.initiatorConfig(o.hybrid, o.suites, psk), nil)
		if err != nil {
			return nil, nil, helloReply{}, err
		}
		stamp := o.stamp
		if stamp.IsZero() {
			stamp = time.Now()
		}
		var cookie []byte
		if c, ok := t.cookies[localAddr(sock)]; ok {
			cookie = c[:]
		}
		hello, err := x.Hello(stamp, cookie)
		if err != nil {
			return nil, nil, helloReply{}, err
		}
		hello = bytes.Clone(hello)
		r, err := t.exchangeHello(sock, hello, x.ID(), wait)
		if err != nil || r.cookieReply == nil || attempt > 0 {
			return x, hello, r, err
		}
		c, err := x.OpenCookieReply(r.cookieReply)
		if err != nil {
			return x, hello, r, nil // not ours to open (another seed): the caller judges
		}
		t.cookieReplies++
		t.cookies[localAddr(sock)] = c
	}
}

// --- the session engine ---------------------------------------------------

// session is the tool's side of one established session: its keys, packet
// numbers, what it received and acknowledged, and what the node sent.
type session struct {
	t      *tester
	sock   *net.UDPConn // the current path
	sid    wire.SessionID
	suite  stc.Suite
	params control.TransportParams // the node's

	sendSecret   stc.Secret
	sendAEAD     *stc.PacketAEAD
	sendPhase    bool
	nextPN       uint64
	keyUpdPN     uint64 // first packet number under the current send key
	keyUpdAcked  bool   // a packet under the current send key has been acknowledged
	unacked      map[uint64]*sentPacket
	sentDatagram [][]byte // every datagram sent, for replays

	recvSecret          stc.Secret
	recvCur, recvNext   *stc.PacketAEAD
	recvPrev            *stc.PacketAEAD
	recvPhase           bool
	recvFirst           uint64 // first packet number under the current receive key
	received            map[uint64]bool
	largestRecv         uint64
	ackOwed             bool
	nodeKeyUpdates      int
	opened, failedOpens int

	final       *wire.FinalFrame
	firstFrames []string // frame names of the first packet that opened
	closed      *wire.CloseFrame
	challenges  map[*net.UDPConn][][8]byte
	bytesFrom   map[*net.UDPConn]int // bytes the node sent to each socket
	streams     map[wire.StreamID]*recvStream
	violations  []string // what the node did wrong on the way
	maxStreams  uint64
	// hello and authProof are the handshake messages that set the session
	// up, for the replay cases.
	hello, authProof []byte
}

type sentPacket struct {
	frames []byte // ack-eliciting frames without ACK, to resend
	at     time.Time
}

// recvStream reassembles one stream the node sends on.
type recvStream struct {
	data    []byte
	pending map[uint64][]byte
	fin     bool
	size    uint64
}

func newSession(t *tester, sock *net.UDPConn, est *control.Established) (*session, error) {
	s := &session{t: t, sock: sock, sid: est.SessionID, suite: est.Suite, params: est.PeerParams,
		unacked:  map[uint64]*sentPacket{},
		received: map[uint64]bool{}, challenges: map[*net.UDPConn][][8]byte{}, bytesFrom: map[*net.UDPConn]int{},
		streams: map[wire.StreamID]*recvStream{}, keyUpdAcked: true}
	s.sendSecret, s.recvSecret = est.Secrets()
	var err error
	if s.sendAEAD, err = stc.NewPacketAEAD(s.suite, s.sendSecret); err != nil {
		return nil, err
	}
	if s.recvCur, err = stc.NewPacketAEAD(s.suite, s.recvSecret); err != nil {
		return nil, err
	}
	s.recvNext, err = stc.NewPacketAEAD(s.suite, s.recvSecret.Next())
	return s, err
}

// seal builds and sends one packet with plaintext pt from the current
// path and returns its packet number. An ACK is prepended when one is
// owed and ack is set.
func (s *session) seal(pt []byte, ack bool) (uint64, []byte) {
	if ack && s.ackOwed {
		a := s.ackFrame()
		if wire.HeaderLen+len(a)+len(pt)+stc.Overhead > s.maxDatagram() && len(pt) > 0 {
			s.seal(nil, true) // the ACK alone first: together they would exceed the node's MaxDatagram
		} else {
			pt = append(a, pt...)
		}
	}
	pn := s.nextPN
	s.nextPN++
	hdr := wire.Header{Kind: wire.KindTransport, KeyPhase: s.sendPhase, SessionID: s.sid, PacketNumber: pn}
	buf := make([]byte, 0, wire.HeaderLen+len(pt)+stc.Overhead)
	buf = append(hdr.AppendTo(buf), pt...)
	dg := s.sendAEAD.Seal(buf, wire.HeaderLen, pn)
	_, _ = s.sock.WriteToUDPAddrPort(dg, s.t.cfg.Peer)
	s.sentDatagram = append(s.sentDatagram, dg)
	if ack {
		s.ackOwed = false
	}
	return pn, dg
}

// send sends frames (ack-eliciting ones are remembered for retransmission)
// and returns the packet number.
func (s *session) send(frames ...wire.Frame) uint64 {
	var pt []byte
	eliciting := false
	for i := range frames {
		pt = frames[i].AppendTo(pt)
		eliciting = eliciting || frames[i].IsAckEliciting()
	}
	pn, _ := s.seal(pt, true)
	if eliciting {
		s.unacked[pn] = &sentPacket{frames: pt, at: time.Now()}
	}
	return pn
}

// ackFrame encodes an ACK of what was received (newest 65 ranges).
func (s *session) ackFrame() []byte {
	var f wire.Frame
	f.Type, f.Sub = wire.FrameControl, wire.ControlAck
	pns := make([]uint64, 0, len(s.received))
	for pn := range s.received {
		pns = append(pns, pn)
	}
	slices.Sort(pns)
	for i := len(pns) - 1; i >= 0; {
		hi := pns[i]
		j := i
		for j > 0 && pns[j-1] == pns[j]-1 {
			j--
		}
		if f.Ack.AppendRange(pns[j], hi) != nil {
			break
		}
		i = j - 1
	}
	return f.AppendTo(nil)
}

// sendAck sends an ACK-only packet if one is owed.
func (s *session) sendAck() {
	if s.ackOwed {
		s.seal(nil, true)
	}
}

// retransmit resends, in new packets, frames unacknowledged for confRTO.
func (s *session) retransmit(now time.Time) {
	for pn, p := range s.unacked {
		if now.Sub(p.at) < confRTO {
			continue
		}
		delete(s.unacked, pn)
		npn, _ := s.seal(p.frames, true)
		s.unacked[npn] = &sentPacket{frames: p.frames, at: now}
	}
}

// wait processes datagrams until cond holds or d passes, retransmitting
// and acknowledging as it goes. It reports whether cond held.
func (s *session) wait(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) || s.t.ctx.Err() != nil {
			return false
		}
		step := min(time.Until(deadline), confRTO/3)
		if in, ok := s.t.next(time.Now().Add(step)); ok {
			s.handle(in)
			for more := true; more; { // the whole burst, then one ACK
				select {
				case in := <-s.t.in:
					if in.from == s.t.cfg.Peer {
						s.handle(in)
					}
				default:
					more = false
				}
			}
		}
		s.sendAck()
		if s.closed == nil {
			s.retransmit(time.Now())
		}
	}
	return true
}

// handle processes one datagram from the node.
func (s *session) handle(in inbound) {
	h, _, err := wire.ParseHeader(in.b)
	if err != nil || h.Kind != wire.KindTransport || h.SessionID != s.sid {
		return
	}
	s.bytesFrom[in.sock] += len(in.b)
	pn := h.PacketNumber
	if s.received[pn] {
		return // duplicate
	}
	var key *stc.PacketAEAD
	promote := false
	switch {
	case h.KeyPhase == s.recvPhase:
		key = s.recvCur
	case s.recvPrev != nil && pn < s.recvFirst:
		key = s.recvPrev
	default:
		key, promote = s.recvNext, true
	}
	pt, err := key.Open(bytes.Clone(in.b), wire.HeaderLen, pn)
	if err != nil {
		s.failedOpens++
		return
	}
	if promote {
		s.recvPrev, s.recvCur = s.recvCur, s.recvNext
		s.recvSecret = s.recvSecret.Next()
		s.recvNext, _ = stc.NewPacketAEAD(s.suite, s.recvSecret.Next())
		s.recvPhase = !s.recvPhase
		s.recvFirst = pn
		s.nodeKeyUpdates++
	}
	s.opened++
	s.received[pn] = true
	s.largestRecv = max(s.largestRecv, pn)
	if len(pt) == 0 {
		s.violations = append(s.violations, fmt.Sprintf("packet %d has no frames", pn))
	}
	var f wire.Frame
	first := s.opened == 1
	for len(pt) > 0 {
		n, err := wire.ParseFrame(pt, &f)
		if err != nil {
			s.violations = append(s.violations, fmt.Sprintf("packet %d: %v", pn, err))
			return
		}
		pt = pt[n:]
		if first {
			s.firstFrames = append(s.firstFrames, frameName(&f))
		}
		if f.IsAckEliciting() {
			s.ackOwed = true
		}
		s.frame(&f, in.sock)
	}
}

func frameName(f *wire.Frame) string {
	var names []string
	switch f.Type {
	case wire.FrameControl:
		names = []string{"", "ACK", "PING", "CLOSE", "MAX_DATA", "FINAL", "PATH_CHALLENGE", "PATH_RESPONSE", "RESET_TOKEN", "NEW_TICKET"}
	case wire.FrameStreamControl:
		names = []string{"", "RESET", "STOP_SENDING", "MAX_STREAM_DATA", "MAX_STREAMS", "STREAM_BLOCKED", "DATA_BLOCKED", "SKIP"}
	default:
		return f.Type.String()
	}
	if int(f.Sub) < len(names) {
		return names[f.Sub]
	}
	return fmt.Sprintf("%v/%#x", f.Type, f.Sub)
}

// frame applies one frame from the node.
func (s *session) frame(f *wire.Frame, sock *net.UDPConn) {
	switch f.Type {
	case wire.FrameData:
		s.data(&f.Data)
	case wire.FrameControl:
		switch f.Sub {
		case wire.ControlAck:
			if f.Ack.Largest() >= s.nextPN {
				s.violations = append(s.violations, fmt.Sprintf("ACK of packet %d, which we never sent", f.Ack.Largest()))
			}
			for pn := range s.unacked {
				if f.Ack.Acks(pn) {
					delete(s.unacked, pn)
				}
			}
			if !s.keyUpdAcked && f.Ack.Largest() >= s.keyUpdPN {
				for pn := s.keyUpdPN; pn <= f.Ack.Largest(); pn++ {
					if f.Ack.Acks(pn) {
						s.keyUpdAcked = true
						break
					}
				}
			}
		case wire.ControlClose:
			c := f.Close
			c.Reason = bytes.Clone(c.Reason)
			s.closed = &c
		case wire.ControlFinal:
			fin := f.Final
			s.final = &fin
		case wire.ControlPathChallenge:
			s.challenges[sock] = append(s.challenges[sock], f.PathChallenge.Data)
		}
	case wire.FrameStreamControl:
		if f.Sub == wire.StreamMaxStreams {
			s.maxStreams = max(s.maxStreams, f.MaxStreams.Max)
		}
	}
}

func (s *session) data(d *wire.DataFrame) {
	st := s.streams[d.StreamID]
	if st == nil {
		st = &recvStream{pending: map[uint64][]byte{}}
		s.streams[d.StreamID] = st
	}
	if d.Fin {
		st.fin, st.size = true, d.Offset+uint64(len(d.Data))
	}
	if len(d.Data) > 0 {
		st.pending[d.Offset] = bytes.Clone(d.Data)
	}
	for progress := true; progress; {
		progress = false
		for off, b := range st.pending {
			have := uint64(len(st.data))
			if off <= have && off+uint64(len(b)) > have {
				st.data = append(st.data, b[have-off:]...)
				progress = true
			}
			if off+uint64(len(b)) <= uint64(len(st.data)) {
				delete(st.pending, off)
			}
		}
	}
}

// complete reports whether stream id has been received to its FIN.
func (s *session) complete(id wire.StreamID) bool {
	st := s.streams[id]
	return st != nil && st.fin && uint64(len(st.data)) == st.size
}

// writeStream sends b on stream id from offset off (with FIN when fin),
// packetised under the node's datagram limit, at most confWindow packets
// in flight. announce prepends the stream's MAX_STREAM_DATA (how a stream
// is opened, docs/TRANSPORT.md).
func (s *session) writeStream(id wire.StreamID, off uint64, b []byte, fin, announce bool) bool {
	maxDG := s.maxDatagram()
	for first := true; first || len(b) > 0; first = false {
		if !s.wait(s.t.cfg.Timeout, func() bool { return len(s.unacked) < confWindow }) {
			return false
		}
		var frames []wire.Frame
		room := maxDG - wire.HeaderLen - stc.Overhead - 40 // 40: an ACK's worth
		if first && announce {
			a := wire.Frame{Type: wire.FrameStreamControl, Sub: wire.StreamMaxStreamData,
				MaxStreamData: wire.MaxStreamDataFrame{StreamID: id, Max: confCredit}}
			frames = append(frames, a)
			room -= a.Len()
		}
		n := min(len(b), wire.MaxDataFit(id, off, room))
		frames = append(frames, wire.Frame{Type: wire.FrameData, Data: wire.DataFrame{StreamID: id, Offset: off, Data: b[:n], Fin: fin && n == len(b)}})
		s.send(frames...)
		off += uint64(n)
		b = b[n:]
	}
	return true
}

// maxDatagram is the largest datagram the tool may send the node: its
// MaxDatagram (at least 1232, docs/HANDSHAKE.md), capped by our own.
func (s *session) maxDatagram() int {
	return min(confMaxDatagram, int(max(s.params.MaxDatagram, 1232)))
}

// ping sends a PING and waits for its acknowledgement.
func (s *session) ping() bool {
	pn := s.send(wire.Frame{Type: wire.FrameControl, Sub: wire.ControlPing})
	return s.wait(s.t.cfg.Timeout, func() bool { _, open := s.unacked[pn]; return !open })
}

// updateKey switches the send direction to its next traffic secret
// (docs/TRANSPORT.md "Key update"); it needs a packet under the current
// key acknowledged first.
func (s *session) updateKey() error {
	if !s.keyUpdAcked {
		return errors.New("no packet under the current key acknowledged yet")
	}
	s.sendSecret = s.sendSecret.Next()
	a, err := stc.NewPacketAEAD(s.suite, s.sendSecret)
	if err != nil {
		return err
	}
	s.sendAEAD, s.sendPhase = a, !s.sendPhase
	s.keyUpdPN, s.keyUpdAcked = s.nextPN, false
	return nil
}

// bye closes the session from our side (CLOSE, code 0) unless the node
// closed it, so that a run leaves no session behind on the node.
func (s *session) bye() {
	if s.closed == nil {
		s.send(wire.Frame{Type: wire.FrameControl, Sub: wire.ControlClose, Close: wire.CloseFrame{Reason: []byte("conformance case done")}})
	}
}

// finishProbe completes a handshake begun only to see the node's answer:
// AUTH_PROOF, then CLOSE once FINAL opened, so no half-open or idle state
// is left on the node (a node caps half-open state per source address and
// would start demanding cookies on a second run).
func (t *tester) finishProbe(sock *net.UDPConn, est *control.Established, proof []byte) {
	s, err := newSession(t, sock, est)
	if err != nil {
		return
	}
	_, _ = sock.WriteToUDPAddrPort(proof, t.cfg.Peer)
	if s.wait(t.cfg.Timeout, func() bool { return s.opened > 0 }) {
		s.bye()
	}
}

// closeCode describes the CLOSE the node sent, if any.
func (s *session) closeCode() string {
	if s.closed == nil {
		return "no CLOSE"
	}
	return fmt.Sprintf("CLOSE 0x%x %q", s.closed.Code, s.closed.Reason)
}

// --- establishing sessions -------------------------------------------------

// establish runs a complete handshake from a new socket and returns the
// session once FINAL has opened.
func (t *tester) establish(o helloOpts) (*session, string, error) {
	t.drain()
	sock, err := t.socket()
	if err != nil {
		return nil, "", err
	}
	start := time.Now()
	var r helloReply
	var x *control.Initiator
	var hello []byte
	for try := 0; try < 3 && r.response == nil; try++ {
		if x, hello, r, err = t.sendHello(sock, o, t.cfg.Timeout/2); err != nil {
			return nil, "", err
		}
	}
	if r.response == nil {
		what := "no answer"
		switch {
		case r.rejects > 0:
			what = fmt.Sprintf("%d REJECTs", r.rejects)
		case r.cookieReply != nil:
			what = "only COOKIE_REPLYs (the cookie was not accepted)"
		}
		return nil, "", fmt.Errorf("no RESPONSE to 3 HELLOs: %s", what)
	}
	if len(r.response) > len(hello) {
		return nil, "", fmt.Errorf("RESPONSE (%d bytes) is larger than the HELLO it answers (%d): amplification", len(r.response), len(hello))
	}
	est, proof, err := x.Response(r.response)
	if err != nil {
		return nil, "", fmt.Errorf("RESPONSE: %w", err)
	}
	s, err := newSession(t, sock, est)
	if err != nil {
		return nil, "", err
	}
	for try := 0; try < 2 && s.final == nil && s.opened == 0; try++ {
		if _, err := sock.WriteToUDPAddrPort(proof, t.cfg.Peer); err != nil {
			return nil, "", err
		}
		s.wait(t.cfg.Timeout/2, func() bool { return s.opened > 0 })
	}
	if s.opened == 0 {
		return nil, "", errors.New("AUTH_PROOF sent twice, no TRANSPORT packet (FINAL) came back")
	}
	detail := fmt.Sprintf("suite %v, HELLO %d B, RESPONSE %d B, FINAL after %v", est.Suite, len(hello), len(r.response), time.Since(start).Round(time.Microsecond))
	s.authProof = proof
	s.hello = hello
	return s, detail, nil
}

// --- the cases --------------------------------------------------------------

// run executes the cases in order.
func (t *tester) run() {
	t.caseHandshakes()
	t.caseSuites()
	t.caseSession()
	t.caseRefusals()
	t.caseViolations()
	if t.want("handshake/cookie") {
		if t.cookieReplies > 0 {
			t.report("handshake/cookie", vPass, "%d COOKIE_REPLYs opened; HELLOs carrying their cookies were answered", t.cookieReplies)
		} else {
			t.report("handshake/cookie", vSkip, "the node sent no COOKIE_REPLY (run it with cookies forced, e.g. stt listen --force-cookies)")
		}
	}
}

func (t *tester) caseHandshakes() {
	for _, hybrid := range []bool{false, true} {
		name := map[bool]string{false: "handshake/x25519", true: "handshake/hybrid"}[hybrid]
		if !t.want(name) {
			continue
		}
		s, detail, err := t.establish(helloOpts{hybrid: hybrid})
		if err != nil {
			t.report(name, vFail, "%v", err)
			continue
		}
		switch {
		case s.final == nil:
			t.report(name, vFail, "the first packet that opened carries %v, no FINAL", s.firstFrames)
		case !slices.Contains(s.firstFrames, "FINAL"):
			t.report(name, vFail, "FINAL came after another packet (first: %v)", s.firstFrames)
		case s.final.SessionID != s.sid:
			t.report(name, vFail, "FINAL names session %v, the handshake derived %v", s.final.SessionID, s.sid)
		case s.final.Status != 0:
			t.report(name, vWarn, "FINAL status %d; version 1 senders send 0 (%s)", s.final.Status, detail)
		case !s.ping():
			t.report(name, vFail, "a PING under the new keys was not acknowledged (%s)", detail)
		default:
			t.report(name, vPass, "%s", detail)
		}
		s.bye()
	}
}

// caseSuites offers each suite alone, then all three in two orders, and
// checks the choice against docs/HANDSHAKE.md "Suite negotiation".
func (t *tester) caseSuites() {
	all := []stc.Suite{stc.SuiteAES256GCM, stc.SuiteChaCha20Poly1305, stc.SuiteAES128GCM}
	for _, su := range all {
		name := "suite/" + su.String()
		if !t.want(name) && !t.want("suite/negotiation") {
			continue
		}
		sock, err := t.socket()
		if err != nil {
			t.report(name, vFail, "%v", err)
			continue
		}
		t.drain()
		x, _, r, err := t.sendHello(sock, helloOpts{hybrid: t.cfg.Hybrid, suites: []stc.Suite{su}}, t.cfg.Timeout)
		if err != nil {
			t.report(name, vFail, "%v", err)
			continue
		}
		if r.response == nil {
			t.peerSuites[su] = false
			if t.want(name) {
				t.report(name, vPass, "offered alone: refused (%d REJECTs, no RESPONSE)", r.rejects)
			}
			continue
		}
		est, proof, err := x.Response(r.response)
		if err == nil {
			t.finishProbe(sock, est, proof)
		}
		switch {
		case err != nil:
			t.report(name, vFail, "RESPONSE: %v", err)
		case est.Suite != su:
			t.report(name, vFail, "offered only %v, the node chose %v", su, est.Suite)
		default:
			t.peerSuites[su] = true
			if t.want(name) {
				t.report(name, vPass, "offered alone: accepted")
			}
		}
	}
	if !t.want("suite/negotiation") {
		return
	}
	accepted := 0
	for _, ok := range t.peerSuites {
		if ok {
			accepted++
		}
	}
	if accepted == 0 {
		t.report("suite/negotiation", vFail, "the node accepted none of the three suites")
		return
	}
	var notes []string
	for _, order := range [][]stc.Suite{{3, 2, 1}, {1, 3, 2}, {2, 1, 3}} {
		var want stc.Suite
		for _, su := range order {
			if t.peerSuites[su] {
				want = su
				break
			}
		}
		sock, err := t.socket()
		if err != nil {
			t.report("suite/negotiation", vFail, "%v", err)
			return
		}
		t.drain()
		x, _, r, err := t.sendHello(sock, helloOpts{hybrid: t.cfg.Hybrid, suites: order}, t.cfg.Timeout)
		if err != nil || r.response == nil {
			t.report("suite/negotiation", vFail, "offered %v: no RESPONSE (%v)", order, err)
			return
		}
		est, proof, err := x.Response(r.response)
		if err != nil {
			t.report("suite/negotiation", vFail, "offered %v: %v", order, err)
			return
		}
		t.finishProbe(sock, est, proof)
		if est.Suite != want {
			t.report("suite/negotiation", vFail, "offered %v, the node chose %v; the rule (first offered suite it accepts) gives %v", order, est.Suite, want)
			return
		}
		notes = append(notes, fmt.Sprintf("%v→%v", order, est.Suite))
	}
	t.report("suite/negotiation", vPass, "first offered suite the node accepts: %s", strings.Join(notes, ", "))
}

// caseSession runs data, key updates, migration, replay and close on one
// session.
func (t *tester) caseSession() {
	names := []string{"session/final", "data/echo", "key-update/ours", "key-update/node", "migration/probe",
		"replay/packet-from-new-address", "forged/packet", "close/no-answer", "close/session-gone"}
	if !slices.ContainsFunc(names, t.want) {
		return
	}
	s, detail, err := t.establish(helloOpts{hybrid: t.cfg.Hybrid})
	if err != nil {
		for _, n := range names {
			if t.want(n) {
				t.report(n, vFail, "no session: %v", err)
			}
		}
		return
	}
	if t.want("session/final") {
		if s.final != nil && s.final.SessionID == s.sid {
			t.report("session/final", vPass, "%s; first packet %v, session ID %v both ways", detail, s.firstFrames, s.sid)
		} else {
			t.report("session/final", vFail, "first packet %v, FINAL %+v, session %v", s.firstFrames, s.final, s.sid)
		}
	}
	// data/echo: one stream, many messages, each echoed back.
	var sent []byte
	ok := t.echo(s, 1, echoMessages, &sent)
	if t.want("data/echo") {
		got := s.streams[1]
		switch {
		case !ok:
			t.report("data/echo", vFail, "stream 1 not echoed to its FIN within %v (%d bytes back, %s)", t.cfg.Timeout, lenData(got), s.closeCode())
		case !bytes.Equal(got.data, sent):
			t.report("data/echo", vFail, "echoed bytes differ: %d sent, %d back", len(sent), len(got.data))
		default:
			t.report("data/echo", vPass, "%d messages, %d bytes each way, sha256 %x", echoMessages, len(sent), sha256.Sum256(sent))
		}
	}
	// key-update/ours: switch our send key, then echo on a new stream.
	if t.want("key-update/ours") {
		switch err := s.updateKey(); {
		case err != nil:
			t.report("key-update/ours", vFail, "cannot update: %v", err)
		default:
			var b []byte
			if t.echo(s, 3, 20, &b) && s.keyUpdAcked && bytes.Equal(s.streams[3].data, b) {
				t.report("key-update/ours", vPass, "packets under key phase %d acknowledged, stream 3 echoed", phaseBit(s.sendPhase))
			} else {
				t.report("key-update/ours", vFail, "after our key update: acknowledged %v, stream 3 complete %v (%s)", s.keyUpdAcked, s.complete(3), s.closeCode())
			}
		}
	}
	if t.want("key-update/node") {
		if s.nodeKeyUpdates > 0 {
			t.report("key-update/node", vPass, "the node updated its key %d time(s) within %d packets; followed", s.nodeKeyUpdates, s.opened)
		} else {
			t.report("key-update/node", vSkip, "the node did not update its key in %d packets (when is its policy)", s.opened)
		}
	}
	t.caseMigration(s)
	if t.want("forged/packet") {
		dg := bytes.Clone(s.sentDatagram[len(s.sentDatagram)-1])
		dg[len(dg)-1] ^= 0x80
		_, _ = s.sock.WriteToUDPAddrPort(dg, t.cfg.Peer)
		if s.ping() {
			t.report("forged/packet", vPass, "a packet with a corrupted tag was dropped; the session lives on")
		} else {
			t.report("forged/packet", vFail, "after a corrupted packet the session no longer answers (%s)", s.closeCode())
		}
	}
	// close: CLOSE is never answered, and ends the session.
	closeF := wire.Frame{Type: wire.FrameControl, Sub: wire.ControlClose, Close: wire.CloseFrame{Code: 0, Reason: []byte("conformance done")}}
	s.send(closeF)
	closeAt := len(s.received)
	s.wait(t.cfg.Quiet, func() bool { return s.closed != nil })
	if t.want("close/no-answer") {
		if s.closed != nil {
			t.report("close/no-answer", vFail, "our CLOSE was answered with %s", s.closeCode())
		} else {
			t.report("close/no-answer", vPass, "no CLOSE in reply to ours (%d packets after it, none closing)", len(s.received)-closeAt)
		}
	}
	if t.want("close/session-gone") {
		before := s.opened
		s.unacked = map[uint64]*sentPacket{}
		s.seal(wire.PingFrame{}.AppendTo(nil), false)
		s.wait(t.cfg.Quiet, func() bool { return false })
		if s.opened > before {
			t.report("close/session-gone", vFail, "a PING after our CLOSE was answered: the session is still alive")
		} else {
			t.report("close/session-gone", vPass, "a PING after our CLOSE got no answer")
		}
	}
	for _, v := range s.violations {
		t.report("session/conduct", vFail, "%s", v)
	}
}

func lenData(st *recvStream) int {
	if st == nil {
		return 0
	}
	return len(st.data)
}

func phaseBit(b bool) int {
	if b {
		return 1
	}
	return 0
}

// echo opens stream id, sends the echo header message and n messages of
// varying size, then FIN, and waits for the whole echo; *sent gets the
// bytes that should come back (the messages, length-prefixed).
func (t *tester) echo(s *session, id wire.StreamID, n int, sent *[]byte) bool {
	hb, _ := header{Kind: kindEcho}.append(nil)
	out := appendMessage(nil, hb)
	for i := range n {
		m := make([]byte, 1+(i*7919)%echoSize)
		_, _ = rand.Read(m)
		out = appendMessage(out, m)
		*sent = appendMessage(*sent, m)
	}
	if !s.writeStream(id, 0, out, true, true) {
		return false
	}
	return s.wait(t.cfg.Timeout, func() bool { return s.complete(id) && len(s.unacked) == 0 })
}

// appendMessage appends m framed as SendMessage frames it: the varint
// length (docs/PROTOCOL.md "Varints"), then the bytes.
func appendMessage(b, m []byte) []byte {
	return append(wire.AppendVarint(b, uint64(len(m))), m...)
}

// caseMigration moves the session to a new socket (new source port) and
// checks the node validates the path, limits what it sends there before
// validation, and follows; then replays an old datagram from a third
// socket, which must not move the session.
func (t *tester) caseMigration(s *session) {
	if t.want("migration/probe") {
		old := s.sock
		nsock, err := t.socket()
		if err != nil {
			t.report("migration/probe", vFail, "%v", err)
			return
		}
		s.sock = nsock
		sentNew := 0
		pn, dg := s.seal(append(s.ackFrame(), wire.PingFrame{}.AppendTo(nil)...), false)
		s.unacked[pn] = &sentPacket{frames: wire.PingFrame{}.AppendTo(nil), at: time.Now()}
		sentNew += len(dg)
		got := s.wait(t.cfg.Timeout, func() bool { return len(s.challenges[nsock]) > 0 })
		fromNode := s.bytesFrom[nsock]
		switch {
		case !got:
			t.report("migration/probe", vFail, "no PATH_CHALLENGE on the new path within %v (%d bytes came there)", t.cfg.Timeout, fromNode)
		case fromNode > 3*sentNew:
			t.report("migration/probe", vFail, "before validation the node sent %d bytes to the new address for our %d: more than 3x", fromNode, sentNew)
		default:
			ch := s.challenges[nsock][0]
			s.send(wire.Frame{Type: wire.FrameControl, Sub: wire.ControlPathResponse, PathResponse: wire.PathResponseFrame{Data: ch}})
			var b []byte
			before := s.bytesFrom[old]
			if t.echo(s, 5, 20, &b) && bytes.Equal(s.streams[5].data, b) {
				t.report("migration/probe", vPass, "PATH_CHALLENGE on the new path (%d bytes there before validation for our %d); stream 5 echoed there; %d bytes to the old path since",
					fromNode, sentNew, s.bytesFrom[old]-before)
			} else {
				t.report("migration/probe", vFail, "after PATH_RESPONSE stream 5 was not echoed on the new path (%s)", s.closeCode())
			}
		}
	}
	if t.want("replay/packet-from-new-address") {
		third, err := t.socket()
		if err != nil {
			t.report("replay/packet-from-new-address", vFail, "%v", err)
			return
		}
		_, _ = third.WriteToUDPAddrPort(s.sentDatagram[len(s.sentDatagram)/2], t.cfg.Peer)
		s.wait(t.cfg.Quiet, func() bool { return s.bytesFrom[third] > 0 })
		alive := s.ping()
		switch {
		case s.bytesFrom[third] > 0:
			t.report("replay/packet-from-new-address", vFail, "a replayed packet from a new address moved the session: %d bytes came to that address", s.bytesFrom[third])
		case !alive:
			t.report("replay/packet-from-new-address", vFail, "after a replayed packet from a new address the session no longer answers on its path")
		default:
			t.report("replay/packet-from-new-address", vPass, "replay ignored: nothing sent to its address, the session answers on its path")
		}
	}
}

// caseRefusals: HELLOs the node must not answer with a RESPONSE, and a
// replayed AUTH_PROOF.
func (t *tester) caseRefusals() {
	quietHello := func(name string, o helloOpts, why string) {
		if !t.want(name) {
			return
		}
		sock, err := t.socket()
		if err != nil {
			t.report(name, vFail, "%v", err)
			return
		}
		t.drain()
		_, _, r, err := t.sendHello(sock, o, t.cfg.Quiet)
		switch {
		case err != nil:
			t.report(name, vFail, "%v", err)
		case r.response != nil:
			t.report(name, vFail, "%s was answered with a RESPONSE", why)
		default:
			t.report(name, vPass, "%s: no RESPONSE (%d REJECT, %d COOKIE_REPLY)", why, r.rejects, boolInt(r.cookieReply != nil))
		}
	}
	var other [32]byte
	_, _ = rand.Read(other[:])
	quietHello("refuse/wrong-seed", helloOpts{hybrid: t.cfg.Hybrid, psk: &other}, "a HELLO sealed under another shared seed")
	quietHello("refuse/stale-timestamp", helloOpts{hybrid: t.cfg.Hybrid, stamp: time.Now().Add(-time.Hour)}, "a HELLO stamped an hour ago")
	quietHello("refuse/future-timestamp", helloOpts{hybrid: t.cfg.Hybrid, stamp: time.Now().Add(time.Hour)}, "a HELLO stamped an hour ahead")

	if t.want("replay/hello") || t.want("replay/auth-proof") {
		s, _, err := t.establish(helloOpts{hybrid: t.cfg.Hybrid})
		if err != nil {
			for _, n := range []string{"replay/hello", "replay/auth-proof"} {
				if t.want(n) {
					t.report(n, vFail, "no session: %v", err)
				}
			}
			return
		}
		s.wait(t.cfg.Quiet/2, func() bool { return false }) // let FINAL retransmissions settle
		if t.want("replay/hello") {
			hid, _ := wire.ParseHandshakePrefix(s.hello)
			r, err := t.exchangeHello(s.sock, s.hello, hid, t.cfg.Quiet)
			switch {
			case err != nil:
				t.report("replay/hello", vFail, "%v", err)
			case r.response != nil:
				t.report("replay/hello", vFail, "the same HELLO sent again was answered with a second RESPONSE")
			default:
				t.report("replay/hello", vPass, "the same HELLO sent again: no RESPONSE")
			}
		}
		if t.want("replay/auth-proof") {
			_, _ = s.sock.WriteToUDPAddrPort(s.authProof, t.cfg.Peer)
			deadline := time.Now().Add(t.cfg.Quiet)
			handshakeReplies := 0
			for {
				in, ok := t.next(deadline)
				if !ok {
					break
				}
				if k, ok := wire.PeekKind(in.b); ok && k == wire.KindHandshake {
					handshakeReplies++
				} else {
					s.handle(in)
				}
			}
			switch {
			case handshakeReplies > 0:
				t.report("replay/auth-proof", vFail, "a replayed AUTH_PROOF was answered with %d handshake messages", handshakeReplies)
			case !s.ping():
				t.report("replay/auth-proof", vFail, "after a replayed AUTH_PROOF the session no longer answers (%s)", s.closeCode())
			default:
				t.report("replay/auth-proof", vPass, "a replayed AUTH_PROOF: no answer, the session is untouched")
			}
		}
		s.bye()
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// violation is a case that sends something a peer must not send on a fresh
// session and expects the node to close it.
type violation struct {
	name string
	want uint64 // the close code the docs name (a SHOULD)
	must bool   // closing at all is a MUST (else a SHOULD: WARN when not)
	what string
	send func(s *session) string // sends the violation; "" or a reason to skip
}

func (t *tester) caseViolations() {
	dataFrame := func(id wire.StreamID, off uint64, n int) wire.Frame {
		return wire.Frame{Type: wire.FrameData, Data: wire.DataFrame{StreamID: id, Offset: off, Data: make([]byte, n)}}
	}
	cases := []violation{
		{"flow/stream-credit", closeFlowControl, true, "DATA beyond the stream credit the node announced", func(s *session) string {
			s.send(dataFrame(1, s.params.InitialMaxStreamData, 1))
			return ""
		}},
		{"flow/session-credit", closeFlowControl, true, "DATA beyond the session credit, spread over streams within their own credit", func(s *session) string {
			per, total := s.params.InitialMaxStreamData, s.params.InitialMaxData
			if per == 0 || total/per+1 > s.params.MaxStreams {
				return fmt.Sprintf("needs %d streams, the node allows %d", total/max(per, 1)+1, s.params.MaxStreams)
			}
			for i := range total/per + 1 {
				s.send(dataFrame(wire.StreamID(2*i+1), per-1, 1))
			}
			return ""
		}},
		{"streams/beyond-limit", closeStreamLimit, true, "DATA on a stream beyond the node's MaxStreams", func(s *session) string {
			s.send(dataFrame(wire.StreamID(2*s.params.MaxStreams+1), 0, 1))
			return ""
		}},
		{"streams/stream-zero", closeProtocol, true, "DATA on stream 0", func(s *session) string {
			s.send(dataFrame(0, 0, 1))
			return ""
		}},
		{"streams/unopened-own-parity", closeProtocol, true, "DATA on stream 2, of the node's parity, which it never opened", func(s *session) string {
			s.send(dataFrame(2, 0, 1))
			return ""
		}},
		{"frames/unknown-type", closeProtocol, true, "a frame of unassigned type 0x06", func(s *session) string {
			s.seal([]byte{0x06, 0, 0}, false)
			return ""
		}},
		{"frames/empty-payload", closeProtocol, false, "a packet without frames", func(s *session) string {
			s.seal(nil, false)
			return ""
		}},
		{"ack/never-sent", closeProtocol, false, "an ACK of a packet number the node never sent", func(s *session) string {
			var f wire.Frame
			f.Type, f.Sub = wire.FrameControl, wire.ControlAck
			_ = f.Ack.AppendRange(s.largestRecv+1000, s.largestRecv+1000)
			s.seal(append(f.AppendTo(nil), wire.PingFrame{}.AppendTo(nil)...), false)
			return ""
		}},
	}
	for _, c := range cases {
		if !t.want(c.name) {
			continue
		}
		s, _, err := t.establish(helloOpts{hybrid: t.cfg.Hybrid})
		if err != nil {
			t.report(c.name, vFail, "no session: %v", err)
			continue
		}
		if skip := c.send(s); skip != "" {
			t.report(c.name, vSkip, "%s", skip)
			s.bye()
			continue
		}
		wait := t.cfg.Timeout
		if !c.must {
			wait = t.cfg.Quiet * 2
		}
		s.wait(wait, func() bool { return s.closed != nil })
		switch {
		case s.closed == nil && c.must:
			t.report(c.name, vFail, "%s: the node did not close the session", c.what)
		case s.closed == nil:
			t.report(c.name, vWarn, "%s: the node did not close the session (docs: SHOULD close with 0x%x)", c.what, c.want)
		case s.closed.Code != c.want:
			t.report(c.name, vWarn, "%s: closed with 0x%x %q; docs/TRANSPORT.md names 0x%x (SHOULD)", c.what, s.closed.Code, s.closed.Reason, c.want)
		default:
			t.report(c.name, vPass, "%s: %s", c.what, s.closeCode())
		}
		s.bye()
	}
}
