// Package fuzz collects STT's fuzz targets: one Fuzz* function for every
// parser and stateful decoder a peer can reach (wire codecs, handshake
// messages, stream reassembly, the streaming decoder), with seed corpora
// committed under testdata/fuzz. The package holds no library code; its
// tests run the seed corpora on every `go test ./...` and `make fuzz` runs
// each target for FUZZTIME. Nothing here is imported by the library.
package fuzz
