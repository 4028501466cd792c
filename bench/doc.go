// Package bench holds STT's side-by-side comparison harness in a module of
// its own, so that quic-go and kcp-go never enter the library's
// dependencies. `go run ./cmd/compare` (from this directory) runs STT,
// quic-go, kcp-go (AES and no crypto), TLS 1.3 over TCP and raw UDP on
// loopback in interleaved rounds and prints a Markdown table; the package
// itself only documents the module and holds no code.
package bench
