package s3store

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/stt-go/stt/internal/s3test"
	"github.com/stt-go/stt/stc"
	"github.com/stt-go/stt/storage"
	"github.com/stt-go/stt/storage/storagetest"
)

var testMaster = stc.SecretFrom(&[32]byte{'s', '3', 't', 'e', 's', 't'})

func newStore(t testing.TB, b storage.Backend) *storage.Store {
	t.Helper()
	s, err := storage.New(b, testMaster, stc.SuiteAES256GCM, nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// countingTransport records every request (method and S3 operation) and
// the request body bytes actually sent, and lets a test hook a request
// before it goes out.
type countingTransport struct {
	base http.RoundTripper
	hook func(*http.Request) // may replace req.Body; nil: none

	mu   sync.Mutex
	ops  []string // protected by mu
	sent atomic.Int64
}

func newCountingTransport() *countingTransport {
	return &countingTransport{base: newTransport()}
}

func (c *countingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	c.mu.Lock()
	c.ops = append(c.ops, opName(req))
	c.mu.Unlock()
	if c.hook != nil {
		c.hook(req)
	}
	if req.Body != nil && req.Body != http.NoBody {
		req.Body = &countingBody{ReadCloser: req.Body, n: &c.sent}
	}
	return c.base.RoundTrip(req)
}

func (c *countingTransport) CloseIdleConnections() {
	c.base.(*http.Transport).CloseIdleConnections()
}

// reset returns the operations recorded so far and the bytes sent, and
// starts counting afresh.
func (c *countingTransport) reset() ([]string, int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ops := c.ops
	c.ops = nil
	return ops, c.sent.Swap(0)
}

// opName names an S3 request: HEAD, GET, DELETE, LIST, PUT, CREATE-MPU,
// PUT-PART, COMPLETE-MPU, ABORT-MPU, LIST-MPU.
func opName(req *http.Request) string {
	q := req.URL.Query()
	switch {
	case req.Method == http.MethodPost && q.Has("uploads"):
		return "CREATE-MPU"
	case req.Method == http.MethodPost && q.Has("uploadId"):
		return "COMPLETE-MPU"
	case req.Method == http.MethodPut && q.Has("partNumber"):
		return "PUT-PART"
	case req.Method == http.MethodDelete && q.Has("uploadId"):
		return "ABORT-MPU"
	case req.Method == http.MethodGet && q.Has("uploads"):
		return "LIST-MPU"
	case req.Method == http.MethodGet && q.Has("list-type"):
		return "LIST"
	}
	return req.Method
}

type countingBody struct {
	io.ReadCloser
	n *atomic.Int64
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.n.Add(int64(n))
	return n, err
}

func count(ops []string, op string) int {
	n := 0
	for _, o := range ops {
		if o == op {
			n++
		}
	}
	return n
}

// TestDedup64MiB stores the same 64 MiB twice through a Store on S3:
// the first Store uploads it (in parts), the second is a single HEAD
// that sends no body.
func TestDedup64MiB(t *testing.T) {
	srv := s3test.Start(t)
	ct := newCountingTransport()
	o := testOptions(t, srv)
	o.PartSize = 0 // the default, as a real deployment would use
	o.Transport = ct
	b := newBackend(t, o)
	s := newStore(t, b)
	ctx := context.Background()
	data := storagetest.Data(64<<20, 64)

	addr, err := s.Store(ctx, data)
	if err != nil {
		t.Fatal(err)
	}
	ops, sent := ct.reset()
	parts := (64<<20 + storage.Overhead + DefaultPartSize - 1) / DefaultPartSize
	if count(ops, "HEAD") != 1 || count(ops, "CREATE-MPU") != 1 || count(ops, "PUT-PART") != parts || count(ops, "COMPLETE-MPU") != 1 || len(ops) != 3+parts {
		t.Fatalf("first Store made requests %v; want HEAD, CREATE-MPU, %d PUT-PART, COMPLETE-MPU", ops, parts)
	}
	if lo, hi := int64(64<<20+storage.Overhead), int64(64<<20)*101/100; sent < lo || sent > hi {
		t.Fatalf("first Store sent %d body bytes; want the sealed object, %d, plus at most 1%% framing", sent, lo)
	}

	again, err := s.Store(ctx, data)
	if err != nil || again != addr {
		t.Fatalf("second Store = %x, %v", again[:4], err)
	}
	ops, sent = ct.reset()
	if len(ops) != 1 || ops[0] != "HEAD" || sent != 0 {
		t.Fatalf("second Store made requests %v and sent %d body bytes; want one HEAD and none", ops, sent)
	}

	got, err := s.Retrieve(ctx, addr)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("Retrieve: %d bytes, %v", len(got), err)
	}
}

// TestTamperOnServerDisk modifies the object file in the gateway's POSIX
// directory, behind S3's back, in several ways: Retrieve must answer
// ErrCorrupt and no bytes every time. It also checks that the file on the
// server holds no plaintext.
func TestTamperOnServerDisk(t *testing.T) {
	srv := s3test.Start(t)
	o := testOptions(t, srv)
	b := newBackend(t, o)
	s := newStore(t, b)
	ctx := context.Background()
	data := storagetest.Data(100_000, 5)
	other := storagetest.Data(100_000, 6)
	tests := []struct {
		name   string
		modify func(file, otherFile []byte) []byte
	}{
		{"flip a ciphertext bit", func(f, _ []byte) []byte { f[1000] ^= 0x04; return f }},
		{"flip a tag bit", func(f, _ []byte) []byte { f[len(f)-1] ^= 0x80; return f }},
		{"truncate", func(f, _ []byte) []byte { return f[:len(f)/2] }},
		{"other object's file", func(_, o []byte) []byte { return o }},
		{"empty", func([]byte, []byte) []byte { return nil }},
	}
	otherAddr, err := s.Store(ctx, other)
	if err != nil {
		t.Fatal(err)
	}
	otherFile, err := os.ReadFile(srv.ObjectPath(o.Bucket, b.Key(otherAddr)))
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr, err := s.Store(ctx, data)
			if err != nil {
				t.Fatal(err)
			}
			path := srv.ObjectPath(o.Bucket, b.Key(addr))
			file, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("object not at %s on the server's disk: %v", path, err)
			}
			if len(file) != len(data)+storage.Overhead || bytes.Contains(file, data[:64]) {
				t.Fatalf("server file: %d bytes (want %d), plaintext visible: %v", len(file), len(data)+storage.Overhead, bytes.Contains(file, data[:64]))
			}
			if err := os.WriteFile(path, tt.modify(file, bytes.Clone(otherFile)), 0o644); err != nil {
				t.Fatal(err)
			}
			got, err := s.Retrieve(ctx, addr)
			if !errors.Is(err, storage.ErrCorrupt) || got != nil {
				t.Fatalf("Retrieve of a tampered object = %d bytes, %v; want ErrCorrupt", len(got), err)
			}
			if err := s.Delete(ctx, addr); err != nil { // heal for the next case
				t.Fatal(err)
			}
		})
	}
}

// killAfter wraps the body of one request: once it has read n bytes it
// kills the server, mid-request.
type killAfter struct {
	io.ReadCloser
	n    int64
	kill func()
	once *sync.Once
}

func (k *killAfter) Read(p []byte) (int, error) {
	n, err := k.ReadCloser.Read(p)
	if k.n -= int64(n); k.n <= 0 {
		k.once.Do(k.kill)
	}
	return n, err
}

// TestKillServerMidUpload kills the S3 server (SIGKILL) while part 2 of a
// 3-part upload is on the wire. The Store must fail with a clear error
// naming the part and the leftover upload; after a restart no object is
// visible under the address (no GET, HEAD or LIST shows it), and
// AbortIncomplete removes the incomplete upload, after which the same
// Store succeeds.
func TestKillServerMidUpload(t *testing.T) {
	srv := s3test.Start(t)
	ct := newCountingTransport()
	var once sync.Once
	ct.hook = func(req *http.Request) {
		if opName(req) == "PUT-PART" && req.URL.Query().Get("partNumber") == "2" {
			req.Body = &killAfter{ReadCloser: req.Body, n: 1 << 20, kill: srv.Kill, once: &once}
		}
	}
	o := testOptions(t, srv)
	o.Transport = ct
	o.Concurrency = 1 // part 1 completes, part 2 is cut
	b := newBackend(t, o)
	s := newStore(t, b)
	ctx := context.Background()
	data := storagetest.Data(2*MinPartSize+1000, 9)

	addr, err := s.Store(ctx, data)
	if err == nil {
		t.Fatal("Store succeeded although the server was killed mid-upload")
	}
	t.Logf("Store error: %v", err)
	msg := err.Error()
	for _, want := range []string{"part 2 of 3", "server unavailable", "could not be aborted", "AbortIncomplete"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q does not mention %q", msg, want)
		}
	}
	if !errors.Is(err, ErrUnavailable) {
		t.Errorf("error does not match ErrUnavailable")
	}
	if strings.Contains(msg, "http://") {
		t.Errorf("error repeats the request URL: %q", msg)
	}

	srv.Restart(t)
	if _, err := b.Stat(ctx, addr); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("Stat after the crash = %v; want ErrNotFound", err)
	}
	if _, err := b.Get(ctx, addr); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("Get after the crash = %v; want ErrNotFound", err)
	}
	if addrs, more, err := b.List(ctx, nil, 0); err != nil || more || len(addrs) != 0 {
		t.Fatalf("List after the crash = %x, %v, %v; want nothing", addrs, more, err)
	}
	if n, err := b.AbortIncomplete(ctx, 0); err != nil || n != 1 {
		t.Fatalf("AbortIncomplete = %d, %v; want the 1 upload the crash left", n, err)
	}
	if n, err := b.AbortIncomplete(ctx, 0); err != nil || n != 0 {
		t.Fatalf("second AbortIncomplete = %d, %v; want 0", n, err)
	}
	if again, err := s.Store(ctx, data); err != nil || again != addr {
		t.Fatalf("Store after restart = %x, %v", again[:4], err)
	}
	if got, err := s.Retrieve(ctx, addr); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("Retrieve: %d bytes, %v", len(got), err)
	}
}

// TestCanceledMidUploadAborts cancels the caller's context while a part
// is on the wire: Put returns the context's error, and the upload is
// aborted all the same (nothing is left for AbortIncomplete).
func TestCanceledMidUploadAborts(t *testing.T) {
	srv := s3test.Start(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ct := newCountingTransport()
	var once sync.Once
	ct.hook = func(req *http.Request) {
		if opName(req) == "PUT-PART" && req.URL.Query().Get("partNumber") == "2" {
			req.Body = &killAfter{ReadCloser: req.Body, n: 1 << 20, kill: cancel, once: &once}
		}
	}
	o := testOptions(t, srv)
	o.Transport = ct
	o.Concurrency = 1
	b := newBackend(t, o)
	a := storage.Addr{1, 2, 3}
	stored, err := b.Put(ctx, a, storagetest.Data(2*MinPartSize+1, 10))
	if !errors.Is(err, context.Canceled) || stored {
		t.Fatalf("Put = %v, %v; want context.Canceled", stored, err)
	}
	ops, _ := ct.reset()
	if count(ops, "ABORT-MPU") != 1 {
		t.Fatalf("requests %v: want one ABORT-MPU", ops)
	}
	bg := context.Background()
	if _, err := b.Stat(bg, a); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("Stat = %v; want ErrNotFound", err)
	}
	if n, err := b.AbortIncomplete(bg, 0); err != nil || n != 0 {
		t.Fatalf("AbortIncomplete = %d, %v; want 0 (already aborted)", n, err)
	}
}

// TestMultipartPutIfAbsent races multipart Puts of different blobs to
// one address: exactly one is stored, the others' uploads are aborted.
func TestMultipartPutIfAbsent(t *testing.T) {
	srv := s3test.Start(t)
	b := newBackend(t, testOptions(t, srv))
	ctx := context.Background()
	a := storage.Addr{0xaa}
	blobs := [][]byte{storagetest.Data(MinPartSize+7, 1), storagetest.Data(MinPartSize+9, 2), storagetest.Data(MinPartSize+11, 3)}
	var winners atomic.Int32
	var won atomic.Int32
	var wg sync.WaitGroup
	for i, blob := range blobs {
		wg.Go(func() {
			stored, err := b.Put(ctx, a, blob)
			if err != nil {
				t.Errorf("Put %d: %v", i, err)
			}
			if stored {
				winners.Add(1)
				won.Store(int32(i))
			}
		})
	}
	wg.Wait()
	if winners.Load() != 1 {
		t.Fatalf("%d Puts stored; want 1", winners.Load())
	}
	got, err := b.Get(ctx, a)
	if err != nil || !bytes.Equal(got, blobs[won.Load()]) {
		t.Fatalf("Get = %d bytes, %v; want the winner's", len(got), err)
	}
	if stored, err := b.Put(ctx, a, blobs[0]); err != nil || stored {
		t.Fatalf("Put over an existing object = %v, %v", stored, err)
	}
	if n, err := b.AbortIncomplete(ctx, 0); err != nil || n != 0 {
		t.Fatalf("AbortIncomplete = %d, %v; want 0 (losers aborted)", n, err)
	}
}

// TestListSkipsForeignKeys puts keys under the prefix that are not
// addresses: List and All pass over them.
func TestListSkipsForeignKeys(t *testing.T) {
	srv := s3test.Start(t)
	o := testOptions(t, srv)
	b := newBackend(t, o)
	ctx := context.Background()
	for _, k := range []string{"objects/README", "objects/" + strings.Repeat("AB", 32), "objects/sub/" + strings.Repeat("ab", 32), "other/" + strings.Repeat("cd", 32)} {
		if _, err := b.core.PutObject(ctx, o.Bucket, k, strings.NewReader("x"), 1, "", "", minio.PutObjectOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	want := []storage.Addr{{0x01}, {0xab}, {0xfe}}
	for _, a := range want {
		if _, err := b.Put(ctx, a, []byte("y")); err != nil {
			t.Fatal(err)
		}
	}
	for _, limit := range []int{1, 2, 3, 0} {
		var got []storage.Addr
		var after *storage.Addr
		for {
			page, more, err := b.List(ctx, after, limit)
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, page...)
			if !more {
				break
			}
			after = &page[len(page)-1]
		}
		if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] || got[2] != want[2] {
			t.Fatalf("limit %d: List = %x; want %x", limit, got, want)
		}
	}
}

// TestGetTooLarge checks that Get refuses an object over MaxObjectSize
// before reading it, and that Put refuses to write one.
func TestGetTooLarge(t *testing.T) {
	srv := s3test.Start(t)
	o := testOptions(t, srv)
	big := newBackend(t, o)
	small := *o
	small.MaxObjectSize = 1000
	sb := newBackend(t, &small)
	ctx := context.Background()
	a := storage.Addr{7}
	if _, err := big.Put(ctx, a, make([]byte, 1001)); err != nil {
		t.Fatal(err)
	}
	if got, err := sb.Get(ctx, a); !errors.Is(err, storage.ErrTooLarge) || got != nil {
		t.Fatalf("Get = %d bytes, %v; want ErrTooLarge", len(got), err)
	}
	if _, err := sb.Put(ctx, storage.Addr{8}, make([]byte, 1001)); !errors.Is(err, storage.ErrTooLarge) {
		t.Fatalf("Put = %v; want ErrTooLarge", err)
	}
}

// TestServerDown checks the error when nothing listens: ErrUnavailable,
// after the retries, within the backoff budget.
func TestServerDown(t *testing.T) {
	srv := s3test.Start(t)
	o := testOptions(t, srv)
	b := newBackend(t, o)
	srv.Kill()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, err := newStore(t, b).Store(ctx, []byte("nobody home"))
	if !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "connection refused") {
		t.Fatalf("Store with the server down = %v; want ErrUnavailable (connection refused)", err)
	}
}
