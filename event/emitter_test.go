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

// TestSync checks order, error joining, payload passing and that a
// failing handler does not stop the next.
func TestSync(t *testing.T) {
	errA, errB := errors.New("a failed"), errors.New("b failed")
	tests := []struct {
		name     string
		results  []error // one handler per entry, returning it
		wantErrs []error
	}{
		{"no handlers", nil, nil},
		{"one ok", []error{nil}, nil},
		{"one error", []error{errA}, []error{errA}},
		{"errors joined, all run", []error{errA, nil, errB}, []error{errA, errB}},
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
					return r
				})
			}
			e.On("other", func(context.Context, any) error { t.Error("other event's handler ran"); return nil })
			err := e.Emit(context.WithValue(context.Background(), ctxKey{}, "v"), "ev", "payload")
			for _, w := range tt.wantErrs {
				if !errors.Is(err, w) {
					t.Errorf("Emit = %v; missing %v", err, w)
				}
			}
			if (err == nil) != (len(tt.wantErrs) == 0) {
				t.Errorf("Emit = %v, want errors %v", err, tt.wantErrs)
			}
			if want := []int{0, 1, 2}[:len(tt.results)]; !slices.Equal(order, want) {
				t.Errorf("order %v, want %v", order, want)
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
// reaches OnError, with the event name, and is counted.
func TestAsyncErrorsToCallback(t *testing.T) {
	var mu sync.Mutex
	var got []*AsyncError
	e := NewEmitter(&Options{Workers: 2, OnError: func(ae *AsyncError) {
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
	if s := e.Stats(); s.Emitted != 10 || s.AsyncRun != 30 || s.AsyncErrors != 20 {
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
			e := NewEmitter(&Options{Workers: 1})
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
			if !errors.As(err, &ae) || ae.Event != "ev" {
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
			if e.Stats().AsyncErrors != uint64(tt.n) {
				t.Fatalf("counted %d", e.Stats().AsyncErrors)
			}
		})
	}
}

// TestAsyncContext checks that async handlers see Emit's values but not
// its cancellation.
func TestAsyncContext(t *testing.T) {
	e := NewEmitter(nil)
	got := make(chan error, 1)
	release := make(chan struct{})
	e.OnAsync("ev", func(ctx context.Context, _ any) error {
		<-release
		if ctx.Value(ctxKey{}) != "v" {
			got <- errors.New("value lost")
		} else {
			got <- ctx.Err()
		}
		return nil
	})
	ctx, cancel := context.WithCancel(context.WithValue(context.Background(), ctxKey{}, "v"))
	if err := e.Emit(ctx, "ev", nil); err != nil {
		t.Fatal(err)
	}
	cancel()
	close(release)
	if err := <-got; err != nil {
		t.Fatalf("async handler context: %v", err)
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestBackpressure fills the queue while the single worker is blocked:
// Emit waits, then returns ctx's error when it ends, or ErrClosed when
// Close runs; Close still runs every accepted job.
func TestBackpressure(t *testing.T) {
	e := NewEmitter(&Options{Workers: 1, QueueLen: 1})
	block := make(chan struct{})
	var ran atomic.Int32
	e.OnAsync("ev", func(context.Context, any) error { <-block; ran.Add(1); return nil })
	ctx := context.Background()
	if err := e.Emit(ctx, "ev", nil); err != nil { // taken by the worker
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for { // wait until the worker holds the first job, so the queue is empty
		if len(e.jobs) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("worker never took the job")
		}
		time.Sleep(time.Millisecond)
	}
	if err := e.Emit(ctx, "ev", nil); err != nil { // fills the queue
		t.Fatal(err)
	}
	tctx, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	if err := e.Emit(tctx, "ev", nil); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Emit on full queue = %v, want DeadlineExceeded", err)
	}
	waiting := make(chan error, 1)
	go func() { waiting <- e.Emit(ctx, "ev", nil) }()
	closed := make(chan error, 1)
	go func() {
		time.Sleep(20 * time.Millisecond)
		closed <- e.Close()
	}()
	if err := <-waiting; !errors.Is(err, ErrClosed) || !errors.Is(err, net.ErrClosed) {
		t.Fatalf("waiting Emit = %v, want ErrClosed", err)
	}
	close(block)
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
	if ran.Load() != 2 {
		t.Fatalf("%d accepted jobs ran, want 2", ran.Load())
	}
	if err := e.Emit(ctx, "ev", nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("Emit after Close = %v", err)
	}
	if err := e.Close(); err != nil {
		t.Fatalf("second Close = %v", err)
	}
}

// TestConcurrent emits, registers and unsubscribes from many goroutines,
// with async handlers that emit further events. Run under -race.
func TestConcurrent(t *testing.T) {
	e := NewEmitter(&Options{Workers: 3, QueueLen: 8})
	var syncCount, asyncCount atomic.Int64
	e.On("a", func(context.Context, any) error { syncCount.Add(1); return nil })
	e.OnAsync("a", func(ctx context.Context, _ any) error {
		asyncCount.Add(1)
		return e.Emit(ctx, "b", nil) // never waits: runs inline when the queue is full
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
					un := e.On(fmt.Sprint("tmp", g), func(context.Context, any) error { return nil })
					un()
				}
			}
		})
	}
	wg.Wait()
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	if syncCount.Load() != 800 || asyncCount.Load() != 1600 {
		t.Fatalf("sync %d (want 800), async %d (want 1600)", syncCount.Load(), asyncCount.Load())
	}
}

// TestNoWorkersUntilAsync checks that an emitter with only synchronous
// handlers starts no goroutines (goleak in TestMain would also catch a
// leak from an unclosed emitter).
func TestNoWorkersUntilAsync(t *testing.T) {
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

// BenchmarkEmit measures Emit with one synchronous handler, and with one
// asynchronous handler through the worker pool.
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
	})
}

// sinkErr keeps results alive so the compiler cannot drop the measured calls.
var sinkErr error

func TestNoAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	e := NewEmitter(nil)
	defer e.Close()
	e.On("ev", func(context.Context, any) error { return nil })
	e.On("ev", func(context.Context, any) error { return nil })
	ctx := context.Background()
	tests := []struct {
		name string
		fn   func()
	}{
		{"Emit sync handlers", func() { sinkErr = e.Emit(ctx, "ev", nil) }},
		{"Emit no handlers", func() { sinkErr = e.Emit(ctx, "none", nil) }},
	}
	for _, tt := range tests {
		if n := testing.AllocsPerRun(100, tt.fn); n != 0 {
			t.Errorf("%s: %v allocs, want 0", tt.name, n)
		}
	}
}
