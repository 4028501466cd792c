package endpoint

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// recv waits for a value on ch, failing the test after waitTimeout.
func recv[T any](t testing.TB, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(waitTimeout):
		t.Fatal("timed out")
		panic("unreachable")
	}
}

// testSink records what it is given; write, if set, runs first and may
// fail or block.
type testSink struct {
	write func(ctx context.Context, b []byte) error

	mu     sync.Mutex
	got    [][]byte
	closes int
}

func (s *testSink) Write(ctx context.Context, b []byte) error {
	if s.write != nil {
		if err := s.write(ctx, b); err != nil {
			return err
		}
	}
	s.mu.Lock()
	s.got = append(s.got, b)
	s.mu.Unlock()
	return nil
}

func (s *testSink) Close() error {
	s.mu.Lock()
	s.closes++
	s.mu.Unlock()
	return nil
}

func (s *testSink) snapshot() (got [][]byte, closes int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([][]byte(nil), s.got...), s.closes
}

// TestFanOut routes one source to several sinks: each gets every item, in
// order, the same slice (no copy), and is closed once.
func TestFanOut(t *testing.T) {
	ctx := context.Background()
	m := NewManager(nil)
	sinks := make([]*testSink, 4)
	for i := range sinks {
		sinks[i] = &testSink{}
		if err := m.Attach(ctx, fmt.Sprint("viewer", i), sinks[i], nil); err != nil {
			t.Fatal(err)
		}
	}
	items := make([][]byte, 300)
	for i := range items {
		items[i] = binary.BigEndian.AppendUint32(nil, uint32(i))
		if n := m.Broadcast(ctx, items[i]); n != len(sinks) {
			t.Fatalf("Broadcast queued on %d endpoints, want %d", n, len(sinks))
		}
	}
	for i := range sinks {
		if err := m.Flush(ctx, fmt.Sprint("viewer", i)); err != nil {
			t.Fatal(err)
		}
		st, _ := m.Stats(fmt.Sprint("viewer", i))
		if st.Routed != 300 || st.Delivered != 300 || st.DeliveredBytes != 1200 || st.Dropped != 0 || st.Queued != 0 {
			t.Fatalf("viewer%d stats %+v", i, st)
		}
	}
	m.CloseAll()
	for i, s := range sinks {
		got, closes := s.snapshot()
		if len(got) != len(items) || closes != 1 {
			t.Fatalf("sink %d: %d items, %d closes", i, len(got), closes)
		}
		for j := range got {
			if &got[j][0] != &items[j][0] {
				t.Fatalf("sink %d item %d: not the routed slice, or out of order", i, j)
			}
		}
	}
}

// TestSlowEndpointBoundsHeap is issue 12's slow-viewer test: one endpoint
// drains at half the source's rate while three drain at full rate. Under
// either lossy policy the source never waits, the heap grows by at most
// the slow endpoint's QueueBytes plus slack, the fast endpoints receive
// every item in order, and the slow one is trimmed (DropOldest) or cut
// (Disconnect).
func TestSlowEndpointBoundsHeap(t *testing.T) {
	for _, p := range []Policy{DropOldest, Disconnect} {
		t.Run(p.String(), func(t *testing.T) { testSlowEndpoint(t, p) })
	}
}

func testSlowEndpoint(t *testing.T, policy Policy) {
	const (
		itemSize   = 16 << 10
		queueBytes = 1 << 20 // 64 items
		fast       = 3
		// slack covers the item being built, the one the slow sink holds,
		// the fast sinks' single items in flight, rings and test state.
		slack = 1 << 20
	)
	items := 2000 // 32 MiB through; unbounded, the slow queue would reach 16 MiB
	if testing.Short() {
		items = 600
	}
	ctx := context.Background()
	cut := make(chan Stats, 1)
	m := NewManager(&Options{QueueBytes: queueBytes, OnDisconnect: func(name string, st Stats) {
		if name != "slow" {
			t.Errorf("%s disconnected: %v", name, st.Reason)
		}
		cut <- st
	}})
	defer m.CloseAll()
	opts := &EndpointOptions{Policy: policy}

	// Fast sinks hand each item to the source, which waits for it: they
	// keep up by construction, whatever the scheduler does.
	fastGot := make([]chan []byte, fast)
	for i := range fastGot {
		ch := make(chan []byte, 1)
		fastGot[i] = ch
		s := SinkFunc(func(ctx context.Context, b []byte) error {
			select {
			case ch <- b:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		})
		if err := m.Attach(ctx, fmt.Sprint("fast", i), s, opts); err != nil {
			t.Fatal(err)
		}
	}
	// The slow sink may take one item per token; the source gives one
	// token every second item.
	tokens := make(chan struct{}, items)
	var slowGot atomic.Int64
	slow := SinkFunc(func(ctx context.Context, b []byte) error {
		select {
		case <-tokens:
			slowGot.Add(1)
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	})
	if err := m.Attach(ctx, "slow", slow, opts); err != nil {
		t.Fatal(err)
	}

	heap := func() int64 {
		var ms runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&ms)
		return int64(ms.HeapAlloc)
	}
	base := heap()
	var maxGrowth int64
	for i := range items {
		b := make([]byte, itemSize)
		binary.BigEndian.PutUint64(b, uint64(i))
		m.Broadcast(ctx, b)
		if i%2 == 1 {
			tokens <- struct{}{}
		}
		for f, ch := range fastGot {
			if got := recv(t, ch); binary.BigEndian.Uint64(got) != uint64(i) {
				t.Fatalf("fast%d got item %d, want %d", f, binary.BigEndian.Uint64(got), i)
			}
		}
		if i%100 == 99 {
			maxGrowth = max(maxGrowth, heap()-base)
			if st, err := m.Stats("slow"); err == nil && st.QueuedBytes > queueBytes {
				t.Fatalf("slow endpoint queues %d bytes, budget %d", st.QueuedBytes, queueBytes)
			}
		}
	}
	t.Logf("%s: heap grew at most %d KiB over %d items of %d KiB (queue budget %d KiB); slow sink wrote %d",
		policy, maxGrowth>>10, items, itemSize>>10, queueBytes>>10, slowGot.Load())
	if maxGrowth > queueBytes+slack {
		t.Errorf("heap grew by %d bytes, budget %d + slack %d", maxGrowth, queueBytes, slack)
	}
	for f := range fast {
		st, err := m.Stats(fmt.Sprint("fast", f))
		if err != nil || st.Delivered != uint64(items) || st.Dropped != 0 || st.Closed {
			t.Errorf("fast%d: %+v, %v", f, st, err)
		}
	}
	switch policy {
	case DropOldest:
		close(tokens) // let the slow sink catch up with what is left
		if err := m.Flush(ctx, "slow"); err != nil {
			t.Fatal(err)
		}
		st, _ := m.Stats("slow")
		if st.Routed != uint64(items) || st.Delivered+st.Dropped != st.Routed || st.Dropped == 0 || st.Closed {
			t.Errorf("slow: %+v; want every item delivered or dropped, some dropped", st)
		}
	case Disconnect:
		st := recv(t, cut)
		if !errors.Is(st.Reason, ErrSlow) || !st.Closed || st.Delivered+st.Dropped != st.Routed || st.Queued != 0 {
			t.Errorf("slow endpoint's final stats %+v", st)
		}
		if _, err := m.Stats("slow"); !errors.Is(err, ErrUnknownEndpoint) {
			t.Errorf("cut endpoint still present: %v", err)
		}
	}
}

// TestStalledSink attaches sinks that never finish a Write: one honours
// its context, one only a write deadline. Broadcast keeps returning, the
// stalled endpoints drop, the healthy one gets everything, and Close and
// CloseAll return with no goroutine left (TestMain's goleak check).
func TestStalledSink(t *testing.T) {
	ctx := context.Background()
	m := NewManager(nil)
	opts := &EndpointOptions{QueueLen: 4, Policy: DropOldest}
	entered := make(chan string, 2)
	ctxSink := &testSink{write: func(ctx context.Context, _ []byte) error {
		entered <- "ctx"
		<-ctx.Done()
		return context.Cause(ctx)
	}}
	dlSink := newDeadlineSink(func() { entered <- "deadline" })
	healthy := &testSink{}
	for name, s := range map[string]Sink{"ctx": ctxSink, "deadline": dlSink, "healthy": healthy} {
		if err := m.Attach(ctx, name, s, opts); err != nil {
			t.Fatal(err)
		}
	}
	const items = 1000
	m.Broadcast(ctx, []byte{0})
	recv(t, entered) // both stalled sinks hold item 0 in Write
	recv(t, entered)
	done := make(chan error, 1)
	go func() {
		for i := 1; i < items; i++ {
			m.Broadcast(ctx, []byte{byte(i)})
			if i%4 == 3 { // pace the source to the healthy sink only
				if err := m.Flush(ctx, "healthy"); err != nil {
					done <- err
					return
				}
			}
		}
		done <- nil
	}()
	if err := recv(t, done); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"ctx", "deadline"} {
		st, _ := m.Stats(name)
		// One item is stuck in Write, four are queued, the rest dropped.
		if st.Routed != items || st.Dropped != items-5 || st.Queued != 4 || st.Delivered != 0 {
			t.Errorf("%s: %+v", name, st)
		}
	}
	if err := m.Close("deadline"); err != nil {
		t.Fatal(err)
	}
	if !dlSink.interrupted.Load() {
		t.Fatal("Close returned without setting the write deadline")
	}
	m.CloseAll()
	if got, closes := healthy.snapshot(); len(got) != items || closes != 1 {
		t.Fatalf("healthy sink: %d items, %d closes", len(got), closes)
	}
	if _, closes := ctxSink.snapshot(); closes != 1 {
		t.Fatalf("stalled sink closed %d times", closes)
	}
}

// deadlineSink blocks every Write until SetWriteDeadline, ignoring ctx,
// like a net.Conn whose peer stopped reading.
type deadlineSink struct {
	entered     func()
	once        sync.Once
	unblock     chan struct{}
	interrupted atomic.Bool
}

func newDeadlineSink(entered func()) *deadlineSink {
	return &deadlineSink{entered: entered, unblock: make(chan struct{})}
}

func (s *deadlineSink) Write(context.Context, []byte) error {
	s.entered()
	<-s.unblock
	return os.ErrDeadlineExceeded
}

func (s *deadlineSink) SetWriteDeadline(time.Time) error {
	s.interrupted.Store(true)
	s.once.Do(func() { close(s.unblock) })
	return nil
}

func (s *deadlineSink) Close() error { return nil }

// TestSinkError checks that a failing Write closes the endpoint with a
// *SinkError, drops what was queued, closes the sink once, removes the
// endpoint and reports it.
func TestSinkError(t *testing.T) {
	ctx := context.Background()
	errBroken := errors.New("broken pipe")
	cut := make(chan Stats, 1)
	m := NewManager(&Options{OnDisconnect: func(_ string, st Stats) { cut <- st }})
	defer m.CloseAll()
	release := make(chan struct{})
	var writes int
	s := &testSink{write: func(context.Context, []byte) error {
		writes++
		if writes == 3 {
			<-release // let the source queue more behind the failing write
			return errBroken
		}
		return nil
	}}
	if err := m.Attach(ctx, "v", s, nil); err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		if err := m.Route(ctx, "v", []byte{byte(i)}); err != nil {
			t.Fatal(err)
		}
	}
	close(release)
	st := recv(t, cut)
	var se *SinkError
	if !errors.As(st.Reason, &se) || !errors.Is(st.Reason, errBroken) || se.Error() != "endpoint: sink write: broken pipe" {
		t.Fatalf("reason %v, want a *SinkError wrapping %v", st.Reason, errBroken)
	}
	if st.Routed != 10 || st.Delivered != 2 || st.Dropped != 8 || st.Queued != 0 || !st.Closed {
		t.Fatalf("final stats %+v", st)
	}
	if got, closes := s.snapshot(); len(got) != 2 || closes != 1 {
		t.Fatalf("sink: %d items, %d closes", len(got), closes)
	}
	if err := m.Route(ctx, "v", nil); !errors.Is(err, ErrUnknownEndpoint) {
		t.Fatalf("Route after the sink failed = %v", err)
	}
}

// TestAttachContext checks that the end of the context given to Attach
// closes the endpoint with its cause, whether the writer is idle or in a
// Write.
func TestAttachContext(t *testing.T) {
	for _, busy := range []bool{false, true} {
		t.Run(fmt.Sprint("busy=", busy), func(t *testing.T) {
			cut := make(chan Stats, 1)
			m := NewManager(&Options{OnDisconnect: func(_ string, st Stats) { cut <- st }})
			defer m.CloseAll()
			ctx, cancel := context.WithCancelCause(context.Background())
			entered := make(chan struct{})
			s := &testSink{write: func(ctx context.Context, _ []byte) error {
				close(entered)
				<-ctx.Done()
				return ctx.Err()
			}}
			if err := m.Attach(ctx, "v", s, nil); err != nil {
				t.Fatal(err)
			}
			if busy {
				if err := m.Route(context.Background(), "v", []byte("x")); err != nil {
					t.Fatal(err)
				}
				recv(t, entered)
			}
			errSessionGone := errors.New("session closed")
			cancel(errSessionGone)
			st := recv(t, cut)
			if st.Reason != errSessionGone {
				t.Fatalf("reason %v, want the context's cause", st.Reason)
			}
			if _, closes := s.snapshot(); closes != 1 {
				t.Fatalf("sink closed %d times", closes)
			}
		})
	}
}

// TestFlush checks that Flush waits for the Sink's last Write, honours its
// context, and reports a closed endpoint.
func TestFlush(t *testing.T) {
	ctx := context.Background()
	m := NewManager(nil)
	defer m.CloseAll()
	gate := make(chan struct{})
	s := &testSink{write: func(ctx context.Context, _ []byte) error {
		select {
		case <-gate:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}}
	if err := m.Attach(ctx, "v", s, nil); err != nil {
		t.Fatal(err)
	}
	if err := m.Flush(ctx, "v"); err != nil { // idle at once
		t.Fatal(err)
	}
	for i := range 3 {
		if err := m.Route(ctx, "v", []byte{byte(i)}); err != nil {
			t.Fatal(err)
		}
	}
	short, cancel := context.WithTimeout(ctx, 10*time.Millisecond)
	defer cancel()
	if err := m.Flush(short, "v"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Flush with a stuck sink = %v", err)
	}
	flushed := make(chan error, 1)
	go func() { flushed <- m.Flush(ctx, "v") }()
	for range 3 {
		gate <- struct{}{}
	}
	if err := recv(t, flushed); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.snapshot(); len(got) != 3 {
		t.Fatalf("flushed with %d of 3 written", len(got))
	}
	// A Flush waiting when the endpoint closes returns its ClosedError.
	if err := m.Route(ctx, "v", []byte("x")); err != nil {
		t.Fatal(err)
	}
	flushed2 := make(chan error, 1)
	ep := m.endpoints["v"]
	go func() { flushed2 <- m.Flush(ctx, "v") }()
	for {
		ep.mu.Lock()
		waiting := ep.idle != nil
		ep.mu.Unlock()
		if waiting {
			break
		}
		time.Sleep(time.Millisecond)
	}
	if err := m.Close("v"); err != nil {
		t.Fatal(err)
	}
	if err := recv(t, flushed2); !errors.Is(err, ErrClosed) {
		t.Fatalf("Flush across Close = %v", err)
	}
}

// TestCloseAllWaitsForOnDisconnect checks that CloseAll returns only once
// the writer of an endpoint the Manager cut has finished its OnDisconnect,
// and that OnDisconnect may call Close for its own endpoint.
func TestCloseAllWaitsForOnDisconnect(t *testing.T) {
	ctx := context.Background()
	inCallback, release := make(chan struct{}), make(chan struct{})
	var m *Manager
	m = NewManager(&Options{OnDisconnect: func(name string, _ Stats) {
		if err := m.Close(name); !errors.Is(err, ErrUnknownEndpoint) {
			t.Errorf("Close from OnDisconnect = %v, want ErrUnknownEndpoint (already removed)", err)
		}
		close(inCallback)
		<-release
	}})
	s := &testSink{write: func(context.Context, []byte) error { return errors.New("gone") }}
	if err := m.Attach(ctx, "v", s, nil); err != nil {
		t.Fatal(err)
	}
	if err := m.Route(ctx, "v", []byte("x")); err != nil {
		t.Fatal(err)
	}
	recv(t, inCallback)
	closed := make(chan struct{})
	go func() { m.CloseAll(); close(closed) }()
	select {
	case <-closed:
		t.Fatal("CloseAll returned while OnDisconnect was running")
	case <-time.After(10 * time.Millisecond):
	}
	close(release)
	recv(t, closed)
}

// TestWriterSink checks the io.Writer adapter: one Write per item, Close
// forwarded, a blocked net.Conn write interrupted on Close by the
// deadline, and a done context refused.
func TestWriterSink(t *testing.T) {
	ctx := context.Background()
	var buf bytes.Buffer
	s := WriterSink(&buf)
	for _, p := range []string{"ab", "", "c"} {
		if err := s.Write(ctx, []byte(p)); err != nil {
			t.Fatal(err)
		}
	}
	if buf.String() != "abc" || s.Close() != nil {
		t.Fatalf("buffer %q", buf.String())
	}
	cancelled, cancel := context.WithCancelCause(ctx)
	errWhy := errors.New("why")
	cancel(errWhy)
	if err := s.Write(cancelled, []byte("x")); err != errWhy {
		t.Fatalf("Write with a done context = %v", err)
	}

	// A net.Pipe write blocks until the other end reads.
	a, b := net.Pipe()
	defer b.Close()
	m := NewManager(nil)
	defer m.CloseAll()
	if err := m.Attach(ctx, "conn", WriterSink(a), nil); err != nil {
		t.Fatal(err)
	}
	if err := m.Route(ctx, "conn", []byte("hello")); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, 5)
	if _, err := io.ReadFull(b, got); err != nil || string(got) != "hello" {
		t.Fatalf("read %q, %v", got, err)
	}
	if err := m.Route(ctx, "conn", []byte("never read")); err != nil {
		t.Fatal(err)
	}
	if err := m.Close("conn"); err != nil { // interrupts the blocked write, closes a
		t.Fatal(err)
	}
	if _, err := b.Read(got); err != io.EOF {
		t.Fatalf("peer read after Close = %v, want io.EOF", err)
	}
}

// TestBroadcastChurn broadcasts from several goroutines while endpoints
// attach, detach and fail. Run under -race: at the end every endpoint
// still open accounts for each item it was offered.
func TestBroadcastChurn(t *testing.T) {
	ctx := context.Background()
	var cut atomic.Int64
	m := NewManager(&Options{QueueLen: 8, OnDisconnect: func(string, Stats) { cut.Add(1) }})
	policies := []Policy{Block, DropOldest, Disconnect}
	for i := range 6 {
		if err := m.Attach(ctx, fmt.Sprint("stable", i), &testSink{}, &EndpointOptions{Policy: policies[i%3]}); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	for g := range 3 {
		wg.Go(func() {
			for i := range 300 {
				m.Broadcast(ctx, []byte{byte(g), byte(i)})
			}
		})
	}
	wg.Go(func() {
		for i := range 60 {
			name := fmt.Sprint("churn", i)
			var fail atomic.Bool
			fail.Store(i%3 == 0)
			s := &testSink{write: func(context.Context, []byte) error {
				if fail.Load() {
					return errors.New("viewer left")
				}
				return nil
			}}
			if err := m.Attach(ctx, name, s, &EndpointOptions{QueueLen: 2, Policy: policies[i%3]}); err != nil {
				t.Error(err)
				return
			}
			if i%2 == 0 {
				if err := m.Close(name); err != nil && !errors.Is(err, ErrUnknownEndpoint) {
					t.Error(err)
				}
			}
		}
	})
	wg.Wait()
	for _, name := range m.Names() {
		if err := m.Flush(ctx, name); err != nil && !errors.Is(err, ErrClosed) && !errors.Is(err, ErrUnknownEndpoint) {
			t.Fatal(err)
		}
		st, err := m.Stats(name)
		if err != nil {
			continue
		}
		if !st.Closed && st.Routed != st.Delivered+st.Dropped {
			t.Errorf("%s: %+v", name, st)
		}
	}
	m.CloseAll()
	t.Logf("%d endpoints cut by the manager", cut.Load())
}

// BenchmarkBroadcast measures one 1200-byte item fanned out to 8 attached
// endpoints whose sinks keep up, per item.
func BenchmarkBroadcast(b *testing.B) {
	ctx := context.Background()
	m := NewManager(nil)
	b.Cleanup(m.CloseAll)
	for i := range 8 {
		s := SinkFunc(func(context.Context, []byte) error { return nil })
		if err := m.Attach(ctx, fmt.Sprint("v", i), s, &EndpointOptions{Policy: DropOldest}); err != nil {
			b.Fatal(err)
		}
	}
	payload := make([]byte, 1200)
	b.SetBytes(int64(len(payload)))
	b.ReportAllocs()
	for b.Loop() {
		m.Broadcast(ctx, payload)
	}
	var dropped uint64
	for i := range 8 {
		st, _ := m.Stats(fmt.Sprint("v", i))
		dropped += st.Dropped
	}
	b.ReportMetric(float64(dropped)/float64(8*b.N), "dropped/delivery")
}
