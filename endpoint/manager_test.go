package endpoint

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// TestMain fails the package if any test leaves a goroutine running.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestErrors(t *testing.T) {
	ctx := context.Background()
	m := NewManager(&Options{QueueLen: 1})
	if err := m.Open("a", nil); err != nil {
		t.Fatal(err)
	}
	if err := m.Open("c", nil); err != nil {
		t.Fatal(err)
	}
	if err := m.Close("c"); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		fn   func() error
		want error
	}{
		{"open twice", func() error { return m.Open("a", nil) }, ErrExists},
		{"open negative queue", func() error { return m.Open("b", &EndpointOptions{QueueLen: -1}) }, ErrInvalidOptions},
		{"open huge queue", func() error { return m.Open("b", &EndpointOptions{QueueLen: MaxQueueLen + 1}) }, ErrInvalidOptions},
		{"route unknown", func() error { return m.Route(ctx, "b", nil) }, ErrUnknownEndpoint},
		{"try route unknown", func() error { return m.TryRoute("b", nil) }, ErrUnknownEndpoint},
		{"receive unknown", func() error { _, err := m.Receive(ctx, "b"); return err }, ErrUnknownEndpoint},
		{"len unknown", func() error { _, err := m.Len("b"); return err }, ErrUnknownEndpoint},
		{"close unknown", func() error { return m.Close("b") }, ErrUnknownEndpoint},
		{"route closed-and-removed", func() error { return m.Route(ctx, "c", nil) }, ErrUnknownEndpoint},
		{"fill", func() error { return m.TryRoute("a", []byte("1")) }, nil},
		{"try route full", func() error { return m.TryRoute("a", []byte("2")) }, ErrQueueFull},
	}
	for _, tt := range tests {
		err := tt.fn()
		if (tt.want == nil) != (err == nil) || !errors.Is(err, tt.want) {
			t.Errorf("%s: %v, want %v", tt.name, err, tt.want)
		}
	}
}

func TestDefaults(t *testing.T) {
	tests := []struct {
		opts *Options
		want int
	}{
		{nil, DefaultQueueLen},
		{&Options{QueueLen: -5}, DefaultQueueLen},
		{&Options{QueueLen: 3}, 3},
		{&Options{QueueLen: MaxQueueLen * 2}, MaxQueueLen},
	}
	for _, tt := range tests {
		m := NewManager(tt.opts)
		if err := m.Open("x", nil); err != nil {
			t.Fatal(err)
		}
		if err := m.Open("y", &EndpointOptions{QueueLen: 2}); err != nil {
			t.Fatal(err)
		}
		m.mu.RLock()
		got, gotY := cap(m.endpoints["x"].q), cap(m.endpoints["y"].q)
		m.mu.RUnlock()
		if got != tt.want || gotY != 2 {
			t.Errorf("%+v: queue %d (want %d), per-endpoint %d (want 2)", tt.opts, got, tt.want, gotY)
		}
	}
}

// TestFIFOAndOwnership checks order, that slices are handed over without a
// copy, and Names/Len.
func TestFIFOAndOwnership(t *testing.T) {
	ctx := context.Background()
	m := NewManager(nil)
	for _, n := range []string{"video", "", "telemetry"} {
		if err := m.Open(n, nil); err != nil {
			t.Fatal(err)
		}
	}
	if got := m.Names(); !slices.Equal(got, []string{"", "telemetry", "video"}) {
		t.Fatalf("Names = %q", got)
	}
	bufs := make([][]byte, 10)
	for i := range bufs {
		bufs[i] = []byte{byte(i)}
		if err := m.Route(ctx, "video", bufs[i]); err != nil {
			t.Fatal(err)
		}
	}
	if n, _ := m.Len("video"); n != 10 {
		t.Fatalf("Len = %d", n)
	}
	if n, _ := m.Len("telemetry"); n != 0 {
		t.Fatalf("other endpoint Len = %d", n)
	}
	for i := range bufs {
		b, err := m.Receive(ctx, "video")
		if err != nil || len(b) != 1 || b[0] != byte(i) || &b[0] != &bufs[i][0] {
			t.Fatalf("item %d: %v, %v (order or ownership broken)", i, b, err)
		}
	}
}

// TestBlocking covers the waits: Route on a full queue released by a
// Receive, by its context and by Close; Receive released by a Route, its
// context and Close.
func TestBlocking(t *testing.T) {
	tests := []struct {
		name    string
		block   func(m *Manager, ctx context.Context) error
		release func(m *Manager, cancel context.CancelFunc)
		want    error
	}{
		{"route released by receive",
			func(m *Manager, ctx context.Context) error { return m.Route(ctx, "e", []byte("2")) },
			func(m *Manager, _ context.CancelFunc) { m.Receive(context.Background(), "e") }, nil},
		{"route released by context",
			func(m *Manager, ctx context.Context) error { return m.Route(ctx, "e", []byte("2")) },
			func(_ *Manager, cancel context.CancelFunc) { cancel() }, context.Canceled},
		{"route released by close",
			func(m *Manager, ctx context.Context) error { return m.Route(ctx, "e", []byte("2")) },
			func(m *Manager, _ context.CancelFunc) { m.Close("e") }, ErrClosed},
		{"receive released by route",
			func(m *Manager, ctx context.Context) error { _, err := m.Receive(ctx, "f"); return err },
			func(m *Manager, _ context.CancelFunc) { m.TryRoute("f", nil) }, nil},
		{"receive released by context",
			func(m *Manager, ctx context.Context) error { _, err := m.Receive(ctx, "f"); return err },
			func(_ *Manager, cancel context.CancelFunc) { cancel() }, context.Canceled},
		{"receive released by close",
			func(m *Manager, ctx context.Context) error { _, err := m.Receive(ctx, "f"); return err },
			func(m *Manager, _ context.CancelFunc) { m.CloseAll() }, ErrClosed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := NewManager(nil)
			if err := m.Open("e", &EndpointOptions{QueueLen: 1}); err != nil {
				t.Fatal(err)
			}
			if err := m.Open("f", nil); err != nil {
				t.Fatal(err)
			}
			if err := m.TryRoute("e", []byte("1")); err != nil { // e is full
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			done := make(chan error, 1)
			go func() { done <- tt.block(m, ctx) }()
			select {
			case err := <-done:
				t.Fatalf("returned before release: %v", err)
			case <-time.After(20 * time.Millisecond):
			}
			tt.release(m, cancel)
			if err := <-done; (tt.want == nil) != (err == nil) || !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
		})
	}
}

// TestCloseDrains checks that queued items survive Close for receivers,
// that ErrClosed matches net.ErrClosed, and that the name can be reopened
// without the old receivers seeing the new queue.
func TestCloseDrains(t *testing.T) {
	ctx := context.Background()
	m := NewManager(nil)
	if err := m.Open("e", nil); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if err := m.Route(ctx, "e", []byte{byte(i)}); err != nil {
			t.Fatal(err)
		}
	}
	e := m.endpoints["e"]
	if err := m.Close("e"); err != nil {
		t.Fatal(err)
	}
	if err := m.Open("e", nil); err != nil {
		t.Fatalf("reopen: %v", err)
	}
	if err := m.Route(ctx, "e", []byte("new")); err != nil {
		t.Fatal(err)
	}
	// The old endpoint drains its three items, then reports ErrClosed.
	old := &Manager{endpoints: map[string]*endpoint{"e": e}}
	for i := range 3 {
		b, err := old.Receive(ctx, "e")
		if err != nil || b[0] != byte(i) {
			t.Fatalf("drain %d: %v, %v", i, b, err)
		}
	}
	if _, err := old.Receive(ctx, "e"); !errors.Is(err, ErrClosed) || !errors.Is(err, net.ErrClosed) {
		t.Fatalf("after drain: %v", err)
	}
	if err := old.Route(ctx, "e", nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("Route on closed: %v", err)
	}
	if err := old.TryRoute("e", nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("TryRoute on closed: %v", err)
	}
	if b, err := m.Receive(ctx, "e"); err != nil || string(b) != "new" {
		t.Fatalf("reopened endpoint: %q, %v", b, err)
	}
}

// TestConcurrent runs producers and consumers on many endpoints at once,
// closing each endpoint once its producers finish: every item routed
// successfully is received exactly once. Run under -race.
func TestConcurrent(t *testing.T) {
	const (
		endpoints = 8
		producers = 3
		items     = 500
	)
	ctx := context.Background()
	m := NewManager(&Options{QueueLen: 16})
	var prod, cons sync.WaitGroup
	results := make([]map[string]bool, endpoints)
	for e := range endpoints {
		name := fmt.Sprint("ep", e)
		if err := m.Open(name, nil); err != nil {
			t.Fatal(err)
		}
		results[e] = map[string]bool{}
		var mu sync.Mutex
		for range 2 {
			cons.Go(func() {
				for {
					b, err := m.Receive(ctx, name)
					if err != nil {
						if !errors.Is(err, ErrClosed) && !errors.Is(err, ErrUnknownEndpoint) {
							t.Error(err)
						}
						return
					}
					mu.Lock()
					if results[e][string(b)] {
						t.Errorf("%s: %s received twice", name, b)
					}
					results[e][string(b)] = true
					mu.Unlock()
				}
			})
		}
		var pw sync.WaitGroup
		for p := range producers {
			pw.Go(func() {
				for i := range items {
					if err := m.Route(ctx, name, fmt.Appendf(nil, "%d/%d", p, i)); err != nil {
						t.Error(err)
						return
					}
				}
			})
		}
		prod.Go(func() {
			pw.Wait()
			// Receivers that have not looked the endpoint up yet would get
			// ErrUnknownEndpoint after Close; give them the queue first.
			for {
				if n, _ := m.Len(name); n == 0 {
					break
				}
				time.Sleep(time.Millisecond)
			}
			if err := m.Close(name); err != nil {
				t.Error(err)
			}
		})
	}
	prod.Wait()
	cons.Wait()
	for e, r := range results {
		if len(r) != producers*items {
			t.Errorf("ep%d: received %d items, want %d", e, len(r), producers*items)
		}
	}
	if len(m.Names()) != 0 {
		t.Fatalf("endpoints left: %v", m.Names())
	}
}

// Sinks keep results alive so the compiler cannot drop the measured calls.
var (
	sinkBytes []byte
	sinkErr   error
)

func TestNoAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	ctx := context.Background()
	m := NewManager(nil)
	if err := m.Open("e", nil); err != nil {
		t.Fatal(err)
	}
	payload := make([]byte, 1200)
	tests := []struct {
		name string
		fn   func()
	}{
		{"Route+Receive", func() {
			sinkErr = m.Route(ctx, "e", payload)
			sinkBytes, sinkErr = m.Receive(ctx, "e")
		}},
		{"TryRoute+Receive", func() {
			sinkErr = m.TryRoute("e", payload)
			sinkBytes, sinkErr = m.Receive(ctx, "e")
		}},
	}
	for _, tt := range tests {
		if n := testing.AllocsPerRun(100, tt.fn); n != 0 {
			t.Errorf("%s: %v allocs, want 0", tt.name, n)
		}
		if sinkErr != nil {
			t.Fatalf("%s: %v", tt.name, sinkErr)
		}
	}
}

// BenchmarkRouteReceive measures one item through an endpoint, same
// goroutine and across two goroutines.
func BenchmarkRouteReceive(b *testing.B) {
	ctx := context.Background()
	payload := make([]byte, 1200)
	b.Run("sequential", func(b *testing.B) {
		m := NewManager(nil)
		if err := m.Open("e", nil); err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			if err := m.Route(ctx, "e", payload); err != nil {
				b.Fatal(err)
			}
			if _, err := m.Receive(ctx, "e"); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("pipelined", func(b *testing.B) {
		m := NewManager(nil)
		if err := m.Open("e", nil); err != nil {
			b.Fatal(err)
		}
		done := make(chan struct{})
		go func() {
			defer close(done)
			for {
				if _, err := m.Receive(ctx, "e"); err != nil {
					return
				}
			}
		}()
		b.ReportAllocs()
		for b.Loop() {
			if err := m.Route(ctx, "e", payload); err != nil {
				b.Fatal(err)
			}
		}
		m.CloseAll()
		<-done
	})
}
