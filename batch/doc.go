// Package batch is STT's syscall layer: it moves UDP datagrams between the
// kernel and the data plane in batches. On Linux a Conn reads with recvmmsg
// and writes with sendmmsg (both written by hand so that one call allocates
// nothing), coalesces same-size packets to one peer with UDP GSO, receives
// coalesced trains with UDP GRO, sizes the socket buffers, counts kernel
// drops (SO_RXQ_OVFL), pins path-MTU discovery to probing, reports ICMP
// errors (IP_RECVERR) as [UnreachableError], and opens a SO_REUSEPORT group
// whose classic-BPF program steers every TRANSPORT packet to the socket that
// owns its session (wire.SessionID.Loop, docs/ARCHITECTURE.md "Packet
// header"). On other systems the same API falls back to one
// ReadFromUDPAddrPort/WriteToUDPAddrPort per message with no GSO, GRO or
// steering. It does not parse, decrypt, pool or retain packets.
//
// Who uses it: the data plane's loops (one Conn each) and the comparison
// harness's raw-UDP baseline. internal/batchtest holds an in-memory Conn pair
// for tests.
//
// Stability: a building block with a stable API (Conn, Message, Options,
// Stats, ListenGroup); new options may be added.
//
// Concurrency: a Conn takes one reader goroutine and one writer goroutine
// at a time: ReadBatch must not run concurrently with ReadBatch, nor
// WriteBatch with WriteBatch, but a read and a write may run concurrently,
// and Stats, LocalAddr and Close are safe from any goroutine.
//
// Allocation: steady-state ReadBatch, WriteBatch and Stats calls do not
// allocate (guarded by TestNoAllocs); error results may.
//
// Ownership: the caller owns every buffer before and after each call, and
// nothing is kept after a call returns.
//
// Field debugging: environment switches override Options:
// STT_DISABLE_GSO=1, STT_DISABLE_GRO=1 and STT_DISABLE_STEERING=1 (any value
// strconv.ParseBool reads as true) turn the feature off.
package batch
