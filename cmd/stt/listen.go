package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"syscall"

	"github.com/stt-go/stt/transport/ws"
)

// defaultListenAddr is where listen binds without --addr: STT's
// conventional port on every IPv4 interface.
const defaultListenAddr = "0.0.0.0:9000"

func runListen(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("listen", "listen --out DIR [--addr HOST:PORT] [--ws HOST:PORT] --node-seed FILE --shared-seed FILE", stderr)
	var nf nodeFlags
	nf.register(fs, true)
	var mf metricsFlags
	mf.register(fs)
	addr := fs.String("addr", defaultListenAddr, "UDP `HOST:PORT` to listen on (port 0 picks a free one)")
	out := fs.String("out", "", "store received files in `DIR` (required; created, mode 0755 less the umask, when missing)")
	overwrite := fs.Bool("overwrite", false, "let a received file replace an existing file of the same name (default: refuse the transfer)")
	directS := fs.String("direct-io", "auto", "how received files are written (Linux): auto (O_DIRECT on local file systems, through the page cache on network and FUSE ones, where a direct write is a round trip per 1 MiB), on (O_DIRECT wherever the file system takes it), off (always through the page cache)")
	reject := fs.Bool("reject-wrong-seed", false, "answer peers holding another shared seed with an explicit rejection (reveals that a node listens here)")
	forceCookies := fs.Bool("force-cookies", false, "answer every HELLO without a valid cookie with a COOKIE_REPLY, as under load (for testing other implementations' cookie path)")
	var rf relayFlags
	rf.register(fs)
	if err := fs.parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	if *out == "" {
		return usagef("--out DIR is required")
	}
	direct, err := parseDirectMode(*directS)
	if err != nil {
		return err
	}
	if err := rf.check(fs.given()); err != nil {
		return err
	}
	log, err := nf.logger(stderr)
	if err != nil {
		return err
	}
	cfg, err := nf.config(*addr, log)
	if err != nil {
		return err
	}
	if err := prepareOutDir(*out, stderr); err != nil {
		return err
	}
	cfg.RejectWrongSeed = *reject
	cfg.ForceCookies = *forceCookies
	mx, err := mf.start(stderr)
	if err != nil {
		return err
	}
	defer mx.close(ctx)
	node, err := startNode(ctx, cfg)
	if errors.Is(err, syscall.EADDRINUSE) {
		return fmt.Errorf("address already in use: another process holds UDP %s (another stt listen?); choose another --addr or stop that process", *addr)
	}
	if err != nil {
		return err
	}
	// After the bind: a listener refused for its address leaves the
	// directory alone.
	lock, err := sweepPartials(*out, stderr)
	if err != nil {
		stopNode(node)
		return err
	}
	defer lock.release()
	var relay *ws.Server
	// The node stops first and the relay after it. Node.Stop sends CLOSE
	// to every session and lingers (up to stopTimeout) until the peers
	// acknowledge it; peers that came through the relay hear that CLOSE,
	// the stream resets of transfers cut short, and the retransmitted
	// replies of transfers that just completed only while the relay still
	// carries their datagrams. Shutting the relay first would strand those
	// peers: their transfers would end in a stall or idle timeout instead
	// of a prompt, explained close.
	defer func() {
		stopNode(node)
		stopRelay(relay, log)
	}()
	if err := mx.addNode(metricsNodeLocal, node); err != nil {
		return err
	}
	if relay, err = rf.start(ctx, node.Addr(), log); err != nil {
		return err
	}
	if err := mx.addWSServer(metricsNodeLocal, relay); err != nil {
		return err
	}
	// The first line carries the bound address (scripts and tests read it).
	fmt.Fprintf(stdout, "listening on %s node %s suite %s\n", node.Addr(), node.ID(), node.Suite())
	if relay != nil {
		// On stderr, like the --metrics URL; scripts read it when the
		// port was 0.
		fmt.Fprintf(stderr, "listening on %s relaying to %s\n", relayURL(relay, rf.path), relayTarget(node.Addr()))
	}
	var mu sync.Mutex // one line at a time
	srv := &server{
		outDir:    *out,
		overwrite: *overwrite,
		direct:    direct,
		log:       log,
		onSession: mx.tracker(node),
		onDone: func(r received, err error) {
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				fmt.Fprintf(stderr, "stt: transfer %s from %s failed: %s\n", displayName(r), r.Peer.Short(), describe(err))
				return
			}
			if r.Kind == kindEcho {
				return
			}
			digest := ""
			switch {
			case r.Kind == kindFile && r.Digest != digestNone:
				digest = fmt.Sprintf(" %s %x", r.Digest, r.Digest.of(r.Sum)) // as sha256sum, b3sum and xxhsum -H2 print it
			case r.Kind == kindFile:
				digest = " (no digest asked)"
			}
			fmt.Fprintf(stdout, "received %s %s in %.3fs (%s) from %s%s\n",
				displayName(r), formatBytes(int64(r.Size)), r.Elapsed.Seconds(), formatRate(int64(r.Size), r.Elapsed), r.Peer.Short(), digest)
		},
	}
	return srv.serveNode(ctx, node)
}

// displayName names a transfer in log lines, quoting file names so a
// hostile name cannot forge output.
func displayName(r received) string {
	if r.Kind == kindFile || r.Name != "" {
		return fmt.Sprintf("%q", r.Name)
	}
	if r.Kind == 0 {
		return "(no header)"
	}
	return "(" + r.Kind.String() + ")"
}
