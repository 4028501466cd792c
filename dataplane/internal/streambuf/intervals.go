package streambuf

// Range is the half-open span of stream offsets [Start, End).
type Range struct {
	Start, End uint64
}

// Len returns End-Start, the number of offsets in r (0 for an empty or
// inverted range).
func (r Range) Len() uint64 {
	if r.End <= r.Start {
		return 0
	}
	return r.End - r.Start
}

// Intervals is a bounded set of stream offsets kept as sorted, non-overlapping,
// non-adjacent half-open ranges: inserting [5,8) next to [8,10) leaves one
// range [5,10), so Len counts the gaps between ranges plus one.
//
// The count of ranges is bounded by Max (DefaultMaxIntervals for the zero
// value). An Insert or Remove that would take the count above the bound
// changes nothing and reports false; the caller decides what that means
// (Recv rejects the frame with ErrTooManyGaps; Send falls back to a coarser
// but safe answer, see Send). Because a set never holds more than Max ranges,
// its storage never exceeds Max*16 bytes.
//
// The zero value is an empty set with the default bound, ready to use.
// Intervals is not safe for concurrent use; Send and Recv guard theirs with
// their own mutex. Storage grows by append up to the high-water count and is
// then reused, so after warm-up no method allocates. Insert, Remove and
// Contains are O(log n) searches plus an O(n) memmove when the count changes.
type Intervals struct {
	r   []Range
	max int
}

// NewIntervals returns an empty set holding at most max ranges; max < 1 means
// DefaultMaxIntervals.
func NewIntervals(max int) *Intervals {
	s := &Intervals{}
	s.SetMax(max)
	return s
}

// SetMax sets the bound on the number of ranges; max < 1 means
// DefaultMaxIntervals. It does not drop ranges already held beyond a lowered
// bound, it only refuses growth until the count falls below it.
func (s *Intervals) SetMax(max int) {
	if max < 1 {
		max = DefaultMaxIntervals
	}
	s.max = max
}

// Max returns the bound on the number of ranges.
func (s *Intervals) Max() int {
	if s.max < 1 {
		return DefaultMaxIntervals
	}
	return s.max
}

// Len returns the number of disjoint ranges held.
func (s *Intervals) Len() int { return len(s.r) }

// At returns the i-th range in ascending order; it panics if i is out of
// [0, Len()).
func (s *Intervals) At(i int) Range { return s.r[i] }

// First returns the lowest range, or false when the set is empty.
func (s *Intervals) First() (Range, bool) {
	if len(s.r) == 0 {
		return Range{}, false
	}
	return s.r[0], true
}

// Last returns the highest range, or false when the set is empty.
func (s *Intervals) Last() (Range, bool) {
	if len(s.r) == 0 {
		return Range{}, false
	}
	return s.r[len(s.r)-1], true
}

// Clear empties the set, keeping its storage for reuse.
func (s *Intervals) Clear() { s.r = s.r[:0] }

// Total returns the number of offsets covered by all ranges.
func (s *Intervals) Total() uint64 {
	var t uint64
	for _, r := range s.r {
		t += r.End - r.Start
	}
	return t
}

// searchEnd returns the index of the first range whose End is >= x
// (touching or after x), or Len() if none.
func (s *Intervals) searchEnd(x uint64) int {
	lo, hi := 0, len(s.r)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if s.r[m].End < x {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo
}

// searchStart returns the index of the first range whose Start is > x, or
// Len() if none.
func (s *Intervals) searchStart(x uint64) int {
	lo, hi := 0, len(s.r)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if s.r[m].Start <= x {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo
}

// Contains reports whether offset x lies in one of the ranges.
func (s *Intervals) Contains(x uint64) bool {
	i := s.searchEnd(x + 1) // first range with End > x
	return i < len(s.r) && s.r[i].Start <= x
}

// ContainsRange reports whether every offset of [start, end) is in the set.
// An empty range is always contained.
func (s *Intervals) ContainsRange(start, end uint64) bool {
	if end <= start {
		return true
	}
	i := s.searchEnd(start + 1)
	return i < len(s.r) && s.r[i].Start <= start && s.r[i].End >= end
}

// Overlapping returns the index of the first range that ends after start
// (the first range that can overlap [start, ...)), or Len() if none. Callers
// walk At(i), At(i+1), ... from there while At(i).Start < end.
func (s *Intervals) Overlapping(start uint64) int { return s.searchEnd(start + 1) }

// LenAfterInsert returns the count of ranges Insert(start, end) would leave,
// without changing the set.
func (s *Intervals) LenAfterInsert(start, end uint64) int {
	if end <= start {
		return len(s.r)
	}
	i, j := s.searchEnd(start), s.searchStart(end)
	if i == j {
		return len(s.r) + 1
	}
	return len(s.r) - (j - i - 1)
}

// Insert adds [start, end), merging it with every range it overlaps or
// touches. It reports false, leaving the set unchanged, when the result
// would hold more than Max ranges. An empty range is a no-op that reports
// true. It does not allocate once the storage has reached its high-water
// mark.
func (s *Intervals) Insert(start, end uint64) bool {
	if end <= start {
		return true
	}
	i, j := s.searchEnd(start), s.searchStart(end)
	if i == j { // touches nothing: a new range at i
		if len(s.r) >= s.Max() {
			return false
		}
		s.r = append(s.r, Range{})
		copy(s.r[i+1:], s.r[i:])
		s.r[i] = Range{start, end}
		return true
	}
	// Ranges i..j-1 overlap or touch [start, end): fold them into r[i].
	merged := Range{min(start, s.r[i].Start), max(end, s.r[j-1].End)}
	s.r[i] = merged
	if j-i > 1 {
		n := copy(s.r[i+1:], s.r[j:])
		s.r = s.r[:i+1+n]
	}
	return true
}

// Remove deletes [start, end) from the set, trimming or splitting the ranges
// it overlaps. It reports false, leaving the set unchanged, when splitting a
// range would take the count above Max. An empty range is a no-op that
// reports true.
func (s *Intervals) Remove(start, end uint64) bool {
	if end <= start {
		return true
	}
	i := s.searchEnd(start + 1) // first range with End > start
	j := i
	for j < len(s.r) && s.r[j].Start < end {
		j++
	}
	if i == j {
		return true // nothing overlaps
	}
	left := Range{s.r[i].Start, start}
	right := Range{end, s.r[j-1].End}
	var keep [2]Range
	k := 0
	if left.Start < left.End {
		keep[k] = left
		k++
	}
	if right.Start < right.End {
		keep[k] = right
		k++
	}
	newLen := len(s.r) - (j - i) + k
	if newLen > len(s.r) && newLen > s.Max() {
		return false
	}
	switch d := k - (j - i); {
	case d > 0: // one range split in two
		s.r = append(s.r, Range{})
		copy(s.r[j+1:], s.r[j:])
	case d < 0:
		n := copy(s.r[i+k:], s.r[j:])
		s.r = s.r[:i+k+n]
	}
	copy(s.r[i:i+k], keep[:k])
	return true
}

// RemoveBelow deletes every offset below x. It never fails: trimming only
// shrinks or drops ranges.
func (s *Intervals) RemoveBelow(x uint64) {
	i := s.searchEnd(x + 1) // first range with End > x; ranges before it end <= x
	if i > 0 {
		n := copy(s.r, s.r[i:])
		s.r = s.r[:n]
	}
	if len(s.r) > 0 && s.r[0].Start < x {
		s.r[0].Start = x
	}
}

// coalesceInsert adds [start, end) like Insert, but at the bound it widens
// the new range over the gap to its nearest neighbour instead of failing, so
// the set may come to hold offsets that were never inserted. Send uses it
// for the retransmission queue, where an over-approximation only costs a
// retransmission that NextFrame clips against the acknowledged set anyway.
func (s *Intervals) coalesceInsert(start, end uint64) {
	if s.Insert(start, end) {
		return
	}
	// Insert failed, so [start, end) touches nothing and the set is non-empty.
	i := s.searchEnd(start) // first range after the new one, or Len()
	switch {
	case i == len(s.r):
		s.r[i-1].End = end
	case i == 0:
		s.r[0].Start = start
	case start-s.r[i-1].End <= s.r[i].Start-end:
		s.r[i-1].End = end
	default:
		s.r[i].Start = start
	}
}
