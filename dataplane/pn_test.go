package dataplane

import (
	"net/netip"
	"testing"

	"github.com/stt-go/stt/batch"
	"github.com/stt-go/stt/internal/batchtest"
	"github.com/stt-go/stt/internal/monotime"
	"github.com/stt-go/stt/stc"
)

// TestEmptyPacketAtSkippedNumber: when the packet number due to be skipped
// on purpose comes up for a packet that ends up empty, the next packet
// still gets a number above every number used or skipped. Before the fix
// the skip was recorded but nextPN stayed on the skipped number, so the
// next packet reused it and the sent history's nonce guard panicked
// ("packet number ... not increasing"), crashing the process.
func TestEmptyPacketAtSkippedNumber(t *testing.T) {
	a, b := batchtest.NewPair(netip.MustParseAddrPort("127.0.0.1:1"), netip.MustParseAddrPort("127.0.0.1:2"))
	defer a.Close()
	defer b.Close()
	e := &Engine{cfg: (&Config{}).withDefaults()}
	l := &loop{e: e, conn: a, tx: make([]batch.Message, txQueueMax), txSlab: make([]byte, txSlabBytes)}
	var k [32]byte
	s := &Session{suite: stc.SuiteChaCha20Poly1305, cfg: e.cfg, loop: l, maxDatagram: defaultMaxDatagram,
		peer: b.LocalAddr(), pathValid: true, sendSecret: stc.SecretFrom(&k), recvSecret: stc.SecretFrom(&k)}
	s.state.Store(int32(StateActive))
	now := monotime.Now()
	if !s.wake(now) {
		t.Fatal("wake failed")
	}
	s.skipPN = s.nextPN
	if s.buildPacket(now, 1200, false, true) {
		t.Fatal("built a packet with nothing to send")
	}
	s.hot.pend |= ctrlPing
	if !s.buildPacket(now, 1200, false, true) { // panicked before the fix
		t.Fatal("no packet for a pending PING")
	}
	first, _ := s.hot.sent.OldestUnacked()
	if first.PN == 0 {
		t.Fatalf("the PING went out as packet %d, the number skipped on purpose", first.PN)
	}
	l.txFlush()
}
