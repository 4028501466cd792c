package batch

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"net"
	"net/netip"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stt-go/stt/wire"
)

// optionTable runs socket tests with GSO/GRO on, forced off, and mixed.
var optionTable = []struct {
	name string
	opts Options
}{
	{"gso+gro", Options{}},
	{"off", Options{DisableGSO: true, DisableGRO: true}},
	{"gso-only", Options{DisableGRO: true}},
	{"gro-only", Options{DisableGSO: true}},
}

// loopbacks are the addresses socket tests bind.
var loopbacks = []struct {
	name string
	addr string
}{
	{"ipv4", "127.0.0.1:0"},
	{"ipv6", "[::1]:0"},
}

// readTimeout bounds a test's wait for datagrams on loopback, where nothing
// is lost; reaching it means a bug, and the test fails instead of hanging.
const readTimeout = 10 * time.Second

// listenT opens a Conn closed at test end; it skips when IPv6 loopback is
// unavailable.
func listenT(tb testing.TB, addr string, opts *Options) Conn {
	tb.Helper()
	ap := netip.MustParseAddrPort(addr)
	c, err := Listen(ap, opts)
	if err != nil {
		if ap.Addr().Is6() {
			tb.Skipf("IPv6 loopback unavailable: %v", err)
		}
		tb.Fatalf("Listen(%v): %v", ap, err)
	}
	tb.Cleanup(func() { c.Close() })
	return c
}

// makePacket returns a datagram of size bytes identifying seq.
func makePacket(seq, size int) []byte {
	p := make([]byte, size)
	for i := range p {
		p[i] = byte(seq*7 + i)
	}
	var s [4]byte
	binary.BigEndian.PutUint32(s[:], uint32(seq))
	copy(p, s[:])
	return p
}

func rxMsgs(k, size int) []Message {
	msgs := make([]Message, k)
	for i := range msgs {
		msgs[i].Buf = make([]byte, size)
	}
	return msgs
}

// received is what receiveAll collected.
type received struct {
	pkts      [][]byte
	srcs      []netip.AddrPort
	coalesced bool // some message carried several datagrams (GRO)
}

// receiveAll reads datagrams from c until want have arrived, failing the
// test after readTimeout.
func receiveAll(tb testing.TB, c Conn, want int) received {
	tb.Helper()
	var r received
	timer := time.AfterFunc(readTimeout, func() { c.Close() })
	defer timer.Stop()
	msgs := rxMsgs(BatchSize, GROBufferSize)
	for len(r.pkts) < want {
		n, err := c.ReadBatch(msgs)
		if err != nil {
			tb.Fatalf("ReadBatch after %d of %d datagrams: %v", len(r.pkts), want, err)
		}
		for i := range n {
			m := &msgs[i]
			if m.SegSize != 0 {
				r.coalesced = true
				if m.SegSize >= m.N {
					tb.Fatalf("SegSize %d with N %d: one datagram must report SegSize 0", m.SegSize, m.N)
				}
			}
			for seg := range m.Segments {
				r.pkts = append(r.pkts, bytes.Clone(seg))
				r.srcs = append(r.srcs, m.Addr)
			}
		}
	}
	return r
}

// writeAll sends msgs with one WriteBatch and requires full success.
func writeAll(tb testing.TB, c Conn, msgs []Message) {
	tb.Helper()
	n, err := c.WriteBatch(msgs)
	if err != nil || n != len(msgs) {
		tb.Fatalf("WriteBatch = %d, %v; want %d, nil", n, err, len(msgs))
	}
}

func repeat(size, count int) []int {
	s := make([]int, count)
	for i := range s {
		s[i] = size
	}
	return s
}

func TestRoundTrip(t *testing.T) {
	type run struct {
		sizes []int
		dest  int // receiver index
	}
	cases := []struct {
		name string
		runs []run
	}{
		{"one byte", []run{{[]int{1}, 0}}},
		{"empty datagram", []run{{[]int{0, 5, 0}, 0}}},
		{"64 x 64B", []run{{repeat(64, 64), 0}}},
		{"10 x 1400B", []run{{repeat(1400, 10), 0}}},
		{"last segment shorter", []run{{append(repeat(1400, 9), 700), 0}}},
		{"150 equal (several GSO runs)", []run{{repeat(1200, 150), 0}}},
		{"run over MaxGSOBytes", []run{{repeat(1400, 60), 0}}},
		{"mixed sizes", []run{{[]int{100, 200, 200, 50, 1400, 1400, 1500, 9000, 9000, 1}, 0}}},
		// 65000: the largest datagram both families carry in one loopback
		// frame (MTU 65536; IPv6 adds 40 header bytes, path-MTU probe mode
		// never fragments).
		{"jumbo", []run{{[]int{60000, 30000, 30000, 65000}, 0}}},
		{"mixed destinations", []run{
			{repeat(1000, 5), 0}, {repeat(1000, 5), 1}, {repeat(1000, 3), 0}, {[]int{10}, 1}, {repeat(900, 70), 1},
		}},
	}
	for _, fam := range loopbacks {
		t.Run(fam.name, func(t *testing.T) {
			for _, o := range optionTable {
				t.Run(o.name, func(t *testing.T) {
					tx := listenT(t, fam.addr, &o.opts)
					rx := []Conn{listenT(t, fam.addr, &o.opts), listenT(t, fam.addr, &o.opts)}
					for _, tc := range cases {
						t.Run(tc.name, func(t *testing.T) {
							var msgs []Message
							want := make([][][]byte, len(rx))
							seq := 0
							for _, r := range tc.runs {
								for _, size := range r.sizes {
									p := makePacket(seq, size)
									seq++
									msgs = append(msgs, Message{Buf: p, Addr: rx[r.dest].LocalAddr()})
									want[r.dest] = append(want[r.dest], p)
								}
							}
							before := tx.Stats()
							writeAll(t, tx, msgs)
							after := tx.Stats()
							if got := after.TxMessages - before.TxMessages; got != uint64(len(msgs)) {
								t.Errorf("Stats.TxMessages grew by %d, want %d", got, len(msgs))
							}
							for i, c := range rx {
								got := receiveAll(t, c, len(want[i]))
								for j := range want[i] {
									if !bytes.Equal(got.pkts[j], want[i][j]) {
										t.Fatalf("receiver %d datagram %d: got %d bytes %x..., want %d bytes %x...",
											i, j, len(got.pkts[j]), head(got.pkts[j]), len(want[i][j]), head(want[i][j]))
									}
									if got.srcs[j] != tx.LocalAddr() {
										t.Fatalf("receiver %d datagram %d: source %v, want %v", i, j, got.srcs[j], tx.LocalAddr())
									}
								}
								if got.coalesced && !c.Stats().GRO {
									t.Errorf("receiver %d: coalesced message with GRO off", i)
								}
							}
						})
					}
				})
			}
		})
	}
}

func head(b []byte) []byte { return b[:min(len(b), 8)] }

// TestGSOCoalesces checks that with GSO and GRO on, a run leaves in one
// syscall and arrives as one coalesced message, and with them off it does not.
func TestGSOCoalesces(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the portable fallback sends one datagram per syscall")
	}
	for _, o := range optionTable {
		t.Run(o.name, func(t *testing.T) {
			tx := listenT(t, "127.0.0.1:0", &o.opts)
			rx := listenT(t, "127.0.0.1:0", &o.opts)
			const count = 20
			msgs := make([]Message, count)
			for i := range msgs {
				msgs[i] = Message{Buf: makePacket(i, 1000), Addr: rx.LocalAddr()}
			}
			before := tx.Stats()
			writeAll(t, tx, msgs)
			got := receiveAll(t, rx, count)
			batches := tx.Stats().TxBatches - before.TxBatches
			if batches != 1 {
				t.Errorf("TxBatches grew by %d, want 1 (sendmmsg carries the whole batch)", batches)
			}
			gso, gro := tx.Stats().GSO, rx.Stats().GRO
			if gso != !o.opts.DisableGSO && !envTrue(envDisableGSO) {
				t.Errorf("Stats.GSO = %v with DisableGSO %v", gso, o.opts.DisableGSO)
			}
			if want := gso && gro; got.coalesced != want {
				t.Errorf("coalesced = %v, want %v (GSO %v, GRO %v)", got.coalesced, want, gso, gro)
			}
		})
	}
}

func TestCloseUnblocksRead(t *testing.T) {
	for _, fam := range loopbacks {
		t.Run(fam.name, func(t *testing.T) {
			c := listenT(t, fam.addr, nil)
			errc := make(chan error, 1)
			go func() {
				_, err := c.ReadBatch(rxMsgs(4, 2048))
				errc <- err
			}()
			time.Sleep(20 * time.Millisecond) // let the reader park; the test holds either way
			if err := c.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			select {
			case err := <-errc:
				if !errors.Is(err, net.ErrClosed) {
					t.Fatalf("ReadBatch after Close: %v, want net.ErrClosed", err)
				}
			case <-time.After(readTimeout):
				t.Fatal("ReadBatch still blocked after Close")
			}
			_, err := c.WriteBatch([]Message{{Buf: []byte{1}, Addr: c.LocalAddr()}})
			if !errors.Is(err, net.ErrClosed) {
				t.Fatalf("WriteBatch after Close: %v, want net.ErrClosed", err)
			}
		})
	}
}

func TestWriteErrors(t *testing.T) {
	tx := listenT(t, "127.0.0.1:0", nil)
	rx := listenT(t, "127.0.0.1:0", &Options{DisableGRO: true})
	dst := rx.LocalAddr()
	v6 := netip.MustParseAddrPort("[2001:db8::1]:9")
	cases := []struct {
		name     string
		sizes    []int
		bad      int // index of the refused message
		badAddr  netip.AddrPort
		check    func(error) bool
		delivers int // datagrams before the refused one
	}{
		{"oversize alone", []int{100, 70000, 100}, 1, dst, isMsgSize(dst, 70000), 1},
		{"oversize after a run", []int{100, 100, 100, 70000}, 3, dst, isMsgSize(dst, 70000), 3},
		{"IPv6 on IPv4 socket", []int{10, 10}, 1, v6, func(err error) bool { return errors.Is(err, ErrBadAddr) }, 1},
		{"invalid address", []int{10}, 0, netip.AddrPort{}, func(err error) bool { return errors.Is(err, ErrBadAddr) }, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			msgs := make([]Message, len(tc.sizes))
			for i, s := range tc.sizes {
				msgs[i] = Message{Buf: makePacket(i, s), Addr: dst}
			}
			msgs[tc.bad].Addr = tc.badAddr
			n, err := tx.WriteBatch(msgs)
			if n != tc.bad+1 || !tc.check(err) {
				t.Fatalf("WriteBatch = %d, %v; want %d and the typed error", n, err, tc.bad+1)
			}
			// Resuming with msgs[n:] sends the rest.
			writeAll(t, tx, msgs[n:])
			got := receiveAll(t, rx, len(tc.sizes)-1)
			if len(got.pkts) != len(tc.sizes)-1 {
				t.Fatalf("received %d datagrams, want %d", len(got.pkts), len(tc.sizes)-1)
			}
		})
	}
}

func isMsgSize(addr netip.AddrPort, size int) func(error) bool {
	return func(err error) bool {
		var mse *MsgSizeError
		return errors.As(err, &mse) && mse.Addr == addr && mse.Size == size &&
			errors.Is(err, syscall.EMSGSIZE) && errors.Is(err, &MsgSizeError{Addr: addr})
	}
}

func TestMsgSizeErrorIs(t *testing.T) {
	a := netip.MustParseAddrPort("127.0.0.1:1")
	b := netip.MustParseAddrPort("127.0.0.1:2")
	err := error(&MsgSizeError{Addr: a, Size: 1500})
	cases := []struct {
		target error
		want   bool
	}{
		{&MsgSizeError{}, true},
		{&MsgSizeError{Addr: a}, true},
		{&MsgSizeError{Size: 1500}, true},
		{&MsgSizeError{Addr: a, Size: 1500}, true},
		{&MsgSizeError{Addr: b}, false},
		{&MsgSizeError{Size: 1400}, false},
		{syscall.EMSGSIZE, true},
		{syscall.ENOBUFS, false},
	}
	for _, tc := range cases {
		if got := errors.Is(err, tc.target); got != tc.want {
			t.Errorf("errors.Is(%v, %v) = %v, want %v", err, tc.target, got, tc.want)
		}
	}
	if !strings.Contains(err.Error(), "1500") {
		t.Errorf("Error() = %q, want the size", err)
	}
}

func TestSteerIndex(t *testing.T) {
	transport := func(sid uint64) []byte {
		p := make([]byte, 16)
		p[0], p[1] = 1, kindTransport
		binary.BigEndian.PutUint64(p[wire.SessionIDOffset:], sid)
		return p
	}
	withKind := func(p []byte, b byte) []byte { p[kindOffset] = b; return p }
	cases := []struct {
		name   string
		pkt    []byte
		n      int
		want   int
		wantOK bool
	}{
		{"low word mod 4", transport(0xdeadbeef_00000007), 4, 3, true},
		{"high word ignored", transport(0xffffffff_00000008), 4, 0, true},
		{"n 1", transport(12345), 1, 0, true},
		{"n 3", transport(10), 3, 1, true},
		{"key phase bit kept out", withKind(transport(5), 0x80|kindTransport), 2, 1, true},
		{"handshake", withKind(transport(5), 1), 4, 0, false},
		{"flags in kind bits", withKind(transport(5), 0x12), 4, 1, true},
		{"unknown kind", withKind(transport(5), 0x0f), 4, 0, false},
		{"shortest", transport(6)[:steerMinLen], 4, 2, true},
		{"too short", transport(6)[:steerMinLen-1], 4, 0, false},
		{"empty", nil, 4, 0, false},
		{"n 0", transport(6), 0, 0, false},
		{"n negative", transport(6), -1, 0, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := steerIndex(tc.pkt, tc.n)
			if got != tc.want || ok != tc.wantOK {
				t.Fatalf("steerIndex = %d, %v; want %d, %v", got, ok, tc.want, tc.wantOK)
			}
		})
	}
}

// TestSteerRuleIsWire ties the Go copy of the steering decision to the
// one statement of the rule, wire.SessionID.Loop (TestSteerProgramMatches
// steerIndex ties the cBPF program to this copy; the data plane and the
// control plane call Loop itself).
func TestSteerRuleIsWire(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for range 10000 {
		sid, n := rng.Uint64(), 1+rng.IntN(64)
		p := make([]byte, 16)
		p[0], p[1] = wire.Version, byte(wire.KindTransport)
		binary.BigEndian.PutUint64(p[wire.SessionIDOffset:], sid)
		if got, _ := steerIndex(p, n); got != wire.SessionID(sid).Loop(n) {
			t.Fatalf("steerIndex(session %#x, %d) = %d, wire says %d", sid, n, got, wire.SessionID(sid).Loop(n))
		}
	}
}

func TestSegments(t *testing.T) {
	buf := []byte("abcdefghij")
	cases := []struct {
		n, seg int
		want   []string
	}{
		{10, 0, []string{"abcdefghij"}},
		{0, 0, []string{""}},
		{10, 4, []string{"abcd", "efgh", "ij"}},
		{8, 4, []string{"abcd", "efgh"}},
		{3, 4, []string{"abc"}},
	}
	for _, tc := range cases {
		m := Message{Buf: buf, N: tc.n, SegSize: tc.seg}
		var got []string
		for s := range m.Segments {
			got = append(got, string(s))
		}
		if strings.Join(got, "|") != strings.Join(tc.want, "|") {
			t.Errorf("N %d SegSize %d: got %q, want %q", tc.n, tc.seg, got, tc.want)
		}
		// Early stop.
		calls := 0
		m.Segments(func([]byte) bool { calls++; return false })
		if calls != 1 {
			t.Errorf("N %d SegSize %d: yield called %d times after false", tc.n, tc.seg, calls)
		}
	}
}

func TestListenValidation(t *testing.T) {
	lo := netip.MustParseAddrPort("127.0.0.1:0")
	cases := []struct {
		name string
		addr netip.AddrPort
		n    int
		opts *Options
		want string
	}{
		{"n zero", lo, 0, nil, "n must be"},
		{"n too big", lo, maxGroupSize + 1, nil, "n must be"},
		{"invalid address", netip.AddrPort{}, 1, nil, "invalid"},
		{"negative buffer", lo, 1, &Options{SocketBuffer: -1}, "Options.SocketBuffer"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g, err := ListenGroup(tc.addr, tc.n, tc.opts)
			if err == nil {
				g.Close()
				t.Fatal("ListenGroup succeeded")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q does not name %q", err, tc.want)
			}
		})
	}
}

func TestEnvOverrides(t *testing.T) {
	cases := []struct {
		env, val string
		check    func(config) bool
	}{
		{envDisableGSO, "1", func(c config) bool { return !c.gso && c.gro && c.steer }},
		{envDisableGRO, "true", func(c config) bool { return c.gso && !c.gro && c.steer }},
		{envDisableSteering, "1", func(c config) bool { return c.gso && c.gro && !c.steer }},
		{envDisableGSO, "0", func(c config) bool { return c.gso && c.gro && c.steer }},
		{envDisableGSO, "junk", func(c config) bool { return c.gso && c.gro && c.steer }},
	}
	for _, tc := range cases {
		t.Run(tc.env+"="+tc.val, func(t *testing.T) {
			t.Setenv(tc.env, tc.val)
			c, err := resolve(nil)
			if err != nil || !tc.check(c) {
				t.Fatalf("resolve = %+v, %v", c, err)
			}
			if c.sockBuf != defaultSocketBuffer || c.log == nil {
				t.Fatalf("defaults not applied: %+v", c)
			}
		})
	}
	opts := &Options{DisableGSO: true, SocketBuffer: 1 << 20}
	before := *opts
	c, _ := resolve(opts)
	if c.gso || c.sockBuf != 1<<20 || *opts != before {
		t.Fatalf("resolve(%+v) = %+v, or modified the Options", before, c)
	}
}

func TestNoAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	pkt := make([]byte, 64)
	pkt[kindOffset] = kindTransport
	seg := Message{Buf: make([]byte, 4000), N: 4000, SegSize: 1400}
	var sinkInt int
	cases := []struct {
		name string
		fn   func()
	}{
		{"steerIndex", func() { sinkInt, _ = steerIndex(pkt, 4) }},
		{"Segments", func() {
			for s := range seg.Segments {
				sinkInt += len(s)
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := testing.AllocsPerRun(100, tc.fn); got != 0 {
				t.Fatalf("%v allocs per run, want 0", got)
			}
		})
	}
	_ = sinkInt
}
