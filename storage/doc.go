// Package storage is STT's content-addressed encrypted store (the seed's
// BinaryStorage): the address of a blob is the SHA3-256 of its plaintext,
// each object is sealed at rest under a key derived from a master secret
// and its address, storing the same bytes twice stores them once, and
// Retrieve authenticates, decrypts and re-hashes before it returns
// anything. Objects live in a [Backend]: a local-disk one with atomic
// writes ([DiskBackend]), an in-memory one ([MemoryBackend]), or the
// caller's. It does not interpret the bytes, keep metadata, names or
// directories, stream objects larger than memory, or replicate; callers
// add those on top. Allocation: Store and Retrieve allocate the sealed and
// opened copies of an object (one each) plus a small AEAD context; they
// never retain the caller's slices. Concurrency: a Store and the provided
// backends are safe for concurrent use; concurrent stores of the same
// content are harmless (both write identical bytes, the rename is atomic).
package storage
