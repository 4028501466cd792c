package control

import (
	"context"
	"sync"
	"syscall"
	"testing"
	"time"
)

// BenchmarkHandshake measures complete handshakes (HELLO to confirmed
// session) between two in-process Planes over the fake data plane: full
// (X25519-only and hybrid) and resumed (RESUME to installed session, with
// a ticket from a hybrid handshake), dialled one after another ("serial")
// and 8 at a time ("concurrent8"). It reports handshakes/s; sessions are
// removed after each dial so tables stay small.
func BenchmarkHandshake(b *testing.B) {
	for _, mode := range []string{"x25519", "hybrid", "resumed"} {
		hybrid, resume := mode != "x25519", mode == "resumed"
		setup := func(b *testing.B) *pair {
			if !resume {
				return newPair(b, hybrid, nil)
			}
			p := newResumePair(b, hybrid, nil, nil)
			dialOK(b, p.a, addrB, nil)
			waitTicket(b, p.a, addrB, nil)
			return p
		}
		b.Run(mode+"/serial", func(b *testing.B) {
			p := setup(b)
			b.ReportAllocs()
			start, cpu0 := time.Now(), cpuTime()
			for b.Loop() {
				est, err := p.a.Dial(context.Background(), addrB)
				if err != nil {
					b.Fatal(err)
				}
				if est.Resumed != resume {
					b.Fatalf("Resumed = %v", est.Resumed)
				}
				p.dpA.Remove(est.SessionID)
				p.dpB.Remove(est.SessionID)
			}
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "handshakes/s")
			b.ReportMetric(cpuSince(cpu0).Seconds()*1e6/float64(b.N), "cpu-µs/op")
			b.ReportMetric(float64(p.a.Stats().Retransmits)/float64(b.N), "retx/op")
			b.ReportMetric(float64(p.a.Stats().PoolMisses+p.b.Stats().PoolMisses)/float64(b.N), "poolmiss/op")
		})
		b.Run(mode+"/concurrent8", func(b *testing.B) {
			p := setup(b)
			b.ReportAllocs()
			start, cpu0 := time.Now(), cpuTime()
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
						if est.Resumed != resume {
							b.Errorf("Resumed = %v", est.Resumed)
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
			b.ReportMetric(cpuSince(cpu0).Seconds()*1e6/float64(b.N), "cpu-µs/op")
			b.ReportMetric(float64(p.a.Stats().Retransmits)/float64(b.N), "retx/op")
			b.ReportMetric(float64(p.a.Stats().PoolMisses+p.b.Stats().PoolMisses)/float64(b.N), "poolmiss/op")
		})
	}
}

// BenchmarkRejectForgedHello measures the responder's cost of dropping
// random bytes shaped like a HELLO (size, version and type right): the
// PSK-keyed transcript prefix and one Poly1305 check, no DH, no state; and
// the same for a RESUME ("resume"), whose PSK tag is checked before the
// ticket is looked at.
func BenchmarkRejectForgedHello(b *testing.B) {
	for _, mode := range []string{"x25519", "hybrid", "resume"} {
		b.Run(mode, func(b *testing.B) {
			p := newResumePair(b, mode == "hybrid", nil, nil)
			w := newWorkerScratch()
			handle, h := p.b.handleHello, forgedHello(mode == "hybrid")
			if mode == "resume" {
				handle, h = p.b.handleResume, forgedResume()
			}
			now := time.Now()
			b.ReportAllocs()
			b.SetBytes(int64(len(h)))
			for b.Loop() {
				handle(w, h, addrA, now)
			}
		})
	}
}

// cpuTime is the process's user+system CPU time: with other work on the
// machine, CPU per handshake is the stable number; handshakes/s is wall time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func cpuSince(t0 time.Duration) time.Duration { return cpuTime() - t0 }
