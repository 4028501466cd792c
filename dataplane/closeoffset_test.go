package dataplane

import (
	"errors"
	"strings"
	"testing"

	"github.com/stt-go/stt/internal/monotime"
	"github.com/stt-go/stt/wire"
)

// TestMalformedFrameOffset: the CLOSE reason for a malformed frame names
// the offset of the bad byte within the packet's plaintext payload
// (docs/PROTOCOL.md: a receiver's diagnostics count from the payload's
// first byte), not within the frame that failed to parse.
func TestMalformedFrameOffset(t *testing.T) {
	ping := wire.PingFrame{}.AppendTo(nil)
	maxData := wire.MaxDataFrame{Max: 1 << 40}.AppendTo(nil)
	for _, tc := range []struct {
		name    string
		payload []byte
		want    string
	}{
		// MAX_DATA cut after its type and subtype: the varint is missing
		// at the frame's offset 2, the payload's len(ping)+2.
		{"truncated after a PING", append(append([]byte{}, ping...), maxData[:2]...), "at offset 4:"},
		{"truncated, first frame", maxData[:2], "at offset 2:"},
		{"handshake frame after two PINGs", append(append(append([]byte{}, ping...), ping...), byte(wire.FrameHandshake)), "at offset 4:"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := &Session{cfg: (&Config{}).withDefaults(), loop: &loop{}}
			_, err := s.processFrames(monotime.Now(), tc.payload)
			var pe *errProtocol
			if !errors.As(err, &pe) || pe.code != CodeProtocol {
				t.Fatalf("processFrames = %v, want a protocol error", err)
			}
			if !strings.Contains(pe.reason, tc.want) {
				t.Errorf("reason %q does not name %q", pe.reason, tc.want)
			}
		})
	}
}
