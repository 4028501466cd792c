package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/stt-go/stt"
)

// defaultSendStreams is how many files send moves at once: enough to keep
// a path busy while one file's stream waits for its reply.
const defaultSendStreams = 4

// sendJob is one file to send.
type sendJob struct {
	path   string
	name   string
	size   int64
	digest digest
}

func runSend(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("send", "send (--to HOST:PORT | --via URL) --node-seed FILE --shared-seed FILE [flags] FILE...", stderr)
	var nf nodeFlags
	nf.register(fs, true)
	var mf metricsFlags
	mf.register(fs)
	var pf peerFlags
	pf.register(fs, "the listening node's UDP `HOST:PORT` (required unless --via)")
	bind := fs.String("bind", "", "local UDP `HOST:PORT` (default: a free port on an address that reaches --to, or on 127.0.0.1 with --via)")
	streams := fs.Int("streams", defaultSendStreams, "send up to `N` files at once, one stream each")
	name := fs.String("name", "", "store the (single) file under `NAME` on the receiver")
	stall := fs.Duration("stall-timeout", defaultStallTimeout, "fail when no data moved for this `duration` (0 disables)")
	prog := fs.String("progress", "auto", "progress display: auto (bars on a terminal), bar, plain or off")
	digestS := fs.String("digest", "xxh128", "whole-file check, computed by both ends and compared: xxh128 (XXH3-128: catches corruption between the two files at ~0.05 CPU-s per GiB and end), blake3 or sha256 (cryptographic digests you can compare with b3sum or sha256sum; BLAKE3 ~0.25, SHA-256 ~0.6 CPU-s per GiB and end), or none (rely on the transport, which authenticates every byte)")
	if err := fs.parse(args); err != nil {
		return err
	}
	if err := pf.check(true); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		return usagef("name at least one FILE to send")
	}
	if *name != "" && fs.NArg() != 1 {
		return usagef("--name needs exactly one FILE")
	}
	if *streams < 1 {
		return usagef("--streams must be at least 1")
	}
	mode, err := parseProgressMode(*prog)
	if err != nil {
		return err
	}
	var dg digest
	switch *digestS {
	case "xxh128":
		dg = digestXXH128
	case "blake3":
		dg = digestBLAKE3
	case "sha256":
		dg = digestSHA256
	case "none":
		dg = digestNone
	default:
		return usagef("--digest must be xxh128, blake3, sha256 or none, not %q", *digestS)
	}
	log, err := nf.logger(stderr)
	if err != nil {
		return err
	}
	jobs := make([]sendJob, 0, fs.NArg())
	for _, p := range fs.Args() {
		fi, err := os.Stat(p)
		if err != nil {
			return err
		}
		if !fi.Mode().IsRegular() {
			return fmt.Errorf("%s is not a regular file", p)
		}
		n := filepath.Base(p)
		if *name != "" {
			n = *name
		}
		jobs = append(jobs, sendJob{path: p, name: n, size: fi.Size(), digest: dg})
	}
	local := *bind
	if local == "" && pf.to != "" {
		if local, err = bindFor(pf.to); err != nil {
			return err
		}
	}
	cfg, err := nf.config(local, log)
	if err != nil {
		return err
	}
	mx, err := mf.start(stderr)
	if err != nil {
		return err
	}
	defer mx.close(ctx)
	ctx, _, sess, cleanup, err := dialPeer(ctx, &pf, &nf, cfg, mx, log)
	if err != nil {
		return err
	}
	defer cleanup()

	pg := newProgress(stdout, mode.resolve(os.Stdout), sizeOf(os.Stdout))
	pctx, stopProgress := context.WithCancel(context.Background())
	progressDone := make(chan struct{})
	go func() {
		defer close(progressDone)
		pg.Run(pctx)
	}()
	wctx, cancelWork := context.WithCancelCause(ctx)
	defer cancelWork(nil)
	go pg.Watch(pctx, *stall, func() {
		cancelWork(fmt.Errorf("%w: no data moved for %v", errStalled, *stall))
	})

	var (
		wg     sync.WaitGroup
		sem    = make(chan struct{}, *streams)
		mu     sync.Mutex
		errs   []error
		result []string
	)
	for _, j := range jobs {
		t := pg.Add(j.name, j.size, "", time.Now())
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			t.Restart(time.Now())
			line, err := sendFile(wctx, sess, j, t)
			if wctx.Err() == nil {
				err = sessionCause(sess, err)
			}
			t.Finish(time.Now(), err != nil)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", j.path, err))
				return
			}
			result = append(result, line)
		}()
	}
	wg.Wait()
	stopProgress()
	<-progressDone
	for _, l := range result {
		fmt.Fprintln(stdout, l)
	}
	if cause := context.Cause(wctx); errors.Is(cause, errStalled) || errors.Is(cause, errTunnelEnded) {
		return cause
	}
	switch len(errs) {
	case 0:
		return nil
	case 1:
		return errs[0]
	}
	return fmt.Errorf("%d of %d files failed; first: %w", len(errs), len(jobs), errs[0])
}

// sendFile sends one file and returns its result line.
func sendFile(ctx context.Context, sess *stt.Session, j sendJob, t *task) (string, error) {
	f, err := os.Open(j.path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	start := time.Now()
	h := header{Kind: kindFile, Digest: j.digest, Size: uint64(j.size), Name: j.name}
	// Mapped where the system allows (mappedFile), else read().
	var body io.Reader = io.LimitReader(f, j.size+1)
	if m, err := mapFile(f, j.size); err == nil {
		defer m.close()
		body = m
	}
	rep, err := sendBody(ctx, sess, h, body, t)
	if err != nil {
		return "", err
	}
	d := time.Since(start)
	check := fmt.Sprintf("%s %x verified by the peer", j.digest, j.digest.of(rep.Sum))
	if j.digest == digestNone {
		check = "(no digest: the transport authenticated every byte)"
	}
	return fmt.Sprintf("sent %q %s in %.3fs (%s) %s",
		j.name, formatBytes(j.size), d.Seconds(), formatRate(j.size, d), check), nil
}
