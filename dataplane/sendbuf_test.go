package dataplane

import (
	"testing"
	"time"

	"github.com/stt-go/stt/internal/monotime"
	"github.com/stt-go/stt/stc"
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
		{"long path, no queue: grows to the ceiling", 8 << 20, 50 * time.Millisecond, 50 * time.Millisecond, 0, true, defaultSendBuffer},
		{"long path, half queue", 3 << 19, 100 * time.Millisecond, 50 * time.Millisecond, 0, false, initialSendBuffer}, // target 1.5 MiB: less than 2x
		{"long path, target 6 MiB capped at the default", 3 << 20, 100 * time.Millisecond, 100 * time.Millisecond, 0, true, defaultSendBuffer},
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

// BenchmarkWake measures rebuilding a hibernated session's hot state (AEAD
// contexts for the current send and receive keys and the next receive key,
// sent history, congestion control, pacer): the cost a session pays on the
// first packet, command or keepalive after hibernating.
func BenchmarkWake(b *testing.B) {
	for _, suite := range []stc.Suite{stc.SuiteAES256GCM, stc.SuiteChaCha20Poly1305} {
		b.Run(suite.String(), func(b *testing.B) {
			s := &Session{
				suite: suite, cfg: (&Config{}).withDefaults(),
				loop: &loop{e: &Engine{}}, maxDatagram: defaultMaxDatagram,
			}
			s.state.Store(int32(StateActive))
			var send, recv [32]byte
			for i := range send {
				send[i], recv[i] = byte(i), byte(255-i)
			}
			s.sendSecret, s.recvSecret = stc.SecretFrom(&send), stc.SecretFrom(&recv)
			if !s.wake(monotime.Now()) { // a session starts hot
				b.Fatal("wake failed")
			}
			b.ReportAllocs()
			for b.Loop() {
				s.hibernate()
				if !s.wake(monotime.Now()) {
					b.Fatal("wake failed")
				}
			}
		})
	}
}
