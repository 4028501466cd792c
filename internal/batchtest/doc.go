// Package batchtest is an in-memory stand-in for a batch.Conn pair, for
// tests of the data plane and everything above it: NewPair returns two
// connected Conns that pass datagrams over bounded channels, copying bytes
// so sender and receiver never share a buffer, with an optional per-message
// Filter to drop, duplicate or corrupt traffic. It does not model GSO, GRO,
// steering, loss or reordering on its own, and it allocates one copy per
// datagram (it is not for benchmarks). Concurrency follows batch.Conn: one
// ReadBatch and one WriteBatch at a time per Conn, each possibly on its own
// goroutine; SetFilter, Stats and Close are safe from any goroutine, and
// Close unblocks pending calls with an error matching net.ErrClosed.
package batchtest
