package streambuf

import (
	"fmt"
	"testing"
	"time"

	"github.com/stt-go/stt/internal/monotime"
)

// frameSize is a DATA frame's payload in a 1452-byte datagram, rounded.
const frameSize = 1400

// BenchmarkSendCycle measures the send buffer's share of bulk transfer:
// Write of size bytes, then NextFrame at 1400-byte frames and OnAcked of each.
func BenchmarkSendCycle(b *testing.B) {
	for _, size := range []int{frameSize, 1<<10 - 5, 16 << 10, 64 << 10} {
		b.Run(fmt.Sprint(size), func(b *testing.B) {
			s := NewSend(DefaultSendLimit)
			src := pattern(0, size, 0)
			dst := make([]byte, frameSize)
			b.ReportAllocs()
			b.SetBytes(int64(size))
			for b.Loop() {
				s.Write(src)
				for {
					n, off, fin, _ := s.NextFrame(dst, frameSize, 1<<60)
					if n == 0 && !fin {
						break
					}
					s.OnAcked(off, n, fin)
				}
			}
		})
	}
}

// BenchmarkRecvInOrder measures reassembly of in-order 1400-byte frames and
// a Read of size bytes, with window updates.
func BenchmarkRecvInOrder(b *testing.B) {
	for _, size := range []int{frameSize, 1<<10 - 5, 16 << 10, 64 << 10} {
		b.Run(fmt.Sprint(size), func(b *testing.B) {
			r := NewRecv(DefaultRecvWindow, DefaultRecvWindow, DefaultMaxGaps)
			frame := pattern(0, frameSize, 0)
			p := make([]byte, size)
			var off uint64
			b.ReportAllocs()
			b.SetBytes(int64(size))
			for b.Loop() {
				for r.Received()-r.Consumed() < uint64(size) {
					if _, err := r.Push(off, frame, false); err != nil {
						b.Fatal(err)
					}
					off += frameSize
				}
				if n, _ := r.Read(p); n != size {
					b.Fatalf("read %d", n)
				}
				r.MaybeGrowLimit(monotime.Time(off), time.Millisecond)
			}
		})
	}
}

// BenchmarkRecvReordered measures reassembly when every pair of frames
// arrives swapped (one gap open at a time).
func BenchmarkRecvReordered(b *testing.B) {
	r := NewRecv(DefaultRecvWindow, DefaultRecvWindow, DefaultMaxGaps)
	frame := pattern(0, frameSize, 0)
	p := make([]byte, 2*frameSize)
	var off uint64
	b.ReportAllocs()
	b.SetBytes(2 * frameSize)
	for b.Loop() {
		r.Push(off+frameSize, frame, false)
		r.Push(off, frame, false)
		off += 2 * frameSize
		r.Read(p)
		r.MaybeGrowLimit(monotime.Time(off), time.Millisecond)
	}
}
