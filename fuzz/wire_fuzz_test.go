package fuzz

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stt-go/stt/wire"
)

// wireSeed is one named seed input, encoded with the wire package's own
// encoders so the seeds follow the format wherever it goes.
type wireSeed struct {
	name string
	b    []byte
}

// wireFrameSeeds returns one encoded payload per frame kind, a few
// multi-frame payloads and a few near-misses.
func wireFrameSeeds() []wireSeed {
	msg := []byte("hello, stt")
	var ack, bigACK wire.AckFrame
	ack.Delay = 40
	for _, r := range []wire.AckRange{{Smallest: 95, Largest: 100}, {Smallest: 90, Largest: 93}, {Smallest: 0, Largest: 50}} {
		_ = ack.AppendRange(r.Smallest, r.Largest)
	}
	bigACK.Delay = 1 << 20
	for pn := uint64(wire.MaxPacketNumber); bigACK.AppendRange(pn-1, pn) == nil; pn -= 1000 {
	}
	frames := []struct {
		name string
		f    wire.Frame
	}{
		{"padding", wire.Frame{Type: wire.FramePadding, Padding: wire.PaddingFrame{N: 3}}},
		{"data", wire.Frame{Type: wire.FrameData, Data: wire.DataFrame{StreamID: 1, Data: msg}}},
		{"data-fin-eom", wire.Frame{Type: wire.FrameData, Data: wire.DataFrame{StreamID: 300, Offset: 1 << 40, Fin: true, EndOfMessage: true, Data: msg}}},
		{"data-limits", wire.Frame{Type: wire.FrameData, Data: wire.DataFrame{StreamID: wire.MaxStreamID, Offset: wire.MaxStreamOffset - 1, Data: []byte{9}}}},
		{"ack", wire.Frame{Type: wire.FrameControl, Sub: wire.ControlAck, Ack: ack}},
		{"ack-max", wire.Frame{Type: wire.FrameControl, Sub: wire.ControlAck, Ack: bigACK}},
		{"ping", wire.Frame{Type: wire.FrameControl, Sub: wire.ControlPing}},
		{"close", wire.Frame{Type: wire.FrameControl, Sub: wire.ControlClose, Close: wire.CloseFrame{Code: 7, Reason: []byte("bye")}}},
		{"max-data", wire.Frame{Type: wire.FrameControl, Sub: wire.ControlMaxData, MaxData: wire.MaxDataFrame{Max: 1 << 30}}},
		{"final", wire.Frame{Type: wire.FrameControl, Sub: wire.ControlFinal, Final: wire.FinalFrame{Status: 1, SessionID: 0xfeedface}}},
		{"path-challenge", wire.Frame{Type: wire.FrameControl, Sub: wire.ControlPathChallenge, PathChallenge: wire.PathChallengeFrame{Data: [8]byte{1, 2, 3}}}},
		{"path-response", wire.Frame{Type: wire.FrameControl, Sub: wire.ControlPathResponse, PathResponse: wire.PathResponseFrame{Data: [8]byte{3, 2, 1}}}},
		{"reset-token", wire.Frame{Type: wire.FrameControl, Sub: wire.ControlResetToken, ResetToken: wire.ResetTokenFrame{Token: [16]byte{9, 8, 7}}}},
		{"reset", wire.Frame{Type: wire.FrameStreamControl, Sub: wire.StreamReset, ResetStream: wire.ResetStreamFrame{StreamID: 5, Code: 1, FinalSize: 1 << 20}}},
		{"stop-sending", wire.Frame{Type: wire.FrameStreamControl, Sub: wire.StreamStopSending, StopSending: wire.StopSendingFrame{StreamID: 6, Code: 2}}},
		{"max-stream-data", wire.Frame{Type: wire.FrameStreamControl, Sub: wire.StreamMaxStreamData, MaxStreamData: wire.MaxStreamDataFrame{StreamID: 7, Max: 1 << 21}}},
		{"max-streams", wire.Frame{Type: wire.FrameStreamControl, Sub: wire.StreamMaxStreams, MaxStreams: wire.MaxStreamsFrame{Max: wire.MaxStreamCount}}},
		{"stream-blocked", wire.Frame{Type: wire.FrameStreamControl, Sub: wire.StreamBlocked, StreamBlocked: wire.StreamBlockedFrame{StreamID: 8, Limit: 4096}}},
		{"data-blocked", wire.Frame{Type: wire.FrameStreamControl, Sub: wire.StreamDataBlocked, DataBlocked: wire.DataBlockedFrame{Limit: 1 << 25}}},
		{"skip", wire.Frame{Type: wire.FrameStreamControl, Sub: wire.StreamSkip, Skip: wire.SkipFrame{StreamID: 3, Offset: 1 << 22, Length: 1 << 12, NextMessage: 7}}},
		{"custom", wire.Frame{Type: 0x80, Custom: wire.CustomFrame{Type: 0x80, Payload: msg}}},
		{"custom-ff-empty", wire.Frame{Type: 0xff, Custom: wire.CustomFrame{Type: 0xff, Payload: []byte{}}}},
	}
	var seeds []wireSeed
	var all []byte
	for _, fr := range frames {
		seeds = append(seeds, wireSeed{fr.name, fr.f.AppendTo(nil)})
		if fr.f.Type != wire.FramePadding {
			all = fr.f.AppendTo(all)
		}
	}
	all = append(all, 0, 0, 0, 0) // trailing padding, as a packetizer pads
	seeds = append(seeds,
		wireSeed{"payload-all", all},
		wireSeed{"payload-ack-data", frames[1].f.AppendTo(frames[4].f.AppendTo(nil))},
		wireSeed{"bad-overlong-stream-id", []byte{0x02, 0x00, 0x81, 0x00, 0x00, 0x00}},
		wireSeed{"bad-ack-underflow", []byte{0x03, 0x01, 0x0a, 0x00, 0x01, 0x02, 0x01, 0x06}},
		wireSeed{"bad-unknown-type", []byte{0x06}},
		wireSeed{"bad-handshake-frame", []byte{0x01, 0x00}},
	)
	return seeds
}

func wireHeaderSeeds() []wireSeed {
	return []wireSeed{
		{"transport", wire.Header{Kind: wire.KindTransport, SessionID: 0x0102030405060708, PacketNumber: 0x0a0b0c0d0e0f}.AppendTo(nil)},
		{"transport-key-phase", wire.Header{Kind: wire.KindTransport, KeyPhase: true, SessionID: 1, PacketNumber: wire.MaxPacketNumber}.AppendTo(nil)},
		{"handshake", append(wire.Header{Kind: wire.KindHandshake, SessionID: 0xdeadbeef}.AppendTo(nil), 1, 2, 3)},
		{"bad-version", []byte{2, 2, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1}},
		{"bad-reserved", []byte{1, 0x22, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1}},
	}
}

// wireVarintSeed pairs raw input with a value to encode.
type wireVarintSeed struct {
	name string
	b    []byte
	v    uint64
}

func wireVarintSeeds() []wireVarintSeed {
	return []wireVarintSeed{
		{"zero", wire.AppendVarint(nil, 0), 0},
		{"300", wire.AppendVarint(nil, 300), 300},
		{"max-stream-id", wire.AppendVarint(nil, wire.MaxStreamID), 1 << 62},
		{"max", wire.AppendVarint(nil, math.MaxUint64), math.MaxUint64},
		{"overlong", []byte{0x80, 0x00}, 128},
		{"overflow", []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02}, 1 << 63},
	}
}

// checkWireError asserts err is a *wire.ParseError inside b with a
// documented cause.
func checkWireError(t *testing.T, err error, b []byte) {
	t.Helper()
	var pe *wire.ParseError
	if !errors.As(err, &pe) {
		t.Fatalf("error %v (%T) is not a *wire.ParseError", err, err)
	}
	if pe.Offset < 0 || pe.Offset > len(b) || pe.What == "" {
		t.Fatalf("ParseError %+v: offset outside input of %d bytes or no What", pe, len(b))
	}
	switch {
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, wire.ErrMalformed),
		errors.Is(err, wire.ErrTooLarge), errors.Is(err, wire.ErrUnknownFrame):
	default:
		t.Fatalf("ParseError %v wraps no documented cause", err)
	}
}

func FuzzVarint(f *testing.F) {
	for _, s := range wireVarintSeeds() {
		f.Add(s.b, s.v)
	}
	f.Fuzz(func(t *testing.T, b []byte, v uint64) {
		// Encode v: every encoder agrees and the parser inverts it.
		enc := wire.AppendVarint(nil, v)
		if len(enc) != wire.VarintLen(v) || len(enc) > wire.MaxVarintLen {
			t.Fatalf("AppendVarint(%d) has %d bytes, VarintLen %d", v, len(enc), wire.VarintLen(v))
		}
		var put [wire.MaxVarintLen]byte
		if n := wire.PutVarint(put[:], v); !bytes.Equal(put[:n], enc) {
			t.Fatalf("PutVarint(%d) = %x, AppendVarint %x", v, put[:n], enc)
		}
		got, n, err := wire.ParseVarint(append(enc, b...))
		if err != nil || got != v || n != len(enc) {
			t.Fatalf("ParseVarint(AppendVarint(%d)) = %d, %d, %v", v, got, n, err)
		}

		// Parse b: accepted input is canonical, so it re-encodes identically.
		got, n, err = wire.ParseVarint(b)
		if err != nil {
			checkWireError(t, err, b)
			if n != 0 || got != 0 {
				t.Fatalf("error with n=%d v=%d", n, got)
			}
			if errors.Is(err, wire.ErrTooLarge) || errors.Is(err, wire.ErrUnknownFrame) {
				t.Fatalf("varint error %v has a frame-level cause", err)
			}
			return
		}
		if n < 1 || n > len(b) || n != wire.VarintLen(got) {
			t.Fatalf("ParseVarint(%x) = %d, n=%d", b, got, n)
		}
		if re := wire.AppendVarint(nil, got); !bytes.Equal(re, b[:n]) {
			t.Fatalf("ParseVarint(%x) = %d, which encodes as %x", b[:n], got, re)
		}
	})
}

func FuzzHeader(f *testing.F) {
	for _, s := range wireHeaderSeeds() {
		f.Add(s.b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		h, n, err := wire.ParseHeader(b)
		id, perr := wire.ParseHandshakePrefix(b)
		if err != nil {
			checkWireError(t, err, b)
			if n != 0 {
				t.Fatalf("error with n=%d", n)
			}
			if perr == nil && len(b) >= wire.PacketNumberOffset {
				t.Fatalf("ParseHandshakePrefix accepted %x that ParseHeader rejects: %v", b, err)
			}
			return
		}
		if n != h.Len() || n > len(b) {
			t.Fatalf("ParseHeader n=%d, Len()=%d, input %d", n, h.Len(), len(b))
		}
		if re := h.AppendTo([]byte{0xee}); !bytes.Equal(re[1:], b[:n]) {
			t.Fatalf("header %+v re-encodes as %x, input %x", h, re[1:], b[:n])
		}
		var buf [wire.HeaderLen]byte
		h.PutTo(buf[:])
		if !bytes.Equal(buf[:n], b[:n]) {
			t.Fatalf("PutTo wrote %x, input %x", buf[:n], b[:n])
		}
		if k, ok := wire.PeekKind(b); !ok || k != h.Kind {
			t.Fatalf("PeekKind = %v, %v; ParseHeader kind %v", k, ok, h.Kind)
		}
		if sid, ok := wire.PeekSessionID(b); !ok || sid != h.SessionID {
			t.Fatalf("PeekSessionID = %v, %v; ParseHeader %v", sid, ok, h.SessionID)
		}
		switch h.Kind {
		case wire.KindHandshake:
			if perr != nil || id != h.SessionID || h.KeyPhase || h.PacketNumber != 0 || n != wire.PacketNumberOffset {
				t.Fatalf("handshake header %+v n=%d; ParseHandshakePrefix %v, %v", h, n, id, perr)
			}
		case wire.KindTransport:
			if !errors.Is(perr, wire.ErrMalformed) || h.PacketNumber > wire.MaxPacketNumber || n != wire.HeaderLen {
				t.Fatalf("transport header %+v n=%d; ParseHandshakePrefix err %v", h, n, perr)
			}
		default:
			t.Fatalf("ParseHeader accepted kind %v", h.Kind)
		}
	})
}

func FuzzFrames(f *testing.F) {
	for _, s := range wireFrameSeeds() {
		f.Add(s.b)
	}
	var fr wire.Frame // reused across frames, as the data plane does
	f.Fuzz(func(t *testing.T, b []byte) {
		prefix := []byte{0xa5, 0x5a}
		for rest := b; len(rest) > 0; {
			n, err := wire.ParseFrame(rest, &fr)
			if err != nil {
				checkWireError(t, err, rest)
				if n != 0 {
					t.Fatalf("error with n=%d", n)
				}
				return
			}
			if n < 1 || n > len(rest) {
				t.Fatalf("ParseFrame n=%d of %d bytes", n, len(rest))
			}
			if fr.Len() != n {
				t.Fatalf("%v/%d: Len()=%d, parsed %d bytes", fr.Type, fr.Sub, fr.Len(), n)
			}
			re := fr.AppendTo(prefix)
			if !bytes.Equal(re[:len(prefix)], prefix) || !bytes.Equal(re[len(prefix):], rest[:n]) {
				t.Fatalf("%v/%d: re-encoded %x, input %x", fr.Type, fr.Sub, re[len(prefix):], rest[:n])
			}
			checkFrameInvariants(t, &fr, rest, n)
			rest = rest[n:]
		}
	})
}

// checkFrameInvariants checks what ParseFrame promises beyond round trip.
func checkFrameInvariants(t *testing.T, fr *wire.Frame, in []byte, n int) {
	t.Helper()
	elicit := true
	switch fr.Type {
	case wire.FramePadding:
		elicit = false
		if fr.Padding.N != n || bytes.ContainsFunc(in[:n], func(r rune) bool { return r != 0 }) || (n < len(in) && in[n] == 0) {
			t.Fatalf("PADDING of %d bytes does not cover the zero run", fr.Padding.N)
		}
	case wire.FrameData:
		d := fr.Data
		if d.StreamID > wire.MaxStreamID || d.Offset > wire.MaxStreamOffset || uint64(len(d.Data)) > wire.MaxStreamOffset-d.Offset {
			t.Fatalf("DATA beyond limits: id %d offset %d len %d", d.StreamID, d.Offset, len(d.Data))
		}
		if wire.DataFrameOverhead(d.StreamID, d.Offset, len(d.Data))+len(d.Data) != n {
			t.Fatal("DataFrameOverhead disagrees with the parsed length")
		}
		hdr := wire.AppendDataHeader(nil, d.StreamID, d.Offset, len(d.Data), d.Fin, d.EndOfMessage)
		if !bytes.Equal(append(hdr, d.Data...), in[:n]) {
			t.Fatal("AppendDataHeader+data differs from the input")
		}
		if wire.MaxDataFit(d.StreamID, d.Offset, n) < len(d.Data) {
			t.Fatalf("MaxDataFit(%d) = %d, but %d bytes fit", n, wire.MaxDataFit(d.StreamID, d.Offset, n), len(d.Data))
		}
		if cap(d.Data) != len(d.Data) {
			t.Fatal("DATA view is not capacity-limited")
		}
	case wire.FrameControl:
		switch fr.Sub {
		case wire.ControlAck:
			elicit = false
			checkACK(t, &fr.Ack)
		case wire.ControlClose:
			elicit = false
			if len(fr.Close.Reason) > wire.MaxCloseReason {
				t.Fatalf("CLOSE reason of %d bytes", len(fr.Close.Reason))
			}
		case wire.ControlMaxData:
			if fr.MaxData.Max > wire.MaxStreamOffset {
				t.Fatal("MAX_DATA beyond MaxStreamOffset")
			}
		}
	case wire.FrameStreamControl:
		switch fr.Sub {
		case wire.StreamMaxStreams:
			if fr.MaxStreams.Max > wire.MaxStreamCount {
				t.Fatal("MAX_STREAMS beyond MaxStreamCount")
			}
		case wire.StreamReset:
			if fr.ResetStream.StreamID > wire.MaxStreamID || fr.ResetStream.FinalSize > wire.MaxStreamOffset {
				t.Fatal("RESET beyond limits")
			}
		}
	default:
		if !fr.Type.IsCustom() || fr.Custom.Type != fr.Type || len(fr.Custom.Payload) > wire.MaxCustomPayload {
			t.Fatalf("accepted frame type %v (custom type %v, %d bytes)", fr.Type, fr.Custom.Type, len(fr.Custom.Payload))
		}
	}
	if fr.IsAckEliciting() != elicit {
		t.Fatalf("%v/%d: IsAckEliciting = %v", fr.Type, fr.Sub, fr.IsAckEliciting())
	}
}

// checkAck verifies the decoded ranges and that rebuilding the frame with
// AppendRange encodes the same bytes.
func checkACK(t *testing.T, a *wire.AckFrame) {
	t.Helper()
	if a.N < 1 || a.N > wire.MaxAckRanges+1 || a.Largest() > wire.MaxPacketNumber {
		t.Fatalf("ACK with N=%d largest %d", a.N, a.Largest())
	}
	var rebuilt wire.AckFrame
	rebuilt.Delay = a.Delay
	for i, r := range a.Ranges[:a.N] {
		if r.Smallest > r.Largest || (i > 0 && r.Largest+2 > a.Ranges[i-1].Smallest) {
			t.Fatalf("range %d %+v out of order", i, r)
		}
		if !a.Acks(r.Smallest) || !a.Acks(r.Largest) || a.Acks(r.Largest+1) {
			t.Fatalf("Acks disagrees with range %d %+v", i, r)
		}
		if err := rebuilt.AppendRange(r.Smallest, r.Largest); err != nil {
			t.Fatalf("AppendRange(%+v): %v", r, err)
		}
	}
	if !bytes.Equal(rebuilt.AppendTo(nil), a.AppendTo(nil)) {
		t.Fatal("ACK rebuilt with AppendRange encodes differently")
	}
}

// TestWireCorpus checks that the committed seed corpora under
// testdata/fuzz hold the current encoding of every seed; with
// STT_UPDATE_CORPUS=1 it rewrites them instead.
func TestWireCorpus(t *testing.T) {
	update := os.Getenv("STT_UPDATE_CORPUS") == "1"
	files := map[string]string{} // path -> contents
	for _, s := range wireFrameSeeds() {
		files[filepath.Join("FuzzFrames", "seed-"+s.name)] = fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", s.b)
	}
	for _, s := range wireHeaderSeeds() {
		files[filepath.Join("FuzzHeader", "seed-"+s.name)] = fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", s.b)
	}
	for _, s := range wireVarintSeeds() {
		files[filepath.Join("FuzzVarint", "seed-"+s.name)] = fmt.Sprintf("go test fuzz v1\n[]byte(%q)\nuint64(%d)\n", s.b, s.v)
	}
	for name, want := range files {
		path := filepath.Join("testdata", "fuzz", name)
		if update {
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, []byte(want), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(path)
		if err != nil || string(got) != want {
			t.Errorf("%s is missing or stale (%v); regenerate with STT_UPDATE_CORPUS=1 go test -run TestWireCorpus ./fuzz/", path, err)
		}
		if !strings.HasPrefix(string(got), "go test fuzz v1\n") && err == nil {
			t.Errorf("%s is not in the go test fuzz v1 format", path)
		}
	}
}
