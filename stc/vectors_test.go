package stc

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// updateVectors regenerates testdata/vectors.md from the default inputs:
// go test ./stc -run TestVectors -update-vectors. Review the diff: a change
// to an existing value is a wire-incompatible change of the key schedule.
var updateVectors = flag.Bool("update-vectors", false, "rewrite testdata/vectors.md")

const (
	vectorsFile   = "testdata/vectors.md"
	protocolFile  = "../docs/PROTOCOL.md"
	vectorsMarker = "# stc key schedule vectors"
	vectorsFence  = "```vectors"
)

// vectorInputs are the inputs of the known-answer vectors, in file order.
var vectorInputs = []string{
	"shared_seed", "node_seed", "traffic_secret",
	"packet_header", "packet_number", "packet_plaintext",
	"stream_secret", "stream_session_id", "stream_id", "stream_seq", "stream_plaintext",
}

// defaultVectorInputs are used only to generate the file.
func defaultVectorInputs() map[string]string {
	hdr := []byte{0x01, 0x02, 1, 2, 3, 4, 5, 6, 7, 8, 0, 0, 0, 0, 0, 42} // version 1, TRANSPORT, session 0102..08, pn 42
	return map[string]string{
		"shared_seed":       hex.EncodeToString(seqBytes(0x00, 32)),
		"node_seed":         hex.EncodeToString(seqBytes(0x20, 32)),
		"traffic_secret":    hex.EncodeToString(seqBytes(0x40, 32)),
		"packet_header":     hex.EncodeToString(hdr),
		"packet_number":     "42",
		"packet_plaintext":  hex.EncodeToString([]byte("stt vector packet payload")),
		"stream_secret":     hex.EncodeToString(seqBytes(0x60, 32)),
		"stream_session_id": "72623859790382856", // 0x0102030405060708
		"stream_id":         "5",
		"stream_seq":        "7",
		"stream_plaintext":  hex.EncodeToString([]byte("stt vector stream segment")),
	}
}

type vector struct{ name, value string }

// computeVectors derives every output from the inputs in in.
func computeVectors(in map[string]string) ([]vector, error) {
	var firstErr error
	hx := func(name string) []byte {
		b, err := hex.DecodeString(in[name])
		if err != nil && firstErr == nil {
			firstErr = fmt.Errorf("input %s: %w", name, err)
		}
		return b
	}
	num := func(name string) uint64 {
		n, err := strconv.ParseUint(in[name], 10, 64)
		if err != nil && firstErr == nil {
			firstErr = fmt.Errorf("input %s: %w", name, err)
		}
		return n
	}
	secret := func(name string) Secret {
		b := hx(name)
		if len(b) != 32 && firstErr == nil {
			firstErr = fmt.Errorf("input %s: %d bytes, want 32", name, len(b))
		}
		var s Secret
		copy(s.b[:], b)
		return s
	}
	var out []vector
	add := func(name string, b []byte) { out = append(out, vector{name, hex.EncodeToString(b)}) }

	psk, err := DerivePSK(hx("shared_seed"))
	if err != nil {
		return nil, err
	}
	add("psk", psk[:])

	id, err := NewIdentity(hx("node_seed"))
	if err != nil {
		return nil, err
	}
	add("node_static_private", id.priv.Bytes())
	pub := id.Public()
	add("node_static_public", pub[:])
	nid := id.ID()
	add("node_id", nid[:])

	ts := secret("traffic_secret")
	next := ts.Next()
	add("traffic_secret_next", next.b[:])

	hdr, pt, pn := hx("packet_header"), hx("packet_plaintext"), num("packet_number")
	ss := secret("stream_secret")
	session, stream, seq := num("stream_session_id"), num("stream_id"), num("stream_seq")
	spt := hx("stream_plaintext")
	var ids [16]byte
	binary.BigEndian.PutUint64(ids[:8], session)
	binary.BigEndian.PutUint64(ids[8:], stream)
	for _, s := range allSuites {
		add(s.String()+"_key", Expand(ts, "stt key", s.KeyLen()))
		add(s.String()+"_iv", Expand(ts, "stt iv", IVLen))
		p, err := NewPacketAEAD(s, ts)
		if err != nil {
			return nil, err
		}
		add(s.String()+"_packet", p.Seal(packetBuf(hdr, pt), len(hdr), pn))
		add(s.String()+"_next_packet", mustPacketSeal(s, next, hdr, pt, pn))
		add(s.String()+"_stream_key", Expand(ss, "stt stream key"+string(ids[:]), s.KeyLen()))
		add(s.String()+"_stream_iv", Expand(ss, "stt stream iv"+string(ids[:]), IVLen))
		c, err := NewStreamContext(s, ss, session, stream)
		if err != nil {
			return nil, err
		}
		add(s.String()+"_stream_segment", c.Seal(nil, seq, spt))
	}
	return out, firstErr
}

func mustPacketSeal(s Suite, secret Secret, hdr, pt []byte, pn uint64) []byte {
	p, err := NewPacketAEAD(s, secret)
	if err != nil {
		panic(err)
	}
	return p.Seal(packetBuf(hdr, pt), len(hdr), pn)
}

// parseVectorBlocks returns the name = value pairs of every ```vectors
// block in md whose first line is vectorsMarker.
func parseVectorBlocks(md []byte) ([]map[string]string, error) {
	var blocks []map[string]string
	var cur map[string]string
	inBlock, first := false, false
	sc := bufio.NewScanner(bytes.NewReader(md))
	for lineNo := 1; sc.Scan(); lineNo++ {
		line := strings.TrimSpace(sc.Text())
		switch {
		case !inBlock && line == vectorsFence:
			inBlock, first, cur = true, true, nil
		case inBlock && line == "```":
			inBlock = false
			if cur != nil {
				blocks = append(blocks, cur)
			}
		case inBlock && first:
			first = false
			if line == vectorsMarker {
				cur = map[string]string{}
			}
		case inBlock && cur != nil && line != "" && !strings.HasPrefix(line, "#"):
			name, value, ok := strings.Cut(line, "=")
			if !ok {
				return nil, fmt.Errorf("line %d: want name = value, got %q", lineNo, line)
			}
			name, value = strings.TrimSpace(name), strings.TrimSpace(value)
			if _, dup := cur[name]; dup {
				return nil, fmt.Errorf("line %d: %s repeated", lineNo, name)
			}
			cur[name] = value
		}
	}
	if inBlock {
		return nil, errors.New("unterminated vectors block")
	}
	return blocks, sc.Err()
}

// checkVectorBlock recomputes every output of b from b's inputs.
func checkVectorBlock(t *testing.T, where string, b map[string]string) {
	t.Helper()
	for _, name := range vectorInputs {
		if _, ok := b[name]; !ok {
			t.Fatalf("%s: input %s missing", where, name)
		}
	}
	outs, err := computeVectors(b)
	if err != nil {
		t.Fatalf("%s: %v", where, err)
	}
	known := map[string]bool{}
	for _, name := range vectorInputs {
		known[name] = true
	}
	for _, v := range outs {
		known[v.name] = true
		got, ok := b[v.name]
		if !ok {
			t.Errorf("%s: output %s missing", where, v.name)
		} else if got != v.value {
			t.Errorf("%s: %s\n file %s\n code %s", where, v.name, got, v.value)
		}
	}
	for name := range b {
		if !known[name] {
			t.Errorf("%s: unknown entry %s", where, name)
		}
	}
}

// renderVectors formats the vectors block for inputs in.
func renderVectors(in map[string]string, outs []vector) string {
	var sb strings.Builder
	sb.WriteString(vectorsFence + "\n" + vectorsMarker + "\n# inputs (hex unless decimal)\n")
	for _, name := range vectorInputs {
		fmt.Fprintf(&sb, "%-32s = %s\n", name, in[name])
	}
	sb.WriteString("# outputs\n")
	for _, v := range outs {
		fmt.Fprintf(&sb, "%-32s = %s\n", v.name, v.value)
	}
	sb.WriteString("```\n")
	return sb.String()
}

const vectorsPreamble = `# stc known-answer vectors

Generated by ` + "`go test ./stc -run TestVectors -update-vectors`" + ` and checked by
TestVectors on every test run; stc/testdata/crosscheck.py recomputes them with
Python's ` + "`cryptography`" + ` package as an independent implementation. All HKDF
labels below are written without the "stt/1 " prefix that the key schedule
prepends to every label.

- psk = HKDF-Expand(HKDF-Extract(salt=nil, shared_seed), "stt/1 stt psk", 32)
- node_static_private = HKDF-Expand(HKDF-Extract(nil, node_seed), "stt/1 stt node static", 32)
  (an X25519 scalar, clamped by X25519); node_static_public = X25519(private, 9)
- node_id = SHA3-256("stt/1 node id" ‖ node_static_public)
- traffic_secret_next = HKDF-Expand(traffic_secret, "stt/1 stt traffic upd", 32)
- <suite>_key = HKDF-Expand(traffic_secret, "stt/1 stt key", key length 32/32/16);
  <suite>_iv = HKDF-Expand(traffic_secret, "stt/1 stt iv", 12)
- <suite>_packet = packet_header ‖ AEAD-Seal(key, nonce = iv XOR (0^4 ‖ BE64(packet_number)),
  packet_plaintext, aad = packet_header); <suite>_next_packet is the same under traffic_secret_next
- <suite>_stream_key/_iv = HKDF-Expand(stream_secret, "stt/1 stt stream key"/"stt/1 stt stream iv"
  ‖ BE64(stream_session_id) ‖ BE64(stream_id), key length / 12);
  <suite>_stream_segment = AEAD-Seal(stream key, stream iv XOR BE64(stream_seq),
  stream_plaintext, aad = BE64(session) ‖ BE64(stream) ‖ BE64(seq))

`

// TestVectors checks the known-answer vectors in testdata/vectors.md and,
// when docs/PROTOCOL.md carries a copy, that copy too.
func TestVectors(t *testing.T) {
	if *updateVectors {
		in := defaultVectorInputs()
		outs, err := computeVectors(in)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(vectorsFile, []byte(vectorsPreamble+renderVectors(in, outs)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	md, err := os.ReadFile(vectorsFile)
	if err != nil {
		t.Fatal(err)
	}
	blocks, err := parseVectorBlocks(md)
	if err != nil {
		t.Fatalf("%s: %v", vectorsFile, err)
	}
	if len(blocks) != 1 {
		t.Fatalf("%s: %d vector blocks, want 1", vectorsFile, len(blocks))
	}
	checkVectorBlock(t, vectorsFile, blocks[0])

	doc, err := os.ReadFile(protocolFile)
	if errors.Is(err, os.ErrNotExist) {
		t.Logf("%s absent; vectors checked in %s only", protocolFile, vectorsFile)
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	docBlocks, err := parseVectorBlocks(doc)
	if err != nil {
		t.Fatalf("%s: %v", protocolFile, err)
	}
	for i, b := range docBlocks {
		checkVectorBlock(t, filepath.Base(protocolFile)+" block "+strconv.Itoa(i+1), b)
	}
	t.Logf("%s: %d stc vector block(s) checked", protocolFile, len(docBlocks))
}

// TestVectorParser checks that the parser rejects what it must, so a
// damaged file cannot pass by being read as empty.
func TestVectorParser(t *testing.T) {
	for _, c := range []struct {
		name, md string
		blocks   int
		wantErr  bool
	}{
		{"no block", "text only\n", 0, false},
		{"other vectors block", vectorsFence + "\n# someone else's\nx = 1\n```\n", 0, false},
		{"ours", vectorsFence + "\n" + vectorsMarker + "\na = 1\n# c\n\nb = 2\n```\n", 1, false},
		{"bad line", vectorsFence + "\n" + vectorsMarker + "\nnot a pair\n```\n", 0, true},
		{"duplicate", vectorsFence + "\n" + vectorsMarker + "\na = 1\na = 2\n```\n", 0, true},
		{"unterminated", vectorsFence + "\n" + vectorsMarker + "\na = 1\n", 0, true},
	} {
		blocks, err := parseVectorBlocks([]byte(c.md))
		if (err != nil) != c.wantErr || len(blocks) != c.blocks {
			t.Errorf("%s: %d blocks, err %v; want %d, error %v", c.name, len(blocks), err, c.blocks, c.wantErr)
		}
	}
	// A changed value in a valid block must be reported.
	in := defaultVectorInputs()
	outs, err := computeVectors(in)
	if err != nil {
		t.Fatal(err)
	}
	blocks, err := parseVectorBlocks([]byte(renderVectors(in, outs)))
	if err != nil || len(blocks) != 1 {
		t.Fatalf("rendered block: %v", err)
	}
	blocks[0]["psk"] = strings.Repeat("00", 32)
	if got, _ := computeVectors(blocks[0]); got[0].name != "psk" || got[0].value == blocks[0]["psk"] {
		t.Fatal("a tampered psk entry would pass")
	}
}
