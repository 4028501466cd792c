package ws

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"
)

// frameSeed is one named seed input of FuzzFrame; its corpus file is
// testdata/fuzz/FuzzFrame/seed-<name>.
type frameSeed struct {
	name string
	b    []byte
}

// fuzzLimit is the message limit the fuzz target parses with: the default.
const fuzzLimit = DefaultMaxMessage

// frameSeeds returns one encoded frame per kind and role, built with the
// package's own encoder, plus near-misses for every rejection.
func frameSeeds() []frameSeed {
	mask := [4]byte{0x37, 0xfa, 0x21, 0x3d}
	frame := func(fin bool, op opcode, masked bool, payload []byte) []byte {
		b, err := appendFrame(nil, frameHeader{Fin: fin, Opcode: op, Masked: masked, Mask: mask}, payload)
		if err != nil {
			panic(err)
		}
		return b
	}
	closePayload := func(code CloseCode, reason string) []byte {
		b, err := appendClosePayload(nil, code, reason)
		if err != nil {
			panic(err)
		}
		return b
	}
	dgram := bytes.Repeat([]byte{0xA5, 0x5A, 0x00}, 467) // 1401 bytes: a 16-bit length
	seeds := []frameSeed{
		{"client-binary", frame(true, opBinary, true, []byte("stt datagram"))},
		{"client-binary-1401", frame(true, opBinary, true, dgram)},
		{"client-binary-max", frame(true, opBinary, true, make([]byte, fuzzLimit))},
		{"client-empty", frame(true, opBinary, true, nil)},
		{"client-first-fragment", frame(false, opBinary, true, []byte("frag"))},
		{"client-continuation", frame(true, opContinuation, true, []byte("ment"))},
		{"client-ping", frame(true, opPing, true, []byte("are you there"))},
		{"client-pong-125", frame(true, opPong, true, bytes.Repeat([]byte{'p'}, 125))},
		{"client-close", frame(true, opClose, true, closePayload(CloseNormal, "bye"))},
		{"client-close-empty", frame(true, opClose, true, nil)},
		{"server-binary", frame(true, opBinary, false, []byte("stt datagram"))},
		{"server-binary-1401", frame(true, opBinary, false, dgram)},
		{"server-ping", frame(true, opPing, false, nil)},
		{"server-close-1001", frame(true, opClose, false, closePayload(CloseGoingAway, "server shutting down"))},
		{"two-frames", append(frame(true, opPing, true, []byte("a")), frame(true, opBinary, true, []byte("b"))...)},
		// Near-misses: each trips one check.
		{"bad-text", frame(true, opText, true, []byte("text"))},
		{"bad-rsv1", append([]byte{0xC2, 0x80}, mask[:]...)},
		{"bad-opcode-3", append([]byte{0x83, 0x80}, mask[:]...)},
		{"bad-opcode-B", []byte{0x8B, 0x00}},
		{"bad-long-ping", append([]byte{0x89, 0xFE, 0x00, 0x7E}, mask[:]...)},
		{"bad-fragmented-close", []byte{0x08, 0x00}},
		{"bad-len16-non-minimal", append([]byte{0x82, 0xFE, 0x00, 0x05}, mask[:]...)},
		{"bad-len64-non-minimal", append([]byte{0x82, 0xFF}, binary.BigEndian.AppendUint64(nil, 300)...)},
		{"bad-len64-msb", append([]byte{0x82, 0x7F}, binary.BigEndian.AppendUint64(nil, 1<<63)...)},
		{"bad-too-large", append([]byte{0x82, 0xFF}, append(binary.BigEndian.AppendUint64(nil, 1<<40), mask[:]...)...)},
		{"bad-just-over", append([]byte{0x82, 0xFE, 0x08, 0x01}, mask[:]...)},
		{"bad-one-byte-close", frame(true, opClose, true, []byte{0x03})},
		{"bad-close-1005", frame(true, opClose, false, []byte{0x03, 0xED})},
		{"bad-close-utf8", frame(true, opClose, false, []byte{0x03, 0xE8, 0xFF})},
		{"truncated-header", []byte{0x82, 0xFE, 0x05}},
		{"truncated-payload", frame(true, opBinary, true, []byte("stt datagram"))[:10]},
	}
	return seeds
}

// FuzzFrame feeds arbitrary bytes to the WebSocket frame parser in both
// roles. Beyond not panicking it checks: parseHeader and parseFrame agree;
// the input is never modified; an accepted header has the role's masking,
// Len() equal to its size and a payload within the limits (fuzzLimit for
// data, 125 for control frames); an accepted frame re-encodes, through
// appendFrame of its unmasked payload, to exactly its input bytes; the
// other role refuses it with errMasking; every refusal is io.ErrUnexpectedEOF
// or a *ProtocolError with a sendable close code and a reason that fits a
// close frame; and an accepted close payload re-encodes to itself.
func FuzzFrame(f *testing.F) {
	for _, s := range frameSeeds() {
		f.Add(s.b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		orig := bytes.Clone(b)
		for _, as := range []role{roleServer, roleClient} {
			h, n, herr := parseHeader(b, as, fuzzLimit)
			fh, payload, fn, ferr := parseFrame(b, as, fuzzLimit)
			if !bytes.Equal(b, orig) {
				t.Fatal("the parser modified its input")
			}
			if herr != nil {
				checkFrameError(t, herr)
				if ferr != herr && !(errors.Is(ferr, herr) && errors.Is(herr, ferr)) {
					t.Fatalf("parseHeader: %v, but parseFrame: %v", herr, ferr)
				}
				continue
			}
			if n != h.Len() || n > maxHeaderLen || n > len(b) {
				t.Fatalf("header of %d bytes, Len() %d, input %d", n, h.Len(), len(b))
			}
			if h.Masked != (as == roleServer) {
				t.Fatalf("role %d accepted Masked=%v", as, h.Masked)
			}
			switch h.Opcode {
			case opBinary, opContinuation:
				if h.Length > fuzzLimit {
					t.Fatalf("data frame of %d bytes accepted over the %d limit", h.Length, fuzzLimit)
				}
			case opClose, opPing, opPong:
				if h.Length > maxControlPayload || !h.Fin {
					t.Fatalf("control frame %+v accepted", h)
				}
			default:
				t.Fatalf("opcode %v accepted", h.Opcode)
			}
			other := roleClient
			if as == roleClient {
				other = roleServer
			}
			if _, _, err := parseHeader(b, other, fuzzLimit); !errors.Is(err, errMasking) {
				t.Fatalf("accepted as role %d, but role %d says %v (want errMasking)", as, other, err)
			}
			if ferr != nil {
				if ferr != io.ErrUnexpectedEOF || len(b) >= n+h.Length {
					t.Fatalf("header fine, frame of %d bytes in %d: %v", n+h.Length, len(b), ferr)
				}
				continue
			}
			if fh != h || len(payload) != h.Length || fn != n+h.Length || fn > len(b) {
				t.Fatalf("parseFrame = %+v, %d bytes, n=%d; parseHeader = %+v, n=%d", fh, len(payload), fn, h, n)
			}
			plain := bytes.Clone(payload)
			if h.Masked {
				applyMask(h.Mask, plain)
			}
			re, err := appendFrame(nil, h, plain)
			if err != nil || !bytes.Equal(re, b[:fn]) {
				t.Fatalf("re-encoding %+v: %v\n got % x\nwant % x", h, err, re, b[:fn])
			}
			if h.Opcode == opClose {
				checkClosePayload(t, plain)
			}
		}
	})
}

// checkFrameError checks a refusal: truncation, or a typed protocol error.
func checkFrameError(t *testing.T, err error) {
	t.Helper()
	if err == io.ErrUnexpectedEOF {
		return
	}
	var pe *ProtocolError
	if !errors.As(err, &pe) {
		t.Fatalf("error %v (%T) is neither io.ErrUnexpectedEOF nor *ProtocolError", err, err)
	}
	if _, err := appendClosePayload(nil, pe.Code, pe.Reason); err != nil {
		t.Fatalf("%v cannot be sent in a close frame: %v", pe, err)
	}
	for _, s := range []error{errFrameTooLarge, errReservedBits, errUnknownOpcode, errTextFrame,
		errMasking, errControlFrame, errLengthEncoding, errFragmentation, errBadClose} {
		if errors.Is(err, s) {
			return
		}
	}
	t.Fatalf("%v wraps no sentinel", err)
}

// checkClosePayload checks parseClose on an accepted close frame's payload.
func checkClosePayload(t *testing.T, p []byte) {
	t.Helper()
	code, reason, err := parseClose(p)
	if err != nil {
		if !errors.Is(err, errBadClose) {
			t.Fatalf("parseClose(% x): %v", p, err)
		}
		checkFrameError(t, err)
		return
	}
	if !utf8.Valid(reason) {
		t.Fatalf("close reason %q accepted", reason)
	}
	back, err := appendClosePayload(nil, code, string(reason))
	if err != nil || !bytes.Equal(back, p) {
		t.Fatalf("close payload % x re-encodes to % x (%v)", p, back, err)
	}
}

// TestFrameCorpus checks that the committed seed corpus of FuzzFrame
// holds the current encoding of every seed; with STT_UPDATE_CORPUS=1 it
// rewrites it instead.
func TestFrameCorpus(t *testing.T) {
	update := os.Getenv("STT_UPDATE_CORPUS") == "1"
	for _, s := range frameSeeds() {
		path := filepath.Join("testdata", "fuzz", "FuzzFrame", "seed-"+s.name)
		want := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", s.b)
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
			t.Errorf("%s is missing or stale (%v); regenerate with STT_UPDATE_CORPUS=1 go test -run TestFrameCorpus ./transport/ws/", path, err)
		}
		if err == nil && !strings.HasPrefix(string(got), "go test fuzz v1\n") {
			t.Errorf("%s is not in the go test fuzz v1 format", path)
		}
	}
}
