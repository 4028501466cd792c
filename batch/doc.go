// Package batch is STT's syscall layer: it moves UDP datagrams between the
// kernel and the data plane in batches. On Linux a Conn reads with recvmmsg
// and writes with sendmmsg (both written by hand so that one call allocates
// nothing), coalesces same-size packets to one peer with UDP GSO, receives
// coalesced trains with UDP GRO, sizes the socket buffers, counts kernel
// drops (SO_RXQ_OVFL), pins path-MTU discovery to probing, and opens a
// SO_REUSEPORT group whose classic-BPF program steers every TRANSPORT packet
// to the socket that owns its session (session ID mod n, docs/ARCHITECTURE.md
// "Packet header"); on other systems the same API falls back to one
// ReadFromUDPAddrPort/WriteToUDPAddrPort per message with no GSO, GRO or
// steering. The package does not parse, decrypt, pool or retain packets: the
// caller owns every buffer before and after each call, and nothing is kept
// after a call returns. Steady-state ReadBatch, WriteBatch and Stats calls do
// not allocate (guarded by TestNoAllocs); error results may. A Conn takes one
// reader goroutine and one writer goroutine at a time: ReadBatch must not run
// concurrently with ReadBatch, nor WriteBatch with WriteBatch, but a read and
// a write may run concurrently, and Stats, LocalAddr and Close are safe from
// any goroutine. Environment switches for field debugging override Options:
// STT_DISABLE_GSO=1, STT_DISABLE_GRO=1 and STT_DISABLE_STEERING=1 (any value
// strconv.ParseBool reads as true) turn the feature off. The package
// batch/batchtest holds an in-memory Conn pair for tests.
package batch
