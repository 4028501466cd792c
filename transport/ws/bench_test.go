package ws

import (
	"errors"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkRelay measures the relay alone: an application socket sends
// datagrams to a Tunnel, which carries them over WebSocket to a Server,
// which relays them to a UDP echo target; echoes come back the same way.
// One op is one datagram there and back; SetBytes counts one direction.
// At most `window` datagrams are in flight, so drops show up as loss
// (reported) instead of stalling the loop; a datagram not echoed within
// lossWait counts as lost.
func BenchmarkRelay(b *testing.B) {
	for _, size := range []int{1019, 1400} {
		b.Run("size="+strconv.Itoa(size), func(b *testing.B) { benchmarkRelay(b, size) })
	}
}

const (
	window   = 64
	lossWait = 100 * time.Millisecond
)

func benchmarkRelay(b *testing.B, size int) {
	var wg sync.WaitGroup
	b.Cleanup(wg.Wait) // cleanups run last-in first-out: after every socket below is closed
	echo := newUDP(b)
	wg.Go(func() { // the echo target
		buf := make([]byte, 65536)
		for {
			n, from, err := echo.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			_, _ = echo.WriteToUDPAddrPort(buf[:n], from)
		}
	})
	srv, _ := startServer(b, ServerConfig{Target: udpAddr(echo)})
	tun := dialTunnel(b, wsURL(srv), DialConfig{})
	app := newUDP(b)
	_ = app.SetReadBuffer(4 << 20)

	credits := make(chan struct{}, window)
	for range window {
		credits <- struct{}{}
	}
	var received atomic.Int64
	wg.Go(func() { // the application's receiver: each echo returns a credit
		buf := make([]byte, 65536)
		for {
			if _, _, err := app.ReadFromUDPAddrPort(buf); err != nil {
				if errors.Is(err, net.ErrClosed) {
					return
				}
				continue
			}
			received.Add(1)
			select {
			case credits <- struct{}{}:
			default:
			}
		}
	})

	msg := make([]byte, size)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	b.SetBytes(int64(size))
	b.ReportAllocs()
	for b.Loop() {
		select {
		case <-credits:
		default:
			timer.Reset(lossWait)
			select {
			case <-credits:
			case <-timer.C:
				// one in-flight datagram was presumably dropped: send anyway
			}
		}
		if _, err := app.WriteToUDPAddrPort(msg, tun.Addr()); err != nil {
			b.Fatal(err)
		}
	}
	elapsed := b.Elapsed() // the timed loop only
	// Let the last window come back before counting loss.
	deadline := time.Now().Add(lossWait)
	for received.Load() < int64(b.N) && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "datagrams/s")
	b.ReportMetric(100*float64(int64(b.N)-received.Load())/float64(b.N), "%loss")
}
