package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/stt-go/stt"
)

// refusedWait bounds how long a sender whose write failed waits for the
// receiver's reply explaining why.
const refusedWait = 2 * time.Second

// sendBody runs one transfer of a byte body: header, body (h.Size bytes
// from body), end of stream, reply. When h asks for a digest it computes
// the digest of what it sent, on a chunkPipe worker beside the stream
// writes, and checks the receiver's. A *mappedFile body is sent from its
// mapping (writeMapped). t (may be nil) counts progress. It returns the
// receiver's reply.
func sendBody(ctx context.Context, sess *stt.Session, h header, body io.Reader, t *task) (reply, error) {
	hb, err := h.append(nil)
	if err != nil {
		return reply{}, err
	}
	st, err := sess.OpenStream(ctx)
	if err != nil {
		return reply{}, fmt.Errorf("opening a stream: %w", err)
	}
	stop := context.AfterFunc(ctx, func() {
		st.CancelWrite(codeCancelled)
		st.CancelRead(codeCancelled)
	})
	defer stop()
	if err := st.SendMessage(ctx, hb); err != nil {
		return reply{}, refusal(ctx, st, fmt.Errorf("sending header: %w", err))
	}
	d := h.Digest.newHash()
	work := func(b []byte) error { return nil }
	if d != nil {
		work = func(b []byte) error {
			// guard: b may be a view of a mapped file (putView).
			if guard(func() { d.Write(b) }) {
				return errSourceShrank
			}
			return nil
		}
	}
	pipe := newChunkPipe(sendPool, work)
	sent, err := writeBody(ctx, st, h.Size, body, pipe, t)
	if perr := pipe.close(); err == nil && perr != nil {
		// The worker fails only on a mapped file cut under it, after the
		// last write: writeBody's size check reports that too.
		st.CancelWrite(codeCancelled)
		err = perr
	}
	if err != nil {
		return reply{}, err
	}
	if sent != h.Size {
		st.CancelWrite(codeCancelled)
		return reply{}, fmt.Errorf("the source shrank to %d of %d bytes while sending", sent, h.Size)
	}
	if err := st.CloseWrite(); err != nil {
		return reply{}, refusal(ctx, st, fmt.Errorf("closing the stream: %w", err))
	}
	rep, err := readReply(ctx, st, replyTimeout)
	if err != nil {
		return reply{}, err
	}
	st.Close()
	if rep.Size != h.Size {
		return rep, fmt.Errorf("the peer received %d of %d bytes", rep.Size, h.Size)
	}
	if d != nil {
		var sum [digestLen]byte
		d.Sum(sum[:0])
		if rep.Sum != sum {
			return rep, fmt.Errorf("%s mismatch: the peer stored %x…, we sent %x…", h.Digest, rep.Sum[:8], sum[:8])
		}
	}
	return rep, nil
}

// sourceError is a failure to read the body's source (the sender's own
// file), as opposed to a failure of the stream.
type sourceError struct{ err error }

func (e *sourceError) Error() string { return "reading source: " + e.err.Error() }
func (e *sourceError) Unwrap() error { return e.err }

// writeBody copies up to size bytes from body to st through pipe's
// buffers, and returns how many it sent. A source that yields more than
// size bytes is an error; so is a read failure (a *sourceError) and a
// write failure (the receiver's explanation when it sent one, see
// refusal). On error the stream's write side is reset.
func writeBody(ctx context.Context, st *stt.Stream, size uint64, body io.Reader, pipe *chunkPipe, t *task) (uint64, error) {
	if m, ok := body.(*mappedFile); ok && m.off == 0 && uint64(len(m.b)) == size {
		return writeMapped(ctx, st, m, pipe, t)
	}
	var sent uint64
	for {
		buf, err := pipe.get()
		if err != nil {
			st.CancelWrite(codeCancelled)
			return sent, err
		}
		n, rerr := body.Read(buf)
		if n > 0 {
			if sent+uint64(n) > size {
				pipe.put(buf[:0])
				st.CancelWrite(codeCancelled)
				return sent, fmt.Errorf("the source grew beyond %d bytes while sending", size)
			}
			if _, err := st.Write(buf[:n]); err != nil {
				pipe.put(buf[:0])
				return sent, refusal(ctx, st, fmt.Errorf("sending: %w", err))
			}
			sent += uint64(n)
			if t != nil {
				t.Add(int64(n))
			}
		}
		pipe.put(buf[:n])
		if rerr == io.EOF {
			return sent, nil
		}
		if rerr != nil {
			st.CancelWrite(codeCancelled)
			return sent, &sourceError{err: rerr}
		}
	}
}

// writeMapped is writeBody for a mapped file: each piece of sendChunk
// bytes goes to the stream's Write from the mapping, then to the worker
// as a view. A file cut under the mapping stops it with errSourceShrank,
// and a file whose size changed by the end is an error too.
func writeMapped(ctx context.Context, st *stt.Stream, m *mappedFile, pipe *chunkPipe, t *task) (uint64, error) {
	var sent int
	for sent < len(m.b) {
		if err := pipe.failure(); err != nil {
			st.CancelWrite(codeCancelled)
			return uint64(sent), err
		}
		piece := m.b[sent:min(sent+sendChunk, len(m.b))]
		var (
			n   int
			err error
		)
		if guard(func() { n, err = st.Write(piece) }) {
			st.CancelWrite(codeCancelled)
			return uint64(sent), errSourceShrank
		}
		if err != nil {
			return uint64(sent), refusal(ctx, st, fmt.Errorf("sending: %w", err))
		}
		pipe.putView(piece)
		sent += n
		if t != nil {
			t.Add(int64(n))
		}
	}
	if err := m.checkSize(); err != nil {
		st.CancelWrite(codeCancelled)
		return uint64(sent), err
	}
	return uint64(sent), nil
}

// sendMessages sends count messages of messageLen bytes from the
// generator of seed on one stream; the receiver checks each.
func sendMessages(ctx context.Context, sess *stt.Session, count, seed uint64, t *task) (reply, error) {
	st, err := sess.OpenStream(ctx)
	if err != nil {
		return reply{}, fmt.Errorf("opening a stream: %w", err)
	}
	stop := context.AfterFunc(ctx, func() {
		st.CancelWrite(codeCancelled)
		st.CancelRead(codeCancelled)
	})
	defer stop()
	hb, _ := header{Kind: kindMessages, Size: count, Seed: seed}.append(nil)
	if err := st.SendMessage(ctx, hb); err != nil {
		return reply{}, fmt.Errorf("sending header: %w", err)
	}
	msg := make([]byte, messageLen)
	// Background: SendMessage's fast path; cancellation comes through
	// the AfterFunc above.
	bg := context.Background()
	const batch = 1024 // progress updates per batch keep the counter off the hot path
	for i := uint64(0); i < count; i++ {
		messageAt(msg, seed, i)
		if err := st.SendMessage(bg, msg); err != nil {
			return reply{}, refusal(ctx, st, fmt.Errorf("sending message %d: %w", i, err))
		}
		if t != nil && (i+1)%batch == 0 {
			t.Add(batch)
		}
	}
	if t != nil {
		t.Add(int64(count % batch))
	}
	if err := st.CloseWrite(); err != nil {
		return reply{}, refusal(ctx, st, fmt.Errorf("closing the stream: %w", err))
	}
	rep, err := readReply(ctx, st, replyTimeout)
	if err != nil {
		return reply{}, err
	}
	st.Close()
	if rep.Size != count {
		return rep, fmt.Errorf("the peer verified %d of %d messages", rep.Size, count)
	}
	return rep, nil
}

// roundTrips sends n messages of messageLen bytes on an echo stream, one
// at a time, and returns each round-trip time.
func roundTrips(ctx context.Context, sess *stt.Session, n int) ([]time.Duration, error) {
	st, err := sess.OpenStream(ctx)
	if err != nil {
		return nil, fmt.Errorf("opening a stream: %w", err)
	}
	defer st.Close()
	stop := context.AfterFunc(ctx, func() {
		st.CancelWrite(codeCancelled)
		st.CancelRead(codeCancelled)
	})
	defer stop()
	hb, _ := header{Kind: kindEcho}.append(nil)
	if err := st.SendMessage(ctx, hb); err != nil {
		return nil, fmt.Errorf("sending header: %w", err)
	}
	bg := context.Background()
	msg := make([]byte, messageLen)
	rtts := make([]time.Duration, 0, n)
	for i := range n {
		messageAt(msg, 7, uint64(i))
		t0 := time.Now()
		if err := st.SendMessage(bg, msg); err != nil {
			return nil, err
		}
		back, err := st.ReceiveMessage(bg)
		if err != nil {
			return nil, fmt.Errorf("round trip %d: %w", i, err)
		}
		rtts = append(rtts, time.Since(t0))
		if string(back) != string(msg) {
			return nil, fmt.Errorf("round trip %d: the echo differs", i)
		}
	}
	if err := st.CloseWrite(); err != nil {
		return nil, err
	}
	return rtts, nil
}

// readReply waits up to d for the receiver's reply and turns a refusal
// into an error carrying its text.
func readReply(ctx context.Context, st *stt.Stream, d time.Duration) (reply, error) {
	rctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	b, err := st.ReceiveMessage(rctx)
	if err != nil {
		return reply{}, fmt.Errorf("waiting for the peer's reply: %w", err)
	}
	rep, err := parseReply(b)
	if err != nil {
		return reply{}, err
	}
	if !rep.OK {
		return rep, &refusedError{msg: rep.Err}
	}
	return rep, nil
}

// refusedError is the receiver's explanation of a failed transfer.
type refusedError struct{ msg string }

func (e *refusedError) Error() string { return "the peer refused: " + e.msg }

// refusal turns a failed write into the receiver's explanation when it
// sent one, else into the write error.
func refusal(ctx context.Context, st *stt.Stream, werr error) error {
	_, err := readReply(ctx, st, refusedWait)
	var re *refusedError
	if errors.As(err, &re) {
		return err
	}
	st.CancelWrite(codeCancelled)
	return werr
}
