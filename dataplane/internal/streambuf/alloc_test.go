package streambuf

import (
	"testing"
	"time"

	"github.com/stt-go/stt/internal/monotime"
)

var (
	sinkInt  int
	sinkU64  uint64
	sinkBool bool
	sinkErr  error
)

// TestNoAllocs guards the steady-state hot paths: after one warm-up run has
// grown the rings and interval sets, each operation must not allocate.
func TestNoAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are meaningless under -race")
	}
	frame := pattern(0, 1400, 0)
	out := make([]byte, 1<<16)
	var firstErr error
	check := func(_ int, err error) {
		if err != nil && firstErr == nil {
			firstErr = err
		}
	}

	// Receive side: in-order Push then Read, with window updates.
	rIn := NewRecv(1<<16, 1<<16, 64)
	var rInOff uint64
	pushRead := func() {
		for range 8 {
			check(rIn.Push(rInOff, frame, false))
			rInOff += uint64(len(frame))
		}
		n, err := rIn.Read(out)
		sinkInt, sinkErr = n, err
		sinkU64, sinkBool = rIn.MaybeGrowLimit(monotime.Time(rInOff), time.Millisecond)
	}
	// Receive side: out-of-order Push (every frame's predecessor arrives
	// second), then Read.
	rOoo := NewRecv(1<<16, 1<<16, 64)
	var rOooOff uint64
	pushOutOfOrder := func() {
		for range 4 {
			a, b := rOooOff, rOooOff+uint64(len(frame))
			check(rOoo.Push(b, frame, false))
			check(rOoo.Push(b, frame[:100], false)) // duplicate
			check(rOoo.Push(a, frame, false))
			rOooOff += 2 * uint64(len(frame))
		}
		sinkInt, sinkErr = rOoo.Read(out)
		sinkU64, sinkBool = rOoo.MaybeGrowLimit(monotime.Time(rOooOff), time.Millisecond)
	}
	// Send side: Write, packetize, acknowledge in order.
	s := NewSend(1 << 16)
	dst := make([]byte, 1400)
	writeSendACK := func() {
		n, err := s.Write(out[:16<<10])
		sinkInt, sinkErr = n, err
		for s.HasData() {
			n, off, fin, _ := s.NextFrame(dst, len(dst), 1<<60)
			s.OnAcked(off, n, fin)
		}
	}
	// Send side: losses, out-of-order acks, retransmissions.
	sl := NewSend(1 << 16)
	var offs [16]uint64
	var lens [16]int
	lossCycle := func() {
		sinkInt, sinkErr = sl.Write(out[:16*1400])
		for i := range offs {
			lens[i], offs[i], _, _ = sl.NextFrame(dst, len(dst), 1<<60)
		}
		for i := 1; i < len(offs); i += 2 {
			sl.OnAcked(offs[i], lens[i], false)
		}
		for i := 0; i < len(offs); i += 2 {
			sl.OnLost(offs[i], lens[i], false)
		}
		for sl.HasData() {
			n, off, fin, _ := sl.NextFrame(dst, len(dst), 1<<60)
			sl.OnAcked(off, n, fin)
		}
	}
	var conn SendWindow
	var rw = NewRecvWindow(1<<16, 1<<20)
	flow := func() {
		conn.SetLimit(conn.Limit() + 1400)
		conn.Consume(1400)
		sinkU64, sinkBool = conn.Blocked()
		check(0, rw.OnReceived(1400))
		rw.OnConsumed(1400)
		sinkU64, sinkBool = rw.MaybeGrowLimit(monotime.Time(rw.Consumed()), time.Millisecond)
	}
	hdr := make([]byte, 0, MaxMessageHeaderLen)
	msg := func() {
		hdr = AppendMessageHeader(hdr[:0], 2<<20)
		n, l, err := ParseMessageHeader(hdr)
		sinkU64, sinkInt, sinkErr = n, l, err
		_, _, sinkErr = ParseMessageHeader(hdr[:1])
	}

	tests := []struct {
		name string
		fn   func()
	}{
		{"Recv.Push+Read in order", pushRead},
		{"Recv.Push out of order+Read", pushOutOfOrder},
		{"Send.Write+NextFrame+OnAcked", writeSendACK},
		{"Send.OnLost+retransmit+OnAcked", lossCycle},
		{"SendWindow+RecvWindow", flow},
		{"MessageHeader", msg},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.fn() // warm-up: rings and interval sets reach their size
			if n := testing.AllocsPerRun(100, tt.fn); n != 0 {
				t.Fatalf("%v allocations per run, want 0", n)
			}
		})
	}
	if firstErr != nil {
		t.Fatal(firstErr)
	}
	if rIn.Consumed() != rInOff || rOoo.Consumed() != rOooOff || s.Acked() == 0 || sl.Acked() != sl.Written() || sl.Written() == 0 {
		t.Fatal("the measured operations did not move the data")
	}
}
