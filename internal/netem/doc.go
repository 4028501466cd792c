// Package netem is an in-process path emulator for STT's tests and
// benchmarks: UDP relays on 127.0.0.1 that make loopback behave like a
// wide-area path, with a bottleneck of a given rate and a drop-tail queue,
// propagation delay with jitter, random loss (Bernoulli or bursty
// Gilbert–Elliott), reordering and an MTU, in each direction.
//
// What it is: a Path is a relay between one client and a target (like
// internal/lossy, which it does not replace): the client sends to
// Path.Addr, the path sends on from a socket of its own and relays the
// replies. Each direction passes through a Link, which holds the
// bottleneck, the delay line and the random faults; several paths may
// share one Link (NewPath), so that their flows compete for one queue
// while each flow is counted apart. Departures follow a virtual schedule
// (a datagram starts serialising at max(arrival, end of the previous one)
// and takes size/rate), and a goroutine per link releases due datagrams
// in batches, so the forwarded rate is exact however coarse the wake-ups
// are. It is not a packet-level simulator: time is the machine's, the
// sockets are real, and nothing is emulated below UDP (no ICMP, no
// fragmentation, no ECN).
//
// Who uses it: integration tests of the root package (congestion control,
// path MTU discovery, black holes) and bench/cmd/wan (`make wan`), the
// table of STT and quic-go over a grid of rates, RTTs, loss rates and
// queue sizes. The bench module imports it as
// github.com/stt-go/stt/internal/netem (the internal rule is by import
// path prefix).
//
// Concurrency: every exported method is safe for concurrent use. A Path
// runs two reader goroutines and a Link one release goroutine; Close stops
// them and returns after they have. Close paths before the links they
// share.
//
// Allocation: sockets are batch.Conns (recvmmsg with UDP GRO, sendmmsg
// with GSO, large socket buffers), and held datagrams live in per-link
// pooled buffers, so a link in steady state allocates nothing per
// datagram (TestNoAllocs). Memory is bounded: the queue limit bounds
// queued bytes, the rate bounds the delay line to Rate × delay, and
// LinkConfig.MaxHeld caps both.
//
// Determinism: each Link draws from its own math/rand/v2 PCG source seeded
// with LinkConfig.Seed, and draws loss, jitter and reordering for every
// arriving datagram in a fixed order, so the same seed, configuration and
// arrival sequence (sizes and arrival times) give the same drop, delay and
// reorder decisions (TestDeterministic). What is not deterministic is the
// arrival sequence itself: arrival times come from the OS scheduler, the
// senders react to them, and the paths sharing a link interleave in
// whatever order their readers take its lock. Queue drops depend on the
// arrival times; random loss, jitter and reordering depend only on the
// arrival index.
package netem
