// Package storage is STT's content-addressed encrypted store (the seed's
// BinaryStorage): the address of a blob is the SHA3-256 of its plaintext,
// each object is sealed at rest under a key derived from a master secret
// and its address, storing the same bytes twice stores them once (one
// Stat, then nothing), and Retrieve authenticates, decrypts and re-hashes
// before it returns anything, so a backend that corrupts or swaps objects
// yields ErrCorrupt, never wrong bytes. Objects live in a [Backend] —
// put-if-absent, get, stat, delete and list with pagination by address —
// and the package provides a local-disk one with atomic, durable writes
// ([DiskBackend]) and an in-memory one ([MemoryBackend]); sub-package
// s3store adds any S3-compatible object store (its client stays out of
// this package's import graph), and storagetest holds the conformance
// suite all three pass. It does not interpret the bytes, keep metadata,
// names or directories, stream objects larger than memory, or replicate;
// callers add those on top.
//
// Who uses it: applications that keep content by hash (stt store), and
// authors of other backends, who check theirs with storagetest.
//
// Stability: a building block with a stable API. Every object at rest
// starts with a format version byte (1, laid out at the top of store.go),
// so stored objects stay readable across releases.
//
// Concurrency: a Store and the provided backends are safe for concurrent
// use; concurrent stores of the same content are harmless (backends publish
// atomically and never replace an object, and every copy of an address is
// the same bytes).
//
// Allocation: Store and Retrieve allocate the sealed and opened copies of
// an object (one each) plus a small AEAD context.
//
// Ownership: Store and Retrieve never retain the caller's slices; Retrieve
// returns a slice the caller owns.
package storage
