package main

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestHeaderRoundTrip(t *testing.T) {
	tests := []header{
		{Kind: kindFile, Digest: digestSHA256, Size: 0, Name: "empty.txt"},
		{Kind: kindFile, Digest: digestNone, Size: 1 << 40, Name: strings.Repeat("x", maxNameLen)},
		{Kind: kindFile, Digest: digestBLAKE3, Size: 3, Name: "abc"},
		{Kind: kindFile, Digest: digestXXH128, Size: 3, Name: "abc"},
		{Kind: kindPattern, Size: 256 * miB, Seed: 1},
		{Kind: kindMessages, Size: 100_000, Seed: 3},
		{Kind: kindEcho},
		{Kind: kindSink, Size: 12345},
	}
	for _, h := range tests {
		t.Run(h.Kind.String(), func(t *testing.T) {
			b, err := h.append(nil)
			if err != nil {
				t.Fatal(err)
			}
			if len(b) != headerFixed+len(h.Name) {
				t.Errorf("encoded %d bytes, want %d", len(b), headerFixed+len(h.Name))
			}
			got, err := parseHeader(b)
			if err != nil {
				t.Fatal(err)
			}
			if got != h {
				t.Errorf("round trip = %+v, want %+v", got, h)
			}
		})
	}
}

func TestHeaderAppendRejectsLongName(t *testing.T) {
	if _, err := (header{Kind: kindFile, Name: strings.Repeat("x", maxNameLen+1)}).append(nil); err == nil {
		t.Fatal("append accepted a name over maxNameLen")
	}
}

func TestParseHeaderErrors(t *testing.T) {
	good, _ := header{Kind: kindFile, Digest: digestSHA256, Size: 3, Name: "abc"}.append(nil)
	mut := func(f func(b []byte) []byte) []byte { return f(append([]byte(nil), good...)) }
	sink, _ := header{Kind: kindSink, Size: 3}.append(nil)
	tests := []struct {
		name string
		b    []byte
		want string
	}{
		{"empty", nil, "0 bytes"},
		{"short", good[:headerFixed-1], "20 bytes"},
		{"version 1", mut(func(b []byte) []byte { b[0] = 1; return b }), "version 1"},
		{"kind zero", mut(func(b []byte) []byte { b[1] = 0; return b }), "unknown kind 0"},
		{"kind retired", mut(func(b []byte) []byte { b[1] = byte(kindRetired); return b }), "unknown kind 2"},
		{"kind unknown", mut(func(b []byte) []byte { b[1] = 99; return b }), "unknown kind 99"},
		{"name truncated", good[:len(good)-1], "name length 3 with 2 bytes left"},
		{"trailing bytes", append(append([]byte(nil), good...), 'x'), "name length 3 with 4 bytes left"},
		{"name length over max", mut(func(b []byte) []byte { b[hdrNameLen], b[hdrNameLen+1] = 0xff, 0xff; return b }), "name length 65535"},
		{"file seed", mut(func(b []byte) []byte { b[hdrSeed+7] = 1; return b }), "non-zero seed"},
		{"file no name", mut(func(b []byte) []byte { b[hdrNameLen+1] = 0; return b[:headerFixed] }), "without a name"},
		{"unknown digest", mut(func(b []byte) []byte { b[hdrDigest] = 4; return b }), "unknown digest 4"},
		{"sink digest", func() []byte { b := append([]byte(nil), sink...); b[hdrDigest] = 1; return b }(), "kind sink with a digest"},
		{"sink name", append(func() []byte { b := append([]byte(nil), sink...); b[hdrNameLen+1] = 1; return b }(), 'x'), "with a name"},
		{"echo size", func() []byte { b, _ := header{Kind: kindEcho}.append(nil); b[hdrSize+7] = 1; return b }(), "non-zero size"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseHeader(tt.b)
			if !errors.Is(err, errBadHeader) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("parseHeader = %v, want errBadHeader mentioning %q", err, tt.want)
			}
		})
	}
}

func TestHeaderAppendRefuses(t *testing.T) {
	for _, h := range []header{
		{Kind: kindRetired, Size: 1},
		{Kind: kindFile, Size: 1},
		{Kind: kindSink, Size: 1, Name: "x"},
		{Kind: kindSink, Size: 1, Seed: 4},
		{Kind: kindEcho, Size: 1},
		{Kind: kindSink, Size: 1, Digest: digestSHA256},
		{Kind: kindFile, Size: 1, Name: "x", Digest: 9},
	} {
		if b, err := h.append(nil); !errors.Is(err, errBadHeader) || len(b) != 0 {
			t.Errorf("append(%+v) = %x, %v; want errBadHeader and nothing appended", h, b, err)
		}
	}
}

func TestReplyRoundTrip(t *testing.T) {
	tests := []reply{
		{OK: true, Size: 42, Sum: [32]byte{1, 2, 3}},
		{OK: false, Err: "unsafe file name: \"..\""},
		{OK: false, Err: strings.Repeat("e", maxReplyText)},
	}
	for _, r := range tests {
		got, err := parseReply(r.append(nil))
		if err != nil {
			t.Fatal(err)
		}
		if got != r {
			t.Errorf("round trip = %+v, want %+v", got, r)
		}
	}
	long := reply{Err: strings.Repeat("e", maxReplyText+10)}
	got, err := parseReply(long.append(nil))
	if err != nil || len(got.Err) != maxReplyText {
		t.Errorf("long error text: len %d, err %v; want truncated to %d", len(got.Err), err, maxReplyText)
	}
	// A cut never splits a character: 511 bytes of "e" then "é" (2 bytes).
	split := reply{Err: strings.Repeat("e", maxReplyText-1) + "é"}
	if got, err := parseReply(split.append(nil)); err != nil || got.Err != strings.Repeat("e", maxReplyText-1) {
		t.Errorf("cut inside a character: %q, %v", got.Err, err)
	}
	// An OK reply never carries text, even when the struct has some.
	if b := (reply{OK: true, Err: "x"}).append(nil); len(b) != replyFixed {
		t.Errorf("ok reply with text encoded %d bytes, want %d", len(b), replyFixed)
	}
	okText := append(reply{OK: true}.append(nil), 'x')
	for _, b := range [][]byte{nil, make([]byte, replyFixed-1), append([]byte{2}, make([]byte, replyFixed)...), make([]byte, maxReplySize+1), okText} {
		if _, err := parseReply(b); !errors.Is(err, errBadReply) {
			t.Errorf("parseReply(%d bytes) = %v, want errBadReply", len(b), err)
		}
	}
}

func TestSanitizeName(t *testing.T) {
	tests := []struct {
		name string
		ok   bool
	}{
		{"report.pdf", true},
		{"übersicht 2026.txt", true},
		{".hidden", true},
		{"a..b", true},
		{"", false},
		{".", false},
		{"..", false},
		{"../etc/passwd", false},
		{"dir/file", false},
		{"/abs", false},
		{`..\win`, false},
		{"nul\x00byte", false},
		{"new\nline", false},
		{"esc\x1b[2J", false},
		{"bad\xffutf8", false},
		{strings.Repeat("x", maxNameLen), true},
		{strings.Repeat("x", maxNameLen+1), false},
		{tempPrefix + "123", false},
	}
	for _, tt := range tests {
		got, err := sanitizeName(tt.name)
		if tt.ok {
			if err != nil || got != tt.name {
				t.Errorf("sanitizeName(%q) = %q, %v; want it unchanged", tt.name, got, err)
			}
			continue
		}
		if !errors.Is(err, errBadName) {
			t.Errorf("sanitizeName(%q) = %q, %v; want errBadName", tt.name, got, err)
		}
	}
}

// FuzzParseHeader checks that parseHeader never panics, that whatever it
// accepts re-encodes to the same bytes and passes check, and that every
// refusal wraps errBadHeader.
func FuzzParseHeader(f *testing.F) {
	for _, h := range []header{
		{Kind: kindFile, Digest: digestSHA256, Size: 3, Name: "abc"},
		{Kind: kindFile, Size: 3, Name: "abc"},
		{Kind: kindSink, Size: 1 << 30},
		{Kind: kindEcho},
		{Kind: kindMessages, Size: 100_000, Seed: 3},
		{Kind: kindPattern, Size: 256 * miB, Seed: 1},
	} {
		b, _ := h.append(nil)
		f.Add(b)
	}
	f.Add([]byte{2, 2, 0, 0, 0, 0, 0, 0, 0, 0, 7, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := parseHeader(b)
		if err != nil {
			if !errors.Is(err, errBadHeader) {
				t.Fatalf("error %v does not wrap errBadHeader", err)
			}
			return
		}
		if len(b) > maxHeaderSize || h.len() != len(b) {
			t.Fatalf("accepted %d bytes, len() %d", len(b), h.len())
		}
		out, err := h.append(nil)
		if err != nil || !bytes.Equal(out, b) {
			t.Fatalf("re-encoding %+v = %x, %v; want %x", h, out, err, b)
		}
	})
}

// FuzzParseReply checks that parseReply never panics, that every refusal
// wraps errBadReply, and that an accepted reply with valid UTF-8 text
// re-encodes to the same bytes.
func FuzzParseReply(f *testing.F) {
	f.Add(reply{OK: true, Size: 3, Sum: [32]byte{0xba, 0x78}}.append(nil))
	f.Add(reply{Err: "already exists"}.append(nil))
	f.Add(reply{Err: strings.Repeat("é", 300)}.append(nil))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := parseReply(b)
		if err != nil {
			if !errors.Is(err, errBadReply) {
				t.Fatalf("error %v does not wrap errBadReply", err)
			}
			return
		}
		if !utf8.Valid(b[replyFixed:]) {
			return // the text was repaired; it cannot re-encode the same
		}
		if out := r.append(nil); !bytes.Equal(out, b) {
			t.Fatalf("re-encoding %+v = %x; want %x", r, out, b)
		}
	})
}
