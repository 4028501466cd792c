package storage

import (
	"context"
	"errors"
	"fmt"

	"github.com/stt-go/stt/stc"
)

// Addr is a content address: the SHA3-256 of an object's plaintext
// (stc.Hash). It is comparable and works as a map key.
type Addr = [stc.HashLen]byte

// Object format at rest (version 1):
//
//	offset  size  field
//	0       1     version (1)
//	1       1     suite code (stc.Suite: 1 AES-256-GCM, 2 ChaCha20-Poly1305, 3 AES-128-GCM)
//	2       n     AEAD ciphertext of the n plaintext bytes
//	2+n     16    AEAD tag (stc.Overhead)
//
// Keys and nonces are derived, never stored: the object secret is
// HKDF-Expand(master, "stt/1 stt storage object" ‖ version ‖ suite ‖
// address, 32), which feeds stc.NewStreamContext(suite, secret, 0, 0), and
// the object is sealed as that context's segment 0 (so the nonce is the
// context's IV and the AAD is zero IDs and seq 0). Binding version, suite
// and address into the key means a changed header byte, or a valid object
// copied under another address, fails authentication. Each key seals
// exactly one plaintext (the one whose hash is the address), so sealing
// again, as concurrent or repeated stores do, reproduces the same bytes
// and never reuses a nonce on a different message.
const (
	formatVersion = 1
	headerLen     = 2
	// objectLabel is the HKDF label of per-object secrets (stc adds the
	// "stt/1 " prefix).
	objectLabel = "stt storage object"
)

// Overhead is the number of bytes an object grows by at rest: the 2-byte
// header and the AEAD tag.
const Overhead = headerLen + stc.Overhead

// DefaultMaxSize is the default Options.MaxSize: 64 MiB, a size that
// still fits comfortably in memory twice (sealed and opened copies),
// since objects are handled whole.
const DefaultMaxSize = 64 << 20

// Options configures a Store. A nil *Options means the defaults; New
// copies the struct.
type Options struct {
	// MaxSize is the largest plaintext, in bytes, Store accepts and
	// Retrieve will open. Zero means DefaultMaxSize; negative is rejected
	// with ErrInvalidOptions.
	MaxSize int64
}

// Store is a content-addressed, encrypted, deduplicated object store on a
// Backend. It is safe for concurrent use.
type Store struct {
	b       Backend
	master  stc.Secret
	suite   stc.Suite
	maxSize int64
}

// New returns a Store on b that seals new objects with suite under keys
// derived from master (copied; the caller may wipe its copy). Objects
// written under another suite remain readable, as the suite is recorded
// in each object. A nil backend, an invalid suite or a negative MaxSize
// returns an error wrapping ErrInvalidOptions.
func New(b Backend, master stc.Secret, suite stc.Suite, opts *Options) (*Store, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	switch {
	case b == nil:
		return nil, fmt.Errorf("%w: backend is nil", ErrInvalidOptions)
	case !suite.Valid():
		return nil, fmt.Errorf("%w: suite %v", ErrInvalidOptions, suite)
	case o.MaxSize < 0:
		return nil, fmt.Errorf("%w: Options.MaxSize %d is negative", ErrInvalidOptions, o.MaxSize)
	}
	if o.MaxSize == 0 {
		o.MaxSize = DefaultMaxSize
	}
	return &Store{b: b, master: master, suite: suite, maxSize: o.MaxSize}, nil
}

// context returns the AEAD context of the object at addr under suite.
func (s *Store) context(addr *Addr, version byte, suite stc.Suite) (*stc.StreamContext, error) {
	var label [len(objectLabel) + headerLen + stc.HashLen]byte
	n := copy(label[:], objectLabel)
	label[n], label[n+1] = version, byte(suite)
	copy(label[n+headerLen:], addr[:])
	var b [32]byte
	stc.ExpandInto(b[:], s.master, string(label[:]))
	secret := stc.SecretFrom(&b)
	sc, err := stc.NewStreamContext(suite, secret, 0, 0)
	secret.Wipe()
	return sc, err
}

// Store saves data and returns its address, stc.Hash(data). If the
// backend already holds that address nothing is sealed or written
// (deduplication: one Stat, which on S3 is one HEAD request; Store does
// not check the existing copy, Retrieve does). It does not retain data.
// Errors: ErrTooLarge, ctx's error, or the backend's error.
func (s *Store) Store(ctx context.Context, data []byte) (Addr, error) {
	addr := stc.Hash(data)
	if int64(len(data)) > s.maxSize {
		return addr, fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge, len(data), s.maxSize)
	}
	if err := ctx.Err(); err != nil {
		return addr, err
	}
	switch _, err := s.b.Stat(ctx, addr); {
	case err == nil:
		return addr, nil
	case !errors.Is(err, ErrNotFound):
		return addr, fmt.Errorf("storage: stat %x: %w", addr[:8], err)
	}
	sc, err := s.context(&addr, formatVersion, s.suite)
	if err != nil {
		return addr, err
	}
	blob := make([]byte, headerLen, headerLen+len(data)+stc.Overhead)
	blob[0], blob[1] = formatVersion, byte(s.suite)
	blob = sc.Seal(blob, 0, data)
	if _, err := s.b.Put(ctx, addr, blob); err != nil {
		return addr, fmt.Errorf("storage: put %x: %w", addr[:8], err)
	}
	return addr, nil
}

// Retrieve returns the plaintext stored at addr, in a new slice the
// caller owns, after checking that it authenticates under addr's key and
// hashes to addr. Errors: ErrNotFound, ErrCorrupt (tampered, truncated,
// misplaced or unreadable object), ErrTooLarge, ctx's error, or the
// backend's error.
func (s *Store) Retrieve(ctx context.Context, addr Addr) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	blob, err := s.b.Get(ctx, addr)
	if err != nil {
		return nil, fmt.Errorf("storage: get %x: %w", addr[:8], err)
	}
	if len(blob) < Overhead {
		return nil, fmt.Errorf("%w: %x: %d bytes, shorter than the %d-byte overhead", ErrCorrupt, addr[:8], len(blob), Overhead)
	}
	if n := int64(len(blob) - Overhead); n > s.maxSize {
		return nil, fmt.Errorf("%w: %x holds %d bytes, limit %d", ErrTooLarge, addr[:8], n, s.maxSize)
	}
	version, suite := blob[0], stc.Suite(blob[1])
	if version != formatVersion || !suite.Valid() {
		return nil, fmt.Errorf("%w: %x: format version %d, suite %d", ErrCorrupt, addr[:8], version, blob[1])
	}
	sc, err := s.context(&addr, version, suite)
	if err != nil {
		return nil, err
	}
	// Open in place: the plaintext overwrites the ciphertext in blob,
	// which this call owns.
	ct := blob[headerLen:]
	data, err := sc.Open(ct[:0], 0, ct)
	if err != nil {
		return nil, fmt.Errorf("%w: %x: %w", ErrCorrupt, addr[:8], err)
	}
	if stc.Hash(data) != addr {
		clear(data)
		return nil, fmt.Errorf("%w: %x: content hash differs from address", ErrCorrupt, addr[:8])
	}
	return data, nil
}

// Has reports whether the backend holds an object at addr, without
// reading or checking it.
func (s *Store) Has(ctx context.Context, addr Addr) (bool, error) {
	_, err := s.b.Stat(ctx, addr)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, ErrNotFound):
		return false, nil
	}
	return false, err
}

// Stat returns the plaintext size of the object at addr, from the
// backend's metadata alone: it neither reads nor checks the object, so a
// later Retrieve may still find it corrupt. Errors: ErrNotFound,
// ErrCorrupt (stored size shorter than Overhead), ctx's error, or the
// backend's error.
func (s *Store) Stat(ctx context.Context, addr Addr) (int64, error) {
	info, err := s.b.Stat(ctx, addr)
	if err != nil {
		return 0, fmt.Errorf("storage: stat %x: %w", addr[:8], err)
	}
	if info.Size < Overhead {
		return 0, fmt.Errorf("%w: %x: %d bytes, shorter than the %d-byte overhead", ErrCorrupt, addr[:8], info.Size, Overhead)
	}
	return info.Size - Overhead, nil
}

// List returns up to limit stored addresses greater than *after (nil:
// from the first), ascending, and whether more follow; see Backend.List.
// Use All to iterate over every address.
func (s *Store) List(ctx context.Context, after *Addr, limit int) ([]Addr, bool, error) {
	addrs, more, err := s.b.List(ctx, after, limit)
	if err == nil {
		err = checkPage(after, addrs)
	}
	if err != nil {
		return nil, false, fmt.Errorf("storage: list: %w", err)
	}
	return addrs, more, nil
}

// Delete removes the object at addr. Deleting a missing object is not an
// error. Because objects are deduplicated, every Store of the same bytes
// shares the one copy Delete removes.
func (s *Store) Delete(ctx context.Context, addr Addr) error {
	return s.b.Delete(ctx, addr)
}
