package recovery

import (
	"errors"
	"math/bits"
	"strconv"

	"github.com/stt-go/stt/internal/monotime"
)

const (
	// MaxStreamRangesPerPacket is how many stream byte ranges one SentPacket
	// records. A full 1452-byte packet rarely carries more than a handful of
	// DATA frames; a packetizer that would exceed it closes the packet.
	MaxStreamRangesPerPacket = 8

	// MaxSentPackets is the hard cap on the span of packet numbers a Sent
	// tracks (oldest unacknowledged to newest sent): 1<<16 packets of 1452
	// bytes is 95 MB in flight, far above any window STT opens (MaxWindow),
	// and bounds the history at about 18 MB (280 bytes per entry) even for a
	// peer that never acknowledges anything.
	MaxSentPackets = 1 << 16

	// defaultSentInitial is the zero Sent's initial ring size: an idle
	// session keeps its history small (9 KB).
	defaultSentInitial = 32

	// skipRecord is how many deliberately skipped packet numbers Sent
	// remembers after they leave the ring, for optimistic-ACK detection.
	// An optimistic peer acknowledges ahead of what it received, so the
	// newest skips are the ones it will hit.
	skipRecord = 32
)

// Errors returned by Sent.OnAck, always wrapped in an *AckError. Both mean the
// peer misbehaved; the caller closes the session with a protocol error.
var (
	// ErrAckUnsent means an ACK frame acknowledged a packet number that was
	// never sent: beyond the largest sent, or one deliberately skipped
	// (optimistic-ACK detection, RFC 9000 §21.4).
	ErrAckUnsent = errors.New("recovery: ACK of a packet number never sent")

	// ErrAckRanges means an ACK frame's ranges were not descending and
	// disjoint, or a range had Smallest > Largest.
	ErrAckRanges = errors.New("recovery: malformed ACK ranges")
)

// AckError reports an invalid ACK frame: PN is the offending packet number
// (for ErrAckRanges, the Largest of the bad range) and Err is ErrAckUnsent or
// ErrAckRanges, matched by errors.Is.
type AckError struct {
	PN  uint64
	Err error
}

func (e *AckError) Error() string {
	return e.Err.Error() + " (packet number " + strconv.FormatUint(e.PN, 10) + ")"
}

// Unwrap returns ErrAckUnsent or ErrAckRanges.
func (e *AckError) Unwrap() error { return e.Err }

// AckRange is one contiguous range of acknowledged packet numbers, both ends
// inclusive. ACK frames carry them in descending order.
type AckRange struct {
	Smallest, Largest uint64
}

// StreamRange records what a packet carried for one stream, for
// retransmission: stream bytes (Offset, Len, Fin) and, in Ctl, a bit set of
// stream control frames (RESET, STOP_SENDING, MAX_STREAM_DATA ...) whose
// bits the data plane defines; recovery never reads Ctl. An entry may carry
// control frames and no bytes (Len 0, Fin false).
type StreamRange struct {
	StreamID uint64
	Offset   uint64
	Len      uint32
	Fin      bool
	Ctl      uint8
}

// SentPacket is what the data plane remembers about a sent packet until it is
// acknowledged or declared lost. It holds no pointers: the history copies it
// into its ring, so recording a packet never allocates.
type SentPacket struct {
	PN           uint64
	Time         monotime.Time // when it was sent
	Size         uint32        // bytes on the wire, counted in flight if InFlight
	AckEliciting bool          // carries a frame other than ACK (RFC 9002 §2)
	InFlight     bool          // counts toward bytes in flight and congestion control
	// Probe marks a path MTU probe: its loss means "too big", not
	// congestion, so it is left out of the bandwidth samples' loss count
	// (the data plane also keeps it from the controller's OnLoss).
	Probe   bool
	Ranges  [MaxStreamRangesPerPacket]StreamRange
	NRanges uint8
	// Ctrl is a bit set of the control frames carried (MAX_DATA, PING,
	// CLOSE ...). The data plane defines the bits; recovery never reads it.
	Ctrl uint32
	// PacedTime is when the pacer's schedule let the packet go, its
	// earliest departure time (Pacer.Departure): at or before Time, earlier
	// when the sender woke late or sent within a burst the bucket allowed.
	// It is the send time of delivery-rate samples (send_elapsed and
	// first_send_time), so a sender that catches up after a stall does not
	// look faster than its pacing rate; Linux stamps TCP packets with their
	// departure time for the same reason. Zero means Time.
	PacedTime monotime.Time

	// Delivery-rate snapshot (draft-ietf-ccwg-bbr §4.1.2.2, "per-packet
	// state"), filled in by Sent.Add for InFlight packets and ignored for
	// others; whatever the caller put there is overwritten.
	Delivered     uint64        // P.delivered: Sent's delivered bytes when sent
	DeliveredTime monotime.Time // P.delivered_time: when that count last grew
	FirstSentTime monotime.Time // P.first_send_time: start of its send interval
	Lost          uint64        // P.lost: Sent's lost bytes when sent
	TxInFlight    uint32        // P.tx_in_flight: bytes in flight right after it was sent, itself included
	AppLimited    bool          // P.is_app_limited: sent while the sender was marked application-limited
}

// Entry states in the ring.
const (
	stateGap         uint8 = iota // never sent: skipped packet number
	stateOutstanding              // sent, neither acknowledged nor lost
	stateAcked
	stateLost
)

type sentEntry struct {
	p     SentPacket
	state uint8
}

// Sent is the sent-packet history of one session (RFC 9002 §A.1): a ring
// indexed by packet number from the oldest outstanding packet to the newest
// sent, with ACK processing and loss detection (loss.go). Packet numbers are
// sent increasing and may skip numbers; an ACK for a skipped or unsent number
// is an error. The ring grows by doubling up to its maximum (at most
// MaxSentPackets); Add reports false rather than grow beyond it.
//
// The zero Sent is ready to use (32 entries, growing to MaxSentPackets). It is
// owned by one loop goroutine and not safe for concurrent use. Add, OnAck,
// DetectLost and DrainAll do not allocate once the ring has grown to the
// session's working size. Pointers handed to callbacks point into the ring and
// are valid only during the callback; callbacks must not call Add, Skip, OnAck,
// DetectLost or DrainAll on the same Sent.
type Sent struct {
	ring    []sentEntry // len is a power of two
	maxCap  int
	initCap int // ring length Trim shrinks back to

	base uint64 // oldest tracked PN: outstanding whenever base < end
	end  uint64 // largest sent + 1 (0: nothing sent)
	next uint64 // lowest PN Add accepts (> largest sent and skipped)

	outstanding   int
	bytesInFlight int
	probeBytes    int // of which path MTU probes (SentPacket.Probe)

	largestAcked    uint64
	hasLargestAcked bool
	lossTime        monotime.Time
	firstRTTSample  monotime.Time // when the first RTT sample was taken
	hasRTTSample    bool
	persistent      bool

	skipped  [skipRecord]uint64
	nskipped int

	reo  reordering    // adaptive packet and time thresholds (reorder.go)
	rate deliveryState // delivery-rate estimation (rate.go)
}

// NewSent returns a history whose ring starts with initialCap entries and may
// double up to maxCap entries (both rounded up to powers of two; maxCap is
// clamped to [initialCap, MaxSentPackets]; values <= 0 pick 32 and
// MaxSentPackets).
func NewSent(initialCap, maxCap int) *Sent {
	s := new(Sent)
	s.init(initialCap, maxCap)
	return s
}

func pow2(n int) int { return 1 << bits.Len(uint(n-1)) }

func (s *Sent) init(initialCap, maxCap int) {
	if initialCap <= 0 {
		initialCap = defaultSentInitial
	}
	if maxCap <= 0 || maxCap > MaxSentPackets {
		maxCap = MaxSentPackets
	}
	initialCap = pow2(min(initialCap, MaxSentPackets))
	s.maxCap = max(pow2(maxCap), initialCap)
	s.initCap = initialCap
	s.ring = make([]sentEntry, initialCap)
}

// StartAt makes an empty history continue a session whose packets below pn
// were all settled before it existed (a session rebuilding its recovery
// state after hibernating): ACKs of those numbers are accepted and ignored,
// and the next Add must use pn or more. It does nothing once a packet was
// added.
func (s *Sent) StartAt(pn uint64) {
	if s.end != 0 || s.next != 0 {
		return
	}
	s.base, s.end, s.next = pn, pn, pn
}

// Cap returns the ring's current length in entries.
func (s *Sent) Cap() int { return len(s.ring) }

// Trim shrinks the ring back to its initial length when nothing is
// outstanding, so an idle session does not keep the history a burst grew.
// It allocates the small ring and reports whether it shrank anything; call
// it from an idle timer, never per packet.
func (s *Sent) Trim() bool {
	if s.outstanding != 0 || s.initCap == 0 || len(s.ring) <= s.initCap {
		return false
	}
	s.ring = make([]sentEntry, s.initCap)
	s.base = s.end
	return true
}

func (s *Sent) entry(pn uint64) *sentEntry {
	return &s.ring[pn&uint64(len(s.ring)-1)]
}

// Len returns the number of outstanding packets (sent, neither acknowledged
// nor declared lost).
func (s *Sent) Len() int { return s.outstanding }

// BytesInFlight returns the Size sum of outstanding InFlight packets.
func (s *Sent) BytesInFlight() int { return s.bytesInFlight }

// CongestionInFlight returns BytesInFlight less path MTU probes: what
// congestion control counts against its window. A probe may exceed the
// window when sent (one at a time) and must not hold other packets back
// while it waits for its acknowledgement, which the peer may delay.
func (s *Sent) CongestionInFlight() int { return s.bytesInFlight - s.probeBytes }

// LargestSent returns the largest packet number added, and false if none.
func (s *Sent) LargestSent() (uint64, bool) { return s.end - 1, s.end > 0 }

// LargestAcked returns the largest packet number acknowledged, and false if
// none yet.
func (s *Sent) LargestAcked() (uint64, bool) { return s.largestAcked, s.hasLargestAcked }

// Add records a sent packet (copied; p is not retained). It returns false, and
// records nothing, if tracking it would exceed the ring's maximum: the caller
// must stop sending until ACKs or losses free room (congestion and flow
// control normally stop it first). Packet numbers between the previous one and
// p.PN count as skipped. It panics if p.PN is not greater than every packet
// number already added or skipped: reusing a packet number would reuse an AEAD
// nonce (a bug in the data plane, never peer-triggered). For an InFlight
// packet it stamps the copy's delivery-rate fields (Delivered ... AppLimited)
// from the history's state, p.Time being the send time (rate.go). It does not
// allocate unless the ring grows.
func (s *Sent) Add(p *SentPacket) bool {
	if s.ring == nil {
		s.init(0, 0)
	}
	if p.PN < s.next {
		panic("recovery: BUG: packet number " + strconv.FormatUint(p.PN, 10) + " not increasing")
	}
	if s.base == s.end { // nothing tracked: restart the ring at p.PN
		s.base, s.end = p.PN, p.PN
	}
	need := p.PN - s.base + 1
	if need > uint64(s.maxCap) {
		return false
	}
	if need > uint64(len(s.ring)) {
		s.grow(int(need))
	}
	for pn := s.end; pn < p.PN; pn++ {
		s.entry(pn).state = stateGap
	}
	e := s.entry(p.PN)
	e.p = *p
	e.state = stateOutstanding
	s.end = p.PN + 1
	s.next = s.end
	s.outstanding++
	if p.InFlight {
		s.rate.onSent(&e.p, s.bytesInFlight-s.probeBytes)
		s.bytesInFlight += int(p.Size)
		if p.Probe {
			s.probeBytes += int(p.Size)
		}
	}
	return true
}

func (s *Sent) grow(need int) {
	n := len(s.ring)
	for n < need {
		n *= 2
	}
	ring := make([]sentEntry, n)
	for pn := s.base; pn < s.end; pn++ {
		ring[pn&uint64(n-1)] = *s.entry(pn)
	}
	s.ring = ring
}

// Skip records pn as deliberately skipped: the next Add must use a larger
// packet number, and an ACK covering pn is ErrAckUnsent. Skipped numbers are
// remembered in the ring while it spans them and, for the 32 most recent
// Skip calls, after that. A pn below the next acceptable packet number is
// ignored. It does not allocate.
func (s *Sent) Skip(pn uint64) {
	if pn < s.next {
		return
	}
	s.skipped[s.nskipped%skipRecord] = pn
	s.nskipped++
	s.next = pn + 1
}

// OldestUnacked returns the outstanding packet with the smallest packet
// number (for the PTO's probe), and false if none is outstanding. The pointer
// is valid until the next call that modifies s.
func (s *Sent) OldestUnacked() (*SentPacket, bool) {
	if s.base == s.end {
		return nil, false
	}
	return &s.entry(s.base).p, true
}

// DrainAll calls fn once for every outstanding packet, in packet-number
// order, then forgets them all (bytes in flight drop to zero), for session
// close or key discard. It does not allocate.
func (s *Sent) DrainAll(fn func(p *SentPacket)) {
	for pn := s.base; pn < s.end; pn++ {
		if e := s.entry(pn); e.state == stateOutstanding {
			fn(&e.p)
			e.state = stateAcked
		}
	}
	s.base = s.end
	s.outstanding = 0
	s.bytesInFlight, s.probeBytes = 0, 0
	s.lossTime = 0
}

// advanceBase pops acknowledged, lost and skipped entries off the front, so
// base is outstanding whenever the ring is not empty.
func (s *Sent) advanceBase() {
	for s.base < s.end && s.entry(s.base).state != stateOutstanding {
		s.base++
	}
}

// remove marks an outstanding entry acked or lost and updates the counters.
func (s *Sent) remove(e *sentEntry, state uint8) {
	e.state = state
	s.outstanding--
	if e.p.InFlight {
		s.bytesInFlight -= int(e.p.Size)
		if e.p.Probe {
			s.probeBytes -= int(e.p.Size)
		}
	}
}
