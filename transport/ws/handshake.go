package ws

import (
	"bufio"
	"bytes"
	"crypto/sha1"
	"encoding/base64"
	"strconv"
	"strings"
)

// acceptKey returns the Sec-WebSocket-Accept value for a Sec-WebSocket-Key
// (RFC 6455 §1.3, §4.2.2): base64(SHA-1(key ‖ GUID)). SHA-1 here is a
// fixed protocol transform, not a security primitive.
func acceptKey(key string) string {
	h := sha1.New()
	h.Write([]byte(key))
	h.Write([]byte(websocketGUID))
	return base64.StdEncoding.EncodeToString(h.Sum(nil))
}

// headerEnd returns the length of the HTTP head at the start of b (up to
// and including the blank line), or -1 if b does not hold a whole one.
func headerEnd(b []byte) int {
	i := bytes.Index(b, []byte("\r\n\r\n"))
	if i < 0 {
		return -1
	}
	return i + 4
}

// httpHead is a parsed request or response head: the start line and the
// header fields in order, names as sent.
type httpHead struct {
	start  string
	fields [][2]string
}

// parseHead splits an HTTP/1.1 head (RFC 9112 §2-§5) into its start line
// and fields. It refuses obsolete line folding, whitespace before the
// colon, empty names and bare LF line ends.
func parseHead(head string) (httpHead, bool) {
	head = strings.TrimSuffix(head, "\r\n\r\n")
	lines := strings.Split(head, "\r\n")
	var h httpHead
	h.start = lines[0]
	for _, line := range lines[1:] {
		name, value, ok := strings.Cut(line, ":")
		if !ok || name == "" || strings.ContainsAny(name, " \t\n") || strings.ContainsAny(value, "\r\n") {
			return httpHead{}, false
		}
		h.fields = append(h.fields, [2]string{name, strings.Trim(value, " \t")})
	}
	if strings.ContainsAny(h.start, "\r\n") {
		return httpHead{}, false
	}
	return h, true
}

// values returns every value of the named field, case-insensitively.
func (h *httpHead) values(name string) []string {
	var vs []string
	for _, f := range h.fields {
		if strings.EqualFold(f[0], name) {
			vs = append(vs, f[1])
		}
	}
	return vs
}

// hasToken reports whether any value of the named comma-separated field
// holds token, case-insensitively (RFC 9110 §5.6.1).
func (h *httpHead) hasToken(name, token string) bool {
	for _, v := range h.values(name) {
		for t := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.Trim(t, " \t"), token) {
				return true
			}
		}
	}
	return false
}

// upgradeRefusal is why a server refuses an upgrade request: the HTTP
// status and a short body.
type upgradeRefusal struct {
	status int
	reason string
}

// checkUpgrade validates a client's opening handshake (RFC 6455 §4.2.1)
// for the endpoint at path and returns its Sec-WebSocket-Key. The checks
// and their answers: request line (400), path (404), header syntax (400),
// Upgrade: websocket (426), Sec-WebSocket-Version: 13 (426), Connection:
// Upgrade (400), Host (400), a key that decodes to 16 bytes (400), and
// the "stt" subprotocol (400). Extensions offered are ignored (none are
// negotiated, §9.1); Origin is not checked — the packets inside are
// authenticated end to end, so a browser page gains nothing by relaying.
func checkUpgrade(head, path string) (string, *upgradeRefusal) {
	h, ok := parseHead(head)
	if !ok {
		return "", &upgradeRefusal{400, "malformed request head"}
	}
	method, rest, _ := strings.Cut(h.start, " ")
	target, version, _ := strings.Cut(rest, " ")
	if method != "GET" || target == "" || version != "HTTP/1.1" {
		return "", &upgradeRefusal{400, "expected GET <path> HTTP/1.1"}
	}
	if i := strings.Index(target, "://"); i >= 0 { // absolute-form, RFC 9112 §3.2.2
		target = target[i+3:]
		if j := strings.IndexByte(target, '/'); j >= 0 {
			target = target[j:]
		} else {
			target = "/"
		}
	}
	if p, _, _ := strings.Cut(target, "?"); p != path {
		return "", &upgradeRefusal{404, "no WebSocket endpoint at this path"}
	}
	if !h.hasToken("Upgrade", "websocket") {
		return "", &upgradeRefusal{426, "WebSocket upgrade required"}
	}
	if v := h.values("Sec-WebSocket-Version"); len(v) != 1 || v[0] != websocketVersion {
		return "", &upgradeRefusal{426, "unsupported Sec-WebSocket-Version; use 13"}
	}
	if !h.hasToken("Connection", "upgrade") {
		return "", &upgradeRefusal{400, "Connection: Upgrade required"}
	}
	if v := h.values("Host"); len(v) != 1 || v[0] == "" {
		return "", &upgradeRefusal{400, "exactly one Host header required"}
	}
	keys := h.values("Sec-WebSocket-Key")
	if len(keys) != 1 {
		return "", &upgradeRefusal{400, "exactly one Sec-WebSocket-Key required"}
	}
	if raw, err := base64.StdEncoding.DecodeString(keys[0]); err != nil || len(raw) != 16 {
		return "", &upgradeRefusal{400, "Sec-WebSocket-Key must be 16 bytes in base64"}
	}
	if !h.hasToken("Sec-WebSocket-Protocol", subprotocol) {
		return "", &upgradeRefusal{400, `subprotocol "stt" required`}
	}
	return keys[0], nil
}

// appendUpgradeResponse appends the server's 101 answer (RFC 6455 §4.2.2).
func appendUpgradeResponse(b []byte, key string) []byte {
	b = append(b, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: "...)
	b = append(b, acceptKey(key)...)
	b = append(b, "\r\nSec-WebSocket-Protocol: "+subprotocol+"\r\n\r\n"...)
	return b
}

// statusText covers the statuses the server sends.
func statusText(code int) string {
	switch code {
	case 400:
		return "Bad Request"
	case 404:
		return "Not Found"
	case 426:
		return "Upgrade Required"
	case 431:
		return "Request Header Fields Too Large"
	case 502:
		return "Bad Gateway"
	case 503:
		return "Service Unavailable"
	}
	return "Error"
}

// appendErrorResponse appends a plain-text HTTP error with a one-line body;
// the server closes the connection after it.
func appendErrorResponse(b []byte, status int, body string) []byte {
	b = append(b, "HTTP/1.1 "...)
	b = strconv.AppendInt(b, int64(status), 10)
	b = append(b, ' ')
	b = append(b, statusText(status)...)
	b = append(b, "\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n"...)
	if status == 426 {
		b = append(b, "Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n"...)
	}
	b = append(b, "Content-Length: "...)
	b = strconv.AppendInt(b, int64(len(body)+1), 10)
	b = append(b, "\r\n\r\n"...)
	b = append(b, body...)
	return append(b, '\n')
}

// appendUpgradeRequest appends the client's opening handshake (RFC 6455
// §4.1) for the request target (path and query) on host.
func appendUpgradeRequest(b []byte, host, target, key string) []byte {
	b = append(b, "GET "...)
	b = append(b, target...)
	b = append(b, " HTTP/1.1\r\nHost: "...)
	b = append(b, host...)
	b = append(b, "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: "...)
	b = append(b, key...)
	b = append(b, "\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: "+subprotocol+"\r\n\r\n"...)
	return b
}

// checkUpgradeResponse validates the server's answer to our key (RFC 6455
// §4.1, the client's checks 1-6).
func checkUpgradeResponse(head, key string) error {
	h, ok := parseHead(head)
	if !ok {
		return &HandshakeError{Reason: "malformed response head"}
	}
	version, rest, _ := strings.Cut(h.start, " ")
	code, text, _ := strings.Cut(rest, " ")
	status, err := strconv.Atoi(code)
	if !strings.HasPrefix(version, "HTTP/1.") || err != nil || len(code) != 3 {
		return &HandshakeError{Reason: "malformed status line"}
	}
	if status != 101 {
		if text == "" {
			text = "not 101 Switching Protocols"
		}
		return &HandshakeError{StatusCode: status, Reason: text}
	}
	switch {
	case !h.hasToken("Upgrade", "websocket"):
		return &HandshakeError{StatusCode: status, Reason: "response lacks Upgrade: websocket"}
	case !h.hasToken("Connection", "upgrade"):
		return &HandshakeError{StatusCode: status, Reason: "response lacks Connection: Upgrade"}
	}
	if v := h.values("Sec-WebSocket-Accept"); len(v) != 1 || v[0] != acceptKey(key) {
		return &HandshakeError{StatusCode: status, Reason: "wrong Sec-WebSocket-Accept"}
	}
	if v := h.values("Sec-WebSocket-Protocol"); len(v) != 1 || v[0] != subprotocol {
		return &HandshakeError{StatusCode: status, Reason: `server did not select subprotocol "stt"`}
	}
	if len(h.values("Sec-WebSocket-Extensions")) != 0 {
		return &HandshakeError{StatusCode: status, Reason: "server selected an extension we did not offer"}
	}
	return nil
}

// readHead reads an HTTP head of at most max bytes from br, leaving
// whatever follows it buffered.
func readHead(br *bufio.Reader, max int) (string, error) {
	var head []byte
	for {
		line, err := br.ReadSlice('\n')
		if len(head)+len(line) > max || err == bufio.ErrBufferFull {
			return "", &HandshakeError{Reason: "response head exceeds " + strconv.Itoa(max) + " bytes"}
		}
		head = append(head, line...)
		if err != nil {
			return "", err
		}
		if string(line) == "\r\n" {
			return string(head), nil
		}
	}
}
