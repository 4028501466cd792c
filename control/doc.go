// Package control is STT's slow path: the four-message handshake (HELLO,
// RESPONSE, AUTH_PROOF, then FINAL sent by the data plane), built as Noise
// XXpsk0 over X25519, SHA-256 and ChaCha20-Poly1305 with an optional
// ML-KEM-768 exchange, the one-round-trip resumed handshake (RESUME,
// RESUME_RESPONSE) with the tickets it needs, and its anti-DoS machinery
// (cookies, amplification ledger, bounded half-open state and replay
// caches). A Plane receives handshake datagrams from the loops through
// HandlePacket, which copies into a bounded queue (or an answer straight
// into the waiting Dial's inbox) and never blocks, runs them on its own
// worker goroutines, and installs finished sessions through the narrow
// DataPlane interface; it never touches the packet path, sessions'
// traffic, rotation or close. All Plane methods are safe for concurrent
// use; rejecting a forged HELLO or RESUME allocates nothing, completing a
// handshake allocates a few small objects.
// An Initiator builds the initiator's messages step by step with the same
// code and no Plane, for tools that drive another implementation message
// by message (stt conformance) and for reproducible vectors. Message
// layouts, suite negotiation, the transcript and vectors are in
// docs/HANDSHAKE.md and docs/vectors/.
package control
