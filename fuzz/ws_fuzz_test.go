package fuzz

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

	"github.com/stt-go/stt/transport/ws"
)

// wsLimit is the message limit the fuzz target parses with: the default.
const wsLimit = ws.DefaultMaxMessage

// wsFrameSeeds returns one encoded frame per kind and role, built with the
// package's own encoder, plus near-misses for every rejection.
func wsFrameSeeds() []wireSeed {
	mask := [4]byte{0x37, 0xfa, 0x21, 0x3d}
	frame := func(fin bool, op ws.Opcode, masked bool, payload []byte) []byte {
		b, err := ws.AppendFrame(nil, ws.Header{Fin: fin, Opcode: op, Masked: masked, Mask: mask}, payload)
		if err != nil {
			panic(err)
		}
		return b
	}
	closePayload := func(code ws.CloseCode, reason string) []byte {
		b, err := ws.AppendClosePayload(nil, code, reason)
		if err != nil {
			panic(err)
		}
		return b
	}
	dgram := bytes.Repeat([]byte{0xA5, 0x5A, 0x00}, 467) // 1401 bytes: a 16-bit length
	seeds := []wireSeed{
		{"client-binary", frame(true, ws.OpBinary, true, []byte("stt datagram"))},
		{"client-binary-1401", frame(true, ws.OpBinary, true, dgram)},
		{"client-binary-max", frame(true, ws.OpBinary, true, make([]byte, wsLimit))},
		{"client-empty", frame(true, ws.OpBinary, true, nil)},
		{"client-first-fragment", frame(false, ws.OpBinary, true, []byte("frag"))},
		{"client-continuation", frame(true, ws.OpContinuation, true, []byte("ment"))},
		{"client-ping", frame(true, ws.OpPing, true, []byte("are you there"))},
		{"client-pong-125", frame(true, ws.OpPong, true, bytes.Repeat([]byte{'p'}, 125))},
		{"client-close", frame(true, ws.OpClose, true, closePayload(ws.CloseNormal, "bye"))},
		{"client-close-empty", frame(true, ws.OpClose, true, nil)},
		{"server-binary", frame(true, ws.OpBinary, false, []byte("stt datagram"))},
		{"server-binary-1401", frame(true, ws.OpBinary, false, dgram)},
		{"server-ping", frame(true, ws.OpPing, false, nil)},
		{"server-close-1001", frame(true, ws.OpClose, false, closePayload(ws.CloseGoingAway, "server shutting down"))},
		{"two-frames", append(frame(true, ws.OpPing, true, []byte("a")), frame(true, ws.OpBinary, true, []byte("b"))...)},
		// Near-misses: each trips one check.
		{"bad-text", frame(true, ws.OpText, true, []byte("text"))},
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
		{"bad-one-byte-close", frame(true, ws.OpClose, true, []byte{0x03})},
		{"bad-close-1005", frame(true, ws.OpClose, false, []byte{0x03, 0xED})},
		{"bad-close-utf8", frame(true, ws.OpClose, false, []byte{0x03, 0xE8, 0xFF})},
		{"truncated-header", []byte{0x82, 0xFE, 0x05}},
		{"truncated-payload", frame(true, ws.OpBinary, true, []byte("stt datagram"))[:10]},
	}
	return seeds
}

// FuzzWSFrame feeds arbitrary bytes to the WebSocket frame parser in both
// roles. Beyond not panicking it checks: ParseHeader and ParseFrame agree;
// the input is never modified; an accepted header has the role's masking,
// Len() equal to its size and a payload within the limits (wsLimit for
// data, 125 for control frames); an accepted frame re-encodes, through
// AppendFrame of its unmasked payload, to exactly its input bytes; the
// other role refuses it with ErrMasking; every refusal is io.ErrUnexpectedEOF
// or a *ProtocolError with a sendable close code and a reason that fits a
// close frame; and an accepted close payload re-encodes to itself.
func FuzzWSFrame(f *testing.F) {
	for _, s := range wsFrameSeeds() {
		f.Add(s.b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		orig := bytes.Clone(b)
		for _, role := range []ws.Role{ws.RoleServer, ws.RoleClient} {
			h, n, herr := ws.ParseHeader(b, role, wsLimit)
			fh, payload, fn, ferr := ws.ParseFrame(b, role, wsLimit)
			if !bytes.Equal(b, orig) {
				t.Fatal("the parser modified its input")
			}
			if herr != nil {
				checkWSError(t, herr)
				if ferr != herr && !(errors.Is(ferr, herr) && errors.Is(herr, ferr)) {
					t.Fatalf("ParseHeader: %v, but ParseFrame: %v", herr, ferr)
				}
				continue
			}
			if n != h.Len() || n > ws.MaxHeaderLen || n > len(b) {
				t.Fatalf("header of %d bytes, Len() %d, input %d", n, h.Len(), len(b))
			}
			if h.Masked != (role == ws.RoleServer) {
				t.Fatalf("role %d accepted Masked=%v", role, h.Masked)
			}
			switch h.Opcode {
			case ws.OpBinary, ws.OpContinuation:
				if h.Length > wsLimit {
					t.Fatalf("data frame of %d bytes accepted over the %d limit", h.Length, wsLimit)
				}
			case ws.OpClose, ws.OpPing, ws.OpPong:
				if h.Length > ws.MaxControlPayload || !h.Fin {
					t.Fatalf("control frame %+v accepted", h)
				}
			default:
				t.Fatalf("opcode %v accepted", h.Opcode)
			}
			other := ws.RoleClient
			if role == ws.RoleClient {
				other = ws.RoleServer
			}
			if _, _, err := ws.ParseHeader(b, other, wsLimit); !errors.Is(err, ws.ErrMasking) {
				t.Fatalf("accepted as role %d, but role %d says %v (want ErrMasking)", role, other, err)
			}
			if ferr != nil {
				if ferr != io.ErrUnexpectedEOF || len(b) >= n+h.Length {
					t.Fatalf("header fine, frame of %d bytes in %d: %v", n+h.Length, len(b), ferr)
				}
				continue
			}
			if fh != h || len(payload) != h.Length || fn != n+h.Length || fn > len(b) {
				t.Fatalf("ParseFrame = %+v, %d bytes, n=%d; ParseHeader = %+v, n=%d", fh, len(payload), fn, h, n)
			}
			plain := bytes.Clone(payload)
			if h.Masked {
				ws.Mask(h.Mask, plain)
			}
			re, err := ws.AppendFrame(nil, h, plain)
			if err != nil || !bytes.Equal(re, b[:fn]) {
				t.Fatalf("re-encoding %+v: %v\n got % x\nwant % x", h, err, re, b[:fn])
			}
			if h.Opcode == ws.OpClose {
				checkWSClose(t, plain)
			}
		}
	})
}

// checkWSError checks a refusal: truncation, or a typed protocol error.
func checkWSError(t *testing.T, err error) {
	t.Helper()
	if err == io.ErrUnexpectedEOF {
		return
	}
	var pe *ws.ProtocolError
	if !errors.As(err, &pe) {
		t.Fatalf("error %v (%T) is neither io.ErrUnexpectedEOF nor *ws.ProtocolError", err, err)
	}
	if _, err := ws.AppendClosePayload(nil, pe.Code, pe.Reason); err != nil {
		t.Fatalf("%v cannot be sent in a close frame: %v", pe, err)
	}
	for _, s := range []error{ws.ErrFrameTooLarge, ws.ErrReservedBits, ws.ErrUnknownOpcode, ws.ErrTextFrame,
		ws.ErrMasking, ws.ErrControlFrame, ws.ErrLengthEncoding, ws.ErrFragmentation, ws.ErrBadClose} {
		if errors.Is(err, s) {
			return
		}
	}
	t.Fatalf("%v wraps no sentinel", err)
}

// checkWSClose checks ParseClose on an accepted close frame's payload.
func checkWSClose(t *testing.T, p []byte) {
	t.Helper()
	code, reason, err := ws.ParseClose(p)
	if err != nil {
		if !errors.Is(err, ws.ErrBadClose) {
			t.Fatalf("ParseClose(% x): %v", p, err)
		}
		checkWSError(t, err)
		return
	}
	if !utf8.Valid(reason) {
		t.Fatalf("close reason %q accepted", reason)
	}
	back, err := ws.AppendClosePayload(nil, code, string(reason))
	if err != nil || !bytes.Equal(back, p) {
		t.Fatalf("close payload % x re-encodes to % x (%v)", p, back, err)
	}
}

// TestWSFrameCorpus checks that the committed seed corpus of FuzzWSFrame
// holds the current encoding of every seed; with STT_UPDATE_CORPUS=1 it
// rewrites it instead.
func TestWSFrameCorpus(t *testing.T) {
	update := os.Getenv("STT_UPDATE_CORPUS") == "1"
	for _, s := range wsFrameSeeds() {
		path := filepath.Join("testdata", "fuzz", "FuzzWSFrame", "seed-"+s.name)
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
			t.Errorf("%s is missing or stale (%v); regenerate with STT_UPDATE_CORPUS=1 go test -run TestWSFrameCorpus ./fuzz/", path, err)
		}
		if err == nil && !strings.HasPrefix(string(got), "go test fuzz v1\n") {
			t.Errorf("%s is not in the go test fuzz v1 format", path)
		}
	}
}
