package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"time"

	"github.com/stt-go/stt"
)

// Defaults shared by the subcommands.
const (
	// defaultHandshakeTimeout bounds connecting to a peer: long enough for
	// a lossy path with retransmitted handshake messages, short enough that
	// a wrong shared seed (which looks like silence) is reported promptly.
	defaultHandshakeTimeout = 10 * time.Second
	// stopTimeout bounds the graceful drain when a command ends.
	stopTimeout = 10 * time.Second
	// defaultStallTimeout fails a transfer in which no byte moved for this
	// long: far above any retransmission timeout on a working path, so it
	// only fires when something is broken.
	defaultStallTimeout = 30 * time.Second
)

// keygen's seeds must satisfy the library: this fails to compile if
// seedLen < stt.MinSeedLen.
const _ = uint(seedLen - stt.MinSeedLen)

// nodeFlags are the flags every networked subcommand shares.
type nodeFlags struct {
	warn             io.Writer // where logger sends warnings about the flags' values
	logLevel         string
	nodeSeed         string
	sharedSeed       string
	handshakeTimeout time.Duration
	suite            string
}

// register adds the flags; seeds adds --node-seed and --shared-seed.
func (f *nodeFlags) register(fs *flagSet, seeds bool) {
	fs.StringVar(&f.logLevel, "log-level", "warn", "log `level` on stderr: debug, info, warn or error")
	if seeds {
		fs.StringVar(&f.nodeSeed, "node-seed", "", "this node's seed `FILE` (else hex in $"+envNodeSeed+")")
		fs.StringVar(&f.sharedSeed, "shared-seed", "", "the shared seed `FILE` all peers hold (else hex in $"+envSharedSeed+")")
	}
	fs.DurationVar(&f.handshakeTimeout, "handshake-timeout", defaultHandshakeTimeout, "give up connecting after this `duration`")
	fs.StringVar(&f.suite, "suite", "", "force the AEAD `suite`: aes256gcm, chacha20poly1305 or aes128gcm (default: by CPU)")
}

// logger returns an slog text logger on w at the chosen level.
func (f *nodeFlags) logger(w io.Writer) (*slog.Logger, error) {
	f.warn = w
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(f.logLevel)); err != nil {
		return nil, usagef("--log-level must be debug, info, warn or error, not %q", f.logLevel)
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: lvl})), nil
}

// config builds a node Config from the flags: seeds from files or the
// environment (loadSeeds) or, when random, fresh random seeds.
func (f *nodeFlags) config(listen string, log *slog.Logger) (stt.Config, error) {
	if f.handshakeTimeout <= 0 {
		return stt.Config{}, usagef("--handshake-timeout must be positive")
	}
	ns, err := loadSeed("node-seed", f.nodeSeed, envNodeSeed, f.warn)
	if err != nil {
		return stt.Config{}, err
	}
	ss, err := loadSeed("shared-seed", f.sharedSeed, envSharedSeed, f.warn)
	if err != nil {
		return stt.Config{}, err
	}
	return stt.Config{
		NodeSeed:         ns,
		SharedSeed:       ss,
		ListenAddr:       listen,
		Suite:            f.suite,
		HandshakeTimeout: f.handshakeTimeout,
		Logger:           log,
	}, nil
}

// randomSeed returns seedLen fresh random bytes (in-process nodes).
func randomSeed() []byte {
	b := make([]byte, seedLen)
	rand.Read(b)
	return b
}

// startNode creates and starts a node.
func startNode(ctx context.Context, cfg stt.Config) (*stt.Node, error) {
	n, err := stt.NewNode(cfg)
	if err != nil {
		return nil, err
	}
	if err := n.Start(ctx); err != nil {
		return nil, err
	}
	return n, nil
}

// stopNode stops n gracefully within stopTimeout.
func stopNode(n *stt.Node) {
	ctx, cancel := context.WithTimeout(context.Background(), stopTimeout)
	defer cancel()
	_ = n.Stop(ctx)
}

// bindFor picks the local address to dial to from: the loopback address
// itself for loopback peers, else the unspecified address of the peer's
// family, with a free port.
func bindFor(to string) (string, error) {
	ua, err := net.ResolveUDPAddr("udp", to)
	if err != nil {
		return "", fmt.Errorf("--to %q: %v", to, err)
	}
	ap := ua.AddrPort()
	a := ap.Addr().Unmap()
	if ap.Port() == 0 {
		return "", fmt.Errorf("--to %q: port 0", to)
	}
	switch {
	case a.IsLoopback():
		return netip.AddrPortFrom(a, 0).String(), nil
	case a.Is4():
		return "0.0.0.0:0", nil
	}
	return "[::]:0", nil
}

// connect dials addr, turning handshake failures into errors that say
// what to check and call the peer name (addr itself, or the --via URL
// whose tunnel addr is).
func connect(ctx context.Context, n *stt.Node, addr, name string, timeout time.Duration) (*stt.Session, error) {
	cctx, cancel := context.WithTimeout(ctx, timeout+time.Second)
	defer cancel()
	sess, err := n.Connect(cctx, addr)
	switch {
	case err == nil:
		return sess, nil
	case errors.Is(context.Cause(ctx), errTunnelEnded):
		return nil, fmt.Errorf("connecting to %s: %w", name, context.Cause(ctx))
	case errors.Is(err, stt.ErrAuthentication):
		return nil, fmt.Errorf("handshake with %s failed authentication: the peer holds a different shared seed or refuses our node ID (%v)", name, err)
	case errors.Is(err, stt.ErrUnreachable):
		var de *stt.DialError
		why := "destination unreachable"
		if errors.As(err, &de) && de.Err != nil {
			why = de.Err.Error()
		}
		return nil, fmt.Errorf("cannot reach %s: nothing listens there (%s)", name, why)
	case errors.Is(err, stt.ErrHandshakeTimeout), errors.Is(err, context.DeadlineExceeded):
		return nil, fmt.Errorf("no handshake answer from %s within %v: the peer is unreachable, not listening, or holds a different shared seed", name, timeout)
	case ctx.Err() != nil:
		return nil, fmt.Errorf("interrupted while connecting to %s", name)
	}
	return nil, fmt.Errorf("connect to %s: %v", name, err)
}

// loopbackPair starts two nodes on 127.0.0.1 with fresh random seeds and a
// session from a (initiator) to b (responder).
func loopbackPair(ctx context.Context, f *nodeFlags, log *slog.Logger) (a, b *stt.Node, sa *stt.Session, err error) {
	shared := randomSeed()
	mk := func() (*stt.Node, error) {
		return startNode(ctx, stt.Config{
			NodeSeed:         randomSeed(),
			SharedSeed:       shared,
			ListenAddr:       "127.0.0.1:0",
			Suite:            f.suite,
			HandshakeTimeout: f.handshakeTimeout,
			Logger:           log,
		})
	}
	if b, err = mk(); err != nil {
		return nil, nil, nil, err
	}
	if a, err = mk(); err != nil {
		stopNode(b)
		return nil, nil, nil, err
	}
	sa, err = connect(ctx, a, b.Addr().String(), b.Addr().String(), f.handshakeTimeout)
	if err != nil {
		stopNode(a)
		stopNode(b)
		return nil, nil, nil, err
	}
	return a, b, sa, nil
}
