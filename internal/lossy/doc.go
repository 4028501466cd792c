// Package lossy is an in-process UDP proxy on 127.0.0.1 that makes a
// loopback path behave like a bad network, for STT's integration tests
// (style rule 4, after quic-go's integrationtests/tools/proxy): a client
// sends to Proxy.Addr, the proxy forwards to a target address from its own
// socket and relays the target's replies back to the client, and on the way
// each datagram passes per-direction callbacks that drop, delay (and so
// reorder), duplicate or corrupt it, plus an outage switch that drops
// everything both ways. It serves one client at a time (the address that
// sent to it most recently, so a rebinding client keeps working); it does
// not model bandwidth, queueing delay of its own or MTU, and it is not for
// benchmarks: it copies every delayed or corrupted datagram. Memory is
// bounded: at most Config.MaxQueued datagrams wait for their delay, beyond
// that they are dropped and counted. Callbacks run on the proxy's reader
// goroutines, one per direction, concurrently with each other; Proxy
// methods are safe for concurrent use, and Close stops every goroutine the
// proxy started before it returns.
package lossy
