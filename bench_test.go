package stt_test

import (
	"context"
	"fmt"
	"io"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stt-go/stt"
)

func cpuSeconds() float64 {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

// BenchmarkBulk moves b.N chunks of 1 MiB from one node to the other over
// loopback on 1 and 4 streams, with UDP GSO/GRO on and off; it reports
// Gbit/s and CPU-seconds per GiB (both nodes, one process).
func BenchmarkBulk(b *testing.B) {
	for _, tc := range []struct {
		streams int
		offload bool
		cc      string
		dgram   int // Config.MaxDatagram: 0 = default (path MTU discovery up to 65 000)
	}{{1, true, "bbr", 0}, {4, true, "bbr", 0}, {1, true, "bbr", 1452}, {1, false, "bbr", 0}, {1, true, "cubic", 0}, {4, true, "cubic", 0}} {
		name := fmt.Sprintf("streams=%d/gso-gro=%v/cc=%s", tc.streams, tc.offload, tc.cc)
		if tc.dgram != 0 {
			name += fmt.Sprintf("/maxdgram=%d", tc.dgram)
		}
		streams := tc.streams
		b.Run(name, func(b *testing.B) {
			_, _, sa, sb := newPair(b, func(c *stt.Config) {
				c.DisableGSO, c.DisableGRO = !tc.offload, !tc.offload
				c.CongestionControl = tc.cc
				c.MaxDatagram = tc.dgram
			})
			ctx := context.Background()
			chunk := make([]byte, 1<<20)
			b.SetBytes(int64(len(chunk)))
			b.ReportAllocs()
			var wg sync.WaitGroup
			for range streams {
				wg.Add(1)
				go func() {
					defer wg.Done()
					rs, err := sb.AcceptStream(ctx)
					if err != nil {
						b.Error(err)
						return
					}
					_, _ = io.Copy(io.Discard, rs)
				}()
			}
			sts := make([]*stt.Stream, streams)
			for i := range sts {
				st, err := sa.OpenStream(ctx)
				if err != nil {
					b.Fatal(err)
				}
				sts[i] = st
			}
			cpu0 := cpuSeconds()
			start := time.Now()
			var wwg sync.WaitGroup
			per := (b.N + streams - 1) / streams
			for i, st := range sts {
				n := min(per, b.N-i*per)
				wwg.Add(1)
				go func() {
					defer wwg.Done()
					for range n {
						if _, err := st.Write(chunk); err != nil {
							b.Error(err)
							return
						}
					}
					_ = st.CloseWrite()
				}()
			}
			wwg.Wait()
			wg.Wait()
			el := time.Since(start)
			cpu := cpuSeconds() - cpu0
			total := float64(b.N) * float64(len(chunk))
			b.ReportMetric(total*8/el.Seconds()/1e9, "Gbit/s")
			b.ReportMetric(cpu/(total/(1<<30)), "cpu-s/GiB")
		})
	}
}

// BenchmarkMessages64 sends b.N 64-byte messages on one stream and reports
// messages per second.
func BenchmarkMessages64(b *testing.B) {
	_, _, sa, sb := newPair(b, nil)
	ctx := context.Background()
	st, err := sa.OpenStream(ctx)
	if err != nil {
		b.Fatal(err)
	}
	msg := make([]byte, 64)
	done := make(chan struct{})
	b.ReportAllocs()
	b.SetBytes(64)
	start := time.Now()
	go func() {
		defer close(done)
		rs, err := sb.AcceptStream(ctx)
		if err != nil {
			b.Error(err)
			return
		}
		if _, err := io.Copy(io.Discard, rs); err != nil {
			b.Error(err)
		}
	}()
	n := 0
	for b.Loop() {
		if err := st.SendMessage(ctx, msg); err != nil {
			b.Fatal(err)
		}
		n++
	}
	_ = st.CloseWrite()
	<-done
	b.ReportMetric(float64(n)/time.Since(start).Seconds(), "msgs/s")
}

// BenchmarkRTT measures the round trip of a 64-byte message (echoed) and
// reports p50 and p99.
func BenchmarkRTT(b *testing.B) {
	_, _, sa, sb := newPair(b, nil)
	ctx := context.Background()
	st, err := sa.OpenStream(ctx)
	if err != nil {
		b.Fatal(err)
	}
	go func() {
		rs, err := sb.AcceptStream(ctx)
		if err != nil {
			return
		}
		for {
			m, err := rs.ReceiveMessage(ctx)
			if err != nil {
				return
			}
			if rs.SendMessage(ctx, m) != nil {
				return
			}
		}
	}()
	msg := make([]byte, 64)
	lat := make([]time.Duration, 0, b.N)
	for b.Loop() {
		t0 := time.Now()
		if err := st.SendMessage(ctx, msg); err != nil {
			b.Fatal(err)
		}
		if _, err := st.ReceiveMessage(ctx); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(t0))
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
}

// BenchmarkIdleSessionMemory establishes 10 000 idle sessions between two
// nodes in one process and reports the heap each costs, per end (both ends
// of a session are counted, so heap-B/session is per node per session).
// hibernate=on waits until every session has hibernated (Config.HibernateAfter,
// 1 s by default); hibernate=off is the cost of an idle session that keeps
// its cipher contexts and recovery state.
func BenchmarkIdleSessionMemory(b *testing.B) {
	for _, hibernate := range []bool{true, false} {
		b.Run(fmt.Sprintf("hibernate=%v", map[bool]string{true: "on", false: "off"}[hibernate]), func(b *testing.B) {
			benchIdleSessions(b, hibernate)
		})
	}
}

func benchIdleSessions(b *testing.B, hibernate bool) {
	const sessions = 10000
	a, srv, _, _ := newPair(b, func(c *stt.Config) {
		c.DisableHybrid = true
		c.KeepAlive = -1
		c.IdleTimeout = time.Hour
		if !hibernate {
			c.HibernateAfter = -1
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	go func() {
		for {
			if _, err := srv.Accept(ctx); err != nil {
				return
			}
		}
	}()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for range b.N {
		for range sessions {
			if _, err := a.Connect(ctx, srv.Addr().String()); err != nil {
				b.Fatal(err)
			}
		}
	}
	total := sessions * b.N
	if hibernate {
		// Wait (bounded) until both ends report every session (the pair's
		// own included) hibernating.
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
			da, ds := a.Stats().Dataplane, srv.Stats().Dataplane
			if da.Sessions > total && da.Hibernating == da.Sessions && ds.Hibernating == ds.Sessions {
				break
			}
			if time.Now().After(deadline) {
				b.Fatalf("after 30 s: %d of %d and %d of %d sessions hibernating",
					da.Hibernating, da.Sessions, ds.Hibernating, ds.Sessions)
			}
		}
	} else {
		time.Sleep(200 * time.Millisecond) // let FINAL/ACK exchanges settle
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/float64(2*total), "heap-B/session")
}

// BenchmarkHandshake dials complete sessions (HELLO, RESPONSE, AUTH_PROOF,
// FINAL) over loopback between two nodes, one after another and from 8
// goroutines at once, hybrid ML-KEM on and off, and reports handshakes/s.
func BenchmarkHandshake(b *testing.B) {
	for _, hybrid := range []bool{true, false} {
		for _, par := range []int{1, 8} {
			name := fmt.Sprintf("hybrid=%v/dialers=%d", hybrid, par)
			b.Run(name, func(b *testing.B) {
				a, srv, _, _ := newPair(b, func(c *stt.Config) { c.DisableHybrid = !hybrid })
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
				defer cancel()
				go func() {
					for {
						s, err := srv.Accept(ctx)
						if err != nil {
							return
						}
						s.CloseWithError(0, "")
					}
				}()
				addr := srv.Addr().String()
				b.ReportAllocs()
				start := time.Now()
				var wg sync.WaitGroup
				var next atomic.Int64
				for range par {
					wg.Add(1)
					go func() {
						defer wg.Done()
						for next.Add(1) <= int64(b.N) {
							s, err := a.Connect(ctx, addr)
							if err != nil {
								b.Error(err)
								return
							}
							s.CloseWithError(0, "")
						}
					}()
				}
				wg.Wait()
				b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "handshakes/s")
			})
		}
	}
}
