// Package fuzz collects STT's fuzz targets over exported APIs: one Fuzz*
// function for every parser and stateful decoder a peer can reach (wire
// codecs, handshake messages, the streaming decoder), with seed corpora
// committed under testdata/fuzz. Targets that need a package's unexported
// code, or an internal package's, stay beside it (FuzzSession in dataplane;
// FuzzController and FuzzRecoveryAck in dataplane/internal/recovery;
// FuzzReassembly and FuzzMessageHeader in dataplane/internal/streambuf;
// FuzzInitiatorAnswers, FuzzRecord, FuzzRetrieve, FuzzParseURL, cmd/stt's
// parsers); the Makefile's FUZZ_PKG_TARGETS lists them. The package holds no library code; its tests run the seed corpora
// on every `go test ./...` and `make fuzz` runs each target, here and in
// FUZZ_PKG_TARGETS, for FUZZTIME. Nothing here is imported by the library.
package fuzz
