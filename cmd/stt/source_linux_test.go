package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// mappedTestFile writes n bytes of generator data to a new file and maps
// it; the mapping is undone at the test's end.
func mappedTestFile(t *testing.T, n int) (*mappedFile, []byte) {
	t.Helper()
	data := make([]byte, n)
	patternAt(data, 5, 0)
	p := filepath.Join(t.TempDir(), "src.bin")
	if err := os.WriteFile(p, data, 0o666); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	m, err := mapFile(f, int64(n))
	if err != nil {
		t.Fatalf("mapFile: %v", err)
	}
	t.Cleanup(func() { m.close() })
	return m, data
}

// TestMappedFileRead: the mapping reads as the file, through Read too.
func TestMappedFileRead(t *testing.T) {
	m, data := mappedTestFile(t, 3*sendChunk+17)
	if !bytes.Equal(m.b, data) {
		t.Fatal("the mapping differs from the file")
	}
	got, err := io.ReadAll(m)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("ReadAll = %d bytes, %v; want the file's %d", len(got), err, len(data))
	}
	if err := m.checkSize(); err != nil {
		t.Fatal(err)
	}
	if _, err := mapFile(m.f, 0); err == nil {
		t.Error("mapFile of 0 bytes succeeded")
	}
}

// TestMappedFileCut: a file cut under its mapping faults past its new end;
// guard, Read and checkSize turn that into errSourceShrank instead of a
// crash, and a grown file is reported too.
func TestMappedFileCut(t *testing.T) {
	m, _ := mappedTestFile(t, 4*sendChunk)
	if err := os.Truncate(m.f.Name(), sendChunk); err != nil {
		t.Fatal(err)
	}
	if guard(func() { _ = m.b[sendChunk-1] }) {
		t.Fatal("a fault before the new end")
	}
	var sink byte
	if !guard(func() { sink = m.b[3*sendChunk] }) {
		t.Fatalf("no fault past the new end (read %d)", sink)
	}
	h := digestBLAKE3.newHash()
	if !guard(func() { h.Write(m.b) }) {
		t.Fatal("hashing past the new end did not fault")
	}
	m.off = 2 * sendChunk
	if _, err := m.Read(make([]byte, 10)); !errors.Is(err, errSourceShrank) {
		t.Fatalf("Read past the new end = %v, want errSourceShrank", err)
	}
	if err := m.checkSize(); !errors.Is(err, errSourceShrank) {
		t.Fatalf("checkSize = %v, want errSourceShrank", err)
	}
	if err := os.Truncate(m.f.Name(), 5*sendChunk); err != nil {
		t.Fatal(err)
	}
	if err := m.checkSize(); err == nil || !strings.Contains(err.Error(), "grew") {
		t.Fatalf("checkSize of a grown file = %v", err)
	}
	defer func() {
		if r := recover(); r != "not a fault" {
			t.Errorf("guard swallowed or changed another panic: %v", r)
		}
	}()
	guard(func() { panic("not a fault") })
}

// TestSendMappedFile: a mapped file goes through the stream whole, and one
// cut while it is sent (here: before, under the mapping) fails the
// transfer with errSourceShrank on the sender and leaves nothing on the
// receiver, whose session still works.
func TestSendMappedFile(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	log := slog.New(slog.DiscardHandler)
	dir := t.TempDir()
	a, b, sa := testPair(t, ctx, log)
	done := make(chan error, 4)
	srv := &server{outDir: dir, log: log, onDone: func(_ received, err error) { done <- err }}
	defer srv.serveInProcess(ctx, a, b)()

	m, data := mappedTestFile(t, 5*sendChunk+1000)
	h := header{Kind: kindFile, Digest: digestBLAKE3, Size: uint64(len(data)), Name: "whole.bin"}
	if _, err := sendBody(ctx, sa, h, m, nil); err != nil {
		t.Fatalf("send: %v", err)
	}
	if err := <-done; err != nil {
		t.Fatalf("receiver: %v", err)
	}
	if got, err := os.ReadFile(filepath.Join(dir, "whole.bin")); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("stored %d bytes (%v), want the file's %d", len(got), err, len(data))
	}

	cut, data := mappedTestFile(t, 8*sendChunk)
	if err := os.Truncate(cut.f.Name(), 3*sendChunk); err != nil {
		t.Fatal(err)
	}
	h = header{Kind: kindFile, Digest: digestBLAKE3, Size: uint64(len(data)), Name: "cut.bin"}
	if _, err := sendBody(ctx, sa, h, cut, nil); !errors.Is(err, errSourceShrank) {
		t.Fatalf("send of a cut file = %v, want errSourceShrank", err)
	}
	if err := <-done; err == nil {
		t.Fatal("the receiver reported the cut transfer complete")
	}
	checkDirHolds(t, dir, "whole.bin")
	if _, err := sendBody(ctx, sa, header{Kind: kindSink, Size: 3}, strings.NewReader("abc"), nil); err != nil {
		t.Fatalf("the session after the cut transfer: %v", err)
	}
}
