package streambuf

import (
	"io"
	"time"

	"github.com/stt-go/stt/internal/monotime"
)

// recvModel is the slow, obviously right reference for Recv: one slot per
// offset, the first byte received kept, gaps counted by scanning.
type recvModel struct {
	window, maxWindow uint64
	maxGaps           int
	limit             uint64
	data              []byte // data[o] for offsets o < len(data)
	got               []bool
	consumed, highest uint64
	final             uint64
	finKnown          bool
	reset, closed     bool
	lastUpdate        monotime.Time
	updated           bool
}

func newRecvModel(window, maxWindow, maxGaps int) *recvModel {
	return &recvModel{window: uint64(window), maxWindow: uint64(max(maxWindow, window)), maxGaps: maxGaps, limit: uint64(window)}
}

func (m *recvModel) has(o uint64) bool { return o < uint64(len(m.got)) && m.got[o] }

func (m *recvModel) contig() uint64 {
	c := m.consumed
	for m.has(c) {
		c++
	}
	return c
}

// runsAbove counts maximal received runs at or above from, treating
// [a, b) as received too.
func (m *recvModel) runsAbove(from, a, b, hi uint64) int {
	n, prev := 0, false
	for o := from; o < hi; o++ {
		v := m.has(o) || (o >= a && o < b)
		if v && !prev {
			n++
		}
		prev = v
	}
	return n
}

func (m *recvModel) push(off uint64, p []byte, fin bool) (int, error) {
	end := off + uint64(len(p))
	if m.finKnown && (end > m.final || (fin && end != m.final)) {
		return 0, ErrFinalSize
	}
	if !m.finKnown && fin && end < m.highest {
		return 0, ErrFinalSize
	}
	if end > m.limit {
		return 0, ErrFlowControl
	}
	if m.closed || m.reset {
		m.highest = max(m.highest, end)
		if fin {
			m.final, m.finKnown = end, true
		}
		if m.closed {
			m.consumed = m.highest
		}
		return 0, nil
	}
	before := m.contig()
	hi := max(m.highest, end)
	// the in-order prefix after this frame
	c := before
	for m.has(c) || (c >= off && c < end) {
		c++
	}
	if m.runsAbove(c, off, end, hi) > m.maxGaps {
		return 0, ErrTooManyGaps
	}
	for uint64(len(m.got)) < end {
		m.got = append(m.got, false)
		m.data = append(m.data, 0)
	}
	for i, b := range p {
		o := off + uint64(i)
		if o >= m.consumed && !m.got[o] {
			m.got[o], m.data[o] = true, b
		}
	}
	m.highest = hi
	if fin {
		m.final, m.finKnown = end, true
	}
	return int(m.contig() - before), nil
}

func (m *recvModel) read(n int) ([]byte, error) {
	if m.closed {
		return nil, ErrClosed
	}
	if m.reset {
		return nil, ErrReset
	}
	c := m.contig()
	if c == m.consumed {
		if m.finKnown && m.consumed == m.final {
			return nil, io.EOF
		}
		return nil, nil
	}
	k := min(uint64(n), c-m.consumed)
	out := append([]byte(nil), m.data[m.consumed:m.consumed+k]...)
	m.consumed += k
	return out, nil
}

func (m *recvModel) doReset(fs uint64) error {
	if (m.finKnown && fs != m.final) || fs < m.highest {
		return ErrFinalSize
	}
	if fs > m.limit {
		return ErrFlowControl
	}
	complete := m.finKnown && m.consumed == m.final
	m.final, m.finKnown, m.highest = fs, true, fs
	if m.reset || complete {
		return nil
	}
	m.reset = true
	m.consumed = fs
	return nil
}

func (m *recvModel) closeRead() {
	if !m.closed {
		m.closed = true
		m.consumed = max(m.highest, m.consumed)
	}
}

func (m *recvModel) grow(now monotime.Time, rtt time.Duration) (uint64, bool) {
	if m.finKnown || m.reset || m.closed {
		return 0, false
	}
	if m.limit-m.consumed > m.window/2 {
		return 0, false
	}
	if m.updated && rtt > 0 && now.Sub(m.lastUpdate) < 2*rtt {
		m.window = min(2*m.window, m.maxWindow)
	}
	m.lastUpdate, m.updated = now, true
	if l := m.consumed + m.window; l > m.limit {
		m.limit = l
		return l, true
	}
	return 0, false
}

func (m *recvModel) buffered() int {
	if m.closed || m.reset {
		return 0
	}
	n := 0
	for o := m.consumed; o < uint64(len(m.got)); o++ {
		if m.got[o] {
			n++
		}
	}
	return n
}
