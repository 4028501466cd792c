// Package control is STT's slow path: the four-message handshake (HELLO,
// RESPONSE, AUTH_PROOF, then FINAL sent by the data plane), built as Noise
// XXpsk0 over X25519, SHA-256 and ChaCha20-Poly1305 with an optional
// ML-KEM-768 exchange, and its anti-DoS machinery (cookies, amplification
// ledger, bounded half-open state and replay cache). It never touches the
// packet path, sessions' traffic, key rotation or close: those run in the
// data plane once a session is installed. Message layouts, suite
// negotiation, the transcript and vectors are in docs/HANDSHAKE.md and
// docs/vectors/.
//
// Who uses it: the root package runs one Plane per Node; an Initiator
// builds the initiator's messages step by step with the same code and no
// Plane, for tools that drive another implementation message by message
// (stt conformance) and for reproducible vectors.
//
// Stability: an implementation package with no compatibility promise.
// Applications use package stt.
//
// Concurrency: a Plane receives handshake datagrams from the loops through
// HandlePacket, which copies into a bounded queue and never blocks, runs
// them on its own worker goroutines, and installs finished sessions through
// the narrow DataPlane interface. All Plane methods are safe for concurrent
// use; an Initiator belongs to one goroutine.
//
// Allocation: rejecting a forged HELLO allocates nothing (TestNoAllocs);
// completing a handshake allocates a few small objects.
//
// Ownership: HandlePacket copies the datagram before it returns. Key
// material leaves the package only inside an Established, whose secrets
// are reachable through methods, never exported fields.
package control
