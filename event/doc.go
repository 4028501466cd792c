// Package event is STT's user-defined event emitter (the seed's
// EventEmitter): an [Emitter] maps event names the caller chooses to
// handlers and delivers each Emit's payload to them, synchronously on the
// caller's goroutine ([Emitter.On]) or asynchronously on a goroutine of the
// handler's own ([Emitter.OnAsync]). It does not define event names,
// validate payloads, persist or replay events, or order one handler's
// events against another's.
//
// Who uses it: applications that want to react to their own events
// ("temperature_threshold_exceeded", "frame_sent"), and code that must
// report to application handlers without being stalled by them — a
// node's lifecycle events ("peer_connected", "session_closed") are meant
// to be emitted here, where a slow or broken handler costs its own events
// and nothing else.
//
// Stability: one of the seed's primitives, a building block with a stable
// API; new options may be added.
//
// Failure isolation: every handler runs under recover; a panic becomes a
// [*PanicError] (returned by Emit for a synchronous handler, passed to
// Options.OnError inside an [*AsyncError] for an asynchronous one) and is
// counted in [Stats]. Each asynchronous handler has a bounded queue
// (Options.QueueLen events); when it is full, Emit drops the event for
// that handler, counts it in Stats.Dropped and returns at once, so a
// handler that blocks forever never stalls Emit. Synchronous handlers are
// for callers that want that coupling: they run inside Emit and can block
// it.
//
// Concurrency: every method is safe for concurrent use; handlers may
// register, unsubscribe and emit from inside handlers. An asynchronous
// handler sees its events one at a time, in the order they were queued.
// [Emitter.Close] waits for the queued events; [Emitter.Shutdown] waits
// until its context ends, then cancels the handlers' context and drops
// the rest. After either, no goroutine of the emitter is left.
//
// Allocation: Emit does not allocate (a payload converted to any may,
// at the caller); a failing synchronous handler costs the joined error,
// and each asynchronous delivery allocates its handler's small context on
// the handler's goroutine. OnAsync allocates the handler's queue.
//
// Ownership: the payload is shared, not copied: every handler of an event
// sees the same value, and an asynchronous handler may see it after Emit
// returns, so the emitter's caller must not modify it afterwards.
package event
