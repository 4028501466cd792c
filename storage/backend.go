package storage

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"iter"
	"slices"
	"sync"
)

// Backend holds sealed objects by address. It is the seam between a Store
// and where the bytes live (a directory, memory, an S3 bucket); the
// conformance suite in package storagetest checks every implementation
// against this contract.
//
// Implementations must be safe for concurrent use and must:
//   - make Put atomic and put-if-absent: a concurrent or interrupted Put
//     leaves either no object or one complete blob, never a partial one,
//     and never replaces an object already at the address (objects are
//     immutable; Store writes each address with identical bytes anyway);
//   - return an error matching ErrNotFound from Get and Stat for a
//     missing address, and treat Delete of a missing address as success;
//   - list addresses in ascending byte order (the order of their hex
//     names), each exactly once, with pagination by address;
//   - copy: Put must not retain blob after it returns, and Get returns a
//     slice the caller owns (Retrieve decrypts in it);
//   - honour ctx: a call made with a done context returns its error
//     without touching the store.
type Backend interface {
	// Put stores blob at addr unless an object is already there. It
	// reports whether this call stored it: false, with a nil error, means
	// an object was already at addr and has been left untouched.
	Put(ctx context.Context, addr Addr, blob []byte) (stored bool, err error)
	// Get returns the blob at addr, or an error matching ErrNotFound.
	Get(ctx context.Context, addr Addr) ([]byte, error)
	// Stat returns the object's metadata, or an error matching
	// ErrNotFound. It does not read the object's bytes.
	Stat(ctx context.Context, addr Addr) (Info, error)
	// Delete removes the object at addr; a missing object is not an error.
	Delete(ctx context.Context, addr Addr) error
	// List returns, in ascending order, up to limit addresses greater than
	// *after (from the first address when after is nil), and whether more
	// addresses follow the last one returned. It returns fewer than limit
	// addresses only when more is false. limit ≤ 0 means DefaultListLimit.
	// To continue, pass the last address returned as after.
	List(ctx context.Context, after *Addr, limit int) (addrs []Addr, more bool, err error)
}

// Info describes a stored object as its backend sees it.
type Info struct {
	// Size is the object's size at rest in bytes: the sealed blob, which
	// is Overhead bytes longer than the plaintext.
	Size int64
}

// DefaultListLimit is the page size List uses for a limit ≤ 0: the
// largest page S3's ListObjectsV2 returns in one response.
const DefaultListLimit = 1000

// All iterates over every address in b in ascending order, fetching pages
// of pageSize (≤ 0 means DefaultListLimit). It stops at the first error,
// which it yields with a zero address. Addresses stored or deleted while it
// runs may or may not be seen; each address is yielded at most once.
func All(ctx context.Context, b Backend, pageSize int) iter.Seq2[Addr, error] {
	return func(yield func(Addr, error) bool) {
		var after *Addr
		for {
			page, more, err := b.List(ctx, after, pageSize)
			if err == nil {
				err = checkPage(after, page)
			}
			if err != nil {
				yield(Addr{}, err)
				return
			}
			for _, a := range page {
				if !yield(a, nil) {
					return
				}
			}
			if !more || len(page) == 0 {
				return
			}
			last := page[len(page)-1]
			after = &last
		}
	}
}

// errListOrder is returned by checkPage when a backend breaks the List
// contract; it marks a bug in the backend, not in the caller.
var errListOrder = errors.New("storage: BUG: backend listed addresses out of order")

// checkPage verifies that a List page is strictly ascending and after
// *after, so a misbehaving backend cannot make callers loop forever.
func checkPage(after *Addr, page []Addr) error {
	prev := after
	for i := range page {
		if prev != nil && bytes.Compare(prev[:], page[i][:]) >= 0 {
			return fmt.Errorf("%w: %x after %x", errListOrder, page[i][:8], prev[:8])
		}
		prev = &page[i]
	}
	return nil
}

// MemoryBackend is a Backend in a map, for tests and caches. The zero
// value is ready to use; it is safe for concurrent use and copies blobs in
// and out. Its calls never block beyond a mutex; each checks ctx first.
// List sorts the addresses on every call (O(n log n)), which suits the
// small stores it is meant for.
type MemoryBackend struct {
	mu      sync.RWMutex
	objects map[Addr][]byte // protected by mu
}

var _ Backend = (*MemoryBackend)(nil)

// Put stores a copy of blob at addr unless addr is already stored.
func (m *MemoryBackend) Put(ctx context.Context, addr Addr, blob []byte) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	c := append([]byte(nil), blob...)
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.objects[addr]; ok {
		return false, nil
	}
	if m.objects == nil {
		m.objects = make(map[Addr][]byte)
	}
	m.objects[addr] = c
	return true, nil
}

// Get returns a copy of the blob at addr, or ErrNotFound.
func (m *MemoryBackend) Get(ctx context.Context, addr Addr) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	b, ok := m.objects[addr]
	if !ok {
		return nil, ErrNotFound
	}
	return append([]byte(nil), b...), nil
}

// Stat returns the size of the blob at addr, or ErrNotFound.
func (m *MemoryBackend) Stat(ctx context.Context, addr Addr) (Info, error) {
	if err := ctx.Err(); err != nil {
		return Info{}, err
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	b, ok := m.objects[addr]
	if !ok {
		return Info{}, ErrNotFound
	}
	return Info{Size: int64(len(b))}, nil
}

// Delete removes addr; a missing address is not an error.
func (m *MemoryBackend) Delete(ctx context.Context, addr Addr) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.objects, addr)
	return nil
}

// List returns up to limit stored addresses after *after, ascending.
func (m *MemoryBackend) List(ctx context.Context, after *Addr, limit int) ([]Addr, bool, error) {
	if err := ctx.Err(); err != nil {
		return nil, false, err
	}
	if limit <= 0 {
		limit = DefaultListLimit
	}
	m.mu.RLock()
	all := make([]Addr, 0, len(m.objects))
	for a := range m.objects {
		if after == nil || bytes.Compare(a[:], after[:]) > 0 {
			all = append(all, a)
		}
	}
	m.mu.RUnlock()
	slices.SortFunc(all, func(a, b Addr) int { return bytes.Compare(a[:], b[:]) })
	if len(all) > limit {
		return all[:limit:limit], true, nil
	}
	return all, false, nil
}

// Len returns the number of stored objects.
func (m *MemoryBackend) Len() int {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return len(m.objects)
}
