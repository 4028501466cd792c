package dataplane_test

import (
	"testing"
	"time"

	"github.com/stt-go/stt/dataplane"
)

// TestHibernateAfterProbe: a session whose packet went unacknowledged
// until a PTO probe (a PING, as there was no data to resend) hibernates
// once the peer acknowledges everything. A PTO allows two probes; the
// unused second one used to stay pending and kept the session awake for
// good (seen as ~1% of 10 000 idle sessions never hibernating in
// BenchmarkIdleSessionMemory).
func TestHibernateAfterProbe(t *testing.T) {
	p := newScriptedPeer(t, dataplane.Config{HibernateAfter: 50 * time.Millisecond, KeepAlive: -1})
	// The engine's FINAL is not acknowledged: wait for the probe.
	p.waitUntil("a PTO probe", func() bool { return p.pings > 0 })
	p.send(p.packet(false, p.ackFrame()))
	deadline := time.Now().Add(waitFor)
	for p.eng.Stats().Hibernating != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("the session did not hibernate within %v of the peer acknowledging everything", waitFor)
		}
		time.Sleep(10 * time.Millisecond)
	}
	p.wantAlive() // and it wakes for the peer's next packet
}
