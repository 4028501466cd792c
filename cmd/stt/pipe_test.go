package main

import (
	"bytes"
	"errors"
	"testing"
)

// TestChunkPipe: chunks reach the worker whole and in order, a worker
// error reaches the producer at its next get and from close, and chunks
// after the error are not worked on.
func TestChunkPipe(t *testing.T) {
	var got []byte
	calls := 0
	p := newChunkPipe(sendPool, func(b []byte) error {
		calls++
		got = append(got, b...)
		return nil
	})
	var want []byte
	for i := range 50 {
		buf, err := p.get()
		if err != nil {
			t.Fatal(err)
		}
		if len(buf) != sendChunk {
			t.Fatalf("buffer of %d bytes, want %d", len(buf), sendChunk)
		}
		n := (i * 7919) % 1000 // 0 included: an empty chunk is not passed on
		for j := range n {
			buf[j] = byte(i + j)
		}
		want = append(want, buf[:n]...)
		p.put(buf[:n])
	}
	if err := p.close(); err != nil {
		t.Fatal(err)
	}
	if string(got) != string(want) {
		t.Fatalf("worker saw %d bytes, want %d in order", len(got), len(want))
	}
	if calls != 49 {
		t.Errorf("worker called %d times, want 49 (one empty chunk skipped)", calls)
	}

	boom := errors.New("disk full")
	worked := 0
	p = newChunkPipe(sendPool, func(b []byte) error {
		worked++
		if worked == 2 {
			return boom
		}
		return nil
	})
	var gerr error
	for range 100 {
		buf, err := p.get()
		if err != nil {
			gerr = err
			break
		}
		p.put(buf[:1])
	}
	if !errors.Is(gerr, boom) {
		t.Fatalf("get after the worker failed = %v, want %v", gerr, boom)
	}
	if err := p.close(); !errors.Is(err, boom) {
		t.Fatalf("close = %v, want %v", err, boom)
	}
	if worked != 2 {
		t.Errorf("worker ran %d times, want 2 (nothing after its error)", worked)
	}
}

// TestChunkPipeViews: views reach the worker in order among buffers, and
// never come back from get (the pipe does not own them).
func TestChunkPipeViews(t *testing.T) {
	view := make([]byte, 3*sendChunk)
	patternAt(view, 2, 0)
	var got []byte
	p := newChunkPipe(sendPool, func(b []byte) error {
		got = append(got, b...)
		return nil
	})
	var want []byte
	for i := range 3 {
		p.putView(view[i*sendChunk : (i+1)*sendChunk])
		want = append(want, view[i*sendChunk:(i+1)*sendChunk]...)
		buf, err := p.get()
		if err != nil {
			t.Fatal(err)
		}
		if &buf[0] == &view[0] || len(buf) != sendChunk {
			t.Fatal("get returned memory that is not the pipe's")
		}
		buf[0] = byte(i)
		p.put(buf[:1])
		want = append(want, byte(i))
	}
	p.putView(nil)
	if err := p.close(); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("worker saw %d bytes, want %d in order", len(got), len(want))
	}
}
