package ws

import (
	"errors"
	"net"
	"strings"
	"testing"
)

const rfcKey = "dGhlIHNhbXBsZSBub25jZQ==" // RFC 6455 §1.3

func TestCheckUpgrade(t *testing.T) {
	good := []string{
		"GET /stt HTTP/1.1",
		"Host: example.com:8080",
		"Upgrade: websocket",
		"Connection: keep-alive, Upgrade",
		"Sec-WebSocket-Key: " + rfcKey,
		"Sec-WebSocket-Version: 13",
		"Sec-WebSocket-Protocol: chat, stt",
	}
	// edit replaces (or with "" removes) the line starting with prefix;
	// a prefix not found appends the replacement.
	edit := func(prefix, repl string) string {
		var out []string
		found := false
		for _, l := range good {
			if strings.HasPrefix(l, prefix) {
				found = true
				if repl != "" {
					out = append(out, repl)
				}
				continue
			}
			out = append(out, l)
		}
		if !found {
			out = append(out, repl)
		}
		return strings.Join(out, "\r\n") + "\r\n\r\n"
	}
	for _, tc := range []struct {
		name   string
		req    string
		status int
	}{
		{"ok", edit("Host:", "Host: example.com:8080"), 0},
		{"ok-query", edit("GET", "GET /stt?token=1 HTTP/1.1"), 0},
		{"ok-absolute-form", edit("GET", "GET http://example.com/stt HTTP/1.1"), 0},
		{"ok-mixed-case", edit("Upgrade:", "upgrade: WebSocket"), 0},
		{"ok-repeated-protocol", edit("Sec-WebSocket-Protocol:", "Sec-WebSocket-Protocol: chat\r\nSec-WebSocket-Protocol: stt"), 0},
		{"wrong-path", edit("GET", "GET /other HTTP/1.1"), 404},
		{"path-prefix", edit("GET", "GET /stt/x HTTP/1.1"), 404},
		{"post", edit("GET", "POST /stt HTTP/1.1"), 400},
		{"http-1.0", edit("GET", "GET /stt HTTP/1.0"), 400},
		{"no-upgrade", edit("Upgrade:", ""), 426},
		{"upgrade-h2c", edit("Upgrade:", "Upgrade: h2c"), 426},
		{"version-8", edit("Sec-WebSocket-Version:", "Sec-WebSocket-Version: 8"), 426},
		{"no-version", edit("Sec-WebSocket-Version:", ""), 426},
		{"no-connection", edit("Connection:", ""), 400},
		{"no-host", edit("Host:", ""), 400},
		{"two-hosts", edit("Host:", "Host: a\r\nHost: b"), 400},
		{"no-key", edit("Sec-WebSocket-Key:", ""), 400},
		{"short-key", edit("Sec-WebSocket-Key:", "Sec-WebSocket-Key: AAAA"), 400},
		{"bad-base64-key", edit("Sec-WebSocket-Key:", "Sec-WebSocket-Key: !!!!!!!!!!!!!!!!!!!!!!!!"), 400},
		{"two-keys", edit("Sec-WebSocket-Key:", "Sec-WebSocket-Key: "+rfcKey+"\r\nSec-WebSocket-Key: "+rfcKey), 400},
		{"no-protocol", edit("Sec-WebSocket-Protocol:", ""), 400},
		{"other-protocol", edit("Sec-WebSocket-Protocol:", "Sec-WebSocket-Protocol: chat, sttx"), 400},
		{"obs-fold", edit("Host:", "Host: a\r\n b"), 400},
		{"space-before-colon", edit("Host:", "Host : a"), 400},
		{"bare-lf", edit("Host:", "Host: a\nX: b"), 400},
		{"no-colon", edit("Host:", "Host a"), 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			key, rf := checkUpgrade(tc.req, "/stt")
			switch {
			case tc.status == 0 && rf != nil:
				t.Fatalf("refused with %d %s", rf.status, rf.reason)
			case tc.status == 0 && key != rfcKey:
				t.Fatalf("key %q", key)
			case tc.status != 0 && (rf == nil || rf.status != tc.status):
				t.Fatalf("got %+v, want status %d", rf, tc.status)
			}
		})
	}
}

func TestUpgradeResponse(t *testing.T) {
	resp := string(appendUpgradeResponse(nil, rfcKey))
	if !strings.Contains(resp, "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n") {
		t.Fatalf("response lacks the RFC 6455 §1.3 accept value:\n%s", resp)
	}
	if err := checkUpgradeResponse(resp, rfcKey); err != nil {
		t.Fatalf("our own response does not pass the client's checks: %v", err)
	}
	replace := func(old, repl string) string { return strings.Replace(resp, old, repl, 1) }
	for _, tc := range []struct {
		name   string
		resp   string
		status int
	}{
		{"wrong-accept", replace("s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", "AAAAAAAAAAAAAAAAAAAAAAAAAAA="), 101},
		{"no-protocol", replace("Sec-WebSocket-Protocol: stt\r\n", ""), 101},
		{"other-protocol", replace("Sec-WebSocket-Protocol: stt", "Sec-WebSocket-Protocol: chat"), 101},
		{"extension", replace("\r\n\r\n", "\r\nSec-WebSocket-Extensions: permessage-deflate\r\n\r\n"), 101},
		{"no-upgrade", replace("Upgrade: websocket\r\n", ""), 101},
		{"no-connection", replace("Connection: Upgrade\r\n", ""), 101},
		{"not-found", errorHead(404), 404},
		{"upgrade-required", errorHead(426), 426},
		{"garbage", "hello\r\n\r\n", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := checkUpgradeResponse(tc.resp, rfcKey)
			var he *HandshakeError
			if !errors.As(err, &he) || he.StatusCode != tc.status {
				t.Fatalf("checkUpgradeResponse = %v, want *HandshakeError with status %d", err, tc.status)
			}
		})
	}
}

func TestAssembler(t *testing.T) {
	bin := func(fin bool) *frameHeader { return &frameHeader{Fin: fin, Opcode: opBinary} }
	cont := func(fin bool) *frameHeader { return &frameHeader{Fin: fin, Opcode: opContinuation} }
	type step struct {
		h    *frameHeader
		p    string
		msg  string // "" with ok false: nothing yet
		ok   bool
		want error
	}
	for _, tc := range []struct {
		name  string
		steps []step
	}{
		{"single", []step{{bin(true), "abc", "abc", true, nil}, {bin(true), "", "", true, nil}}},
		{"three-fragments", []step{{bin(false), "ab", "", false, nil}, {cont(false), "cd", "", false, nil}, {cont(true), "e", "abcde", true, nil}, {bin(true), "x", "x", true, nil}}},
		{"continuation-first", []step{{cont(true), "a", "", false, errFragmentation}}},
		{"new-message-inside", []step{{bin(false), "a", "", false, nil}, {bin(true), "b", "", false, errFragmentation}}},
		{"too-large", []step{{bin(false), "abcd", "", false, nil}, {cont(false), "efgh", "", false, nil}, {cont(true), "i", "", false, errFrameTooLarge}}},
		{"exactly-max", []step{{bin(false), "abcd", "", false, nil}, {cont(true), "efgh", "abcdefgh", true, nil}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := assembler{max: 8}
			for i, s := range tc.steps {
				msg, ok, err := a.add(s.h, []byte(s.p))
				if s.want != nil {
					if !errors.Is(err, s.want) {
						t.Fatalf("step %d: %v, want %v", i, err, s.want)
					}
					return
				}
				if err != nil || ok != s.ok || string(msg) != s.msg {
					t.Fatalf("step %d: %q %v %v, want %q %v", i, msg, ok, err, s.msg, s.ok)
				}
			}
		})
	}
}

func TestErrorsMatchNetErrClosed(t *testing.T) {
	for _, err := range []error{ErrClosed, ErrIdleTimeout, ErrHandshakeTimeout, ErrCloseTimeout, &CloseError{Code: CloseNormal}} {
		if !errors.Is(err, net.ErrClosed) {
			t.Errorf("%v does not match net.ErrClosed", err)
		}
	}
	for _, err := range []error{ErrIdleTimeout, ErrHandshakeTimeout, ErrCloseTimeout} {
		if te, ok := err.(interface{ Timeout() bool }); !ok || !te.Timeout() {
			t.Errorf("%v is not a timeout", err)
		}
	}
	if errors.Is(&ProtocolError{Code: closeProtocolError, err: errMasking}, net.ErrClosed) {
		t.Fatal("a protocol error claims to be a close")
	}
}

// errorHead is the head (without the body) of the server's error answer.
func errorHead(status int) string {
	r := appendErrorResponse(nil, status, "no")
	return string(r[:headerEnd(r)])
}
