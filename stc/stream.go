package stc

import (
	"crypto/cipher"
	"encoding/binary"
)

// streamAADLen is the associated data of a stream segment:
// sessionID ‖ streamID ‖ seq, each 8 bytes big-endian.
const streamAADLen = 24

// StreamContext seals and opens the segments of one stream for the
// streaming encoder and decoder (docs/PROTOCOL.md, "Key schedule and identity"). Its
// key and IV are derived from a stream secret with the session and stream
// IDs bound into the HKDF info, so two streams never share a key; each
// segment's nonce is the IV XORed with its sequence number, and its
// associated data is sessionID ‖ streamID ‖ seq, so a segment cannot be
// moved to another stream, session or position.
//
// Concurrency: Seal must not run concurrently with Seal, nor Open with
// Open; one of each may run at once. Seal and Open do not allocate when
// dst has enough spare capacity. Open does not filter duplicates; the
// decoder tracks which sequence numbers it has.
type StreamContext struct {
	aead      cipher.AEAD
	suite     Suite
	sessionID uint64
	streamID  uint64
	iv        [IVLen]byte

	// Seal side.
	sealNonce [IVLen]byte
	sealAAD   [streamAADLen]byte
	lastSeq   uint64 // highest seq sealed; meaningful once sealedAny
	sealedAny bool

	// Open side.
	openNonce [IVLen]byte
	openAAD   [streamAADLen]byte
}

// NewStreamContext derives the context for stream streamID of session
// sessionID from the stream secret key: with ids = sessionID ‖ streamID
// (16 bytes, big-endian), the AEAD key is HKDF-Expand(key, "stt/1 stt
// stream key" ‖ ids, s.KeyLen()) and the IV is HKDF-Expand(key, "stt/1 stt
// stream iv" ‖ ids, 12). An invalid suite returns an error wrapping
// [ErrUnknownSuite]. It allocates; key is copied and the derived bytes are
// wiped after use.
func NewStreamContext(s Suite, key Secret, sessionID uint64, streamID uint64) (*StreamContext, error) {
	if !s.Valid() {
		return nil, invalidSuite(s)
	}
	c := &StreamContext{suite: s, sessionID: sessionID, streamID: streamID}
	var ids [16]byte
	binary.BigEndian.PutUint64(ids[:8], sessionID)
	binary.BigEndian.PutUint64(ids[8:], streamID)
	var k [32]byte
	expandInto(k[:s.KeyLen()], &key, labelStreamKey, ids[:])
	expandInto(c.iv[:], &key, labelStreamIV, ids[:])
	aead, err := newAEAD(s, k[:s.KeyLen()])
	clear(k[:])
	key.Wipe()
	if err != nil {
		return nil, err
	}
	c.aead = aead
	copy(c.sealAAD[:16], ids[:])
	copy(c.openAAD[:16], ids[:])
	return c, nil
}

// prepare fills nonce and the seq part of aad for seq.
func (c *StreamContext) prepare(nonce *[IVLen]byte, aad *[streamAADLen]byte, seq uint64) {
	*nonce = c.iv
	binary.BigEndian.PutUint64(nonce[4:], binary.BigEndian.Uint64(c.iv[4:])^seq)
	binary.BigEndian.PutUint64(aad[16:], seq)
}

// Seal encrypts plaintext as segment seq and appends ciphertext and the
// Overhead-byte tag to dst, returning the extended slice. dst and
// plaintext may overlap only exactly (dst[len(dst):] starting at
// plaintext[0]). It panics, as a caller bug that would reuse a nonce, if
// seq is not strictly greater than every seq this context sealed before
// (the first call accepts any seq). It does not allocate when cap(dst)
// leaves room for len(plaintext)+Overhead bytes.
func (c *StreamContext) Seal(dst []byte, seq uint64, plaintext []byte) []byte {
	if c.sealedAny && seq <= c.lastSeq {
		panic("stc: StreamContext.Seal: sequence number not increasing (nonce reuse)")
	}
	c.sealedAny = true
	c.lastSeq = seq
	c.prepare(&c.sealNonce, &c.sealAAD, seq)
	return c.aead.Seal(dst, c.sealNonce[:], plaintext, c.sealAAD[:])
}

// Open authenticates and decrypts segment seq and appends the plaintext to
// dst, returning the extended slice. Any failure (forged or corrupted
// segment, wrong seq, stream or session, input shorter than Overhead)
// returns nil and [ErrAuth], with the bytes written into dst's spare
// capacity zeroed. dst and ciphertext may overlap only exactly. It never
// panics on segment contents and does not allocate when cap(dst) leaves
// room for the plaintext.
func (c *StreamContext) Open(dst []byte, seq uint64, ciphertext []byte) ([]byte, error) {
	if len(ciphertext) < Overhead {
		return nil, ErrAuth
	}
	c.prepare(&c.openNonce, &c.openAAD, seq)
	out, err := c.aead.Open(dst, c.openNonce[:], ciphertext, c.openAAD[:])
	if err != nil {
		if n := len(ciphertext) - Overhead; cap(dst)-len(dst) >= n {
			clear(dst[len(dst) : len(dst)+n])
		}
		return nil, ErrAuth
	}
	return out, nil
}
