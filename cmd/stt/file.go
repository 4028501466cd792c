package main

import (
	"encoding/binary"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"unicode"
	"unicode/utf8"
)

// The CLI's transfer protocol rides on one stream per transfer:
//
//  1. the sender sends a header message (SendMessage) describing the
//     transfer;
//  2. then the body on the same stream: raw bytes (kinds file, hash, sink,
//     pattern) or messages (kinds echo, messages), then CloseWrite;
//  3. the receiver answers with one reply message and closes its side.
//
// Header layout (big-endian):
//
//	offset size field
//	0      1    version (protoVersion)
//	1      1    kind
//	2      8    size: body bytes, or message count for kindMessages
//	10     8    seed of the deterministic generator (kindPattern, kindMessages)
//	18     2    name length n (≤ maxNameLen)
//	20     n    name (UTF-8; kindFile only)
//
// Reply layout:
//
//	offset size field
//	0      1    status (0 ok, 1 error)
//	1      8    bytes (or messages) received
//	9      32   SHA3-256 of the body (zero when the kind does not hash)
//	41     ...  error text (status 1), at most maxReplyText bytes
const (
	protoVersion  = 1
	headerFixed   = 20
	replyFixed    = 41
	maxNameLen    = 255 // the usual file-name limit of Linux file systems
	maxReplyText  = 512 // enough for one error line
	maxHeaderSize = headerFixed + maxNameLen
)

// kind says what a transfer is and how the receiver verifies it.
type kind byte

const (
	kindFile     kind = 1 // store the body as a file in the out directory, reply SHA3-256
	kindHash     kind = 2 // discard the body, reply its SHA3-256
	kindSink     kind = 3 // discard the body, reply its length (throughput benchmarks)
	kindEcho     kind = 4 // echo every message back until EOF (RTT)
	kindMessages kind = 5 // size messages of messageLen bytes from the generator, each checked
	kindPattern  kind = 6 // body must equal the generator's stream; every byte checked
)

func (k kind) String() string {
	switch k {
	case kindFile:
		return "file"
	case kindHash:
		return "hash"
	case kindSink:
		return "sink"
	case kindEcho:
		return "echo"
	case kindMessages:
		return "messages"
	case kindPattern:
		return "pattern"
	}
	return fmt.Sprintf("kind(%d)", byte(k))
}

// header opens every transfer.
type header struct {
	Kind kind
	Size uint64
	Seed uint64
	Name string
}

var errBadHeader = errors.New("malformed transfer header")

func (h header) append(b []byte) ([]byte, error) {
	if len(h.Name) > maxNameLen {
		return b, fmt.Errorf("file name longer than %d bytes", maxNameLen)
	}
	b = append(b, protoVersion, byte(h.Kind))
	b = binary.BigEndian.AppendUint64(b, h.Size)
	b = binary.BigEndian.AppendUint64(b, h.Seed)
	b = binary.BigEndian.AppendUint16(b, uint16(len(h.Name)))
	return append(b, h.Name...), nil
}

func parseHeader(b []byte) (header, error) {
	if len(b) < headerFixed {
		return header{}, fmt.Errorf("%w: %d bytes, need %d", errBadHeader, len(b), headerFixed)
	}
	if b[0] != protoVersion {
		return header{}, fmt.Errorf("%w: version %d, want %d", errBadHeader, b[0], protoVersion)
	}
	h := header{
		Kind: kind(b[1]),
		Size: binary.BigEndian.Uint64(b[2:]),
		Seed: binary.BigEndian.Uint64(b[10:]),
	}
	if h.Kind < kindFile || h.Kind > kindPattern {
		return header{}, fmt.Errorf("%w: unknown kind %d", errBadHeader, b[1])
	}
	n := int(binary.BigEndian.Uint16(b[18:]))
	if n > maxNameLen || len(b) != headerFixed+n {
		return header{}, fmt.Errorf("%w: name length %d with %d bytes left", errBadHeader, n, len(b)-headerFixed)
	}
	h.Name = string(b[headerFixed:])
	return h, nil
}

// reply closes every transfer that is not an echo.
type reply struct {
	OK   bool
	Size uint64
	Sum  [32]byte
	Err  string
}

func (r reply) append(b []byte) []byte {
	status := byte(1)
	if r.OK {
		status = 0
	}
	b = append(b, status)
	b = binary.BigEndian.AppendUint64(b, r.Size)
	b = append(b, r.Sum[:]...)
	msg := r.Err
	if len(msg) > maxReplyText {
		msg = msg[:maxReplyText]
	}
	return append(b, msg...)
}

var errBadReply = errors.New("malformed reply")

func parseReply(b []byte) (reply, error) {
	if len(b) < replyFixed || len(b) > replyFixed+maxReplyText || b[0] > 1 {
		return reply{}, fmt.Errorf("%w (%d bytes)", errBadReply, len(b))
	}
	r := reply{OK: b[0] == 0, Size: binary.BigEndian.Uint64(b[1:])}
	copy(r.Sum[:], b[9:41])
	r.Err = strings.ToValidUTF8(string(b[41:]), "?")
	return r, nil
}

// errBadName is returned by sanitizeName.
var errBadName = errors.New("unsafe file name")

// sanitizeName checks a file name received from a peer: it must be one
// path element — not empty, not "." or "..", no '/' or '\\', no NUL or
// other control characters, valid UTF-8, at most maxNameLen bytes, and
// not a name of our own temporary files. It never rewrites a name into
// another one: an unsafe name is refused.
func sanitizeName(name string) (string, error) {
	switch {
	case name == "":
		return "", fmt.Errorf("%w: empty", errBadName)
	case name == "." || name == "..":
		return "", fmt.Errorf("%w: %q", errBadName, name)
	case len(name) > maxNameLen:
		return "", fmt.Errorf("%w: longer than %d bytes", errBadName, maxNameLen)
	case !utf8.ValidString(name):
		return "", fmt.Errorf("%w: not valid UTF-8", errBadName)
	case strings.ContainsAny(name, `/\`):
		return "", fmt.Errorf("%w: %q contains a path separator", errBadName, name)
	case strings.HasPrefix(name, tempPrefix):
		return "", fmt.Errorf("%w: %q uses the reserved prefix %q", errBadName, name, tempPrefix)
	}
	for _, r := range name {
		if r == 0 || unicode.IsControl(r) {
			return "", fmt.Errorf("%w: %q contains a control character", errBadName, name)
		}
	}
	if filepath.Base(name) != name || filepath.IsAbs(name) {
		return "", fmt.Errorf("%w: %q is not a plain file name", errBadName, name)
	}
	return name, nil
}

// tempPrefix starts the names of partial files in the out directory; they
// are renamed into place only when complete and verified.
const tempPrefix = ".stt-part-"
