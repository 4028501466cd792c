package dataplane

import (
	"time"

	"github.com/stt-go/stt/dataplane/internal/recovery"
	"github.com/stt-go/stt/dataplane/internal/streambuf"
	"github.com/stt-go/stt/wire"
)

// Defaults for Config fields left at zero. Each names its source.
const (
	// defaultMaxDatagram is the ceiling of path MTU discovery (pmtu.go):
	// the largest UDP payload STT sends where the path carries it —
	// loopback and jumbo-frame networks — and the largest it accepts (the
	// MaxDatagram transport parameter). Sessions start at initialDatagram
	// and search upward.
	defaultMaxDatagram = 65000
	// minDatagram is the smallest datagram size (IPv6 minimum MTU 1280 −
	// 48 bytes of headers): the least MaxDatagram accepted and the floor
	// of a black-hole fallback.
	minDatagram = 1232
	// MaxDatagramLimit caps MaxDatagram: an IPv4 UDP payload is at most
	// 65 507 bytes; 65 000 leaves room for tunnel headers.
	MaxDatagramLimit = 65000

	// CongestionBBR and CongestionCubic are the values of
	// Config.CongestionControl; BBR is the default.
	CongestionBBR   = "bbr"
	CongestionCubic = "cubic"
	// bandwidthMemory is how long a hibernated session trusts the
	// bandwidth estimate it had: BBR's bandwidth filter would have aged a
	// sample out after two probe cycles (~2-3 s at most RTTs); a few
	// seconds of idleness on a stable path changes little, minutes might.
	bandwidthMemory = 10 * time.Second

	// defaultMaxStreams is the concurrent-stream limit each side advertises
	// (issue 5: default 256).
	defaultMaxStreams = 256
	// defaultStreamWindow is the initial per-stream receive credit (one
	// fact, kept in streambuf); it is auto-tuned upward to
	// defaultMaxStreamWindow when the reader keeps up.
	defaultStreamWindow = streambuf.DefaultRecvWindow
	// defaultMaxStreamWindow is the per-stream auto-tuning ceiling.
	defaultMaxStreamWindow = streambuf.DefaultMaxRecvWindow
	// defaultSessionWindow is the initial per-session receive credit.
	defaultSessionWindow = 1 << 20
	// defaultMaxSessionWindow is the per-session auto-tuning ceiling
	// (issue 5: grow to ≥ 16 MiB per session).
	defaultMaxSessionWindow = 24 << 20
	// defaultSendBuffer is the most unacknowledged bytes a stream buffers
	// before Write blocks. A stream starts at initialSendBuffer and grows
	// toward it (see Stream.growSendBuffer).
	defaultSendBuffer = 4 << 20
	// initialSendBuffer is a stream's starting send buffer. Measured on
	// loopback (BenchmarkBulk): 4 streams at 4 MiB each reach 10.8 Gbit/s,
	// at 1 MiB 15.3-16.4 (16 MiB of buffered data does not stay in cache;
	// 4 MiB does), one stream 15.1 vs 15.9.
	initialSendBuffer = streambuf.DefaultSendLimit
	// defaultMaxGaps bounds out-of-order holes per stream receive buffer.
	defaultMaxGaps = 256

	// defaultMaxMessageSize is the largest message SendMessage accepts: the
	// seed's 2 MB frame limit.
	defaultMaxMessageSize = 2 << 20

	// defaultIdleTimeout closes a session that has heard nothing
	// authenticated for this long (issue 4: 30 s).
	defaultIdleTimeout = 30 * time.Second
	// defaultMaxProbes is how many consecutive probe timeouts (PTO, RFC
	// 9002 §6.2, doubling each time) without any acknowledgement, while
	// data is in flight, declare the peer unresponsive. 6 is ~2-3 s on
	// loopback (PTO ≈ 27-40 ms × (2^6 − 1); measured 2.6-5 s with 7 under
	// TestDeadPeerNoticed, so 7 misses the 5 s a killed peer should take)
	// and ~10-15 s at 100 ms RTT, below the idle timeout; the chance that
	// 6 probe pairs and their acknowledgements are all lost at 30% random
	// loss is ~3x10^-4.
	defaultMaxProbes = 6
	// minUnresponsive is the least time without any acknowledgement before
	// a peer can be declared unresponsive, whatever the probe count: on
	// loopback six PTOs take under 2 s, and a path that pauses for a couple
	// of seconds (a Wi-Fi roam, TestLossyBulk's 2 s outage) must survive.
	minUnresponsive = 2500 * time.Millisecond
	// minDeadGrace: once the probe count and minUnresponsive are reached,
	// the session probes every PTO (no backoff) for 2 x max(PTO, this)
	// before declaring the peer unresponsive, so an outage that ended
	// during the last, long backoff interval is noticed to be over.
	minDeadGrace = 150 * time.Millisecond
	// defaultKeepAlive is how often an otherwise idle session sends a PING
	// (issue 4: 10 s).
	defaultKeepAlive = 10 * time.Second
	// defaultHibernateAfter is how long a session with nothing in flight
	// stays quiet before it releases its cipher contexts and recovery
	// state (hibernate.go): long enough that a session exchanging messages
	// every few hundred milliseconds never pays the rebuild, short enough
	// that 10 000 idle sessions cost little memory.
	defaultHibernateAfter = time.Second

	// defaultRotateBytes, defaultRotateAfter and defaultRotateMessages are
	// the seed's key-rotation thresholds (1 GB, 1 hour, 100 000 messages);
	// the AEAD confidentiality limit (2^23 packets for AES-GCM) always
	// applies on top.
	defaultRotateBytes    = 1 << 30
	defaultRotateAfter    = time.Hour
	defaultRotateMessages = 100_000
	// FirstRotationPackets makes every session rotate early so the key
	// update path is always exercised (issue 4: after ~100 packets).
	FirstRotationPackets = 100

	// minResetPacket is the smallest stateless reset: as long as the
	// smallest TRANSPORT packet (16-byte header, 1-byte payload, 16-byte
	// tag) plus 7 random bytes, so it cannot be told from one by size. A
	// node answers only packets longer than this, with one byte less.
	minResetPacket = wire.HeaderLen + 8 + wire.ResetTokenLen
	// resetRate and resetBurst bound the stateless resets a loop sends (each
	// costs an HMAC): a restarted node answers the first packets of each
	// stale peer at once, a flood of packets for unknown sessions gets a
	// trickle.
	resetRate  = 100
	resetBurst = 32
	// resetMaxSize caps a stateless reset's length: long enough to look
	// like a normal packet, short whatever the trigger's size.
	resetMaxSize = 64
	// minPathPayload is the smallest payload worth sending on an
	// unvalidated path when the amplification budget is nearly spent: room
	// for PATH_CHALLENGE and PATH_RESPONSE (10 bytes each) and an ACK.
	minPathPayload = 32
	// pnExhaustMargin: a session closes when its next packet number comes
	// this close to wire.MaxPacketNumber, leaving room for the CLOSE and
	// its repetitions (2^48 packets are ~9 years at a million per second;
	// the rule exists so that a number can never repeat under one key).
	pnExhaustMargin = 16
	// maxAckDelay is the delay we promise the peer before acknowledging
	// (RFC 9000 default 25 ms).
	maxAckDelay = 25 * time.Millisecond
	// txQueueMax bounds packets a loop builds before flushing them: up to
	// four GSO super-packets of 64 segments per sendmmsg. Measured on
	// loopback (BenchmarkBulk, 1 stream): 64 -> 14.0 Gbit/s at 1.09
	// CPU-s/GiB, 128 -> 14.5 at 1.02, 256 -> 15.3 at 1.00, with no change
	// in the 64-byte RTT; the slab costs 512 KiB per loop.
	txQueueMax = 256
	// txSlabBytes is the bytes of a loop's tx slab: 256 packets of 1452
	// bytes (372 KB) fit with room to spare, or 16 of 65 000 (after path
	// MTU discovery on loopback); a batch flushes when either the slab or
	// the 256 messages run out.
	txSlabBytes = 1 << 20
	// maxPacketsPerFlush bounds how many packets one session sends per
	// flush so one busy session cannot starve the others on its loop.
	maxPacketsPerFlush = 256
	// oldKeyLifetimePTOs keeps the previous receive key this many PTOs
	// after a key update so reordered packets still open (issue 4: ~3 PTO).
	oldKeyLifetimePTOs = 3
	// sentInitialCap is the sent-history ring a session starts with and
	// shrinks back to when idle: one entry, so idle sessions stay small;
	// the ring doubles on demand during bursts.
	sentInitialCap = 1
	// trimAfter is how long a session must be quiet before its grown
	// buffers (sent history) are released.
	trimAfter = time.Second
	// maxQueuedFrames bounds application frames waiting to be sent per
	// session, so SendFrame cannot grow memory faster than packets leave.
	maxQueuedFrames = 1024
	// closeLingerPTOs keeps a closed session this long to answer
	// retransmitted packets with CLOSE.
	closeLingerPTOs = 3
	// closeResends is how many times CLOSE is repeated during the linger
	// without being prompted (after one and two PTOs), so that a peer with
	// nothing to send still learns of the close on a lossy path instead
	// of idling out.
	closeResends = 2
)

// newPathPTO is the probe timeout of a path with no RTT sample yet
// (kInitialRtt 333 ms: about 1 s). A new path gets three times the larger
// of it and the session's current PTO to answer its PATH_CHALLENGE before
// the session falls back to the old one (RFC 9000 §8.2.4). It was max(3
// PTO, 100 ms), and a loaded machine (the race detector, a CI runner) then
// undid a genuine NAT rebinding before its PATH_RESPONSE was handled
// (TestPathMigratedEvent failed so). A forged migration is still undone at
// once: the old path's answer to its own challenge moves the session back
// (probeOldPath).
var newPathPTO = new(recovery.RTT).PTO(maxAckDelay)
