package endpoint

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Options configures a Manager. A nil *Options means the defaults;
// NewManager copies the struct.
type Options struct {
	// QueueLen is the queue capacity, in items, of endpoints whose
	// EndpointOptions.QueueLen is zero. Zero or negative means
	// DefaultQueueLen; values above MaxQueueLen are clamped to it.
	QueueLen int
	// QueueBytes is the queue byte budget of endpoints whose
	// EndpointOptions.QueueBytes is zero. Zero or negative means
	// DefaultQueueBytes; values above MaxQueueBytes are clamped to it.
	QueueBytes int
	// OnDisconnect, if set, is called once for every endpoint the Manager
	// closes on its own — a Disconnect policy, a failed Sink Write, the
	// end of the context given to Attach — with its final Stats, after
	// the endpoint has been removed (its name may be reused at once). It
	// is not called for Close or CloseAll. For an attached endpoint it
	// runs on the endpoint's writer goroutine after the Sink is closed;
	// for an endpoint opened with Open it runs on the goroutine whose
	// Route or Broadcast overflowed the queue, so it should return
	// quickly. It must not call CloseAll, which waits for it.
	OnDisconnect func(name string, final Stats)
}

// EndpointOptions configures one endpoint. A nil *EndpointOptions means
// the Manager's defaults and the Block policy.
type EndpointOptions struct {
	// QueueLen is the endpoint's queue capacity in items. Zero means the
	// Manager's Options.QueueLen; values outside [0, MaxQueueLen] make
	// Open and Attach fail with ErrInvalidOptions.
	QueueLen int
	// QueueBytes bounds the bytes queued (the sum of the queued items'
	// lengths; an attached endpoint also holds the one item its Sink is
	// writing). Zero means the Manager's Options.QueueBytes; values
	// outside [0, MaxQueueBytes] make Open and Attach fail with
	// ErrInvalidOptions.
	QueueBytes int
	// Policy is what happens when an item does not fit the queue: Block
	// (the zero value), DropOldest or Disconnect. Other values make Open
	// and Attach fail with ErrInvalidOptions.
	Policy Policy
}

// Stats describes one endpoint. Once an endpoint is idle (nothing queued
// or being written), Routed = Delivered + Dropped.
type Stats struct {
	Policy         Policy
	Queued         int    // items waiting in the queue now
	QueuedBytes    int    // their bytes
	Routed         uint64 // items offered while open (not counting Block waits that gave up)
	Delivered      uint64 // items written by the Sink, or returned by Receive
	DeliveredBytes uint64
	Dropped        uint64 // items lost: evicted by DropOldest, too large, refused by Disconnect, discarded on close, or failed by the Sink
	DroppedBytes   uint64
	Closed         bool
	Reason         error // why it closed; nil while open or after Close (see ClosedError.Reason)
}

// Manager routes byte slices to named endpoints. An endpoint opened with
// Open is a queue its consumer drains with Receive; one attached with
// Attach is drained by a writer goroutine of its own into a Sink. Each
// endpoint has its own bounded queue and Policy, so one that falls behind
// affects only itself (unless its Policy is Block). The zero value is not
// usable; call NewManager. All methods are safe for concurrent use.
type Manager struct {
	queueLen     int
	queueBytes   int
	onDisconnect func(string, Stats)

	// mu protects endpoints, closed and writers; writersDone waits on it.
	mu          sync.RWMutex
	endpoints   map[string]*endpoint
	closed      bool
	writers     int       // writer goroutines not yet finished
	writersDone sync.Cond // signalled when writers drops to zero

	// all is the endpoints sorted by name, for Broadcast; rebuilt under mu
	// whenever endpoints changes, read without a lock.
	all atomic.Pointer[[]*endpoint]
}

// endpoint is one named queue, and for an attached endpoint its writer.
//
// Close protocol: whoever closes it (Close, CloseAll, an overflowing
// Disconnect, a failed Write, the Attach context) sets closed under mu,
// closes done (waking every waiter) and cancels ctx (ending the Sink's
// Write). The writer goroutine then closes the Sink, removes the endpoint
// from the Manager, runs OnDisconnect if the Manager closed it, and closes
// exited.
type endpoint struct {
	m        *Manager
	name     string
	policy   Policy
	maxLen   int
	maxBytes int

	sink   Sink            // nil for an endpoint opened with Open
	ctx    context.Context // sink endpoints: passed to Write, cancelled on close
	cancel context.CancelCauseFunc
	exited chan struct{} // sink endpoints: closed when the writer goroutine is done

	notEmpty chan struct{} // cap 1: an item was queued
	notFull  chan struct{} // cap 1: room was made
	done     chan struct{} // closed on close

	mu        sync.Mutex // protects the fields below
	q         ring
	bytes     int           // bytes in q
	writing   bool          // the writer holds an item outside q
	idle      chan struct{} // closed at the next idle moment; nil if no Flush waits
	closed    bool
	byManager bool         // closed by the Manager, not Close/CloseAll
	closeErr  *ClosedError // returned to callers once closed
	st        Stats        // counters; Queued, QueuedBytes, Closed, Reason filled in by stats
}

// NewManager returns an empty Manager. It starts no goroutines; each
// Attach starts one.
func NewManager(opts *Options) *Manager {
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.QueueLen <= 0 {
		o.QueueLen = DefaultQueueLen
	}
	if o.QueueBytes <= 0 {
		o.QueueBytes = DefaultQueueBytes
	}
	m := &Manager{
		queueLen:     min(o.QueueLen, MaxQueueLen),
		queueBytes:   min(o.QueueBytes, MaxQueueBytes),
		onDisconnect: o.OnDisconnect,
		endpoints:    make(map[string]*endpoint),
	}
	m.writersDone.L = &m.mu
	return m
}

// newEndpoint validates opts and builds an endpoint, not yet added.
func (m *Manager) newEndpoint(name string, opts *EndpointOptions) (*endpoint, error) {
	var o EndpointOptions
	if opts != nil {
		o = *opts
	}
	switch {
	case o.QueueLen < 0 || o.QueueLen > MaxQueueLen:
		return nil, fmt.Errorf("%w: endpoint %q: QueueLen %d outside [0, %d]", ErrInvalidOptions, name, o.QueueLen, MaxQueueLen)
	case o.QueueBytes < 0 || o.QueueBytes > MaxQueueBytes:
		return nil, fmt.Errorf("%w: endpoint %q: QueueBytes %d outside [0, %d]", ErrInvalidOptions, name, o.QueueBytes, MaxQueueBytes)
	case o.Policy > Disconnect:
		return nil, fmt.Errorf("%w: endpoint %q: unknown %v", ErrInvalidOptions, name, o.Policy)
	}
	if o.QueueLen == 0 {
		o.QueueLen = m.queueLen
	}
	if o.QueueBytes == 0 {
		o.QueueBytes = m.queueBytes
	}
	return &endpoint{
		m:        m,
		name:     name,
		policy:   o.Policy,
		maxLen:   o.QueueLen,
		maxBytes: o.QueueBytes,
		notEmpty: make(chan struct{}, 1),
		notFull:  make(chan struct{}, 1),
		done:     make(chan struct{}),
		st:       Stats{Policy: o.Policy},
	}, nil
}

// addLocked registers ep under its name; the caller holds m.mu.
func (m *Manager) addLocked(ep *endpoint) error {
	if m.closed {
		return fmt.Errorf("endpoint %q: manager: %w", ep.name, ErrClosed)
	}
	if _, ok := m.endpoints[ep.name]; ok {
		return fmt.Errorf("%w: %q", ErrExists, ep.name)
	}
	m.endpoints[ep.name] = ep
	m.snapshotLocked()
	return nil
}

// snapshotLocked rebuilds the Broadcast list; the caller holds m.mu.
func (m *Manager) snapshotLocked() {
	all := make([]*endpoint, 0, len(m.endpoints))
	for _, ep := range m.endpoints {
		all = append(all, ep)
	}
	slices.SortFunc(all, func(a, b *endpoint) int { return strings.Compare(a.name, b.name) })
	m.all.Store(&all)
}

// remove drops ep from the Manager if its name still refers to it.
func (m *Manager) remove(ep *endpoint) {
	m.mu.Lock()
	if m.endpoints[ep.name] == ep {
		delete(m.endpoints, ep.name)
		m.snapshotLocked()
	}
	m.mu.Unlock()
}

// Open creates the endpoint name with its own queue, drained by Receive.
// Names are opaque strings; any string, including "", is valid. It returns
// an error wrapping ErrExists if name is open, ErrInvalidOptions for
// options out of range, or ErrClosed after CloseAll. The queue grows as it
// fills, up to its capacity.
func (m *Manager) Open(name string, opts *EndpointOptions) error {
	ep, err := m.newEndpoint(name, opts)
	if err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.addLocked(ep)
}

// Attach creates the endpoint name drained into s by a writer goroutine of
// its own, which calls s.Write for each item in order, then s.Close once
// the endpoint closes: by Close or CloseAll, by its Policy, by a failed
// Write, or when ctx ends (the reason is then ctx's cause). Errors are as
// for Open, plus ErrInvalidOptions for a nil s and ctx's error if it has
// already ended; on error s is not used. See Sink for what s must do.
func (m *Manager) Attach(ctx context.Context, name string, s Sink, opts *EndpointOptions) error {
	if s == nil {
		return fmt.Errorf("%w: endpoint %q: nil Sink", ErrInvalidOptions, name)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("endpoint %q: %w", name, err)
	}
	ep, err := m.newEndpoint(name, opts)
	if err != nil {
		return err
	}
	ep.sink = s
	ep.exited = make(chan struct{})
	ep.ctx, ep.cancel = context.WithCancelCause(ctx)
	m.mu.Lock()
	if err := m.addLocked(ep); err != nil {
		m.mu.Unlock()
		ep.cancel(err)
		return err
	}
	m.writers++
	m.mu.Unlock()
	go ep.run()
	return nil
}

// lookup returns the open endpoint name.
func (m *Manager) lookup(name string) (*endpoint, error) {
	m.mu.RLock()
	ep := m.endpoints[name]
	m.mu.RUnlock()
	if ep == nil {
		return nil, fmt.Errorf("%w: %q", ErrUnknownEndpoint, name)
	}
	return ep, nil
}

// Route queues data on endpoint name; what happens when it does not fit
// depends on the endpoint's Policy: Block waits until there is room, ctx
// ends (ctx's error) or the endpoint closes; DropOldest drops older items
// and returns nil; Disconnect closes the endpoint and returns its
// *ClosedError (reason ErrSlow). It returns ErrUnknownEndpoint for a name
// that is not open, a *ClosedError for an endpoint closing, and an error
// wrapping ErrTooLarge for data longer than the endpoint's QueueBytes.
//
// Route takes ownership of data when it returns nil: the caller must not
// modify it afterwards (a Sink or a Receive caller may be reading it). It
// does not allocate once the queue has grown, except for the errors that
// wrap ErrUnknownEndpoint or ErrTooLarge.
func (m *Manager) Route(ctx context.Context, name string, data []byte) error {
	ep, err := m.lookup(name)
	if err != nil {
		return err
	}
	return ep.wrap(ep.push(ctx, data, true))
}

// TryRoute is Route without waiting: on a full Block endpoint it returns
// an error wrapping ErrQueueFull and leaves data with the caller.
func (m *Manager) TryRoute(name string, data []byte) error {
	ep, err := m.lookup(name)
	if err != nil {
		return err
	}
	return ep.wrap(ep.push(context.Background(), data, false))
}

// wrap adds the endpoint's name to push's bare sentinels.
func (ep *endpoint) wrap(err error) error {
	switch err {
	case errTooLarge:
		return fmt.Errorf("%w: endpoint %q: budget %d bytes", ErrTooLarge, ep.name, ep.maxBytes)
	case ErrQueueFull:
		return fmt.Errorf("%w: %q", ErrQueueFull, ep.name)
	}
	return err
}

// errTooLarge is push's allocation-free signal for ErrTooLarge.
var errTooLarge = errors.New("too large")

// Broadcast routes data to every open endpoint, in name order, each under
// its own Policy (so a Block endpoint makes Broadcast wait, until ctx
// ends, before the endpoints after it get data), and returns how many
// queued it. Endpoints that dropped or refused it count it in their
// Stats. Ownership passes as for Route: data is shared read-only by every
// endpoint, so the caller must not modify it afterwards. It does not
// allocate once the queues have grown.
func (m *Manager) Broadcast(ctx context.Context, data []byte) int {
	all := m.all.Load()
	if all == nil {
		return 0
	}
	n := 0
	for _, ep := range *all {
		if ep.push(ctx, data, true) == nil {
			n++
		}
	}
	return n
}

// push offers b to the queue under the endpoint's policy, waiting (Block
// policy) only if wait. It returns nil when b was queued, or ErrQueueFull,
// errTooLarge, ctx's error, or the endpoint's *ClosedError, unwrapped.
func (ep *endpoint) push(ctx context.Context, b []byte, wait bool) error {
	for {
		ep.mu.Lock()
		if ep.closed {
			err := ep.closeErr
			ep.mu.Unlock()
			return err
		}
		n := len(b)
		if n > ep.maxBytes {
			ep.st.Routed++
			ep.drop(n)
			ep.mu.Unlock()
			return errTooLarge
		}
		if ep.q.n < ep.maxLen && ep.bytes+n <= ep.maxBytes {
			ep.enqueueLocked(b)
			ep.mu.Unlock()
			return nil
		}
		switch ep.policy {
		case DropOldest:
			for ep.q.n >= ep.maxLen || ep.bytes+n > ep.maxBytes {
				old := ep.q.pop()
				ep.bytes -= len(old)
				ep.drop(len(old))
			}
			ep.enqueueLocked(b)
			ep.mu.Unlock()
			return nil
		case Disconnect:
			ep.st.Routed++
			ep.drop(n)
			ep.closeLocked(ErrSlow, true)
			err := ep.closeErr
			ep.mu.Unlock()
			ep.afterClose()
			return err
		}
		// Block.
		ep.mu.Unlock()
		if !wait {
			return ErrQueueFull
		}
		select {
		case <-ep.notFull:
		case <-ep.done:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// signal wakes one waiter on c, if any, without blocking.
func signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// enqueueLocked appends b and wakes the consumer; if room remains it
// passes the wake-up on to another waiting router. ep.mu is held.
func (ep *endpoint) enqueueLocked(b []byte) {
	ep.q.push(b, ep.maxLen)
	ep.bytes += len(b)
	ep.st.Routed++
	signal(ep.notEmpty)
	if ep.q.n < ep.maxLen && ep.bytes < ep.maxBytes {
		signal(ep.notFull)
	}
}

// drop counts one lost item of n bytes. ep.mu is held.
func (ep *endpoint) drop(n int) {
	ep.st.Dropped++
	ep.st.DroppedBytes += uint64(n)
}

// dequeueLocked removes the oldest item and wakes one waiting router. The
// queue must not be empty; ep.mu is held.
func (ep *endpoint) dequeueLocked() []byte {
	b := ep.q.pop()
	ep.bytes -= len(b)
	signal(ep.notFull)
	return b
}

// idleLocked wakes Flush callers if nothing is queued or being written.
// ep.mu is held.
func (ep *endpoint) idleLocked() {
	if ep.q.n == 0 && !ep.writing && ep.idle != nil {
		close(ep.idle)
		ep.idle = nil
	}
}

// closeLocked runs the close protocol's first half (see endpoint) with the
// given reason. An endpoint with a Sink, or one the Manager closes, loses
// its queue (counted in Dropped); one opened with Open and closed by
// Close keeps it for Receive. ep.mu is held and ep is open.
func (ep *endpoint) closeLocked(reason error, byManager bool) {
	ep.closed = true
	ep.byManager = byManager
	ep.closeErr = &ClosedError{Endpoint: ep.name, Reason: reason}
	if ep.sink != nil || byManager {
		for ep.q.n > 0 {
			ep.drop(len(ep.q.pop()))
		}
		ep.q.reset()
		ep.bytes = 0
	}
	close(ep.done)
	if ep.idle != nil {
		close(ep.idle)
		ep.idle = nil
	}
	if ep.cancel != nil {
		if reason == nil {
			reason = ep.closeErr
		}
		ep.cancel(reason)
	}
}

// afterClose finishes a close outside ep.mu: a Sink's blocked Write gets a
// past deadline; an endpoint without a Sink that the Manager closed is
// removed and reported here (an attached one's writer does both).
func (ep *endpoint) afterClose() {
	if ep.sink != nil {
		if d, ok := ep.sink.(deadliner); ok {
			d.SetWriteDeadline(time.Unix(1, 0))
		}
		return
	}
	ep.m.remove(ep)
	if ep.m.onDisconnect != nil {
		ep.m.onDisconnect(ep.name, ep.stats())
	}
}

// run is an attached endpoint's writer goroutine: it writes the queued
// items to the Sink in order until the endpoint closes, then finishes the
// close protocol.
func (ep *endpoint) run() {
	for {
		b, ok := ep.next()
		if !ok {
			break
		}
		err := ep.sink.Write(ep.ctx, b)
		ep.mu.Lock()
		ep.writing = false
		if err != nil {
			ep.drop(len(b))
			if !ep.closed {
				var reason error = &SinkError{Err: err}
				if ep.ctx.Err() != nil { // the Attach context ended
					reason = context.Cause(ep.ctx)
				}
				ep.closeLocked(reason, true)
			}
			ep.mu.Unlock()
			break
		}
		ep.st.Delivered++
		ep.st.DeliveredBytes += uint64(len(b))
		ep.idleLocked()
		ep.mu.Unlock()
	}
	ep.sink.Close()
	ep.m.remove(ep)
	ep.mu.Lock()
	report := ep.byManager && ep.m.onDisconnect != nil
	ep.mu.Unlock()
	if report {
		ep.m.onDisconnect(ep.name, ep.stats())
	}
	close(ep.exited)
	ep.m.mu.Lock()
	ep.m.writers--
	if ep.m.writers == 0 {
		ep.m.writersDone.Broadcast()
	}
	ep.m.mu.Unlock()
}

// next waits for the next item for the writer; false once the endpoint
// closes (or its Attach context ends, which closes it).
func (ep *endpoint) next() ([]byte, bool) {
	for {
		ep.mu.Lock()
		if ep.closed {
			ep.mu.Unlock()
			return nil, false
		}
		if ep.q.n > 0 {
			b := ep.dequeueLocked()
			ep.writing = true
			ep.mu.Unlock()
			return b, true
		}
		ep.mu.Unlock()
		select {
		case <-ep.notEmpty:
		case <-ep.done:
		case <-ep.ctx.Done():
			ep.mu.Lock()
			if !ep.closed {
				ep.closeLocked(context.Cause(ep.ctx), true)
			}
			ep.mu.Unlock()
			return nil, false
		}
	}
}

// Receive returns the oldest item queued on endpoint name, opened with
// Open, waiting until one arrives or ctx ends (ctx's error). The caller
// owns the slice, shared read-only with the other endpoints it was
// routed to. After Close it keeps returning queued items until the queue
// is empty, then a *ClosedError; an endpoint the Manager closed has lost
// its queue. Unknown names return ErrUnknownEndpoint, endpoints with a
// Sink ErrHasSink; a Receive already waiting when its endpoint closes is
// not affected by the name being reopened. It does not allocate.
func (m *Manager) Receive(ctx context.Context, name string) ([]byte, error) {
	ep, err := m.lookup(name)
	if err != nil {
		return nil, err
	}
	if ep.sink != nil {
		return nil, fmt.Errorf("%w: %q", ErrHasSink, name)
	}
	return ep.receive(ctx)
}

func (ep *endpoint) receive(ctx context.Context) ([]byte, error) {
	for {
		ep.mu.Lock()
		if ep.q.n > 0 {
			b := ep.dequeueLocked()
			ep.st.Delivered++
			ep.st.DeliveredBytes += uint64(len(b))
			if ep.q.n > 0 {
				signal(ep.notEmpty) // pass it on to another receiver
			}
			ep.idleLocked()
			ep.mu.Unlock()
			return b, nil
		}
		if ep.closed {
			err := ep.closeErr
			ep.mu.Unlock()
			return nil, err
		}
		ep.mu.Unlock()
		select {
		case <-ep.notEmpty:
		case <-ep.done:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// Flush waits until endpoint name is idle: its queue empty and, for an
// attached endpoint, its Sink's last Write returned. It returns nil then,
// ctx's error if ctx ends first, the endpoint's *ClosedError if it closes
// first, or ErrUnknownEndpoint. Routing may continue meanwhile; Flush then
// waits for that too. Flush followed by Close ends an endpoint without
// losing what was routed to it.
func (m *Manager) Flush(ctx context.Context, name string) error {
	ep, err := m.lookup(name)
	if err != nil {
		return err
	}
	for {
		ep.mu.Lock()
		if ep.closed {
			err := ep.closeErr
			ep.mu.Unlock()
			return err
		}
		if ep.q.n == 0 && !ep.writing {
			ep.mu.Unlock()
			return nil
		}
		if ep.idle == nil {
			ep.idle = make(chan struct{})
		}
		idle := ep.idle
		ep.mu.Unlock()
		select {
		case <-idle:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Len returns how many items wait on endpoint name.
func (m *Manager) Len(name string) (int, error) {
	ep, err := m.lookup(name)
	if err != nil {
		return 0, err
	}
	ep.mu.Lock()
	defer ep.mu.Unlock()
	return ep.q.n, nil
}

// Stats returns endpoint name's counters, or ErrUnknownEndpoint. The final
// Stats of an endpoint the Manager closed go to Options.OnDisconnect.
func (m *Manager) Stats(name string) (Stats, error) {
	ep, err := m.lookup(name)
	if err != nil {
		return Stats{}, err
	}
	return ep.stats(), nil
}

func (ep *endpoint) stats() Stats {
	ep.mu.Lock()
	defer ep.mu.Unlock()
	st := ep.st
	st.Queued, st.QueuedBytes = ep.q.n, ep.bytes
	st.Closed = ep.closed
	if ep.closeErr != nil {
		st.Reason = ep.closeErr.Reason
	}
	return st
}

// Close closes endpoint name and removes it, so the name can be opened
// again. Routes waiting on it return its *ClosedError. An endpoint opened
// with Open keeps its queue for Receive, which drains it and then returns
// the *ClosedError; an attached endpoint drops its queue (use Flush first
// to deliver it), and Close waits for its writer goroutine: for the
// Sink's Write in progress to return and for the Sink's Close. Unknown
// names return ErrUnknownEndpoint.
func (m *Manager) Close(name string) error {
	m.mu.Lock()
	ep := m.endpoints[name]
	if ep != nil {
		delete(m.endpoints, name)
		m.snapshotLocked()
	}
	m.mu.Unlock()
	if ep == nil {
		return fmt.Errorf("%w: %q", ErrUnknownEndpoint, name)
	}
	ep.close()
	return nil
}

// close closes ep as Close does, once, and waits for its writer.
func (ep *endpoint) close() {
	ep.mu.Lock()
	closing := !ep.closed
	if closing {
		ep.closeLocked(nil, false)
	}
	ep.mu.Unlock()
	if ep.sink == nil {
		return
	}
	if closing {
		ep.afterClose()
	}
	<-ep.exited
}

// CloseAll closes every endpoint, as Close does for each, and the
// Manager: Open and Attach then return ErrClosed. It returns once every
// goroutine the Manager started has exited, including the writers of
// endpoints the Manager closed on its own and their OnDisconnect calls.
// A second call returns at once.
func (m *Manager) CloseAll() {
	m.mu.Lock()
	m.closed = true
	eps := m.endpoints
	m.endpoints = make(map[string]*endpoint)
	m.snapshotLocked()
	m.mu.Unlock()
	for _, ep := range eps {
		ep.close()
	}
	m.mu.Lock()
	for m.writers > 0 {
		m.writersDone.Wait()
	}
	m.mu.Unlock()
}

// Names returns the open endpoints' names, sorted, in a new slice.
func (m *Manager) Names() []string {
	all := m.all.Load()
	if all == nil {
		return []string{}
	}
	names := make([]string, len(*all))
	for i, ep := range *all {
		names[i] = ep.name
	}
	return names
}
