package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	"github.com/stt-go/stt"
)

func TestDescribe(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"stream reset by the receiver", fmt.Errorf("a.bin: sending: %w", &stt.StreamError{StreamID: 4, Code: codeRefused, Remote: true}),
			"a.bin: sending: the peer refused the transfer"},
		{"stream cancelled by the sender", fmt.Errorf("receiving: %w", &stt.StreamError{Code: codeCancelled, Remote: true}),
			"receiving: the peer cancelled the transfer"},
		{"other reset code", fmt.Errorf("receiving: %w", &stt.StreamError{Code: 7, Remote: true}),
			"receiving: the peer reset the stream (code 0x7)"},
		{"peer shut down", fmt.Errorf("x: %w", &stt.SessionError{Code: closeNodeStopping, Reason: "node stopped", Remote: true}),
			"x: the peer shut down"},
		{"peer closed", &stt.SessionError{Code: closeNoError, Remote: true}, "the peer closed the session"},
		{"idle timeout", &stt.SessionError{Code: closeIdleTimeout, Reason: "idle timeout: nothing heard from the peer for 30s"},
			"the peer stopped answering (idle timeout: nothing heard from the peer for 30s)"},
		{"peer error", &stt.SessionError{Code: 0x4, Reason: "control: bad frame", Remote: true},
			"the peer closed the session with an error: bad frame (code 0x4)"},
		{"closed", fmt.Errorf("opening a stream: %w", stt.ErrClosed), "opening a stream: the session is closed"},
		{"deadline", fmt.Errorf("waiting for the peer's reply: %w", context.DeadlineExceeded), "waiting for the peer's reply: timed out"},
		{"prefixes", errors.New("stt: listen on x: batch: y: control: z"), "listen on x: y: z"},
		{"multi-line", errors.New("a\nb"), "a; b"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := describe(tt.err); got != tt.want {
				t.Errorf("describe = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestFlagError(t *testing.T) {
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Int("streams", 1, "")
	fs.String("o", "", "")
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--bogus"}, "flag provided but not defined: --bogus"},
		{[]string{"-streams", "x"}, `invalid value "x" for flag --streams: parse error`},
		{[]string{"--streams"}, "flag needs an argument: --streams"},
		{[]string{"-o"}, "flag needs an argument: -o"},
	} {
		err := fs.Parse(tt.args)
		if err == nil || flagError(err).Error() != tt.want {
			t.Errorf("%v: %v, want %q", tt.args, flagError(err), tt.want)
		}
	}
}

// TestHelpSpellsLongFlags: help writes --name for every long flag and -o
// for one-letter ones, as the docs do.
func TestHelpSpellsLongFlags(t *testing.T) {
	for _, c := range commands() {
		var se bytes.Buffer
		code := run(context.Background(), []string{c.name, "--help"}, io.Discard, &se)
		if code != exitOK {
			t.Fatalf("%s --help: exit %d", c.name, code)
		}
		flags := 0
		for _, l := range strings.Split(se.String(), "\n") {
			if !strings.HasPrefix(l, "  -") {
				continue
			}
			flags++
			name := strings.Fields(l)[0]
			if long := strings.TrimLeft(name, "-"); (len(long) > 1) != strings.HasPrefix(name, "--") {
				t.Errorf("%s --help: flag written %q", c.name, name)
			}
		}
		if flags == 0 {
			t.Errorf("%s --help lists no flags:\n%s", c.name, se.String())
		}
	}
}

func TestVersion(t *testing.T) {
	var so bytes.Buffer
	if code := run(context.Background(), []string{"--version"}, &so, io.Discard); code != exitOK {
		t.Fatalf("--version: exit %d", code)
	}
	if l := so.String(); !strings.HasPrefix(l, "stt ") || !strings.Contains(l, runtime.Version()) {
		t.Errorf("--version printed %q", l)
	}
	platform := runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH
	bi := &debug.BuildInfo{Main: debug.Module{Version: "v1.2.3"}, Settings: []debug.BuildSetting{
		{Key: "vcs.revision", Value: "0123456789abcdef0123"}, {Key: "vcs.time", Value: "2026-12-01T10:00:00Z"}, {Key: "vcs.modified", Value: "true"},
	}}
	for _, tt := range []struct {
		bi    *debug.BuildInfo
		ok    bool
		build string
		want  string
	}{
		{bi, true, "", "stt v1.2.3 (commit 0123456789ab+dirty 2026-12-01T10:00:00Z) " + platform},
		{&debug.BuildInfo{Main: debug.Module{Version: "(devel)"}}, true, "", "stt (devel) " + platform},
		{nil, false, "", "stt unknown version " + platform},
		{nil, false, "v9", "stt v9 " + platform},
		{bi, true, "v9", "stt v9 (commit 0123456789ab+dirty 2026-12-01T10:00:00Z) " + platform},
	} {
		buildVersion = tt.build
		if got := formatVersion(tt.bi, tt.ok); got != tt.want {
			t.Errorf("formatVersion = %q, want %q", got, tt.want)
		}
	}
	buildVersion = ""
}

// TestRefusalHidesReceiverPaths: a receiver that cannot create its file
// (here: its directory vanished) tells the sender why without its path.
func TestRefusalHidesReceiverPaths(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	log := slog.New(slog.DiscardHandler)
	dir := filepath.Join(t.TempDir(), "secret-inbox")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	a, b, sa := testPair(t, ctx, log)
	done := make(chan error, 1)
	srv := &server{outDir: dir, log: log, onDone: func(_ received, err error) { done <- err }}
	defer srv.serveInProcess(ctx, a, b)()
	os.RemoveAll(dir)
	_, err := sendBody(ctx, sa, header{Kind: kindFile, Digest: digestSHA256, Size: 3, Name: "x.txt"}, strings.NewReader("abc"), nil)
	var re *refusedError
	if !errors.As(err, &re) {
		t.Fatalf("send: %v, want a refusal", err)
	}
	if strings.Contains(err.Error(), dir) || strings.Contains(err.Error(), "secret-inbox") || !strings.Contains(err.Error(), "cannot create a file in the receiving directory: no such file or directory") {
		t.Errorf("refusal %q: want the reason without the receiver's path", err)
	}
	if rerr := <-done; rerr == nil {
		t.Error("the server reported success")
	}
}

// TestSessionCause: a bare "closed" error gets the session's reason.
func TestSessionCause(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	a, b, sa := testPair(t, ctx, slog.New(slog.DiscardHandler))
	defer stopNode(a)
	stopNode(b)
	got := describe(sessionCause(sa, fmt.Errorf("sending: %w", stt.ErrClosed)))
	t.Logf("session error: %v", sa.Err())
	if got != "sending: the peer shut down" {
		t.Errorf("describe(sessionCause(…)) = %q", got)
	}
	other := errors.New("unrelated")
	if sessionCause(sa, other) != other || sessionCause(sa, nil) != nil {
		t.Error("sessionCause changed an error that does not say closed")
	}
}
