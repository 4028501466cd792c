package storage_test

import (
	"path/filepath"
	"testing"

	"github.com/stt-go/stt/storage"
	"github.com/stt-go/stt/storage/storagetest"
)

// TestConformance runs the Backend conformance suite on the memory and
// disk backends (storage/s3store runs it on S3).
func TestConformance(t *testing.T) {
	t.Run("memory", func(t *testing.T) {
		storagetest.Run(t, func(*testing.T) storage.Backend { return &storage.MemoryBackend{} }, nil)
	})
	t.Run("disk", func(t *testing.T) {
		storagetest.Run(t, func(t *testing.T) storage.Backend {
			d, err := storage.NewDiskBackend(filepath.Join(t.TempDir(), "objects"))
			if err != nil {
				t.Fatal(err)
			}
			return d
		}, nil)
	})
}
