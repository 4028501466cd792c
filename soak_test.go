package stt_test

import (
	"context"
	"io"
	"os"
	"runtime"
	"testing"
	"time"
)

// TestSoakHeap runs a full-speed transfer for STT_SOAK (e.g. "30s") and
// checks that the heap in use does not grow after warm-up (issue 3: the
// engine's steady-state heap is flat under load). Skipped unless STT_SOAK
// is set: it is a measurement, run with `make soak`.
func TestSoakHeap(t *testing.T) {
	d, err := time.ParseDuration(os.Getenv("STT_SOAK"))
	if err != nil {
		t.Skip("set STT_SOAK=30s to run the soak test")
	}
	_, _, sa, sb := newPair(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), d+30*time.Second)
	defer cancel()
	st, err := sa.OpenStream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	go func() {
		chunk := make([]byte, 1<<20)
		for {
			select {
			case <-stop:
				_ = st.CloseWrite()
				return
			default:
			}
			if _, err := st.Write(chunk); err != nil {
				return
			}
		}
	}()
	rs, err := sb.AcceptStream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan int64)
	go func() {
		n, _ := io.Copy(io.Discard, rs)
		done <- n
	}()
	sample := func() uint64 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapInuse
	}
	time.Sleep(d / 6) // warm-up: windows and buffers reach their working size
	base := sample()
	peak := base
	start := time.Now()
	for time.Since(start) < d*5/6 {
		time.Sleep(d / 12)
		h := sample()
		peak = max(peak, h)
		t.Logf("t=%5.1fs heap in use %6.2f MiB", time.Since(start).Seconds(), float64(h)/(1<<20))
	}
	close(stop)
	n := <-done
	t.Logf("moved %.2f GiB; heap after warm-up %.2f MiB, peak %.2f MiB", float64(n)/(1<<30), float64(base)/(1<<20), float64(peak)/(1<<20))
	if peak > base+base/4+(4<<20) {
		t.Errorf("heap grew under steady load: %.2f MiB -> %.2f MiB", float64(base)/(1<<20), float64(peak)/(1<<20))
	}
}
