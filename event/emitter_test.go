package event

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// TestMain fails the package if any test leaves a goroutine running.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type ctxKey struct{}

// waitTimeout bounds every wait in these tests. It only turns a hang into
// a failure; no test depends on how fast anything runs.
const waitTimeout = 20 * time.Second

// recv waits for a value on ch, failing the test after waitTimeout.
func recv[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(waitTimeout):
		t.Fatalf("timed out waiting for %s", what)
		panic("unreachable")
	}
}

// TestSync checks order, error joining, payload passing, and that a
// failing or panicking handler does not stop the next.
func TestSync(t *testing.T) {
	errA, errB := errors.New("a failed"), errors.New("b failed")
	const panics = "panics"
	tests := []struct {
		name       string
		results    []any // one handler per entry: nil, an error to return, or panics
		wantErrs   []error
		wantPanics int
	}{
		{"no handlers", nil, nil, 0},
		{"one ok", []any{nil}, nil, 0},
		{"one error", []any{errA}, []error{errA}, 0},
		{"errors joined, all run", []any{errA, nil, errB}, []error{errA, errB}, 0},
		{"panic recovered, next runs", []any{panics, nil, errB}, []error{errB}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := NewEmitter(nil)
			defer e.Close()
			var order []int
			for i, r := range tt.results {
				e.On("ev", func(ctx context.Context, p any) error {
					if p != "payload" || ctx.Value(ctxKey{}) != "v" {
						t.Errorf("handler %d got %v / %v", i, p, ctx.Value(ctxKey{}))
					}
					order = append(order, i)
					switch r := r.(type) {
					case error:
						return r
					case string:
						panic(r)
					}
					return nil
				})
			}
			e.On("other", func(context.Context, any) error { t.Error("other event's handler ran"); return nil })
			err := e.Emit(context.WithValue(context.Background(), ctxKey{}, "v"), "ev", "payload")
			for _, w := range tt.wantErrs {
				if !errors.Is(err, w) {
					t.Errorf("Emit = %v; missing %v", err, w)
				}
			}
			var pe *PanicError
			if gotPanic := errors.As(err, &pe); gotPanic != (tt.wantPanics > 0) {
				t.Errorf("Emit = %v; panic reported %v, want %v", err, gotPanic, tt.wantPanics > 0)
			} else if gotPanic && (pe.Value != panics || len(pe.Stack) == 0) {
				t.Errorf("PanicError %+v", pe)
			}
			if (err == nil) != (len(tt.wantErrs)+tt.wantPanics == 0) {
				t.Errorf("Emit = %v, want errors %v and %d panics", err, tt.wantErrs, tt.wantPanics)
			}
			if want := []int{0, 1, 2}[:len(tt.results)]; !slices.Equal(order, want) {
				t.Errorf("order %v, want %v", order, want)
			}
			failed := uint64(len(tt.wantErrs) + tt.wantPanics)
			want := Stats{Emitted: 1, Delivered: uint64(len(tt.results)), Failed: failed, Panicked: uint64(tt.wantPanics)}
			if s := e.Stats(); s != want {
				t.Errorf("stats %+v, want %+v", s, want)
			}
		})
	}
}

func TestUnsubscribe(t *testing.T) {
	e := NewEmitter(nil)
	defer e.Close()
	var got []string
	mk := func(s string) Handler {
		return func(context.Context, any) error { got = append(got, s); return nil }
	}
	e.On("ev", mk("a"))
	unB := e.On("ev", mk("b"))
	e.On("ev", mk("c"))
	unB()
	unB() // idempotent
	if err := e.Emit(context.Background(), "ev", nil); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, []string{"a", "c"}) {
		t.Fatalf("ran %v, want [a c]", got)
	}
	// Unsubscribing from inside a handler affects the next Emit only.
	got = nil
	var unD func()
	unD = e.On("self", func(context.Context, any) error { got = append(got, "d"); unD(); return nil })
	for range 2 {
		if err := e.Emit(context.Background(), "self", nil); err != nil {
			t.Fatal(err)
		}
	}
	if !slices.Equal(got, []string{"d"}) {
		t.Fatalf("self-unsubscribing handler ran %v", got)
	}
}

// TestUnsubscribeAsync checks that an unsubscribed asynchronous handler
// still runs what was queued, gets nothing after, and that its goroutine
// exits without Close (goleak.Find would see it otherwise).
func TestUnsubscribeAsync(t *testing.T) {
	e := NewEmitter(nil)
	defer e.Close()
	release := make(chan struct{})
	var ran atomic.Int32
	var un func()
	un = e.OnAsync("ev", func(context.Context, any) error {
		<-release
		ran.Add(1)
		un() // from inside the handler: must not deadlock
		return nil
	})
	for range 3 {
		if err := e.Emit(context.Background(), "ev", nil); err != nil {
			t.Fatal(err)
		}
	}
	un()
	if err := e.Emit(context.Background(), "ev", nil); err != nil { // no handler any more
		t.Fatal(err)
	}
	close(release)
	deadline := time.Now().Add(waitTimeout)
	for goleak.Find() != nil {
		if time.Now().After(deadline) {
			t.Fatalf("unsubscribed handler's goroutine still running: %v", goleak.Find())
		}
		time.Sleep(time.Millisecond)
	}
	if ran.Load() != 3 {
		t.Fatalf("handler ran %d times, want the 3 queued before unsubscribe", ran.Load())
	}
}

func TestNilHandlerPanics(t *testing.T) {
	e := NewEmitter(nil)
	defer e.Close()
	defer func() {
		if r := recover(); r != ErrNilHandler {
			t.Fatalf("recover = %v, want ErrNilHandler", r)
		}
	}()
	e.On("x", nil)
}

// TestAsyncErrorsToCallback checks that every async error and panic
// reaches OnError, with the event name, and is counted; the panicking
// handler keeps receiving events after each panic.
func TestAsyncErrorsToCallback(t *testing.T) {
	var mu sync.Mutex
	var got []*AsyncError
	e := NewEmitter(&Options{OnError: func(ae *AsyncError) {
		mu.Lock()
		got = append(got, ae)
		mu.Unlock()
	}})
	errX := errors.New("x")
	e.OnAsync("ev", func(context.Context, any) error { return errX })
	e.OnAsync("ev", func(context.Context, any) error { panic("boom") })
	e.OnAsync("ev", func(context.Context, any) error { return nil })
	for range 10 {
		if err := e.Emit(context.Background(), "ev", nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.Close(); err != nil {
		t.Fatalf("Close with OnError = %v", err)
	}
	var plain, panics int
	for _, ae := range got {
		var pe *PanicError
		switch {
		case ae.Event != "ev":
			t.Errorf("event %q", ae.Event)
		case errors.Is(ae, errX):
			plain++
		case errors.As(ae, &pe) && pe.Value == "boom" && len(pe.Stack) > 0:
			panics++
		default:
			t.Errorf("unexpected %v", ae)
		}
	}
	if plain != 10 || panics != 10 {
		t.Fatalf("%d errors, %d panics reported; want 10 each", plain, panics)
	}
	want := Stats{Emitted: 10, Delivered: 30, Failed: 20, Panicked: 10}
	if s := e.Stats(); s != want {
		t.Fatalf("stats %+v, want %+v", s, want)
	}
}

// TestOnErrorPanics checks that a panicking OnError does not kill the
// handler goroutine: the error is kept for Close instead.
func TestOnErrorPanics(t *testing.T) {
	e := NewEmitter(&Options{OnError: func(*AsyncError) { panic("hook") }})
	errX := errors.New("x")
	e.OnAsync("ev", func(context.Context, any) error { return errX })
	for range 2 {
		if err := e.Emit(context.Background(), "ev", nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.Close(); !errors.Is(err, errX) {
		t.Fatalf("Close = %v, want the kept %v", err, errX)
	}
	if s := e.Stats(); s.Delivered != 2 || s.Failed != 2 {
		t.Fatalf("stats %+v", s)
	}
}

// TestAsyncErrorsToClose checks that without OnError the errors come back
// from Close, bounded, with the overflow counted.
func TestAsyncErrorsToClose(t *testing.T) {
	tests := []struct {
		n        int
		overflow bool
	}{{0, false}, {3, false}, {maxRetainedErrors + 5, true}}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.n), func(t *testing.T) {
			e := NewEmitter(nil)
			e.OnAsync("ev", func(_ context.Context, p any) error { return fmt.Errorf("err %d", p) })
			for i := range tt.n {
				if err := e.Emit(context.Background(), "ev", i); err != nil {
					t.Fatal(err)
				}
			}
			err := e.Close()
			if tt.n == 0 {
				if err != nil {
					t.Fatalf("Close = %v", err)
				}
				return
			}
			var ae *AsyncError
			if !errors.As(err, &ae) || ae.Event != "ev" || ae.Error() != `event "ev": async handler: err 0` {
				t.Fatalf("Close = %v, want AsyncErrors", err)
			}
			joined, _ := err.(interface{ Unwrap() []error })
			want := min(tt.n, maxRetainedErrors)
			if tt.overflow {
				want++
			}
			if len(joined.Unwrap()) != want {
				t.Fatalf("%d errors from Close, want %d", len(joined.Unwrap()), want)
			}
			if e.Stats().Failed != uint64(tt.n) {
				t.Fatalf("counted %d", e.Stats().Failed)
			}
		})
	}
}

// TestAsyncContext checks that async handlers see Emit's values but not
// its cancellation, and that context.Cause follows the emitter.
func TestAsyncContext(t *testing.T) {
	e := NewEmitter(nil)
	got := make(chan error, 1)
	release := make(chan struct{})
	e.OnAsync("ev", func(ctx context.Context, _ any) error {
		<-release
		switch {
		case ctx.Value(ctxKey{}) != "v":
			got <- errors.New("value lost")
		case context.Cause(ctx) != nil:
			got <- fmt.Errorf("cause %v before shutdown", context.Cause(ctx))
		default:
			got <- ctx.Err()
		}
		return nil
	})
	ctx, cancel := context.WithCancelCause(context.WithValue(context.Background(), ctxKey{}, "v"))
	if err := e.Emit(ctx, "ev", nil); err != nil {
		t.Fatal(err)
	}
	cancel(errors.New("emitter's caller gave up"))
	close(release)
	if err := recv(t, got, "handler"); err != nil {
		t.Fatalf("async handler context: %v", err)
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestBlockedHandler is the issue-15 case: an asynchronous handler that
// blocks forever. Emit keeps returning, the handler's own queue fills and
// the excess is dropped and counted, other handlers keep running, and
// Shutdown with a deadline cancels the handler and leaves no goroutine
// (TestMain's goleak check).
func TestBlockedHandler(t *testing.T) {
	const queueLen, extra = 8, 1000
	e := NewEmitter(&Options{QueueLen: queueLen})
	entered := make(chan struct{}, 1)
	var gotCause atomic.Value
	e.OnAsync("ev", func(ctx context.Context, _ any) error {
		select {
		case entered <- struct{}{}:
		default:
		}
		<-ctx.Done() // blocked until the emitter gives up on it
		gotCause.Store(context.Cause(ctx))
		return ctx.Err()
	})
	other := make(chan int, extra+1)
	e.OnAsync("other", func(_ context.Context, p any) error { other <- p.(int); return nil })

	emitted := make(chan error, 1)
	go func() {
		if err := e.Emit(context.Background(), "ev", 0); err != nil {
			emitted <- err
			return
		}
		<-entered // the handler holds event 0; its queue is empty
		for i := range extra {
			if err := e.Emit(context.Background(), "ev", i+1); err != nil {
				emitted <- err
				return
			}
			if err := e.Emit(context.Background(), "other", i); err != nil {
				emitted <- err
				return
			}
			select { // the other handler is isolated from the blocked one
			case <-other:
			case <-time.After(waitTimeout):
				emitted <- errors.New("the other handler stalled")
				return
			}
		}
		emitted <- nil
	}()
	if err := recv(t, emitted, "Emit past a blocked handler"); err != nil {
		t.Fatal(err)
	}
	if s := e.Stats(); s.Dropped != extra-queueLen {
		t.Fatalf("dropped %d, want %d (queue %d of %d extra events)", s.Dropped, extra-queueLen, queueLen, extra)
	}

	ctx, cancel := context.WithTimeoutCause(context.Background(), 10*time.Millisecond, errors.New("shutdown deadline"))
	defer cancel()
	err := e.Shutdown(ctx)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown = %v, want it to report its expired context", err)
	}
	var ae *AsyncError
	if !errors.As(err, &ae) || !errors.Is(ae, context.Canceled) {
		t.Fatalf("Shutdown = %v, want the handler's context error", err)
	}
	if c, _ := gotCause.Load().(error); c == nil || c.Error() != "shutdown deadline" {
		t.Fatalf("handler's context cause %v, want the Shutdown context's", c)
	}
	// Event 0 ran (and failed); the queued ones were discarded.
	want := Stats{Emitted: 2*extra + 1, Delivered: 1 + extra, Failed: 1, Dropped: extra}
	if s := e.Stats(); s != want {
		t.Fatalf("stats %+v, want %+v", s, want)
	}
	if err := e.Emit(context.Background(), "ev", nil); !errors.Is(err, ErrClosed) || !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Emit after Shutdown = %v", err)
	}
}

// TestCloseDrains checks that Close waits for a slow handler to finish its
// whole queue, drops nothing, and that later Emits and registrations are
// refused.
func TestCloseDrains(t *testing.T) {
	const queueLen = 16
	e := NewEmitter(&Options{QueueLen: queueLen})
	release := make(chan struct{})
	var got []int
	e.OnAsync("ev", func(_ context.Context, p any) error {
		<-release
		got = append(got, p.(int)) // only this goroutine touches got until Close returns
		return nil
	})
	for i := range queueLen {
		if err := e.Emit(context.Background(), "ev", i); err != nil {
			t.Fatal(err)
		}
	}
	closed := make(chan error, 1)
	go func() { closed <- e.Close() }()
	select {
	case err := <-closed:
		t.Fatalf("Close returned %v before the handler finished", err)
	case <-time.After(10 * time.Millisecond):
	}
	close(release)
	if err := recv(t, closed, "Close"); err != nil {
		t.Fatal(err)
	}
	if want := []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}; !slices.Equal(got, want) {
		t.Fatalf("handled %v, want %v in order", got, want)
	}
	if s := e.Stats(); s.Dropped != 0 || s.Delivered != queueLen {
		t.Fatalf("stats %+v", s)
	}
	if err := e.Emit(context.Background(), "ev", 99); !errors.Is(err, ErrClosed) {
		t.Fatalf("Emit after Close = %v", err)
	}
	e.OnAsync("ev", func(context.Context, any) error { t.Error("registered after Close"); return nil })()
	if err := e.Close(); err != nil {
		t.Fatalf("second Close = %v", err)
	}
}

// TestConcurrent emits, registers and unsubscribes from many goroutines,
// with async handlers that emit further events. Every delivery is either
// run or counted as dropped. Run under -race.
func TestConcurrent(t *testing.T) {
	e := NewEmitter(&Options{QueueLen: 4})
	var syncCount, asyncCount atomic.Int64
	e.On("a", func(context.Context, any) error { syncCount.Add(1); return nil })
	e.OnAsync("a", func(ctx context.Context, _ any) error {
		asyncCount.Add(1)
		if err := e.Emit(ctx, "b", nil); err != nil && !errors.Is(err, ErrClosed) {
			return err
		}
		return nil
	})
	e.OnAsync("b", func(context.Context, any) error { asyncCount.Add(1); return nil })
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 200 {
				if err := e.Emit(context.Background(), "a", i); err != nil {
					t.Error(err)
					return
				}
				if i%50 == 0 {
					un := e.OnAsync(fmt.Sprint("tmp", g), func(context.Context, any) error { return nil })
					un()
				}
			}
		})
	}
	wg.Wait()
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	s := e.Stats()
	if syncCount.Load() != 800 {
		t.Fatalf("sync handler ran %d times, want 800", syncCount.Load())
	}
	// Every "a" queues one async delivery; every "a" handler run emits one
	// "b" (or finds the emitter closed, which Emitted does not count).
	emittedB := s.Emitted - 800
	if asyncDeliveries := 800 + emittedB; s.Delivered-800+s.Dropped != asyncDeliveries || uint64(asyncCount.Load()) != s.Delivered-800 {
		t.Fatalf("stats %+v, async runs %d: deliveries not accounted for", s, asyncCount.Load())
	}
}

// TestNoGoroutinesForSync checks that an emitter with only synchronous
// handlers starts no goroutines (goleak in TestMain would also catch a
// leak from an unclosed emitter).
func TestNoGoroutinesForSync(t *testing.T) {
	e := NewEmitter(nil)
	e.On("x", func(context.Context, any) error { return nil })
	if err := e.Emit(context.Background(), "x", nil); err != nil {
		t.Fatal(err)
	}
	if err := goleak.Find(); err != nil {
		t.Fatalf("sync-only emitter started goroutines: %v", err)
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestOptions(t *testing.T) {
	tests := []struct {
		opts *Options
		want int
	}{
		{nil, DefaultQueueLen},
		{&Options{QueueLen: -1}, DefaultQueueLen},
		{&Options{QueueLen: 3}, 3},
		{&Options{QueueLen: MaxQueueLen + 1}, MaxQueueLen},
	}
	for _, tt := range tests {
		e := NewEmitter(tt.opts)
		e.OnAsync("x", func(context.Context, any) error { return nil })
		e.regMu.RLock()
		got := cap(e.handlers["x"][0].q)
		e.regMu.RUnlock()
		if err := e.Close(); err != nil {
			t.Fatal(err)
		}
		if got != tt.want {
			t.Errorf("%+v: queue %d, want %d", tt.opts, got, tt.want)
		}
	}
}

// BenchmarkEmit measures Emit with one synchronous handler, and with one
// asynchronous handler whose goroutine keeps up (or drops).
func BenchmarkEmit(b *testing.B) {
	ctx := context.Background()
	b.Run("sync", func(b *testing.B) {
		e := NewEmitter(nil)
		b.Cleanup(func() { e.Close() })
		e.On("ev", func(context.Context, any) error { return nil })
		b.ReportAllocs()
		for b.Loop() {
			if err := e.Emit(ctx, "ev", nil); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("async", func(b *testing.B) {
		e := NewEmitter(nil)
		e.OnAsync("ev", func(context.Context, any) error { return nil })
		b.ReportAllocs()
		for b.Loop() {
			if err := e.Emit(ctx, "ev", nil); err != nil {
				b.Fatal(err)
			}
		}
		if err := e.Close(); err != nil {
			b.Fatal(err)
		}
		s := e.Stats()
		b.ReportMetric(float64(s.Dropped)/float64(s.Emitted), "dropped/op")
	})
}

// sinkErr keeps results alive so the compiler cannot drop the measured calls.
var sinkErr error

func TestNoAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	e := NewEmitter(&Options{QueueLen: 1})
	defer e.Close()
	e.On("ev", func(context.Context, any) error { return nil })
	e.On("ev", func(context.Context, any) error { return nil })
	// A blocked asynchronous handler: its queue fills at once, so every
	// later Emit takes the drop path, with nothing running concurrently.
	release := make(chan struct{})
	defer close(release)
	e.OnAsync("full", func(context.Context, any) error { <-release; return nil })
	for range 2 {
		if err := e.Emit(context.Background(), "full", nil); err != nil {
			t.Fatal(err)
		}
	}
	ctx := context.Background()
	tests := []struct {
		name string
		fn   func()
	}{
		{"Emit sync handlers", func() { sinkErr = e.Emit(ctx, "ev", nil) }},
		{"Emit no handlers", func() { sinkErr = e.Emit(ctx, "none", nil) }},
		{"Emit async, queue full", func() { sinkErr = e.Emit(ctx, "full", nil) }},
	}
	for _, tt := range tests {
		if n := testing.AllocsPerRun(100, tt.fn); n != 0 {
			t.Errorf("%s: %v allocs, want 0", tt.name, n)
		}
	}
}
