package s3store

import (
	"testing"

	"github.com/stt-go/stt/internal/s3test"
	"github.com/stt-go/stt/storage"
	"github.com/stt-go/stt/storage/storagetest"
)

// TestConformance runs the Backend conformance suite, the table the disk
// and memory backends pass, against a real S3 server on loopback, each
// case in a fresh bucket. The large case (11 MiB in 5 MiB parts) and the
// Store round trip go through multipart upload.
func TestConformance(t *testing.T) {
	srv := s3test.Start(t)
	storagetest.Run(t, func(t *testing.T) storage.Backend {
		return newBackend(t, testOptions(t, srv))
	}, &storagetest.Options{LargeSize: 2*MinPartSize + 1<<20})
}
