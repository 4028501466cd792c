package stt_test

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	stt "github.com/stt-go/stt"
)

// waitHibernating polls until every session of n hibernates, bounded.
func waitHibernating(t *testing.T, ns ...*stt.Node) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		all := true
		for _, n := range ns {
			d := n.Stats().Dataplane
			all = all && d.Sessions > 0 && d.Hibernating == d.Sessions
		}
		if all {
			return
		}
		if time.Now().After(deadline) {
			for _, n := range ns {
				t.Logf("%+v", n.Stats().Dataplane)
			}
			t.Fatal("sessions did not hibernate within 10 s")
		}
	}
}

// TestHibernation moves messages and streams across many hibernate/wake
// cycles, with both sides rotating keys by age so that the first packet
// after a wake is often under a key the receiver has not used yet: every
// message arrives, nothing fails to open, and keepalives keep a
// hibernating session alive past its idle timeout.
func TestHibernation(t *testing.T) {
	for _, suite := range []string{"aes256gcm", "chacha20poly1305"} {
		t.Run(suite, func(t *testing.T) { testHibernation(t, suite) })
	}
}

func testHibernation(t *testing.T, suite string) {
	a, b, sa, sb := newPair(t, func(c *stt.Config) {
		c.Suite = suite
		c.HibernateAfter = 20 * time.Millisecond
		c.RotateAfter = 30 * time.Millisecond
		c.KeepAlive = 100 * time.Millisecond
		c.IdleTimeout = 400 * time.Millisecond
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := sa.OpenStream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.SendMessage(ctx, []byte("open")); err != nil {
		t.Fatal(err)
	}
	rs, err := sb.AcceptStream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if m, err := rs.ReceiveMessage(ctx); err != nil || string(m) != "open" {
		t.Fatalf("first message %q, %v", m, err)
	}
	const rounds = 12
	for i := range rounds {
		waitHibernating(t, a, b)
		// Alternate who wakes first; every round also answers, and every
		// third round opens a fresh stream from the responder's side.
		from, to := st, rs
		if i%2 == 1 {
			from, to = rs, st
		}
		msg := bytes.Repeat([]byte{byte(i)}, 100+i*500)
		if err := from.SendMessage(ctx, msg); err != nil {
			t.Fatalf("round %d: SendMessage: %v", i, err)
		}
		got, err := to.ReceiveMessage(ctx)
		if err != nil || !bytes.Equal(got, msg) {
			t.Fatalf("round %d: got %d bytes, %v", i, len(got), err)
		}
		if err := to.SendMessage(ctx, []byte(fmt.Sprint("ack ", i))); err != nil {
			t.Fatal(err)
		}
		if got, err := from.ReceiveMessage(ctx); err != nil || string(got) != fmt.Sprint("ack ", i) {
			t.Fatalf("round %d: reply %q, %v", i, got, err)
		}
		if i%3 == 2 {
			waitHibernating(t, a, b)
			ns, err := sb.OpenStream(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if err := ns.SendMessage(ctx, msg); err != nil {
				t.Fatal(err)
			}
			as, err := sa.AcceptStream(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if got, err := as.ReceiveMessage(ctx); err != nil || !bytes.Equal(got, msg) {
				t.Fatalf("round %d: new stream got %d bytes, %v", i, len(got), err)
			}
		}
	}
	// Idle for several idle timeouts: keepalives wake the session, so it
	// stays open.
	time.Sleep(1200 * time.Millisecond)
	if sa.State() != stt.SessionActive || sb.State() != stt.SessionActive {
		t.Fatalf("session closed while idle with keepalives: %v / %v (%v)", sa.State(), sb.State(), sa.Err())
	}
	for _, x := range []struct {
		name string
		n    *stt.Node
		s    *stt.Session
	}{{"initiator", a, sa}, {"responder", b, sb}} {
		ss, ds := x.s.Stats(), x.n.Stats().Dataplane
		t.Logf("%s: wakes %d hibernations %d rotations sent %d received %d drops auth %d replay %d",
			x.name, ds.Wakes, ds.Hibernations, ss.KeyRotationsSent, ss.KeyRotationsReceived, ss.DropsAuth, ss.DropsReplay)
		if ss.DropsAuth != 0 {
			t.Errorf("%s: %d packets failed to open across hibernation", x.name, ss.DropsAuth)
		}
		if ds.Wakes < rounds || ds.Hibernations < rounds {
			t.Errorf("%s: only %d wakes and %d hibernations in %d rounds", x.name, ds.Wakes, ds.Hibernations, rounds)
		}
		if ss.KeyRotationsSent < 2 || ss.KeyRotationsReceived < 2 {
			t.Errorf("%s: keys rotated %d/%d times; the test needs rotation across wakes", x.name, ss.KeyRotationsSent, ss.KeyRotationsReceived)
		}
	}
}
