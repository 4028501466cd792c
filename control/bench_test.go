package control

import (
	"context"
	"sync"
	"testing"
	"time"
)

// BenchmarkHandshake measures complete handshakes (HELLO to confirmed
// session) between two in-process Planes over the fake data plane: dialled
// one after another ("serial") and 8 at a time ("concurrent8"). It reports
// handshakes/s; sessions are removed after each dial so tables stay small.
func BenchmarkHandshake(b *testing.B) {
	for _, hybrid := range []bool{false, true} {
		mode := map[bool]string{false: "x25519", true: "hybrid"}[hybrid]
		b.Run(mode+"/serial", func(b *testing.B) {
			p := newPair(b, hybrid, nil)
			b.ReportAllocs()
			start := time.Now()
			for b.Loop() {
				est, err := p.a.Dial(context.Background(), addrB)
				if err != nil {
					b.Fatal(err)
				}
				p.dpA.Remove(est.SessionID)
				p.dpB.Remove(est.SessionID)
			}
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "handshakes/s")
		})
		b.Run(mode+"/concurrent8", func(b *testing.B) {
			p := newPair(b, hybrid, nil)
			b.ReportAllocs()
			start := time.Now()
			jobs := make(chan struct{})
			var wg sync.WaitGroup
			for range 8 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for range jobs {
						est, err := p.a.Dial(context.Background(), addrB)
						if err != nil {
							b.Error(err)
							continue
						}
						p.dpA.Remove(est.SessionID)
						p.dpB.Remove(est.SessionID)
					}
				}()
			}
			for b.Loop() {
				jobs <- struct{}{}
			}
			close(jobs)
			wg.Wait()
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "handshakes/s")
		})
	}
}

// BenchmarkRejectForgedHello measures the responder's cost of dropping
// random bytes shaped like a HELLO (size, version and type right): the
// PSK-keyed transcript prefix and one Poly1305 check, no DH, no state.
func BenchmarkRejectForgedHello(b *testing.B) {
	for _, hybrid := range []bool{false, true} {
		b.Run(map[bool]string{false: "x25519", true: "hybrid"}[hybrid], func(b *testing.B) {
			p := newPair(b, hybrid, nil)
			w := newWorkerScratch()
			h := forgedHello(hybrid)
			now := time.Now()
			b.ReportAllocs()
			b.SetBytes(int64(len(h)))
			for b.Loop() {
				p.b.handleHello(w, h, addrA, now)
			}
		})
	}
}
