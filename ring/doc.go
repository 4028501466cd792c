// Package ring is STT's memory substrate: fixed-size buffer pools carved from
// batch-sized slabs with a hard cap on the buffers they will ever carve, a
// bounded lock-free multi-producer ring (MPSC) that carries commands and
// batches between the API goroutines and the per-core loops, and a
// coalescing Notify signal for select-based consumers. It imports only the
// standard library and knows nothing about packets, sockets or sessions: it
// does no I/O and never blocks (a full ring or an exhausted pool reports
// failure and the caller decides whether to drop or back off).
//
// Who uses it: the data plane (rx buffers, command rings, hand-offs between
// loops).
//
// Stability: a building block with a stable API.
//
// Concurrency: pools are safe for concurrent use behind one mutex; an MPSC
// ring allows any number of producers and one consumer; Notify is safe for
// concurrent use.
//
// Allocation: after warm-up (slabs carved, rings built) Get, getBatch, Put,
// putBatch, Push, Pop and Signal do not allocate, which TestNoAllocs guards.
//
// Ownership: a buffer from Get belongs to the caller until it is Put back;
// a pool never frees a slab while it lives. Building with the sttdebug tag
// poisons returned buffers and tracks every outstanding buffer so a double
// Put, a foreign Put or a write after Put panics with a clear message.
package ring
