package ring

import (
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
)

func BenchmarkPoolGetPut(b *testing.B) {
	for _, size := range []int{smallBufSize, PacketBufSize, groBufSize} {
		b.Run(fmt.Sprint(size), func(b *testing.B) {
			p := NewPool(size, 64, 256)
			p.Put(p.Get()) // warm up: carve the first slab
			b.ReportAllocs()
			for b.Loop() {
				p.Put(p.Get())
			}
		})
	}
}

func BenchmarkPoolGetPutBatch(b *testing.B) {
	const batch = 64 // one recvmmsg batch
	p := NewPool(PacketBufSize, batch, 4*batch)
	bufs := make([][]byte, batch)
	p.putBatch(bufs[:p.getBatch(bufs)]) // warm up: carve the first slab
	b.ReportAllocs()
	for b.Loop() {
		n := p.getBatch(bufs)
		p.putBatch(bufs[:n])
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*batch), "ns/buf")
}

// BenchmarkPoolParallel measures contention on the pool's mutex.
func BenchmarkPoolParallel(b *testing.B) {
	p := NewPool(PacketBufSize, 64, 1024)
	warm := make([][]byte, p.Cap())
	p.putBatch(warm[:p.getBatch(warm)]) // carve every slab up front
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			p.Put(p.Get())
		}
	})
}

func BenchmarkMPSC(b *testing.B) {
	b.Run("single-goroutine", func(b *testing.B) {
		q := NewMPSC[*int](256)
		x := new(int)
		b.ReportAllocs()
		for b.Loop() {
			q.Push(x)
			sinkPtr, _ = q.Pop()
		}
	})
	for _, producers := range []int{1, 2} {
		b.Run(fmt.Sprintf("producers=%d", producers), func(b *testing.B) {
			q := NewMPSC[*int](256)
			benchProducers(b, producers, q.Push, q.Pop)
		})
	}
}

// benchProducers runs producer goroutines that push until told to stop and
// pops one element per b.Loop iteration on the benchmark goroutine, so ns/op
// is the time per element moved across goroutines. Both sides yield with
// Gosched when the ring is full or empty, as a loop with other work would.
func benchProducers(b *testing.B, producers int, push func(*int) bool, pop func() (*int, bool)) {
	x := new(int)
	var stop atomic.Bool
	var wg sync.WaitGroup
	for range producers {
		wg.Go(func() {
			for !stop.Load() {
				if !push(x) {
					runtime.Gosched()
				}
			}
		})
	}
	b.ReportAllocs()
	for b.Loop() {
		for {
			if v, ok := pop(); ok {
				sinkPtr = v
				break
			}
			runtime.Gosched()
		}
	}
	stop.Store(true)
	wg.Wait()
	for _, ok := pop(); ok; _, ok = pop() {
	}
}
