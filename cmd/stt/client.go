package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/stt-go/stt"
	"github.com/stt-go/stt/stc"
)

// refusedWait bounds how long a sender whose write failed waits for the
// receiver's reply explaining why.
const refusedWait = 2 * time.Second

// sendBody runs one transfer of a byte body: header, body (h.Size bytes
// from body), end of stream, reply. With hash it computes the SHA3-256 of
// what it sent and checks the receiver's. t (may be nil) counts progress.
// It returns the receiver's reply.
func sendBody(ctx context.Context, sess *stt.Session, h header, body io.Reader, hash bool, t *task) (reply, error) {
	st, err := sess.OpenStream(ctx)
	if err != nil {
		return reply{}, fmt.Errorf("opening a stream: %w", err)
	}
	stop := context.AfterFunc(ctx, func() {
		st.CancelWrite(codeCancelled)
		st.CancelRead(codeCancelled)
	})
	defer stop()
	hb, err := h.append(nil)
	if err != nil {
		return reply{}, err
	}
	if err := st.SendMessage(ctx, hb); err != nil {
		return reply{}, refusal(ctx, st, fmt.Errorf("sending header: %w", err))
	}
	var hs *stc.Hasher
	if hash {
		hs = stc.NewHasher()
	}
	buf := make([]byte, copyBufSize)
	var sent uint64
	for {
		n, rerr := body.Read(buf)
		if n > 0 {
			if sent+uint64(n) > h.Size {
				st.CancelWrite(codeCancelled)
				return reply{}, fmt.Errorf("the source grew beyond %d bytes while sending", h.Size)
			}
			if hs != nil {
				hs.Write(buf[:n])
			}
			if _, err := st.Write(buf[:n]); err != nil {
				return reply{}, refusal(ctx, st, fmt.Errorf("sending: %w", err))
			}
			sent += uint64(n)
			if t != nil {
				t.Add(int64(n))
			}
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			st.CancelWrite(codeCancelled)
			return reply{}, fmt.Errorf("reading source: %v", rerr)
		}
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
	if hs != nil && rep.Sum != hs.Sum256() {
		return rep, fmt.Errorf("SHA3-256 mismatch: the peer's %x, ours %x", rep.Sum[:8], hs.Sum256())
	}
	return rep, nil
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
