package event

import (
	"context"
	"errors"
	"fmt"
	"net"
	"runtime/debug"
	"sync"
	"sync/atomic"
)

// Handler handles one event. payload is whatever Emit was given, shared by
// every handler of the event: handlers must not modify it unless the
// emitter's caller says they may.
type Handler func(ctx context.Context, payload any) error

// Defaults and limits of Options.
const (
	// DefaultQueueLen is the default capacity of each asynchronous
	// handler's queue, in events: 256 absorb a burst such as every session
	// of a busy node closing at once, at 32 bytes each (8 KiB per handler).
	DefaultQueueLen = 256
	// MaxQueueLen caps Options.QueueLen: 1<<16 events are 2 MiB of queue
	// per handler before any payload.
	MaxQueueLen = 1 << 16
	// maxRetainedErrors bounds the asynchronous errors kept for Close when
	// no OnError callback is set; the rest are counted only.
	maxRetainedErrors = 64
)

// Errors returned by the Emitter, checked with errors.Is.
var (
	// ErrClosed is returned by Emit once Close or Shutdown has begun. It
	// matches net.ErrClosed.
	ErrClosed error = closedError{}
	// ErrNilHandler is the panic value of On and OnAsync given a nil
	// handler, a programming error.
	ErrNilHandler = errors.New("event: nil handler")
)

type closedError struct{}

func (closedError) Error() string { return "event: emitter closed" }
func (closedError) Unwrap() error { return net.ErrClosed }

// AsyncError reports the failure of an asynchronous handler: Err is its
// error or a *PanicError.
type AsyncError struct {
	Event string // the event name
	Err   error
}

// Error returns "event <name>: async handler: <err>".
func (e *AsyncError) Error() string {
	return fmt.Sprintf("event %q: async handler: %v", e.Event, e.Err)
}

// Unwrap returns Err.
func (e *AsyncError) Unwrap() error { return e.Err }

// PanicError is the error a handler's panic becomes: Emit returns it for a
// synchronous handler, and an *AsyncError wraps it for an asynchronous one.
type PanicError struct {
	Value any    // the value passed to panic
	Stack []byte // the handler goroutine's stack at the panic
}

// Error returns "handler panicked: <value>".
func (e *PanicError) Error() string { return fmt.Sprintf("handler panicked: %v", e.Value) }

// Options configures an Emitter. A nil *Options means the defaults;
// NewEmitter copies the struct.
type Options struct {
	// QueueLen is the capacity, in events, of each asynchronous handler's
	// own queue. Zero or negative means DefaultQueueLen; values above
	// MaxQueueLen are clamped to it. When a handler's queue is full, Emit
	// drops the event for that handler (counted in Stats.Dropped) instead
	// of waiting.
	QueueLen int
	// OnError receives every asynchronous handler's error or panic, on
	// that handler's goroutine: it must be safe for concurrent use, and
	// while it runs that handler takes no new events. Nil means the errors
	// are kept (the first 64) and returned joined by Close. A panic inside
	// OnError is recovered and the error is kept as if OnError were nil.
	// Every failure is counted in Stats either way.
	OnError func(*AsyncError)
}

// Stats counts what an Emitter has done. Every handler invocation is
// counted in Delivered once it returns; an asynchronous delivery that never
// runs is counted in Dropped. So, once Close has returned, the sum over
// Emits of their handlers equals Delivered + Dropped.
type Stats struct {
	Emitted   uint64 // Emit calls accepted (before Close)
	Delivered uint64 // handler invocations that returned or panicked
	Failed    uint64 // of Delivered, those that returned an error or panicked
	Panicked  uint64 // of Failed, those that panicked (recovered)
	Dropped   uint64 // asynchronous deliveries not run: queue full, or discarded by Shutdown
}

// entry is one registered handler; its address identifies it for
// unsubscribe.
type entry struct {
	name string
	h    Handler
	q    chan job // nil for a synchronous handler

	// mu protects stopped and the closing of q: Emit read-holds it around
	// its send, stop write-holds it to close q, so no send hits a closed
	// channel.
	mu      sync.RWMutex
	stopped bool
}

// job is one queued asynchronous delivery.
type job struct {
	ctx     context.Context // Emit's context, for its values only
	payload any
}

// Emitter dispatches named events to handlers. The zero value is not
// usable; call NewEmitter. All methods are safe for concurrent use.
//
// Synchronous handlers (On) run inside Emit, on the caller's goroutine.
// Each asynchronous handler (OnAsync) has its own goroutine and its own
// bounded queue, so a slow or blocked handler delays and loses only its
// own events; Emit never waits for one.
type Emitter struct {
	queueLen int
	onError  func(*AsyncError)

	// regMu protects handlers and closed. Emit read-holds it to look up a
	// name; the slices are copy-on-write, so Emit uses them unlocked.
	regMu    sync.RWMutex
	handlers map[string][]*entry
	closed   bool

	// life is the asynchronous handlers' context: cancelled when a
	// Shutdown's context ends before they finish, and after Close.
	life    context.Context
	cancel  context.CancelCauseFunc
	running sync.WaitGroup // asynchronous handler goroutines

	errMu    sync.Mutex
	retained []error // protected by errMu; at most maxRetainedErrors
	overflow uint64  // protected by errMu; errors counted but not retained

	emitted, delivered, failed, panicked, dropped atomic.Uint64
}

// NewEmitter returns an Emitter with no handlers. It starts no goroutines;
// each OnAsync starts one.
func NewEmitter(opts *Options) *Emitter {
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.QueueLen <= 0 {
		o.QueueLen = DefaultQueueLen
	}
	o.QueueLen = min(o.QueueLen, MaxQueueLen)
	life, cancel := context.WithCancelCause(context.Background())
	return &Emitter{
		queueLen: o.QueueLen,
		onError:  o.OnError,
		handlers: make(map[string][]*entry),
		life:     life,
		cancel:   cancel,
	}
}

// On registers h as a synchronous handler of name: Emit runs it on the
// caller's goroutine, after the handlers registered before it, so a
// handler that blocks blocks that Emit. A panic in h is recovered and
// returned by Emit as a *PanicError. On returns a function that
// unregisters h, safe to call more than once and from any goroutine
// (including h); an Emit already running may still call h once. After
// Close, On registers nothing and returns a no-op. It panics with
// ErrNilHandler if h is nil.
func (e *Emitter) On(name string, h Handler) (unsubscribe func()) {
	return e.register(name, h, false)
}

// OnAsync registers h as an asynchronous handler of name, with its own
// goroutine and a queue of Options.QueueLen events: each Emit queues the
// event without waiting, or drops it for h (counted in Stats.Dropped) when
// the queue is full. h sees the events in the order they were queued, one
// at a time, with a context that carries Emit's values but not its
// cancellation, and that is cancelled when a Shutdown gives up waiting
// or returns.
// Its errors and recovered panics go to Options.OnError, or to Close. The
// returned function unregisters h: events already queued still run, then
// the goroutine exits; it is safe to call more than once and from h.
// After Close, OnAsync registers nothing, starts nothing and returns a
// no-op. It panics with ErrNilHandler if h is nil.
func (e *Emitter) OnAsync(name string, h Handler) (unsubscribe func()) {
	return e.register(name, h, true)
}

func (e *Emitter) register(name string, h Handler, async bool) func() {
	if h == nil {
		panic(ErrNilHandler)
	}
	ent := &entry{name: name, h: h}
	if async {
		ent.q = make(chan job, e.queueLen)
	}
	e.regMu.Lock()
	if e.closed {
		e.regMu.Unlock()
		return func() {}
	}
	old := e.handlers[name]
	e.handlers[name] = append(old[:len(old):len(old)], ent)
	if async {
		e.running.Go(func() { e.serve(ent) })
	}
	e.regMu.Unlock()
	return func() { e.unregister(ent) }
}

// unregister removes ent from its name's handlers and stops its queue.
func (e *Emitter) unregister(ent *entry) {
	e.regMu.Lock()
	cur := e.handlers[ent.name]
	for i, x := range cur {
		if x == ent {
			next := make([]*entry, 0, len(cur)-1)
			next = append(append(next, cur[:i]...), cur[i+1:]...)
			if len(next) == 0 {
				delete(e.handlers, ent.name)
			} else {
				e.handlers[ent.name] = next
			}
			break
		}
	}
	e.regMu.Unlock()
	ent.stop()
}

// stop closes an asynchronous entry's queue once; its goroutine runs what
// is queued and exits. No-op for synchronous entries.
func (ent *entry) stop() {
	if ent.q == nil {
		return
	}
	ent.mu.Lock()
	if !ent.stopped {
		ent.stopped = true
		close(ent.q)
	}
	ent.mu.Unlock()
}

// enqueue queues j without waiting; false means the queue was full or
// stopped.
func (ent *entry) enqueue(j job) bool {
	ent.mu.RLock()
	defer ent.mu.RUnlock()
	if ent.stopped {
		return false
	}
	select {
	case ent.q <- j:
		return true
	default:
		return false
	}
}

// Emit delivers payload to name's handlers as registered when Emit
// starts. Synchronous handlers run first, in registration order, on this
// goroutine; each one runs even if an earlier one failed or panicked, and
// their errors (a panic as a *PanicError) are returned joined
// (errors.Join). Then the event is queued for each asynchronous handler
// without waiting: a full queue drops it for that handler, counted in
// Stats.Dropped, and is not an error. An event without handlers is not an
// error. After Close has begun, Emit returns ErrClosed and runs nothing;
// that includes Emits from asynchronous handlers still finishing.
//
// Emit does not allocate unless a handler fails (the joined error).
func (e *Emitter) Emit(ctx context.Context, name string, payload any) error {
	if ctx == nil {
		ctx = context.Background()
	}
	e.regMu.RLock()
	if e.closed {
		e.regMu.RUnlock()
		return ErrClosed
	}
	hs := e.handlers[name]
	e.regMu.RUnlock()
	e.emitted.Add(1)

	var errs []error
	for _, ent := range hs {
		if ent.q != nil {
			continue
		}
		if err := e.call(ctx, ent, payload); err != nil {
			errs = append(errs, err)
		}
	}
	for _, ent := range hs {
		if ent.q != nil && !ent.enqueue(job{ctx: ctx, payload: payload}) {
			e.dropped.Add(1)
		}
	}
	return errors.Join(errs...)
}

// call runs one handler, turning a panic into a *PanicError, and counts
// the outcome.
func (e *Emitter) call(ctx context.Context, ent *entry, payload any) (err error) {
	defer func() {
		if v := recover(); v != nil {
			e.panicked.Add(1)
			err = &PanicError{Value: v, Stack: debug.Stack()}
		}
		e.delivered.Add(1)
		if err != nil {
			e.failed.Add(1)
		}
	}()
	return ent.h(ctx, payload)
}

// serve is an asynchronous handler's goroutine: it runs the queued events
// in order until the queue is closed and empty. Once life is cancelled
// (Shutdown gave up waiting) the rest are dropped, not run.
func (e *Emitter) serve(ent *entry) {
	for j := range ent.q {
		if e.life.Err() != nil {
			e.dropped.Add(1)
			continue
		}
		ctx := &jobContext{Context: e.life, values: j.ctx}
		if err := e.call(ctx, ent, j.payload); err != nil {
			e.report(&AsyncError{Event: ent.name, Err: err})
		}
	}
}

// jobContext is an asynchronous handler's context: cancellation and
// deadline from the emitter's life, values from Emit's context.
type jobContext struct {
	context.Context // the emitter's life
	values          context.Context
}

// Value looks key up in the emitter's life first, which holds no values
// of its own but answers the context package's internal lookups (so
// context.Cause and derived contexts follow life's cancellation), then in
// Emit's context.
func (c *jobContext) Value(key any) any {
	if v := c.Context.Value(key); v != nil {
		return v
	}
	return c.values.Value(key)
}

// report hands an asynchronous failure to OnError, or keeps it for Close.
func (e *Emitter) report(ae *AsyncError) {
	if e.onError != nil && e.tryOnError(ae) {
		return
	}
	e.errMu.Lock()
	if len(e.retained) < maxRetainedErrors {
		e.retained = append(e.retained, ae)
	} else {
		e.overflow++
	}
	e.errMu.Unlock()
}

// tryOnError calls OnError, reporting false if it panicked.
func (e *Emitter) tryOnError(ae *AsyncError) (ok bool) {
	defer func() {
		if recover() != nil {
			ok = false
		}
	}()
	e.onError(ae)
	return true
}

// Stats returns the emitter's counters. Each is read atomically, but not
// all at one instant.
func (e *Emitter) Stats() Stats {
	return Stats{
		Emitted:   e.emitted.Load(),
		Delivered: e.delivered.Load(),
		Failed:    e.failed.Load(),
		Panicked:  e.panicked.Load(),
		Dropped:   e.dropped.Load(),
	}
}

// Close is Shutdown with a context that never ends: it waits for every
// event already queued to be handled.
func (e *Emitter) Close() error { return e.Shutdown(context.Background()) }

// Shutdown stops the emitter: Emit returns ErrClosed from then on, and
// each asynchronous handler runs the events already in its queue. If ctx
// ends first, the handlers' context is cancelled (cause: ctx's cause), the
// events still queued are dropped (counted) and Shutdown waits only for
// the handlers running at that moment to return — which they must do
// promptly once their context is done; a handler that ignores it holds
// Shutdown. When it returns, every goroutine the emitter started has
// exited. Without Options.OnError it returns the asynchronous errors
// collected (the first 64, joined, plus a count of the rest); it also
// joins ctx's error if ctx ended before the handlers finished. A second
// call returns nil at once. Shutdown must not be called from a handler,
// since it waits for handlers.
func (e *Emitter) Shutdown(ctx context.Context) error {
	e.regMu.Lock()
	if e.closed {
		e.regMu.Unlock()
		return nil
	}
	e.closed = true
	var all []*entry
	for _, hs := range e.handlers {
		all = append(all, hs...)
	}
	clear(e.handlers)
	e.regMu.Unlock()
	for _, ent := range all {
		ent.stop()
	}

	stop := context.AfterFunc(ctx, func() { e.cancel(context.Cause(ctx)) })
	e.running.Wait()
	expired := !stop() // the AfterFunc ran: ctx ended first
	e.cancel(ErrClosed)

	e.errMu.Lock()
	defer e.errMu.Unlock()
	errs := e.retained
	if e.overflow > 0 {
		errs = append(errs, fmt.Errorf("event: %d more async handler errors", e.overflow))
	}
	if expired {
		errs = append(errs, fmt.Errorf("event: shutdown: %w", ctx.Err()))
	}
	e.retained, e.overflow = nil, 0
	return errors.Join(errs...)
}
