package wire

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"strconv"
	"strings"
	"testing"
)

// protocolDoc is the specification whose vectors this test checks.
const protocolDoc = "../docs/PROTOCOL.md"

type vector struct {
	name string
	b    []byte
	line int
}

// readVectors returns the `name: hex` lines of the ```vector blocks in the
// "## Test vectors" section of the protocol document. Blocks under other
// sections (handshake, key schedule) belong to other packages' tests.
func readVectors(t *testing.T) []vector {
	t.Helper()
	f, err := os.Open(protocolDoc)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var (
		out                []vector
		inSection, inBlock bool
		seen               = map[string]bool{}
	)
	sc := bufio.NewScanner(f)
	for ln := 1; sc.Scan(); ln++ {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "## "):
			inSection = line == "## Test vectors"
		case inSection && !inBlock && line == "```vector":
			inBlock = true
		case inBlock && line == "```":
			inBlock = false
		case inBlock:
			name, hx, ok := strings.Cut(line, ":")
			if !ok || name == "" {
				t.Fatalf("%s:%d: want `name: hex`, got %q", protocolDoc, ln, line)
			}
			b, err := hex.DecodeString(strings.ReplaceAll(strings.TrimSpace(hx), " ", ""))
			if err != nil {
				t.Fatalf("%s:%d: %s: %v", protocolDoc, ln, name, err)
			}
			if seen[name] {
				t.Fatalf("%s:%d: duplicate vector %s", protocolDoc, ln, name)
			}
			seen[name] = true
			out = append(out, vector{name, b, ln})
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if inBlock {
		t.Fatal("unterminated vector block")
	}
	return out
}

// headerVectors are the decoded values of the header.* vectors.
var headerVectors = map[string]Header{
	"transport":           {Kind: KindTransport, SessionID: 0x0102030405060708, PacketNumber: 0x0a0b0c0d0e0f},
	"transport-key-phase": {Kind: KindTransport, KeyPhase: true, SessionID: 1, PacketNumber: 1},
	"transport-max-pn":    {Kind: KindTransport, SessionID: 0xffffffffffffffff, PacketNumber: MaxPacketNumber},
	"handshake":           {Kind: KindHandshake, SessionID: 0xdeadbeefcafef00d},
}

// badVectors are the error classes of the bad-* vectors.
var badVectors = map[string]error{
	"bad-varint.empty":               io.ErrUnexpectedEOF,
	"bad-varint.truncated":           io.ErrUnexpectedEOF,
	"bad-varint.overlong-zero":       ErrMalformed,
	"bad-varint.overlong-one":        ErrMalformed,
	"bad-varint.overlong-10-byte":    ErrMalformed,
	"bad-varint.overflow-10th-byte":  ErrMalformed,
	"bad-varint.overflow-11-bytes":   ErrMalformed,
	"bad-header.version-0":           ErrMalformed,
	"bad-header.version-2":           ErrMalformed,
	"bad-header.reserved-bit":        ErrMalformed,
	"bad-header.kind-0":              ErrMalformed,
	"bad-header.kind-3":              ErrMalformed,
	"bad-header.handshake-key-phase": ErrMalformed,
	"bad-header.transport-truncated": io.ErrUnexpectedEOF,
	"bad-header.handshake-truncated": io.ErrUnexpectedEOF,

	"bad-frame.empty":                          io.ErrUnexpectedEOF,
	"bad-frame.handshake-frame":                ErrMalformed,
	"bad-frame.auth-frame":                     ErrMalformed,
	"bad-frame.unknown-type":                   ErrUnknownFrame,
	"bad-frame.data-reserved-flag":             ErrMalformed,
	"bad-frame.data-stream-id-too-large":       ErrTooLarge,
	"bad-frame.data-offset-plus-length":        ErrTooLarge,
	"bad-frame.data-length-beyond-packet":      io.ErrUnexpectedEOF,
	"bad-frame.data-overlong-stream-id":        ErrMalformed,
	"bad-frame.control-unknown-subtype":        ErrUnknownFrame,
	"bad-frame.ack-first-range-underflow":      ErrMalformed,
	"bad-frame.ack-gap-underflow":              ErrMalformed,
	"bad-frame.ack-range-underflow":            ErrMalformed,
	"bad-frame.ack-too-many-ranges":            ErrTooLarge,
	"bad-frame.close-reason-too-long":          ErrTooLarge,
	"bad-frame.max-streams-too-large":          ErrTooLarge,
	"bad-frame.stream-control-unknown-subtype": ErrUnknownFrame,
	"bad-frame.custom-too-large":               ErrTooLarge,
	"bad-frame.custom-truncated":               io.ErrUnexpectedEOF,
}

func TestProtocolVectors(t *testing.T) {
	vectors := readVectors(t)
	frames := map[string]*Frame{}
	for _, s := range samples() {
		frames[s.name] = &s.f
	}
	used := map[string]bool{}
	kinds := map[[2]uint8]bool{} // frame (type, sub) pairs with a vector
	for _, v := range vectors {
		t.Run(v.name, func(t *testing.T) {
			class, rest, _ := strings.Cut(v.name, ".")
			used[v.name] = true
			switch class {
			case "varint":
				want, err := strconv.ParseUint(rest, 10, 64)
				if err != nil {
					t.Fatalf("line %d: name must be varint.<decimal>: %v", v.line, err)
				}
				got, n, err := ParseVarint(v.b)
				if err != nil || got != want || n != len(v.b) {
					t.Fatalf("ParseVarint = %d, %d, %v; want %d, %d", got, n, err, want, len(v.b))
				}
				if enc := AppendVarint(nil, want); !bytes.Equal(enc, v.b) {
					t.Fatalf("AppendVarint(%d) = %x, document says %x", want, enc, v.b)
				}
			case "header":
				want, ok := headerVectors[rest]
				if !ok {
					t.Fatalf("line %d: no decoded value for header vector %q in vectors_test.go", v.line, rest)
				}
				used["header:"+rest] = true
				got, n, err := ParseHeader(v.b)
				if err != nil || got != want || n != len(v.b) {
					t.Fatalf("ParseHeader = %+v, %d, %v; want %+v, %d", got, n, err, want, len(v.b))
				}
				if enc := want.AppendTo(nil); !bytes.Equal(enc, v.b) {
					t.Fatalf("AppendTo = %x, document says %x", enc, v.b)
				}
			case "frame":
				want, ok := frames[rest]
				if !ok {
					t.Fatalf("line %d: frame vector %q names no sample in frames_test.go", v.line, rest)
				}
				var got Frame
				n, err := ParseFrame(v.b, &got)
				if err != nil || n != len(v.b) || !sameFrame(want, &got) {
					t.Fatalf("ParseFrame = %d, %v (same as sample: %v); want %d", n, err, sameFrame(want, &got), len(v.b))
				}
				if enc := want.AppendTo(nil); !bytes.Equal(enc, v.b) {
					t.Fatalf("AppendTo = %x, document says %x", enc, v.b)
				}
				kinds[[2]uint8{uint8(got.Type), got.Sub}] = true
			case "bad-varint", "bad-header", "bad-frame":
				want, ok := badVectors[v.name]
				if !ok {
					t.Fatalf("line %d: no error class for %s in vectors_test.go", v.line, v.name)
				}
				var err error
				switch class {
				case "bad-varint":
					_, _, err = ParseVarint(v.b)
				case "bad-header":
					_, _, err = ParseHeader(v.b)
				default:
					var f Frame
					_, err = ParseFrame(v.b, &f)
				}
				var pe *ParseError
				if !errors.Is(err, want) || !errors.As(err, &pe) {
					t.Fatalf("error = %v, want *ParseError wrapping %v", err, want)
				}
			default:
				t.Fatalf("line %d: unknown vector class %q", v.line, class)
			}
		})
	}
	for name := range badVectors {
		if !used[name] {
			t.Errorf("bad vector %s is missing from %s", name, protocolDoc)
		}
	}
	for name := range headerVectors {
		if !used["header:"+name] {
			t.Errorf("header vector %s is missing from %s", name, protocolDoc)
		}
	}
	// Every frame kind has at least one vector.
	for _, s := range samples() {
		if k := [2]uint8{uint8(s.f.Type), s.f.Sub}; !kinds[k] && !s.f.Type.IsCustom() {
			t.Errorf("no vector for frame %v subtype %d (e.g. sample %s)", s.f.Type, s.f.Sub, s.name)
		}
	}
	if !kinds[[2]uint8{0xc7, 0}] {
		t.Error("no vector for an application frame")
	}
}
