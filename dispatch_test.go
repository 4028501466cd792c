package stt_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/stt-go/stt"
)

// TestFrameDispatcher sends application frames 0x80-0xFF from one node to
// the other: registered types reach their handler with the payload intact,
// unregistered ones are counted and dropped, reserved types are refused.
func TestFrameDispatcher(t *testing.T) {
	_, b, sa, sb := newPair(t, nil)
	if err := b.FrameDispatcher().Register(0x10, func(*stt.Session, []byte) {}); !errors.Is(err, stt.ErrReservedFrameType) {
		t.Fatalf("Register(0x10): %v, want ErrReservedFrameType", err)
	}
	var mu sync.Mutex
	var got [][]byte
	done := make(chan struct{})
	const n = 50
	err := b.FrameDispatcher().Register(0x80, func(s *stt.Session, p []byte) {
		if s.ID() != sb.ID() {
			t.Errorf("handler got session %v", s.ID())
		}
		mu.Lock()
		got = append(got, bytes.Clone(p)) // payload is borrowed
		if len(got) == n {
			close(done)
		}
		mu.Unlock()
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := sa.SendFrame(0x7f, nil); !errors.Is(err, stt.ErrReservedFrameType) {
		t.Fatalf("SendFrame(0x7f): %v", err)
	}
	if err := sa.SendFrame(0x80, make([]byte, sa.MaxFramePayload()+1)); !errors.Is(err, stt.ErrFrameTooLarge) {
		t.Fatalf("oversized SendFrame: %v", err)
	}
	if err := sa.SendFrame(0x81, []byte("nobody listens")); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		// Loopback does not lose packets; frames are datagrams otherwise.
		if err := sa.SendFrame(0x80, bytes.Repeat([]byte{byte(i)}, i*20)); err != nil {
			t.Fatal(err)
		}
	}
	if err := sa.SendFrame(0x80, make([]byte, sa.MaxFramePayload())); err != nil {
		t.Fatalf("largest frame: %v", err)
	}
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatalf("got %d of %d frames", len(got), n)
	}
	mu.Lock()
	for i, p := range got[:n] {
		if !bytes.Equal(p, bytes.Repeat([]byte{byte(i)}, i*20)) {
			t.Fatalf("frame %d: %d bytes, wrong content", i, len(p))
		}
	}
	mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for sb.Stats().DropsCustomUnregistered == 0 {
		if ctx.Err() != nil {
			t.Fatal("unregistered frame type not counted")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestFrameHandlerPanicsAndBlocks: a panicking application handler is
// recovered and counted, and a handler that blocks makes frames drop (and
// be counted) instead of stalling packets: a stream transfer goes on
// meanwhile (issue 15 item 4).
func TestFrameHandlerPanicsAndBlocks(t *testing.T) {
	_, b, sa, sb := newPair(t, nil)
	release := make(chan struct{})
	t.Cleanup(func() { close(release) }) // before the nodes stop: cleanups run last-in first-out
	var panics sync.WaitGroup
	panics.Add(1)
	var once sync.Once
	if err := b.FrameDispatcher().Register(0x80, func(*stt.Session, []byte) {
		once.Do(panics.Done)
		panic("application bug")
	}); err != nil {
		t.Fatal(err)
	}
	if err := sa.SendFrame(0x80, []byte("boom")); err != nil {
		t.Fatal(err)
	}
	panics.Wait()
	if !waitUntil(5*time.Second, func() bool { return b.Stats().FrameHandlerPanics == 1 }) {
		t.Fatalf("FrameHandlerPanics = %d, want 1", b.Stats().FrameHandlerPanics)
	}
	blocked := make(chan struct{}, 1)
	if err := b.FrameDispatcher().Register(0x81, func(*stt.Session, []byte) {
		select {
		case blocked <- struct{}{}:
		default:
		}
		<-release
	}); err != nil {
		t.Fatal(err)
	}
	sent := 0
	for sent < 3*stt.FrameQueueLen && b.Stats().FramesDropped == 0 {
		if err := sa.SendFrame(0x81, []byte("x")); err != nil {
			if errors.Is(err, stt.ErrFrameQueueFull) {
				time.Sleep(time.Millisecond)
				continue
			}
			t.Fatal(err)
		}
		sent++
	}
	<-blocked
	if !waitUntil(5*time.Second, func() bool { return b.Stats().FramesDropped > 0 }) {
		t.Fatalf("a blocked handler with %d frames sent dropped none", sent)
	}
	// Packets still flow while the handler is stuck.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := sa.OpenStream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		_, _ = st.Write(make([]byte, 1<<20))
		_ = st.Close()
	}()
	rs, err := sb.AcceptStream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	_ = rs.SetReadDeadline(time.Now().Add(10 * time.Second))
	n, err := io.Copy(io.Discard, rs)
	if err != nil || n != 1<<20 {
		t.Fatalf("stream while a handler blocks: %d bytes, %v", n, err)
	}
}
