package control

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"hash"

	"github.com/stt-go/stt/wire"
	"golang.org/x/crypto/chacha20"
	"golang.org/x/crypto/chacha20poly1305"
	//lint:ignore SA1019 the one-shot Verify is x/crypto's only allocation-free Poly1305 (RFC 8439 §2.5); it is used exactly as the AEAD uses it.
	"golang.org/x/crypto/poly1305"
)

// protocolName is the Noise protocol name (Noise spec §8). It is longer than
// 32 bytes, so the initial h is its SHA-256 (Noise spec §5.2 InitializeSymmetric).
const protocolName = "Noise_XXpsk0_25519_ChaChaPoly_SHA256"

// errOpen is the one opaque error of every failed handshake AEAD open (style
// rule 19): callers count it and drop the packet.
var errOpen = errors.New("control: handshake message failed authentication")

// initialH is HASH(protocolName), the starting h and ck of every handshake.
var initialH = sha256.Sum256([]byte(protocolName))

// symmetric is the Noise SymmetricState plus its CipherState (Noise spec
// §5.1-5.2) for SHA-256 and ChaChaPoly. It is a plain value: copying it
// snapshots the handshake, which is how a failed open leaves the original
// untouched. Not safe for concurrent use; it never allocates except through
// the AEAD constructor (see openNoAlloc).
type symmetric struct {
	ck   [32]byte
	h    [32]byte
	k    [32]byte
	n    uint64
	hasK bool
	d    hash.Hash // scratch for long mixHash inputs; nil until needed
}

// init sets h = ck = HASH(protocolName) and mixes the prologue.
func (s *symmetric) init(prologue []byte) {
	s.ck = initialH
	s.h = initialH
	s.hasK = false
	s.n = 0
	s.mixHash(prologue)
}

// mixHash sets h = HASH(h ‖ data). Short inputs hash from a stack buffer;
// long ones (ML-KEM keys and ciphertexts) go through the state's scratch
// digest, allocated once per owner.
func (s *symmetric) mixHash(data []byte) {
	if len(data) > smallHashLen {
		panic("control: BUG: mixHash input longer than smallHashLen")
	}
	var buf [32 + smallHashLen]byte
	copy(buf[:], s.h[:])
	copy(buf[32:], data)
	s.h = sha256.Sum256(buf[:32+len(data)])
}

// mixHashLong is mixHash for inputs of any size: long ones go through the
// scratch digest (data escapes to it, so stack arrays use mixHash).
func (s *symmetric) mixHashLong(data []byte) {
	if len(data) <= smallHashLen {
		s.mixHash(data)
		return
	}
	if s.d == nil {
		s.d = sha256.New()
	}
	s.d.Reset()
	s.d.Write(s.h[:])
	s.d.Write(data)
	s.d.Sum(s.h[:0])
}

// smallHashLen is the largest input mixHash hashes from the stack: every
// Noise token except the KEM fields (64 = a sealed key plus tag, rounded).
const smallHashLen = 160

// mixKey is Noise MixKey: ck, k = HKDF(ck, ikm, 2); n = 0.
func (s *symmetric) mixKey(ikm []byte) {
	s.ck, s.k = hkdf2(&s.ck, ikm)
	s.n = 0
	s.hasK = true
}

// mixKeyAndHash is Noise MixKeyAndHash: ck, temp_h, k = HKDF(ck, ikm, 3);
// MixHash(temp_h); n = 0. Resumption mixes the resumption secret with it.
func (s *symmetric) mixKeyAndHash(ikm []byte) {
	var th [32]byte
	s.ck, th, s.k = hkdf3(&s.ck, ikm)
	s.mixHash(th[:])
	clear(th[:])
	s.n = 0
	s.hasK = true
}

// nonce returns the ChaChaPoly nonce: 32 zero bits then n little-endian.
func (s *symmetric) nonce() [12]byte {
	var nn [12]byte
	binary.LittleEndian.PutUint64(nn[4:], s.n)
	return nn
}

// encryptAndHash appends ENCRYPT(k, n++, h, pt) to dst and mixes the
// ciphertext into h. Every caller has a key: STT's patterns encrypt only
// after psk or ee.
func (s *symmetric) encryptAndHash(dst, pt []byte) []byte {
	if !s.hasK {
		panic("control: BUG: encryptAndHash without a key")
	}
	a, _ := chacha20poly1305.New(s.k[:])
	nn := s.nonce()
	start := len(dst)
	dst = a.Seal(dst, nn[:], pt, s.h[:])
	s.n++
	s.mixHashLong(dst[start:])
	return dst
}

// decryptAndHash opens ct into dst[:0] and mixes ct into h. On failure it
// returns errOpen, clears dst and leaves the state unchanged. The tag is
// checked first without allocating, so a forged message costs no garbage.
func (s *symmetric) decryptAndHash(dst, ct []byte) ([]byte, error) {
	if !s.hasK {
		panic("control: BUG: decryptAndHash without a key")
	}
	if !tagValid(&s.k, s.n, ct, s.h[:]) {
		return nil, errOpen
	}
	if len(ct) == wire.TagLen { // empty plaintext: the tag check was the whole open
		s.n++
		s.mixHash(ct)
		return dst[:0], nil
	}
	pt, err := openChaCha(&s.k, s.n, dst[:0], ct, s.h[:])
	if err != nil {
		clear(dst[:cap(dst)])
		return nil, errOpen
	}
	s.n++
	s.mixHashLong(ct)
	return pt, nil
}

// maxTagCheck bounds the poly1305 input tagValid builds on the stack: the
// largest sealed handshake field (the HELLO payload) plus h and padding.
const maxTagCheck = 32 + 16 + wire.HelloSealedLen + 16 + 16

// tagValid recomputes the RFC 8439 ChaCha20-Poly1305 tag of ct under
// (k, n, ad) and compares it in constant time. It never allocates (the
// chacha20 Cipher stays on the stack), which is what keeps a forged HELLO at
// zero allocations. Inputs too large for the stack buffer report true and
// leave the decision to the full open.
func tagValid(k *[32]byte, n uint64, ct, ad []byte) bool {
	if len(ct) < wire.TagLen {
		return false
	}
	body := len(ct) - wire.TagLen
	if pad16(len(ad))+pad16(body)+16 > maxTagCheck {
		return true
	}
	var nonce [12]byte
	binary.LittleEndian.PutUint64(nonce[4:], n)
	c, err := chacha20.NewUnauthenticatedCipher(k[:], nonce[:])
	if err != nil {
		return false
	}
	var polyKey [32]byte
	c.XORKeyStream(polyKey[:], polyKey[:])
	var m [maxTagCheck]byte
	off := copy(m[:], ad)
	off = pad16(off)
	off += copy(m[off:], ct[:body])
	off = pad16(off)
	binary.LittleEndian.PutUint64(m[off:], uint64(len(ad)))
	binary.LittleEndian.PutUint64(m[off+8:], uint64(body))
	off += 16
	var tag [16]byte
	copy(tag[:], ct[body:])
	ok := poly1305.Verify(&tag, m[:off], &polyKey)
	clear(polyKey[:])
	return ok
}

// pad16 rounds n up to a multiple of 16.
func pad16(n int) int { return (n + 15) &^ 15 }

// split is Noise Split: the initiator→responder and responder→initiator
// keys, HKDF(ck, "", 2).
func (s *symmetric) split() (i2r, r2i [32]byte) {
	return hkdf2(&s.ck, nil)
}

// openChaCha opens ct with ChaCha20-Poly1305 (allocates the AEAD; callers
// run tagValid first).
func openChaCha(k *[32]byte, n uint64, dst, ct, ad []byte) ([]byte, error) {
	a, err := chacha20poly1305.New(k[:])
	if err != nil {
		return nil, err
	}
	var nonce [12]byte
	binary.LittleEndian.PutUint64(nonce[4:], n)
	return a.Open(dst, nonce[:], ct, ad)
}

// hmacSHA256 computes HMAC-SHA256(key, a ‖ b) (RFC 2104) from stack
// buffers; key is one 32-byte block-padded key and len(a)+len(b) <= 64.
func hmacSHA256(key *[32]byte, a, b []byte) [32]byte {
	var in [64 + 64]byte
	for i := range 64 {
		in[i] = 0x36
	}
	for i, c := range key {
		in[i] ^= c
	}
	n := 64 + copy(in[64:], a)
	n += copy(in[n:], b)
	inner := sha256.Sum256(in[:n])
	var out [64 + 32]byte
	for i := range 64 {
		out[i] = in[i] ^ 0x36 ^ 0x5c
	}
	copy(out[64:], inner[:])
	clear(in[:])
	return sha256.Sum256(out[:])
}

// hkdf2 is the Noise HKDF with two outputs (Noise spec §4.3).
func hkdf2(ck *[32]byte, ikm []byte) (o1, o2 [32]byte) {
	tk := hmacSHA256(ck, ikm, nil)
	o1 = hmacSHA256(&tk, one[:], nil)
	o2 = hmacSHA256(&tk, o1[:], two[:])
	clear(tk[:])
	return o1, o2
}

// hkdf3 is the Noise HKDF with three outputs.
func hkdf3(ck *[32]byte, ikm []byte) (o1, o2, o3 [32]byte) {
	tk := hmacSHA256(ck, ikm, nil)
	o1 = hmacSHA256(&tk, one[:], nil)
	o2 = hmacSHA256(&tk, o1[:], two[:])
	o3 = hmacSHA256(&tk, o2[:], three[:])
	clear(tk[:])
	return o1, o2, o3
}

// HKDF expansion counters (Noise spec §4.3).
var one, two, three = [1]byte{1}, [1]byte{2}, [1]byte{3}
