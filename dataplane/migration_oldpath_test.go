package dataplane_test

import (
	"testing"
	"time"

	"github.com/stt-go/stt/dataplane"
	"github.com/stt-go/stt/stc"
	"github.com/stt-go/stt/wire"
)

// TestMigrationOldPathAnswerMovesBack: after an attacker's raced copy of
// the newest packet moved the session, the peer's PATH_RESPONSE to the
// challenge sent on the old path moves it back (docs/TRANSPORT.md,
// "Address migration": "If the peer answers it from the old path, the move
// was spurious ... and the session moves back"), instead of the session
// staying on the attacker's address until the new path's validation times
// out. The answer carries a packet number below the newest, so it cannot
// move the session by itself; the session has no RTT sample, so the
// validation deadline is ~3 s away and only the answer can bring it back
// without a PathValidationFailures count.
//
// Found while running FuzzSession (its migration-race seed ends on the
// attacker's address): the old-path probe clears hot.probeOld when it is
// sent, and the PATH_RESPONSE handler requires hot.probeOld, so no answer
// to the old-path challenge can ever match. Fails on the current code.
func TestMigrationOldPathAnswerMovesBack(t *testing.T) {
	p := newScriptedPeer(t, dataplane.Config{})
	reserved := p.pn // left unused: lower than the raced packet's number
	p.pn++
	raced := p.packet(false, ping) // no ACK: the engine keeps its initial RTT
	if err := p.conn.InjectFrom(attacker, raced); err != nil {
		t.Fatal(err)
	}
	p.send(raced) // the genuine copy, second: a replay
	p.waitUntil("the PATH_CHALLENGE on the old path", func() bool { return len(p.chals) > 0 })
	if got := p.sess.RemoteAddr(); got != attacker {
		t.Fatalf("RemoteAddr = %v after the raced newest packet, want %v", got, attacker)
	}
	p.mu.Lock()
	chal := p.chals[len(p.chals)-1]
	p.mu.Unlock()
	// Seal the answer under packet number reserved (a fresh context: the
	// peer's own refuses numbers below those it sealed).
	key, err := stc.NewPacketAEAD(p.suite, p.up)
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, wire.HeaderLen, 64)
	b = wire.PathResponseFrame(chal).AppendTo(b)
	wire.Header{Kind: wire.KindTransport, SessionID: testID, PacketNumber: reserved}.PutTo(b)
	p.send(key.Seal(b, wire.HeaderLen, reserved))
	deadline := time.Now().Add(waitFor)
	for p.sess.RemoteAddr() != peerAddr {
		if time.Now().After(deadline) {
			t.Fatalf("RemoteAddr = %v %v after the old path answered its challenge, want %v", p.sess.RemoteAddr(), waitFor, peerAddr)
		}
		time.Sleep(time.Millisecond)
	}
	if n := p.sess.Stats().PathValidationFailures; n != 0 {
		t.Fatalf("the session moved back by the new path's validation timeout (PathValidationFailures = %d), not by the old path's answer", n)
	}
}
