package dataplane_test

import (
	"context"
	"testing"
	"time"

	"github.com/stt-go/stt/dataplane"
)

// TestProbeSendsAfterAbandon: a PTO always sends an ack-eliciting packet,
// even when the oldest unacknowledged packet's data needs no resending. A
// latency-bounded stream's message goes out in one packet that the peer
// never acknowledges (lost), and expires: its bytes are abandoned, so
// re-queuing that packet's ranges yields nothing to send. Before the fix
// the PTO then sent nothing at all — the packet stayed in flight for ever,
// the timer fired again and again, and on a lossy path the session stopped
// acknowledging its peer (its ACK-only backlog filled) until the peer
// declared it unresponsive (TestLatencyBoundedStream/lossy failed so under
// load: 31 450 PTOs without a packet).
func TestProbeSendsAfterAbandon(t *testing.T) {
	p := newScriptedPeer(t, dataplane.Config{})
	p.roundTrip(p.ackFrame()) // FINAL acknowledged, an RTT sample
	// Acknowledge the engine's ACK of that round trip too, in a packet that
	// asks for no answer: then nothing older than the message's packet is
	// unacknowledged (an ACK-only packet there would make the probe a PING
	// by another path).
	p.waitUntil("the engine's ACK", func() bool { return p.acked >= p.pn })
	p.send(p.packet(false, p.ackFrame()))
	// Nothing answers a packet that elicits nothing; give the loop time to
	// take it (were it late, the engine's ACK-only packet would be the
	// oldest and the test would pass without exercising the fix, never
	// fail spuriously).
	time.Sleep(50 * time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	st, err := p.sess.OpenStreamWith(ctx, dataplane.StreamOptions{Deadline: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.SendMessage(ctx, make([]byte, 1000)); err != nil {
		t.Fatal(err)
	}
	// The peer takes the message and acknowledges nothing from here on.
	p.waitUntil("the engine's DATA", func() bool { return p.dataN >= 1000 })
	p.waitUntil("the message abandoned", func() bool { return p.sess.Stats().MessagesAbandoned > 0 })
	p.mu.Lock()
	pings := p.pings
	p.mu.Unlock()
	p.waitUntil("a probe (PING) after the PTO", func() bool { return p.pings > pings })
	p.wantAlive()
}
