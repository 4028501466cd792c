package storage

import "errors"

// Errors returned by Store, Retrieve and the backends, checked with
// errors.Is. Most are wrapped with the address or sizes involved.
var (
	// ErrNotFound is returned by Retrieve, Stat, Backend.Get and
	// Backend.Stat when no object has the address. Backends must return it
	// (wrapped or not) for a missing object.
	ErrNotFound = errors.New("storage: object not found")

	// ErrCorrupt is returned by Retrieve when a stored object cannot be
	// trusted: too short, an unknown format version or suite, a failed
	// authentication (tampered, truncated, or moved from another address),
	// or plaintext whose hash differs from the address. The object should
	// be deleted and stored again from a good copy.
	ErrCorrupt = errors.New("storage: object corrupt")

	// ErrTooLarge is returned by Store when the data exceeds
	// Options.MaxSize, and by Retrieve for a stored object larger than
	// MaxSize allows. Nothing is written.
	ErrTooLarge = errors.New("storage: object too large")

	// ErrInvalidOptions is returned by New and NewDiskBackend, wrapped with
	// the field's name, for a missing backend, an invalid suite, a negative
	// size limit or an empty directory. It is a programming error.
	ErrInvalidOptions = errors.New("storage: invalid options")
)
