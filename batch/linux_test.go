//go:build linux

package batch

import (
	"bytes"
	"encoding/binary"
	"errors"
	"github.com/stt-go/stt/wire"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

func TestSockaddr(t *testing.T) {
	cases := []struct {
		name   string
		in     string
		family int
		ok     bool
		back   string // what decoding the encoded sockaddr gives
	}{
		{"v4 on v4", "127.0.0.1:443", unix.AF_INET, true, "127.0.0.1:443"},
		{"mapped on v4 is unmapped", "[::ffff:10.1.2.3]:65535", unix.AF_INET, true, "10.1.2.3:65535"},
		{"v6 on v4 refused", "[::1]:1", unix.AF_INET, false, ""},
		{"v6 on v6", "[2001:db8::5]:1", unix.AF_INET6, true, "[2001:db8::5]:1"},
		{"v4 on v6 is mapped, decodes unmapped", "192.0.2.1:258", unix.AF_INET6, true, "192.0.2.1:258"},
		{"zone dropped", "[fe80::1%lo]:9", unix.AF_INET6, true, "[fe80::1]:9"},
		{"port 0", "127.0.0.1:0", unix.AF_INET, true, "127.0.0.1:0"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var sa unix.RawSockaddrInet6
			n, ok := putSockaddr(&sa, netip.MustParseAddrPort(tc.in), tc.family)
			if ok != tc.ok {
				t.Fatalf("putSockaddr ok = %v, want %v", ok, tc.ok)
			}
			if !ok {
				return
			}
			wantLen := uint32(unix.SizeofSockaddrInet4)
			if tc.family == unix.AF_INET6 {
				wantLen = unix.SizeofSockaddrInet6
			}
			if n != wantLen || int(sa.Family) != tc.family {
				t.Fatalf("len %d family %d, want %d %d", n, sa.Family, wantLen, tc.family)
			}
			// The port is in network byte order at bytes 2-3 of the sockaddr.
			raw := (*[4]byte)(unsafe.Pointer(&sa))
			if port := netip.MustParseAddrPort(tc.in).Port(); binary.BigEndian.Uint16(raw[2:]) != port {
				t.Fatalf("port bytes %x, want %d", raw[2:4], port)
			}
			if got := sockaddrToAddrPort(&sa); got != netip.MustParseAddrPort(tc.back) {
				t.Fatalf("decoded %v, want %v", got, tc.back)
			}
		})
	}
	var sa unix.RawSockaddrInet6
	if _, ok := putSockaddr(&sa, netip.AddrPort{}, unix.AF_INET6); ok {
		t.Error("invalid AddrPort encoded")
	}
	sa.Family = unix.AF_UNIX
	if got := sockaddrToAddrPort(&sa); got.IsValid() {
		t.Errorf("AF_UNIX decoded as %v", got)
	}
}

// cmsg builds one control message as the kernel lays it out.
func cmsg(level, typ int32, data []byte) []byte {
	b := make([]byte, unix.CmsgSpace(len(data)))
	h := (*unix.Cmsghdr)(unsafe.Pointer(&b[0]))
	h.Level, h.Type = level, typ
	h.SetLen(unix.CmsgLen(len(data)))
	copy(b[unix.CmsgLen(0):], data)
	return b
}

func le32(v uint32) []byte { return binary.NativeEndian.AppendUint32(nil, v) }

func TestParseRxControl(t *testing.T) {
	gro := cmsg(unix.IPPROTO_UDP, unix.UDP_GRO, le32(1400))
	ovfl := cmsg(unix.SOL_SOCKET, unix.SO_RXQ_OVFL, le32(77))
	other := cmsg(unix.IPPROTO_IP, unix.IP_TOS, []byte{1})
	bad := bytes.Clone(gro)
	(*unix.Cmsghdr)(unsafe.Pointer(&bad[0])).SetLen(len(bad) + 100)
	short := cmsg(unix.IPPROTO_UDP, unix.UDP_GRO, []byte{1, 2})
	cases := []struct {
		name  string
		in    []byte
		seg   int
		drops uint32
	}{
		{"empty", nil, 0, 0},
		{"gro", gro, 1400, 0},
		{"ovfl", ovfl, 0, 77},
		{"both", append(bytes.Clone(ovfl), gro...), 1400, 77},
		{"unknown skipped", append(bytes.Clone(other), gro...), 1400, 0},
		{"length past end", bad, 0, 0},
		{"short data ignored", short, 0, 0},
		{"truncated header", gro[:4], 0, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			// Copy into aligned storage, as the rx scratch is.
			var words [16]uint64
			buf := unsafe.Slice((*byte)(unsafe.Pointer(&words[0])), len(words)*8)
			n := copy(buf, tc.in)
			seg, drops := parseRxControl(buf[:n])
			if seg != tc.seg || drops != tc.drops {
				t.Fatalf("parseRxControl = %d, %d; want %d, %d", seg, drops, tc.seg, tc.drops)
			}
		})
	}
	if need := 2 * unix.CmsgSpace(4); need > rxControlWords*8 {
		t.Fatalf("rx control buffer %d bytes, need %d", rxControlWords*8, need)
	}
	if need := unix.CmsgSpace(2); need > txControlWords*8 {
		t.Fatalf("tx control buffer %d bytes, need %d", txControlWords*8, need)
	}
}

func TestPutSegmentControl(t *testing.T) {
	var ctrl [txControlWords]uint64
	n := putSegmentControl(&ctrl, 1452)
	b := unsafe.Slice((*byte)(unsafe.Pointer(&ctrl[0])), n)
	h := (*unix.Cmsghdr)(unsafe.Pointer(&b[0]))
	if h.Level != unix.IPPROTO_UDP || h.Type != unix.UDP_SEGMENT || int(h.Len) != unix.CmsgLen(2) {
		t.Fatalf("header %+v", *h)
	}
	if got := binary.NativeEndian.Uint16(b[unix.CmsgLen(0):]); got != 1452 {
		t.Fatalf("segment size %d", got)
	}
}

// sockopt reads an integer socket option of c.
func sockopt(t *testing.T, c Conn, level, opt int) int {
	t.Helper()
	var v int
	var serr error
	if err := c.(*conn).rc.Control(func(fd uintptr) { v, serr = unix.GetsockoptInt(int(fd), level, opt) }); err != nil || serr != nil {
		t.Fatalf("getsockopt(%d, %d): %v %v", level, opt, err, serr)
	}
	return v
}

func TestSocketOptions(t *testing.T) {
	for _, fam := range loopbacks {
		t.Run(fam.name, func(t *testing.T) {
			c := listenT(t, fam.addr, nil)
			cc := c.(*conn)
			if cc.family == unix.AF_INET {
				if v := sockopt(t, c, unix.IPPROTO_IP, unix.IP_MTU_DISCOVER); v != unix.IP_PMTUDISC_PROBE {
					t.Errorf("IP_MTU_DISCOVER = %d, want PROBE", v)
				}
			} else if v := sockopt(t, c, unix.IPPROTO_IPV6, unix.IPV6_MTU_DISCOVER); v != unix.IPV6_PMTUDISC_PROBE {
				t.Errorf("IPV6_MTU_DISCOVER = %d, want PROBE", v)
			}
			if v := sockopt(t, c, unix.SOL_SOCKET, unix.SO_RXQ_OVFL); v != 1 {
				t.Errorf("SO_RXQ_OVFL = %d", v)
			}
			if v := sockopt(t, c, unix.IPPROTO_UDP, unix.UDP_GRO); (v == 1) != c.Stats().GRO {
				t.Errorf("UDP_GRO = %d, Stats.GRO = %v", v, c.Stats().GRO)
			}
			if os.Geteuid() == 0 {
				for _, opt := range []int{unix.SO_RCVBUF, unix.SO_SNDBUF} {
					if v := sockopt(t, c, unix.SOL_SOCKET, opt); v/2 < defaultSocketBuffer {
						t.Errorf("buffer option %d = %d, want ≥ 2×%d as root", opt, v, defaultSocketBuffer)
					}
				}
			}
		})
	}
}

// TestBufferWarning asks for more than the kernel grants even with
// SO_RCVBUFFORCE (it caps at INT_MAX/2) and expects exactly one warning for
// the whole group, naming the sysctls.
func TestBufferWarning(t *testing.T) {
	var out bytes.Buffer
	log := slog.New(slog.NewTextHandler(&out, nil))
	g, err := ListenGroup(netip.MustParseAddrPort("127.0.0.1:0"), 3, &Options{SocketBuffer: 1 << 30, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	g.Close()
	if n := strings.Count(out.String(), "net.core.rmem_max"); n != 1 {
		t.Fatalf("%d warnings naming net.core.rmem_max, want 1:\n%s", n, out.String())
	}
}

// TestGSOFallback makes the kernel refuse GSO (SO_NO_CHECK: GSO needs UDP
// checksums, udp_send_skb returns EINVAL) and checks the run is resent
// uncoalesced and GSO stays off.
func TestGSOFallback(t *testing.T) {
	tx := listenT(t, "127.0.0.1:0", nil)
	rx := listenT(t, "127.0.0.1:0", nil)
	if !tx.Stats().GSO {
		t.Skip("kernel without UDP GSO")
	}
	var serr error
	if err := tx.(*conn).rc.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_NO_CHECK, 1)
	}); err != nil || serr != nil {
		t.Fatal(err, serr)
	}
	msgs := make([]Message, 30)
	for i := range msgs {
		msgs[i] = Message{Buf: makePacket(i, 500), Addr: rx.LocalAddr()}
		if i == 10 {
			msgs[i].Buf = makePacket(i, 100) // ends the first run
		}
	}
	writeAll(t, tx, msgs)
	writeAll(t, tx, msgs)
	got := receiveAll(t, rx, 2*len(msgs))
	for i, p := range got.pkts {
		if !bytes.Equal(p, msgs[i%len(msgs)].Buf) {
			t.Fatalf("datagram %d differs", i)
		}
	}
	s := tx.Stats()
	if s.GSO || s.GSOFallbacks != 1 || s.TxMessages != uint64(2*len(msgs)) {
		t.Fatalf("Stats after fallback: %+v; want GSO off, 1 fallback, %d messages", s, 2*len(msgs))
	}
}

// TestRxQueueOverflow overruns a tiny receive buffer and checks the
// SO_RXQ_OVFL counter reaches Stats.
func TestRxQueueOverflow(t *testing.T) {
	rx := listenT(t, "127.0.0.1:0", &Options{SocketBuffer: 4096, DisableGRO: true})
	tx := listenT(t, "127.0.0.1:0", &Options{DisableGSO: true})
	msgs := make([]Message, 200)
	for i := range msgs {
		msgs[i] = Message{Buf: makePacket(i, 1000), Addr: rx.LocalAddr()}
	}
	writeAll(t, tx, msgs)
	// Drain what fit, then send one datagram that queues behind the drops
	// and carries the counter.
	rmsgs := rxMsgs(BatchSize, 2048)
	for {
		n, err := rx.ReadBatch(rmsgs)
		if err != nil {
			t.Fatal(err)
		}
		if n < BatchSize {
			break
		}
	}
	writeAll(t, tx, msgs[:1])
	receiveAll(t, rx, 1)
	if s := rx.Stats(); s.RxQueueOverflow == 0 {
		t.Fatalf("RxQueueOverflow = 0 after overrunning a 4 KiB buffer: %+v", s)
	}
}

// TestTruncated checks a datagram larger than its buffer is dropped and
// counted, and a GRO train keeps its whole segments.
func TestTruncated(t *testing.T) {
	for _, o := range optionTable {
		t.Run(o.name, func(t *testing.T) {
			rx := listenT(t, "127.0.0.1:0", &o.opts)
			tx := listenT(t, "127.0.0.1:0", &o.opts)
			msgs := make([]Message, 5)
			for i := range msgs {
				msgs[i] = Message{Buf: makePacket(i, 1000), Addr: rx.LocalAddr()}
			}
			writeAll(t, tx, msgs)
			rmsgs := rxMsgs(BatchSize, 2500)
			timer := time.AfterFunc(readTimeout, func() { rx.Close() })
			defer timer.Stop()
			whole := 0
			for whole < 5 {
				n, err := rx.ReadBatch(rmsgs)
				if err != nil {
					t.Fatal(err)
				}
				for i := range n {
					for seg := range rmsgs[i].Segments {
						if len(seg) > 0 && !bytes.Equal(seg, msgs[whole].Buf) {
							t.Fatalf("segment %d corrupted", whole)
						}
						if len(seg) > 0 {
							whole++
						}
					}
				}
				if rx.Stats().GRO && tx.Stats().GSO {
					break // one train of 5: 2 whole segments kept, the rest dropped
				}
			}
			s := rx.Stats()
			if s.GRO && tx.Stats().GSO {
				if whole != 2 || s.RxTruncated != 1 {
					t.Fatalf("GRO train into 2500 bytes: %d whole segments, %d truncated; want 2, 1", whole, s.RxTruncated)
				}
			} else if s.RxTruncated != 0 {
				t.Fatalf("RxTruncated = %d without coalescing", s.RxTruncated)
			}
		})
	}
	// A single datagram larger than its buffer.
	rx := listenT(t, "127.0.0.1:0", nil)
	tx := listenT(t, "127.0.0.1:0", nil)
	writeAll(t, tx, []Message{{Buf: makePacket(1, 3000), Addr: rx.LocalAddr()}})
	rmsgs := rxMsgs(1, 1000)
	n, err := rx.ReadBatch(rmsgs)
	if err != nil || n != 1 || rmsgs[0].N != 0 || rx.Stats().RxTruncated != 1 {
		t.Fatalf("oversize datagram: n %d err %v N %d truncated %d; want 1 nil 0 1", n, err, rmsgs[0].N, rx.Stats().RxTruncated)
	}
}

// runBPF interprets the subset of classic BPF steerProgram uses, as the
// kernel defines it: an out-of-bounds load returns 0.
func runBPF(t *testing.T, prog []unix.SockFilter, pkt []byte, random uint32) uint32 {
	var a uint32
	for pc := 0; pc < len(prog); pc++ {
		ins := prog[pc]
		switch ins.Code {
		case unix.BPF_LD | unix.BPF_B | unix.BPF_ABS:
			if int(ins.K) >= len(pkt) {
				return 0
			}
			a = uint32(pkt[ins.K])
		case unix.BPF_LD | unix.BPF_W | unix.BPF_ABS:
			if ins.K == skfAdOff+skfAdRandom {
				a = random
				continue
			}
			if int(ins.K)+4 > len(pkt) {
				return 0
			}
			a = binary.BigEndian.Uint32(pkt[ins.K:])
		case unix.BPF_ALU | unix.BPF_AND | unix.BPF_K:
			a &= ins.K
		case unix.BPF_ALU | unix.BPF_MOD | unix.BPF_K:
			a %= ins.K
		case unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K:
			if a == ins.K {
				pc += int(ins.Jt)
			} else {
				pc += int(ins.Jf)
			}
		case unix.BPF_RET | unix.BPF_A:
			return a
		default:
			t.Fatalf("instruction %d: opcode %#x not in the interpreter", pc, ins.Code)
		}
	}
	t.Fatal("program fell off its end")
	return 0
}

// TestSteerProgramMatchesSteerIndex compares the BPF program, interpreted,
// with steerIndex on random packets.
func TestSteerProgramMatchesSteerIndex(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{2, 3, 4, 7, 64} {
		prog := steerProgram(n)
		for range 5000 {
			pkt := make([]byte, rng.IntN(20))
			for i := range pkt {
				pkt[i] = byte(rng.Uint32())
			}
			if len(pkt) > kindOffset && rng.IntN(2) == 0 {
				pkt[kindOffset] = pkt[kindOffset]&^kindMask | kindTransport
			}
			random := rng.Uint32()
			got := runBPF(t, prog, pkt, random)
			want, ok := steerIndex(pkt, n)
			shortTransport := len(pkt) > kindOffset && pkt[kindOffset]&kindMask == kindTransport
			switch {
			case ok && got != uint32(want):
				t.Fatalf("n %d pkt %x: program %d, steerIndex %d", n, pkt, got, want)
			case !ok && shortTransport && got != 0:
				// Too short for the session ID load: classic BPF returns 0.
				t.Fatalf("n %d pkt %x: short TRANSPORT went to %d, want 0", n, pkt, got)
			case !ok && !shortTransport && len(pkt) > kindOffset && got != random%uint32(n):
				t.Fatalf("n %d pkt %x: unsteered program result %d, want random %% n = %d", n, pkt, got, random%uint32(n))
			case got >= uint32(n):
				t.Fatalf("n %d: index %d out of range", n, got)
			}
		}
	}
}

// transportPacket builds a TRANSPORT packet header for sid, padded to size.
func transportPacket(kind byte, sid uint64, size int) []byte {
	p := make([]byte, size)
	p[0], p[kindOffset] = 1, kind
	binary.BigEndian.PutUint64(p[wire.SessionIDOffset:], sid)
	return p
}

// groupReceive reads on every conn of g concurrently until total datagrams
// arrived and returns, per conn, the packets it received.
func groupReceive(t *testing.T, g *Group, total int) [][][]byte {
	t.Helper()
	conns := g.Conns()
	got := make([][][]byte, len(conns))
	var (
		count atomic.Int64
		wg    sync.WaitGroup
		mu    sync.Mutex
	)
	done := make(chan struct{})
	for i, c := range conns {
		wg.Go(func() {
			msgs := rxMsgs(BatchSize, GROBufferSize)
			for {
				n, err := c.ReadBatch(msgs)
				if err != nil {
					if !errors.Is(err, net.ErrClosed) {
						t.Errorf("conn %d: %v", i, err)
					}
					return
				}
				for j := range n {
					for seg := range msgs[j].Segments {
						mu.Lock()
						got[i] = append(got[i], bytes.Clone(seg))
						mu.Unlock()
						if count.Add(1) == int64(total) {
							close(done)
						}
					}
				}
			}
		})
	}
	select {
	case <-done:
	case <-time.After(readTimeout):
		t.Errorf("received %d of %d datagrams", count.Load(), total)
	}
	g.Close()
	wg.Wait()
	return got
}

// sendPlain sends pkts one at a time from a plain socket. It may run on
// its own goroutine: it reports with t.Error.
func sendPlain(t *testing.T, to netip.AddrPort, pkts [][]byte) {
	t.Helper()
	c, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.MustParseAddrPort("127.0.0.1:0")))
	if err != nil {
		t.Error(err)
		return
	}
	defer c.Close()
	for i, p := range pkts {
		if _, err := c.WriteToUDPAddrPort(p, to); err != nil {
			t.Errorf("send %d: %v", i, err)
			return
		}
		if i%256 == 255 {
			time.Sleep(time.Millisecond) // let softirq drain the loopback backlog (net.core.netdev_max_backlog)
		}
	}
}

// TestSteering is the acceptance test: with the program attached, every
// TRANSPORT packet lands on conn steerIndex(pkt, n), for 1000 session IDs,
// and handshake packets arrive somewhere.
func TestSteering(t *testing.T) {
	for _, n := range []int{2, 4} {
		for _, o := range optionTable[:2] {
			t.Run(o.name+"/n="+string(rune('0'+n)), func(t *testing.T) {
				g, err := ListenGroup(netip.MustParseAddrPort("127.0.0.1:0"), n, &o.opts)
				if err != nil {
					t.Fatal(err)
				}
				if !g.Steered() {
					t.Fatal("steering program not attached")
				}
				rng := rand.New(rand.NewPCG(uint64(n), 9))
				var pkts [][]byte
				const ids, perID, handshakes = 1000, 2, 200
				for range ids {
					sid := rng.Uint64()
					for range perID {
						pkts = append(pkts, transportPacket(kindTransport|0x80*byte(rng.IntN(2)), sid, 16+rng.IntN(64)))
					}
				}
				for i := range handshakes {
					pkts = append(pkts, transportPacket(1, uint64(i), 40))
				}
				rng.Shuffle(len(pkts), func(i, j int) { pkts[i], pkts[j] = pkts[j], pkts[i] })
				var wg sync.WaitGroup
				wg.Go(func() { sendPlain(t, g.LocalAddr(), pkts) })
				got := groupReceive(t, g, len(pkts))
				wg.Wait()
				missteered, transport, hs, hsConns := 0, 0, 0, 0
				for i, ps := range got {
					hsHere := 0
					for _, p := range ps {
						if want, ok := steerIndex(p, n); ok {
							transport++
							if want != i {
								missteered++
							}
						} else {
							hsHere++
						}
					}
					hs += hsHere
					if hsHere > 0 {
						hsConns++
					}
				}
				if missteered != 0 || transport != ids*perID || hs != handshakes {
					t.Fatalf("%d mis-steered of %d TRANSPORT (want 0 of %d); %d of %d handshakes", missteered, transport, ids*perID, hs, handshakes)
				}
				if hsConns < 2 {
					t.Errorf("handshakes reached %d conns; the random spread should reach several", hsConns)
				}
			})
		}
	}
}

// TestSteeringDisabled checks every packet still arrives somewhere without
// the program.
func TestSteeringDisabled(t *testing.T) {
	g, err := ListenGroup(netip.MustParseAddrPort("127.0.0.1:0"), 4, &Options{DisableSteering: true})
	if err != nil {
		t.Fatal(err)
	}
	if g.Steered() {
		t.Fatal("Steered with DisableSteering")
	}
	var pkts [][]byte
	for i := range 2000 {
		pkts = append(pkts, transportPacket(kindTransport, uint64(i), 32))
	}
	var wg sync.WaitGroup
	wg.Go(func() { sendPlain(t, g.LocalAddr(), pkts) })
	got := groupReceive(t, g, len(pkts))
	wg.Wait()
	total := 0
	for _, ps := range got {
		total += len(ps)
	}
	if total != len(pkts) {
		t.Fatalf("received %d of %d", total, len(pkts))
	}
}

func TestGroupShape(t *testing.T) {
	g, err := ListenGroup(netip.MustParseAddrPort("127.0.0.1:0"), 3, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	if g.LocalAddr().Port() == 0 {
		t.Fatal("group port not picked")
	}
	for i, c := range g.Conns() {
		if c.LocalAddr() != g.LocalAddr() {
			t.Errorf("conn %d bound to %v, group %v", i, c.LocalAddr(), g.LocalAddr())
		}
	}
	one, err := ListenGroup(netip.MustParseAddrPort("127.0.0.1:0"), 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer one.Close()
	if one.Steered() {
		t.Error("n == 1 reports Steered")
	}
	// A second, unrelated group cannot take the first group's port without
	// SO_REUSEPORT on the plain socket.
	if _, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(g.LocalAddr())); err == nil {
		t.Error("plain socket joined the reuseport group's port")
	}
}

func TestNoAllocsLinux(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	pair := func(t *testing.T, opts *Options) (Conn, Conn) {
		return listenT(t, "127.0.0.1:0", opts), listenT(t, "127.0.0.1:0", opts)
	}
	var sinkInt int
	var sinkStats Stats
	roundTrip := func(opts Options, count, size int) func(t *testing.T) func() {
		return func(t *testing.T) func() {
			tx, rx := pair(t, &opts)
			msgs := make([]Message, count)
			for i := range msgs {
				msgs[i] = Message{Buf: makePacket(i, size), Addr: rx.LocalAddr()}
			}
			rmsgs := rxMsgs(BatchSize, GROBufferSize)
			return func() {
				if n, err := tx.WriteBatch(msgs); err != nil || n != count {
					panic(err)
				}
				for got := 0; got < count; {
					n, err := rx.ReadBatch(rmsgs)
					if err != nil {
						panic(err)
					}
					for i := range n {
						for range rmsgs[i].Segments {
							got++
						}
					}
				}
				sinkStats = tx.Stats()
			}
		}
	}
	var sa unix.RawSockaddrInet6
	ap4 := netip.MustParseAddrPort("127.0.0.1:9")
	ap6 := netip.MustParseAddrPort("[2001:db8::1]:9")
	var ctrl [rxControlWords]uint64
	ctrlBytes := unsafe.Slice((*byte)(unsafe.Pointer(&ctrl[0])), len(ctrl)*8)
	copy(ctrlBytes, append(cmsg(unix.IPPROTO_UDP, unix.UDP_GRO, le32(1400)), cmsg(unix.SOL_SOCKET, unix.SO_RXQ_OVFL, le32(3))...))
	cases := []struct {
		name string
		fn   func(t *testing.T) func()
	}{
		{"roundtrip/gso+gro/32x1400", roundTrip(Options{}, 32, 1400)},
		{"roundtrip/off/32x1400", roundTrip(Options{DisableGSO: true, DisableGRO: true}, 32, 1400)},
		{"roundtrip/gso+gro/64x64", roundTrip(Options{}, 64, 64)},
		{"sockaddr/v4", func(*testing.T) func() {
			return func() { putSockaddr(&sa, ap4, unix.AF_INET); sinkInt = int(sockaddrToAddrPort(&sa).Port()) }
		}},
		{"sockaddr/v6", func(*testing.T) func() {
			return func() { putSockaddr(&sa, ap6, unix.AF_INET6); sinkInt = int(sockaddrToAddrPort(&sa).Port()) }
		}},
		{"parseRxControl", func(*testing.T) func() {
			return func() { seg, _ := parseRxControl(ctrlBytes); sinkInt = seg }
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fn := tc.fn(t)
			fn() // warm up: first use may grow runtime structures
			if got := testing.AllocsPerRun(50, fn); got != 0 {
				t.Fatalf("%v allocs per run, want 0", got)
			}
		})
	}
	_, _ = sinkInt, sinkStats
}

// TestTxLost sends to an IPv4-mapped address from an IPv6-only socket,
// which the kernel refuses with ENETUNREACH: the datagrams count as lost and
// the rest of the batch (before and after, partial sendmmsg resumed) goes out.
func TestTxLost(t *testing.T) {
	for _, o := range optionTable {
		t.Run(o.name, func(t *testing.T) {
			tx := listenT(t, "[::1]:0", &o.opts)
			rx := listenT(t, "[::1]:0", &o.opts)
			unreachable := netip.MustParseAddrPort("127.0.0.1:9")
			var msgs []Message
			dests := []netip.AddrPort{rx.LocalAddr(), rx.LocalAddr(), unreachable, unreachable, unreachable, rx.LocalAddr(), unreachable, rx.LocalAddr()}
			for i, d := range dests {
				msgs = append(msgs, Message{Buf: makePacket(i, 300), Addr: d})
			}
			writeAll(t, tx, msgs)
			got := receiveAll(t, rx, 4)
			for i, want := range []int{0, 1, 5, 7} {
				if !bytes.Equal(got.pkts[i], msgs[want].Buf) {
					t.Fatalf("datagram %d is not message %d", i, want)
				}
			}
			if s := tx.Stats(); s.TxLost != 4 || s.TxMessages != 4 || s.GSOFallbacks != 0 {
				t.Fatalf("Stats %+v; want 4 lost, 4 sent, no GSO fallback", s)
			}
		})
	}
}

// TestWriteTo: the one-datagram path a handshake message takes (conn's
// WriteTo, beside WriteBatch) maps addresses and reports errors as
// WriteBatch does, and counts in Stats.
func TestWriteTo(t *testing.T) {
	tx := listenT(t, "127.0.0.1:0", nil)
	rx := listenT(t, "127.0.0.1:0", &Options{DisableGRO: true})
	w, ok := tx.(interface {
		WriteTo([]byte, netip.AddrPort) error
	})
	if !ok {
		t.Fatalf("%T has no WriteTo", tx)
	}
	dst := rx.LocalAddr()
	mapped := netip.AddrPortFrom(netip.AddrFrom16(dst.Addr().As16()), dst.Port())
	for _, tc := range []struct {
		name  string
		to    netip.AddrPort
		size  int
		check func(error) bool // nil: must succeed and arrive
	}{
		{"IPv4", dst, 300, nil},
		{"IPv4-mapped on an IPv4 socket", mapped, 301, nil},
		{"IPv6 on an IPv4 socket", netip.MustParseAddrPort("[2001:db8::1]:9"), 10, func(err error) bool { return errors.Is(err, ErrBadAddr) }},
		{"invalid address", netip.AddrPort{}, 10, func(err error) bool { return errors.Is(err, ErrBadAddr) }},
		{"oversize", dst, 70000, isMsgSize(dst, 70000)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := makePacket(1, tc.size)
			err := w.WriteTo(p, tc.to)
			if tc.check != nil {
				if !tc.check(err) {
					t.Fatalf("WriteTo = %v, want the typed error", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := receiveAll(t, rx, 1)
			if !bytes.Equal(got.pkts[0], p) {
				t.Fatal("received a different datagram")
			}
		})
	}
	if s := tx.Stats(); s.TxMessages != 2 || s.TxLost != 0 {
		t.Fatalf("Stats %+v; want 2 sent", s)
	}
	// An ICMP-refused destination is counted lost, as in WriteBatch.
	closed := netip.MustParseAddrPort("127.0.0.1:9")
	for range 3 {
		if err := w.WriteTo(makePacket(2, 100), closed); err != nil {
			t.Fatalf("WriteTo a closed port = %v, want nil (counted)", err)
		}
		time.Sleep(5 * time.Millisecond) // let the port-unreachable come back
	}
	if s := tx.Stats(); s.TxMessages+s.TxLost != 5 {
		t.Fatalf("Stats %+v; want 3 more sent or lost", s)
	}
}
