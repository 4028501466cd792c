package main

import (
	"errors"
	"strings"
	"testing"
)

func TestHeaderRoundTrip(t *testing.T) {
	tests := []header{
		{Kind: kindFile, Size: 0, Name: "empty.txt"},
		{Kind: kindFile, Size: 1 << 40, Name: strings.Repeat("x", maxNameLen)},
		{Kind: kindPattern, Size: 256 * miB, Seed: 1},
		{Kind: kindMessages, Size: 100_000, Seed: 3},
		{Kind: kindEcho},
		{Kind: kindSink, Size: 12345},
		{Kind: kindHash, Size: 7},
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
	good, _ := header{Kind: kindFile, Size: 3, Name: "abc"}.append(nil)
	mut := func(f func(b []byte) []byte) []byte { return f(append([]byte(nil), good...)) }
	tests := []struct {
		name string
		b    []byte
	}{
		{"empty", nil},
		{"short", good[:headerFixed-1]},
		{"version", mut(func(b []byte) []byte { b[0] = 9; return b })},
		{"kind zero", mut(func(b []byte) []byte { b[1] = 0; return b })},
		{"kind unknown", mut(func(b []byte) []byte { b[1] = 99; return b })},
		{"name truncated", good[:len(good)-1]},
		{"trailing bytes", append(append([]byte(nil), good...), 'x')},
		{"name length over max", mut(func(b []byte) []byte { b[18], b[19] = 0xff, 0xff; return b })},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := parseHeader(tt.b); !errors.Is(err, errBadHeader) {
				t.Errorf("parseHeader = %v, want errBadHeader", err)
			}
		})
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
	for _, b := range [][]byte{nil, make([]byte, replyFixed-1), append([]byte{2}, make([]byte, replyFixed)...), make([]byte, replyFixed+maxReplyText+1)} {
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
