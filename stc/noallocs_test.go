package stc

import "testing"

// Sinks keep results alive so the compiler cannot drop the calls measured.
var (
	sinkBytes  []byte
	sinkBool   bool
	sinkHash   [HashLen]byte
	sinkSecret Secret
	sinkErr    error
)

// TestNoAllocs guards the per-packet and per-segment operations: each must
// run with zero heap allocations in steady state.
func TestNoAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	if testing.CoverMode() != "" {
		t.Skip("coverage instrumentation may allocate")
	}
	for _, s := range allSuites {
		secret := testSecret(0x10)
		tx := newTestPacketAEAD(t, s, secret)
		rx := newTestPacketAEAD(t, s, secret)
		hdr := seqBytes(0, 16)
		pkt := make([]byte, 16+1200, 16+1200+Overhead)
		copy(pkt, hdr)
		pn := uint64(1 << 40)
		good := tx.Seal(append(make([]byte, 0, len(pkt)+Overhead), pkt...), 16, 1<<40)
		work := make([]byte, len(good))
		bad := append([]byte(nil), good...)
		bad[20] ^= 1

		sctx := newTestStreamContext(t, s, secret, 1, 2)
		ropen := newTestStreamContext(t, s, secret, 1, 2)
		seg := sctx.Seal(nil, 0, make([]byte, 1200))
		segBuf := make([]byte, 0, 1200+Overhead)
		var seq uint64 = 1

		var w ReplayWindow
		var wpn uint64
		content := seqBytes(0, 1400)
		var h hasher
		var sum [HashLen]byte

		for _, c := range []struct {
			name string
			fn   func()
		}{
			{"PacketAEAD.Seal", func() { pn++; sinkBytes = tx.Seal(pkt[:16+1200], 16, pn) }},
			{"PacketAEAD.Open", func() {
				copy(work, good)
				sinkBytes, sinkErr = rx.Open(work, 16, 1<<40)
			}},
			{"PacketAEAD.Open failure", func() {
				copy(work, bad)
				sinkBytes, sinkErr = rx.Open(work, 16, 1<<40)
			}},
			{"ReplayWindow.Check", func() { wpn += 3; sinkBool = w.Check(wpn) }},
			{"ReplayWindow.Update", func() { wpn += 70; sinkBool = w.Update(wpn) && w.Update(wpn-50) }},
			{"StreamContext.Seal", func() { seq++; sinkBytes = sctx.Seal(segBuf[:0], seq, content[:1200]) }},
			{"StreamContext.Open", func() { sinkBytes, sinkErr = ropen.Open(segBuf[:0], 0, seg) }},
			{"StreamContext.Open failure", func() { sinkBytes, sinkErr = ropen.Open(segBuf[:0], 1, seg) }},
			{"Hash", func() { sinkHash = Hash(content) }},
			{"hasher", func() { h.Reset(); h.Write(content); sinkHash = h.Sum256(); sinkBytes = h.Sum(sum[:0]) }},
			{"NodeIDFromPublic", func() { sinkHash = NodeIDFromPublic(sinkHash) }},
			{"Secret.Next", func() { sinkSecret = secret.Next() }},
			{"ExpandInto", func() { ExpandInto(sum[:], secret, "stt key") }},
		} {
			if n := testing.AllocsPerRun(100, c.fn); n != 0 {
				t.Errorf("%v %s: %v allocs per run, want 0", s, c.name, n)
			}
		}
		if rx.Failed() == 0 || rx.Opened() == 0 {
			t.Fatalf("%v: open paths not exercised (opened %d failed %d)", s, rx.Opened(), rx.Failed())
		}
	}
}
