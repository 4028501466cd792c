package main

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stt-go/stt"
)

// TestServerBodyLimit: with every body slot taken, a new file transfer
// waits (its buffers are not allocated) and goes through once a slot
// frees.
func TestServerBodyLimit(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	log := slog.New(slog.DiscardHandler)
	dir := t.TempDir()
	a, b, sa := testPair(t, ctx, log)
	srv := &server{outDir: dir, log: log}
	defer srv.serveInProcess(ctx, a, b)()
	var releases []func()
	for range maxBodies {
		r, err := srv.body(ctx)
		if err != nil {
			t.Fatal(err)
		}
		releases = append(releases, r)
	}
	done := make(chan error, 1)
	go func() {
		_, err := sendBody(ctx, sa, header{Kind: kindFile, Digest: digestSHA256, Size: 5, Name: "w.txt"}, strings.NewReader("hello"), nil)
		done <- err
	}()
	select {
	case err := <-done:
		t.Fatalf("the transfer finished (%v) while every body slot was taken", err)
	case <-time.After(300 * time.Millisecond):
	}
	if _, err := os.Stat(filepath.Join(dir, "w.txt")); err == nil {
		t.Fatal("the file was stored while every body slot was taken")
	}
	releases[0]()
	if err := <-done; err != nil {
		t.Fatalf("after a slot freed: %v", err)
	}
	for _, r := range releases[1:] {
		r()
	}
	if got, err := os.ReadFile(filepath.Join(dir, "w.txt")); err != nil || string(got) != "hello" {
		t.Fatalf("stored %q, %v", got, err)
	}
}

// testPair is loopbackPair for tests: two nodes on loopback, the second
// connected to the first (sa), failing tb if that does not work.
func testPair(tb testing.TB, ctx context.Context, log *slog.Logger) (a, b *stt.Node, sa *stt.Session) {
	tb.Helper()
	a, b, sa, err := loopbackPair(ctx, &nodeFlags{handshakeTimeout: 10 * time.Second}, log)
	if err != nil {
		tb.Fatal(err)
	}
	return a, b, sa
}
