package stt_test

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"slices"
	"testing"
	"time"

	"github.com/stt-go/stt"
)

// TestLatencyBoundedStream: messages on a stream with a deadline, through a
// path that loses 10% of the data and delays it: every message is either
// delivered whole, intact and in order, or reported skipped; the counts add
// up on both ends; nothing is delivered twice. With a clean path nothing is
// skipped (issue 12 item 1).
func TestLatencyBoundedStream(t *testing.T) {
	for _, tc := range []struct {
		name     string
		loss     float64
		wantSkip bool
	}{
		{"clean", 0, false},
		{"lossy", 0.10, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Every packet takes 15 ms each way: a lost one's retransmission
			// arrives well after a 40 ms deadline.
			f := &faults{loss: tc.loss, reorder: 1, delayLo: 15 * time.Millisecond, delayHi: 15 * time.Millisecond, transportOnly: true}
			p := newLossyPair(t, f, nil)
			f.on.Store(true)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			deadline := 40 * time.Millisecond
			if !tc.wantSkip {
				deadline = 10 * time.Second // nothing may expire on a clean path
			}
			st, err := p.sa.OpenStreamWith(ctx, stt.StreamOptions{Deadline: deadline})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := st.Write([]byte("x")); !errors.Is(err, stt.ErrMessagesOnly) {
				t.Fatalf("Write on a bounded stream: %v, want ErrMessagesOnly", err)
			}
			const n = 600
			go func() {
				msg := make([]byte, 3000)
				for i := range n {
					binary.BigEndian.PutUint32(msg, uint32(i))
					for j := 4; j < len(msg); j++ {
						msg[j] = byte(i + j)
					}
					if err := st.SendMessage(ctx, msg); err != nil {
						return
					}
					time.Sleep(time.Millisecond) // ~3 MB/s: a live source
				}
				_ = st.CloseWrite()
			}()
			rs, err := p.sb.AcceptStream(ctx)
			if err != nil {
				t.Fatal(err)
			}
			var got []int
			var skipped uint64
			for {
				m, err := rs.ReceiveMessage(ctx)
				if err == io.EOF {
					break
				}
				var se *stt.SkippedError
				if errors.As(err, &se) {
					if !errors.Is(err, stt.ErrSkipped) || se.Messages == 0 {
						t.Fatalf("skip report %v: want Messages > 0 and ErrSkipped", err)
					}
					skipped += se.Messages
					continue
				}
				if err != nil {
					t.Fatalf("ReceiveMessage after %d messages: %v", len(got), err)
				}
				i := int(binary.BigEndian.Uint32(m))
				for j := 4; j < len(m); j++ {
					if m[j] != byte(i+j) {
						t.Fatalf("message %d corrupted at byte %d", i, j)
					}
				}
				got = append(got, i)
			}
			_ = rs.Close()
			if !slices.IsSorted(got) || len(slices.Compact(slices.Clone(got))) != len(got) {
				t.Fatal("messages out of order or duplicated")
			}
			if uint64(len(got))+skipped != n {
				t.Fatalf("delivered %d + skipped %d != %d sent", len(got), skipped, n)
			}
			if tc.wantSkip != (skipped > 0) {
				t.Fatalf("skipped %d messages; want skips: %v", skipped, tc.wantSkip)
			}
			// A message whose last byte arrived while the SKIP was already
			// on its way is counted by the sender only (its acknowledgement
			// crossed the SKIP); the receiver's count is exact.
			if a, s := p.sa.Stats().MessagesAbandoned, p.sb.Stats().MessagesSkipped; a < s || s != skipped {
				t.Fatalf("sender abandoned %d, receiver counts %d skipped, reports summed %d", a, s, skipped)
			}
			t.Logf("%d delivered, %d skipped (deadline %v, loss %.0f%%)", len(got), skipped, deadline, 100*tc.loss)
		})
	}
}
