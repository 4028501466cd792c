package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/zeebo/xxh3"
	"lukechampine.com/blake3"
)

// listenProc starts `stt listen` with args on 127.0.0.1:0 (unless args
// name --addr) and returns the process and its bound address.
func listenProc(t *testing.T, nodeSeed, sharedSeed, out string, args ...string) (*process, string) {
	t.Helper()
	all := []string{"listen", "--node-seed", nodeSeed, "--shared-seed", sharedSeed, "--out", out}
	if !strings.Contains(strings.Join(args, " "), "--addr") {
		all = append(all, "--addr", "127.0.0.1:0")
	}
	p := startStt(t, append(all, args...)...)
	f := strings.Fields(p.waitLine(t, p.stdout, "listening on "))
	return p, f[2]
}

// sendArgs is a `stt send` command line to addr.
func sendArgs(addr, nodeSeed, sharedSeed string, files ...string) []string {
	return append([]string{"send", "--to", addr, "--node-seed", nodeSeed, "--shared-seed", sharedSeed, "--progress", "off", "--handshake-timeout", "5s"}, files...)
}

// TestListenAddressInUse: a second `stt listen` on the port of a running
// one exits 1 with "address already in use" (it used to join the first
// one's SO_REUSEPORT group silently), and the first one keeps working.
func TestListenAddressInUse(t *testing.T) {
	tmp := t.TempDir()
	ns, ss, other := keygen(t, tmp, "n"), keygen(t, tmp, "s"), keygen(t, tmp, "o")
	out := filepath.Join(tmp, "out")
	first, addr := listenProc(t, ns, ss, out)
	r := runStt(t, nil, "listen", "--addr", addr, "--node-seed", ns, "--shared-seed", ss, "--out", filepath.Join(tmp, "out2"))
	wantFailure(t, r, exitFailure, "listen", "address already in use: another process holds UDP "+addr)
	if strings.Contains(r.stdout, "listening on") {
		t.Errorf("the second listener announced itself:\n%s", r.stdout)
	}
	if _, err := os.Stat(filepath.Join(tmp, "out2")); err == nil {
		// Created before the bind is acceptable; anything inside is not.
		checkDirHolds(t, filepath.Join(tmp, "out2"))
	}
	f := randomFile(t, tmp, "after.bin", 100_000)
	if r := runStt(t, nil, sendArgs(addr, other, ss, f)...); r.code != 0 {
		t.Fatalf("send to the first listener after the refused one: %d %s", r.code, r.stderr)
	}
	line := first.waitLine(t, first.stdout, `received "after.bin"`)
	// The default digest is the file's ordinary XXH128, as xxhsum -H2
	// prints it.
	data, _ := os.ReadFile(f)
	if sum := xxh3.Hash128(data).Bytes(); !strings.HasSuffix(line, " xxh128 "+hex.EncodeToString(sum[:])) {
		t.Errorf("received line %q does not end with the file's XXH128 %x", line, sum)
	}
	if code := first.interrupt(t); code != 0 {
		t.Fatalf("first listener exit %d", code)
	}
}

// TestListenOutDir: listen creates a missing --out (0755 less the umask),
// sweeps the partial files of an interrupted run when it is alone in the
// directory, and leaves them (saying so) when another listener uses it.
func TestListenOutDir(t *testing.T) {
	tmp := t.TempDir()
	ns, ss := keygen(t, tmp, "n"), keygen(t, tmp, "s")
	old := syscall.Umask(0o027)
	defer syscall.Umask(old)

	out := filepath.Join(tmp, "new", "inbox")
	p, _ := listenProc(t, ns, ss, out)
	p.waitLine(t, p.stderr, "created "+out)
	fi, err := os.Stat(out)
	if err != nil || !fi.IsDir() || fi.Mode().Perm() != 0o750 {
		t.Fatalf("--out after start: %v, %v; want a directory of mode 0750 (0755 less umask 027)", fi, err)
	}
	// A second listener on the same directory while the first runs: a
	// partial file there may be the first one's, so it stays.
	part := filepath.Join(out, tempPrefix+"0123456789abcdef")
	if err := os.WriteFile(part, make([]byte, 2048), 0o600); err != nil {
		t.Fatal(err)
	}
	q, _ := listenProc(t, ns, ss, out)
	q.waitLine(t, q.stderr, "left 1 partial file(s) (2.0 KiB) in "+out+": another stt listen uses the directory")
	if _, err := os.Stat(part); err != nil {
		t.Fatalf("the second listener removed a partial file the first may own: %v", err)
	}
	for _, l := range []*process{q, p} {
		if code := l.interrupt(t); code != 0 {
			t.Fatalf("listener exit %d", code)
		}
	}
	// Alone now: the stale partial file goes, and the listener says so.
	r, _ := listenProc(t, ns, ss, out)
	r.waitLine(t, r.stderr, "removed 1 partial file(s) (2.0 KiB) that an interrupted run left in "+out)
	if _, err := os.Stat(part); err == nil {
		t.Fatal("stale partial file still there")
	}
	if code := r.interrupt(t); code != 0 {
		t.Fatalf("listener exit %d", code)
	}

	t.Run("not creatable", func(t *testing.T) {
		file := filepath.Join(tmp, "plain")
		os.WriteFile(file, nil, 0o600)
		r := runStt(t, nil, "listen", "--addr", "127.0.0.1:0", "--node-seed", ns, "--shared-seed", ss, "--out", filepath.Join(file, "sub"))
		wantFailure(t, r, exitFailure, "listen", "--out: "+filepath.Join(file, "sub")+": not a directory")
	})
}

// TestListenOverwriteAndUmask: a second file of the same name is refused
// unless the listener runs with --overwrite, and received files get 0666
// less the receiver's umask.
func TestListenOverwriteAndUmask(t *testing.T) {
	tmp := t.TempDir()
	ns, ss, other := keygen(t, tmp, "n"), keygen(t, tmp, "s"), keygen(t, tmp, "o")
	in := filepath.Join(tmp, "in")
	os.Mkdir(in, 0o755)
	out := filepath.Join(tmp, "out")
	os.Mkdir(out, 0o755)
	old := syscall.Umask(0o022)
	defer syscall.Umask(old)

	f := randomFile(t, in, "a.txt", 5000)
	p, addr := listenProc(t, ns, ss, out)
	if r := runStt(t, nil, sendArgs(addr, other, ss, f)...); r.code != 0 {
		t.Fatalf("first send: %d %s", r.code, r.stderr)
	}
	p.waitLine(t, p.stdout, `received "a.txt"`)
	if fi, err := os.Stat(filepath.Join(out, "a.txt")); err != nil || fi.Mode().Perm() != 0o644 {
		t.Fatalf("received file: %v, %v; want mode 0644 (0666 less umask 022)", fi, err)
	}
	first, _ := os.ReadFile(f)
	f2 := randomFile(t, tmp, "a.txt", 7000)
	r := runStt(t, nil, sendArgs(addr, other, ss, f2)...)
	wantFailure(t, r, exitFailure, "send", `the peer refused: "a.txt" already exists on the receiver, which does not replace files (stt listen --overwrite)`)
	if strings.Contains(r.stderr, out) {
		t.Errorf("the sender was shown the receiver's path %s: %s", out, r.stderr)
	}
	if got, _ := os.ReadFile(filepath.Join(out, "a.txt")); !bytes.Equal(got, first) {
		t.Fatal("the refused transfer changed the existing file")
	}
	checkDirHolds(t, out, "a.txt")
	if code := p.interrupt(t); code != 0 {
		t.Fatalf("listener exit %d", code)
	}

	syscall.Umask(0o002)
	q, addr := listenProc(t, ns, ss, out, "--overwrite")
	if r := runStt(t, nil, sendArgs(addr, other, ss, f2)...); r.code != 0 {
		t.Fatalf("send with --overwrite: %d %s", r.code, r.stderr)
	}
	q.waitLine(t, q.stdout, `received "a.txt"`)
	want, _ := os.ReadFile(f2)
	if got, _ := os.ReadFile(filepath.Join(out, "a.txt")); !bytes.Equal(got, want) {
		t.Fatal("--overwrite did not replace the file")
	}
	if fi, _ := os.Stat(filepath.Join(out, "a.txt")); fi.Mode().Perm() != 0o664 {
		t.Fatalf("replaced file mode %04o, want 0664 (0666 less umask 002)", fi.Mode().Perm())
	}
	checkDirHolds(t, out, "a.txt")
	if code := q.interrupt(t); code != 0 {
		t.Fatalf("listener exit %d", code)
	}
}

// TestSendInterrupted: Ctrl-C during a transfer prints exactly
// "stt: interrupted" and exits 130; the receiver reports the cancelled
// transfer in plain words and keeps no partial file.
func TestSendInterrupted(t *testing.T) {
	tmp := t.TempDir()
	ns, ss, other := keygen(t, tmp, "n"), keygen(t, tmp, "s"), keygen(t, tmp, "o")
	in := filepath.Join(tmp, "in")
	os.Mkdir(in, 0o755)
	out := filepath.Join(tmp, "out")
	l, addr := listenProc(t, ns, ss, out)
	big := sparseFile(t, in, "big.bin", 4*giB)
	s := startStt(t, "send", "--to", addr, "--node-seed", other, "--shared-seed", ss, "--progress", "off", big)
	// Interrupt once the receiver's partial file holds data.
	deadline := time.Now().Add(cmdTimeout)
	for !partialHasData(out) {
		if time.Now().After(deadline) {
			t.Fatal("no partial file with data appeared")
		}
		time.Sleep(2 * time.Millisecond)
	}
	start := time.Now()
	code, errLines := interruptCollect(t, s)
	if code == 0 {
		t.Skip("the transfer finished before the interrupt (a very fast machine)")
	}
	if code != exitInterrupted || len(errLines) != 1 || errLines[0] != "stt: interrupted" {
		t.Fatalf("send after SIGINT: exit %d, stderr %q; want exit %d and exactly \"stt: interrupted\"", code, errLines, exitInterrupted)
	}
	t.Logf("send stopped %v after SIGINT", time.Since(start))
	line := l.waitLine(t, l.stderr, `transfer "big.bin"`)
	if !strings.Contains(line, "the peer cancelled the transfer") || strings.Contains(line, "reset by") || strings.Contains(line, "code 257") {
		t.Errorf("listener's line %q: want the cancellation in plain words", line)
	}
	if code := l.interrupt(t); code != 0 {
		t.Fatalf("listener exit %d", code)
	}
	checkDirHolds(t, out)
}

// interruptCollect sends SIGINT to p and returns its exit code and every
// stderr line it printed.
func interruptCollect(t *testing.T, p *process) (int, []string) {
	t.Helper()
	p.cmd.Process.Signal(syscall.SIGINT)
	go func() {
		for range p.stdout {
		}
	}()
	var lines []string
	timeout := time.After(cmdTimeout)
	for {
		select {
		case l, ok := <-p.stderr:
			if ok {
				lines = append(lines, l)
				continue
			}
		case <-timeout:
			t.Fatal("no exit within the timeout after SIGINT")
		}
		break
	}
	<-p.done
	var ee *exec.ExitError
	switch {
	case p.err == nil:
		return 0, lines
	case errors.As(p.err, &ee):
		return ee.ExitCode(), lines
	}
	t.Fatalf("wait: %v", p.err)
	return -1, nil
}

// partialHasData reports whether dir holds a partial file with data.
func partialHasData(dir string) bool {
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if fi, err := e.Info(); err == nil && strings.HasPrefix(e.Name(), tempPrefix) && fi.Size() > 0 {
			return true
		}
	}
	return false
}

// waitLines waits for a stdout line of p containing each of wants, in any
// order.
func waitLines(t *testing.T, p *process, wants ...string) {
	t.Helper()
	left := append([]string(nil), wants...)
	timeout := time.After(cmdTimeout)
	for len(left) > 0 {
		select {
		case line, ok := <-p.stdout:
			if !ok {
				t.Fatalf("output ended before lines with %q; lines: %q", left, p.seen)
			}
			p.seen = append(p.seen, line)
			for i, w := range left {
				if strings.Contains(line, w) {
					left = append(left[:i], left[i+1:]...)
					break
				}
			}
		case <-timeout:
			t.Fatalf("no lines with %q within %v; lines: %q", left, cmdTimeout, p.seen)
		}
	}
}

// TestListenerStopsMidTransfer: a listener stopped (Ctrl-C) during a
// transfer says so in its own words, and the sender says the peer went
// away, not "use of closed session or stream".
func TestListenerStopsMidTransfer(t *testing.T) {
	tmp := t.TempDir()
	ns, ss, other := keygen(t, tmp, "n"), keygen(t, tmp, "s"), keygen(t, tmp, "o")
	out := filepath.Join(tmp, "out")
	l, addr := listenProc(t, ns, ss, out)
	big := sparseFile(t, tmp, "big.bin", 4*giB)
	s := startStt(t, "send", "--to", addr, "--node-seed", other, "--shared-seed", ss, "--progress", "off", big)
	deadline := time.Now().Add(cmdTimeout)
	for !partialHasData(out) {
		if time.Now().After(deadline) {
			t.Fatal("no partial file with data appeared")
		}
		time.Sleep(2 * time.Millisecond)
	}
	code, lines := interruptCollect(t, l)
	if code != 0 {
		t.Fatalf("listener exit %d after SIGINT", code)
	}
	if !strings.Contains(strings.Join(lines, "\n"), `transfer "big.bin" from `) || !strings.Contains(strings.Join(lines, "\n"), "failed: the receiver is shutting down") {
		t.Errorf("listener stderr %q: want the transfer failed because it is shutting down", lines)
	}
	select {
	case <-s.done:
	case <-time.After(cmdTimeout):
		t.Fatal("send did not end after the listener stopped")
	}
	var errs []string
	for l := range s.stderr {
		errs = append(errs, l)
	}
	all := strings.Join(errs, "\n")
	if len(errs) != 1 || !(strings.Contains(all, "the peer closed the session") || strings.Contains(all, "the peer shut down") || strings.Contains(all, "the receiver is shutting down")) || strings.Contains(all, "use of closed") {
		t.Errorf("send stderr %q: want one line saying the peer went away", errs)
	}
	checkDirHolds(t, out)
}

// TestSendDigests: each --digest moves the file; with a digest both ends
// print the file's ordinary hash (as sha256sum, b3sum and xxhsum -H2
// print it, XXH128 by default), and without one neither end hashes and
// both say so.
func TestSendDigests(t *testing.T) {
	tmp := t.TempDir()
	ns, ss, other := keygen(t, tmp, "n"), keygen(t, tmp, "s"), keygen(t, tmp, "o")
	out := filepath.Join(tmp, "out")
	l, addr := listenProc(t, ns, ss, out)
	f := randomFile(t, tmp, "plain.bin", 1_000_000)
	want, _ := os.ReadFile(f)
	s2, s3 := sha256.Sum256(want), blake3.Sum256(want)
	x := xxh3.Hash128(want).Bytes()
	sx := hex.EncodeToString(x[:])
	for _, tt := range []struct {
		flag []string // --digest, or none for the default
		sent string   // the sender's line ends so
		recv string   // the receiver's line ends so
	}{
		{nil, "xxh128 " + sx + " verified by the peer", " xxh128 " + sx},
		{[]string{"--digest", "xxh128"}, "xxh128 " + sx + " verified by the peer", " xxh128 " + sx},
		{[]string{"--digest", "blake3"}, "blake3 " + hex.EncodeToString(s3[:]) + " verified by the peer", " blake3 " + hex.EncodeToString(s3[:])},
		{[]string{"--digest", "sha256"}, "sha256 " + hex.EncodeToString(s2[:]) + " verified by the peer", " sha256 " + hex.EncodeToString(s2[:])},
		{[]string{"--digest", "none"}, "(no digest: the transport authenticated every byte)", "(no digest asked)"},
	} {
		r := runStt(t, nil, append(append(sendArgs(addr, other, ss), tt.flag...), "--name", "plain.bin", f)...)
		if r.code != 0 || !strings.Contains(r.stdout, `sent "plain.bin"`) || !strings.HasSuffix(strings.TrimSpace(r.stdout), tt.sent) {
			t.Fatalf("send %v: %d\n%s\n%s", tt.flag, r.code, r.stdout, r.stderr)
		}
		line := l.waitLine(t, l.stdout, `received "plain.bin"`)
		if !strings.HasSuffix(line, tt.recv) {
			t.Errorf("send %v: listener line %q, want it to end with %q", tt.flag, line, tt.recv)
		}
		if got, _ := os.ReadFile(filepath.Join(out, "plain.bin")); !bytes.Equal(got, want) {
			t.Fatalf("send %v: file differs", tt.flag)
		}
		if err := os.Remove(filepath.Join(out, "plain.bin")); err != nil {
			t.Fatal(err)
		}
	}
	wantFailure(t, runStt(t, nil, append(sendArgs(addr, other, ss), "--digest", "md5", f)...), exitUsage, "send", "--digest must be xxh128, blake3, sha256 or none")
	if code := l.interrupt(t); code != 0 {
		t.Fatalf("listener exit %d", code)
	}
}
