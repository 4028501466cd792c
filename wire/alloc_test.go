package wire

import "testing"

// Sinks keep results alive so the compiler cannot drop the measured calls.
var (
	sinkU64   uint64
	sinkInt   int
	sinkBool  bool
	sinkBytes []byte
	sinkHdr   Header
	sinkID    SessionID
	sinkKind  Kind
	sinkErr   error
)

func TestNoAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are not meaningful under the race detector")
	}
	buf := make([]byte, 0, 70000)
	varint := AppendVarint(nil, 1<<40)
	hdr := Header{Kind: KindTransport, KeyPhase: true, SessionID: 42, PacketNumber: 1 << 40}
	hdrBytes := hdr.AppendTo(nil)
	hsBytes := Header{Kind: KindHandshake, SessionID: 42}.AppendTo(nil)
	var ack AckFrame
	f := new(Frame)

	tests := []struct {
		name string
		fn   func()
	}{
		{"ParseVarint", func() { sinkU64, sinkInt, sinkErr = ParseVarint(varint) }},
		{"AppendVarint", func() { sinkBytes = AppendVarint(buf[:0], 1<<40) }},
		{"PutVarint", func() { sinkInt = PutVarint(buf[:MaxVarintLen], 1<<63) }},
		{"VarintLen", func() { sinkInt = VarintLen(sinkU64) }},
		{"ParseHeader", func() { sinkHdr, sinkInt, sinkErr = ParseHeader(hdrBytes) }},
		{"ParseHeader/handshake", func() { sinkHdr, sinkInt, sinkErr = ParseHeader(hsBytes) }},
		{"ParseHandshakePrefix", func() { sinkID, sinkErr = ParseHandshakePrefix(hsBytes) }},
		{"Header.AppendTo", func() { sinkBytes = hdr.AppendTo(buf[:0]) }},
		{"Header.PutTo", func() { hdr.PutTo(buf[:HeaderLen]) }},
		{"PeekKind", func() { sinkKind, sinkBool = PeekKind(hdrBytes) }},
		{"PeekSessionID", func() { sinkID, sinkBool = PeekSessionID(hdrBytes) }},
		{"AppendDataHeader", func() { sinkBytes = AppendDataHeader(buf[:0], 5, 1<<20, 1200, true, false) }},
		{"DataFrameOverhead", func() { sinkInt = DataFrameOverhead(5, 1<<20, 1200) }},
		{"MaxDataFit", func() { sinkInt = MaxDataFit(5, 1<<20, 1350) }},
		{"AckFrame.build", func() {
			ack.Reset()
			sinkErr = ack.AppendRange(90, 100)
			sinkErr = ack.AppendRange(10, 80)
			sinkBool = ack.Acks(95)
			sinkU64 = ack.Largest()
		}},
	}
	for _, s := range samples() {
		enc := s.f.AppendTo(nil)
		sf := s.f
		tests = append(tests,
			struct {
				name string
				fn   func()
			}{"ParseFrame/" + s.name, func() { sinkInt, sinkErr = ParseFrame(enc, f); sinkBool = f.IsAckEliciting() }},
			struct {
				name string
				fn   func()
			}{"Frame.AppendTo/" + s.name, func() { sinkBytes = sf.AppendTo(buf[:0]); sinkInt = sf.Len() }},
		)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if n := testing.AllocsPerRun(100, tt.fn); n != 0 {
				t.Errorf("%v allocations per run, want 0", n)
			}
		})
	}
	if sinkErr != nil {
		t.Fatalf("a measured call failed: %v", sinkErr)
	}
}
