package netem

import (
	"math/bits"
	"time"
)

// Counters count what happened to the datagrams of one flow on one link,
// or of all flows (Link.Stats). Datagram counts are per datagram; byte
// counts are UDP payload bytes. Every arriving datagram ends in exactly
// one of Forwarded, a Dropped* counter, WriteErrors, or is still held
// (LinkStats.Held), so In = Forwarded + Dropped() + WriteErrors + held.
type Counters struct {
	DatagramsIn, BytesIn             uint64 // arrived at the link
	Forwarded, BytesForwarded        uint64 // released and written to the next hop
	DroppedQueue, BytesDroppedQueue  uint64 // tail-dropped: the queue was full
	DroppedLoss, BytesDroppedLoss    uint64 // random loss (Bernoulli or Gilbert–Elliott)
	DroppedMTU, BytesDroppedMTU      uint64 // larger than the MTU
	DroppedOverflow, BytesDroppedCap uint64 // the hard cap on held bytes (MaxHeld) was reached
	DroppedClosed                    uint64 // the flow's path closed before release, or the link closed
	Reordered                        uint64 // held back by ReorderDelay
	WriteErrors                      uint64 // the next hop's socket refused the datagram
	// QueueDelay holds each forwarded or still-held datagram's wait in the
	// queue: from arrival to the start of its serialisation (0 on an idle
	// link or without a rate).
	QueueDelay Histogram
}

// Dropped returns the datagrams dropped for any reason.
func (c *Counters) Dropped() uint64 {
	return c.DroppedQueue + c.DroppedLoss + c.DroppedMTU + c.DroppedOverflow + c.DroppedClosed
}

// LinkStats is a snapshot of a Link: the counters of all its flows summed,
// plus the link's own state.
type LinkStats struct {
	Counters
	// QueueBytes is the backlog in IP-packet bytes when the snapshot was
	// taken, and MaxQueueBytes the largest backlog right after an accepted
	// arrival (at most QueueBytes of the config, or one datagram on an
	// idle link).
	QueueBytes, MaxQueueBytes int
	// Held is how many datagrams the link holds (queued or in the delay
	// line), and HeldBytes their buffers' size (what MaxHeld caps).
	Held, HeldBytes int
	// Late is, for each released datagram, how long after its scheduled
	// release time it was written: the emulator's own timing error (the
	// release goroutine's wake-up latency plus the write). It adds to the
	// configured delay.
	Late Histogram
	// MTU is the current MTU (0: none).
	MTU int
}

// Histogram counts durations in log-linear buckets: exact below 32 ns,
// then 32 buckets per power of two, so a quantile is within 1/32 (~3%) of
// the true value; durations from 2^40 ns (~18 min) up share the last
// bucket. The zero value is an empty histogram ready to use. It is a plain
// value (about 10 KiB): copying it copies the counts. Not safe for
// concurrent use.
type Histogram struct {
	counts [histBuckets]uint64
	n      uint64
	sum    time.Duration
	max    time.Duration
}

const (
	histSubBits = 5 // 32 sub-buckets per power of two
	histSub     = 1 << histSubBits
	histMaxBit  = 40                                     // values ≥ 2^40 ns land in the last bucket
	histBuckets = (histMaxBit-histSubBits+1)*histSub + 1 // the last one holds everything ≥ 2^histMaxBit
)

// histIndex returns the bucket of v ns (v ≥ 0).
func histIndex(v uint64) int {
	if v < histSub {
		return int(v)
	}
	msb := bits.Len64(v) - 1
	if msb >= histMaxBit {
		return histBuckets - 1
	}
	shift := msb - histSubBits
	return (shift+1)<<histSubBits + int(v>>shift) - histSub
}

// histBounds returns the smallest and largest value of bucket i.
func histBounds(i int) (lo, hi uint64) {
	if i < histSub {
		return uint64(i), uint64(i)
	}
	shift := i>>histSubBits - 1
	mant := uint64(i&(histSub-1) + histSub)
	lo = mant << shift
	return lo, lo + (1 << shift) - 1
}

// Record adds one duration; negative durations count as 0. It does not
// allocate.
func (h *Histogram) Record(d time.Duration) {
	d = max(d, 0)
	h.counts[histIndex(uint64(d))]++
	h.n++
	h.sum += d
	h.max = max(h.max, d)
}

// Count returns how many durations were recorded.
func (h *Histogram) Count() uint64 { return h.n }

// Mean returns the mean of the recorded durations (exact), or 0 when empty.
func (h *Histogram) Mean() time.Duration {
	if h.n == 0 {
		return 0
	}
	return h.sum / time.Duration(h.n)
}

// Max returns the largest recorded duration (exact), or 0 when empty.
func (h *Histogram) Max() time.Duration { return h.max }

// Quantile returns the q-quantile (q in [0, 1], clamped) of the recorded
// durations: the midpoint of the bucket holding the ⌈q·n⌉-th smallest
// value, capped at Max. An empty histogram returns 0.
func (h *Histogram) Quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	q = min(max(q, 0), 1)
	rank := uint64(q*float64(h.n) + 0.999999)
	rank = min(max(rank, 1), h.n)
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			lo, hi := histBounds(i)
			return min(time.Duration(lo+(hi-lo)/2), h.max)
		}
	}
	return h.max
}

// Merge adds o's counts to h.
func (h *Histogram) Merge(o *Histogram) {
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.n += o.n
	h.sum += o.sum
	h.max = max(h.max, o.max)
}

// Sub returns the durations recorded in h but not in the earlier snapshot
// old of the same histogram (for measuring an interval). Max is h's.
func (h *Histogram) Sub(old *Histogram) Histogram {
	d := *h
	for i := range d.counts {
		d.counts[i] -= old.counts[i]
	}
	d.n -= old.n
	d.sum -= old.sum
	return d
}
