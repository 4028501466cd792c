package dataplane

import (
	"testing"
	"time"
)

// TestGrowSendBuffer checks the send buffer's auto-tuning rule: a stream
// starts at initialSendBuffer and grows (by at least a factor of two, up
// to Config.SendBuffer) only when twice the queue-free window, cwnd x min
// RTT / smoothed RTT, asks for it.
func TestGrowSendBuffer(t *testing.T) {
	for _, tc := range []struct {
		name         string
		cwnd         int64
		srtt, minRTT time.Duration
		sendBuffer   int
		wantGrew     bool
		wantLimit    int
	}{
		{"no RTT sample yet", 8 << 20, 0, 0, 0, false, initialSendBuffer},
		{"long path, no queue: grows to the ceiling", 8 << 20, 50 * time.Millisecond, 50 * time.Millisecond, 0, true, DefaultSendBuffer},
		{"long path, half queue", 3 << 19, 100 * time.Millisecond, 50 * time.Millisecond, 0, false, initialSendBuffer}, // target 1.5 MiB: less than 2x
		{"long path, target 6 MiB capped at the default", 3 << 20, 100 * time.Millisecond, 100 * time.Millisecond, 0, true, DefaultSendBuffer},
		{"loopback: window grown into queues", 8 << 20, 500 * time.Microsecond, 20 * time.Microsecond, 0, false, initialSendBuffer},
		{"configured ceiling below the initial size", 8 << 20, 50 * time.Millisecond, 50 * time.Millisecond, 256 << 10, false, 256 << 10},
		{"configured ceiling above the default", 64 << 20, 50 * time.Millisecond, 50 * time.Millisecond, 32 << 20, true, 32 << 20},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := &Session{cfg: (&Config{SendBuffer: tc.sendBuffer}).withDefaults()}
			s.stats.cwnd.Store(tc.cwnd)
			s.stats.srtt.Store(int64(tc.srtt))
			s.stats.minRTT.Store(int64(tc.minRTT))
			st := s.newStream(1, 1<<30)
			if got := st.growSendBuffer(); got != tc.wantGrew {
				t.Fatalf("grew %v, want %v", got, tc.wantGrew)
			}
			if got := st.send.Limit(); got != tc.wantLimit {
				t.Fatalf("limit %d, want %d", got, tc.wantLimit)
			}
			if st.growSendBuffer() {
				t.Fatal("grew again with the same stats")
			}
		})
	}
}
