package stc

import (
	"crypto/ecdh"
	"crypto/sha3"
	"encoding/hex"
	"fmt"
)

// NodeID names a node: SHA3-256("stt/1 node id" ‖ static X25519 public
// key). It is deterministic for a node seed, comparable, and usable as a
// map key. The zero NodeID names no node.
type NodeID [32]byte

// String returns the ID as 64 lower-case hex digits.
func (id NodeID) String() string { return hex.EncodeToString(id[:]) }

// Short returns the first 8 hex digits of the ID, for logs and UIs. It is
// not unique enough to identify a node; compare full IDs.
func (id NodeID) Short() string { return hex.EncodeToString(id[:4]) }

// isZero reports whether id is the zero NodeID.
func (id NodeID) isZero() bool { return id == NodeID{} }

// NodeIDFromPublic returns the node ID of a static X25519 public key
// (docs/PROTOCOL.md "Key schedule and identity"). It does not allocate.
func NodeIDFromPublic(pub [32]byte) NodeID {
	var in [len(nodeIDDomain) + 32]byte
	copy(in[:], nodeIDDomain)
	copy(in[len(nodeIDDomain):], pub[:])
	return NodeID(sha3.Sum256(in[:]))
}

// Identity is a node's long-term static X25519 key pair and the node ID
// derived from it. It is immutable and safe for concurrent use.
type Identity struct {
	priv *ecdh.PrivateKey
	pub  [32]byte
	id   NodeID
}

// NewIdentity derives a node's identity from its node seed: the static
// private key is HKDF-Expand(HKDF-Extract(nil, seed), "stt/1 stt node
// static", 32), used as an X25519 scalar (clamped by X25519 itself), and
// the node ID is [NodeIDFromPublic] of its public key. The same seed always
// gives the same identity. Seeds shorter than [MinSeedLen] return an error
// wrapping [ErrSeedTooShort]. The seed is only read; it allocates.
func NewIdentity(nodeSeed []byte) (*Identity, error) {
	if len(nodeSeed) < MinSeedLen {
		return nil, fmt.Errorf("%w: node seed is %d bytes, need at least %d", ErrSeedTooShort, len(nodeSeed), MinSeedLen)
	}
	prk := Extract(nil, nodeSeed)
	var scalar [32]byte
	expandInto(scalar[:], &prk, labelNodeStatic, nil)
	prk.Wipe()
	priv, err := ecdh.X25519().NewPrivateKey(scalar[:])
	clear(scalar[:])
	if err != nil {
		// X25519 accepts every 32-byte string; this is unreachable.
		return nil, fmt.Errorf("stc: BUG: X25519 private key: %w", err)
	}
	id := &Identity{priv: priv}
	copy(id.pub[:], priv.PublicKey().Bytes())
	id.id = NodeIDFromPublic(id.pub)
	return id, nil
}

// Public returns the static X25519 public key.
func (id *Identity) Public() [32]byte { return id.pub }

// ECDH returns the X25519 shared secret of the static private key and
// remote (the handshake's es and se operations), as crypto/ecdh computes
// it: an error for a low-order remote key, whose result would be all
// zeros. The private key itself never leaves the Identity.
func (id *Identity) ECDH(remote *ecdh.PublicKey) ([]byte, error) { return id.priv.ECDH(remote) }

// ID returns the node ID.
func (id *Identity) ID() NodeID { return id.id }
