package dataplane

// Path MTU discovery, datagram packetization layer style (RFC 8899,
// DPLPMTUD): the session starts sending datagrams of initialDatagram bytes
// (or less if the ceiling is lower) and searches upward with probes —
// ack-eliciting packets of exactly the size to try, a PING padded to it —
// whose loss says "too big", not "congestion" (a probe's loss is kept out
// of congestion control and bandwidth samples). The ceiling is the smaller
// of Config.MaxDatagram and the peer's MaxDatagram transport parameter.
//
// Search: from the size known to work, try the common path limits above it
// in turn (1472: an Ethernet MTU; 8972: jumbo frames; the ceiling: loopback
// carries 65 000). Once a probe size fails pmtuMaxFails times: if the
// largest success is a common limit, one probe pmtuStep above it settles
// whether the path's limit is exactly that (it usually is); otherwise
// binary-search between the largest success and the smallest failure. The
// search stops when they are less than pmtuStep apart. Every success raises the session's datagram
// size at once (GSO batches follow: they group equal-size packets). After
// pmtuResearch the search runs again from the current size up.
//
// Black holes: when packets of the discovered size stop getting through
// (the route changed; a tunnel appeared; in the tests the emulator lowers
// its MTU mid-transfer), loss recovery sees consecutive probe timeouts.
// Two in a row while the size is above the start size drop it back to the
// start size — the data those packets carried is retransmitted in smaller
// ones — and if that does not help either, to minDatagram; the search
// resumes pmtuBackoff later.

import (
	"time"

	"github.com/stt-go/stt/internal/monotime"
	"github.com/stt-go/stt/stc"
	"github.com/stt-go/stt/wire"
)

// pmtuState is the search state of one session (loop-owned).
type pmtuState struct {
	ceiling int           // largest size the session may send
	start   int           // the size it started at, and falls back to
	lo      int           // largest size known to get through
	hi      int           // every size above is unknown or failed
	failed  bool          // hi comes from a failed probe: binary search
	probe   int           // size of the probe in flight (0: none)
	probePN uint64        // its packet number
	fails   int           // losses of probes of this size so far
	next    monotime.Time // no probe before this
	done    bool          // the search converged (lo..hi within pmtuStep)
}

// pmtuTargets are the common path limits tried first, as UDP payloads over
// IPv4: Ethernet (1500), jumbo frames (9000).
var pmtuTargets = [...]int{1472, 8972}

// initPMTU sets up the search for a session whose sender may go up to
// ceiling bytes per datagram.
func (s *Session) initPMTU(ceiling int, now monotime.Time) {
	start := min(initialDatagram, ceiling)
	s.pmtu = pmtuState{ceiling: ceiling, start: start, lo: start, hi: ceiling, next: now}
	s.pmtu.done = s.pmtu.hi-s.pmtu.lo < pmtuStep
	s.setDatagramSize(start)
}

// setDatagramSize changes the size of the datagrams the session sends.
func (s *Session) setDatagramSize(n int) {
	s.maxDatagram = n
	s.apiDatagram.Store(int64(n))
	if s.hot != nil {
		s.hot.pacer.SetMaxDatagram(n)
	}
}

// nextProbeSize picks the size of the next probe, or 0 when the search is
// over.
func (p *pmtuState) nextProbeSize() int {
	if p.done || p.hi-p.lo < pmtuStep {
		return 0
	}
	if !p.failed {
		for _, t := range pmtuTargets {
			if t > p.lo && t <= p.hi {
				return t
			}
		}
		return p.hi
	}
	for _, t := range pmtuTargets {
		if p.lo == t {
			// A common limit got through and something above failed: the
			// path's limit is most likely exactly it. One probe just above
			// settles it instead of a binary search.
			return p.lo + pmtuStep
		}
	}
	return p.lo + (p.hi-p.lo+1)/2
}

// maybeProbe sends one PMTU probe if the search wants one now. Called at
// the end of a flush.
func (s *Session) maybeProbe(now monotime.Time) {
	p := &s.pmtu
	if p.probe != 0 || p.done || now.Before(p.next) || s.State() != StateActive || !s.pathValid || s.closingUntil != 0 {
		return
	}
	size := p.nextProbeSize()
	if size == 0 {
		s.pmtuDone(now)
		return
	}
	// One probe at a time may exceed the congestion window and the pacer
	// (as PTO probes may): a bulk transfer keeps the window full, and a
	// search that waited for room would take seconds.
	pn, ok := s.packetNumber(now)
	if !ok {
		return
	}
	payload := size - wire.HeaderLen - stc.Overhead
	pk := &s.loop.pkt
	pk.start(s.loop, s.peer, payload)
	f := &s.loop.frame
	f.Type, f.Sub = wire.FrameControl, wire.ControlPing
	pk.add(f)
	pk.b = wire.PaddingFrame{N: pk.limit - len(pk.b)}.AppendTo(pk.b)
	pk.el = true
	pk.sp.Probe = true
	n := s.seal(pk, pn)
	s.lastSend = now
	s.recordSent(now, pk, pn, n)
	p.probe, p.probePN = size, pn
	s.stats.pmtuProbes.Add(1)
}

// pmtuAcked handles the acknowledgement of a probe: the size gets through.
func (s *Session) pmtuAcked(pn uint64) {
	p := &s.pmtu
	if p.probe == 0 || pn != p.probePN {
		return
	}
	p.lo, p.probe, p.fails = p.probe, 0, 0
	if p.lo > s.maxDatagram {
		s.setDatagramSize(p.lo)
	}
	if p.hi-p.lo < pmtuStep {
		p.done = true
	}
}

// pmtuLost handles the loss of a probe: after pmtuMaxFails at one size,
// every size from it up is taken as too big.
func (s *Session) pmtuLost(pn uint64, now monotime.Time) {
	p := &s.pmtu
	if p.probe == 0 || pn != p.probePN {
		return
	}
	size := p.probe
	p.probe = 0
	if p.fails++; p.fails < pmtuMaxFails {
		return // random loss is possible: try the same size again
	}
	p.hi, p.failed, p.fails = size-1, true, 0
	if p.hi-p.lo < pmtuStep {
		s.pmtuDone(now)
	}
}

// pmtuDone ends a search; it runs again after pmtuResearch, from the size
// in use up to the ceiling.
func (s *Session) pmtuDone(now monotime.Time) {
	p := &s.pmtu
	p.done = true
	p.next = now.Add(pmtuResearch)
}

// pmtuBlackHole is called on each probe timeout: two in a row while
// sending above the start size mean large packets no longer get through.
// It reports whether it lowered the size.
func (s *Session) pmtuBlackHole(now monotime.Time, ptoCount int) bool {
	p := &s.pmtu
	if ptoCount < 2 || s.maxDatagram <= minDatagram {
		return false
	}
	failed := s.maxDatagram
	size := p.start
	if failed <= p.start {
		size = minDatagram // the start size does not get through either
	}
	s.stats.pmtuBlackHoles.Add(1)
	s.setDatagramSize(size)
	// The next search (after pmtuBackoff) looks between the new size and
	// the one that stopped working.
	*p = pmtuState{ceiling: p.ceiling, start: p.start, lo: size, hi: failed - 1, failed: true, next: now.Add(pmtuBackoff)}
	return true
}

// maybeResearch restarts a finished search once pmtuResearch has passed.
func (s *Session) maybeResearch(now monotime.Time) {
	p := &s.pmtu
	if p.done && p.probe == 0 && !now.Before(p.next) && s.maxDatagram < p.ceiling {
		p.lo, p.hi, p.failed, p.done, p.fails = s.maxDatagram, p.ceiling, false, false, 0
	}
}

// PMTU search parameters (RFC 8899 §5.1.2 where it names one).
const (
	// initialDatagram is the datagram size a session starts with (and
	// falls back to): an IPv4 1500-byte MTU minus 20 (IPv4) and 8 (UDP)
	// bytes, minus 20 bytes of margin for tunnels (quic-go's choice).
	initialDatagram = 1452
	// pmtuStep ends a search when success and failure are this close.
	pmtuStep = 32
	// pmtuMaxFails is how many probes of one size may be lost before the
	// size counts as too big (RFC 8899 MAX_PROBES is 3; loss of a probe
	// costs a round trip, and random loss at the rates STT targets rarely
	// hits twice).
	pmtuMaxFails = 2
	// pmtuResearch is how long a finished search waits before it looks
	// for a larger size again (RFC 8899 PMTU_RAISE_TIMER: 600 s).
	pmtuResearch = 600 * time.Second
	// pmtuBackoff is how long the search waits after a black hole.
	pmtuBackoff = 30 * time.Second
)
