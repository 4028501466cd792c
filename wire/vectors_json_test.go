package wire

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/stt-go/stt/internal/vectorfile"
)

// updateJSON regenerates docs/vectors/wire.json from the vectors in
// docs/PROTOCOL.md, decoded by this package: go test ./wire -run JSON
// -update-json. Review the diff: the decoded values are the specification.
var updateJSON = flag.Bool("update-json", false, "rewrite docs/vectors/wire.json from docs/PROTOCOL.md")

const (
	wireJSON    = "../docs/vectors/wire.json"
	sessionJSON = "../docs/vectors/session.json"
)

// jsonVector is one entry of wire.json. Decoded holds the value a parser
// must produce (valid vectors); Error the class of failure it must report
// (bad-* vectors): "truncated", "malformed", "too_large" or "unknown".
type jsonVector struct {
	Name    string         `json:"name"`
	Hex     string         `json:"hex"`
	Parser  string         `json:"parser"`
	Decoded map[string]any `json:"decoded,omitempty"`
	Error   string         `json:"error,omitempty"`
}

type wireFile struct {
	Description string            `json:"description"`
	Spec        string            `json:"spec"`
	ErrorNames  map[string]string `json:"errors"`
	Vectors     []jsonVector      `json:"vectors"`
}

// errorClasses names the four failure classes of docs/PROTOCOL.md "Error
// handling" in the JSON.
var errorClasses = map[string]error{
	"truncated": io.ErrUnexpectedEOF,
	"malformed": ErrMalformed,
	"too_large": ErrTooLarge,
	"unknown":   ErrUnknownFrame,
}

func errorClass(err error) string {
	for name, e := range errorClasses {
		if errors.Is(err, e) {
			return name
		}
	}
	return "none"
}

// frameJSON returns f in the vectors' JSON form: the frame's name, its
// type byte (and subtype), and every field, byte strings in hex.
func frameJSON(f *Frame) map[string]any {
	h := func(b []byte) string { return hex.EncodeToString(b) }
	m := map[string]any{"frame_type": uint64(f.Type)}
	ctl := func(name string, sub uint8) { m["type"], m["subtype"] = name, uint64(sub) }
	switch f.Type {
	case FramePadding:
		m["type"], m["length"] = "PADDING", uint64(f.Padding.N)
	case FrameData:
		fl := uint64(0)
		if f.Data.Fin {
			fl |= dataFlagFin
		}
		if f.Data.EndOfMessage {
			fl |= dataFlagEOM
		}
		m["type"], m["flags"], m["fin"] = "DATA", fl, f.Data.Fin
		m["stream_id"], m["offset"], m["data"] = uint64(f.Data.StreamID), f.Data.Offset, h(f.Data.Data)
	case FrameControl:
		switch f.Sub {
		case ControlAck:
			ctl("ACK", f.Sub)
			rs := make([]any, 0, f.Ack.N)
			for _, r := range f.Ack.Ranges[:f.Ack.N] {
				rs = append(rs, []any{r.Smallest, r.Largest})
			}
			m["largest"], m["ack_delay"], m["ranges"] = f.Ack.Largest(), f.Ack.Delay, rs
		case ControlPing:
			ctl("PING", f.Sub)
		case ControlClose:
			ctl("CLOSE", f.Sub)
			m["error_code"], m["reason"] = f.Close.Code, h(f.Close.Reason)
		case ControlMaxData:
			ctl("MAX_DATA", f.Sub)
			m["maximum"] = f.MaxData.Max
		case ControlFinal:
			ctl("FINAL", f.Sub)
			m["status"], m["session_id"] = uint64(f.Final.Status), f.Final.SessionID.String()
		case ControlPathChallenge:
			ctl("PATH_CHALLENGE", f.Sub)
			m["data"] = h(f.PathChallenge.Data[:])
		case ControlPathResponse:
			ctl("PATH_RESPONSE", f.Sub)
			m["data"] = h(f.PathResponse.Data[:])
		case ControlResetToken:
			ctl("RESET_TOKEN", f.Sub)
			m["token"] = h(f.ResetToken.Token[:])
		case ControlNewTicket:
			ctl("NEW_TICKET", f.Sub)
			m["blob"] = h(f.NewTicket.Blob)
		}
	case FrameStreamControl:
		switch f.Sub {
		case StreamReset:
			ctl("RESET", f.Sub)
			m["stream_id"], m["error_code"], m["final_size"] = uint64(f.ResetStream.StreamID), f.ResetStream.Code, f.ResetStream.FinalSize
		case StreamStopSending:
			ctl("STOP_SENDING", f.Sub)
			m["stream_id"], m["error_code"] = uint64(f.StopSending.StreamID), f.StopSending.Code
		case StreamMaxStreamData:
			ctl("MAX_STREAM_DATA", f.Sub)
			m["stream_id"], m["maximum"] = uint64(f.MaxStreamData.StreamID), f.MaxStreamData.Max
		case StreamMaxStreams:
			ctl("MAX_STREAMS", f.Sub)
			m["maximum"] = f.MaxStreams.Max
		case StreamBlocked:
			ctl("STREAM_BLOCKED", f.Sub)
			m["stream_id"], m["limit"] = uint64(f.StreamBlocked.StreamID), f.StreamBlocked.Limit
		case StreamDataBlocked:
			ctl("DATA_BLOCKED", f.Sub)
			m["limit"] = f.DataBlocked.Limit
		case StreamSkip:
			ctl("SKIP", f.Sub)
			m["stream_id"], m["offset"], m["length"], m["next_message"] = uint64(f.Skip.StreamID), f.Skip.Offset, f.Skip.Length, f.Skip.NextMessage
		}
	default:
		if f.Type.IsCustom() {
			m["type"], m["payload"] = "APPLICATION", h(f.Custom.Payload)
		}
	}
	return m
}

func headerJSON(h Header) map[string]any {
	return map[string]any{"kind": h.Kind.String(), "key_phase": h.KeyPhase, "session_id": h.SessionID.String(), "packet_number": h.PacketNumber}
}

// canonical renders a decoded value as canonical JSON (sorted keys, exact
// integers) so a file's value and the code's compare as text.
func canonical(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var x any
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	if err := d.Decode(&x); err != nil {
		t.Fatal(err)
	}
	b, err = json.Marshal(x)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// decodeVector runs the parser a vector names on b and returns the decoded
// value (re-encoding it and checking the bytes), or the error.
func decodeVector(t *testing.T, parser string, b []byte) (map[string]any, error) {
	t.Helper()
	switch parser {
	case "varint":
		v, n, err := ParseVarint(b)
		if err != nil {
			return nil, err
		}
		if n != len(b) || !bytes.Equal(AppendVarint(nil, v), b) {
			t.Fatalf("varint %x: consumed %d, re-encodes to %x", b, n, AppendVarint(nil, v))
		}
		return map[string]any{"value": v}, nil
	case "header":
		h, n, err := ParseHeader(b)
		if err != nil {
			return nil, err
		}
		if n != len(b) || !bytes.Equal(h.AppendTo(nil), b) {
			t.Fatalf("header %x: consumed %d, re-encodes to %x", b, n, h.AppendTo(nil))
		}
		return headerJSON(h), nil
	case "frame":
		var f Frame
		n, err := ParseFrame(b, &f)
		if err != nil {
			return nil, err
		}
		if n != len(b) || !bytes.Equal(f.AppendTo(nil), b) || f.Len() != n {
			t.Fatalf("frame %x: consumed %d, Len %d, re-encodes to %x", b, n, f.Len(), f.AppendTo(nil))
		}
		return frameJSON(&f), nil
	}
	t.Fatalf("unknown parser %q", parser)
	return nil, nil
}

// parserFor maps a Markdown vector name's class to the parser it tests.
func parserFor(name string) string {
	class, _, _ := strings.Cut(name, ".")
	return strings.TrimPrefix(class, "bad-")
}

func buildWireFile(t *testing.T) *wireFile {
	f := &wireFile{
		Description: "STT wire codec vectors, version 1: every vector of docs/PROTOCOL.md \"Test vectors\" with the value a parser must " +
			"decode (valid vectors: parse, then re-encode to the same bytes) or the class of error it must report (bad-* vectors). " +
			"Integers are exact (parse them as 64-bit unsigned); byte strings and session IDs are lower-case hex. Checked by " +
			"wire/vectors_json_test.go; regenerate with go test ./wire -run JSON -update-json.",
		Spec: "docs/PROTOCOL.md",
		ErrorNames: map[string]string{
			"truncated": "the input ends inside a field (Go: io.ErrUnexpectedEOF)",
			"malformed": "a non-canonical or overflowing varint, a wrong version, a reserved bit set, an ACK range below zero, a HANDSHAKE or AUTH frame in a TRANSPORT packet (Go: wire.ErrMalformed)",
			"too_large": "a value above a limit of docs/PROTOCOL.md \"Limits\" (Go: wire.ErrTooLarge)",
			"unknown":   "a frame type 0x06-0x7f or an unknown subtype (Go: wire.ErrUnknownFrame)",
		},
	}
	for _, v := range readVectors(t) {
		e := jsonVector{Name: v.name, Hex: hex.EncodeToString(v.b), Parser: parserFor(v.name)}
		dec, err := decodeVector(t, e.Parser, v.b)
		if strings.HasPrefix(v.name, "bad-") {
			e.Error = errorClass(err)
		} else {
			if err != nil {
				t.Fatalf("%s: %v", v.name, err)
			}
			e.Decoded = dec
		}
		f.Vectors = append(f.Vectors, e)
	}
	return f
}

// TestWireVectorsJSON checks docs/vectors/wire.json against this package
// (each valid vector decodes to the JSON value and re-encodes to its
// bytes; each bad one fails with its class) and against docs/PROTOCOL.md
// (the same vectors, name for name and byte for byte).
func TestWireVectorsJSON(t *testing.T) {
	if *updateJSON {
		vectorfile.Write(t, wireJSON, buildWireFile(t))
	}
	var f wireFile
	vectorfile.Read(t, wireJSON, &f, true)
	seen := map[string]bool{}
	for _, v := range f.Vectors {
		t.Run(v.Name, func(t *testing.T) {
			if seen[v.Name] {
				t.Fatalf("duplicate vector %s", v.Name)
			}
			seen[v.Name] = true
			b, err := hex.DecodeString(v.Hex)
			if err != nil {
				t.Fatal(err)
			}
			dec, err := decodeVector(t, v.Parser, b)
			switch {
			case v.Error != "":
				if _, ok := errorClasses[v.Error]; !ok {
					t.Fatalf("unknown error class %q", v.Error)
				}
				var pe *ParseError
				if got := errorClass(err); got != v.Error || !errors.As(err, &pe) {
					t.Fatalf("error %v (class %s), want a *ParseError of class %s", err, got, v.Error)
				}
			case err != nil:
				t.Fatalf("valid vector fails: %v", err)
			case v.Decoded == nil:
				t.Fatal("neither decoded nor error")
			default:
				if got, want := canonical(t, dec), canonical(t, v.Decoded); got != want {
					t.Fatalf("decoded\n code %s\n json %s", got, want)
				}
			}
		})
	}
	// The Markdown holds the same vectors.
	md := readVectors(t)
	if len(md) != len(f.Vectors) {
		t.Errorf("%s has %d vectors, %s %d", protocolDoc, len(md), wireJSON, len(f.Vectors))
	}
	for i, v := range md {
		if i >= len(f.Vectors) {
			break
		}
		if j := f.Vectors[i]; j.Name != v.name || j.Hex != hex.EncodeToString(v.b) || j.Parser != parserFor(v.name) {
			t.Errorf("vector %d: %s %x in the Markdown, %s %s (%s) in the JSON", i, v.name, v.b, j.Name, j.Hex, j.Parser)
		}
	}
}

// TestSessionFramesJSON checks the plaintext of every TRANSPORT packet in
// docs/vectors/session.json against its decoded frames: the payload parses
// frame by frame to the listed values and re-encodes to the same bytes.
// (Sealing is checked by package stc, the handshake by package control.)
func TestSessionFramesJSON(t *testing.T) {
	raw, err := os.ReadFile(sessionJSON)
	if err != nil {
		t.Fatal(err)
	}
	var s struct {
		Datagrams []struct {
			Index     int              `json:"index"`
			Message   string           `json:"message"`
			Header    string           `json:"header"`
			Plaintext string           `json:"plaintext"`
			Frames    []map[string]any `json:"frames"`
			Datagram  string           `json:"datagram"`
		} `json:"datagrams"`
	}
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	if err := d.Decode(&s); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, dg := range s.Datagrams {
		if dg.Message != "TRANSPORT" {
			continue
		}
		n++
		t.Run(strconv.Itoa(dg.Index), func(t *testing.T) {
			hb, _ := hex.DecodeString(dg.Header)
			full, _ := hex.DecodeString(dg.Datagram)
			if h, k, err := ParseHeader(full); err != nil || k != HeaderLen || !bytes.Equal(full[:HeaderLen], hb) || h.Kind != KindTransport {
				t.Fatalf("datagram header %+v %v; want the listed header %s", h, err, dg.Header)
			}
			pt, err := hex.DecodeString(dg.Plaintext)
			if err != nil || len(pt) == 0 {
				t.Fatalf("plaintext %q: %v", dg.Plaintext, err)
			}
			if len(full) != HeaderLen+len(pt)+16 {
				t.Fatalf("datagram is %d bytes; header, %d plaintext bytes and the tag make %d", len(full), len(pt), HeaderLen+len(pt)+16)
			}
			var f Frame
			var enc []byte
			for i := 0; len(pt) > 0; i++ {
				k, err := ParseFrame(pt, &f)
				if err != nil {
					t.Fatalf("frame %d: %v", i, err)
				}
				if i >= len(dg.Frames) {
					t.Fatalf("more frames than the %d listed", len(dg.Frames))
				}
				if got, want := canonical(t, frameJSON(&f)), canonical(t, dg.Frames[i]); got != want {
					t.Fatalf("frame %d\n code %s\n json %s", i, got, want)
				}
				enc = f.AppendTo(enc)
				pt = pt[k:]
				if i == len(dg.Frames)-1 && len(pt) != 0 {
					t.Fatalf("bytes left after the %d listed frames", len(dg.Frames))
				}
			}
			if hex.EncodeToString(enc) != dg.Plaintext {
				t.Fatalf("frames re-encode to %x", enc)
			}
		})
	}
	if n == 0 {
		t.Fatal("no TRANSPORT datagrams in session.json")
	}
}
