package stc

import (
	"crypto/hkdf"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
)

// Key schedule. Every key STT uses is derived with HKDF-SHA256 (RFC 5869).
// Each Expand info string is labelPrefix followed by a label naming the
// key's purpose ("stt key", "stt iv", "stt traffic upd", ...), so that a
// secret fed to STT's KDF can never yield the same bytes as the same secret
// fed to another protocol's HKDF, or to another STT purpose. The prefix
// carries the protocol version: a future incompatible schedule changes it.
// The labels and their layouts are listed in docs/PROTOCOL.md ("Key schedule
// and identity").

// labelPrefix is prepended to every HKDF-Expand label (domain separation).
const labelPrefix = "stt/1 "

// Labels of the key schedule, without labelPrefix.
const (
	labelPSK         = "stt psk"         // shared seed → handshake PSK
	labelNodeStatic  = "stt node static" // node seed → X25519 static private key
	labelKey         = "stt key"         // traffic secret → AEAD key
	labelIV          = "stt iv"          // traffic secret → 12-byte IV
	labelTrafficUpd  = "stt traffic upd" // traffic secret → next traffic secret
	labelStreamKey   = "stt stream key"  // stream secret ‖ IDs → stream AEAD key
	labelStreamIV    = "stt stream iv"   // stream secret ‖ IDs → stream IV
	nodeIDDomain     = "stt/1 node id"   // SHA3-256 prefix for node IDs
	maxInfoLen       = 255               // longest HKDF info we build; TLS 1.3's HkdfLabel bound
	secretLen        = sha256.Size       // HKDF-SHA256 PRK size
	hmacBlockLen     = sha256.BlockSize  // HMAC-SHA256 pad size
	hmacInnerBufSize = hmacBlockLen + secretLen + maxInfoLen + 1
)

// maxLabelLen is the longest label [Expand] and [ExpandInto] accept: the
// info string, labelPrefix plus label, is kept within 255 bytes (the bound
// TLS 1.3 puts on HkdfLabel) so that it fits a fixed stack buffer.
const maxLabelLen = maxInfoLen - len(labelPrefix)

// maxExpandLen is the most bytes one Expand call may produce: 255 blocks of
// SHA-256 output (RFC 5869 §2.3).
const maxExpandLen = 255 * sha256.Size

// MinSeedLen is the shortest shared or node seed accepted: 32 bytes, so the
// seed holds at least as much entropy as the 128-bit-secure X25519 and
// AEAD keys derived from it need with a wide margin, and matches the
// 32-byte seeds of the original STT design.
const MinSeedLen = 32

// ErrSeedTooShort is returned, wrapped with a message naming the seed and
// its length, when a shared or node seed is shorter than [MinSeedLen]. It
// is a configuration error: generate a longer seed (cmd/stt keygen).
var ErrSeedTooShort = errors.New("stc: seed too short")

// Secret is a 32-byte HKDF-SHA256 pseudorandom key: a traffic secret, a
// stream secret or an intermediate of the key schedule. It is opaque: it
// cannot be compared with == (use [Secret.Equal], constant time), it
// prints as "stc.Secret(redacted)" under every fmt verb, and its bytes
// leave only through [Secret.Bytes]. Its owner calls [Secret.Wipe] when
// the key retires; copies made by value are the caller's to wipe (Go
// cannot promise that no copy survives on the stack or in registers).
type Secret struct {
	_ [0]func() // not comparable
	b [secretLen]byte
}

// SecretFrom returns a Secret holding the 32 bytes of b, and clears b, so
// that the key lives in one place. It does not allocate.
func SecretFrom(b *[32]byte) Secret {
	s := Secret{b: *b}
	clear(b[:])
	return s
}

// Bytes returns a copy of the secret's bytes, for test vectors and the
// few places a key must leave its type (it allocates). The caller owns the
// copy and should clear it when done.
func (s *Secret) Bytes() []byte { return append([]byte(nil), s.b[:]...) }

// IsZero reports whether s holds no key (all zeros, as after Wipe), in
// constant time.
func (s *Secret) IsZero() bool {
	var zero [secretLen]byte
	return subtle.ConstantTimeCompare(s.b[:], zero[:]) == 1
}

// String returns "stc.Secret(redacted)": a Secret never prints its bytes.
func (s Secret) String() string { return "stc.Secret(redacted)" }

// GoString is String, for %#v.
func (s Secret) GoString() string { return s.String() }

// Format prints the redacted form for every verb (%x included).
func (s Secret) Format(f fmt.State, _ rune) { io.WriteString(f, s.String()) }

// Extract is HKDF-Extract with SHA-256 (RFC 5869 §2.2): it concentrates the
// entropy of ikm into a Secret, keyed by salt (nil means 32 zero bytes).
// It allocates, and is safe for concurrent use. It panics only in
// GODEBUG=fips140=only mode when ikm is shorter than 14 bytes, a mode STT
// does not support (ChaCha20-Poly1305 is outside that module).
func Extract(salt, ikm []byte) Secret {
	prk, err := hkdf.Extract(sha256.New, ikm, salt)
	if err != nil {
		panic("stc: HKDF-Extract: " + err.Error())
	}
	var s Secret
	copy(s.b[:], prk)
	clear(prk)
	return s
}

// Expand is HKDF-Expand with SHA-256 (RFC 5869 §2.3) using info =
// "stt/1 " ‖ label, returning n fresh bytes owned by the caller. It
// allocates (it runs crypto/hkdf); use [ExpandInto] where allocation
// matters. It panics, as a programming error, if n is negative or larger
// than maxExpandLen, or label is longer than maxLabelLen; labels are
// constants of the protocol, never peer input.
func Expand(secret Secret, label string, n int) []byte {
	checkExpand(len(label), n)
	out, err := hkdf.Expand(sha256.New, secret.b[:], labelPrefix+label, n)
	if err != nil {
		panic("stc: HKDF-Expand: " + err.Error())
	}
	return out
}

// ExpandInto fills dst with HKDF-Expand(secret, "stt/1 " ‖ label,
// len(dst)), the same bytes [Expand] returns. It does not allocate: the
// HMAC runs over fixed stack buffers, which are cleared before it returns
// (best effort; Go cannot promise that no copy survives). It panics under
// the same conditions as Expand. Safe for concurrent use.
func ExpandInto(dst []byte, secret Secret, label string) {
	checkExpand(len(label), len(dst))
	expandInto(dst, &secret, label, nil)
	secret.Wipe()
}

func checkExpand(labelLen, n int) {
	if labelLen > maxLabelLen {
		panic("stc: HKDF label longer than maxLabelLen")
	}
	if n < 0 || n > maxExpandLen {
		panic("stc: HKDF-Expand length out of range")
	}
}

// expandInto is HKDF-Expand-SHA256 with info = labelPrefix ‖ label ‖ ctx,
// written with sha256.Sum256 over stack buffers so that it does not
// allocate: HMAC(K, m) = H((K ⊕ opad) ‖ H((K ⊕ ipad) ‖ m)) with a 32-byte
// K (RFC 2104), and T(i) = HMAC(PRK, T(i-1) ‖ info ‖ i) (RFC 5869 §2.3).
// The caller checks lengths; info longer than maxInfoLen panics.
func expandInto(dst []byte, prk *Secret, label string, ctx []byte) {
	hkdfExpand(dst, prk, labelPrefix, label, ctx)
}

// hkdfExpand is expandInto with the info prefix as a parameter, so tests
// can run it on RFC 5869's raw-info vectors.
func hkdfExpand(dst []byte, prk *Secret, prefix, label string, ctx []byte) {
	if len(prefix)+len(label)+len(ctx) > maxInfoLen || len(dst) > maxExpandLen {
		panic("stc: HKDF info or output too long")
	}
	var in [hmacInnerBufSize]byte            // (K ⊕ ipad) ‖ T(i-1) ‖ info ‖ i
	var outer [hmacBlockLen + secretLen]byte // (K ⊕ opad) ‖ inner hash
	for i := range hmacBlockLen {
		k := byte(0)
		if i < secretLen {
			k = prk.b[i]
		}
		in[i] = k ^ 0x36
		outer[i] = k ^ 0x5c
	}
	var t [secretLen]byte
	tLen := 0
	for block := 1; len(dst) > 0; block++ {
		n := hmacBlockLen
		n += copy(in[n:], t[:tLen])
		n += copy(in[n:], prefix)
		n += copy(in[n:], label)
		n += copy(in[n:], ctx)
		in[n] = byte(block)
		n++
		inner := sha256.Sum256(in[:n])
		copy(outer[hmacBlockLen:], inner[:])
		clear(inner[:])
		t = sha256.Sum256(outer[:])
		tLen = secretLen
		dst = dst[copy(dst, t[:]):]
	}
	clear(in[:])
	clear(outer[:])
	clear(t[:])
}

// Next returns the successor of a per-direction traffic secret, HKDF-Expand
// (s, "stt/1 stt traffic upd", 32): the key-update ratchet. Both sides
// compute it independently when the key-phase bit flips; knowing the next
// secret does not reveal s. It does not allocate and does not modify s.
func (s Secret) Next() Secret {
	var next Secret
	expandInto(next.b[:], &s, labelTrafficUpd, nil)
	s.Wipe()
	return next
}

// Equal reports whether s and o hold the same bytes, in constant time.
func (s Secret) Equal(o Secret) bool {
	return subtle.ConstantTimeCompare(s.b[:], o.b[:]) == 1
}

// Wipe overwrites s with zeros (best effort: copies made earlier by value
// are not reached).
func (s *Secret) Wipe() { clear(s.b[:]) }

// DerivePSK turns the shared seed into the 32-byte pre-shared key of the
// Noise XXpsk0 handshake: HKDF-Expand(HKDF-Extract(nil, seed), "stt/1 stt
// psk", 32). Seeds shorter than [MinSeedLen] return an error wrapping
// [ErrSeedTooShort]. It allocates and is safe for concurrent use; the seed
// is only read.
func DerivePSK(sharedSeed []byte) ([32]byte, error) {
	var psk [32]byte
	if len(sharedSeed) < MinSeedLen {
		return psk, fmt.Errorf("%w: shared seed is %d bytes, need at least %d", ErrSeedTooShort, len(sharedSeed), MinSeedLen)
	}
	prk := Extract(nil, sharedSeed)
	expandInto(psk[:], &prk, labelPSK, nil)
	prk.Wipe()
	return psk, nil
}
