package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/stt-go/stt"
)

const (
	// headerTimeout bounds the wait for a stream's header message, so a
	// peer that opens streams and says nothing does not pin goroutines.
	headerTimeout = 30 * time.Second
	// replyTimeout bounds sending or waiting for a reply message once the
	// body is complete.
	replyTimeout = 30 * time.Second
	// copyBufSize is the read size of body copies: large enough that
	// per-call overhead vanishes against the transport's own cost.
	copyBufSize = 256 * kiB
	// codeRefused is the stream code the receiver uses when it abandons a
	// transfer (bad header, unsafe name, write error, corrupt data).
	codeRefused = 0x100
	// codeCancelled is the stream code a sender uses when it gives up.
	codeCancelled = 0x101
	// codeShuttingDown is the stream code a receiver uses for the
	// transfers it abandons because it is shutting down.
	codeShuttingDown = 0x102
)

// received describes one completed transfer, for the listen log line.
type received struct {
	Kind    kind
	Digest  digest
	Name    string
	Size    uint64
	Elapsed time.Duration
	Sum     [32]byte
	Peer    stt.NodeID
}

// server answers transfers on every stream of every accepted session.
type server struct {
	outDir string // where kindFile bodies go; "" refuses kindFile
	// overwrite lets a received file replace an existing one of the same
	// name; without it such a transfer is refused.
	overwrite bool
	// direct is how received files are written (stt listen --direct-io).
	direct directMode
	log    *slog.Logger
	// onDone is called (from stream goroutines) for each completed transfer
	// and for each refused one (err non-nil); it may be nil.
	onDone func(r received, err error)
	// onSession is called with each accepted session before it is served
	// (--metrics tracks it); it may be nil.
	onSession func(*stt.Session)
	wg        sync.WaitGroup
	// bodies bounds the transfers whose bodies are received at once, and
	// so the chunk buffers they hold (pipeBuffers x recvChunk each): at
	// most maxBodies x 3 MiB whatever peers open. Later transfers wait,
	// and their senders wait on flow control.
	bodiesOnce sync.Once
	bodies     chan struct{}
}

// maxBodies is how many transfer bodies a server receives at once: far
// more than the cores that could process them, so it binds only when
// peers open dozens of transfers; with 1 MiB chunks it holds the
// buffers to 48 MiB, as 64 bodies did with 256 KiB chunks.
const maxBodies = 16

// body waits for a body slot, or for ctx to end, and returns its release.
func (s *server) body(ctx context.Context) (release func(), err error) {
	s.bodiesOnce.Do(func() { s.bodies = make(chan struct{}, maxBodies) })
	select {
	case s.bodies <- struct{}{}:
		return func() { <-s.bodies }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// serveNode accepts sessions until ctx ends or the node stops, then waits
// for every session goroutine to finish.
func (s *server) serveNode(ctx context.Context, n *stt.Node) error {
	defer s.wg.Wait()
	for {
		sess, err := n.Accept(ctx)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, stt.ErrClosed) {
				return nil
			}
			return err
		}
		s.log.Debug("session accepted", "peer", sess.PeerID().Short(), "addr", sess.RemoteAddr())
		if s.onSession != nil {
			s.onSession(sess)
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.serveSession(ctx, sess)
		}()
	}
}

// serveSession serves every stream the peer opens until the session ends.
func (s *server) serveSession(ctx context.Context, sess *stt.Session) {
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		st, err := sess.AcceptStream(ctx)
		if err != nil {
			s.log.Debug("session ended", "peer", sess.PeerID().Short(), "err", err)
			return
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.serveStream(ctx, sess, st)
		}()
	}
}

// serveStream runs one transfer: header, body, reply.
func (s *server) serveStream(ctx context.Context, sess *stt.Session, st *stt.Stream) {
	start := time.Now()
	stop := context.AfterFunc(ctx, func() {
		st.CancelRead(codeShuttingDown)
		st.CancelWrite(codeShuttingDown)
	})
	defer stop()
	hctx, cancel := context.WithTimeout(ctx, headerTimeout)
	msg, err := st.ReceiveMessage(hctx)
	cancel()
	if err != nil {
		s.refuse(st, received{Peer: sess.PeerID()}, fmt.Errorf("reading header: %w", err))
		return
	}
	h, err := parseHeader(msg)
	if err != nil {
		s.refuse(st, received{Peer: sess.PeerID()}, err)
		return
	}
	r := received{Kind: h.Kind, Digest: h.Digest, Name: h.Name, Peer: sess.PeerID()}
	if h.Kind == kindFile || h.Kind == kindPattern {
		release, err := s.body(ctx)
		if err != nil {
			s.refuse(st, r, errStopping)
			return
		}
		defer release()
	}
	var rep reply
	switch h.Kind {
	case kindFile:
		rep, err = s.receiveFile(st, h)
	case kindPattern:
		scratch := make([]byte, recvChunk)
		rep, err = receiveBody(st, h.Size, func(b []byte, off uint64) error {
			if i := patternMismatch(b, h.Seed, off, scratch); i >= 0 {
				return fmt.Errorf("byte %d differs from the sender's data", off+uint64(i))
			}
			return nil
		}, digestNone)
	case kindSink:
		var n uint64
		n, err = drain(st, make([]byte, copyBufSize))
		rep = reply{OK: err == nil, Size: n}
	case kindMessages:
		rep, err = receiveMessages(ctx, st, h)
	case kindEcho:
		err = echo(ctx, st)
		if err == nil {
			st.Close()
		}
	}
	if err != nil {
		if ctx.Err() != nil {
			err = errStopping
		} else {
			err = sessionCause(sess, err)
		}
		s.refuse(st, r, err)
		return
	}
	r.Size, r.Sum, r.Elapsed = rep.Size, rep.Sum, time.Since(start)
	if h.Kind != kindEcho {
		rctx, cancel := context.WithTimeout(ctx, replyTimeout)
		err = st.SendMessage(rctx, rep.append(nil))
		cancel()
		if err != nil {
			s.done(r, fmt.Errorf("sending reply: %w", err))
			return
		}
		st.Close()
	}
	s.done(r, nil)
}

func (s *server) done(r received, err error) {
	if s.onDone != nil {
		s.onDone(r, err)
	}
}

// refuse tells the peer why the transfer failed (best effort), abandons
// the stream and reports the failure.
func (s *server) refuse(st *stt.Stream, r received, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	_ = st.SendMessage(ctx, reply{Err: describe(err)}.append(nil))
	cancel()
	st.CancelRead(codeRefused)
	_ = st.CloseWrite()
	s.done(r, err)
}

// receiveFile stores the body in a partial file in the out directory and
// moves it into place under its name only once it is complete; any
// failure removes it. Without s.overwrite an existing name is refused,
// before the body when it exists already, and atomically (link, which
// never replaces) when it appears during the transfer. Error texts go to
// the sender: they name the file by the sender's name and never carry the
// receiver's paths.
func (s *server) receiveFile(st *stt.Stream, h header) (rep reply, err error) {
	if s.outDir == "" {
		return reply{}, errors.New("this node does not accept files")
	}
	name, err := sanitizeName(h.Name)
	if err != nil {
		return reply{}, err
	}
	dst := filepath.Join(s.outDir, name)
	if !s.overwrite {
		if _, err := os.Lstat(dst); err == nil {
			return reply{}, errExists(name)
		}
	}
	f, err := createPart(s.outDir)
	if err != nil {
		return reply{}, fmt.Errorf("cannot create a file in the receiving directory: %v", pathless(err))
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	fw := newFileWriter(f, s.direct)
	rep, err = receiveBody(st, h.Size, func(b []byte, _ uint64) error {
		if _, err := fw.Write(b); err != nil {
			return fmt.Errorf("writing %q: %v", name, pathless(err))
		}
		return nil
	}, h.Digest)
	if err != nil {
		return reply{}, err
	}
	synced := time.Now()
	if err := f.Sync(); err != nil {
		return reply{}, fmt.Errorf("writing %q: %v", name, pathless(err))
	}
	s.log.Debug("file received", "name", name, "bytes", rep.Size, "fsync", time.Since(synced))
	if err := f.Close(); err != nil {
		return reply{}, fmt.Errorf("writing %q: %v", name, pathless(err))
	}
	if s.overwrite {
		if err := os.Rename(f.Name(), dst); err != nil {
			return reply{}, fmt.Errorf("storing %q: %v", name, pathless(err))
		}
		return rep, nil
	}
	if err := os.Link(f.Name(), dst); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return reply{}, errExists(name)
		}
		return reply{}, fmt.Errorf("storing %q: %v", name, pathless(err))
	}
	os.Remove(f.Name())
	return rep, nil
}

// errExists is the refusal of a name that exists in the out directory.
func errExists(name string) error {
	return fmt.Errorf("%q already exists on the receiver, which does not replace files (stt listen --overwrite)", name)
}

// createPart creates a new, empty partial file in dir, named tempPrefix
// and random digits, with mode 0666 less the umask: the mode the received
// file keeps, as any file a program creates (os.CreateTemp would make it
// 0600 whatever the umask).
func createPart(dir string) (*os.File, error) {
	for range 10 {
		var r [8]byte
		rand.Read(r[:])
		f, err := os.OpenFile(filepath.Join(dir, tempPrefix+hex.EncodeToString(r[:])), os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o666)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		return f, err
	}
	return nil, errors.New("no unused partial-file name after 10 tries")
}

// pathless returns err without the file path an *fs.PathError or
// *os.LinkError carries ("no space left on device" rather than "write
// /srv/inbox/.stt-part-…: no space left on device").
func pathless(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	var le *os.LinkError
	if errors.As(err, &le) {
		return le.Err
	}
	return err
}

// errStopping is why transfers fail when the receiver stops (Ctrl-C).
var errStopping = errors.New("the receiver is shutting down")

// errTooLong reports a body longer than its header announced.
var errTooLong = errors.New("the peer sent more bytes than its header announced")

// receiveBody reads exactly size bytes then the end of the stream. The
// reads fill a chunkPipe's buffers and feed the reply's digest dg (none:
// no digest) with each chunk as it is filled; the pipe's worker passes
// each chunk and its offset to sink, so that the stream reads do not wait
// for the disk and the digest runs beside the disk write (pipe.go). A
// sink error stops the transfer at the next chunk.
func receiveBody(st *stt.Stream, size uint64, sink func(b []byte, off uint64) error, dg digest) (reply, error) {
	d := dg.newHash()
	var off uint64 // the worker's
	pipe := newChunkPipe(recvPool, func(b []byte) error {
		if err := sink(b, off); err != nil {
			return err
		}
		off += uint64(len(b))
		return nil
	})
	n, err := readBody(st, size, pipe, d)
	if perr := pipe.close(); perr != nil {
		return reply{}, perr
	}
	if err != nil {
		return reply{}, err
	}
	rep := reply{OK: true, Size: n}
	if d != nil {
		d.Sum(rep.Sum[:0])
	}
	return rep, nil
}

// readBody reads exactly size bytes from st into pipe's buffers, writing
// each chunk to d (if not nil) before handing it to the worker, then
// checks that the stream ends there. It stops at the first worker error.
func readBody(st *stt.Stream, size uint64, pipe *chunkPipe, d hash.Hash) (uint64, error) {
	var got uint64
	for got < size {
		buf, err := pipe.get()
		if err != nil {
			return got, err
		}
		// Whole chunks: one hand-over to the worker per recvChunk bytes,
		// however small the stream's reads are.
		n, rerr := io.ReadFull(st, buf[:min(uint64(len(buf)), size-got)])
		if d != nil {
			d.Write(buf[:n])
		}
		pipe.put(buf[:n])
		got += uint64(n)
		switch {
		case rerr == io.EOF || rerr == io.ErrUnexpectedEOF:
			return got, fmt.Errorf("the stream ended after %d of %d bytes", got, size)
		case rerr != nil:
			return got, fmt.Errorf("receiving: %w", rerr)
		}
	}
	// The sender closes its side right after the body.
	var one [1]byte
	if n, err := st.Read(one[:]); n > 0 {
		return got, errTooLong
	} else if err != io.EOF {
		return got, fmt.Errorf("waiting for the end of the stream: %w", err)
	}
	return got, nil
}

// drain reads r to its end with buf (io.Copy to io.Discard would use
// io.Discard's small internal buffer) and returns the byte count.
func drain(r io.Reader, buf []byte) (uint64, error) {
	var n uint64
	for {
		k, err := r.Read(buf)
		n += uint64(k)
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, err
		}
	}
}

// receiveMessages reads h.Size messages, each checked against the
// generator, then the end of the stream.
func receiveMessages(ctx context.Context, st *stt.Stream, h header) (reply, error) {
	want := make([]byte, messageLen)
	for i := uint64(0); i < h.Size; i++ {
		m, err := st.ReceiveMessage(ctx)
		if err != nil {
			return reply{}, fmt.Errorf("message %d of %d: %w", i, h.Size, err)
		}
		messageAt(want, h.Seed, i)
		if string(m) != string(want) {
			return reply{}, fmt.Errorf("message %d differs from the sender's (%d bytes)", i, len(m))
		}
	}
	if _, err := st.ReceiveMessage(ctx); err != io.EOF {
		if err == nil {
			return reply{}, errTooLong
		}
		return reply{}, fmt.Errorf("waiting for the end of the stream: %w", err)
	}
	return reply{OK: true, Size: h.Size}, nil
}

// echo returns every message to the sender until the end of the stream.
func echo(ctx context.Context, st *stt.Stream) error {
	for {
		m, err := st.ReceiveMessage(ctx)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if err := st.SendMessage(ctx, m); err != nil {
			return err
		}
	}
}

// serveInProcess runs s.serveNode(b) in a goroutine for the in-process
// pair of `bench` and `demo`, and returns the shutdown to defer: it stops
// node a (the dialler), the server, node b, and waits for the goroutine.
func (s *server) serveInProcess(ctx context.Context, a, b *stt.Node) (shutdown func()) {
	sctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		s.serveNode(sctx, b)
	}()
	return func() {
		stopNode(a)
		cancel()
		stopNode(b)
		wg.Wait()
	}
}

// directMode is how a receiver writes files (stt listen --direct-io; see
// fileWriter).
type directMode int

const (
	directAuto directMode = iota // O_DIRECT on local file systems that take it
	directOn                     // O_DIRECT wherever the file system takes it
	directOff                    // always through the page cache
)

// parseDirectMode parses --direct-io.
func parseDirectMode(s string) (directMode, error) {
	switch s {
	case "auto":
		return directAuto, nil
	case "on":
		return directOn, nil
	case "off":
		return directOff, nil
	}
	return 0, usagef("--direct-io must be auto, on or off, not %q", s)
}
