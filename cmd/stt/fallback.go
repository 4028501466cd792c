package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"strings"
	"time"

	stt "github.com/stt-go/stt"
	"github.com/stt-go/stt/transport/ws"
)

// The WebSocket fallback (package transport/ws) in the CLI: `listen --ws`
// serves a relay next to the node, `send --via` and `bench --via` reach a
// listener through a tunnel instead of plain UDP. The node and the
// protocol are unchanged: the local node Connects to the tunnel's loopback
// address, and the relay hands every datagram to the listening node's UDP
// socket.

// errTunnelEnded is the cause of a context cancelled because the tunnel
// under the session ended (server gone, network error, idle timeout).
var errTunnelEnded = errors.New("the WebSocket tunnel ended")

// relayFlags are listen's --ws and --ws-path.
type relayFlags struct {
	addr string
	path string
}

func (f *relayFlags) register(fs *flagSet) {
	fs.StringVar(&f.addr, "ws", "", "also serve the WebSocket fallback on TCP `HOST:PORT` for peers whose UDP is blocked (port 0 picks a free one; the bound URL is printed on stderr); it relays to this node's UDP address")
	fs.StringVar(&f.path, "ws-path", ws.DefaultPath, "HTTP `PATH` of the WebSocket endpoint (with --ws)")
}

// check validates the flags; set reports which flags the command line
// named.
func (f *relayFlags) check(set map[string]bool) error {
	if f.addr == "" {
		if set["ws-path"] {
			return usagef("--ws-path needs --ws HOST:PORT")
		}
		return nil
	}
	if _, _, err := net.SplitHostPort(f.addr); err != nil {
		return usagef("--ws %q: want HOST:PORT: %v", f.addr, err)
	}
	// The rule of ws.ServerConfig.Path, checked here so that a bad path
	// is a usage error reported before anything starts.
	if !strings.HasPrefix(f.path, "/") || strings.ContainsAny(f.path, "? \t\r\n") {
		return usagef("--ws-path %q: want a path starting with / without query or spaces", f.path)
	}
	return nil
}

// start serves the relay towards the node bound at node, or returns nil
// without --ws. The caller shuts it down with stopRelay.
func (f *relayFlags) start(ctx context.Context, node netip.AddrPort, log *slog.Logger) (*ws.Server, error) {
	if f.addr == "" {
		return nil, nil
	}
	srv, err := ws.NewServer(ws.ServerConfig{
		Addr:   f.addr,
		Target: relayTarget(node),
		Path:   f.path,
		Logger: log,
	})
	if err != nil {
		return nil, fmt.Errorf("--ws: %v", err)
	}
	if err := srv.Start(ctx); err != nil {
		return nil, fmt.Errorf("--ws: %v", err)
	}
	return srv, nil
}

// relayURL is the URL peers pass to --via.
func relayURL(srv *ws.Server, path string) string {
	return "ws://" + srv.Addr().String() + path
}

// relayTarget is the UDP address the relay feeds: the node's bound
// address, or, when the node listens on every interface (0.0.0.0 or
// [::]), the loopback address of that family with the node's port, which
// reaches it on any host.
func relayTarget(node netip.AddrPort) netip.AddrPort {
	a := node.Addr().Unmap()
	if a.IsUnspecified() {
		if a.Is4() {
			a = netip.AddrFrom4([4]byte{127, 0, 0, 1})
		} else {
			a = netip.IPv6Loopback()
		}
	}
	return netip.AddrPortFrom(a, node.Port())
}

// stopRelay shuts srv down gracefully within stopTimeout: every tunnel
// gets a close frame (1001 going away) and a moment to answer.
func stopRelay(srv *ws.Server, log *slog.Logger) {
	if srv == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), stopTimeout)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		log.Debug("websocket relay shutdown", "err", err)
	}
}

// peerFlags are send's and bench's --to and --via: how to reach the
// listening node.
type peerFlags struct {
	to  string
	via string
}

func (f *peerFlags) register(fs *flagSet, toUsage string) {
	fs.StringVar(&f.to, "to", "", toUsage)
	fs.StringVar(&f.via, "via", "", "reach the listening node through its WebSocket fallback at `URL` (ws:// or wss://, as \"stt listen --ws\" prints it) instead of UDP; excludes --to")
}

// check validates the flags; required says one of them must be given.
func (f *peerFlags) check(required bool) error {
	switch {
	case f.to != "" && f.via != "":
		return usagef("give either --to HOST:PORT (UDP) or --via URL (WebSocket), not both")
	case f.via != "":
		u, err := url.Parse(f.via)
		if err != nil || (u.Scheme != "ws" && u.Scheme != "wss") {
			return usagef("--via %q: want a ws:// or wss:// URL, such as ws://HOST:PORT%s", f.via, ws.DefaultPath)
		}
		if u.Hostname() == "" {
			return usagef("--via %q: the URL has no host", f.via)
		}
	case required && f.to == "":
		return usagef("--to HOST:PORT or --via URL is required")
	}
	return nil
}

// remote reports whether a listening node was named.
func (f *peerFlags) remote() bool { return f.to != "" || f.via != "" }

// name is how output and errors call the peer: the --via URL or --to.
func (f *peerFlags) name() string {
	if f.via != "" {
		return f.via
	}
	return f.to
}

// peerPath is the way to a listening node: the UDP address the local node
// Connects to and, with --via, the tunnel behind that address.
type peerPath struct {
	addr string     // what Node.Connect dials
	name string     // how output and errors call the peer: --to or --via
	tun  *ws.Tunnel // nil over plain UDP
}

// open returns the path the flags name, dialling the tunnel for --via
// within timeout.
func (f *peerFlags) open(ctx context.Context, timeout time.Duration, log *slog.Logger) (*peerPath, error) {
	if f.via == "" {
		return &peerPath{addr: f.to, name: f.to}, nil
	}
	tun, err := ws.Dial(ctx, f.via, ws.DialConfig{HandshakeTimeout: timeout, Logger: log})
	if err != nil {
		return nil, fmt.Errorf("websocket dial %s: %s", f.via, dialReason(ctx, err, f.via, timeout))
	}
	return &peerPath{addr: tun.Addr().String(), name: f.via, tun: tun}, nil
}

// dialReason turns a ws.Dial error into the reason after "websocket dial
// URL: ", without the URL Dial's own message repeats.
func dialReason(ctx context.Context, err error, rawURL string, timeout time.Duration) string {
	var he *ws.HandshakeError
	switch {
	case ctx.Err() != nil:
		return "interrupted"
	case errors.Is(err, ws.ErrHandshakeTimeout):
		return fmt.Sprintf("no WebSocket upgrade within %v: the server is unreachable or does not answer", timeout)
	case errors.As(err, &he) && he.StatusCode == 404:
		return fmt.Sprintf("%v (the path is wrong: `stt listen --ws` prints its URL)", he)
	}
	return strings.TrimPrefix(err.Error(), "ws: dial "+rawURL+": ")
}

// close closes the tunnel, if any. Call it after the node has stopped, so
// that the node's CLOSE still reaches the peer through it.
func (p *peerPath) close() {
	if p.tun != nil {
		_ = p.tun.Close()
	}
}

// watch returns a context that is also cancelled, with errTunnelEnded as
// its cause, when the tunnel ends, so that a transfer stops at once
// instead of waiting for a stall or idle timeout. stop releases it and
// returns once its goroutine has ended.
func (p *peerPath) watch(ctx context.Context) (wctx context.Context, stop func()) {
	if p.tun == nil {
		return context.WithCancel(ctx)
	}
	wctx, cancel := context.WithCancelCause(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		select {
		case <-p.tun.Done():
			cancel(fmt.Errorf("%w: %v", errTunnelEnded, p.tun.Err()))
		case <-wctx.Done():
		}
	}()
	return wctx, func() {
		cancel(nil)
		<-done
	}
}

// dialPeer opens the path to the listening node (UDP, or a tunnel for
// --via), starts the local node on cfg.ListenAddr (an address that reaches
// the tunnel when that is empty), registers both with the metrics and
// connects. The returned context also ends when the tunnel dies. cleanup
// closes everything in the order that keeps the node's CLOSE on its way:
// session, watch, node, then the tunnel. On error everything opened so far
// is already closed.
func dialPeer(ctx context.Context, pf *peerFlags, nf *nodeFlags, cfg stt.Config, mx *metricsExport, log *slog.Logger) (
	wctx context.Context, node *stt.Node, sess *stt.Session, cleanup func(), err error) {
	var undo []func()
	closeAll := func() {
		for i := len(undo) - 1; i >= 0; i-- {
			undo[i]()
		}
	}
	defer func() {
		if err != nil {
			closeAll()
		}
	}()
	path, err := pf.open(ctx, nf.handshakeTimeout, log)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	undo = append(undo, path.close)
	if cfg.ListenAddr == "" {
		// --via: the tunnel's node-facing address is on loopback.
		if cfg.ListenAddr, err = bindFor(path.addr); err != nil {
			return nil, nil, nil, nil, err
		}
	}
	if path.tun != nil {
		// A tunnel carries datagrams up to the relay's message size: the
		// node's path MTU ceiling, announced to the peer as MaxDatagram,
		// so neither side probes beyond what the relay passes.
		cfg.MaxDatagram = ws.DefaultMaxMessage
	}
	n, err := startNode(ctx, cfg)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	undo = append(undo, func() { stopNode(n) }) // n, not node: the error returns below clear node
	if err = mx.addNode(metricsNodeLocal, n); err != nil {
		return nil, nil, nil, nil, err
	}
	if err = mx.addWSTunnel(metricsNodeLocal, path.tun); err != nil {
		return nil, nil, nil, nil, err
	}
	wctx, stopWatch := path.watch(ctx)
	undo = append(undo, stopWatch)
	se, err := connect(wctx, n, path.addr, path.name, nf.handshakeTimeout)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	mx.track(n, se)
	undo = append(undo, func() { _ = se.Close() })
	return wctx, n, se, closeAll, nil
}
