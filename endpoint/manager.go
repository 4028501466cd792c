package endpoint

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"sync"
)

// DefaultQueueLen is the default capacity of an endpoint's queue, in
// items: 1024 slices, about one second of a 10 Mbit/s stream in 1200-byte
// segments, enough to ride out a consumer's scheduling hiccup.
const DefaultQueueLen = 1024

// MaxQueueLen caps a queue's capacity, in items: 1<<20 slice headers are
// 24 MiB of channel buffer before any payload, the most one endpoint may
// reserve.
const MaxQueueLen = 1 << 20

// Errors returned by the Manager, checked with errors.Is; they are
// wrapped with the endpoint's name.
var (
	// ErrUnknownEndpoint is returned for a name that is not open. Open it
	// first.
	ErrUnknownEndpoint = errors.New("endpoint: unknown endpoint")
	// ErrExists is returned by Open for a name that is already open.
	ErrExists = errors.New("endpoint: endpoint already open")
	// ErrQueueFull is returned by TryRoute when the endpoint's queue is
	// full. Retry later or use Route to wait.
	ErrQueueFull = errors.New("endpoint: queue full")
	// ErrInvalidOptions is returned by Open for a queue length out of
	// range.
	ErrInvalidOptions = errors.New("endpoint: invalid options")
	// ErrClosed is returned by Route and TryRoute once the endpoint is
	// closed, and by Receive once it is closed and drained. It matches
	// net.ErrClosed.
	ErrClosed error = closedError{}
)

type closedError struct{}

func (closedError) Error() string { return "endpoint: endpoint closed" }
func (closedError) Unwrap() error { return net.ErrClosed }

// Options configures a Manager. A nil *Options means the defaults;
// NewManager copies the struct.
type Options struct {
	// QueueLen is the queue capacity, in items, of endpoints opened
	// without their own EndpointOptions.QueueLen. Zero means
	// DefaultQueueLen; values above MaxQueueLen are clamped to it;
	// negative values mean DefaultQueueLen.
	QueueLen int
}

// EndpointOptions configures one endpoint. A nil *EndpointOptions means
// the Manager's defaults.
type EndpointOptions struct {
	// QueueLen is the endpoint's queue capacity in items. Zero means the
	// Manager's Options.QueueLen; values outside [0, MaxQueueLen] make
	// Open fail with ErrInvalidOptions.
	QueueLen int
}

// Manager routes byte slices to named endpoints. The zero value is not
// usable; call NewManager. All methods are safe for concurrent use.
type Manager struct {
	queueLen int

	mu        sync.RWMutex
	endpoints map[string]*endpoint // protected by mu
}

// endpoint is one named queue.
//
// Close protocol: Close first closes stopping, which wakes every Route
// blocked on a full queue; it then takes mu for writing, which waits for
// each Route still inside its send (they hold mu for reading), marks the
// endpoint closed and closes drained. Every successful send therefore
// happens before drained is closed, so a Receive that sees drained closed
// and an empty queue knows nothing more will arrive.
type endpoint struct {
	name     string
	q        chan []byte
	stopping chan struct{} // closed first by Close: wakes blocked routers
	drained  chan struct{} // closed last by Close: no more sends can happen

	mu     sync.RWMutex // read-held by Route around its send
	closed bool         // protected by mu
	once   sync.Once
}

// NewManager returns an empty Manager.
func NewManager(opts *Options) *Manager {
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.QueueLen <= 0 {
		o.QueueLen = DefaultQueueLen
	}
	o.QueueLen = min(o.QueueLen, MaxQueueLen)
	return &Manager{queueLen: o.QueueLen, endpoints: make(map[string]*endpoint)}
}

// Open creates the endpoint name with its own queue. Names are opaque
// strings; any string, including "", is valid. It returns an error
// wrapping ErrExists if name is open, or ErrInvalidOptions for a queue
// length out of range. It allocates the queue.
func (m *Manager) Open(name string, opts *EndpointOptions) error {
	n := m.queueLen
	if opts != nil && opts.QueueLen != 0 {
		if opts.QueueLen < 0 || opts.QueueLen > MaxQueueLen {
			return fmt.Errorf("%w: endpoint %q: QueueLen %d outside [0, %d]", ErrInvalidOptions, name, opts.QueueLen, MaxQueueLen)
		}
		n = opts.QueueLen
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.endpoints[name]; ok {
		return fmt.Errorf("%w: %q", ErrExists, name)
	}
	m.endpoints[name] = &endpoint{
		name:     name,
		q:        make(chan []byte, n),
		stopping: make(chan struct{}),
		drained:  make(chan struct{}),
	}
	return nil
}

// lookup returns the open endpoint name.
func (m *Manager) lookup(name string) (*endpoint, error) {
	m.mu.RLock()
	e := m.endpoints[name]
	m.mu.RUnlock()
	if e == nil {
		return nil, fmt.Errorf("%w: %q", ErrUnknownEndpoint, name)
	}
	return e, nil
}

// Route queues data on endpoint name, waiting while the queue is full
// until there is room, ctx ends (ctx's error) or the endpoint closes
// (ErrClosed). It takes ownership of data: on success the caller must not
// modify it. Unknown names return ErrUnknownEndpoint. It does not
// allocate.
func (m *Manager) Route(ctx context.Context, name string, data []byte) error {
	e, err := m.lookup(name)
	if err != nil {
		return err
	}
	e.mu.RLock()
	defer e.mu.RUnlock()
	if e.closed {
		return ErrClosed
	}
	select {
	case e.q <- data:
		return nil
	default:
	}
	select {
	case e.q <- data:
		return nil
	case <-e.stopping:
		return ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
}

// TryRoute is Route without waiting: a full queue returns an error
// wrapping ErrQueueFull and leaves data with the caller.
func (m *Manager) TryRoute(name string, data []byte) error {
	e, err := m.lookup(name)
	if err != nil {
		return err
	}
	e.mu.RLock()
	defer e.mu.RUnlock()
	if e.closed {
		return ErrClosed
	}
	select {
	case e.q <- data:
		return nil
	default:
		return fmt.Errorf("%w: %q", ErrQueueFull, e.name)
	}
}

// Receive returns the oldest slice queued on endpoint name, waiting until
// one arrives or ctx ends (ctx's error). The caller owns the slice. After
// Close it keeps returning queued slices until the queue is empty, then
// ErrClosed. Unknown names return ErrUnknownEndpoint; a Receive already
// waiting when its endpoint closes is not affected by the name being
// reopened. It does not allocate.
func (m *Manager) Receive(ctx context.Context, name string) ([]byte, error) {
	e, err := m.lookup(name)
	if err != nil {
		return nil, err
	}
	select {
	case b := <-e.q:
		return b, nil
	default:
	}
	select {
	case b := <-e.q:
		return b, nil
	case <-e.drained:
		select {
		case b := <-e.q:
			return b, nil
		default:
			return nil, ErrClosed
		}
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Len returns how many slices wait on endpoint name.
func (m *Manager) Len(name string) (int, error) {
	e, err := m.lookup(name)
	if err != nil {
		return 0, err
	}
	return len(e.q), nil
}

// Close closes endpoint name and removes it, so the name can be opened
// again. Routes waiting on it return ErrClosed; receivers drain what is
// queued, then get ErrClosed. Unknown names return ErrUnknownEndpoint. It
// waits only for Routes already inside their send to finish, which is
// immediate.
func (m *Manager) Close(name string) error {
	m.mu.Lock()
	e := m.endpoints[name]
	delete(m.endpoints, name)
	m.mu.Unlock()
	if e == nil {
		return fmt.Errorf("%w: %q", ErrUnknownEndpoint, name)
	}
	e.close()
	return nil
}

// close runs the close protocol described on endpoint.
func (e *endpoint) close() {
	e.once.Do(func() {
		close(e.stopping)
		e.mu.Lock()
		e.closed = true
		e.mu.Unlock()
		close(e.drained)
	})
}

// CloseAll closes every endpoint, as Close does for each.
func (m *Manager) CloseAll() {
	m.mu.Lock()
	eps := m.endpoints
	m.endpoints = make(map[string]*endpoint)
	m.mu.Unlock()
	for _, e := range eps {
		e.close()
	}
}

// Names returns the open endpoints' names, sorted, in a new slice.
func (m *Manager) Names() []string {
	m.mu.RLock()
	names := make([]string, 0, len(m.endpoints))
	for n := range m.endpoints {
		names = append(names, n)
	}
	m.mu.RUnlock()
	slices.Sort(names)
	return names
}
