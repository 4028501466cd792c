package control

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"

	"github.com/stt-go/stt/internal/vectorfile"
	"github.com/stt-go/stt/stc"
	"github.com/stt-go/stt/wire"
)

// The session transcript (docs/vectors/session.json, docs/TRANSPORT.md
// "Session transcript"): the hybrid handshake of handshake.json, then a
// short session whose every datagram is given in hex with the plaintext
// and the keys that seal it. The handshake datagrams are computed by this
// package's code; the transport packets are built with package wire's
// frame codecs and sealed with package stc's PacketAEAD, the same calls the
// data plane makes, and the test opens and parses every one of them again
// as the receiving side would.

// sessionFrames is the script: who sends which frames under which packet
// number and key phase. sid and the credit values come from the handshake.
func sessionScript(sid wire.SessionID, ip, rp TransportParams) []scriptPacket {
	msg := append([]byte{10}, "hello, stt"...) // SendMessage framing: varint length, then the bytes
	ack := func(delay uint64, ranges ...wire.AckRange) wire.Frame {
		f := wire.Frame{Type: wire.FrameControl, Sub: wire.ControlAck}
		f.Ack.Delay = delay
		for _, r := range ranges {
			if err := f.Ack.AppendRange(r.Smallest, r.Largest); err != nil {
				panic(err)
			}
		}
		return f
	}
	final := wire.Frame{Type: wire.FrameControl, Sub: wire.ControlFinal, Final: wire.FinalFrame{Status: 0, SessionID: sid}}
	announce := wire.Frame{Type: wire.FrameStreamControl, Sub: wire.StreamMaxStreamData,
		MaxStreamData: wire.MaxStreamDataFrame{StreamID: 1, Max: ip.InitialMaxStreamData}}
	data := wire.Frame{Type: wire.FrameData, Data: wire.DataFrame{StreamID: 1, Offset: 0, Fin: true, Data: msg}}
	ping := wire.Frame{Type: wire.FrameControl, Sub: wire.ControlPing}
	maxStreams := wire.Frame{Type: wire.FrameStreamControl, Sub: wire.StreamMaxStreams, MaxStreams: wire.MaxStreamsFrame{Max: rp.MaxStreams + 1}}
	closeF := wire.Frame{Type: wire.FrameControl, Sub: wire.ControlClose, Close: wire.CloseFrame{Code: 0, Reason: []byte("bye")}}
	return []scriptPacket{
		{false, 0, false, []wire.Frame{final},
			"FINAL (status 0, the session ID): the responder's first packet under key_r2i, sent as soon as AUTH_PROOF opened"},
		{true, 0, false, []wire.Frame{ack(37, wire.AckRange{Smallest: 0, Largest: 0}), announce, data},
			"ACK of FINAL; stream 1 announced by MAX_STREAM_DATA with the opener's initial credit; one message (varint length 10, \"hello, stt\") and FIN"},
		{false, 1, false, []wire.Frame{ack(250, wire.AckRange{Smallest: 0, Largest: 0}), data},
			"ACK; the responder echoes the message on stream 1 and closes its side (FIN)"},
		{true, 1, true, []wire.Frame{ack(0, wire.AckRange{Smallest: 0, Largest: 1}), ping},
			"the initiator's first key update: key phase 1, sealed under key_i2r_next = Next(key_i2r); a PING makes it ack-eliciting"},
		{false, 2, false, []wire.Frame{ack(0, wire.AckRange{Smallest: 0, Largest: 1}), maxStreams},
			"ACK of the key-phase-1 packet (the responder's own phase stays 0); stream 1 is finished both ways, so its slot returns: MAX_STREAMS 257"},
		{true, 2, true, []wire.Frame{ack(0, wire.AckRange{Smallest: 0, Largest: 2}), closeF},
			"CLOSE (code 0, reason \"bye\") with a last ACK; never answered"},
	}
}

type scriptPacket struct {
	fromInitiator bool
	pn            uint64
	keyPhase      bool
	frames        []wire.Frame
	note          string
}

type jsonKey struct {
	Name   string `json:"name"`
	Secret string `json:"secret"`
	Key    string `json:"aead_key"`
	IV     string `json:"iv"`
}

type jsonDatagram struct {
	Index        int     `json:"index"`
	From         string  `json:"from"`
	Message      string  `json:"message"`
	PacketNumber *uint64 `json:"packet_number,omitempty"`
	KeyPhase     *int    `json:"key_phase,omitempty"`
	Key          string  `json:"key,omitempty"`
	Header       string  `json:"header,omitempty"`
	Plaintext    string  `json:"plaintext,omitempty"`
	Frames       []frame `json:"frames,omitempty"`
	Datagram     string  `json:"datagram"`
	Note         string  `json:"note"`
}

type sessionFile struct {
	Description string         `json:"description"`
	Spec        string         `json:"spec"`
	Handshake   hsVector       `json:"handshake"`
	Suite       int            `json:"suite"`
	SessionID   string         `json:"session_id"`
	Keys        []jsonKey      `json:"keys"`
	Datagrams   []jsonDatagram `json:"datagrams"`
}

// frame is a decoded frame in the vectors' JSON form (the same form as
// docs/vectors/wire.json).
type frame map[string]any

// frameJSON returns f in the vectors' JSON form, for the frame kinds the
// session uses.
func frameJSON(f *wire.Frame) frame {
	switch {
	case f.Type == wire.FrameData:
		fl := 0
		if f.Data.Fin {
			fl |= 1
		}
		return frame{"type": "DATA", "frame_type": 2, "flags": fl, "fin": f.Data.Fin, "stream_id": uint64(f.Data.StreamID),
			"offset": f.Data.Offset, "data": hex.EncodeToString(f.Data.Data)}
	case f.Type == wire.FrameControl && f.Sub == wire.ControlAck:
		var rs [][2]uint64
		for _, r := range f.Ack.Ranges[:f.Ack.N] {
			rs = append(rs, [2]uint64{r.Smallest, r.Largest})
		}
		return frame{"type": "ACK", "frame_type": 3, "subtype": 1, "largest": f.Ack.Largest(), "ack_delay": f.Ack.Delay, "ranges": rs}
	case f.Type == wire.FrameControl && f.Sub == wire.ControlPing:
		return frame{"type": "PING", "frame_type": 3, "subtype": 2}
	case f.Type == wire.FrameControl && f.Sub == wire.ControlClose:
		return frame{"type": "CLOSE", "frame_type": 3, "subtype": 3, "error_code": f.Close.Code, "reason": hex.EncodeToString(f.Close.Reason)}
	case f.Type == wire.FrameControl && f.Sub == wire.ControlFinal:
		return frame{"type": "FINAL", "frame_type": 3, "subtype": 5, "status": f.Final.Status, "session_id": fmt.Sprintf("%016x", uint64(f.Final.SessionID))}
	case f.Type == wire.FrameStreamControl && f.Sub == wire.StreamMaxStreamData:
		return frame{"type": "MAX_STREAM_DATA", "frame_type": 4, "subtype": 3, "stream_id": uint64(f.MaxStreamData.StreamID), "maximum": f.MaxStreamData.Max}
	case f.Type == wire.FrameStreamControl && f.Sub == wire.StreamMaxStreams:
		return frame{"type": "MAX_STREAMS", "frame_type": 4, "subtype": 4, "maximum": f.MaxStreams.Max}
	}
	panic(fmt.Sprintf("frameJSON: frame %v/%d not used by the session vectors", f.Type, f.Sub))
}

func u64p(v uint64) *uint64 { return &v }
func intp(v int) *int       { return &v }

// computeSession builds the whole transcript from the handshake inputs in
// f and checks, as the receiving side, that every transport packet opens
// and parses back to the frames that went in.
func computeSession(t testing.TB, f *sessionFile) {
	t.Helper()
	hf := &handshakeFile{Handshakes: []hsVector{f.Handshake}}
	run := runHandshake(t, &hf.Handshakes[0].Inputs)
	f.Handshake.Outputs = run.out
	f.Suite = int(run.suite)
	f.SessionID = fmt.Sprintf("%016x", uint64(run.sid))
	secrets := map[string]stc.Secret{"key_i2r": run.i2r, "key_i2r_next": run.i2r.Next(), "key_r2i": run.r2i}
	f.Keys = nil
	for _, name := range []string{"key_i2r", "key_i2r_next", "key_r2i"} {
		s := secrets[name]
		f.Keys = append(f.Keys, jsonKey{Name: name, Secret: hex.EncodeToString(s.Bytes()),
			Key: hex.EncodeToString(stc.Expand(s, "stt key", run.suite.KeyLen())), IV: hex.EncodeToString(stc.Expand(s, "stt iv", stc.IVLen))})
	}
	out := run.out
	f.Datagrams = []jsonDatagram{
		{Index: 1, From: "initiator", Message: "HELLO", Datagram: out.Hello, Note: "hybrid HELLO (handshake.json, vector \"hybrid\")"},
		{Index: 2, From: "responder", Message: "RESPONSE", Datagram: out.Response, Note: "RESPONSE, chosen suite " + run.suite.String()},
		{Index: 3, From: "initiator", Message: "AUTH_PROOF", Datagram: out.AuthProof, Note: "AUTH_PROOF; the responder installs the session and sends FINAL"},
	}
	ip, rp := f.Handshake.Inputs.InitiatorParams.params(), f.Handshake.Inputs.ResponderParams.params()
	// One sealer per key, and the receiving side's own openers.
	sealers, openers := map[string]*stc.PacketAEAD{}, map[string]*stc.PacketAEAD{}
	aead := func(m map[string]*stc.PacketAEAD, name string) *stc.PacketAEAD {
		if m[name] == nil {
			a, err := stc.NewPacketAEAD(run.suite, secrets[name])
			if err != nil {
				t.Fatal(err)
			}
			m[name] = a
		}
		return m[name]
	}
	var parsed wire.Frame
	for i, sp := range sessionScript(run.sid, ip, rp) {
		key, from := "key_r2i", "responder"
		if sp.fromInitiator {
			key, from = "key_i2r", "initiator"
			if sp.keyPhase {
				key = "key_i2r_next"
			}
		}
		var pt []byte
		var frames []frame
		for j := range sp.frames {
			pt = sp.frames[j].AppendTo(pt)
			frames = append(frames, frameJSON(&sp.frames[j]))
		}
		hdr := wire.Header{Kind: wire.KindTransport, KeyPhase: sp.keyPhase, SessionID: run.sid, PacketNumber: sp.pn}.AppendTo(nil)
		buf := make([]byte, 0, len(hdr)+len(pt)+stc.Overhead)
		buf = append(append(buf, hdr...), pt...)
		dg := aead(sealers, key).Seal(buf, wire.HeaderLen, sp.pn)
		phase := 0
		if sp.keyPhase {
			phase = 1
		}
		f.Datagrams = append(f.Datagrams, jsonDatagram{Index: 4 + i, From: from, Message: "TRANSPORT", PacketNumber: u64p(sp.pn),
			KeyPhase: intp(phase), Key: key, Header: hex.EncodeToString(hdr), Plaintext: hex.EncodeToString(pt),
			Frames: frames, Datagram: hex.EncodeToString(dg), Note: sp.note})

		// The receiver's view: header, key by phase, open, frames.
		rx := bytes.Clone(dg)
		h, n, err := wire.ParseHeader(rx)
		if err != nil || n != wire.HeaderLen || h.SessionID != run.sid || h.PacketNumber != sp.pn || h.KeyPhase != sp.keyPhase {
			t.Fatalf("datagram %d: header %+v, %v", 4+i, h, err)
		}
		body, err := aead(openers, key).Open(rx, wire.HeaderLen, h.PacketNumber)
		if err != nil {
			t.Fatalf("datagram %d does not open under %s: %v", 4+i, key, err)
		}
		for j := 0; len(body) > 0; j++ {
			m, err := wire.ParseFrame(body, &parsed)
			if err != nil {
				t.Fatalf("datagram %d frame %d: %v", 4+i, j, err)
			}
			if got, want := fmt.Sprint(frameJSON(&parsed)), fmt.Sprint(frames[j]); got != want {
				t.Fatalf("datagram %d frame %d parses to %s, want %s", 4+i, j, got, want)
			}
			if parsed.Type == wire.FrameControl && parsed.Sub == wire.ControlFinal && parsed.Final.SessionID != run.sid {
				t.Fatalf("FINAL names %v, the session is %v", parsed.Final.SessionID, run.sid)
			}
			body = body[m:]
		}
	}
}

func defaultSessionFile() *sessionFile {
	var h hsVector
	for _, v := range defaultHandshakeFile().Handshakes {
		if v.Name == "hybrid" {
			h = v
		}
	}
	return &sessionFile{
		Description: "A complete STT session, version 1: the hybrid handshake of handshake.json, FINAL, one stream carrying a " +
			"message each way, ACKs, a key update by the initiator, and CLOSE. Every datagram is given in hex. TRANSPORT packets: " +
			"datagram = header ‖ AEAD(key, nonce = iv XOR (0^4 ‖ BE64(packet_number)), plaintext, ad = header) with the key and iv " +
			"of the named secret (docs/PROTOCOL.md \"Key schedule and identity\"); frames are decoded in docs/vectors/wire.json's form. " +
			"Checked by control/session_json_test.go, stc/vectors_json_test.go and wire/vectors_json_test.go; regenerate with " +
			"go test ./control -run JSON -update-json.",
		Spec:      "docs/TRANSPORT.md",
		Handshake: h,
	}
}

// TestSessionVectorsJSON recomputes docs/vectors/session.json from its
// handshake inputs and checks the transport datagrams copied into
// docs/TRANSPORT.md.
func TestSessionVectorsJSON(t *testing.T) {
	f := defaultSessionFile()
	if !*updateJSON {
		f = new(sessionFile)
		vectorfile.Read(t, sessionJSON, f, false)
	}
	// The session continues the hybrid handshake of handshake.json.
	hf := new(handshakeFile)
	if *updateJSON {
		hf = defaultHandshakeFile()
	} else {
		vectorfile.Read(t, handshakeJSON, hf, false)
	}
	var same bool
	for _, v := range hf.Handshakes {
		if v.Name == f.Handshake.Name && fmt.Sprint(v.Inputs) == fmt.Sprint(f.Handshake.Inputs) {
			same = true
		}
	}
	if !same {
		t.Errorf("session.json's handshake %q is not the one in handshake.json", f.Handshake.Name)
	}
	computeSession(t, f)
	writeOrCompare(t, sessionJSON, f)

	want := map[string]string{}
	for _, d := range f.Datagrams {
		if d.Message == "TRANSPORT" {
			dir := "r2i"
			if d.From == "initiator" {
				dir = "i2r"
			}
			want[fmt.Sprintf("%s.%d", dir, *d.PacketNumber)] = d.Datagram
		}
	}
	for _, k := range f.Keys {
		want[k.Name] = k.Secret
	}
	want["session_id"] = f.SessionID
	compareBlocks(t, transportMD, markdownBlocks(t, transportMD), map[string]map[string]string{"# session transcript": want})
	if t.Failed() {
		t.Log("datagram lines for docs/TRANSPORT.md:")
		for k, v := range want {
			t.Logf("%s = %s", k, strings.TrimSpace(v))
		}
	}
}
