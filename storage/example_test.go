package storage_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/stt-go/stt/stc"
	"github.com/stt-go/stt/storage"
)

// Example stores a blob, stores it again (deduplicated: same address, no
// second object), reads it back, and shows what a backend that corrupts an
// object yields: ErrCorrupt, never wrong bytes.
func Example() {
	ctx := context.Background()
	var master [32]byte
	copy(master[:], "an example master secret, 32 B!")
	backend := &storage.MemoryBackend{}
	store, err := storage.New(backend, stc.SecretFrom(&master), stc.SuiteChaCha20Poly1305, nil)
	if err != nil {
		fmt.Println(err)
		return
	}

	addr, _ := store.Store(ctx, []byte("segment 1 of a live broadcast"))
	again, _ := store.Store(ctx, []byte("segment 1 of a live broadcast"))
	fmt.Println("same address:", addr == again)
	var n int
	for _, err := range storage.All(ctx, backend, 0) {
		if err == nil {
			n++
		}
	}
	fmt.Println("objects in the backend:", n)

	data, _ := store.Retrieve(ctx, addr)
	fmt.Printf("retrieved: %s\n", data)

	// Flip a byte of the stored object behind the Store's back.
	obj, _ := backend.Get(ctx, addr)
	obj[len(obj)-1] ^= 1
	_ = backend.Delete(ctx, addr)
	_, _ = backend.Put(ctx, addr, obj)
	_, err = store.Retrieve(ctx, addr)
	fmt.Println("corrupt object:", errors.Is(err, storage.ErrCorrupt))
	// Output:
	// same address: true
	// objects in the backend: 1
	// retrieved: segment 1 of a live broadcast
	// corrupt object: true
}
