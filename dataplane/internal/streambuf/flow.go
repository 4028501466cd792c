package streambuf

import (
	"sync/atomic"
	"time"

	"github.com/stt-go/stt/internal/monotime"
)

// autoTune is the credit-window logic shared by Recv (per stream) and
// RecvWindow (per session), after quic-go's flow controller: advertise
// consumed+window once the reader has eaten more than half the window, and
// double the window (up to maxWindow) when that happens within two RTTs of
// the previous update, because then the window, not the reader, is what
// limits throughput. Not safe for concurrent use.
type autoTune struct {
	limit      uint64        // absolute credit advertised to the peer
	window     uint64        // current window size
	maxWindow  uint64        // auto-tuning ceiling
	lastUpdate monotime.Time // when limit was last raised; valid if updated
	updated    bool          // whether MaybeGrowLimit has ever raised limit
}

// init sets the initial window; window < 1 means DefaultRecvWindow, and
// maxWindow below window means window (no growth).
func (a *autoTune) init(window, maxWindow int) {
	if window < 1 {
		window = DefaultRecvWindow
	}
	window = min(window, MaxOffset)
	if maxWindow < window {
		maxWindow = window
	}
	maxWindow = min(maxWindow, MaxOffset)
	a.window, a.maxWindow, a.limit = uint64(window), uint64(maxWindow), uint64(window)
}

// due reports whether more than half the window was consumed since the last
// update, i.e. at most half of the advertised credit remains.
func (a *autoTune) due(consumed uint64) bool {
	return a.limit-min(consumed, a.limit) <= a.window/2
}

// grow raises the window to at least n, capped at maxWindow.
func (a *autoTune) grow(n uint64) {
	a.window = max(a.window, min(n, a.maxWindow))
}

func (a *autoTune) maybeGrowLimit(consumed uint64, now monotime.Time, rtt time.Duration) (uint64, bool) {
	if !a.due(consumed) {
		return 0, false
	}
	if a.updated && rtt > 0 && now.Sub(a.lastUpdate) < 2*rtt {
		a.grow(2 * a.window)
	}
	a.lastUpdate, a.updated = now, true
	l := min(consumed+a.window, MaxOffset)
	if l <= a.limit {
		return 0, false
	}
	a.limit = l
	return l, true
}

// SendWindow is the peer's session-level credit for us: the total stream
// bytes (new data only, never retransmissions) we may send on all streams
// (MAX_DATA, RFC 9000 §4.1). The zero value has no credit and is ready to
// use. It is owned by the session's loop and not safe for concurrent use; no
// method allocates.
type SendWindow struct {
	limit     uint64 // peer's absolute credit
	used      uint64 // new bytes sent
	blockedAt uint64 // limit at which Blocked last reported
	reported  bool   // whether blockedAt is valid
}

// SetLimit raises the credit to max; a lower or equal max (a reordered or
// duplicate MAX_DATA) is ignored.
func (w *SendWindow) SetLimit(max uint64) {
	w.limit = maxOf(w.limit, max)
}

// Limit returns the peer's absolute credit.
func (w *SendWindow) Limit() uint64 { return w.limit }

// Used returns the bytes consumed so far.
func (w *SendWindow) Used() uint64 { return w.used }

// Available returns the credit left.
func (w *SendWindow) Available() uint64 {
	if w.used >= w.limit {
		return 0
	}
	return w.limit - w.used
}

// Overdrawn reports whether more was consumed than the limit allows: a
// latency-bounded stream charged bytes it skipped past the credit
// (Session.abandon). A FIN-only frame, whose final size the peer counts
// like data, waits until the credit covers it again.
func (w *SendWindow) Overdrawn() bool { return w.used > w.limit }

// Consume records n new bytes sent. Callers never consume more than
// Available (Send.NextFrameWithin enforces it), except for bytes a
// latency-bounded stream skips (see Overdrawn); a negative n is ignored.
func (w *SendWindow) Consume(n int) {
	if n > 0 {
		w.used += uint64(n)
	}
}

// Blocked reports (limit, true) when no credit is left and this limit has
// not been reported before, so the caller sends one DATA_BLOCKED per limit
// (RFC 9000 §19.12); otherwise (0, false).
func (w *SendWindow) Blocked() (limit uint64, ok bool) {
	if w.used < w.limit || (w.reported && w.blockedAt == w.limit) {
		return 0, false
	}
	w.blockedAt, w.reported = w.limit, true
	return w.limit, true
}

// RecvWindow is our session-level credit for the peer (MAX_DATA): the sum of
// the highest offsets received on all streams may not pass Limit. It
// auto-tunes like Recv. OnConsumed and Consumed are safe for concurrent use
// (API goroutines may report reads); every other method belongs to the
// session's loop. No method allocates.
type RecvWindow struct {
	tune     autoTune
	received uint64
	consumed atomic.Uint64
}

// NewRecvWindow returns a session window with initial credit window (< 1:
// DefaultRecvWindow) that may auto-tune up to maxWindow (below window: no
// growth).
func NewRecvWindow(window, maxWindow int) *RecvWindow {
	w := &RecvWindow{}
	w.tune.init(window, maxWindow)
	return w
}

// OnReceived accounts for highestOffsetDelta new bytes of stream offset space
// (the growth of a stream's highest received offset, or of its final size on
// a RESET). It returns ErrFlowControl, counting nothing, when the total
// would pass Limit.
func (w *RecvWindow) OnReceived(highestOffsetDelta uint64) error {
	if highestOffsetDelta > w.tune.limit-min(w.received, w.tune.limit) {
		return ErrFlowControl
	}
	w.received += highestOffsetDelta
	return nil
}

// OnSkipped records offset space a latency-bounded stream's sender skipped
// (abandoned bytes it never sent, charged to its credit as if sent): it
// counts as received without a limit check — the sender may have gone past
// its credit to skip a whole message — and, once the reader passes it, as
// consumed.
func (w *RecvWindow) OnSkipped(n uint64) { w.received += n }

// OnConsumed records n bytes handed to (or discarded for) the application,
// which makes credit eligible for return. Safe for concurrent use; a
// negative n is ignored.
func (w *RecvWindow) OnConsumed(n int) {
	if n > 0 {
		w.consumed.Add(uint64(n))
	}
}

// MaybeGrowLimit returns a new absolute limit to advertise in MAX_DATA when
// more than half the window was consumed since the last update, doubling
// the window (up to the ceiling) when the previous update was less than
// 2*rtt ago. rtt <= 0 disables growth.
func (w *RecvWindow) MaybeGrowLimit(now monotime.Time, rtt time.Duration) (newLimit uint64, ok bool) {
	return w.tune.maybeGrowLimit(w.consumed.Load(), now, rtt)
}

// UpdateDue reports whether MaybeGrowLimit would now return a new limit.
func (w *RecvWindow) UpdateDue() bool { return w.tune.due(w.consumed.Load()) }

// EnsureWindow raises the window size to at least n bytes (capped at the
// ceiling); the caller does this when a stream window grows, as quic-go
// keeps the connection window at 1.5x the largest stream window.
func (w *RecvWindow) EnsureWindow(n int) {
	if n > 0 {
		w.tune.grow(uint64(n))
	}
}

// Limit returns the absolute credit currently advertised.
func (w *RecvWindow) Limit() uint64 { return w.tune.limit }

// Window returns the current window size.
func (w *RecvWindow) Window() int { return int(w.tune.window) }

// Received returns the total offset space received.
func (w *RecvWindow) Received() uint64 { return w.received }

// Consumed returns the bytes reported by OnConsumed.
func (w *RecvWindow) Consumed() uint64 { return w.consumed.Load() }

// maxOf is the builtin max, for methods whose parameter shadows it.
func maxOf(a, b uint64) uint64 { return max(a, b) }
