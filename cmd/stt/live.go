package main

// `stt live` (issue 12): a live origin, its viewers, and an in-process
// demonstration through the path emulator.
//
//	stt live --serve [--addr HOST:PORT] [flags]  the origin: streams frames to every viewer that connects
//	stt live --watch HOST:PORT [flags]           a viewer: verifies every frame, prints latency and losses
//	stt live --demo [flags]                      origin + viewers in this process through emulated
//	                                             lossy paths, latency-bounded then reliable streams
//
// The origin composes the seed's primitives with the node. It reads a
// source (a file, or a generated test pattern at a bit rate and frame
// rate), cuts it into frames, seals each frame end to end with a live
// streaming.Encoder, optionally stores every frame in a storage.Store,
// logs the node's lifecycle events (Node.On: peer_connected,
// session_closed), and fans each frame out through an endpoint.Manager to
// every viewer: each viewer is a stream of its session opened with
// OpenStreamWith(Deadline = --latency) — or an ordinary reliable stream
// with --reliable — attached as an endpoint (Stream.Sink) with a bounded
// queue and a slow-viewer policy (--slow drop|cut). Each frame is one
// message. The viewer reassembles each frame with a streaming.Decoder,
// checks its hash, and reports glass-to-glass latency (capture on the
// origin's wall clock to decoded on the viewer's: both on one host here,
// or clocks kept in sync), frames delivered, skipped (*stt.SkippedError)
// and dropped at the origin, and any frame that failed verification.
//
// A frame message is a fixed header and the frame sealed as streaming
// records (big-endian integers):
//
//	offset  size  field
//	0       1     version: 1
//	1       1     suite: the stc.Suite the records are sealed with
//	2       8     broadcast: a random number the origin draws at start
//	10      8     seq: the frame's number, from 0
//	18      8     capture: the origin's wall clock when the frame was captured, Unix ns
//	26      32    hash: SHA3-256 of the frame (also its address in the origin's store)
//	58      ...   records: the frame sealed by a live streaming.Encoder under the
//	              stc.StreamContext for (content key, broadcast, seq), each segment
//	              framed by Segment.AppendRecord, the last one with the Last flag
//
// The content key is derived from the shared seed (every viewer holds it).
// Each frame gets a context of its own (the frame number in the stream ID
// slot), so a frame skipped on a latency-bounded stream leaves no hole
// in a decoder that later frames would wait behind, and the broadcast
// number keeps two runs of an origin from sealing under the same nonces.

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/stt-go/stt"
	"github.com/stt-go/stt/endpoint"
	"github.com/stt-go/stt/internal/netem"
	"github.com/stt-go/stt/stc"
	"github.com/stt-go/stt/storage"
	"github.com/stt-go/stt/streaming"
)

const (
	// defaultLiveLatency is the latency budget: the 200 ms, about
	// what interactive live video tolerates glass to glass.
	defaultLiveLatency = 200 * time.Millisecond
	// defaultLiveRate and defaultLiveFPS are the test pattern's bit rate
	// and frame rate: a 1080p stream.
	defaultLiveRate = "20Mbit"
	defaultLiveFPS  = 30
	// maxLiveFrame bounds a frame: half the default Config.MaxMessageSize
	// (2 MiB), so a sealed frame always fits one message.
	maxLiveFrame = 1 << 20
	// maxLiveFPS bounds --fps: a frame per millisecond.
	maxLiveFPS = 1000
	// liveFrameVersion is the first byte of every frame message.
	liveFrameVersion = 1
	// liveHeaderLen is the frame header's length (layout in the file
	// comment).
	liveHeaderLen = 58
	// liveContentSalt separates the content key from every other use of
	// the shared seed (HKDF-Extract salt).
	liveContentSalt = "stt live content v1"
	// codeCut is the stream code with which the origin resets the stream
	// of a viewer it cuts off (--slow cut, or a failed send).
	codeCut = 0x110
	// liveStreamWait bounds how long a viewer waits for the origin's
	// stream after the handshake.
	liveStreamWait = 10 * time.Second
	// liveLingerMin is the least an ending origin gives its viewers to
	// receive the frames still queued for them.
	liveLingerMin = 2 * time.Second
	// defaultMaxViewers bounds the viewers of one origin (--max-viewers):
	// each holds a queue of up to the latency budget's worth of frames
	// and a stream's send buffer.
	defaultMaxViewers = 64
)

// errLiveFrame is matched by every error about a frame message that
// cannot be used.
var errLiveFrame = errors.New("bad live frame")

// frameError says what is wrong with a frame message and where.
type frameError struct {
	What   string // which part: "header", "version", "records", "hash", ...
	Offset int    // byte offset in the message
	Err    error  // the cause: io.ErrUnexpectedEOF, a streaming or stc error, or nil
}

func (e *frameError) Error() string {
	s := fmt.Sprintf("bad live frame: %s at byte %d", e.What, e.Offset)
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns errLiveFrame and the cause.
func (e *frameError) Unwrap() []error {
	if e.Err == nil {
		return []error{errLiveFrame}
	}
	return []error{errLiveFrame, e.Err}
}

// liveHeader is the header every frame message starts with.
type liveHeader struct {
	Suite     stc.Suite
	Broadcast uint64
	Seq       uint64
	Capture   int64 // Unix ns, origin's wall clock
	Hash      [stc.HashLen]byte
}

// appendTo appends the header's liveHeaderLen bytes to b.
func (h *liveHeader) appendTo(b []byte) []byte {
	b = append(b, liveFrameVersion, byte(h.Suite))
	b = binary.BigEndian.AppendUint64(b, h.Broadcast)
	b = binary.BigEndian.AppendUint64(b, h.Seq)
	b = binary.BigEndian.AppendUint64(b, uint64(h.Capture))
	return append(b, h.Hash[:]...)
}

// parseLiveHeader parses the header at the start of b and returns it and
// its length. Errors are *frameError: a short b wraps io.ErrUnexpectedEOF;
// an unknown version or an invalid suite wraps nothing else.
func parseLiveHeader(b []byte) (liveHeader, int, error) {
	var h liveHeader
	if len(b) < liveHeaderLen {
		return h, 0, &frameError{What: fmt.Sprintf("header (%d of %d bytes)", len(b), liveHeaderLen), Offset: len(b), Err: io.ErrUnexpectedEOF}
	}
	if b[0] != liveFrameVersion {
		return h, 0, &frameError{What: fmt.Sprintf("version %d (want %d)", b[0], liveFrameVersion), Offset: 0}
	}
	h.Suite = stc.Suite(b[1])
	if !h.Suite.Valid() {
		return h, 0, &frameError{What: fmt.Sprintf("suite %d", b[1]), Offset: 1}
	}
	h.Broadcast = binary.BigEndian.Uint64(b[2:])
	h.Seq = binary.BigEndian.Uint64(b[10:])
	h.Capture = int64(binary.BigEndian.Uint64(b[18:]))
	copy(h.Hash[:], b[26:liveHeaderLen])
	return h, liveHeaderLen, nil
}

// frameSegmentSize is the sealed segment size that cuts n bytes into the
// fewest equal segments: one up to 64 KiB, two up to 128 KiB, ...
func frameSegmentSize(n int) int {
	const maxPayload = streaming.MaxSegmentSize - streaming.SegmentOverhead
	segs := max(1, (n+maxPayload-1)/maxPayload)
	return max(streaming.MinSegmentSize, (n+segs-1)/segs+streaming.SegmentOverhead)
}

// frameOverhead is the most a frame message of an n-byte frame adds to
// it beside the header: each segment's record header and AEAD overhead,
// for the data segments and the empty last one.
func frameOverhead(n int) int {
	segs := n/(frameSegmentSize(n)-streaming.SegmentOverhead) + 2
	return segs * (streaming.SegmentOverhead + streaming.MaxRecordHeaderLen)
}

// sealLiveFrame returns the frame message for payload: h (its Hash and
// Suite filled in here) and the payload sealed by a live Encoder under
// the frame's own context. It allocates the message and the context.
func sealLiveFrame(key *stc.Secret, h liveHeader, payload []byte) ([]byte, error) {
	h.Hash = stc.Hash(payload)
	sc, err := stc.NewStreamContext(h.Suite, *key, h.Broadcast, h.Seq)
	if err != nil {
		return nil, err
	}
	segSize := frameSegmentSize(len(payload))
	// Live mode, as in the seed's example: every Read of the frame is one
	// segment (bytes.Reader fills each), and the end of the frame is an
	// empty Last segment.
	enc, err := streaming.NewEncoder(bytes.NewReader(payload), sc, &streaming.EncoderOptions{SegmentSize: segSize})
	if err != nil {
		return nil, err
	}
	msg := h.appendTo(make([]byte, 0, liveHeaderLen+len(payload)+frameOverhead(len(payload))))
	scratch := make([]byte, 0, segSize)
	for {
		seg, err := enc.NextInto(scratch)
		if err == io.EOF {
			return msg, nil
		}
		if err != nil {
			return nil, err
		}
		if msg, err = seg.AppendRecord(msg); err != nil {
			return nil, err
		}
	}
}

// openLiveFrame opens a frame message: it parses the header, reassembles
// the records with a Decoder bounded to maxLiveFrame bytes, and checks
// the frame against the header's hash. The payload is a new slice the
// caller owns. Errors are *frameError (errLiveFrame), wrapping the
// primitive's error where there is one (streaming.ErrForged for a record
// that does not authenticate, io.ErrUnexpectedEOF for a message that ends
// inside a record or before the last segment).
func openLiveFrame(key *stc.Secret, msg []byte) (liveHeader, []byte, error) {
	h, off, err := parseLiveHeader(msg)
	if err != nil {
		return h, nil, err
	}
	sc, err := stc.NewStreamContext(h.Suite, *key, h.Broadcast, h.Seq)
	if err != nil {
		return h, nil, &frameError{What: "suite", Offset: 1, Err: err}
	}
	dec, err := streaming.NewDecoder(sc, &streaming.DecoderOptions{MaxBuffered: maxLiveFrame + 64*kiB})
	if err != nil {
		return h, nil, err
	}
	defer dec.Close()
	for off < len(msg) {
		seg, n, err := streaming.ParseRecord(msg[off:])
		if err != nil {
			return h, nil, &frameError{What: "record", Offset: off, Err: err}
		}
		if err := dec.Receive(seg.Seq, seg.Data); err != nil {
			return h, nil, &frameError{What: fmt.Sprintf("segment %d", seg.Seq), Offset: off, Err: err}
		}
		off += n
	}
	if !dec.Complete() {
		return h, nil, &frameError{What: "records (no last segment)", Offset: off, Err: io.ErrUnexpectedEOF}
	}
	payload, err := dec.ReceiveAll(context.Background()) // complete: does not wait
	if err != nil {
		return h, nil, &frameError{What: "records", Offset: off, Err: err}
	}
	if stc.Hash(payload) != h.Hash {
		return h, nil, &frameError{What: "hash (the frame differs from the one the origin hashed)", Offset: 26}
	}
	return h, payload, nil
}

// frameCapture reads the capture time of a frame message the origin
// built (no checks: the origin's own bytes).
func frameCapture(msg []byte) time.Time {
	return time.Unix(0, int64(binary.BigEndian.Uint64(msg[18:])))
}

// liveContentKey derives the content key frames are sealed under from the
// shared seed.
func liveContentKey(sharedSeed []byte) stc.Secret {
	return stc.Extract([]byte(liveContentSalt), sharedSeed)
}

// frameSource yields the frames of a stream.
type frameSource interface {
	// next returns frame seq's bytes in a new slice the caller keeps, or
	// io.EOF after the last frame.
	next(seq uint64) ([]byte, error)
	close()
}

// patternSource is a generated test pattern: every frame size bytes of
// xorshift output seeded by the frame's number, so frames differ from one
// another and from run to run of the same numbers only by their number.
type patternSource struct{ size int }

func (p *patternSource) next(seq uint64) ([]byte, error) {
	b := make([]byte, p.size)
	x := seq*0x9e3779b97f4a7c15 + 0x2545f4914f6cdd1d
	i := 0
	for ; i+8 <= len(b); i += 8 {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		binary.LittleEndian.PutUint64(b[i:], x)
	}
	for ; i < len(b); i++ {
		b[i] = byte(x >> (8 * (i & 7)))
	}
	return b, nil
}

func (p *patternSource) close() {}

// fileSource cuts a file into frames of size bytes (the last one may be
// shorter).
type fileSource struct {
	f    *os.File
	size int
}

func (s *fileSource) next(uint64) ([]byte, error) {
	b := make([]byte, s.size)
	n, err := io.ReadFull(s.f, b)
	switch {
	case n > 0:
		return b[:n], nil
	case err == io.ErrUnexpectedEOF, err == nil:
		return nil, io.EOF
	}
	return nil, err
}

func (s *fileSource) close() { s.f.Close() }

// originConfig configures a liveOrigin.
type originConfig struct {
	node *stt.Node
	key  stc.Secret
	// latency is the budget; reliable selects ordinary streams instead of
	// latency-bounded ones (the budget then only sizes the queue).
	latency  time.Duration
	reliable bool
	// queueFrames and queueBytes bound each viewer's endpoint queue;
	// policy is what a full one does (DropOldest or Disconnect).
	queueFrames, queueBytes int
	policy                  endpoint.Policy
	// store, when set, receives every frame.
	store *storage.Store
	// maxViewers bounds the viewers attached at once; sessions beyond it
	// are closed (0: defaultMaxViewers).
	maxViewers int
	// logf, when set, receives one line per event (a viewer joined, left,
	// was cut); it must be safe for concurrent use.
	logf func(format string, args ...any)
}

// liveOrigin streams frames to every viewer that connects to its node.
type liveOrigin struct {
	originConfig
	suite     stc.Suite
	broadcast uint64
	viewers   *endpoint.Manager
	archive   *endpoint.Manager // nil without a store
	ending    atomic.Bool       // finish has begun: sinks close their streams gracefully
	late      atomic.Uint64     // frames dropped because their budget had passed before sending
	ctx       context.Context   // ends when the origin closes
	cancel    context.CancelFunc
	wg        sync.WaitGroup // accept loop and attachers
	unsub     []func()

	mu struct {
		sync.Mutex
		joined, refused, cut int // viewers attached, refused (maxViewers), cut by the Disconnect policy
	}
	stored struct {
		sync.Mutex
		frames, bytes uint64
		first         storage.Addr
		err           error
	}
}

// newLiveOrigin starts accepting viewers on cfg.node (which must be
// started and not otherwise accepting). Close stops it.
func newLiveOrigin(cfg originConfig) (*liveOrigin, error) {
	var b [8]byte
	rand.Read(b[:])
	o := &liveOrigin{originConfig: cfg, suite: stc.PreferredSuite(), broadcast: binary.BigEndian.Uint64(b[:])}
	if o.maxViewers <= 0 {
		o.maxViewers = defaultMaxViewers
	}
	o.ctx, o.cancel = context.WithCancel(context.Background())
	o.viewers = endpoint.NewManager(&endpoint.Options{OnDisconnect: o.onDisconnect})
	if cfg.store != nil {
		o.archive = endpoint.NewManager(nil)
		// Storing runs beside the stream, never in front of it: a store
		// slower than the stream loses its oldest frames (counted), not
		// the viewers' latency. 64 MiB is 25 s of a 20 Mbit/s stream.
		err := o.archive.Attach(o.ctx, "store", endpoint.SinkFunc(o.storeFrame), &endpoint.EndpointOptions{
			QueueLen: endpoint.MaxQueueLen, QueueBytes: 64 * miB, Policy: endpoint.DropOldest,
		})
		if err != nil {
			return nil, err
		}
	}
	node := cfg.node
	o.unsub = append(o.unsub,
		node.On(stt.EventPeerConnected, func(_ context.Context, p any) error {
			e := p.(*stt.PeerConnectedEvent)
			o.event("peer_connected: viewer %s from %s", e.PeerID.Short(), e.Addr)
			return nil
		}),
		node.On(stt.EventSessionClosed, func(_ context.Context, p any) error {
			e := p.(*stt.SessionClosedEvent)
			why := "closed"
			if e.Err != nil && e.Code != stt.CodeNoError {
				why = describe(e.Err)
			}
			o.event("session_closed: viewer %s: %s", e.PeerID.Short(), why)
			return nil
		}))
	o.wg.Go(o.acceptLoop)
	return o, nil
}

func (o *liveOrigin) event(format string, args ...any) {
	if o.logf != nil {
		o.logf(format, args...)
	}
}

// acceptLoop takes every session and makes it a viewer.
func (o *liveOrigin) acceptLoop() {
	for {
		sess, err := o.node.Accept(o.ctx)
		if err != nil {
			return
		}
		o.wg.Go(func() { o.addViewer(sess) })
	}
}

// addViewer opens the viewer's stream and attaches it as an endpoint.
func (o *liveOrigin) addViewer(sess *stt.Session) {
	if o.viewerCount() >= o.maxViewers {
		o.mu.Lock()
		o.mu.refused++
		o.mu.Unlock()
		o.event("viewer %s refused: %d viewers already", sess.PeerID().Short(), o.maxViewers)
		sess.CloseWithError(codeCut, "the origin has its maximum of viewers")
		return
	}
	ctx, cancel := context.WithTimeout(o.ctx, liveStreamWait)
	defer cancel()
	var opts stt.StreamOptions
	if !o.reliable {
		opts.Deadline = o.latency
	}
	st, err := sess.OpenStreamWith(ctx, opts)
	if err != nil {
		o.event("viewer %s: cannot open its stream: %s", sess.PeerID().Short(), describe(err))
		sess.CloseWithError(codeCut, "no stream")
		return
	}
	name := fmt.Sprintf("viewer %s (session %s)", sess.PeerID().Short(), sess.ID())
	sink := &viewerSink{o: o, st: st, sink: st.Sink()}
	if !o.reliable {
		sink.budget = o.latency
	}
	o.mu.Lock()
	o.mu.joined++
	o.mu.Unlock()
	// The endpoint ends with the session (the Attach context).
	err = o.viewers.Attach(sess.Context(), name, sink, &endpoint.EndpointOptions{
		QueueLen: o.queueFrames, QueueBytes: o.queueBytes, Policy: o.policy,
	})
	if err != nil {
		st.CancelWrite(codeCut)
		sess.CloseWithError(codeCut, "origin ending")
	}
}

// viewerSink is a viewer's stream as the endpoint's Sink: it drops frames
// whose budget has already passed (the stream's deadline counts from the
// send, not from the capture), and resets the stream when the endpoint is
// closed other than by the end of the broadcast.
type viewerSink struct {
	o      *liveOrigin
	st     *stt.Stream
	sink   endpoint.Sink
	budget time.Duration // 0: send everything
}

func (v *viewerSink) Write(ctx context.Context, b []byte) error {
	if v.budget > 0 && time.Since(frameCapture(b)) > v.budget {
		v.o.late.Add(1)
		return nil
	}
	// The Manager cancels ctx when it cuts the viewer, before it sets the
	// past deadline (SetWriteDeadline below). A send that ctx interrupts
	// part-way is reset by the library with its own code, so the reset
	// with codeCut has to come first: the write runs under a context that
	// ends only after it.
	wctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	stop := context.AfterFunc(ctx, func() {
		if !v.o.ending.Load() {
			v.st.CancelWrite(codeCut)
		}
		cancel()
	})
	defer stop()
	return v.sink.Write(wctx, b)
}

func (v *viewerSink) Close() error {
	if v.o.ending.Load() {
		return v.sink.Close() // the end of the broadcast: the viewer reads io.EOF
	}
	// Cut by policy, failed, or the session ended: tell the viewer why.
	v.st.CancelWrite(codeCut)
	v.st.CancelRead(codeCut)
	return nil
}

// SetWriteDeadline is how the Manager unblocks a send when it closes the
// endpoint. Unless the broadcast is ending, the stream is reset with
// codeCut first: a send cut part-way would otherwise reset it with the
// library's own code, and the viewer could not tell why.
func (v *viewerSink) SetWriteDeadline(t time.Time) error {
	if !v.o.ending.Load() {
		v.st.CancelWrite(codeCut)
	}
	return v.st.SetWriteDeadline(t)
}

// onDisconnect counts and logs the viewers the Manager cut off (their
// session ending closes their endpoint too, which session_closed logs).
func (o *liveOrigin) onDisconnect(name string, final endpoint.Stats) {
	if !errors.Is(final.Reason, endpoint.ErrSlow) {
		return
	}
	o.mu.Lock()
	o.mu.cut++
	o.mu.Unlock()
	o.event("%s cut: it fell %d frames behind (--slow cut); it had %d frames, %d dropped", name, o.queueFrames, final.Delivered, final.Dropped)
}

// storeFrame is the archive endpoint's Sink.
func (o *liveOrigin) storeFrame(ctx context.Context, frame []byte) error {
	addr, err := o.store.Store(ctx, frame)
	o.stored.Lock()
	defer o.stored.Unlock()
	if err != nil {
		if o.stored.err == nil && ctx.Err() == nil {
			o.stored.err = err
		}
		return err
	}
	if o.stored.frames == 0 {
		o.stored.first = addr
	}
	o.stored.frames++
	o.stored.bytes += uint64(len(frame))
	return nil
}

// viewerCount returns how many viewers are attached.
func (o *liveOrigin) viewerCount() int { return len(o.viewers.Names()) }

// originStats describe one broadcast.
type originStats struct {
	Frames, Bytes uint64 // frames captured and sent to the viewers, their payload bytes
	Late          uint64 // frame sends skipped at the origin: the budget had passed
	// Behind is how long after its capture each frame left the frame
	// loop (generated, hashed, sealed and queued for every viewer): the
	// origin's own share of the latency.
	Behind    netem.Histogram
	Elapsed   time.Duration
	MaxViewer int // most viewers attached at once (sampled per frame)
	// Stored frames, their bytes, the first one's address, frames the
	// store fell behind on, and the store's error.
	Stored, StoredBytes uint64
	FirstAddr           storage.Addr
	StoreDropped        uint64
	StoreErr            error
}

// run captures frames from src at fps, every 1/fps from now, and
// broadcasts each, until src ends, limit frames were sent (0: no limit),
// d passed (0: no limit) or ctx ends (not an error). tick, when set, is
// called after every frame (from this goroutine).
func (o *liveOrigin) run(ctx context.Context, src frameSource, fps int, limit uint64, d time.Duration, tick func(*originStats)) (originStats, error) {
	var s originStats
	interval := time.Second / time.Duration(fps)
	start := time.Now()
	timer := time.NewTimer(0)
	defer timer.Stop()
	<-timer.C
	for seq := uint64(0); limit == 0 || seq < limit; seq++ {
		// The camera captures on its schedule, whatever the origin's
		// load: a late origin adds its lateness to the latency.
		capture := start.Add(time.Duration(seq) * interval)
		if d > 0 && capture.Sub(start) >= d {
			break
		}
		if wait := time.Until(capture); wait > 0 {
			timer.Reset(wait)
			select {
			case <-ctx.Done():
				s.Elapsed = time.Since(start)
				return s, nil
			case <-timer.C:
			}
		} else if ctx.Err() != nil {
			break
		}
		payload, err := src.next(seq)
		if err == io.EOF {
			break
		}
		if err != nil {
			return s, fmt.Errorf("reading frame %d: %w", seq, err)
		}
		msg, err := sealLiveFrame(&o.key, liveHeader{Suite: o.suite, Broadcast: o.broadcast, Seq: seq, Capture: capture.UnixNano()}, payload)
		if err != nil {
			return s, fmt.Errorf("sealing frame %d: %w", seq, err)
		}
		// DropOldest and Disconnect never wait: a slow viewer costs only
		// its own queue.
		o.viewers.Broadcast(ctx, msg)
		if o.archive != nil {
			_ = o.archive.Route(ctx, "store", payload)
		}
		s.Behind.Record(time.Since(capture))
		s.Frames++
		s.Bytes += uint64(len(payload))
		s.MaxViewer = max(s.MaxViewer, o.viewerCount())
		if tick != nil {
			tick(&s)
		}
	}
	s.Elapsed = time.Since(start)
	return s, nil
}

// finish ends the broadcast: every viewer gets what is queued for it
// (waiting at most linger), then its stream ends (io.EOF for the viewer);
// the store catches up (waiting as long as ctx allows). It fills s's store
// and late counts.
func (o *liveOrigin) finish(ctx context.Context, s *originStats, linger time.Duration) {
	o.ending.Store(true)
	fctx, cancel := context.WithTimeout(ctx, linger)
	var wg sync.WaitGroup
	for _, name := range o.viewers.Names() {
		wg.Go(func() { _ = o.viewers.Flush(fctx, name) })
	}
	wg.Wait()
	cancel()
	o.viewers.CloseAll()
	if o.archive != nil {
		_ = o.archive.Flush(ctx, "store")
		if st, err := o.archive.Stats("store"); err == nil {
			s.StoreDropped = st.Dropped
		}
		o.archive.CloseAll()
		o.stored.Lock()
		s.Stored, s.StoredBytes, s.FirstAddr, s.StoreErr = o.stored.frames, o.stored.bytes, o.stored.first, o.stored.err
		o.stored.Unlock()
	}
	s.Late = o.late.Load()
}

// viewerCounts returns how many viewers were attached, refused and cut
// off so far.
func (o *liveOrigin) viewerCounts() (joined, refused, cut int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.mu.joined, o.mu.refused, o.mu.cut
}

// Close stops accepting viewers, closes every endpoint and waits for the
// origin's goroutines. The node is the caller's.
func (o *liveOrigin) Close() {
	o.ending.Store(true)
	o.cancel()
	o.wg.Wait()
	o.viewers.CloseAll()
	if o.archive != nil {
		o.archive.CloseAll()
	}
	for _, u := range o.unsub {
		u()
	}
}

// viewerStats is what a viewer saw.
type viewerStats struct {
	Delivered uint64 // frames decoded and verified
	Bytes     uint64 // their bytes
	Skipped   uint64 // frames the origin's transport gave up (*stt.SkippedError)
	Dropped   uint64 // frames never sent: dropped at the origin (slow viewer, or late there)
	Failed    uint64 // messages that failed to open or verify, or came out of order
	Late      uint64 // delivered frames later than viewerOptions.lateAfter
	FirstErr  error  // the first failure
	// Latency is each delivered frame's glass-to-glass latency: from its
	// capture on the origin's clock to verified on this host's.
	Latency netem.Histogram
	// Seen reports whether any frame arrived; First and Last are the first
	// and last frame numbers that did.
	Seen        bool
	First, Last uint64
	Elapsed     time.Duration
	pending     uint64 // skipped messages not yet matched to a gap in the frame numbers
}

// Missing returns the frames between the first and the last that never
// arrived (skipped or dropped).
func (v *viewerStats) Missing() uint64 { return v.Skipped + v.Dropped }

// SkipRate returns the share of frames offered to this viewer that it
// did not get, skipped or dropped.
func (v *viewerStats) SkipRate() float64 {
	n := v.Delivered + v.Failed + v.Missing()
	if n == 0 {
		return 0
	}
	return float64(v.Missing()) / float64(n)
}

// frame accounts for a frame numbered seq that arrived (verified or not).
func (v *viewerStats) frame(seq uint64) error {
	if !v.Seen {
		v.Seen, v.First, v.Last = true, seq, seq
		v.pending = 0 // skips before the first frame are before our time
		return nil
	}
	if seq <= v.Last {
		return fmt.Errorf("frame %d after frame %d: out of order or repeated", seq, v.Last)
	}
	gap := seq - v.Last - 1
	skipped := min(gap, v.pending)
	v.pending -= skipped
	v.Dropped += gap - skipped
	v.Last = seq
	return nil
}

// viewerOptions configures watchStream.
type viewerOptions struct {
	key    stc.Secret
	maxFPS float64 // read at most this many frames per second (0: no limit)
	limit  uint64  // stop after this many frames (0: no limit)
	// lateAfter, when positive, counts frames delivered later than it
	// after their capture (viewerStats.Late).
	lateAfter time.Duration
	// report, when positive, calls onReport with a snapshot that often.
	report   time.Duration
	onReport func(*viewerStats)
}

// errCut is returned by watchStream when the origin cut this viewer off.
var errCut = errors.New("the origin cut this viewer off: it fell too far behind (the origin's --slow cut policy)")

// watchStream reads frames from st until the stream ends (nil), the
// origin resets it (errCut or its error), limit frames arrived, or ctx
// ends (nil: a viewer stops when told to).
func watchStream(ctx context.Context, st *stt.Stream, opts viewerOptions) (viewerStats, error) {
	var v viewerStats
	start := time.Now()
	nextReport := start.Add(opts.report)
	var pace time.Duration
	if opts.maxFPS > 0 {
		pace = time.Duration(float64(time.Second) / opts.maxFPS)
	}
	nextRead := start
	for opts.limit == 0 || v.Delivered < opts.limit {
		if pace > 0 {
			if wait := time.Until(nextRead); wait > 0 {
				select {
				case <-ctx.Done():
				case <-time.After(wait):
				}
			}
			nextRead = nextRead.Add(pace)
		}
		if ctx.Err() != nil {
			break
		}
		msg, err := st.ReceiveMessage(ctx)
		var se *stt.SkippedError
		var rst *stt.StreamError
		switch {
		case errors.As(err, &se):
			v.Skipped += se.Messages
			v.pending += se.Messages
			continue
		case err == io.EOF:
			v.Elapsed = time.Since(start)
			return v, nil
		case ctx.Err() != nil:
			v.Elapsed = time.Since(start)
			return v, nil
		case errors.As(err, &rst) && rst.Remote && rst.Code == codeCut:
			v.Elapsed = time.Since(start)
			return v, errCut
		case err != nil:
			v.Elapsed = time.Since(start)
			return v, sessionCause(st.Session(), err)
		}
		// A frame whose header parses keeps the numbering (gaps count
		// what never arrived) even if the rest fails.
		h, _, err := parseLiveHeader(msg)
		var payload []byte
		if err == nil {
			if err = v.frame(h.Seq); err == nil {
				_, payload, err = openLiveFrame(&opts.key, msg)
			}
		}
		if err != nil {
			v.Failed++
			if v.FirstErr == nil {
				v.FirstErr = err
			}
		} else {
			lat := time.Since(time.Unix(0, h.Capture))
			v.Latency.Record(lat)
			if opts.lateAfter > 0 && lat > opts.lateAfter {
				v.Late++
			}
			v.Delivered++
			v.Bytes += uint64(len(payload))
		}
		if opts.report > 0 && time.Now().After(nextReport) {
			v.Elapsed = time.Since(start)
			opts.onReport(&v)
			nextReport = nextReport.Add(opts.report)
		}
	}
	v.Elapsed = time.Since(start)
	return v, nil
}

// fmtMs renders a duration in milliseconds with one decimal.
func fmtMs(d time.Duration) string {
	return strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', 1, 64) + " ms"
}

// printViewer writes a viewer's summary.
func printViewer(w io.Writer, name string, v *viewerStats) {
	fmt.Fprintf(w, "%s: %s frames delivered (%s), %s skipped by the deadline, %s dropped at the origin, %s failed verification\n",
		name, formatCount(int64(v.Delivered)), formatBytes(int64(v.Bytes)), formatCount(int64(v.Skipped)), formatCount(int64(v.Dropped)), formatCount(int64(v.Failed)))
	if v.Latency.Count() > 0 {
		fmt.Fprintf(w, "%s: glass-to-glass latency p50 %s, p99 %s, max %s (capture on the origin's clock to verified on this host's)\n",
			name, fmtMs(v.Latency.Quantile(0.5)), fmtMs(v.Latency.Quantile(0.99)), fmtMs(v.Latency.Max()))
	}
	if v.FirstErr != nil {
		fmt.Fprintf(w, "%s: first verification failure: %s\n", name, oneLine(v.FirstErr.Error()))
	}
}

// liveFlags are the flags of `stt live`, by mode.
type liveFlags struct {
	serve, demo, reliable bool
	watch, addr, file     string
	rate                  string
	fps                   int
	latency               time.Duration
	queue                 int
	slow                  string
	wait                  int
	maxViewers            int
	duration              time.Duration
	frames                uint64
	report                time.Duration
	maxFPS                float64
	viewers               int
	rtt                   time.Duration
	loss, badLoss         string
	bottleneck            string
	store                 storeFlags
}

// liveModeFlags lists which flags each mode takes (the node flags of
// nodeFlags are checked separately).
var liveModeFlags = map[string][]string{
	"serve": {"serve", "addr", "rate", "fps", "file", "latency", "reliable", "queue", "slow", "wait", "max-viewers", "duration", "frames", "report", "store", "key"},
	"watch": {"watch", "duration", "frames", "report", "max-fps"},
	"demo":  {"demo", "rate", "fps", "latency", "queue", "slow", "duration", "viewers", "rtt", "loss", "bad-loss", "bottleneck"},
}

func runLive(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("live", `live --serve [--addr HOST:PORT] [--rate RATE] [--fps N] [--file FILE] [--latency D | --reliable] [--store URL] --node-seed FILE --shared-seed FILE
       stt live --watch HOST:PORT [--report D] [--max-fps N] --node-seed FILE --shared-seed FILE
       stt live --demo [--viewers N] [--rate RATE] [--rtt D] [--loss P] [--bad-loss P] [--duration D]`, stderr)
	var nf nodeFlags
	nf.register(fs, true)
	var f liveFlags
	fs.BoolVar(&f.serve, "serve", false, "be the origin: stream frames to every viewer that connects")
	fs.StringVar(&f.watch, "watch", "", "be a viewer of the origin at `HOST:PORT`")
	fs.BoolVar(&f.demo, "demo", false, "run an origin and --viewers viewers in this process through emulated lossy paths,\nfirst with latency-bounded streams, then with reliable ones, and compare")
	fs.StringVar(&f.addr, "addr", defaultListenAddr, "origin: UDP `HOST:PORT` to listen on (port 0 picks a free one)")
	fs.StringVar(&f.rate, "rate", defaultLiveRate, "origin, demo: the stream's bit `RATE`, e.g. 20Mbit, 500kbit, 2.5M")
	fs.IntVar(&f.fps, "fps", defaultLiveFPS, "origin, demo: frames per second; a frame is RATE/8/fps bytes")
	fs.StringVar(&f.file, "file", "", "origin: stream `FILE`, cut into frames and paced at --rate and --fps (default: a generated test pattern)")
	fs.DurationVar(&f.latency, "latency", defaultLiveLatency, "origin, demo: the latency `budget`: a frame not delivered within it of its capture is skipped")
	fs.BoolVar(&f.reliable, "reliable", false, "origin: ordinary reliable streams instead of latency-bounded ones, for comparison\n(a lost packet then stalls every frame behind it)")
	fs.IntVar(&f.queue, "queue", 0, "origin, demo: each viewer's queue at the origin, in `frames` (default: the latency budget's worth, at least 2)")
	fs.StringVar(&f.slow, "slow", "drop", "origin, demo: what a viewer's full queue does: drop (its oldest frames) or cut (disconnect the viewer)")
	fs.IntVar(&f.wait, "wait", 0, "origin: start the stream once `N` viewers are connected")
	fs.IntVar(&f.maxViewers, "max-viewers", defaultMaxViewers, "origin: refuse viewers beyond `N` at once")
	fs.DurationVar(&f.duration, "duration", 0, "stop after this `duration` (origin and viewer: default until the stream ends or an interrupt; demo: each run, default 10s)")
	fs.Uint64Var(&f.frames, "frames", 0, "origin, viewer: stop after `N` frames (default no limit)")
	fs.DurationVar(&f.report, "report", 0, "origin, viewer: print statistics every `interval` (default only at the end)")
	fs.Float64Var(&f.maxFPS, "max-fps", 0, "viewer: read at most `N` frames per second, to act as a slow viewer (default no limit)")
	fs.StringVar(&f.store.store, "store", "", "origin: also store every frame in the store at `URL`: file:DIR or s3://BUCKET/PREFIX?endpoint=HOST:PORT\n(as 'stt store' takes it; a frame's address is the hash in its header)")
	fs.StringVar(&f.store.key, "key", "", "origin: the key of --store, a seed `FILE` from 'stt keygen' (else hex in $"+envStoreKey+")")
	fs.IntVar(&f.viewers, "viewers", 8, "demo: how many `viewers`, each behind its own emulated path")
	fs.DurationVar(&f.rtt, "rtt", 80*time.Millisecond, "demo: the paths' round-trip `time`")
	fs.StringVar(&f.loss, "loss", "2%", "demo: random loss on every path, in each direction (`P`: 2% or 0.02)")
	fs.StringVar(&f.badLoss, "bad-loss", "5%", "demo: the last viewer's loss instead of --loss (`P`; 0 gives it --loss too)")
	fs.StringVar(&f.bottleneck, "bottleneck", "0", "demo: each path's bottleneck `RATE` with a one-BDP queue (0: none)")
	if err := fs.parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	given := fs.given()
	mode := ""
	for _, m := range []string{"serve", "watch", "demo"} {
		if given[m] {
			if mode != "" {
				return usagef("--%s and --%s are different modes: choose one", mode, m)
			}
			mode = m
		}
	}
	if mode == "" {
		return usagef("choose a mode: --serve (the origin), --watch HOST:PORT (a viewer) or --demo")
	}
	allowed := map[string]bool{"log-level": true, "handshake-timeout": true, "suite": true}
	if mode != "demo" {
		allowed["node-seed"], allowed["shared-seed"] = true, true
	}
	for _, n := range liveModeFlags[mode] {
		allowed[n] = true
	}
	for n := range given {
		if !allowed[n] {
			return usagef("--%s does not apply to --%s", n, mode)
		}
	}
	switch mode {
	case "serve":
		return runLiveServe(ctx, &f, &nf, given, stdout, stderr)
	case "watch":
		return runLiveWatch(ctx, &f, &nf, stdout, stderr)
	}
	return runLiveDemo(ctx, &f, &nf, given, stdout, stderr)
}

// streamShape is what --rate and --fps give: the frame rate and size.
type streamShape struct {
	rate      float64 // bits/s
	fps       int
	frameSize int
}

func (f *liveFlags) shape() (streamShape, error) {
	rate, err := parseBitRate(f.rate)
	if err != nil {
		return streamShape{}, usagef("--rate: %v", err)
	}
	if f.fps < 1 || f.fps > maxLiveFPS {
		return streamShape{}, usagef("--fps must be between 1 and %d, not %d", maxLiveFPS, f.fps)
	}
	size := math.Round(rate / 8 / float64(f.fps))
	if size < 1 {
		return streamShape{}, usagef("--rate %s at --fps %d gives frames of less than a byte", f.rate, f.fps)
	}
	if size > maxLiveFrame {
		return streamShape{}, usagef("--rate %s at --fps %d gives frames of %s; the most is %s (raise --fps)", f.rate, f.fps, formatBytes(int64(size)), formatBytes(maxLiveFrame))
	}
	return streamShape{rate: rate, fps: f.fps, frameSize: int(size)}, nil
}

// queueShape returns each viewer's queue: frames and bytes.
func (f *liveFlags) queueShape(sh streamShape) (frames, bytes int, policy endpoint.Policy, err error) {
	if f.latency <= 0 {
		return 0, 0, 0, usagef("--latency must be positive")
	}
	switch f.slow {
	case "drop":
		policy = endpoint.DropOldest
	case "cut":
		policy = endpoint.Disconnect
	default:
		return 0, 0, 0, usagef("--slow must be drop or cut, not %q", f.slow)
	}
	frames = f.queue
	switch {
	case frames < 0 || frames > endpoint.MaxQueueLen:
		return 0, 0, 0, usagef("--queue must be between 1 and %d frames", endpoint.MaxQueueLen)
	case frames == 0:
		frames = max(2, int(math.Ceil(f.latency.Seconds()*float64(sh.fps))))
	}
	// Room for frames whole frames: payload, header and record overhead.
	per := liveHeaderLen + sh.frameSize + frameOverhead(sh.frameSize)
	return frames, min(frames*per, endpoint.MaxQueueBytes), policy, nil
}

// parseBitRate parses a bit rate: a number of bits per second with an
// optional decimal unit, "20Mbit", "20M", "500kbit", "1.5Gbit/s", "64000".
func parseBitRate(s string) (float64, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	t = strings.TrimSuffix(strings.TrimSuffix(t, "/s"), "ps")
	t = strings.TrimSuffix(strings.TrimSuffix(t, "bit"), "b")
	mult := 1.0
	switch {
	case strings.HasSuffix(t, "k"):
		mult, t = 1e3, t[:len(t)-1]
	case strings.HasSuffix(t, "m"):
		mult, t = 1e6, t[:len(t)-1]
	case strings.HasSuffix(t, "g"):
		mult, t = 1e9, t[:len(t)-1]
	}
	v, err := strconv.ParseFloat(strings.TrimSpace(t), 64)
	if err != nil || v < 0 || math.IsInf(v, 0) || math.IsNaN(v) {
		return 0, fmt.Errorf("invalid bit rate %q (want e.g. 20Mbit, 500kbit, 1.5Gbit)", s)
	}
	return v * mult, nil
}

// parseLoss parses a loss probability: "2%" or "0.02".
func parseLoss(name, s string) (float64, error) {
	t := strings.TrimSpace(s)
	scale := 1.0
	if strings.HasSuffix(t, "%") {
		scale, t = 0.01, strings.TrimSpace(t[:len(t)-1])
	}
	v, err := strconv.ParseFloat(t, 64)
	if err != nil || math.IsNaN(v) {
		return 0, usagef("--%s %q: want a loss rate such as 2%% or 0.02", name, s)
	}
	v *= scale
	if v < 0 || v >= 1 {
		return 0, usagef("--%s %q: must be at least 0 and below 100%%", name, s)
	}
	return v, nil
}

// openSource opens the frame source the flags name.
func (f *liveFlags) openSource(sh streamShape) (frameSource, string, error) {
	if f.file == "" {
		return &patternSource{size: sh.frameSize}, "a test pattern", nil
	}
	fl, err := os.Open(f.file)
	if err != nil {
		return nil, "", err
	}
	fi, err := fl.Stat()
	if err != nil {
		fl.Close()
		return nil, "", err
	}
	if !fi.Mode().IsRegular() {
		fl.Close()
		return nil, "", fmt.Errorf("--file %s is not a regular file", f.file)
	}
	return &fileSource{f: fl, size: sh.frameSize}, fmt.Sprintf("%s (%s)", f.file, formatBytes(fi.Size())), nil
}

// liveLinger is how long an ending origin waits for its viewers' queues.
func liveLinger(latency time.Duration) time.Duration {
	return max(liveLingerMin, 4*latency)
}

// lockedWriter serialises lines written from several goroutines.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) printf(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	fmt.Fprintf(l.w, format+"\n", args...)
}

func runLiveServe(ctx context.Context, f *liveFlags, nf *nodeFlags, given map[string]bool, stdout, stderr io.Writer) error {
	sh, err := f.shape()
	if err != nil {
		return err
	}
	qFrames, qBytes, policy, err := f.queueShape(sh)
	if err != nil {
		return err
	}
	if f.wait < 0 {
		return usagef("--wait must not be negative")
	}
	if f.maxViewers < 1 || f.maxViewers < f.wait {
		return usagef("--max-viewers must be at least 1 and at least --wait")
	}
	if f.duration < 0 || f.report < 0 {
		return usagef("--duration and --report must not be negative")
	}
	if given["key"] && !given["store"] {
		return usagef("--key is the key of --store: give --store too")
	}
	log, err := nf.logger(stderr)
	if err != nil {
		return err
	}
	cfg, err := nf.config(f.addr, log)
	if err != nil {
		return err
	}
	src, srcName, err := f.openSource(sh)
	if err != nil {
		return err
	}
	defer src.close()
	var store *storage.Store
	if f.store.store != "" {
		s, st, err := f.store.newStore()
		if err != nil {
			return err
		}
		defer st.close()
		store = s
	}
	node, err := startNode(ctx, cfg)
	if err != nil {
		return listenError(err, f.addr)
	}
	defer stopNode(node)
	out := &lockedWriter{w: stdout}
	o, err := newLiveOrigin(originConfig{
		node: node, key: liveContentKey(cfg.SharedSeed),
		latency: f.latency, reliable: f.reliable,
		queueFrames: qFrames, queueBytes: qBytes, policy: policy,
		maxViewers: f.maxViewers, store: store, logf: out.printf,
	})
	if err != nil {
		return err
	}
	defer o.Close()
	mode := fmt.Sprintf("latency-bounded streams (budget %v)", f.latency)
	if f.reliable {
		mode = "reliable streams"
	}
	// The first line carries the bound address (scripts and tests read it).
	out.printf("live origin on %s node %s: %s at %s, %d frames/s of %s, %s, queue %d frames per viewer (--slow %s)",
		node.Addr(), node.ID(), srcName, formatRate(int64(sh.rate/8), time.Second), sh.fps, formatBytes(int64(sh.frameSize)), mode, qFrames, f.slow)
	if f.wait > 0 {
		out.printf("waiting for %d viewers", f.wait)
		tick := time.NewTicker(20 * time.Millisecond)
		for o.viewerCount() < f.wait {
			select {
			case <-ctx.Done():
				tick.Stop()
				return nil
			case <-tick.C:
			}
		}
		tick.Stop()
	}
	lastReport := time.Now()
	var prev originStats
	tickFn := func(s *originStats) {
		if f.report <= 0 || time.Since(lastReport) < f.report {
			return
		}
		lastReport = time.Now()
		d := s.Behind.Sub(&prev.Behind)
		out.printf("sent %s frames (%s), %d viewers, frame out after capture p99 %s, %s late at the origin",
			formatCount(int64(s.Frames)), formatBytes(int64(s.Bytes)), o.viewerCount(), fmtMs(d.Quantile(0.99)), formatCount(int64(o.late.Load())))
		prev = *s
	}
	s, runErr := o.run(ctx, src, sh.fps, f.frames, f.duration, tickFn)
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), stopTimeout)
	o.finish(fctx, &s, liveLinger(f.latency))
	cancel()
	// Viewers close their sessions once they have read the end; give
	// them the linger to do so before the node stops (which would close
	// them from this side).
	if ctx.Err() == nil {
		waitSessions(ctx, node, liveLinger(f.latency))
	}
	joined, refused, cut := o.viewerCounts()
	out.printf("sent %s frames (%s) in %.1fs to up to %d viewers at once (%d joined, %d refused, %d cut); frame out after capture p50 %s, p99 %s; %s frame sends skipped at the origin (already past the budget)",
		formatCount(int64(s.Frames)), formatBytes(int64(s.Bytes)), s.Elapsed.Seconds(), s.MaxViewer, joined, refused, cut,
		fmtMs(s.Behind.Quantile(0.5)), fmtMs(s.Behind.Quantile(0.99)), formatCount(int64(s.Late)))
	if store != nil {
		out.printf("stored %s frames (%s) in %s; the first at %x", formatCount(int64(s.Stored)), formatBytes(int64(s.StoredBytes)), f.store.store, s.FirstAddr[:])
	}
	switch {
	case runErr != nil:
		return runErr
	case s.StoreErr != nil:
		return storeError(s.StoreErr, "storing frames", f.store.store)
	case s.StoreDropped > 0:
		return fmt.Errorf("%d frames were not stored: the store was slower than the stream", s.StoreDropped)
	}
	return nil
}

// waitSessions waits until node has no session, for at most d or until
// ctx ends.
func waitSessions(ctx context.Context, node *stt.Node, d time.Duration) {
	deadline := time.Now().Add(d)
	for len(node.Sessions()) > 0 && time.Now().Before(deadline) && ctx.Err() == nil {
		time.Sleep(20 * time.Millisecond)
	}
}

// listenError words a failure to start the node on addr.
func listenError(err error, addr string) error {
	if errors.Is(err, syscall.EADDRINUSE) {
		return fmt.Errorf("address already in use: another process holds UDP %s; choose another --addr or stop that process", addr)
	}
	return err
}

func runLiveWatch(ctx context.Context, f *liveFlags, nf *nodeFlags, stdout, stderr io.Writer) error {
	if f.duration < 0 || f.report < 0 || f.maxFPS < 0 || math.IsNaN(f.maxFPS) {
		return usagef("--duration, --report and --max-fps must not be negative")
	}
	bind, err := bindFor(f.watch)
	if err != nil {
		return usagef("--watch: %s", strings.TrimPrefix(err.Error(), "--to "))
	}
	log, err := nf.logger(stderr)
	if err != nil {
		return err
	}
	cfg, err := nf.config(bind, log)
	if err != nil {
		return err
	}
	node, err := startNode(ctx, cfg)
	if err != nil {
		return err
	}
	defer stopNode(node)
	sess, err := connect(ctx, node, f.watch, f.watch, nf.handshakeTimeout)
	if err != nil {
		return err
	}
	defer sess.Close()
	sctx, cancel := context.WithTimeout(ctx, liveStreamWait)
	st, err := sess.AcceptStream(sctx)
	timedOut := sctx.Err() != nil
	cancel()
	switch {
	case err != nil && ctx.Err() != nil:
		return nil
	case err != nil && timedOut:
		return fmt.Errorf("%s opened no live stream within %v: is it an 'stt live --serve' origin?", f.watch, liveStreamWait)
	case err != nil:
		return sessionCause(sess, err)
	}
	defer st.Close()
	fmt.Fprintf(stdout, "watching %s (origin %s), session %s\n", f.watch, sess.PeerID().Short(), sess.ID())
	wctx := ctx
	if f.duration > 0 {
		var cancel context.CancelFunc
		wctx, cancel = context.WithTimeout(ctx, f.duration)
		defer cancel()
	}
	name := "viewer " + node.ID().Short()
	var prev viewerStats
	v, err := watchStream(wctx, st, viewerOptions{
		key: liveContentKey(cfg.SharedSeed), maxFPS: f.maxFPS, limit: f.frames, report: f.report,
		onReport: func(v *viewerStats) {
			d := v.Latency.Sub(&prev.Latency)
			fmt.Fprintf(stdout, "%s: %s delivered, %s skipped, %s dropped, %s failed; last %v: p50 %s, p99 %s\n",
				name, formatCount(int64(v.Delivered)), formatCount(int64(v.Skipped)), formatCount(int64(v.Dropped)), formatCount(int64(v.Failed)),
				f.report, fmtMs(d.Quantile(0.5)), fmtMs(d.Quantile(0.99)))
			prev = *v
		},
	})
	printViewer(stdout, name, &v)
	if err != nil {
		return err
	}
	if v.Failed > 0 {
		return fmt.Errorf("%d frames failed verification; the first: %s", v.Failed, oneLine(v.FirstErr.Error()))
	}
	if v.Delivered > 0 {
		fmt.Fprintf(stdout, "OK: every delivered frame verified byte for byte (SHA3-256)\n")
	}
	return nil
}

// soundLate is how late, at the 99th percentile, the emulator may release
// datagrams and the origin produce frames for a run to show the transport
// rather than the machine: beyond it the host itself (other processes on
// a shared machine) adds delay comparable to a retransmission, and frames
// miss the budget for that reason alone.
const soundLate = 10 * time.Millisecond

// demoConfig is one demo run's setup.
type demoConfig struct {
	shape      streamShape
	viewers    int
	rtt        time.Duration
	loss       []float64 // per viewer
	bottleneck float64   // bits/s; 0: none
	latency    time.Duration
	reliable   bool
	queue      int // frames; bytes follow the shape
	queueBytes int
	policy     endpoint.Policy
	duration   time.Duration
	seed       uint64 // netem seeds: viewer i uses seed+2i and seed+2i+1
	handshake  time.Duration
	suite      string       // Config.Suite of every node
	log        *slog.Logger // Config.Logger of every node (nil: silent)
}

// demoViewer is one viewer's outcome in a demo run.
type demoViewer struct {
	loss  float64
	stats viewerStats
	err   error
	lost  uint64 // datagrams the emulator dropped for loss on the way to the viewer
}

// demoRun is the outcome of one demo run.
type demoRun struct {
	cfg        demoConfig
	viewers    []demoViewer
	origin     originStats
	events     map[string]int // node events seen at the origin, by name
	cpu        time.Duration  // process CPU time over the run (0: unknown)
	wall       time.Duration
	emuLate    netem.Histogram // the emulator's own release lateness, all paths
	sockDrops  uint64          // datagrams the kernel dropped at the emulator's sockets
	originLate uint64
}

// runDemo runs one demo: an origin and cfg.viewers viewers in this
// process, each viewer behind a netem path to the origin, for
// cfg.duration of frames.
func runDemoOnce(ctx context.Context, cfg demoConfig) (*demoRun, error) {
	res := &demoRun{cfg: cfg, viewers: make([]demoViewer, cfg.viewers), events: make(map[string]int)}
	shared := randomSeed()
	mkNode := func() (*stt.Node, error) {
		return startNode(ctx, stt.Config{
			NodeSeed: randomSeed(), SharedSeed: shared, ListenAddr: "127.0.0.1:0",
			Loops: 1, HandshakeTimeout: cfg.handshake, Suite: cfg.suite, Logger: cfg.log,
		})
	}
	originNode, err := mkNode()
	if err != nil {
		return nil, err
	}
	defer stopNode(originNode)
	var evMu sync.Mutex
	countEvent := func(name string) stt.EventHandler {
		return func(context.Context, any) error {
			evMu.Lock()
			res.events[name]++
			evMu.Unlock()
			return nil
		}
	}
	defer originNode.On(stt.EventPeerConnected, countEvent(stt.EventPeerConnected))()
	defer originNode.On(stt.EventSessionClosed, countEvent(stt.EventSessionClosed))()
	o, err := newLiveOrigin(originConfig{
		node: originNode, key: liveContentKey(shared),
		latency: cfg.latency, reliable: cfg.reliable,
		queueFrames: cfg.queue, queueBytes: cfg.queueBytes, policy: cfg.policy,
	})
	if err != nil {
		return nil, err
	}
	defer o.Close()

	paths := make([]*netem.Path, cfg.viewers)
	defer func() {
		for _, p := range paths {
			if p != nil {
				p.Close()
			}
		}
	}()
	var q int
	if cfg.bottleneck > 0 {
		q = netem.BDP(cfg.bottleneck, cfg.rtt, 1)
	}
	for i := range paths {
		link := func(seed uint64) netem.LinkConfig {
			return netem.LinkConfig{Rate: cfg.bottleneck, QueueBytes: q, Delay: cfg.rtt / 2, Loss: cfg.loss[i], Seed: seed}
		}
		p, err := netem.New(originNode.Addr(), &netem.Config{Forward: link(cfg.seed + 2*uint64(i)), Reverse: link(cfg.seed + 2*uint64(i) + 1)})
		if err != nil {
			return nil, err
		}
		paths[i] = p
	}

	// The viewers connect through their paths; each watches until the
	// origin ends the stream.
	key := liveContentKey(shared)
	wctx, cancelWatch := context.WithCancel(ctx)
	defer cancelWatch()
	var wg sync.WaitGroup
	ready := make(chan error, cfg.viewers)
	for i := range cfg.viewers {
		res.viewers[i].loss = cfg.loss[i]
		wg.Go(func() {
			dv := &res.viewers[i]
			n, err := mkNode()
			if err != nil {
				ready <- err
				return
			}
			defer stopNode(n)
			sess, err := connect(wctx, n, paths[i].Addr().String(), fmt.Sprintf("the origin through path %d", i+1), cfg.handshake)
			if err != nil {
				ready <- err
				return
			}
			sctx, cancel := context.WithTimeout(wctx, liveStreamWait+cfg.handshake)
			st, err := sess.AcceptStream(sctx)
			cancel()
			if err != nil {
				ready <- fmt.Errorf("viewer %d: no stream from the origin: %w", i+1, err)
				return
			}
			ready <- nil
			dv.stats, dv.err = watchStream(wctx, st, viewerOptions{key: key, lateAfter: cfg.latency + cfg.rtt/2})
			st.Close()
			cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), stopTimeout)
			_ = sess.CloseContext(cctx)
			cancel()
		})
	}
	fail := func(err error) (*demoRun, error) {
		cancelWatch()
		o.Close()
		wg.Wait()
		return nil, err
	}
	for range cfg.viewers {
		if err := <-ready; err != nil {
			return fail(err)
		}
	}
	// Every viewer has its stream; wait for the last endpoint to attach.
	for o.viewerCount() < cfg.viewers {
		select {
		case <-ctx.Done():
			return fail(ctx.Err())
		case <-time.After(5 * time.Millisecond):
		}
	}
	var late0 []netem.Histogram
	for _, p := range paths {
		late0 = append(late0, p.Link(netem.Reverse).Stats().Late)
	}
	cpu0, haveCPU := cpuTime()
	start := time.Now()
	s, err := o.run(ctx, &patternSource{size: cfg.shape.frameSize}, cfg.shape.fps, 0, cfg.duration, nil)
	if err != nil {
		return fail(err)
	}
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), stopTimeout)
	o.finish(fctx, &s, liveLinger(cfg.latency))
	cancel()
	wg.Wait()
	res.wall = time.Since(start)
	if cpu1, ok := cpuTime(); ok && haveCPU {
		res.cpu = cpu1 - cpu0
	}
	res.origin = s
	res.originLate = s.Late
	for i, p := range paths {
		ls := p.Link(netem.Reverse).Stats()
		d := ls.Late.Sub(&late0[i])
		res.emuLate.Merge(&d)
		res.viewers[i].lost = p.Stats(netem.Reverse).DroppedLoss
		res.sockDrops += p.SocketDrops()
	}
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	// The session_closed events of the viewers' graceful closes.
	deadline := time.Now().Add(2 * time.Second)
	for time.Now().Before(deadline) {
		evMu.Lock()
		n := res.events[stt.EventSessionClosed]
		evMu.Unlock()
		if n >= cfg.viewers {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	evMu.Lock()
	res.events = maps.Clone(res.events)
	evMu.Unlock()
	return res, nil
}

// sound reports whether the machine stayed out of a run's figures.
func (r *demoRun) sound() bool {
	return r.emuLate.Quantile(0.99) <= soundLate && r.origin.Behind.Quantile(0.99) <= soundLate && r.sockDrops == 0
}

// pooled merges the figures of the viewers whose loss is loss (all of
// them for a negative loss).
func (r *demoRun) pooled(loss float64) (h netem.Histogram, delivered, missing uint64) {
	return r.pooledExcept(loss, -1)
}

// pooledExcept is pooled leaving out viewer index except.
func (r *demoRun) pooledExcept(loss float64, except int) (h netem.Histogram, delivered, missing uint64) {
	for i, v := range r.viewers {
		if i != except && (loss < 0 || v.loss == loss) {
			h.Merge(&v.stats.Latency)
			delivered += v.stats.Delivered
			missing += v.stats.Missing()
		}
	}
	return h, delivered, missing
}

// late returns the frames delivered later than the budget + one-way
// delay, over every viewer.
func (r *demoRun) late() (n uint64) {
	for _, v := range r.viewers {
		n += v.stats.Late
	}
	return n
}

// printRun writes a demo run's table.
func printRun(w io.Writer, title string, r *demoRun) {
	fmt.Fprintf(w, "\n%s\n", title)
	fmt.Fprintf(w, "  %-7s %5s %9s %7s %7s %6s %9s %9s %9s %5s  %s\n", "viewer", "loss", "delivered", "skipped", "dropped", "failed", "p50", "p99", "max", "late", "datagrams lost")
	for i, v := range r.viewers {
		st := &v.stats
		fmt.Fprintf(w, "  %-7s %4.1f%% %9d %7d %7d %6d %9s %9s %9s %5d  %d",
			fmt.Sprintf("v%d", i+1), 100*v.loss, st.Delivered, st.Skipped, st.Dropped, st.Failed,
			fmtMs(st.Latency.Quantile(0.5)), fmtMs(st.Latency.Quantile(0.99)), fmtMs(st.Latency.Max()), st.Late, v.lost)
		if v.err != nil {
			fmt.Fprintf(w, "  ERROR: %s", describe(v.err))
		}
		fmt.Fprintln(w)
	}
	o := &r.origin
	cpu := "unknown"
	if r.cpu > 0 {
		cpu = fmt.Sprintf("%.2f s of %.1f s (%.0f%% of %d cores)", r.cpu.Seconds(), r.wall.Seconds(), 100*r.cpu.Seconds()/r.wall.Seconds()/float64(runtime.GOMAXPROCS(0)), runtime.GOMAXPROCS(0))
	}
	fmt.Fprintf(w, "  origin: %d frames; frame out after capture p50 %s, p99 %s; %d sends skipped past the budget; events %d peer_connected, %d session_closed\n",
		o.Frames, fmtMs(o.Behind.Quantile(0.5)), fmtMs(o.Behind.Quantile(0.99)), r.originLate, r.events[stt.EventPeerConnected], r.events[stt.EventSessionClosed])
	fmt.Fprintf(w, "  machine: CPU %s; emulator release late p99 %s, max %s; %d datagrams dropped by full sockets\n",
		cpu, fmtMs(r.emuLate.Quantile(0.99)), fmtMs(r.emuLate.Max()), r.sockDrops)
	if !r.sound() {
		fmt.Fprintf(w, "  note: this machine delayed packets and frames itself (more than %s at p99): the figures include that, not only the paths'\n", fmtMs(soundLate))
	}
}

func runLiveDemo(ctx context.Context, f *liveFlags, nf *nodeFlags, given map[string]bool, stdout, stderr io.Writer) error {
	sh, err := f.shape()
	if err != nil {
		return err
	}
	qFrames, qBytes, policy, err := f.queueShape(sh)
	if err != nil {
		return err
	}
	if f.viewers < 1 || f.viewers > 64 {
		return usagef("--viewers must be between 1 and 64, not %d", f.viewers)
	}
	if f.rtt < 0 {
		return usagef("--rtt must not be negative")
	}
	if !given["duration"] {
		f.duration = 10 * time.Second
	}
	if f.duration <= 0 {
		return usagef("--duration must be positive")
	}
	loss, err := parseLoss("loss", f.loss)
	if err != nil {
		return err
	}
	bad, err := parseLoss("bad-loss", f.badLoss)
	if err != nil {
		return err
	}
	if bad == 0 {
		bad = loss
	}
	bneck, err := parseBitRate(f.bottleneck)
	if err != nil {
		return usagef("--bottleneck: %v", err)
	}
	if nf.handshakeTimeout <= 0 {
		return usagef("--handshake-timeout must be positive")
	}
	log, err := nf.logger(stderr)
	if err != nil {
		return err
	}
	losses := make([]float64, f.viewers)
	for i := range losses {
		losses[i] = loss
	}
	if f.viewers > 1 {
		losses[f.viewers-1] = bad
	}
	cfg := demoConfig{
		shape: sh, viewers: f.viewers, rtt: f.rtt, loss: losses, bottleneck: bneck,
		latency: f.latency, queue: qFrames, queueBytes: qBytes, policy: policy,
		duration: f.duration, seed: 1, handshake: nf.handshakeTimeout, suite: nf.suite, log: log,
	}
	fmt.Fprintf(stdout, "STT live demo: one origin, %d viewers, each behind its own emulated path in this process (%d CPUs, %s)\n", f.viewers, runtime.GOMAXPROCS(0), runtime.Version())
	bn := "no bottleneck"
	if bneck > 0 {
		bn = "bottleneck " + formatRate(int64(bneck/8), time.Second)
	}
	fmt.Fprintf(stdout, "stream: test pattern at %s, %d frames/s of %s, %v per run; paths: RTT %v, loss %.1f%% each way (v%d: %.1f%%), %s; latency budget %v\n",
		formatRate(int64(sh.rate/8), time.Second), sh.fps, formatBytes(int64(sh.frameSize)), f.duration, f.rtt, 100*loss, f.viewers, 100*bad, bn, f.latency)
	fmt.Fprintf(stdout, "latency is glass to glass: from the frame's capture on the origin to verified on the viewer (one host, one clock);\nlate: frames delivered later than the budget + one-way delay (%v)\n", f.latency+f.rtt/2)

	runs := make([]*demoRun, 2)
	for i, reliable := range []bool{false, true} {
		cfg.reliable = reliable
		r, err := runDemoOnce(ctx, cfg)
		if err != nil {
			return err
		}
		runs[i] = r
		title := fmt.Sprintf("run 1: latency-bounded streams (StreamOptions.Deadline %v)", f.latency)
		if reliable {
			title = "run 2: reliable streams (the same frames: nothing is skipped, every lost packet is waited for)"
		}
		printRun(stdout, title, r)
	}
	return demoVerdict(stdout, runs[0], runs[1], loss, f.latency, f.rtt/2)
}

// demoVerdict prints the comparison and fails if a frame failed
// verification or a viewer failed.
func demoVerdict(w io.Writer, bounded, reliable *demoRun, loss float64, budget, oneWay time.Duration) error {
	hb, db, mb := bounded.pooled(loss)
	hr, dr, mr := reliable.pooled(loss)
	fmt.Fprintf(w, "\nsummary over the viewers at %.1f%% loss:\n", 100*loss)
	fmt.Fprintf(w, "  latency-bounded: p50 %s, p99 %s, max %s; %d delivered, %d missing (%.2f%%)\n",
		fmtMs(hb.Quantile(0.5)), fmtMs(hb.Quantile(0.99)), fmtMs(hb.Max()), db, mb, pct(mb, db+mb))
	fmt.Fprintf(w, "  reliable:        p50 %s, p99 %s, max %s; %d delivered, %d missing (%.2f%%)\n",
		fmtMs(hr.Quantile(0.5)), fmtMs(hr.Quantile(0.99)), fmtMs(hr.Max()), dr, mr, pct(mr, dr+mr))
	fmt.Fprintf(w, "frames later than the budget + one-way delay (%s), every viewer: %d latency-bounded, %d reliable",
		fmtMs(budget+oneWay), bounded.late(), reliable.late())
	if reliable.late() > bounded.late() {
		fmt.Fprintf(w, ": the reliable streams stall\n  behind each lost packet until it is repaired; the deadline skips what cannot arrive in time instead\n")
	} else {
		fmt.Fprintf(w, ": no stall showed this time\n")
	}
	var errs []error
	for _, r := range []*demoRun{bounded, reliable} {
		for i, v := range r.viewers {
			if v.err != nil {
				errs = append(errs, fmt.Errorf("viewer v%d: %w", i+1, v.err))
			}
			if v.stats.Failed > 0 {
				errs = append(errs, fmt.Errorf("viewer v%d: %d frames failed verification: %v", i+1, v.stats.Failed, v.stats.FirstErr))
			}
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	fmt.Fprintln(w, "OK: every delivered frame verified byte for byte (SHA3-256)")
	return nil
}

func pct(n, of uint64) float64 {
	if of == 0 {
		return 0
	}
	return 100 * float64(n) / float64(of)
}
