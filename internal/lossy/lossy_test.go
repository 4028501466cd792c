package lossy_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stt-go/stt/internal/lossy"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// echo starts a UDP echo server on 127.0.0.1 and returns its address.
func echo(tb testing.TB) netip.AddrPort {
	tb.Helper()
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		tb.Fatal(err)
	}
	_ = c.SetReadBuffer(4 << 20) // bursts of duplicates must not overflow it
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 65535)
		for {
			n, from, err := c.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			_, _ = c.WriteToUDPAddrPort(buf[:n], from)
		}
	}()
	tb.Cleanup(func() { _ = c.Close(); <-done })
	return c.LocalAddr().(*net.UDPAddr).AddrPort()
}

// client opens a UDP socket on 127.0.0.1 connected to the proxy.
func client(tb testing.TB, p *lossy.Proxy) *net.UDPConn {
	tb.Helper()
	c, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(p.Addr()))
	if err != nil {
		tb.Fatal(err)
	}
	_ = c.SetReadBuffer(4 << 20) // bursts of duplicates must not overflow it
	tb.Cleanup(func() { _ = c.Close() })
	return c
}

func newProxy(tb testing.TB, cfg *lossy.Config) *lossy.Proxy {
	tb.Helper()
	p, err := lossy.New(echo(tb), cfg)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = p.Close() })
	return p
}

func numbered(i uint32) []byte {
	b := make([]byte, 64)
	binary.BigEndian.PutUint32(b, i)
	return b
}

// receiveAll reads datagrams until quiet for the given time and returns
// their first 4 bytes as numbers, plus the raw datagrams.
func receiveAll(tb testing.TB, c *net.UDPConn, quiet time.Duration) (nums []uint32, raw [][]byte) {
	tb.Helper()
	buf := make([]byte, 65535)
	for {
		_ = c.SetReadDeadline(time.Now().Add(quiet))
		n, err := c.Read(buf)
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				return nums, raw
			}
			tb.Fatalf("read: %v", err)
		}
		raw = append(raw, append([]byte(nil), buf[:n]...))
		if n >= 4 {
			nums = append(nums, binary.BigEndian.Uint32(buf))
		}
	}
}

// sendN sends n numbered datagrams, pausing briefly every 64 so the
// loopback socket buffers never overflow (that would be loss the test did
// not ask for).
func sendN(tb testing.TB, c *net.UDPConn, n int) {
	tb.Helper()
	for i := range n {
		if _, err := c.Write(numbered(uint32(i))); err != nil {
			tb.Fatal(err)
		}
		if i%64 == 63 {
			time.Sleep(time.Millisecond)
		}
	}
}

func only(d lossy.Dir, f func(lossy.Dir, []byte) bool) func(lossy.Dir, []byte) bool {
	return func(dir lossy.Dir, b []byte) bool { return dir == d && f(dir, b) }
}

func always(lossy.Dir, []byte) bool { return true }

// everyOther fires for even-numbered datagrams.
func everyOther(_ lossy.Dir, b []byte) bool { return binary.BigEndian.Uint32(b)%2 == 0 }

func TestFaults(t *testing.T) {
	const n = 200
	for _, tc := range []struct {
		name string
		cfg  lossy.Config
		// want is the number of echoes the client gets back.
		want  int
		check func(t *testing.T, p *lossy.Proxy, nums []uint32, raw [][]byte)
	}{
		{name: "perfect", want: n, check: func(t *testing.T, p *lossy.Proxy, nums []uint32, _ [][]byte) {
			for i, v := range nums {
				if v != uint32(i) {
					t.Fatalf("datagram %d is %d: loopback without faults reordered", i, v)
				}
			}
			for _, d := range []lossy.Dir{lossy.ToTarget, lossy.ToClient} {
				if st := p.Stats(d); st.Received != n || st.Forwarded != n {
					t.Errorf("%v: %+v, want %d received and forwarded", d, st, n)
				}
			}
		}},
		{name: "drop all to target", cfg: lossy.Config{Drop: only(lossy.ToTarget, always)}, want: 0,
			check: func(t *testing.T, p *lossy.Proxy, _ []uint32, _ [][]byte) {
				if st := p.Stats(lossy.ToTarget); st.Dropped != n || st.Forwarded != 0 {
					t.Errorf("%+v", st)
				}
			}},
		{name: "drop all to client", cfg: lossy.Config{Drop: only(lossy.ToClient, always)}, want: 0,
			check: func(t *testing.T, p *lossy.Proxy, _ []uint32, _ [][]byte) {
				if st := p.Stats(lossy.ToTarget); st.Forwarded != n {
					t.Errorf("to target: %+v", st)
				}
				if st := p.Stats(lossy.ToClient); st.Dropped != n {
					t.Errorf("to client: %+v", st)
				}
			}},
		{name: "drop even", cfg: lossy.Config{Drop: everyOther}, want: n / 2,
			check: func(t *testing.T, _ *lossy.Proxy, nums []uint32, _ [][]byte) {
				for _, v := range nums {
					if v%2 == 0 {
						t.Fatalf("datagram %d should have been dropped", v)
					}
				}
			}},
		{name: "duplicate both ways", cfg: lossy.Config{Duplicate: always}, want: 4 * n,
			check: func(t *testing.T, p *lossy.Proxy, nums []uint32, _ [][]byte) {
				seen := map[uint32]int{}
				for _, v := range nums {
					seen[v]++
				}
				for i := range uint32(n) {
					if seen[i] != 4 {
						t.Fatalf("datagram %d arrived %d times, want 4", i, seen[i])
					}
				}
				if st := p.Stats(lossy.ToClient); st.Duplicated != 2*n || st.Forwarded != 4*n {
					t.Errorf("to client: %+v", st)
				}
			}},
		{name: "corrupt to client", cfg: lossy.Config{Corrupt: only(lossy.ToClient, func(_ lossy.Dir, b []byte) bool {
			return lossy.FlipBit(b, len(b)*8-1)
		})}, want: n, check: func(t *testing.T, p *lossy.Proxy, _ []uint32, raw [][]byte) {
			for _, b := range raw {
				if b[len(b)-1] != 0x80 {
					t.Fatalf("last byte %#x, want the top bit flipped", b[len(b)-1])
				}
			}
			if st := p.Stats(lossy.ToClient); st.Corrupted != n {
				t.Errorf("to client: %+v", st)
			}
			if st := p.Stats(lossy.ToTarget); st.Corrupted != 0 {
				t.Errorf("to target: %+v", st)
			}
		}},
		{name: "delay reorders", cfg: lossy.Config{Delay: func(d lossy.Dir, b []byte) time.Duration {
			if d == lossy.ToTarget && everyOther(d, b) {
				return 30 * time.Millisecond
			}
			return 0
		}}, want: n, check: func(t *testing.T, p *lossy.Proxy, nums []uint32, _ [][]byte) {
			// Odd datagrams arrive undelayed, all before the first even one.
			for i, v := range nums[:n/2] {
				if v%2 != 1 {
					t.Fatalf("datagram at %d is %d, want odd ones first", i, v)
				}
			}
			seen := map[uint32]bool{}
			for _, v := range nums {
				seen[v] = true
			}
			if len(seen) != n {
				t.Fatalf("%d distinct datagrams, want %d", len(seen), n)
			}
			if st := p.Stats(lossy.ToTarget); st.Delayed != n/2 {
				t.Errorf("to target: %+v", st)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tc.cfg
			p := newProxy(t, &cfg)
			c := client(t, p)
			sendN(t, c, n)
			nums, raw := receiveAll(t, c, 150*time.Millisecond)
			if len(nums) != tc.want {
				t.Fatalf("got %d datagrams, want %d; to target %+v, to client %+v",
					len(nums), tc.want, p.Stats(lossy.ToTarget), p.Stats(lossy.ToClient))
			}
			tc.check(t, p, nums, raw)
		})
	}
}

func TestOutage(t *testing.T) {
	var delay atomic.Int64
	p := newProxy(t, &lossy.Config{Delay: func(lossy.Dir, []byte) time.Duration { return time.Duration(delay.Load()) }})
	c := client(t, p)

	p.SetOutage(true)
	sendN(t, c, 10)
	if nums, _ := receiveAll(t, c, 50*time.Millisecond); len(nums) != 0 {
		t.Fatalf("%d datagrams crossed an outage", len(nums))
	}
	if st := p.Stats(lossy.ToTarget); st.Outage != 10 {
		t.Fatalf("to target: %+v, want 10 outage drops", st)
	}

	// Datagrams in flight (delayed) when the outage starts are lost too.
	p.SetOutage(false)
	delay.Store(int64(40 * time.Millisecond))
	sendN(t, c, 5)
	time.Sleep(5 * time.Millisecond)
	p.SetOutage(true)
	if nums, _ := receiveAll(t, c, 100*time.Millisecond); len(nums) != 0 {
		t.Fatalf("%d delayed datagrams crossed an outage", len(nums))
	}
	if st := p.Stats(lossy.ToTarget); st.Outage != 15 || st.Delayed != 5 {
		t.Fatalf("to target: %+v, want 15 outage drops, 5 delayed", st)
	}

	p.SetOutage(false)
	delay.Store(0)
	sendN(t, c, 10)
	if nums, _ := receiveAll(t, c, 100*time.Millisecond); len(nums) != 10 {
		t.Fatalf("after the outage: %d datagrams, want 10", len(nums))
	}
}

func TestQueueBound(t *testing.T) {
	p := newProxy(t, &lossy.Config{
		MaxQueued: 4,
		Delay:     func(lossy.Dir, []byte) time.Duration { return time.Hour },
	})
	c := client(t, p)
	sendN(t, c, 10)
	deadline := time.Now().Add(5 * time.Second)
	for p.Stats(lossy.ToTarget).Received < 10 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	st := p.Stats(lossy.ToTarget)
	if st.Delayed != 4 || st.QueueFull != 6 || p.Queued() != 4 {
		t.Fatalf("stats %+v, queued %d; want 4 delayed, 6 queue-full drops", st, p.Queued())
	}
	// Close must not wait for the hour-long delays (goleak checks the rest).
	start := time.Now()
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("Close took %v", d)
	}
	if p.Queued() != 0 {
		t.Fatalf("Queued after Close = %d", p.Queued())
	}
	if err := p.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

// TestClientRebinding: replies follow the client's latest address, as a NAT
// rebinding would look to the target.
func TestClientRebinding(t *testing.T) {
	p := newProxy(t, nil)
	if _, ok := p.Client(); ok {
		t.Fatal("client known before any datagram")
	}
	c1, c2 := client(t, p), client(t, p)
	for i, c := range []*net.UDPConn{c1, c2} {
		sendN(t, c, 3)
		nums, _ := receiveAll(t, c, 50*time.Millisecond)
		if len(nums) != 3 {
			t.Fatalf("client %d: %d replies, want 3", i+1, len(nums))
		}
		got, _ := p.Client()
		if want := c.LocalAddr().(*net.UDPAddr).AddrPort(); got != want {
			t.Fatalf("client %d: proxy replies to %v, want %v", i+1, got, want)
		}
	}
}

func TestNewErrors(t *testing.T) {
	for _, tc := range []struct {
		name   string
		target netip.AddrPort
	}{
		{"zero", netip.AddrPort{}},
		{"not loopback", netip.MustParseAddrPort("192.0.2.1:9")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if p, err := lossy.New(tc.target, nil); err == nil {
				_ = p.Close()
				t.Fatal("New accepted a non-loopback target")
			}
		})
	}
}

func TestHelpers(t *testing.T) {
	t.Run("Random", func(t *testing.T) {
		never, all := lossy.Random(0), lossy.Random(1)
		hits := 0
		half := lossy.Random(0.5)
		for range 10000 {
			if never(lossy.ToTarget, nil) || !all(lossy.ToClient, nil) {
				t.Fatal("Random(0) fired or Random(1) did not")
			}
			if half(lossy.ToTarget, nil) {
				hits++
			}
		}
		// 10 000 draws at p = 0.5: 4 500..5 500 is over 10 standard deviations wide.
		if hits < 4500 || hits > 5500 {
			t.Fatalf("Random(0.5) fired %d times in 10000", hits)
		}
	})
	t.Run("RandomDelay", func(t *testing.T) {
		f := lossy.RandomDelay(0.3, time.Millisecond, 5*time.Millisecond)
		delayed := 0
		for range 10000 {
			d := f(lossy.ToTarget, nil)
			if d == 0 {
				continue
			}
			delayed++
			if d < time.Millisecond || d > 5*time.Millisecond {
				t.Fatalf("delay %v outside [1ms, 5ms]", d)
			}
		}
		if delayed < 2500 || delayed > 3500 {
			t.Fatalf("RandomDelay(0.3) delayed %d of 10000", delayed)
		}
		if d := lossy.RandomDelay(1, 2*time.Millisecond, time.Millisecond)(lossy.ToClient, nil); d != 2*time.Millisecond {
			t.Fatalf("hi < lo: delay %v, want lo", d)
		}
	})
	t.Run("FlipBit", func(t *testing.T) {
		b := []byte{0, 0}
		if !lossy.FlipBit(b, 9) || !bytes.Equal(b, []byte{0, 2}) {
			t.Fatalf("FlipBit(9) = %x", b)
		}
		if lossy.FlipBit(b, 16) || lossy.FlipBit(b, -1) {
			t.Fatal("FlipBit outside the packet reported true")
		}
	})
	t.Run("Dir", func(t *testing.T) {
		if lossy.ToTarget.String() != "to-target" || lossy.ToClient.String() != "to-client" || lossy.Dir(7).String() != "Dir(7)" {
			t.Fatal("Dir.String")
		}
	})
}

// BenchmarkForward measures the proxy's relay rate for 1200-byte datagrams
// echoed through it (both directions), with and without 10% delayed.
func BenchmarkForward(b *testing.B) {
	for _, bc := range []struct {
		name string
		cfg  *lossy.Config
	}{
		{"clean", nil},
		{"delay10pct", &lossy.Config{Delay: lossy.RandomDelay(0.1, time.Millisecond, 2*time.Millisecond)}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			p := newProxy(b, bc.cfg)
			c := client(b, p)
			pkt := make([]byte, 1200)
			buf := make([]byte, 2048)
			b.ReportAllocs()
			b.SetBytes(int64(len(pkt)))
			for b.Loop() {
				if _, err := c.Write(pkt); err != nil {
					b.Fatal(err)
				}
				_ = c.SetReadDeadline(time.Now().Add(time.Second))
				if _, err := c.Read(buf); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
