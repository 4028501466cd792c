package stc

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"flag"
	"os"
	"strconv"
	"testing"

	"github.com/stt-go/stt/internal/vectorfile"
)

// updateJSON regenerates docs/vectors/keyschedule.json from the default
// inputs: go test ./stc -run JSON -update-json.
var updateJSON = flag.Bool("update-json", false, "rewrite docs/vectors/keyschedule.json")

const (
	keyScheduleJSON = "../docs/vectors/keyschedule.json"
	sessionJSON     = "../docs/vectors/session.json"
)

type keyScheduleFile struct {
	Description string            `json:"description"`
	Spec        string            `json:"spec"`
	Inputs      map[string]string `json:"inputs"`
	Outputs     map[string]string `json:"outputs"`
}

func buildKeyScheduleFile(t *testing.T) *keyScheduleFile {
	in := defaultVectorInputs()
	outs, err := computeVectors(in)
	if err != nil {
		t.Fatal(err)
	}
	f := &keyScheduleFile{
		Description: "STT key schedule, packet protection, node identity and stream context vectors, version 1 " +
			"(docs/PROTOCOL.md \"Key schedule and identity\"). Byte strings are lower-case hex; packet_number, stream_session_id, " +
			"stream_id and stream_seq are decimal. Every HKDF-Expand info string is \"stt/1 \" followed by the label. " +
			"<suite>_packet = packet_header ‖ AEAD-Seal(<suite>_key, <suite>_iv XOR (0^4 ‖ BE64(packet_number)), packet_plaintext, " +
			"ad = packet_header); <suite>_next_packet is the same under traffic_secret_next. node_static_private is the HKDF output " +
			"as stored; X25519 clamps it when it multiplies (RFC 7748 §5), the stored bytes are not clamped. Checked by " +
			"stc/vectors_json_test.go; regenerate with go test ./stc -run JSON -update-json.",
		Spec:    "docs/PROTOCOL.md",
		Inputs:  in,
		Outputs: map[string]string{},
	}
	for _, v := range outs {
		f.Outputs[v.name] = v.value
	}
	return f
}

// TestKeyScheduleVectorsJSON recomputes every output of
// docs/vectors/keyschedule.json from its inputs, and checks that the
// vectors block of docs/PROTOCOL.md and testdata/vectors.md hold the same
// entries.
func TestKeyScheduleVectorsJSON(t *testing.T) {
	if *updateJSON {
		vectorfile.Write(t, keyScheduleJSON, buildKeyScheduleFile(t))
	}
	var f keyScheduleFile
	vectorfile.Read(t, keyScheduleJSON, &f, false)
	outs, err := computeVectors(f.Inputs)
	if err != nil {
		t.Fatal(err)
	}
	if len(outs) != len(f.Outputs) {
		t.Errorf("%s: %d outputs, the code computes %d", keyScheduleJSON, len(f.Outputs), len(outs))
	}
	all := map[string]string{}
	for k, v := range f.Inputs {
		all[k] = v
	}
	for _, v := range outs {
		if got := f.Outputs[v.name]; got != v.value {
			t.Errorf("%s: %s\n json %s\n code %s", keyScheduleJSON, v.name, got, v.value)
		}
		all[v.name] = v.value
	}
	for _, path := range []string{protocolFile, vectorsFile} {
		md, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		blocks, err := parseVectorBlocks(md)
		if err != nil || len(blocks) != 1 {
			t.Fatalf("%s: %d key schedule blocks, %v; want 1", path, len(blocks), err)
		}
		b := blocks[0]
		for k, v := range all {
			if b[k] != v {
				t.Errorf("%s: %s\n markdown %s\n json     %s", path, k, b[k], v)
			}
		}
		for k := range b {
			if _, ok := all[k]; !ok {
				t.Errorf("%s: %s is not in %s", path, k, keyScheduleJSON)
			}
		}
	}
}

// TestSessionPacketsJSON checks the packet protection of every TRANSPORT
// datagram in docs/vectors/session.json: the listed keys derive from the
// listed secrets (and key_i2r_next from key_i2r), sealing header ‖
// plaintext under the packet number gives the datagram, and opening the
// datagram gives the plaintext back.
func TestSessionPacketsJSON(t *testing.T) {
	raw, err := os.ReadFile(sessionJSON)
	if err != nil {
		t.Fatal(err)
	}
	var s struct {
		Suite int `json:"suite"`
		Keys  []struct {
			Name   string `json:"name"`
			Secret string `json:"secret"`
			Key    string `json:"aead_key"`
			IV     string `json:"iv"`
		} `json:"keys"`
		Datagrams []struct {
			Index        int     `json:"index"`
			Message      string  `json:"message"`
			PacketNumber *uint64 `json:"packet_number"`
			KeyPhase     *int    `json:"key_phase"`
			Key          string  `json:"key"`
			Header       string  `json:"header"`
			Plaintext    string  `json:"plaintext"`
			Datagram     string  `json:"datagram"`
		} `json:"datagrams"`
	}
	if err := json.Unmarshal(raw, &s); err != nil {
		t.Fatal(err)
	}
	suite := Suite(s.Suite)
	if !suite.Valid() {
		t.Fatalf("suite %d", s.Suite)
	}
	unhex := func(what, h string) []byte {
		t.Helper()
		b, err := hex.DecodeString(h)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		return b
	}
	secrets := map[string]Secret{}
	for _, k := range s.Keys {
		var sec Secret
		copy(sec.b[:], unhex(k.Name, k.Secret))
		secrets[k.Name] = sec
		if got := hex.EncodeToString(Expand(sec, "stt key", suite.KeyLen())); got != k.Key {
			t.Errorf("%s: aead_key %s, derived %s", k.Name, k.Key, got)
		}
		if got := hex.EncodeToString(Expand(sec, "stt iv", IVLen)); got != k.IV {
			t.Errorf("%s: iv %s, derived %s", k.Name, k.IV, got)
		}
	}
	if next, cur := secrets["key_i2r_next"], secrets["key_i2r"]; !next.Equal(cur.Next()) {
		t.Error("key_i2r_next is not Next(key_i2r)")
	}
	n := 0
	for _, d := range s.Datagrams {
		if d.Message != "TRANSPORT" {
			continue
		}
		n++
		t.Run(strconv.Itoa(d.Index), func(t *testing.T) {
			sec, ok := secrets[d.Key]
			if !ok || d.PacketNumber == nil || d.KeyPhase == nil {
				t.Fatalf("key %q, packet number, key phase: incomplete", d.Key)
			}
			hdr, pt, dg := unhex("header", d.Header), unhex("plaintext", d.Plaintext), unhex("datagram", d.Datagram)
			if phase := int(hdr[1] >> 7); phase != *d.KeyPhase {
				t.Errorf("header key phase %d, listed %d", phase, *d.KeyPhase)
			}
			seal, err := NewPacketAEAD(suite, sec)
			if err != nil {
				t.Fatal(err)
			}
			buf := append(append(make([]byte, 0, len(hdr)+len(pt)+Overhead), hdr...), pt...)
			if got := seal.Seal(buf, len(hdr), *d.PacketNumber); !bytes.Equal(got, dg) {
				t.Fatalf("sealing gives\n %x\nlisted\n %x", got, dg)
			}
			open, _ := NewPacketAEAD(suite, sec)
			got, err := open.Open(bytes.Clone(dg), len(hdr), *d.PacketNumber)
			if err != nil || !bytes.Equal(got, pt) {
				t.Fatalf("opening: %x, %v", got, err)
			}
		})
	}
	if n == 0 {
		t.Fatal("no TRANSPORT datagrams")
	}
}
