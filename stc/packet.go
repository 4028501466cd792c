package stc

import (
	"crypto/cipher"
	"encoding/binary"
	"errors"
	"sync/atomic"
)

// Overhead is the AEAD tag length every sealed packet carries after its
// ciphertext (16 bytes for all of STT's suites).
const Overhead = 16

// IVLen is the AEAD nonce length of every suite (96 bits, RFC 5116 §3.2).
const IVLen = 12

// ErrAuth is the one error an open returns for any failure: a forged or
// corrupted packet, a wrong key, a wrong packet number or a packet shorter
// than the tag. It carries no detail on purpose: which check failed must
// not reach the peer. The caller drops the packet, counts it, and keeps
// the session.
var ErrAuth = errors.New("stc: message authentication failed")

// PacketAEAD seals and opens the transport packets of one direction under
// one traffic secret (docs/PROTOCOL.md, "Key schedule and identity"): the packet
// header is the associated data, the nonce is the secret's IV XORed with the
// packet number, and ciphertext plus tag replace the plaintext in place.
//
// Concurrency: Seal must not run concurrently with Seal, nor Open with
// Open; one Seal and one Open may run at once (they use separate nonce
// buffers). Sealed, Opened, Failed and Suite may be called from any
// goroutine. Neither Seal nor Open allocates.
//
// Limits: the owner must stop sealing before Sealed reaches
// Suite().ConfidentialityLimit() and stop opening once Failed reaches
// Suite().IntegrityLimit(), by rotating to [Secret.Next]; PacketAEAD only
// counts, so the rotation policy stays in one place (the data plane,
// dataplane/keys.go).
type PacketAEAD struct {
	aead  cipher.AEAD
	suite Suite
	iv    [IVLen]byte

	// Seal side, owned by the sealing goroutine.
	sealNonce  [IVLen]byte
	lastSealed uint64 // highest packet number sealed; meaningful once sealedAny
	sealedAny  bool

	// Open side, owned by the opening goroutine.
	openNonce [IVLen]byte

	sealed, opened, failed atomic.Uint64
}

// NewPacketAEAD builds the packet protection for suite s from a traffic
// secret: key = Expand(secret, "stt key", s.KeyLen()) and iv =
// Expand(secret, "stt iv", 12). An invalid suite returns an error wrapping
// [ErrUnknownSuite]. It allocates (key schedule tables); the secret is
// copied, and the derived key bytes are wiped after use.
func NewPacketAEAD(s Suite, secret Secret) (*PacketAEAD, error) {
	if !s.Valid() {
		return nil, invalidSuite(s)
	}
	var key [32]byte
	expandInto(key[:s.KeyLen()], &secret, labelKey, nil)
	p := &PacketAEAD{suite: s}
	expandInto(p.iv[:], &secret, labelIV, nil)
	aead, err := newAEAD(s, key[:s.KeyLen()])
	clear(key[:])
	secret.Wipe()
	if err != nil {
		return nil, err
	}
	p.aead = aead
	return p, nil
}

// Sealed returns how many packets p has sealed. Safe from any goroutine.
func (p *PacketAEAD) Sealed() uint64 { return p.sealed.Load() }

// Opened returns how many packets p has opened successfully. Safe from any
// goroutine.
func (p *PacketAEAD) Opened() uint64 { return p.opened.Load() }

// Failed returns how many opens returned [ErrAuth]. Safe from any
// goroutine.
func (p *PacketAEAD) Failed() uint64 { return p.failed.Load() }

// nonce writes iv XOR big-endian(pn) (into the low 8 bytes) into n.
func (p *PacketAEAD) nonce(n *[IVLen]byte, pn uint64) {
	*n = p.iv
	binary.BigEndian.PutUint64(n[4:], binary.BigEndian.Uint64(p.iv[4:])^pn)
}

// Seal encrypts pkt[hdrLen:] in place under packet number pn, with the
// header pkt[:hdrLen] as associated data, and returns
// pkt[:len(pkt)+Overhead]: header, ciphertext, tag. The tag is written into
// pkt's spare capacity, so cap(pkt) must be at least len(pkt)+Overhead.
//
// Seal panics, because each is a bug in the caller that would break memory
// safety or confidentiality: if cap(pkt) is too small, if hdrLen is outside
// [0, len(pkt)], or if pn is not strictly greater than every packet number
// p sealed before (the nonce-reuse guard; the first call accepts any pn).
// It does not allocate.
func (p *PacketAEAD) Seal(pkt []byte, hdrLen int, pn uint64) []byte {
	if hdrLen < 0 || hdrLen > len(pkt) {
		panic("stc: PacketAEAD.Seal: header length outside packet")
	}
	if cap(pkt)-len(pkt) < Overhead {
		panic("stc: PacketAEAD.Seal: packet buffer lacks Overhead bytes of capacity for the tag")
	}
	if p.sealedAny && pn <= p.lastSealed {
		panic("stc: PacketAEAD.Seal: packet number not increasing (nonce reuse)")
	}
	p.sealedAny = true
	p.lastSealed = pn
	p.nonce(&p.sealNonce, pn)
	out := p.aead.Seal(pkt[hdrLen:hdrLen], p.sealNonce[:], pkt[hdrLen:], pkt[:hdrLen])
	p.sealed.Add(1)
	return pkt[:hdrLen+len(out)]
}

// Open authenticates and decrypts pkt[hdrLen:] (ciphertext then tag) in
// place under packet number pn, with pkt[:hdrLen] as associated data, and
// returns the plaintext, which aliases pkt[hdrLen:len(pkt)-Overhead]. On
// any failure (bad tag, wrong pn, fewer than Overhead bytes after the
// header, hdrLen outside the packet) it returns [ErrAuth], zeroes the
// would-be plaintext bytes and counts the failure; the bytes of pkt are
// then garbage and the packet must be dropped. Open never panics on packet
// contents and does not allocate. Replay filtering is the caller's job
// ([ReplayWindow]).
func (p *PacketAEAD) Open(pkt []byte, hdrLen int, pn uint64) ([]byte, error) {
	if hdrLen < 0 || hdrLen > len(pkt) || len(pkt)-hdrLen < Overhead {
		p.failed.Add(1)
		return nil, ErrAuth
	}
	p.nonce(&p.openNonce, pn)
	body := pkt[hdrLen:]
	out, err := p.aead.Open(body[:0], p.openNonce[:], body, pkt[:hdrLen])
	if err != nil {
		clear(body[:len(body)-Overhead])
		p.failed.Add(1)
		return nil, ErrAuth
	}
	p.opened.Add(1)
	return out, nil
}
