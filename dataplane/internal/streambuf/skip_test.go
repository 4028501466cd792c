package streambuf

import (
	"errors"
	"testing"
)

// TestSendAbandon: abandoned bytes count as acknowledged, are never sent or
// resent, and new data continues where they end; a range above an
// unacknowledged prefix frees its space once the prefix is acknowledged.
func TestSendAbandon(t *testing.T) {
	s := NewSend(1 << 10)
	s.SetPeerLimit(1 << 20)
	if _, err := s.Write(make([]byte, 300)); err != nil {
		t.Fatal(err)
	}
	dst := make([]byte, 1500)
	n, off, _, _ := s.NextFrame(dst, 100, 1<<20) // [0,100) in flight
	if n != 100 || off != 0 {
		t.Fatalf("first frame %d@%d", n, off)
	}
	s.OnLost(0, 100, false)                                         // would be resent...
	if ok, unsent := s.AbandonRange(0, 200); !ok || unsent != 100 { // ...but its message expired, and [100,200) was never sent
		t.Fatalf("AbandonRange(0, 200) = %v, %d unsent; want true, 100", ok, unsent)
	}
	if s.Acked() != 200 || s.Sent() != 200 || s.Buffered() != 100 || !s.Delivered(0, 200) {
		t.Fatalf("after AbandonRange: acked %d sent %d buffered %d; want 200 200 100", s.Acked(), s.Sent(), s.Buffered())
	}
	n, off, _, _ = s.NextFrame(dst, 1500, 1<<20)
	if n != 100 || off != 200 {
		t.Fatalf("next frame %d@%d; want the 100 bytes at 200 (nothing resent below)", n, off)
	}
	if ok, _ := s.AbandonRange(100, 150); ok {
		t.Fatal("AbandonRange below the acknowledged prefix changed something")
	}
	// [250, 300) abandoned while [200, 250) is still unacknowledged.
	if ok, unsent := s.AbandonRange(250, 1<<30); !ok || unsent != 0 || s.Acked() != 200 || !s.Delivered(250, 300) || s.Delivered(200, 300) {
		t.Fatalf("range above the prefix: acked %d", s.Acked())
	}
	s.OnAcked(200, 50, false)
	if s.Acked() != 300 {
		t.Fatalf("prefix acknowledged: acked %d, want 300 (the abandoned range joins it)", s.Acked())
	}
	_ = s.Close()
	n, off, fin, _ := s.NextFrame(dst, 1500, 1<<20)
	if n != 0 || off != 300 || !fin {
		t.Fatalf("FIN after abandoning everything: %d@%d fin %v", n, off, fin)
	}
	s.OnAcked(300, 0, true)
	if !s.Done() {
		t.Fatal("stream not Done after its FIN was acknowledged")
	}
}

// TestSendFinAfterSkipPastCredit: once an abandoned range took the stream
// past the peer's credit, the FIN (whose offset, the final size, the peer
// counts like data) waits for credit — stream and session — instead of
// going at once: a receiver closes the session with a flow-control error
// for a FIN beyond its credit that arrives before the SKIP (found under
// load in TestLatencyBoundedStream/lossy: a FIN-only frame at 1 801 200
// against a stream limit of 1 743 100).
func TestSendFinAfterSkipPastCredit(t *testing.T) {
	s := NewSend(1 << 10)
	var conn SendWindow
	conn.SetLimit(150)
	s.SetPeerLimit(150)
	if _, err := s.Write(make([]byte, 300)); err != nil {
		t.Fatal(err)
	}
	dst := make([]byte, 1500)
	if n, _, _, _ := s.NextFrameWithin(dst, 1500, 150, &conn); n != 150 {
		t.Fatalf("first frame %d bytes, want the 150 of credit", n)
	}
	// The message [0, 300) expired: [150, 300) was never sent and goes
	// past both credits.
	ok, unsent := s.AbandonRange(0, 300)
	if !ok || unsent != 150 {
		t.Fatalf("AbandonRange = %v, %d unsent", ok, unsent)
	}
	conn.Consume(int(unsent)) // as Session.abandon does
	if !conn.Overdrawn() {
		t.Fatal("session window not overdrawn after charging skipped bytes past its limit")
	}
	_ = s.Close()
	if s.HasData() {
		t.Error("HasData with a FIN beyond the stream credit")
	}
	if n, _, fin, blocked := s.NextFrameWithin(dst, 1500, 150, &conn); n != 0 || fin || !blocked {
		t.Fatalf("FIN beyond the stream credit: %d bytes, fin %v, blocked %v; want nothing, blocked", n, fin, blocked)
	}
	// The stream credit covers it, the session's not yet.
	if n, _, fin, _ := s.NextFrameWithin(dst, 1500, 300, &conn); n != 0 || fin {
		t.Fatalf("FIN beyond the session credit: %d bytes, fin %v; want nothing", n, fin)
	}
	conn.SetLimit(300)
	if n, off, fin, _ := s.NextFrameWithin(dst, 1500, 300, &conn); n != 0 || off != 300 || !fin {
		t.Fatalf("FIN within both credits: %d@%d fin %v; want the FIN at 300", n, off, fin)
	}
}

// TestRecvSkip: an abandoned range counts as received for ordering: bytes
// before it are read, then the reader is told (once, with the bytes and the
// tag) and jumps over it, bytes after it that arrived out of order are kept,
// data arriving inside it is ignored, and stale ranges change nothing.
func TestRecvSkip(t *testing.T) {
	r := NewRecv(1<<10, 1<<10, 8)
	must := func(_ int, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(r.Push(0, []byte("head"), false))
	must(r.Push(20, []byte("after"), false)) // out of order, after the skip
	buf := make([]byte, 2)
	if n, err := r.Read(buf); n != 2 || err != nil {
		t.Fatalf("Read %d, %v", n, err)
	}
	// [4, 20) is abandoned; [4, 10) arrives late anyway.
	moved, err := r.Skip(4, 20, 7)
	if !moved || err != nil {
		t.Fatalf("Skip(4, 20) = %v, %v", moved, err)
	}
	must(r.Push(4, []byte("late.."), false))
	if n, err := r.Read(buf); n != 2 || err != nil || string(buf) != "ad" {
		t.Fatalf("Read after Skip = %q, %v; want the in-order bytes before the range first", buf[:n], err)
	}
	var se *SkipError
	if _, err := r.Read(buf); !errors.As(err, &se) || se.Bytes != 16 || se.Tag != 7 || !errors.Is(err, ErrSkipped) {
		t.Fatalf("Read at the range: %v; want a *SkipError of 16 bytes, tag 7", err)
	}
	got := make([]byte, 16)
	n, err := r.Read(got)
	if err != nil || string(got[:n]) != "after" {
		t.Fatalf("Read after the range = %q, %v; want the bytes kept above it", got[:n], err)
	}
	if moved, err := r.Skip(10, 18, 8); moved || err != nil {
		t.Fatalf("stale Skip = %v, %v", moved, err)
	}
	// Two ranges with data between them: the data is delivered between
	// the two reports.
	must(r.Push(30, []byte("mid"), false))
	if _, err := r.Skip(25, 30, 9); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Skip(33, 40, 10); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Read(got); !errors.As(err, &se) || se.Tag != 9 || se.Bytes != 5 {
		t.Fatalf("first range: %v", err)
	}
	if n, err := r.Read(got); err != nil || string(got[:n]) != "mid" {
		t.Fatalf("data between ranges = %q, %v", got[:n], err)
	}
	if _, err := r.Read(got); !errors.As(err, &se) || se.Tag != 10 || se.Bytes != 7 {
		t.Fatalf("second range: %v", err)
	}
	// A range beyond the credit limit: the window restarts once passed.
	if moved, err := r.Skip(40, 5000, 11); !moved || err != nil {
		t.Fatalf("Skip beyond the limit = %v, %v", moved, err)
	}
	if _, err := r.Read(buf); !errors.Is(err, ErrSkipped) {
		t.Fatalf("Read at the range beyond the limit: %v", err)
	}
	if l, ok := r.MaybeGrowLimit(0, 0); !ok || l < 5000+1<<9 {
		t.Fatalf("limit after a range past it: %d (%v); want at least its end + half the window", l, ok)
	}
	must(r.Push(5000, []byte("x"), true))
	if _, err := r.Skip(5000, 6000, 12); !errors.Is(err, ErrFinalSize) {
		t.Fatalf("Skip beyond the final size: %v", err)
	}
	if _, err := r.Skip(0, MaxOffset+1, 0); !errors.Is(err, ErrFlowControl) {
		t.Fatalf("Skip beyond MaxOffset: %v", err)
	}
	// The number of waiting ranges is bounded.
	r2 := NewRecv(1<<20, 1<<20, 2)
	for i := uint64(0); i < 2; i++ {
		if _, err := r2.Skip(100*i+10, 100*i+20, i); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := r2.Skip(500, 510, 9); !errors.Is(err, ErrTooManyGaps) {
		t.Fatalf("a third waiting range with maxGaps 2: %v", err)
	}
}
