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

// The CLI's file-transfer protocol, version 2 (docs/FILE-TRANSFER.md is
// its specification, with vectors file_test.go checks), rides on one
// stream per transfer:
//
//  1. the sender sends a header message (SendMessage) describing the
//     transfer;
//  2. then the body on the same stream: raw bytes (kinds file, sink,
//     pattern) or messages (kinds echo, messages), then CloseWrite;
//  3. the receiver answers with one reply message (no reply for echo) and
//     closes its side; a receiver that refuses a transfer sends a reply with
//     status 1 and resets the stream (codeRefused).
//
// Header layout (big-endian):
//
//	offset size field
//	0      1    version (protoVersion = 2)
//	1      1    kind
//	2      1    digest the receiver computes over the body: digestNone,
//	            digestSHA256, digestBLAKE3 or digestXXH128 for kindFile; must be
//	            digestNone for the others
//	3      8    size: body bytes, or message count for kindMessages; 0 for kindEcho
//	11     8    seed of the deterministic generator for kindPattern and
//	            kindMessages; must be 0 for the other kinds
//	19     2    name length n: 1 to maxNameLen for kindFile, 0 otherwise
//	21     n    name (UTF-8; kindFile only)
//
// Reply layout:
//
//	offset size field
//	0      1    status (0 ok, 1 error)
//	1      8    bytes (or messages) received
//	9      32   the body's digest when the header asked for one, else zero
//	41     ...  error text (status 1 only; empty with status 0), at most
//	            maxReplyText bytes
const (
	protoVersion  = 2
	headerFixed   = 21
	replyFixed    = 41
	maxNameLen    = 255 // the usual file-name limit of Linux file systems
	maxReplyText  = 512 // enough for one error line
	maxHeaderSize = headerFixed + maxNameLen
	maxReplySize  = replyFixed + maxReplyText
)

// Offsets of the header's fields.
const (
	hdrVersion = 0
	hdrKind    = 1
	hdrDigest  = 2
	hdrSize    = 3
	hdrSeed    = 11
	hdrNameLen = 19
)

// digest names the digest a file transfer's receiver computes and returns.
type digest byte

const (
	// digestNone: no whole-file digest; the transport's AEAD has
	// authenticated every byte on the way (stt send --digest none).
	digestNone digest = 0
	// digestSHA256: SHA-256 (FIPS 180-4) of the body, compared by the
	// sender with its own (stt send --digest sha256).
	digestSHA256 digest = 1
	// digestBLAKE3: BLAKE3 of the body, its default 32-byte output
	// (stt send --digest blake3).
	digestBLAKE3 digest = 2
	// digestXXH128: XXH3's 128-bit hash of the body (XXH128), the
	// default of stt send: a check against accidental corruption at a
	// tenth of BLAKE3's cost, where the transport's AEAD is what
	// authenticates (digest.go).
	digestXXH128 digest = 3
)

// String returns the name stt send's --digest flag and the result lines
// use: "none", "sha256", "blake3" or "xxh128".
func (d digest) String() string {
	switch d {
	case digestNone:
		return "none"
	case digestSHA256:
		return "sha256"
	case digestBLAKE3:
		return "blake3"
	case digestXXH128:
		return "xxh128"
	}
	return fmt.Sprintf("digest(%d)", byte(d))
}

// known reports whether d is a digest of protocol version 2.
func (d digest) known() bool {
	return d <= digestXXH128
}

// kind says what a transfer is and how the receiver verifies it.
type kind byte

const (
	kindFile kind = 1 // store the body as a file in the out directory, reply its digest
	// kindRetired (2) was protocol 1's "hash" kind: the body was hashed
	// and dropped, and a receiver answered OK without storing anything,
	// which a sender that meant to store a file could not tell from
	// success. Version 2 refuses it; the number stays unassigned.
	kindRetired  kind = 2
	kindSink     kind = 3 // discard the body, reply its length (throughput benchmarks)
	kindEcho     kind = 4 // echo every message back until EOF (RTT)
	kindMessages kind = 5 // size messages of messageLen bytes from the generator, each checked
	kindPattern  kind = 6 // body must equal the generator's stream; every byte checked
)

func (k kind) String() string {
	switch k {
	case kindFile:
		return "file"
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

// known reports whether k is a kind of protocol version 2.
func (k kind) known() bool {
	switch k {
	case kindFile, kindSink, kindEcho, kindMessages, kindPattern:
		return true
	}
	return false
}

// seeded reports whether the header's seed field means something for k.
func (k kind) seeded() bool { return k == kindPattern || k == kindMessages }

// header opens every transfer.
type header struct {
	Kind   kind
	Digest digest
	Size   uint64
	Seed   uint64
	Name   string
}

// errBadHeader is wrapped by every parseHeader and header.append error.
var errBadHeader = errors.New("malformed transfer header")

// check reports why h cannot be sent or accepted, as an error wrapping
// errBadHeader, or nil.
func (h header) check() error {
	switch {
	case !h.Kind.known():
		return fmt.Errorf("%w: unknown kind %d", errBadHeader, byte(h.Kind))
	case h.Kind == kindFile && h.Name == "":
		return fmt.Errorf("%w: kind file without a name", errBadHeader)
	case h.Kind != kindFile && h.Name != "":
		return fmt.Errorf("%w: kind %s with a name", errBadHeader, h.Kind)
	case len(h.Name) > maxNameLen:
		return fmt.Errorf("%w: name of %d bytes, at most %d", errBadHeader, len(h.Name), maxNameLen)
	case !h.Digest.known():
		return fmt.Errorf("%w: unknown digest %d", errBadHeader, byte(h.Digest))
	case h.Kind != kindFile && h.Digest != digestNone:
		return fmt.Errorf("%w: kind %s with a digest", errBadHeader, h.Kind)
	case !h.Kind.seeded() && h.Seed != 0:
		return fmt.Errorf("%w: kind %s with a non-zero seed", errBadHeader, h.Kind)
	case h.Kind == kindEcho && h.Size != 0:
		return fmt.Errorf("%w: kind echo with a non-zero size", errBadHeader)
	}
	return nil
}

// len returns the encoded size of h.
func (h header) len() int { return headerFixed + len(h.Name) }

// append appends h's encoding to b; it refuses a header the receiver
// would refuse (check).
func (h header) append(b []byte) ([]byte, error) {
	if err := h.check(); err != nil {
		return b, err
	}
	b = append(b, protoVersion, byte(h.Kind), byte(h.Digest))
	b = binary.BigEndian.AppendUint64(b, h.Size)
	b = binary.BigEndian.AppendUint64(b, h.Seed)
	b = binary.BigEndian.AppendUint16(b, uint16(len(h.Name)))
	return append(b, h.Name...), nil
}

// parseHeader decodes a whole header message. Errors wrap errBadHeader
// and name the field.
func parseHeader(b []byte) (header, error) {
	if len(b) < headerFixed {
		return header{}, fmt.Errorf("%w: %d bytes, need at least %d", errBadHeader, len(b), headerFixed)
	}
	if b[hdrVersion] != protoVersion {
		return header{}, fmt.Errorf("%w: version %d, this node speaks %d", errBadHeader, b[hdrVersion], protoVersion)
	}
	n := int(binary.BigEndian.Uint16(b[hdrNameLen:]))
	if n > maxNameLen || len(b) != headerFixed+n {
		return header{}, fmt.Errorf("%w: name length %d with %d bytes left", errBadHeader, n, len(b)-headerFixed)
	}
	h := header{
		Kind:   kind(b[hdrKind]),
		Digest: digest(b[hdrDigest]),
		Size:   binary.BigEndian.Uint64(b[hdrSize:]),
		Seed:   binary.BigEndian.Uint64(b[hdrSeed:]),
		Name:   string(b[headerFixed:]),
	}
	if err := h.check(); err != nil {
		return header{}, err
	}
	return h, nil
}

// reply closes every transfer that is not an echo.
type reply struct {
	OK   bool
	Size uint64
	Sum  [32]byte
	Err  string
}

// append appends r's encoding to b. An error text longer than
// maxReplyText is cut at a UTF-8 boundary; an OK reply carries none.
func (r reply) append(b []byte) []byte {
	status := byte(1)
	msg := r.Err
	if r.OK {
		status, msg = 0, ""
	}
	b = append(b, status)
	b = binary.BigEndian.AppendUint64(b, r.Size)
	b = append(b, r.Sum[:]...)
	if len(msg) > maxReplyText {
		cut := maxReplyText
		for cut > 0 && !utf8.RuneStart(msg[cut]) {
			cut--
		}
		msg = msg[:cut]
	}
	return append(b, msg...)
}

// errBadReply is wrapped by every parseReply error.
var errBadReply = errors.New("malformed reply")

// parseReply decodes a whole reply message. Errors wrap errBadReply. An
// error text that is not valid UTF-8 is kept with the bad bytes replaced
// by "?" (it is only ever shown).
func parseReply(b []byte) (reply, error) {
	switch {
	case len(b) < replyFixed:
		return reply{}, fmt.Errorf("%w: %d bytes, need at least %d", errBadReply, len(b), replyFixed)
	case len(b) > maxReplySize:
		return reply{}, fmt.Errorf("%w: %d bytes, at most %d", errBadReply, len(b), maxReplySize)
	case b[0] > 1:
		return reply{}, fmt.Errorf("%w: status %d", errBadReply, b[0])
	case b[0] == 0 && len(b) > replyFixed:
		return reply{}, fmt.Errorf("%w: status ok with an error text", errBadReply)
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
