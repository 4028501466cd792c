package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"unsafe"
)

// TestFileWriter: a body written in the pipeline's chunks reaches the file
// byte for byte whatever the chunks' sizes and alignment: whole aligned
// chunks go with O_DIRECT where the file system takes it (t.TempDir's
// here; the test says when it does not), and the first chunk that cannot
// (a tail, an unaligned address or length) turns O_DIRECT off for the
// rest of the file.
func TestFileWriter(t *testing.T) {
	data := make([]byte, 5*recvChunk)
	patternAt(data, 9, 0)
	buf := alignedBuffer(len(data)+directAlign, directAlign)
	tests := []struct {
		name       string
		chunks     []int // sizes; the body is data[:sum]
		unaligned  bool  // write every chunk from an address off by one
		wantDirect bool  // O_DIRECT still on after the last chunk
	}{
		{"empty", nil, false, true},
		{"whole chunks", []int{recvChunk, recvChunk, recvChunk}, false, true},
		{"whole chunks and a tail", []int{recvChunk, recvChunk, 1000}, false, false},
		{"tail only", []int{3}, false, false},
		{"block-sized tail", []int{recvChunk, directAlign}, false, true},
		{"tail then whole chunks", []int{100, recvChunk, recvChunk}, false, false},
		{"unaligned address", []int{recvChunk, recvChunk}, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := os.OpenFile(filepath.Join(t.TempDir(), "f"), os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o666)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			w := newFileWriter(f, directAuto)
			if !w.direct {
				t.Logf("the file system of %s refuses O_DIRECT: checking buffered writes only", f.Name())
			}
			startDirect := w.direct
			var want []byte
			for _, n := range tt.chunks {
				src := data[len(want) : len(want)+n]
				b := buf[:n]
				if tt.unaligned {
					b = buf[1 : n+1]
				}
				copy(b, src)
				if k, err := w.Write(b); err != nil || k != n {
					t.Fatalf("Write(%d bytes) = %d, %v", n, k, err)
				}
				want = append(want, src...)
			}
			if startDirect && w.direct != tt.wantDirect {
				t.Errorf("O_DIRECT on = %v after the chunks, want %v", w.direct, tt.wantDirect)
			}
			if err := f.Sync(); err != nil {
				t.Fatal(err)
			}
			got, err := os.ReadFile(f.Name())
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("file holds %d bytes, want the %d written", len(got), len(want))
			}
		})
	}
}

// TestFileWriterModes: stt listen --direct-io decides whether a file is
// written with O_DIRECT: off never, on and auto on a local file system
// that takes it (t.TempDir's; on one that refuses it, all three write
// through the page cache), and every mode writes the bytes.
func TestFileWriterModes(t *testing.T) {
	probe, err := os.OpenFile(filepath.Join(t.TempDir(), "probe"), os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o666)
	if err != nil {
		t.Fatal(err)
	}
	takes := (&fileWriter{f: probe}).setDirect(true) == nil
	probe.Close()
	local := true
	if f, err := os.Open(t.TempDir()); err == nil {
		local = !onNetworkFS(f)
		f.Close()
	}
	data := alignedBuffer(2*recvChunk, directAlign)
	patternAt(data, 4, 0)
	for _, tt := range []struct {
		mode       directMode
		wantDirect bool
	}{
		{directOff, false},
		{directOn, takes},
		{directAuto, takes && local},
	} {
		f, err := os.OpenFile(filepath.Join(t.TempDir(), "f"), os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o666)
		if err != nil {
			t.Fatal(err)
		}
		w := newFileWriter(f, tt.mode)
		if w.direct != tt.wantDirect {
			t.Errorf("mode %d: O_DIRECT %v, want %v", tt.mode, w.direct, tt.wantDirect)
		}
		if _, err := w.Write(data); err != nil {
			t.Fatal(err)
		}
		f.Close()
		if got, err := os.ReadFile(f.Name()); err != nil || !bytes.Equal(got, data) {
			t.Fatalf("mode %d: file differs (%v)", tt.mode, err)
		}
	}
	if !takes {
		t.Logf("the file system of %s refuses O_DIRECT: on and auto were checked buffered", t.TempDir())
	}
}

// TestParseDirectMode: the flag's words and a refusal that names them.
func TestParseDirectMode(t *testing.T) {
	for s, want := range map[string]directMode{"auto": directAuto, "on": directOn, "off": directOff} {
		if got, err := parseDirectMode(s); err != nil || got != want {
			t.Errorf("parseDirectMode(%q) = %d, %v", s, got, err)
		}
	}
	for _, s := range []string{"", "yes", "ON", "direct"} {
		if _, err := parseDirectMode(s); err == nil || !strings.Contains(err.Error(), "auto, on or off") {
			t.Errorf("parseDirectMode(%q) = %v, want a refusal naming auto, on or off", s, err)
		}
	}
}

// TestFileWriterError: a write the file refuses is reported, not
// swallowed by the fallback from O_DIRECT.
func TestFileWriterError(t *testing.T) {
	p := filepath.Join(t.TempDir(), "ro")
	if err := os.WriteFile(p, nil, 0o666); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(p) // read-only: writes fail with EBADF
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w := newFileWriter(f, directAuto)
	for _, n := range []int{recvChunk, 10} {
		if _, err := w.Write(alignedBuffer(n, directAlign)); err == nil {
			t.Fatalf("Write of %d bytes to a read-only file succeeded", n)
		}
	}
}

// TestAlignedBuffer: the pool's buffers are aligned for O_DIRECT and as
// long as their capacity (the pipe resets a chunk with b[:cap(b)]).
func TestAlignedBuffer(t *testing.T) {
	for _, pool := range []struct {
		p *sync.Pool
		n int
	}{{sendPool, sendChunk}, {recvPool, recvChunk}} {
		for range 5 {
			b := *pool.p.Get().(*[]byte)
			if !aligned(b) || len(b) != pool.n || cap(b) != pool.n {
				t.Fatalf("chunk of len %d cap %d aligned %v, want %d aligned", len(b), cap(b), aligned(b), pool.n)
			}
			defer pool.p.Put(&b)
		}
	}
	for _, n := range []int{1, 4095, 4096, 100_000} {
		b := alignedBuffer(n, directAlign)
		if len(b) != n || cap(b) != n || uintptr(unsafe.Pointer(unsafe.SliceData(b)))%directAlign != 0 {
			t.Errorf("alignedBuffer(%d): len %d cap %d", n, len(b), cap(b))
		}
	}
}
