package stt_test

import (
	"context"
	"io"
	"testing"
	"time"
)

// TestNoAllocsSteadyState guards the zero-allocation promise of the whole
// packet path: a write on an established stream, packetized, sealed, sent
// with sendmmsg/GSO, received, opened, reassembled, acknowledged and read
// on the other node allocates nothing (AllocsPerRun counts every goroutine
// of the process, so the loops, readers and timers are all included).
func TestNoAllocsSteadyState(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	_, _, sa, sb := newPair(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := sa.OpenStream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	chunk := make([]byte, 16<<10)
	if _, err := st.Write(chunk); err != nil {
		t.Fatal(err)
	}
	rs, err := sb.AcceptStream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, len(chunk))
	if _, err := io.ReadFull(rs, buf); err != nil {
		t.Fatal(err)
	}
	roundTrip := func() {
		if _, err := st.Write(chunk); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(rs, buf); err != nil {
			t.Fatal(err)
		}
	}
	// Warm up: grow windows and buffers, pass the early key rotation.
	for range 2000 {
		roundTrip()
	}
	// Key rotations (every RotateMessages packets) allocate one AEAD each;
	// 200 round trips of 16 KiB are ~2400 packets, far from the next one.
	if n := testing.AllocsPerRun(200, roundTrip); n > 0.05 {
		t.Errorf("steady-state stream round trip allocates %.2f times per 16 KiB (want 0)", n)
	}
}
