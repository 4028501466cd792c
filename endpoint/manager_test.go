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

// waitTimeout bounds every wait in these tests. It only turns a hang into
// a failure; no test depends on how fast anything runs.
const waitTimeout = 20 * time.Second

func TestErrors(t *testing.T) {
	ctx := context.Background()
	m := NewManager(&Options{QueueLen: 1, QueueBytes: 4})
	defer m.CloseAll()
	for _, n := range []string{"a", "c"} {
		if err := m.Open(n, nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := m.Close("c"); err != nil {
		t.Fatal(err)
	}
	if err := m.Attach(ctx, "s", &testSink{}, nil); err != nil {
		t.Fatal(err)
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	tests := []struct {
		name string
		fn   func() error
		want error
	}{
		{"open twice", func() error { return m.Open("a", nil) }, ErrExists},
		{"attach over open", func() error { return m.Attach(ctx, "a", &testSink{}, nil) }, ErrExists},
		{"open negative queue", func() error { return m.Open("b", &EndpointOptions{QueueLen: -1}) }, ErrInvalidOptions},
		{"open huge queue", func() error { return m.Open("b", &EndpointOptions{QueueLen: MaxQueueLen + 1}) }, ErrInvalidOptions},
		{"open negative bytes", func() error { return m.Open("b", &EndpointOptions{QueueBytes: -1}) }, ErrInvalidOptions},
		{"open huge bytes", func() error { return m.Open("b", &EndpointOptions{QueueBytes: MaxQueueBytes + 1}) }, ErrInvalidOptions},
		{"open unknown policy", func() error { return m.Open("b", &EndpointOptions{Policy: Disconnect + 1}) }, ErrInvalidOptions},
		{"attach nil sink", func() error { return m.Attach(ctx, "b", nil, nil) }, ErrInvalidOptions},
		{"attach ended context", func() error { return m.Attach(cancelled, "b", &testSink{}, nil) }, context.Canceled},
		{"route unknown", func() error { return m.Route(ctx, "b", nil) }, ErrUnknownEndpoint},
		{"try route unknown", func() error { return m.TryRoute("b", nil) }, ErrUnknownEndpoint},
		{"receive unknown", func() error { _, err := m.Receive(ctx, "b"); return err }, ErrUnknownEndpoint},
		{"receive from sink", func() error { _, err := m.Receive(ctx, "s"); return err }, ErrHasSink},
		{"len unknown", func() error { _, err := m.Len("b"); return err }, ErrUnknownEndpoint},
		{"stats unknown", func() error { _, err := m.Stats("b"); return err }, ErrUnknownEndpoint},
		{"flush unknown", func() error { return m.Flush(ctx, "b") }, ErrUnknownEndpoint},
		{"close unknown", func() error { return m.Close("b") }, ErrUnknownEndpoint},
		{"route closed-and-removed", func() error { return m.Route(ctx, "c", nil) }, ErrUnknownEndpoint},
		{"too large", func() error { return m.Route(ctx, "a", []byte("12345")) }, ErrTooLarge},
		{"fill", func() error { return m.TryRoute("a", []byte("1")) }, nil},
		{"try route full", func() error { return m.TryRoute("a", []byte("2")) }, ErrQueueFull},
	}
	for _, tt := range tests {
		err := tt.fn()
		if (tt.want == nil) != (err == nil) || !errors.Is(err, tt.want) {
			t.Errorf("%s: %v, want %v", tt.name, err, tt.want)
		}
	}
	m.CloseAll()
	if err := m.Open("z", nil); !errors.Is(err, ErrClosed) {
		t.Errorf("Open after CloseAll: %v", err)
	}
	if err := m.Attach(ctx, "z", &testSink{}, nil); !errors.Is(err, ErrClosed) {
		t.Errorf("Attach after CloseAll: %v", err)
	}
}

func TestDefaults(t *testing.T) {
	tests := []struct {
		opts              *Options
		wantLen, wantByte int
	}{
		{nil, DefaultQueueLen, DefaultQueueBytes},
		{&Options{QueueLen: -5, QueueBytes: -5}, DefaultQueueLen, DefaultQueueBytes},
		{&Options{QueueLen: 3, QueueBytes: 7}, 3, 7},
		{&Options{QueueLen: MaxQueueLen * 2, QueueBytes: MaxQueueBytes * 2}, MaxQueueLen, MaxQueueBytes},
	}
	for _, tt := range tests {
		m := NewManager(tt.opts)
		if err := m.Open("x", nil); err != nil {
			t.Fatal(err)
		}
		if err := m.Open("y", &EndpointOptions{QueueLen: 2, QueueBytes: 9, Policy: DropOldest}); err != nil {
			t.Fatal(err)
		}
		x, y := m.endpoints["x"], m.endpoints["y"]
		if x.maxLen != tt.wantLen || x.maxBytes != tt.wantByte || x.policy != Block {
			t.Errorf("%+v: queue %d items / %d bytes / %v, want %d / %d / block", tt.opts, x.maxLen, x.maxBytes, x.policy, tt.wantLen, tt.wantByte)
		}
		if y.maxLen != 2 || y.maxBytes != 9 || y.policy != DropOldest {
			t.Errorf("per-endpoint options ignored: %d / %d / %v", y.maxLen, y.maxBytes, y.policy)
		}
		m.CloseAll()
	}
}

func TestPolicyString(t *testing.T) {
	for p, want := range map[Policy]string{Block: "block", DropOldest: "drop-oldest", Disconnect: "disconnect", 7: "Policy(7)"} {
		if got := p.String(); got != want {
			t.Errorf("%d: %q, want %q", p, got, want)
		}
	}
}

// TestFIFOAndOwnership checks order (across the ring's growth and
// wrap-around), that slices are handed over without a copy, and
// Names/Len/Stats.
func TestFIFOAndOwnership(t *testing.T) {
	ctx := context.Background()
	m := NewManager(nil)
	defer m.CloseAll()
	for _, n := range []string{"video", "", "telemetry"} {
		if err := m.Open(n, nil); err != nil {
			t.Fatal(err)
		}
	}
	if got := m.Names(); !slices.Equal(got, []string{"", "telemetry", "video"}) {
		t.Fatalf("Names = %q", got)
	}
	const n = 5*minRing + 3
	bufs := make([][]byte, n)
	next := 0 // index of the item the next Receive must return
	check := func() {
		t.Helper()
		b, err := m.Receive(ctx, "video")
		if err != nil || &b[0] != &bufs[next][0] {
			t.Fatalf("receive: got %v, %v; want item %d (order or ownership broken)", b, err, next)
		}
		next++
	}
	for i := range bufs {
		bufs[i] = []byte{byte(i)}
		if err := m.Route(ctx, "video", bufs[i]); err != nil {
			t.Fatal(err)
		}
		if i%3 == 2 { // receive less than is routed: the ring grows and wraps
			check()
		}
	}
	if l, _ := m.Len("video"); l != n-next {
		t.Fatalf("Len = %d, want %d", l, n-next)
	}
	if l, _ := m.Len("telemetry"); l != 0 {
		t.Fatalf("other endpoint Len = %d", l)
	}
	for next < n {
		check()
	}
	st, _ := m.Stats("video")
	if st.Routed != n || st.Delivered != n || st.DeliveredBytes != n || st.Dropped != 0 || st.Queued != 0 || st.Closed {
		t.Fatalf("stats %+v", st)
	}
}

// TestBlocking covers the waits of a Block endpoint: Route on a full queue
// released by a Receive, by its context and by Close; Receive released by
// a Route, its context and Close.
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
		{"broadcast released by receive",
			func(m *Manager, ctx context.Context) error {
				if n := m.Broadcast(ctx, []byte("2")); n != 2 {
					return fmt.Errorf("broadcast queued on %d endpoints, want 2", n)
				}
				return nil
			},
			func(m *Manager, _ context.CancelFunc) { m.Receive(context.Background(), "e") }, nil},
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
			defer m.CloseAll()
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
			if err := recv(t, done); (tt.want == nil) != (err == nil) || !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
		})
	}
}

// TestManyBlockedRouters checks that Block waiters all get through when
// one consumer frees several slots in a row (the wake-up is passed on).
func TestManyBlockedRouters(t *testing.T) {
	ctx := context.Background()
	m := NewManager(&Options{QueueLen: 2})
	defer m.CloseAll()
	if err := m.Open("e", nil); err != nil {
		t.Fatal(err)
	}
	const routers, each = 5, 50
	var wg sync.WaitGroup
	for r := range routers {
		wg.Go(func() {
			for i := range each {
				if err := m.Route(ctx, "e", []byte{byte(r), byte(i)}); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	last := make([]int, routers)
	for i := range last {
		last[i] = -1
	}
	for range routers * each {
		rctx, cancel := context.WithTimeout(ctx, waitTimeout)
		b, err := m.Receive(rctx, "e")
		cancel()
		if err != nil {
			t.Fatalf("receive: %v (a router is stuck with room in the queue)", err)
		}
		if int(b[1]) != last[b[0]]+1 {
			t.Fatalf("router %d: item %d after %d", b[0], b[1], last[b[0]])
		}
		last[b[0]] = int(b[1])
	}
	wg.Wait()
}

// TestDropOldest checks eviction by count and by bytes, and that an item
// larger than the byte budget is refused and counted.
func TestDropOldest(t *testing.T) {
	tests := []struct {
		name         string
		queueLen     int
		queueBytes   int
		items        []string
		want         []string // left in the queue, oldest first
		wantDropped  uint64
		wantTooLarge int // items refused with ErrTooLarge
	}{
		{"fits", 4, 100, []string{"a", "b", "c"}, []string{"a", "b", "c"}, 0, 0},
		{"count bound", 2, 100, []string{"a", "b", "c", "d"}, []string{"c", "d"}, 2, 0},
		{"byte bound", 100, 5, []string{"aa", "bb", "cc", "d"}, []string{"bb", "cc", "d"}, 1, 0},
		{"byte bound evicts several", 100, 6, []string{"a", "b", "c", "dddddd"}, []string{"dddddd"}, 3, 0},
		{"too large kept out", 100, 3, []string{"a", "bbbb", "c"}, []string{"a", "c"}, 1, 1},
		{"empty items count", 2, 1, []string{"", "", "", "x"}, []string{"", "x"}, 2, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			m := NewManager(nil)
			defer m.CloseAll()
			if err := m.Open("e", &EndpointOptions{QueueLen: tt.queueLen, QueueBytes: tt.queueBytes, Policy: DropOldest}); err != nil {
				t.Fatal(err)
			}
			tooLarge := 0
			for _, it := range tt.items {
				err := m.Route(ctx, "e", []byte(it))
				switch {
				case errors.Is(err, ErrTooLarge):
					tooLarge++
				case err != nil:
					t.Fatal(err)
				}
			}
			st, _ := m.Stats("e")
			var got []string
			for range st.Queued {
				b, err := m.Receive(ctx, "e")
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, string(b))
			}
			if !slices.Equal(got, tt.want) || tooLarge != tt.wantTooLarge || st.Dropped != tt.wantDropped {
				t.Fatalf("queue %q, %d too large, %d dropped; want %q, %d, %d", got, tooLarge, st.Dropped, tt.want, tt.wantTooLarge, tt.wantDropped)
			}
			if st.Routed != uint64(len(tt.items)) || st.Routed != st.Dropped+uint64(len(got)) {
				t.Fatalf("stats %+v for %d items", st, len(tt.items))
			}
		})
	}
}

// TestDisconnectPull checks the Disconnect policy on an endpoint without a
// Sink: the overflowing Route gets ErrSlow, the queue is discarded and
// counted, the endpoint is removed and reported to OnDisconnect, a waiting
// Receive learns why, and the name can be reused.
func TestDisconnectPull(t *testing.T) {
	ctx := context.Background()
	var got []Stats
	m := NewManager(&Options{OnDisconnect: func(name string, st Stats) {
		if name != "viewer" {
			t.Errorf("OnDisconnect(%q)", name)
		}
		got = append(got, st)
	}})
	defer m.CloseAll()
	if err := m.Open("viewer", &EndpointOptions{QueueLen: 2, Policy: Disconnect}); err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		if err := m.Route(ctx, "viewer", []byte{byte(i)}); err != nil {
			t.Fatal(err)
		}
	}
	ep := m.endpoints["viewer"]
	err := m.Route(ctx, "viewer", []byte{2})
	var ce *ClosedError
	if !errors.As(err, &ce) || !errors.Is(err, ErrSlow) || !errors.Is(err, ErrClosed) || !errors.Is(err, net.ErrClosed) || ce.Endpoint != "viewer" {
		t.Fatalf("overflowing Route = %v, want a *ClosedError with ErrSlow", err)
	}
	if _, err := ep.receive(ctx); !errors.Is(err, ErrSlow) {
		t.Fatalf("Receive on the disconnected endpoint = %v, want ErrSlow", err)
	}
	if len(got) != 1 || !got[0].Closed || got[0].Reason != ErrSlow || got[0].Dropped != 3 || got[0].Routed != 3 || got[0].Queued != 0 {
		t.Fatalf("OnDisconnect got %+v", got)
	}
	if names := m.Names(); len(names) != 0 {
		t.Fatalf("disconnected endpoint still listed: %q", names)
	}
	if err := m.Open("viewer", nil); err != nil {
		t.Fatalf("reopen: %v", err)
	}
}

// TestCloseDrains checks that queued items survive Close for receivers
// already holding the endpoint, and that the name can be reopened without
// them seeing the new queue.
func TestCloseDrains(t *testing.T) {
	ctx := context.Background()
	m := NewManager(nil)
	defer m.CloseAll()
	if err := m.Open("e", nil); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if err := m.Route(ctx, "e", []byte{byte(i)}); err != nil {
			t.Fatal(err)
		}
	}
	old := m.endpoints["e"]
	if err := m.Close("e"); err != nil {
		t.Fatal(err)
	}
	if err := m.Open("e", nil); err != nil {
		t.Fatalf("reopen: %v", err)
	}
	if err := m.Route(ctx, "e", []byte("new")); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		b, err := old.receive(ctx)
		if err != nil || b[0] != byte(i) {
			t.Fatalf("drain %d: %v, %v", i, b, err)
		}
	}
	var ce *ClosedError
	if _, err := old.receive(ctx); !errors.As(err, &ce) || ce.Reason != nil || !errors.Is(err, net.ErrClosed) {
		t.Fatalf("after drain: %v", err)
	}
	if err := old.push(ctx, nil, true); !errors.Is(err, ErrClosed) {
		t.Fatalf("Route on closed: %v", err)
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
	defer m.CloseAll()
	var prod, cons sync.WaitGroup
	results := make([]map[string]bool, endpoints)
	for e := range endpoints {
		name := fmt.Sprint("ep", e)
		if err := m.Open(name, nil); err != nil {
			t.Fatal(err)
		}
		ep := m.endpoints[name]
		results[e] = map[string]bool{}
		var mu sync.Mutex
		for range 2 {
			cons.Go(func() {
				for {
					b, err := ep.receive(ctx)
					if err != nil {
						if !errors.Is(err, ErrClosed) {
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
	sinkN     int
)

func TestNoAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	ctx := context.Background()
	m := NewManager(nil)
	defer m.CloseAll()
	if err := m.Open("e", nil); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"live1", "live2"} {
		if err := m.Open(n, &EndpointOptions{QueueLen: 4, Policy: DropOldest}); err != nil {
			t.Fatal(err)
		}
	}
	payload := make([]byte, 1200)
	for range 4 { // fill the live queues: every later Broadcast evicts
		m.Broadcast(ctx, payload)
	}
	if _, err := m.Receive(ctx, "e"); err != nil {
		t.Fatal(err)
	}
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
		{"Broadcast with eviction", func() {
			sinkN = m.Broadcast(ctx, payload)
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
		b.Cleanup(m.CloseAll)
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
		ep := m.endpoints["e"]
		done := make(chan struct{})
		go func() {
			defer close(done)
			for {
				if _, err := ep.receive(ctx); err != nil {
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
