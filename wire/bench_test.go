package wire

import (
	"bytes"
	"strconv"
	"testing"
)

// Payload sizes: a small message, an unaligned ~1 KiB, and a full packet.
var benchSizes = []int{16, 1024 - 5, 1200}

func BenchmarkParseFrame(b *testing.B) {
	var f Frame
	for _, n := range benchSizes {
		enc := DataFrame{StreamID: 5, Offset: 1 << 20, Data: bytes.Repeat([]byte{1}, n)}.AppendTo(nil)
		b.Run("data-"+strconv.Itoa(n), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(n))
			for b.Loop() {
				if _, err := ParseFrame(enc, &f); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	for _, tc := range []struct {
		name string
		a    AckFrame
	}{{"ack-1", ackOf(25, AckRange{1000, 1200})}, {"ack-65", maxACK()}} {
		enc := tc.a.AppendTo(nil)
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := ParseFrame(enc, &f); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkAppendFrame(b *testing.B) {
	buf := make([]byte, 0, 2048)
	for _, n := range benchSizes {
		f := Frame{Type: FrameData, Data: DataFrame{StreamID: 5, Offset: 1 << 20, Data: bytes.Repeat([]byte{1}, n)}}
		b.Run("data-"+strconv.Itoa(n), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(n))
			for b.Loop() {
				sinkBytes = f.AppendTo(buf[:0])
			}
		})
	}
	b.Run("data-header", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			sinkBytes = AppendDataHeader(buf[:0], 5, 1<<20, 1200, false, true)
		}
	})
	for _, tc := range []struct {
		name string
		a    AckFrame
	}{{"ack-1", ackOf(25, AckRange{1000, 1200})}, {"ack-65", maxACK()}} {
		f := Frame{Type: FrameControl, Sub: ControlAck, Ack: tc.a}
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				sinkBytes = f.AppendTo(buf[:0])
			}
		})
	}
}

func BenchmarkHeader(b *testing.B) {
	h := Header{Kind: KindTransport, SessionID: 0x1122334455667788, PacketNumber: 1 << 33}
	enc := h.AppendTo(nil)
	buf := make([]byte, HeaderLen)
	b.Run("parse", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var err error
			if sinkHdr, sinkInt, err = ParseHeader(enc); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("put", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			h.PutTo(buf)
		}
	})
	b.Run("append", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			sinkBytes = h.AppendTo(buf[:0])
		}
	})
	b.Run("peek", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			sinkID, sinkBool = PeekSessionID(enc)
		}
	})
}

func BenchmarkVarint(b *testing.B) {
	buf := make([]byte, 0, MaxVarintLen)
	for _, v := range []uint64{5, 300, 1 << 40, 1 << 63} {
		enc := AppendVarint(nil, v)
		b.Run("parse-"+strconv.Itoa(len(enc))+"B", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				var err error
				if sinkU64, sinkInt, err = ParseVarint(enc); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("append-"+strconv.Itoa(len(enc))+"B", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				sinkBytes = AppendVarint(buf[:0], v)
			}
		})
	}
}
