// Package endpoint is STT's endpoint router (the seed's EndpointManager):
// a [Manager] holds named endpoints, each with its own bounded queue, and
// routes byte slices to one of them ([Manager.Route]) or to all of them
// ([Manager.Broadcast]). An endpoint is either a queue its consumer drains
// ([Manager.Open], [Manager.Receive]) or a [Sink] that a writer goroutine
// of its own feeds ([Manager.Attach]) — a viewer's connection, a session's
// stream, a file. It does not interpret names or bytes, open connections,
// retransmit, balance load or persist queues; callers build those
// policies from named endpoints.
//
// Who uses it: a live origin fanning one stream of segments out to many
// viewers, and any code that needs per-destination queues with a bounded
// cost. Each endpoint's queue is bounded twice, by items (QueueLen) and by
// bytes (QueueBytes), and a [Policy] says what happens when an item does
// not fit: Block waits (lossless, but paces the router), DropOldest
// evicts the oldest items (a live viewer skips ahead), Disconnect closes
// the endpoint (reason [ErrSlow]). With DropOldest or Disconnect a slow or
// stalled endpoint costs at most its own queue and never slows the router
// or the other endpoints. Every endpoint counts what it routed, delivered
// and dropped ([Stats]), and [Options].OnDisconnect hears of every
// endpoint the Manager closes on its own.
//
// Stability: one of the seed's primitives, a building block with a stable
// API; new options may be added.
//
// Concurrency: all methods are safe for concurrent use. Each attached
// endpoint has one writer goroutine, calling its Sink's Write in order and
// one at a time; it ends when the endpoint closes (Close, CloseAll, the
// policy, a failed Write, or the end of the context given to Attach), and
// [Manager.CloseAll] returns once every writer has ended. A Sink must
// return from Write once its context is done (see [Sink]).
//
// Allocation: Route, TryRoute, Broadcast and Receive do not allocate once
// an endpoint's queue has grown to its working size (the queue is a ring
// of slice headers that doubles up to QueueLen); errors that name an
// endpoint allocate. Open and Attach allocate the endpoint, and Attach its
// goroutine.
//
// Ownership: a routed slice is handed over, not copied: after a
// successful Route or Broadcast the router must not modify it, and every
// endpoint it went to shares it read-only, so Sinks and Receive callers
// must not modify it either. Memory held for an endpoint is its queued
// items (at most QueueBytes) plus the one its Sink is writing.
package endpoint
