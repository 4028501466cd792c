// Package event is STT's user-defined event emitter (the seed's
// EventEmitter): an [Emitter] maps event names the caller chooses to
// handlers, runs synchronous handlers in registration order inside Emit
// and returns their errors joined, and runs asynchronous handlers on a
// bounded worker pool, reporting their errors (and panics) to a callback
// or, without one, returning them from Close, so no error is lost
// silently. It does not define event names, validate payloads, persist or
// replay events, or order asynchronous handlers. Allocation: Emit with
// synchronous handlers that succeed does not allocate; errors are joined
// in a new value, and each asynchronous job allocates its two-value
// context. Concurrency: every method is safe for concurrent use, handlers
// may register, unsubscribe and emit from inside handlers; the worker
// goroutines start on the first asynchronous job and Close stops them
// after running every job already accepted.
package event
