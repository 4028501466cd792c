package stt_test

import (
	"bytes"
	"context"
	"io"
	"testing"
	"time"

	"github.com/stt-go/stt"
)

// echoOnce accepts one session on b, then one stream, and echoes what the
// stream carries until its end.
func echoOnce(ctx context.Context, b *stt.Node) <-chan error {
	done := make(chan error, 1)
	go func() {
		s, err := b.Accept(ctx)
		if err != nil {
			done <- err
			return
		}
		st, err := s.AcceptStream(ctx)
		if err != nil {
			done <- err
			return
		}
		_, err = io.Copy(st, st)
		if err == nil {
			err = st.Close()
		}
		done <- err
	}()
	return done
}

// roundTrip connects a to b, echoes a message over one stream, checks the
// session has an RTT sample, and closes it.
func roundTrip(t *testing.T, ctx context.Context, a, b *stt.Node) {
	t.Helper()
	done := echoOnce(ctx, b)
	s, err := a.Connect(ctx, b.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	st, err := s.OpenStream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	msg := bytes.Repeat([]byte("resume "), 1000)
	if _, err := st.Write(msg); err != nil {
		t.Fatal(err)
	}
	if err := st.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(st)
	if err != nil || !bytes.Equal(got, msg) {
		t.Fatalf("echo: %d bytes, %v; want %d bytes back", len(got), err, len(msg))
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if rtt := s.Stats().SmoothedRTT; rtt <= 0 {
		t.Errorf("SmoothedRTT = %v, want a sample from the handshake", rtt)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

// waitTicket waits until a holds a ticket (the NEW_TICKET frame arrived).
func waitTicket(t *testing.T, a *stt.Node, n uint64) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for a.Stats().Handshake.TicketsStored < n {
		if time.Now().After(deadline) {
			t.Fatalf("no ticket stored within 5 s (%+v)", a.Stats().Handshake)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestResumption: the second Connect to a node resumes (one round trip),
// and the resumed session carries streams both ways; each session hands
// out the ticket for the next.
func TestResumption(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	a, b := startNode(t, ctx, 1, nil), startNode(t, ctx, 2, nil)
	roundTrip(t, ctx, a, b)
	if hs := a.Stats().Handshake; hs.Resumed != 0 {
		t.Fatalf("first Connect resumed (%+v)", hs)
	}
	for i := range 3 {
		waitTicket(t, a, uint64(i+1))
		roundTrip(t, ctx, a, b)
		if got := a.Stats().Handshake.Resumed; got != uint64(i+1) {
			t.Fatalf("after %d reconnects: Resumed = %d, want %d", i+1, got, i+1)
		}
	}
	if got := b.Stats().Handshake.ResumeAccepted; got != 3 {
		t.Errorf("responder ResumeAccepted = %d, want 3", got)
	}
}

// TestResumptionDisabled: a node with DisableResumption issues no ticket,
// so the next Connect runs the full handshake.
func TestResumptionDisabled(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	a := startNode(t, ctx, 1, nil)
	b := startNode(t, ctx, 2, func(c *stt.Config) { c.DisableResumption = true })
	roundTrip(t, ctx, a, b)
	roundTrip(t, ctx, a, b)
	if hs := a.Stats().Handshake; hs.Resumed != 0 || hs.TicketsStored != 0 {
		t.Fatalf("resumed against a node with resumption off (%+v)", hs)
	}
}

// TestResumptionFallback: a ticket the responder no longer knows (it
// restarted, and its ticket keys with it) costs one refused RESUME and
// the same Connect completes with a full handshake.
func TestResumptionFallback(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	a, b := startNode(t, ctx, 1, nil), startNode(t, ctx, 2, nil)
	roundTrip(t, ctx, a, b)
	waitTicket(t, a, 1)
	addr := b.Addr().String()
	if err := b.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	b2 := startNode(t, ctx, 2, func(c *stt.Config) { c.ListenAddr = addr })
	roundTrip(t, ctx, a, b2)
	hs := a.Stats().Handshake
	if hs.Resumed != 0 || hs.ResumeFallbacks != 1 {
		t.Fatalf("after the responder restarted: Resumed %d, ResumeFallbacks %d; want 0 and 1", hs.Resumed, hs.ResumeFallbacks)
	}
}
