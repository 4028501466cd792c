// Package stt is the public API of STT (Seigr Toolset Transmissions): an
// encrypted, authenticated, multiplexed peer-to-peer transport over UDP.
//
// A Node, built from a node seed (its identity) and a shared seed (the
// pre-shared secret every peer holds), listens on UDP and opens Sessions
// with a four-message handshake — HELLO, RESPONSE, AUTH_PROOF, FINAL, the
// Noise XXpsk0 pattern with hybrid X25519 + ML-KEM-768 — to peers that hold
// the same shared seed. Each Session multiplexes ordered, reliable Streams
// (io.ReadWriteCloser, with optional message boundaries through
// SendMessage/ReceiveMessage); all traffic is AEAD-encrypted (AES-256-GCM
// where the CPU has AES instructions, ChaCha20-Poly1305 otherwise) under
// per-direction keys that rotate.
//
//	node, _ := stt.NewNode(stt.Config{NodeSeed: ns, SharedSeed: ss, ListenAddr: "127.0.0.1:0"})
//	_ = node.Start(ctx)
//	sess, _ := node.Connect(ctx, "127.0.0.1:9000")
//	st, _ := sess.OpenStream(ctx)
//	st.Write(data)
//
// The package is a thin layer over the data plane (package dataplane: loops,
// streams, loss recovery) and the control plane (package control: the
// handshake and its anti-DoS defences); Session, Stream and the error types
// are aliases of the data plane's. All methods are safe for concurrent use
// unless their doc says otherwise. Errors callers branch on are sentinels
// (ErrClosed also matches net.ErrClosed; ErrHandshakeTimeout is a net.Error
// timeout) or typed (*StreamError, *SessionError); see each method.
package stt
