package batch

import (
	"fmt"
	"net"
	"net/netip"
	"testing"
	"time"
)

// benchStall fails a benchmark iteration that waits this long for datagrams
// (loopback loses none unless something is broken).
const benchStall = 5 * time.Second

// BenchmarkLoopback sends batches of BatchSize datagrams from one socket to
// another on 127.0.0.1 and reads them back, in one goroutine: each
// iteration costs the send and receive syscalls of one batch. Modes:
// gso+gro (one sendmmsg entry per run, one coalesced message per train),
// mmsg (sendmmsg/recvmmsg, one entry per datagram), and plain (one
// WriteToUDPAddrPort and one ReadFromUDPAddrPort per datagram, the net
// package baseline).
func BenchmarkLoopback(b *testing.B) {
	modes := []struct {
		name string
		opts *Options // nil: plain net.UDPConn
	}{
		{"gso+gro", &Options{}},
		{"mmsg", &Options{DisableGSO: true, DisableGRO: true}},
		{"plain", nil},
	}
	for _, size := range []int{64, 1019, 1400} {
		for _, mode := range modes {
			b.Run(fmt.Sprintf("size=%d/%s", size, mode.name), func(b *testing.B) {
				var step func()
				if mode.opts == nil {
					step = plainStep(b, size)
				} else {
					step = batchStep(b, size, mode.opts)
				}
				b.ReportAllocs()
				b.SetBytes(int64(size * BatchSize))
				iters := 0
				for b.Loop() {
					step()
					iters++
				}
				sec := b.Elapsed().Seconds()
				pkts := float64(iters * BatchSize)
				b.ReportMetric(pkts/sec, "pkts/s")
				b.ReportMetric(pkts*float64(size)*8/sec/1e9, "Gbit/s")
			})
		}
	}
}

// batchStep returns one iteration over a pair of batch Conns.
func batchStep(b *testing.B, size int, opts *Options) func() {
	tx := listenT(b, "127.0.0.1:0", opts)
	rx := listenT(b, "127.0.0.1:0", opts)
	if opts.DisableGSO == tx.Stats().GSO || opts.DisableGRO == rx.Stats().GRO {
		b.Logf("GSO %v GRO %v (kernel or environment override)", tx.Stats().GSO, rx.Stats().GRO)
	}
	msgs := make([]Message, BatchSize)
	for i := range msgs {
		msgs[i] = Message{Buf: makePacket(i, size), Addr: rx.LocalAddr()}
	}
	bufSize := size
	if rx.Stats().GRO {
		bufSize = GROBufferSize
	}
	rmsgs := rxMsgs(BatchSize, bufSize)
	watchdog := time.AfterFunc(time.Hour, func() { rx.Close() })
	b.Cleanup(func() { watchdog.Stop() })
	return func() {
		watchdog.Reset(benchStall)
		if n, err := tx.WriteBatch(msgs); err != nil || n != len(msgs) {
			b.Fatalf("WriteBatch = %d, %v", n, err)
		}
		for got := 0; got < BatchSize; {
			n, err := rx.ReadBatch(rmsgs)
			if err != nil {
				b.Fatalf("ReadBatch after %d datagrams: %v", got, err)
			}
			for i := range n {
				for range rmsgs[i].Segments {
					got++
				}
			}
		}
	}
}

// plainStep returns one iteration over a pair of plain net.UDPConns.
func plainStep(b *testing.B, size int) func() {
	lo := net.UDPAddrFromAddrPort(netip.MustParseAddrPort("127.0.0.1:0"))
	tx, err := net.ListenUDP("udp4", lo)
	if err != nil {
		b.Fatal(err)
	}
	rx, err := net.ListenUDP("udp4", lo)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { tx.Close(); rx.Close() })
	for _, c := range []*net.UDPConn{tx, rx} {
		_ = c.SetReadBuffer(defaultSocketBuffer)
		_ = c.SetWriteBuffer(defaultSocketBuffer)
	}
	dst := rx.LocalAddr().(*net.UDPAddr).AddrPort()
	pkt := makePacket(0, size)
	buf := make([]byte, 2048)
	return func() {
		for range BatchSize {
			if _, err := tx.WriteToUDPAddrPort(pkt, dst); err != nil {
				b.Fatal(err)
			}
		}
		_ = rx.SetReadDeadline(time.Now().Add(benchStall))
		for range BatchSize {
			if _, _, err := rx.ReadFromUDPAddrPort(buf); err != nil {
				b.Fatal(err)
			}
		}
	}
}
