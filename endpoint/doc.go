// Package endpoint is STT's endpoint router (the seed's EndpointManager):
// a [Manager] holds named endpoints, each with its own bounded FIFO queue
// of byte slices, and moves slices from Route to Receive, blocking with a
// context or failing fast with TryRoute when a queue is full. It does not
// interpret names or bytes, send anything over the network, fan out,
// balance load or persist queues; callers build those policies from named
// endpoints. Allocation: Route, TryRoute and Receive do not allocate (a
// queue is a buffered channel of slice headers); Open allocates the queue.
// Ownership: a routed slice is handed over, not copied, so the router must
// not touch it after a successful Route and the receiver owns it. All
// methods are safe for concurrent use across any number of endpoints; the
// Manager starts no goroutines.
package endpoint
