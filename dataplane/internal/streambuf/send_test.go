package streambuf

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
)

type frame struct {
	off uint64
	n   int
	fin bool
}

func next(t testing.TB, s *Send, max int, peerLimit uint64) (frame, []byte, bool) {
	t.Helper()
	dst := make([]byte, max)
	n, off, fin, blocked := s.NextFrame(dst, max, peerLimit)
	return frame{off, n, fin}, dst[:n], blocked
}

func TestSendWriteLimit(t *testing.T) {
	s := NewSend(10000)
	if s.Cap() != 0 {
		t.Fatal("storage before first Write")
	}
	n, err := s.Write(pattern(0, 6000, 0))
	if n != 6000 || err != nil {
		t.Fatalf("Write = %d, %v", n, err)
	}
	if s.Cap() != 8192 {
		t.Fatalf("Cap = %d, want doubling to 8192", s.Cap())
	}
	n, _ = s.Write(pattern(6000, 6000, 0))
	if n != 4000 || s.Buffered() != 10000 || s.Cap() != 10000 {
		t.Fatalf("Write past limit = %d, buffered %d, cap %d", n, s.Buffered(), s.Cap())
	}
	if n, err := s.Write([]byte{1}); n != 0 || err != nil {
		t.Fatalf("Write when full = %d, %v", n, err)
	}
	select {
	case <-s.Writable():
		t.Fatal("Writable signalled without acks")
	default:
	}
	f, p, _ := next(t, s, 3000, 1<<20)
	if f != (frame{0, 3000, false}) || !bytes.Equal(p, pattern(0, 3000, 0)) {
		t.Fatalf("first frame %+v", f)
	}
	s.OnAcked(0, 3000, false)
	<-s.Writable()
	if s.Acked() != 3000 || s.Buffered() != 7000 {
		t.Fatalf("acked %d buffered %d", s.Acked(), s.Buffered())
	}
	if n, _ := s.Write(pattern(10000, 5000, 0)); n != 3000 {
		t.Fatalf("Write after ack = %d, want 3000", n)
	}
	// The ring wrapped: bytes must come back intact.
	var got []byte
	for s.HasData() {
		f, p, _ := next(t, s, 1400, 1<<20)
		got = append(got, p...)
		s.OnAcked(f.off, f.n, f.fin)
	}
	if !bytes.Equal(got, pattern(3000, 10000, 0)) {
		t.Fatal("data corrupted across ring wrap")
	}
	if s.Written() != 13000 || s.Sent() != 13000 || s.Acked() != 13000 {
		t.Fatalf("written %d sent %d acked %d", s.Written(), s.Sent(), s.Acked())
	}
	s.Trim()
	if s.Cap() != 0 {
		t.Fatal("Trim kept an idle ring")
	}
	if n, _ := s.Write([]byte{1, 2}); n != 2 || s.Cap() != minStorage {
		t.Fatalf("Write after Trim: %d, cap %d", n, s.Cap())
	}
	if NewSend(0).limit != DefaultSendLimit {
		t.Fatal("default limit")
	}
}

func TestSendFlowControl(t *testing.T) {
	s := NewSend(1000)
	s.Write(pattern(0, 1000, 0))
	tests := []struct {
		max       int
		peerLimit uint64
		want      frame
		blocked   bool
	}{
		{300, 200, frame{0, 200, false}, true},
		{300, 200, frame{0, 0, false}, true},
		{300, 100, frame{0, 0, false}, true}, // a lower limit is ignored
		{300, 600, frame{200, 300, false}, false},
		{300, 600, frame{500, 100, false}, true},
		{0, 2000, frame{0, 0, false}, false},
		{1000, 2000, frame{600, 400, false}, false},
		{1000, 2000, frame{0, 0, false}, false},
	}
	for i, tt := range tests {
		dst := make([]byte, 1000)
		n, off, fin, blocked := s.NextFrame(dst, tt.max, tt.peerLimit)
		f, p := frame{off, n, fin}, dst[:n]
		if f != tt.want || blocked != tt.blocked || !bytes.Equal(p, pattern(tt.want.off, tt.want.n, 0)) {
			t.Fatalf("step %d: frame %+v blocked %v; want %+v %v", i, f, blocked, tt.want, tt.blocked)
		}
	}
	s2 := NewSend(100)
	s2.Write(pattern(0, 100, 0))
	if !s2.HasData() {
		t.Fatal("HasData false before any peer limit")
	}
	s2.SetPeerLimit(0)
	if s2.HasData() {
		t.Fatal("HasData true while blocked by peer credit")
	}
	s2.SetPeerLimit(50)
	if !s2.HasData() {
		t.Fatal("HasData false after credit")
	}
	// dst shorter than max bounds the copy.
	if n, _, _, _ := s2.NextFrame(make([]byte, 7), 100, 50); n != 7 {
		t.Fatalf("n = %d, want len(dst)", n)
	}
}

func TestSendWithinSessionWindow(t *testing.T) {
	s := NewSend(1000)
	s.Write(pattern(0, 1000, 0))
	var conn SendWindow
	conn.SetLimit(300)
	dst := make([]byte, 1000)
	n, off, _, blocked := s.NextFrameWithin(dst, 1000, 1000, &conn)
	if n != 300 || off != 0 || blocked || conn.Available() != 0 {
		t.Fatalf("n %d off %d blocked %v avail %d", n, off, blocked, conn.Available())
	}
	if n, _, _, _ := s.NextFrameWithin(dst, 1000, 1000, &conn); n != 0 {
		t.Fatalf("sent %d beyond the session credit", n)
	}
	s.OnLost(0, 100, false)
	if n, off, _, _ := s.NextFrameWithin(dst, 1000, 1000, &conn); n != 100 || off != 0 || conn.Used() != 300 {
		t.Fatalf("retransmission n %d off %d used %d (must not consume credit)", n, off, conn.Used())
	}
	conn.SetLimit(1000)
	if n, off, _, _ := s.NextFrameWithin(dst, 1000, 1000, &conn); n != 700 || off != 300 || conn.Used() != 1000 {
		t.Fatalf("n %d off %d used %d", n, off, conn.Used())
	}
}

func TestSendFin(t *testing.T) {
	t.Run("with last data", func(t *testing.T) {
		s := NewSend(100)
		s.Write(pattern(0, 50, 0))
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatal("second Close:", err)
		}
		if _, err := s.Write([]byte{1}); !errors.Is(err, ErrClosed) {
			t.Fatalf("Write after Close: %v", err)
		}
		f1, _, _ := next(t, s, 30, 100)
		f2, _, _ := next(t, s, 30, 100)
		if f1 != (frame{0, 30, false}) || f2 != (frame{30, 20, true}) || s.HasData() {
			t.Fatalf("frames %+v %+v", f1, f2)
		}
		s.OnLost(30, 20, true)
		if f, _, _ := next(t, s, 100, 100); f != (frame{30, 20, true}) {
			t.Fatalf("FIN retransmission %+v", f)
		}
		s.OnAcked(30, 20, true)
		if s.Done() {
			t.Fatal("Done with [0,30) unacknowledged")
		}
		s.OnAcked(0, 30, false)
		if !s.Done() || s.Cap() != 0 {
			t.Fatalf("Done %v cap %d", s.Done(), s.Cap())
		}
	})
	t.Run("alone", func(t *testing.T) {
		s := NewSend(100)
		s.Write(pattern(0, 10, 0))
		f, _, _ := next(t, s, 100, 100)
		s.Close()
		if !s.HasData() {
			t.Fatal("FIN not pending")
		}
		fin, _, _ := next(t, s, 100, 100)
		if f != (frame{0, 10, false}) || fin != (frame{10, 0, true}) {
			t.Fatalf("frames %+v %+v", f, fin)
		}
		s.OnLost(10, 0, true)
		if fin, _, _ := next(t, s, 0+1, 0); fin != (frame{10, 0, true}) {
			t.Fatalf("pure FIN retransmission %+v", fin)
		}
		s.OnAcked(10, 0, true)
		s.OnLost(10, 0, true) // late loss of the old copy: FIN stays acknowledged
		if s.HasData() {
			t.Fatal("acknowledged FIN queued again")
		}
		s.OnAcked(0, 10, false)
		if !s.Done() {
			t.Fatal("not Done")
		}
	})
	t.Run("empty stream", func(t *testing.T) {
		s := NewSend(100)
		s.Close()
		fin, _, _ := next(t, s, 100, 0)
		s.OnAcked(fin.off, fin.n, fin.fin)
		if fin != (frame{0, 0, true}) || !s.Done() {
			t.Fatalf("frame %+v done %v", fin, s.Done())
		}
	})
	t.Run("blocked data holds the FIN", func(t *testing.T) {
		s := NewSend(100)
		s.Write(pattern(0, 50, 0))
		s.Close()
		if f, _, blocked := next(t, s, 100, 20); f != (frame{0, 20, false}) || !blocked {
			t.Fatalf("frame %+v blocked %v", f, blocked)
		}
		if s.HasData() {
			t.Fatal("HasData while blocked with FIN pending")
		}
	})
}

func TestSendReset(t *testing.T) {
	s := NewSend(1000)
	s.Write(pattern(0, 500, 0))
	next(t, s, 200, 1000)
	if fs := s.Reset(9); fs != 200 {
		t.Fatalf("final size %d, want the sent frontier 200", fs)
	}
	if fs := s.Reset(10); fs != 200 {
		t.Fatalf("second Reset final size %d", fs)
	}
	if code, ok := s.ResetCode(); code != 9 || !ok {
		t.Fatalf("ResetCode = %d, %v", code, ok)
	}
	<-s.Writable()
	if _, err := s.Write([]byte{1}); !errors.Is(err, ErrClosed) {
		t.Fatalf("Write after Reset: %v", err)
	}
	if err := s.Close(); !errors.Is(err, ErrClosed) {
		t.Fatalf("Close after Reset: %v", err)
	}
	s.OnLost(0, 200, false)
	s.OnAcked(0, 200, false)
	if s.HasData() || s.Done() || s.Cap() != 0 {
		t.Fatal("reset stream still active")
	}
	if n, _, fin, _ := s.NextFrame(make([]byte, 100), 100, 1000); n != 0 || fin {
		t.Fatal("frame after Reset")
	}
}

func TestSendRetransmitsOnlyUnacked(t *testing.T) {
	s := NewSend(10000)
	s.Write(pattern(0, 1000, 0))
	for range 10 {
		next(t, s, 100, 10000) // frames of 100
	}
	s.OnAcked(200, 100, false)
	s.OnAcked(500, 100, false)
	s.OnLost(0, 1000, false) // one big loss report spanning acked parts
	var got []frame
	for s.HasData() {
		f, p, _ := next(t, s, 250, 10000)
		if !bytes.Equal(p, pattern(f.off, f.n, 0)) {
			t.Fatalf("frame %+v has wrong bytes", f)
		}
		got = append(got, f)
	}
	want := []frame{{0, 200, false}, {300, 200, false}, {600, 250, false}, {850, 150, false}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("retransmissions %v, want %v", got, want)
	}
	// A loss declared spuriously and then acknowledged is not resent.
	s.OnLost(0, 200, false)
	s.OnAcked(0, 200, false)
	s.OnLost(600, 250, false)
	s.OnAcked(650, 100, false)
	got = got[:0]
	for s.HasData() {
		f, _, _ := next(t, s, 1000, 10000)
		got = append(got, f)
	}
	if want := []frame{{600, 50, false}, {750, 100, false}}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("after spurious loss: %v, want %v", got, want)
	}
	s.OnAcked(0, 2000, false) // beyond what was sent: clipped
	if s.Acked() != 1000 {
		t.Fatalf("Acked = %d", s.Acked())
	}
}

func TestSendAckBoundFallback(t *testing.T) {
	s := NewSend(100000)
	s.ackRanges.SetMax(2)
	s.lost.SetMax(2)
	s.Write(pattern(0, 10000, 0))
	for range 100 {
		next(t, s, 100, 1<<20)
	}
	// Acks of every other frame: only two ranges fit; the rest are resent.
	for off := uint64(100); off < 10000; off += 200 {
		s.OnAcked(off, 100, false)
	}
	// Lose every other frame: the retransmission queue coalesces.
	for off := uint64(0); off < 10000; off += 200 {
		s.OnLost(off, 100, false)
	}
	if s.ackRanges.Len() > 2 || s.lost.Len() > 2 {
		t.Fatalf("bounds exceeded: %d acked ranges, %d lost ranges", s.ackRanges.Len(), s.lost.Len())
	}
	// Every byte eventually acknowledged.
	for i := 0; s.HasData(); i++ {
		if i > 1000 {
			t.Fatal("no progress")
		}
		f, p, _ := next(t, s, 1000, 1<<20)
		if !bytes.Equal(p, pattern(f.off, f.n, 0)) {
			t.Fatalf("frame %+v wrong bytes", f)
		}
		for x := f.off; x < f.off+uint64(f.n); x++ {
			if s.ackRanges.Contains(x) {
				t.Fatalf("resent acknowledged offset %d", x)
			}
		}
		s.OnAcked(f.off, f.n, f.fin)
	}
	if s.Acked() != 10000 {
		t.Fatalf("Acked = %d", s.Acked())
	}
}

// TestSendLossyModel sends a stream through random loss, reordering,
// spurious loss and duplicate delivery into a Recv, tracking every byte's
// state: a retransmission may carry only bytes declared lost and not
// acknowledged since, new data only bytes never sent, and in the end every
// byte and the FIN are acknowledged and the receiver reads the exact stream.
func TestSendLossyModel(t *testing.T) {
	const (
		unsent = iota
		inFlight
		lost
		acked
	)
	retransmitted := 0
	for seed := range uint64(60) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 7))
			total := 2000 + rng.IntN(30000)
			src := pattern(0, total, byte(seed))
			s := NewSend(1000 + rng.IntN(8000))
			r := NewRecv(1<<16, 1<<16, 1<<10)
			state := make([]byte, total)
			var inflight []frame
			written, finAcked, finSent := 0, false, false
			var out []byte
			buf := make([]byte, 2000)
			for step := 0; !s.Done(); step++ {
				if step > 200000 {
					t.Fatal("no progress")
				}
				if written < total {
					n, _ := s.Write(src[written:min(total, written+rng.IntN(5000))])
					written += n
					if written == total {
						s.Close()
					}
				}
				for range rng.IntN(4) {
					sentBefore := s.Sent()
					f, p, _ := next(t, s, 1+rng.IntN(1500), 1<<40)
					if f.n == 0 && !f.fin {
						break
					}
					if !bytes.Equal(p, src[f.off:f.off+uint64(f.n)]) {
						t.Fatalf("frame %+v carries wrong bytes", f)
					}
					for x := f.off; x < f.off+uint64(f.n); x++ {
						want := byte(lost)
						if x >= sentBefore {
							want = unsent
						} else {
							retransmitted++
						}
						if state[x] != want {
							t.Fatalf("frame %+v: byte %d in state %d, want %d", f, x, state[x], want)
						}
						state[x] = inFlight
					}
					if f.fin {
						if f.off+uint64(f.n) != uint64(total) || written != total || finAcked {
							t.Fatalf("unexpected FIN on %+v", f)
						}
						finSent = true
					}
					inflight = append(inflight, f)
				}
				// Resolve a random in-flight frame.
				if len(inflight) > 0 && rng.IntN(3) != 0 {
					i := rng.IntN(len(inflight))
					f := inflight[i]
					inflight = append(inflight[:i], inflight[i+1:]...)
					deliver := func() {
						if _, err := r.Push(f.off, src[f.off:f.off+uint64(f.n)], f.fin); err != nil {
							t.Fatal(err)
						}
					}
					switch k := rng.IntN(10); {
					case k < 7: // delivered and acked
						deliver()
						if rng.IntN(5) == 0 {
							deliver() // duplicate
						}
						s.OnAcked(f.off, f.n, f.fin)
						for x := f.off; x < f.off+uint64(f.n); x++ {
							state[x] = acked
						}
						finAcked = finAcked || f.fin
					case k < 9: // lost
						s.OnLost(f.off, f.n, f.fin)
						for x := f.off; x < f.off+uint64(f.n); x++ {
							if state[x] != acked {
								state[x] = lost
							}
						}
					default: // spurious loss: delivered, declared lost, then acked late
						deliver()
						s.OnLost(f.off, f.n, f.fin)
						s.OnAcked(f.off, f.n, f.fin)
						for x := f.off; x < f.off+uint64(f.n); x++ {
							state[x] = acked
						}
						finAcked = finAcked || f.fin
					}
				}
				n, _ := r.Read(buf)
				out = append(out, buf[:n]...)
				r.MaybeGrowLimit(0, 0)
			}
			if !finSent || !finAcked {
				t.Fatal("FIN never sent or acknowledged")
			}
			for x, st := range state {
				if st != acked {
					t.Fatalf("Done with byte %d in state %d", x, st)
				}
			}
			out = append(out, readAll(t, r, 4096)...)
			if !bytes.Equal(out, src) {
				t.Fatalf("receiver got %d bytes, want %d (content mismatch)", len(out), total)
			}
			if _, err := r.Read(buf); err == nil {
				t.Fatal("no EOF at the end")
			}
		})
	}
	if retransmitted == 0 {
		t.Fatal("no byte was ever retransmitted: the walk tests nothing")
	}
}

// TestSendGrowLimit: a tuned buffer takes initial bytes, then more once
// GrowLimit raises it, never beyond its maximum, and never shrinks.
func TestSendGrowLimit(t *testing.T) {
	s := NewSendTuned(1000, 4000)
	p := make([]byte, 5000)
	if n, _ := s.Write(p); n != 1000 {
		t.Fatalf("wrote %d, want the initial 1000", n)
	}
	if s.GrowLimit(500) || s.GrowLimit(1000) || s.GrowLimit(0) {
		t.Fatal("GrowLimit to a value not above the limit reported growth")
	}
	if !s.GrowLimit(2500) || s.Limit() != 2500 {
		t.Fatalf("GrowLimit(2500): limit %d", s.Limit())
	}
	if n, _ := s.Write(p); n != 1500 {
		t.Fatalf("wrote %d after growing, want 1500", n)
	}
	if !s.GrowLimit(1<<20) || s.Limit() != 4000 {
		t.Fatalf("GrowLimit beyond the maximum: limit %d, want 4000", s.Limit())
	}
	if s.GrowLimit(1<<20) || s.GrowLimit(3000) || s.Limit() != 4000 {
		t.Fatal("limit changed at the maximum or shrank")
	}
	if n, _ := s.Write(p); n != 1500 {
		t.Fatalf("wrote %d at the maximum, want 1500", n)
	}
	for _, tc := range []struct{ initial, max, want int }{
		{0, 4000, 4000}, {-1, 4000, 4000}, {5000, 4000, 4000}, {1, 0, 1}, {0, 0, DefaultSendLimit},
	} {
		if got := NewSendTuned(tc.initial, tc.max).Limit(); got != tc.want {
			t.Errorf("NewSendTuned(%d, %d).Limit() = %d, want %d", tc.initial, tc.max, got, tc.want)
		}
	}
	if NewSend(3000).GrowLimit(6000) {
		t.Fatal("a fixed NewSend buffer grew")
	}
}

// TestSendNextFrameLayout: the layout is asked once per frame, with the
// offset the frame gets (the lowest lost range before new data); the data
// lands at dst[skip:], at most the layout's max; a layout that leaves no
// room sends nothing but lets a FIN on its own go.
func TestSendNextFrameLayout(t *testing.T) {
	s := NewSend(10000)
	s.Write(pattern(0, 1000, 0))
	var asked []uint64
	layout := func(off uint64) (int, int) {
		asked = append(asked, off)
		return int(off%7) + 1, 300
	}
	dst := make([]byte, 400)
	var got []frame
	for range 4 {
		n, off, fin, _ := s.NextFrameLayout(dst, layout, 10000, nil)
		skip := int(off%7) + 1
		if !bytes.Equal(dst[skip:skip+n], pattern(off, n, 0)) {
			t.Fatalf("frame at %d: data not at dst[%d:]", off, skip)
		}
		got = append(got, frame{off, n, fin})
	}
	if want := []frame{{0, 300, false}, {300, 300, false}, {600, 300, false}, {900, 100, false}}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("frames %v, want %v", got, want)
	}
	s.OnLost(300, 300, false)
	asked = asked[:0]
	n, off, _, _ := s.NextFrameLayout(dst, layout, 10000, nil)
	if off != 300 || n != 300 || fmt.Sprint(asked) != "[300]" || !bytes.Equal(dst[off%7+1:off%7+1+300], pattern(300, 300, 0)) {
		t.Fatalf("retransmission: off %d n %d, layout asked %v", off, n, asked)
	}
	// The layout's max is capped by what is left of dst after skip.
	s.OnLost(0, 300, false)
	n, off, _, _ = s.NextFrameLayout(dst[:100], layout, 10000, nil)
	if off != 0 || n != 99 {
		t.Fatalf("capped frame: off %d n %d, want 0 and 99", off, n)
	}
	s.OnAcked(0, 1000, false)
	// No room behind the header: nothing goes, until the FIN alone.
	s.Write(pattern(1000, 10, 0))
	none := func(uint64) (int, int) { return 4, 0 }
	if n, _, fin, _ := s.NextFrameLayout(dst, none, 10000, nil); n != 0 || fin {
		t.Fatalf("no room: n %d fin %v", n, fin)
	}
	s.NextFrameLayout(dst, layout, 10000, nil) // the 10 bytes
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if n, off, fin, _ := s.NextFrameLayout(dst, none, 10000, nil); n != 0 || !fin || off != 1010 {
		t.Fatalf("FIN alone: n %d off %d fin %v", n, off, fin)
	}
}
