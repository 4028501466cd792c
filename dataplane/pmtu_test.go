package dataplane_test

import (
	"context"
	"testing"
	"time"

	"github.com/stt-go/stt/dataplane"
)

// TestProbeDoesNotHoldBackData: a path MTU probe in flight (65 000 bytes
// here, more than the initial congestion window) does not hold back the
// data that follows while the peer delays its acknowledgement. It used
// to: the probe counted against the window, so the second message of a
// new session waited for the peer's delayed ACK or a PTO (25-50 ms on
// loopback, seen as BenchmarkRTT's p99). The peer acknowledges the
// engine's FINAL a second late (a 1 s RTT sample: the PTO is 3 s) and
// nothing after it, so before the fix the data left only with the PTO's
// probe; the bound below is far under that and far over a send pass.
func TestProbeDoesNotHoldBackData(t *testing.T) {
	p := newScriptedPeerWith(t, dataplane.Config{}, func(sp *dataplane.SessionParams) {
		sp.PeerMaxDatagram = 65000
	})
	time.Sleep(time.Second)
	p.wantAlive()
	// The search tries 1472, 8972, then 65 000: acknowledge the first two.
	for n := uint64(1); n <= 3; n++ {
		// The peer must hold the probe before it acknowledges it.
		p.waitUntil("a PMTU probe", func() bool {
			st := p.sess.Stats()
			return st.PMTUProbes >= n && uint64(p.rxCount) >= st.PacketsSent
		})
		if n < 3 {
			p.roundTrip(p.ackFrame())
		}
	}
	if got := p.sess.Stats().DatagramSize; got != 8972 {
		t.Fatalf("datagram size %d after two probes acknowledged, want 8972", got)
	}
	p.send(p.packet(false, data(1, 0, 100, false)))
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	st, err := p.sess.AcceptStream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	sent := time.Now()
	if _, err := st.Write(make([]byte, 100)); err != nil {
		t.Fatal(err)
	}
	p.waitUntil("the engine's DATA", func() bool { return p.dataN >= 100 })
	if d := time.Since(sent); d > 300*time.Millisecond {
		t.Fatalf("the data left %v after it was written, with a probe unacknowledged", d)
	}
}
