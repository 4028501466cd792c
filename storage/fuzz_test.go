package storage

import (
	"context"
	"errors"
	"testing"

	"github.com/stt-go/stt/stc"
)

// FuzzRetrieve hands Retrieve arbitrary bytes as the stored object, as a
// hostile or broken backend (an S3 server, a shared disk) could: it must
// return ErrCorrupt or ErrTooLarge and nothing else, never panic, and
// return data only if it is exactly the content the address names.
func FuzzRetrieve(f *testing.F) {
	ctx := context.Background()
	content := []byte("the one true content")
	addr := stc.Hash(content)
	for _, suite := range []stc.Suite{stc.SuiteAES256GCM, stc.SuiteChaCha20Poly1305, stc.SuiteAES128GCM} {
		b := &MemoryBackend{}
		if _, err := newStore(f, b, suite).Store(ctx, content); err != nil {
			f.Fatal(err)
		}
		blob, err := b.Get(ctx, addr)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(blob)
		f.Add(blob[:len(blob)-1])
		f.Add(blob[:headerLen])
	}
	f.Add([]byte{})
	f.Add([]byte{formatVersion, 0xff})
	f.Add(make([]byte, 4096))
	f.Fuzz(func(t *testing.T, blob []byte) {
		b := &MemoryBackend{}
		s, err := New(b, testMaster, stc.SuiteAES256GCM, &Options{MaxSize: 1 << 12})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := b.Put(ctx, addr, blob); err != nil {
			t.Fatal(err)
		}
		got, err := s.Retrieve(ctx, addr)
		switch {
		case err == nil:
			if string(got) != string(content) {
				t.Fatalf("Retrieve returned %q, not the addressed content", got)
			}
		case errors.Is(err, ErrCorrupt), errors.Is(err, ErrTooLarge):
			if got != nil {
				t.Fatalf("Retrieve returned bytes with %v", err)
			}
		default:
			t.Fatalf("Retrieve = %v; want ErrCorrupt or ErrTooLarge", err)
		}
	})
}
