package storage

import (
	"context"
	"sync"
)

// Backend holds sealed objects by address. Implementations must be safe
// for concurrent use, must return an error matching ErrNotFound from Get
// for a missing address, and must make Put atomic: a concurrent or
// interrupted Put leaves either no object or the complete blob, never a
// partial one. Put and Get copy: Put must not retain blob after it
// returns, and Get returns a slice the caller owns (Retrieve decrypts in
// it). Store writes each address with identical bytes every time, so Put
// over an existing object may keep either copy.
type Backend interface {
	// Put stores blob at addr, replacing any object there.
	Put(ctx context.Context, addr Addr, blob []byte) error
	// Get returns the blob at addr, or an error matching ErrNotFound.
	Get(ctx context.Context, addr Addr) ([]byte, error)
	// Has reports whether an object is stored at addr.
	Has(ctx context.Context, addr Addr) (bool, error)
	// Delete removes the object at addr; a missing object is not an error.
	Delete(ctx context.Context, addr Addr) error
}

// MemoryBackend is a Backend in a map, for tests and caches. The zero
// value is ready to use; it is safe for concurrent use and copies blobs in
// and out. Its context arguments are ignored: no call blocks beyond a
// mutex.
type MemoryBackend struct {
	mu      sync.RWMutex
	objects map[Addr][]byte // protected by mu
}

var _ Backend = (*MemoryBackend)(nil)

// Put stores a copy of blob at addr.
func (m *MemoryBackend) Put(_ context.Context, addr Addr, blob []byte) error {
	c := append([]byte(nil), blob...)
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.objects == nil {
		m.objects = make(map[Addr][]byte)
	}
	m.objects[addr] = c
	return nil
}

// Get returns a copy of the blob at addr, or ErrNotFound.
func (m *MemoryBackend) Get(_ context.Context, addr Addr) ([]byte, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	b, ok := m.objects[addr]
	if !ok {
		return nil, ErrNotFound
	}
	return append([]byte(nil), b...), nil
}

// Has reports whether addr is stored.
func (m *MemoryBackend) Has(_ context.Context, addr Addr) (bool, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	_, ok := m.objects[addr]
	return ok, nil
}

// Delete removes addr; a missing address is not an error.
func (m *MemoryBackend) Delete(_ context.Context, addr Addr) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.objects, addr)
	return nil
}

// Len returns the number of stored objects.
func (m *MemoryBackend) Len() int {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return len(m.objects)
}
