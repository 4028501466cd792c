package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stt-go/stt"
	"github.com/stt-go/stt/wire"
)

// listenNode starts an in-process node served like `stt listen` (the same
// server type, echo included) on 127.0.0.1 and returns its address.
func listenNode(t *testing.T, nodeSeed, sharedSeed []byte) netip.AddrPort {
	t.Helper()
	return listenNodeWith(t, stt.Config{NodeSeed: nodeSeed, SharedSeed: sharedSeed})
}

// listenNodeWith is listenNode with cfg's options (seeds included).
func listenNodeWith(t *testing.T, cfg stt.Config) netip.AddrPort {
	t.Helper()
	cfg.ListenAddr, cfg.Loops = "127.0.0.1:0", 2
	node, err := stt.NewNode(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	if err := node.Start(ctx); err != nil {
		cancel()
		t.Fatal(err)
	}
	srv := &server{outDir: t.TempDir(), log: slog.New(slog.DiscardHandler)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		srv.serveNode(ctx, node)
	}()
	t.Cleanup(func() {
		cancel()
		stopNode(node)
		<-done
	})
	return node.Addr()
}

// testConfConfig is a run against peer with short waits.
func testConfConfig(peer netip.AddrPort, run string) *confConfig {
	c := &confConfig{Peer: peer, Bind: netip.MustParseAddr("127.0.0.1"), NodeSeed: randomSeed(), Hybrid: true,
		Timeout: 3 * time.Second, Quiet: 300 * time.Millisecond}
	if run != "" {
		c.Run = regexp.MustCompile(run)
	}
	return c
}

func verdicts(rs []caseResult) map[string]verdict {
	m := map[string]verdict{}
	for _, r := range rs {
		if old, ok := m[r.Name]; !ok || r.Verdict == vFail || old == vSkip {
			m[r.Name] = r.Verdict
		}
	}
	return m
}

// TestConformanceAgainstListen runs every case against an in-process
// `stt listen` node: none may fail, and the core cases must pass (not be
// skipped).
func TestConformanceAgainstListen(t *testing.T) {
	shared := randomSeed()
	peer := listenNode(t, randomSeed(), shared)
	cfg := testConfConfig(peer, "")
	cfg.SharedSeed = shared
	var out bytes.Buffer
	rs, err := conformance(context.Background(), cfg, &out)
	t.Logf("conformance output:\n%s", out.String())
	if err != nil {
		t.Fatal(err)
	}
	v := verdicts(rs)
	for name, got := range v {
		if got == vFail {
			t.Errorf("%s failed against stt listen", name)
		}
	}
	for _, name := range []string{
		"handshake/x25519", "handshake/hybrid", "suite/negotiation", "session/final", "data/echo",
		"key-update/ours", "migration/probe", "replay/packet-from-new-address", "forged/packet",
		"close/no-answer", "close/session-gone", "refuse/wrong-seed", "refuse/stale-timestamp", "replay/hello",
		"replay/auth-proof", "flow/stream-credit", "flow/session-credit", "streams/beyond-limit", "streams/stream-zero",
		"streams/unopened-own-parity", "frames/unknown-type", "frames/empty-payload", "ack/never-sent",
	} {
		if v[name] != vPass {
			t.Errorf("%s: %s, want PASS", name, v[name])
		}
	}
	// When the node updates its own key is its policy (this one after
	// ~100 packets): the case passes when it happens during the run.
	if got := v["key-update/node"]; got != vPass && got != vSkip {
		t.Errorf("key-update/node: %s", got)
	}
	if !strings.Contains(out.String(), "summary: ") {
		t.Error("no summary line")
	}
}

// TestConformanceCookies: against a node with Config.ForceCookies (stt
// listen --force-cookies) the cookie round trip runs and passes.
func TestConformanceCookies(t *testing.T) {
	shared := randomSeed()
	peer := listenNodeWith(t, stt.Config{NodeSeed: randomSeed(), SharedSeed: shared, ForceCookies: true})
	cfg := testConfConfig(peer, "^handshake/(x25519|cookie)$")
	cfg.SharedSeed = shared
	var out bytes.Buffer
	rs, err := conformance(context.Background(), cfg, &out)
	if err != nil {
		t.Fatal(err)
	}
	if got := verdicts(rs)["handshake/cookie"]; got != vPass {
		t.Fatalf("handshake/cookie against a node forcing cookies: %s\n%s", got, out.String())
	}
}

// TestConformanceCommand runs the subcommand end to end (flags, seeds from
// the environment, exit status) on a few cases, against the node and
// against the node behind a relay that answers replayed HELLOs.
func TestConformanceCommand(t *testing.T) {
	shared := randomSeed()
	peer := listenNode(t, randomSeed(), shared)
	t.Setenv(envNodeSeed, hex.EncodeToString(randomSeed()))
	t.Setenv(envSharedSeed, hex.EncodeToString(shared))
	cmd := func(to netip.AddrPort) (int, string, string) {
		var so, se bytes.Buffer
		code := run(context.Background(), []string{"conformance", "--peer", to.String(), "--quiet", "300ms",
			"--run", "^(handshake/x25519|replay/hello)$"}, &so, &se)
		return code, so.String(), se.String()
	}
	code, so, se := cmd(peer)
	if code != exitOK || !strings.Contains(so, "PASS  handshake/x25519") || !strings.Contains(so, "PASS  replay/hello") {
		t.Fatalf("against stt listen: exit %d\n%s%s", code, so, se)
	}
	r := newBrokenRelay(t, peer, breakage{answerReplays: true})
	code, so, se = cmd(r.addr())
	if code != exitFailure || !strings.Contains(so, "FAIL  replay/hello") || !strings.Contains(se, "1 of 2 cases failed: replay/hello") {
		t.Fatalf("against a listener answering replays: exit %d\n%s%s", code, so, se)
	}
	var so2, se2 bytes.Buffer
	if code := run(context.Background(), []string{"conformance"}, &so2, &se2); code != exitUsage {
		t.Errorf("without --peer: exit %d, want %d (%s)", code, exitUsage, se2.String())
	}
}

// TestConformanceFailsBrokenListeners puts a relay in front of the node
// that makes it misbehave in one way at a time, as a broken implementation
// would, and checks that exactly the case covering that rule fails while
// its neighbours still pass.
func TestConformanceFailsBrokenListeners(t *testing.T) {
	shared := randomSeed()
	peer := listenNode(t, randomSeed(), shared)
	tests := []struct {
		name  string
		b     breakage
		run   string
		fails string
	}{
		{"answers replayed HELLOs", breakage{answerReplays: true},
			"^(handshake/hybrid|replay/hello|replay/auth-proof|refuse/stale-timestamp)$", "replay/hello"},
		{"moves sessions on any source", breakage{followAnySource: true},
			"^(data/echo|replay/packet-from-new-address)$", "replay/packet-from-new-address"},
		{"cannot follow a key update", breakage{dropKeyPhase1: true},
			"^(data/echo|key-update/ours)$", "key-update/ours"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newBrokenRelay(t, peer, tt.b)
			cfg := testConfConfig(r.addr(), tt.run)
			cfg.SharedSeed = shared
			var out bytes.Buffer
			rs, err := conformance(context.Background(), cfg, &out)
			t.Logf("output:\n%s", out.String())
			if err != nil {
				t.Fatal(err)
			}
			v := verdicts(rs)
			if len(v) < 2 {
				t.Fatalf("only %d cases ran", len(v))
			}
			for name, got := range v {
				switch {
				case name == tt.fails && got != vFail:
					t.Errorf("%s: %s, want FAIL", name, got)
				case name != tt.fails && got != vPass:
					t.Errorf("%s: %s, want PASS (the breakage is not about it)", name, got)
				}
			}
		})
	}
}

// breakage selects how brokenRelay makes the node behind it misbehave.
type breakage struct {
	// answerReplays answers a HELLO seen before with the node's answer to
	// its first copy, as a node that caches RESPONSEs would.
	answerReplays bool
	// followAnySource sends the node's TRANSPORT packets to whichever
	// address last sent a packet of that session, replays included: a node
	// that migrates before its replay check. Such a node would also send a
	// PATH_CHALLENGE to the new address at once; the relay, which cannot
	// seal one, stands in for it with the session's latest packet.
	followAnySource bool
	// dropKeyPhase1 drops TRANSPORT packets with the key-phase bit set: a
	// node that cannot open packets after a key update.
	dropKeyPhase1 bool
}

// brokenRelay is the deliberately broken listener: a UDP relay in front of
// a correct node (test code only, never in the library). Each client
// address gets its own upstream socket, so the node sees the client's
// address changes as its own.
type brokenRelay struct {
	t     *testing.T
	b     breakage
	front *net.UDPConn
	node  netip.AddrPort
	wg    sync.WaitGroup

	mu        sync.Mutex
	ups       map[netip.AddrPort]*net.UDPConn
	replies   map[string][]byte         // HELLO → the node's first answer
	lastHello map[netip.AddrPort]string // client → its last HELLO
	lastSrc   map[wire.SessionID]netip.AddrPort
	lastPkt   map[wire.SessionID][]byte // the node's latest packet per session
}

func newBrokenRelay(t *testing.T, node netip.AddrPort, b breakage) *brokenRelay {
	t.Helper()
	front, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.MustParseAddrPort("127.0.0.1:0")))
	if err != nil {
		t.Fatal(err)
	}
	r := &brokenRelay{t: t, b: b, front: front, node: node, ups: map[netip.AddrPort]*net.UDPConn{},
		replies: map[string][]byte{}, lastHello: map[netip.AddrPort]string{}, lastSrc: map[wire.SessionID]netip.AddrPort{},
		lastPkt: map[wire.SessionID][]byte{}}
	r.wg.Add(1)
	go r.fromClients()
	t.Cleanup(func() {
		front.Close()
		r.mu.Lock()
		for _, u := range r.ups {
			u.Close()
		}
		r.mu.Unlock()
		r.wg.Wait()
	})
	return r
}

func (r *brokenRelay) addr() netip.AddrPort { return localAddr(r.front) }

// fromClients relays client datagrams to the node, applying the breakage.
func (r *brokenRelay) fromClients() {
	defer r.wg.Done()
	buf := make([]byte, 65536)
	for {
		n, from, err := r.front.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		b := bytes.Clone(buf[:n])
		kind, _ := wire.PeekKind(b)
		r.mu.Lock()
		up := r.ups[from]
		if up == nil {
			up, err = net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.MustParseAddrPort("127.0.0.1:0")))
			if err != nil {
				r.mu.Unlock()
				continue
			}
			r.ups[from] = up
			r.wg.Add(1)
			go r.fromNode(up, from)
		}
		if kind == wire.KindHandshake && len(b) > wire.HandshakeTypeOffset && b[wire.HandshakeTypeOffset] == byte(wire.HandshakeHello) {
			if cached, ok := r.replies[string(b)]; ok && r.b.answerReplays {
				r.mu.Unlock()
				_, _ = r.front.WriteToUDPAddrPort(cached, from)
				continue
			}
			r.lastHello[from] = string(b)
		}
		if kind == wire.KindTransport {
			if r.b.dropKeyPhase1 && b[1]&0x80 != 0 {
				r.mu.Unlock()
				continue
			}
			var challenge []byte
			if sid, ok := wire.PeekSessionID(b); ok {
				if prev, seen := r.lastSrc[sid]; seen && prev != from && r.b.followAnySource {
					challenge = r.lastPkt[sid]
				}
				r.lastSrc[sid] = from
			}
			if challenge != nil {
				_, _ = r.front.WriteToUDPAddrPort(challenge, from)
			}
		}
		r.mu.Unlock()
		_, _ = up.WriteToUDPAddrPort(b, r.node)
	}
}

// fromNode relays the node's datagrams on upstream socket up back to
// client, or, with followAnySource, to the session's latest source.
func (r *brokenRelay) fromNode(up *net.UDPConn, client netip.AddrPort) {
	defer r.wg.Done()
	buf := make([]byte, 65536)
	for {
		n, _, err := up.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		b := bytes.Clone(buf[:n])
		dst := client
		kind, _ := wire.PeekKind(b)
		r.mu.Lock()
		if kind == wire.KindHandshake {
			if h := r.lastHello[client]; h != "" {
				if _, ok := r.replies[h]; !ok {
					r.replies[h] = b
				}
			}
		} else if sid, ok := wire.PeekSessionID(b); ok && r.b.followAnySource {
			r.lastPkt[sid] = b
			if src, ok := r.lastSrc[sid]; ok {
				dst = src
			}
		}
		r.mu.Unlock()
		_, _ = r.front.WriteToUDPAddrPort(b, dst)
	}
}
