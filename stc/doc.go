// Package stc is STT's crypto core: it chooses the AEAD suite from CPU
// features (AES-256-GCM with AES-NI/PCLMULQDQ or ARMv8 AES/PMULL, else
// ChaCha20-Poly1305), seals and opens transport packets in place with
// packet-number nonces that can never repeat under one key, derives every
// key through one HKDF-SHA256 schedule with "stt/1 " domain-separated
// labels, turns node seeds into static X25519 identities and SHA3-256 node
// IDs, filters replays with an RFC 6479 bitmap window, hashes content with
// SHA3-256, and seals the segments of the streaming encoder under
// per-stream keys. It does not run the handshake, decide when to rotate
// keys, parse headers or touch sockets; those belong to control, dataplane
// and wire, which feed it plain byte slices and numbers.
//
// Who uses it: control (identities, the handshake's key schedule), the data
// plane (packet protection, replay windows, key rotation), streaming and
// storage (content hashing, sealing under derived keys), and the root (node
// identities, the stateless-reset key).
//
// Stability: a building block with a stable API. Its byte-level outputs
// (labels, key schedule) are fixed by docs/PROTOCOL.md and checked against
// docs/vectors.
//
// Concurrency: a PacketAEAD, ReplayWindow or StreamContext belongs to one
// goroutine at a time (Seal and Open may run on two different goroutines),
// its counters may be read from any goroutine, and the remaining functions
// are safe for concurrent use.
//
// Allocation: per-packet operations (PacketAEAD.Seal/Open, ReplayWindow,
// StreamContext.Seal/Open, Hash, ExpandInto, Secret.Next) do not allocate;
// constructors do.
//
// Ownership: Seal and Open work in place in the caller's buffer and keep no
// reference to it. Key material lives in [Secret] values, which cannot be
// compared or printed and are wiped by their owner when a key retires.
package stc
