package stc

// ReplayWindowSize is how far below the highest accepted packet number a
// packet may arrive and still be accepted: 2048 packets. At 1 Mpps that is
// 2 ms of reordering; typical paths reorder by tens of packets, and a
// larger window only costs 8 bytes per 64 packets per session direction.
const ReplayWindowSize = 2048

// Replay window geometry (RFC 6479 §2): a ring of 64-bit blocks, one more
// block than the window needs, so that advancing into a new block can
// clear it while the last ReplayWindowSize bits stay intact.
const (
	replayBlockBits = 64
	replayBlocks    = ReplayWindowSize/replayBlockBits + 1 // 33 blocks, 264 bytes
)

// ReplayWindow is an RFC 6479 sliding-window replay filter over packet
// numbers. A packet number is accepted once, provided it is higher than
// every number seen, or within ReplayWindowSize below the highest and not
// seen before. The zero value is ready to use and accepts any first
// number, including 0. Not safe for concurrent use: it belongs to the
// goroutine that opens the direction's packets. Its methods do not
// allocate.
type ReplayWindow struct {
	max    uint64 // highest packet number recorded (0 before any)
	blocks [replayBlocks]uint64
}

// Check reports whether pn may be accepted: not older than the window and
// not yet recorded. It does not record pn. Call it before opening a packet
// (a cheap drop for replays), then [ReplayWindow.Update] once the packet
// has authenticated, so that forged packets never move the window.
func (w *ReplayWindow) Check(pn uint64) bool {
	if pn > w.max {
		return true
	}
	if w.max-pn >= ReplayWindowSize {
		return false
	}
	return w.blocks[(pn/replayBlockBits)%replayBlocks]&(1<<(pn%replayBlockBits)) == 0
}

// Update records pn after its packet authenticated, sliding the window
// forward when pn is the new highest. It returns false, changing nothing,
// if pn is a duplicate or too old; the caller must then discard the
// packet (two packets with one number both opened: a replay).
func (w *ReplayWindow) Update(pn uint64) bool {
	if pn > w.max {
		cur, next := w.max/replayBlockBits, pn/replayBlockBits
		diff := next - cur
		if diff > replayBlocks {
			diff = replayBlocks
		}
		for i := uint64(1); i <= diff; i++ {
			w.blocks[(cur+i)%replayBlocks] = 0
		}
		w.max = pn
	} else if w.max-pn >= ReplayWindowSize {
		return false
	}
	b := &w.blocks[(pn/replayBlockBits)%replayBlocks]
	bit := uint64(1) << (pn % replayBlockBits)
	if *b&bit != 0 {
		return false
	}
	*b |= bit
	return true
}

// Reset forgets every packet number, returning w to its zero state (for a
// new key).
func (w *ReplayWindow) Reset() { *w = ReplayWindow{} }

// Highest returns the highest packet number recorded (0 before any).
func (w *ReplayWindow) Highest() uint64 { return w.max }

// ResetTo replaces w's state by the most conservative window whose highest
// number is highest: every number up to and including highest counts as
// seen, every greater one as new. It lets an idle session keep one number
// instead of the whole bitmap and rebuild the window later; numbers below
// highest that never arrived are then refused (the sender retransmits
// under new numbers, so nothing is lost but a duplicate drop).
func (w *ReplayWindow) ResetTo(highest uint64) {
	for i := range w.blocks {
		w.blocks[i] = ^uint64(0)
	}
	cur := highest / replayBlockBits
	w.blocks[cur%replayBlocks] = ^uint64(0) >> (replayBlockBits - 1 - highest%replayBlockBits)
	w.max = highest
}
