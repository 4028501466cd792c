package dataplane

// Latency-bounded streams (Session.OpenStreamWith with a Deadline): live
// media's delivery mode, after SRT's latency window and too-late packet
// drop. Every message written with SendMessage gets an expiry — the time it
// was written plus the deadline. Until then its bytes are sent and
// retransmitted as on any stream. A message that expires before all its
// bytes are acknowledged is abandoned (streambuf.Send.AbandonRange: its
// bytes count as acknowledged, nothing of it is sent again, the part never
// sent is skipped) and the receiver is told with a SKIP frame naming the
// abandoned range — one per run of consecutive abandoned messages — and the
// number of the message after it. The receiver treats the range as
// received-without-data: it delivers everything before it, then its next
// ReceiveMessage reports the messages it will never see (*SkippedError),
// then the next whole one. A message received whole before it expired is
// delivered, even behind an abandoned one. Messages are delivered whole and
// in order, or reported missing: never in part, never silently
// (docs/TRANSPORT.md §Latency-bounded streams; docs/PROTOCOL.md §SKIP).
//
// Ownership: the message queue is written by the SendMessage caller and
// read by the loop, under boundedState.mu; the rest is loop-owned.

import (
	"errors"
	"sync"
	"time"

	"github.com/stt-go/stt/dataplane/internal/streambuf"
	"github.com/stt-go/stt/internal/monotime"
	"github.com/stt-go/stt/wire"
)

// boundedMsg is one message of a latency-bounded stream not yet known to
// be delivered.
type boundedMsg struct {
	start, end uint64        // its stream bytes [start, end)
	seq        uint64        // its number: messages count from 0 in write order
	expiry     monotime.Time // when the sender gives up on it
}

// pendingSkip is one SKIP frame to deliver: the abandoned range [from, to)
// and the number of the message that starts at to.
type pendingSkip struct {
	from, to, next uint64
	sent           bool // in a packet whose fate is unknown
}

// boundedState is a latency-bounded stream's message bookkeeping.
type boundedState struct {
	deadline time.Duration // immutable after the stream is created

	mu   sync.Mutex   // protects q: written by SendMessage, read by the loop
	q    []boundedMsg // messages not yet known delivered, in write order
	next uint64       // number of the next message written (SendMessage, under Stream.msgMu)

	// Loop-owned.
	skips      []pendingSkip // SKIP frames not yet acknowledged, in range order
	registered bool          // in the session's bounded list
}

// enqueue records a message about to be written at [start, start+n).
func (b *boundedState) enqueue(start uint64, n int, now monotime.Time) {
	b.mu.Lock()
	b.q = append(b.q, boundedMsg{start: start, end: start + uint64(n), seq: b.next, expiry: now.Add(b.deadline)})
	b.mu.Unlock()
	b.next++
}

// expireMessages abandons the expired messages of the session's bounded
// streams and queues their SKIP frames, drops the records of delivered
// messages, and sets s.nextExpiry to the earliest expiry left.
func (s *Session) expireMessages(now monotime.Time) {
	s.nextExpiry = 0
	kept := s.bounded[:0]
	for _, st := range s.bounded {
		if st.removed || st.resetSent {
			st.bounded.registered = false
			continue
		}
		if next := s.expireStream(now, st); next != 0 && (s.nextExpiry == 0 || next < s.nextExpiry) {
			s.nextExpiry = next
		}
		kept = append(kept, st)
	}
	clear(s.bounded[len(kept):])
	s.bounded = kept
}

// expireStream handles one bounded stream and returns its next expiry (0:
// none queued). Messages expire in write order; among the expired ones,
// each run of consecutive messages not fully acknowledged becomes one
// abandoned range and one SKIP.
func (s *Session) expireStream(now monotime.Time, st *Stream) monotime.Time {
	b := st.bounded
	b.mu.Lock()
	i := 0
	var run *pendingSkip
	for ; i < len(b.q); i++ {
		m := &b.q[i]
		if st.send.Delivered(m.start, m.end) {
			run = nil
			continue
		}
		if now.Before(m.expiry) {
			break
		}
		s.stats.msgsAbandoned.Add(1)
		if run != nil && run.to == m.start {
			run.to, run.next = m.end, m.seq+1
			continue
		}
		b.skips = append(b.skips, pendingSkip{from: m.start, to: m.end, next: m.seq + 1})
		run = &b.skips[len(b.skips)-1]
	}
	if i > 0 {
		n := copy(b.q, b.q[i:])
		clear(b.q[n:])
		b.q = b.q[:n]
	}
	var next monotime.Time
	if len(b.q) > 0 {
		next = b.q[0].expiry
	}
	b.mu.Unlock()
	for j := range b.skips {
		if k := &b.skips[j]; !k.sent {
			s.abandon(st, k.from, k.to)
		}
	}
	if len(b.skips) > 0 {
		s.queueStreamCtl(st)
	}
	return next
}

// abandon gives up [from, to) of st's send buffer, charging the bytes that
// were never sent to the session's credit (the receiver counts the whole
// range as received when it gets the SKIP).
func (s *Session) abandon(st *Stream, from, to uint64) {
	if ok, unsent := st.send.AbandonRange(from, to); ok {
		s.sendWin.Consume(int(unsent))
		s.checkStreamDone(st)
	}
}

// abandonWritten abandons the bytes an expired message still being written
// adds (its end was beyond what was written when it expired).
func (s *Session) abandonWritten(st *Stream) {
	if b := st.bounded; b != nil && len(b.skips) > 0 {
		k := &b.skips[len(b.skips)-1]
		s.abandon(st, k.from, k.to)
	}
}

// nextSkipOf is nextSkip that accepts a nil state (not a bounded stream).
func (b *boundedState) nextSkipOf() *pendingSkip {
	if b == nil {
		return nil
	}
	return b.nextSkip()
}

// nextSkip returns the first SKIP not yet in flight, or nil.
func (b *boundedState) nextSkip() *pendingSkip {
	for i := range b.skips {
		if !b.skips[i].sent {
			return &b.skips[i]
		}
	}
	return nil
}

// skipAcked removes the SKIP for the range starting at from (its packet
// was acknowledged).
func (b *boundedState) skipAcked(from uint64) {
	for i := range b.skips {
		if b.skips[i].from == from {
			b.skips = append(b.skips[:i], b.skips[i+1:]...)
			if len(b.skips) == 0 {
				b.skips = nil
			}
			return
		}
	}
}

// skipLost queues the SKIP for the range starting at from again (its
// packet was lost); it reports whether one was waiting.
func (b *boundedState) skipLost(from uint64) bool {
	for i := range b.skips {
		if b.skips[i].from == from {
			b.skips[i].sent = false
			return true
		}
	}
	return false
}

// registerBounded puts a bounded stream on the session's expiry list and
// brings the session's next expiry forward to its first message.
func (s *Session) registerBounded(st *Stream) {
	b := st.bounded
	if b == nil || st.removed {
		return
	}
	if !b.registered {
		b.registered = true
		s.bounded = append(s.bounded, st)
	}
	b.mu.Lock()
	var head monotime.Time
	if len(b.q) > 0 {
		head = b.q[0].expiry
	}
	b.mu.Unlock()
	if head != 0 && (s.nextExpiry == 0 || head < s.nextExpiry) {
		s.nextExpiry = head
	}
}

// skipDelivered reports whether every SKIP of a bounded stream has been
// acknowledged (the send direction is not finished before: the receiver
// would wait for the abandoned bytes forever).
func (st *Stream) skipDelivered() bool {
	return st.bounded == nil || len(st.bounded.skips) == 0
}

// onSkip handles the peer's SKIP: the range counts as received without
// data. Bytes abandoned without ever being sent were never charged to the
// session's credit, so they are not returned to it either.
func (s *Session) onSkip(st *Stream, f *wire.SkipFrame) error {
	end := f.Offset + f.Length
	moved, err := st.recv.Skip(f.Offset, end, f.NextMessage)
	switch {
	case errors.Is(err, streambuf.ErrTooManyGaps):
		s.loop.noAck = true // the peer sends it again later
		return nil
	case errors.Is(err, streambuf.ErrFinalSize):
		return &errProtocol{CodeFinalSize, "SKIP beyond the stream's final size"}
	case err != nil:
		return &errProtocol{CodeProtocol, "SKIP range out of bounds"}
	case !moved:
		return nil
	}
	if end > st.recvHighest {
		// As if received: the sender charged the bytes it never sent to
		// its credit when it abandoned them (it may go past the credit to
		// skip a whole message); the reader passing them returns it.
		s.recvWin.OnSkipped(end - st.recvHighest)
		st.recvHighest = end
	}
	s.checkStreamDone(st)
	return nil
}
