package event

import (
	"context"
	"errors"
	"fmt"
	"net"
	"runtime"
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
	// DefaultQueueLen is the default capacity of the asynchronous job
	// queue: 1024 jobs absorb a burst of events while the workers catch up.
	DefaultQueueLen = 1024
	// maxRetainedErrors bounds the asynchronous errors kept for Close when
	// no OnError callback is set; the rest are counted only.
	maxRetainedErrors = 64
)

// Errors returned by the Emitter, checked with errors.Is.
var (
	// ErrClosed is returned by Emit after Close, and by Emit calls waiting
	// for queue space when Close runs. It matches net.ErrClosed.
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

// PanicError is the error an asynchronous handler's panic becomes.
type PanicError struct {
	Value any    // the value passed to panic
	Stack []byte // the handler goroutine's stack at the panic
}

// Error returns "panic: <value>".
func (e *PanicError) Error() string { return fmt.Sprintf("panic: %v", e.Value) }

// Options configures an Emitter. A nil *Options means the defaults;
// NewEmitter copies the struct.
type Options struct {
	// Workers is the number of goroutines running asynchronous handlers.
	// Zero or negative means runtime.GOMAXPROCS(0) at construction.
	Workers int
	// QueueLen is the capacity of the asynchronous job queue, in jobs (one
	// per asynchronous handler per Emit). Zero or negative means
	// DefaultQueueLen. Emit waits for room when it is full (see Emit for
	// the exception inside handlers).
	QueueLen int
	// OnError receives every asynchronous handler error, from a worker
	// goroutine; it must be safe for concurrent use and should return
	// quickly, as it holds a worker. Nil means errors are kept (the first
	// 64) and returned joined by Close; all are counted in Stats either
	// way.
	OnError func(*AsyncError)
}

// Stats counts what an Emitter has done.
type Stats struct {
	Emitted     uint64 // Emit calls that ran
	AsyncRun    uint64 // asynchronous handler invocations finished
	AsyncErrors uint64 // of which returned an error or panicked
}

// entry is one registered handler; its address identifies it for
// unsubscribe.
type entry struct {
	h     Handler
	async bool
}

// job is one asynchronous handler invocation.
type job struct {
	ctx     context.Context
	name    string
	h       Handler
	payload any
}

// Emitter dispatches named events to handlers. The zero value is not
// usable; call NewEmitter. All methods are safe for concurrent use.
type Emitter struct {
	workers int
	onError func(*AsyncError)

	regMu    sync.RWMutex
	handlers map[string][]*entry // protected by regMu; slices are copy-on-write

	jobs      chan job
	stopping  chan struct{} // closed by Close: wakes Emits waiting for room
	startOnce sync.Once
	wg        sync.WaitGroup // workers

	// closeMu protects closed and inflight: Close waits until no Emit is
	// between its closed check and its last send, then closes jobs.
	closeMu  sync.Mutex
	idle     sync.Cond // signalled when inflight drops to zero
	closed   bool
	inflight int

	errMu    sync.Mutex
	retained []error // protected by errMu; at most maxRetainedErrors
	dropped  uint64  // protected by errMu; errors counted but not retained

	emitted, asyncRun, asyncErrors atomic.Uint64
}

// NewEmitter returns an Emitter with no handlers. It starts no goroutines
// until the first asynchronous job.
func NewEmitter(opts *Options) *Emitter {
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.Workers <= 0 {
		o.Workers = runtime.GOMAXPROCS(0)
	}
	if o.QueueLen <= 0 {
		o.QueueLen = DefaultQueueLen
	}
	e := &Emitter{
		workers:  o.Workers,
		onError:  o.OnError,
		handlers: make(map[string][]*entry),
		jobs:     make(chan job, o.QueueLen),
		stopping: make(chan struct{}),
	}
	e.idle.L = &e.closeMu
	return e
}

// On registers h as a synchronous handler of name: Emit runs it in the
// caller's goroutine, after the handlers registered before it. It returns
// a function that unregisters it, safe to call more than once and from
// any goroutine; an Emit already running may still call the handler once.
// It panics with ErrNilHandler if h is nil.
func (e *Emitter) On(name string, h Handler) (unsubscribe func()) {
	return e.register(name, h, false)
}

// OnAsync registers h as an asynchronous handler of name: each Emit queues
// one job for it, which a worker runs later with a context that carries
// Emit's values but not its cancellation. Its errors go to
// Options.OnError or to Close. Otherwise as On.
func (e *Emitter) OnAsync(name string, h Handler) (unsubscribe func()) {
	return e.register(name, h, true)
}

func (e *Emitter) register(name string, h Handler, async bool) func() {
	if h == nil {
		panic(ErrNilHandler)
	}
	ent := &entry{h: h, async: async}
	e.regMu.Lock()
	old := e.handlers[name]
	e.handlers[name] = append(old[:len(old):len(old)], ent)
	e.regMu.Unlock()
	return func() {
		e.regMu.Lock()
		defer e.regMu.Unlock()
		cur := e.handlers[name]
		for i, x := range cur {
			if x == ent {
				next := make([]*entry, 0, len(cur)-1)
				next = append(append(next, cur[:i]...), cur[i+1:]...)
				if len(next) == 0 {
					delete(e.handlers, name)
				} else {
					e.handlers[name] = next
				}
				return
			}
		}
	}
}

// Emit delivers payload to name's handlers as registered when Emit
// starts. Synchronous handlers run first, in registration order, in this
// goroutine; each one runs even if an earlier one failed, and their errors
// are returned joined (errors.Join), never dropped. Then one job per
// asynchronous handler is queued, waiting for room while the queue is full
// until ctx ends (ctx's error, joined; the remaining jobs are not queued)
// or Close (ErrClosed). An event without handlers is not an error. After
// Close, Emit returns ErrClosed without running anything, except from
// inside an asynchronous handler still finishing, whose events are
// delivered in full (asynchronous ones inline) so that Close loses none
// of the work it waits for. An Emit from
// inside an asynchronous handler, with the handler's ctx or one derived
// from it, never waits for room: when the queue is full it runs the
// asynchronous handlers itself, on the calling worker, so a pool whose
// every worker emits cannot deadlock.
func (e *Emitter) Emit(ctx context.Context, name string, payload any) error {
	fromWorker := ctx.Value(workerKey{}) == e
	e.closeMu.Lock()
	closing := e.closed
	if closing && !fromWorker {
		e.closeMu.Unlock()
		return ErrClosed
	}
	if !closing {
		e.inflight++
		defer func() {
			e.closeMu.Lock()
			e.inflight--
			if e.inflight == 0 {
				e.idle.Broadcast()
			}
			e.closeMu.Unlock()
		}()
	}
	e.closeMu.Unlock()
	e.emitted.Add(1)

	e.regMu.RLock()
	hs := e.handlers[name]
	e.regMu.RUnlock()

	var errs []error
	for _, ent := range hs {
		if ent.async {
			continue
		}
		if err := ent.h(ctx, payload); err != nil {
			errs = append(errs, err)
		}
	}
	for _, ent := range hs {
		if !ent.async {
			continue
		}
		e.startOnce.Do(e.start)
		j := job{ctx: context.WithValue(context.WithoutCancel(ctx), workerKey{}, e), name: name, h: ent.h, payload: payload}
		if closing {
			// A job accepted before Close emits: the queue may already be
			// closed, so run its follow-up jobs here.
			e.finish(j, runJob(j))
			continue
		}
		select {
		case e.jobs <- j:
			continue
		default:
		}
		if fromWorker {
			// Emitted from one of our workers with the queue full: waiting
			// could deadlock (every worker waiting for itself), so run the
			// job here instead.
			e.finish(j, runJob(j))
			continue
		}
		select {
		case e.jobs <- j:
			continue
		case <-ctx.Done():
			errs = append(errs, fmt.Errorf("event %q: queueing async handlers: %w", name, ctx.Err()))
		case <-e.stopping:
			errs = append(errs, ErrClosed)
		}
		break
	}
	return errors.Join(errs...)
}

// start launches the worker goroutines.
func (e *Emitter) start() {
	for range e.workers {
		e.wg.Go(e.work)
	}
}

// work runs queued jobs until the queue is closed and empty.
func (e *Emitter) work() {
	for j := range e.jobs {
		e.finish(j, runJob(j))
	}
}

// finish counts a finished job and reports its error.
func (e *Emitter) finish(j job, err error) {
	e.asyncRun.Add(1)
	if err == nil {
		return
	}
	e.asyncErrors.Add(1)
	ae := &AsyncError{Event: j.name, Err: err}
	if e.onError != nil {
		e.onError(ae)
		return
	}
	e.errMu.Lock()
	if len(e.retained) < maxRetainedErrors {
		e.retained = append(e.retained, ae)
	} else {
		e.dropped++
	}
	e.errMu.Unlock()
}

// workerKey marks the contexts of asynchronous jobs with their Emitter, so
// that an Emit from inside an asynchronous handler is recognised.
type workerKey struct{}

// runJob calls the handler, turning a panic into a *PanicError.
func runJob(j job) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = &PanicError{Value: v, Stack: debug.Stack()}
		}
	}()
	return j.h(j.ctx, j.payload)
}

// Stats returns the emitter's counters.
func (e *Emitter) Stats() Stats {
	return Stats{Emitted: e.emitted.Load(), AsyncRun: e.asyncRun.Load(), AsyncErrors: e.asyncErrors.Load()}
}

// Close stops accepting events, wakes Emits waiting for queue room (they
// return ErrClosed), waits for every accepted asynchronous job to finish
// and for the workers to exit. Without Options.OnError it returns the
// asynchronous errors collected (the first 64, joined, plus a count of the
// rest); otherwise nil. A second Close returns nil at once. Close must not
// be called from a handler, since it waits for handlers.
func (e *Emitter) Close() error {
	e.closeMu.Lock()
	if e.closed {
		e.closeMu.Unlock()
		return nil
	}
	e.closed = true
	close(e.stopping)
	for e.inflight > 0 {
		e.idle.Wait()
	}
	close(e.jobs)
	e.closeMu.Unlock()
	e.wg.Wait()

	e.errMu.Lock()
	defer e.errMu.Unlock()
	errs := e.retained
	if e.dropped > 0 {
		errs = append(errs, fmt.Errorf("event: %d more async handler errors", e.dropped))
	}
	e.retained, e.dropped = nil, 0
	return errors.Join(errs...)
}
