package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/stt-go/stt"
	"github.com/stt-go/stt/stc"
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
)

// received describes one completed transfer, for the listen log line.
type received struct {
	Kind    kind
	Name    string
	Size    uint64
	Elapsed time.Duration
	Sum     [32]byte
	Peer    stt.NodeID
}

// server answers transfers on every stream of every accepted session.
type server struct {
	outDir string // where kindFile bodies go; "" refuses kindFile
	log    *slog.Logger
	// onDone is called (from stream goroutines) for each completed transfer
	// and for each refused one (err non-nil); it may be nil.
	onDone func(r received, err error)
	// onSession is called with each accepted session before it is served
	// (--metrics tracks it); it may be nil.
	onSession func(*stt.Session)
	wg        sync.WaitGroup
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
		st.CancelRead(codeCancelled)
		st.CancelWrite(codeCancelled)
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
	r := received{Kind: h.Kind, Name: h.Name, Peer: sess.PeerID()}
	var rep reply
	switch h.Kind {
	case kindFile:
		rep, err = s.receiveFile(st, h)
	case kindHash:
		rep, err = receiveBody(st, h.Size, func(b []byte, _ uint64) error { return nil }, true)
	case kindPattern:
		scratch := make([]byte, copyBufSize)
		rep, err = receiveBody(st, h.Size, func(b []byte, off uint64) error {
			if i := patternMismatch(b, h.Seed, off, scratch); i >= 0 {
				return fmt.Errorf("byte %d differs from the sender's data", off+uint64(i))
			}
			return nil
		}, false)
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
	_ = st.SendMessage(ctx, reply{Err: oneLine(err.Error())}.append(nil))
	cancel()
	st.CancelRead(codeRefused)
	_ = st.CloseWrite()
	s.done(r, err)
}

// receiveFile stores the body in a temporary file in the out directory and
// renames it into place only once it is complete; any failure removes it.
func (s *server) receiveFile(st *stt.Stream, h header) (rep reply, err error) {
	if s.outDir == "" {
		return reply{}, errors.New("this node does not accept files")
	}
	name, err := sanitizeName(h.Name)
	if err != nil {
		return reply{}, err
	}
	f, err := os.CreateTemp(s.outDir, tempPrefix+"*")
	if err != nil {
		return reply{}, fmt.Errorf("creating file: %v", err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	rep, err = receiveBody(st, h.Size, func(b []byte, _ uint64) error {
		if _, err := f.Write(b); err != nil {
			return fmt.Errorf("writing %s: %v", name, err)
		}
		return nil
	}, true)
	if err != nil {
		return reply{}, err
	}
	if err := f.Sync(); err != nil {
		return reply{}, fmt.Errorf("writing %s: %v", name, err)
	}
	if err := f.Close(); err != nil {
		return reply{}, fmt.Errorf("writing %s: %v", name, err)
	}
	if err := os.Rename(f.Name(), filepath.Join(s.outDir, name)); err != nil {
		return reply{}, fmt.Errorf("storing %s: %v", name, err)
	}
	return rep, nil
}

// errTooLong reports a body longer than its header announced.
var errTooLong = errors.New("the peer sent more bytes than its header announced")

// receiveBody reads exactly size bytes then the end of the stream, passing
// each chunk and its offset to sink, hashing them with SHA3-256 when hash
// is set.
func receiveBody(st *stt.Stream, size uint64, sink func(b []byte, off uint64) error, hash bool) (reply, error) {
	buf := make([]byte, copyBufSize)
	var h *stc.Hasher
	if hash {
		h = stc.NewHasher()
	}
	var off uint64
	for off < size {
		want := min(uint64(len(buf)), size-off)
		n, err := st.Read(buf[:want])
		if n > 0 {
			if h != nil {
				h.Write(buf[:n])
			}
			if err := sink(buf[:n], off); err != nil {
				return reply{}, err
			}
			off += uint64(n)
		}
		if err == io.EOF {
			return reply{}, fmt.Errorf("the stream ended after %d of %d bytes", off, size)
		}
		if err != nil {
			return reply{}, fmt.Errorf("receiving: %w", err)
		}
	}
	// The sender closes its side right after the body.
	if n, err := st.Read(buf[:1]); n > 0 {
		return reply{}, errTooLong
	} else if err != io.EOF {
		return reply{}, fmt.Errorf("waiting for the end of the stream: %w", err)
	}
	rep := reply{OK: true, Size: off}
	if h != nil {
		rep.Sum = h.Sum256()
	}
	return rep, nil
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
