package batchtest

import (
	"bytes"
	"errors"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/stt-go/stt/batch"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var (
	addrA = netip.MustParseAddrPort("127.0.0.1:1000")
	addrB = netip.MustParseAddrPort("127.0.0.1:2000")
)

func pair(t *testing.T) (*Conn, *Conn) {
	a, b := NewPair(addrA, addrB)
	t.Cleanup(func() { a.Close(); b.Close() })
	return a, b
}

func msgsTo(to netip.AddrPort, payloads ...string) []batch.Message {
	m := make([]batch.Message, len(payloads))
	for i, p := range payloads {
		m[i] = batch.Message{Buf: []byte(p), Addr: to}
	}
	return m
}

// readN reads until n datagrams arrived and returns them with their sources.
func readN(t *testing.T, c *Conn, n int, bufSize int) ([]string, []netip.AddrPort) {
	t.Helper()
	var got []string
	var from []netip.AddrPort
	msgs := make([]batch.Message, 8)
	for i := range msgs {
		msgs[i].Buf = make([]byte, bufSize)
	}
	for len(got) < n {
		k, err := c.ReadBatch(msgs)
		if err != nil {
			t.Fatalf("ReadBatch after %d: %v", len(got), err)
		}
		for _, m := range msgs[:k] {
			got = append(got, string(m.Buf[:m.N]))
			from = append(from, m.Addr)
		}
	}
	return got, from
}

func TestFilter(t *testing.T) {
	cases := []struct {
		name     string
		filter   Filter
		send     []string
		want     []string
		filtered uint64
	}{
		{"none", nil, []string{"a", "b"}, []string{"a", "b"}, 0},
		{"drop b", func(m *batch.Message) int {
			if string(m.Buf) == "b" {
				return 0
			}
			return 1
		}, []string{"a", "b", "c"}, []string{"a", "c"}, 1},
		{"duplicate", func(*batch.Message) int { return 2 }, []string{"x", "y"}, []string{"x", "x", "y", "y"}, 0},
		{"corrupt", func(m *batch.Message) int { m.Buf[0] ^= 0xff; return 1 }, []string{"\x00"}, []string{"\xff"}, 0},
		{"truncate", func(m *batch.Message) int { m.Buf = m.Buf[:1]; return 1 }, []string{"hello"}, []string{"h"}, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a, b := pair(t)
			a.SetFilter(tc.filter)
			msgs := msgsTo(addrB, tc.send...)
			orig := bytes.Clone(msgs[0].Buf)
			if n, err := a.WriteBatch(msgs); n != len(msgs) || err != nil {
				t.Fatalf("WriteBatch = %d, %v", n, err)
			}
			if !bytes.Equal(msgs[0].Buf, orig) {
				t.Fatal("filter modified the caller's buffer")
			}
			got, from := readN(t, b, len(tc.want), 64)
			for i := range tc.want {
				if got[i] != tc.want[i] || from[i] != addrA {
					t.Fatalf("datagram %d: %q from %v, want %q from %v", i, got[i], from[i], tc.want[i], addrA)
				}
			}
			if a.Filtered() != tc.filtered {
				t.Fatalf("Filtered = %d, want %d", a.Filtered(), tc.filtered)
			}
		})
	}
}

func TestStatsAndMisc(t *testing.T) {
	a, b := pair(t)
	other := netip.MustParseAddrPort("127.0.0.1:3000")
	msgs := append(msgsTo(addrB, "one", "toolong"), msgsTo(other, "lost")...)
	if n, err := a.WriteBatch(msgs); n != 3 || err != nil {
		t.Fatalf("WriteBatch = %d, %v", n, err)
	}
	got, _ := readN(t, b, 2, 4)
	if got[0] != "one" || got[1] != "" {
		t.Fatalf("got %q, want one and a truncated (empty) datagram", got)
	}
	sa, sb := a.Stats(), b.Stats()
	if sa.TxLost != 1 || sa.TxMessages != 2 || sa.TxBatches != 1 || sb.RxMessages != 2 || sb.RxTruncated != 1 {
		t.Fatalf("stats a %+v b %+v", sa, sb)
	}
	if a.LocalAddr() != addrA || b.LocalAddr() != addrB {
		t.Fatal("LocalAddr")
	}
	if n, err := b.ReadBatch(nil); n != 0 || err != nil {
		t.Fatalf("ReadBatch(nil) = %d, %v", n, err)
	}
}

func TestCloseUnblocks(t *testing.T) {
	cases := []struct {
		name string
		op   func(a, b *Conn) error
		shut func(a, b *Conn)
	}{
		{"blocked read", func(a, b *Conn) error {
			_, err := b.ReadBatch(make([]batch.Message, 1))
			return err
		}, func(a, b *Conn) { b.Close() }},
		{"blocked write on a full queue", func(a, b *Conn) error {
			msgs := msgsTo(addrB, make([]string, QueueLen+1)...)
			_, err := a.WriteBatch(msgs)
			return err
		}, func(a, b *Conn) { a.Close() }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a, b := pair(t)
			errc := make(chan error, 1)
			go func() { errc <- tc.op(a, b) }()
			time.Sleep(10 * time.Millisecond) // let it block; the result holds either way
			tc.shut(a, b)
			select {
			case err := <-errc:
				if !errors.Is(err, net.ErrClosed) {
					t.Fatalf("got %v, want net.ErrClosed", err)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("still blocked after Close")
			}
			if err := a.Close(); err == nil && tc.name == "blocked write on a full queue" {
				t.Fatal("second Close returned nil")
			}
		})
	}
	// Writing to a closed peer succeeds and the datagrams vanish.
	a, b := pair(t)
	b.Close()
	if n, err := a.WriteBatch(msgsTo(addrB, make([]string, QueueLen+5)...)); n != QueueLen+5 || err != nil {
		t.Fatalf("write to closed peer = %d, %v", n, err)
	}
}

// TestConcurrent runs a reader and a writer on each side under -race.
func TestConcurrent(t *testing.T) {
	a, b := pair(t)
	const total = 5000
	var wg sync.WaitGroup
	for _, c := range []*Conn{a, b} {
		dst := addrB
		if c == b {
			dst = addrA
		}
		wg.Go(func() {
			for i := 0; i < total; i += 50 {
				if _, err := c.WriteBatch(msgsTo(dst, make([]string, 50)...)); err != nil {
					t.Error(err)
					return
				}
			}
		})
		wg.Go(func() {
			msgs := make([]batch.Message, batch.BatchSize)
			for got := 0; got < total; {
				n, err := c.ReadBatch(msgs)
				if err != nil {
					t.Error(err)
					return
				}
				got += n
			}
		})
	}
	wg.Wait()
}
