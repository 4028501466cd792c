package s3store

import (
	"fmt"
	"sync/atomic"
	"testing"

	"go.uber.org/goleak"

	"github.com/stt-go/stt/internal/s3test"
)

// TestMain fails the package if a test leaves a goroutine running (the
// gateway's waiter, a part upload, an idle HTTP connection).
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var bucketSeq atomic.Int64

// testOptions returns Options for a new bucket on srv, with the test
// credentials and the smallest part size S3 allows, so multipart uploads
// stay small.
func testOptions(t testing.TB, srv *s3test.Server) *Options {
	t.Helper()
	return &Options{
		Endpoint:  srv.Endpoint,
		Insecure:  true,
		PathStyle: true,
		Bucket:    srv.Bucket(t, fmt.Sprintf("stt-%d", bucketSeq.Add(1))),
		Prefix:    "objects",
		AccessKey: s3test.AccessKey,
		SecretKey: s3test.SecretKey,
		Region:    s3test.Region,
		PartSize:  MinPartSize,
	}
}

// newBackend returns a Backend for o, closed in t's cleanup.
func newBackend(t testing.TB, o *Options) *Backend {
	t.Helper()
	b, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}
