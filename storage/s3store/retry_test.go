package s3store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stt-go/stt/storage"
)

// fakeS3 is an in-process RoundTripper that answers each S3 operation
// (named by opName) with the scripted statuses in turn, then success.
// Status 0 in a script means a network failure (connection refused).
type fakeS3 struct {
	mu     sync.Mutex
	script map[string][]int // protected by mu
	calls  map[string]int   // protected by mu
	body   string           // GET body on success
	short  int              // GET successes left that cut the body short
}

var errRefused = errors.New("dial tcp 127.0.0.1:1: connect: connection refused")

func (f *fakeS3) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Body != nil {
		io.Copy(io.Discard, req.Body)
		req.Body.Close()
	}
	op := opName(req)
	f.mu.Lock()
	f.calls[op]++
	status := http.StatusOK
	if s := f.script[op]; len(s) > 0 {
		status, f.script[op] = s[0], s[1:]
	}
	short := false
	if status == http.StatusOK && op == "GET" && f.short > 0 {
		f.short--
		short = true
	}
	f.mu.Unlock()
	if status == 0 {
		return nil, errRefused
	}
	h := http.Header{}
	h.Set("Last-Modified", time.Unix(0, 0).UTC().Format(http.TimeFormat))
	h.Set("ETag", `"0123456789abcdef0123456789abcdef"`)
	h.Set("Content-Type", "application/octet-stream")
	body := ""
	switch {
	case status != http.StatusOK:
		code := map[int]string{403: "AccessDenied", 404: "NoSuchKey", 412: "PreconditionFailed", 500: "InternalError", 503: "SlowDown"}[status]
		body = fmt.Sprintf("<Error><Code>%s</Code><Message>scripted %d</Message></Error>", code, status)
		h.Set("Content-Type", "application/xml")
		if req.Method == http.MethodHead {
			body = ""
		}
	case op == "GET" || op == http.MethodHead:
		body = f.body
	case op == "LIST":
		body = "<ListBucketResult><Name>bucket</Name><Prefix>p/</Prefix><KeyCount>0</KeyCount><MaxKeys>11</MaxKeys><IsTruncated>false</IsTruncated></ListBucketResult>"
	case op == "COMPLETE-MPU":
		body = "<CompleteMultipartUploadResult><Bucket>b</Bucket><Key>k</Key><ETag>\"e-2\"</ETag></CompleteMultipartUploadResult>"
	case op == "CREATE-MPU":
		body = "<InitiateMultipartUploadResult><Bucket>b</Bucket><Key>k</Key><UploadId>u1</UploadId></InitiateMultipartUploadResult>"
	}
	if status == http.StatusOK && (op == "DELETE" || op == "ABORT-MPU") {
		status = http.StatusNoContent
	}
	length := len(body)
	resp := &http.Response{
		StatusCode:    status,
		Status:        strconv.Itoa(status) + " " + http.StatusText(status),
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        h,
		ContentLength: int64(length),
		Request:       req,
	}
	if req.Method == http.MethodHead {
		resp.Body = http.NoBody
	} else if short {
		resp.Body = io.NopCloser(io.MultiReader(strings.NewReader(body[:len(body)/2]), errReader{io.ErrUnexpectedEOF}))
	} else {
		resp.Body = io.NopCloser(strings.NewReader(body))
	}
	h.Set("Content-Length", strconv.Itoa(length))
	return resp, nil
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

func (f *fakeS3) count(op string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[op]
}

func fakeBackend(t *testing.T, f *fakeS3, retries int) *Backend {
	t.Helper()
	if f.calls == nil {
		f.calls = map[string]int{}
	}
	b, err := New(&Options{
		Endpoint: "127.0.0.1:1", Insecure: true, PathStyle: true,
		Bucket: "bucket", Prefix: "p", AccessKey: "a", SecretKey: "s",
		Retries: retries, Transport: f, PartSize: MinPartSize,
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestRetryIdempotent scripts failures for idempotent requests and checks
// the attempts, the final error and the time spent waiting (under
// synctest's fake clock, so the bounds are exact and the test never
// sleeps). Our backoff waits are drawn from [d/2, d] for d = 50 ms,
// 100 ms, 200 ms, …; on top, minio-go waits up to its DefaultRetryUnit
// (200 ms, jittered from 0) after every attempt that failed in a way it
// considers retryable, even with its own retries off.
func TestRetryIdempotent(t *testing.T) {
	const clientWait = 200 * time.Millisecond
	tests := []struct {
		name     string
		op       string // the scripted operation
		script   []int
		retries  int
		call     func(*Backend) error
		attempts int
		wantErr  func(error) bool
		// bounds of our own backoff, and the number of failures after
		// which minio-go may wait too
		minWait, maxWait time.Duration
		failures         int
	}{
		{"HEAD recovers after two 503s", "HEAD", []int{503, 503}, 0, stat, 3, isNil, 75 * time.Millisecond, 150 * time.Millisecond, 2},
		{"HEAD recovers after a refused connection", "HEAD", []int{0}, 0, stat, 2, isNil, 25 * time.Millisecond, 50 * time.Millisecond, 1},
		{"HEAD gives up after the default 3 retries", "HEAD", []int{503, 503, 503, 503, 503}, 0, stat, 4, isUnavailable, 175 * time.Millisecond, 350 * time.Millisecond, 4},
		{"HEAD 404 is final", "HEAD", []int{404}, 0, stat, 1, isNotFoundErr, 0, 0, 0},
		{"HEAD 403 is final", "HEAD", []int{403}, 0, stat, 1, isPermanent, 0, 0, 0},
		{"no retries when Retries < 0", "HEAD", []int{503}, -1, stat, 1, isUnavailable, 0, 0, 1},
		{"GET recovers from 500", "GET", []int{500}, 0, get, 2, isNil, 25 * time.Millisecond, 50 * time.Millisecond, 1},
		{"DELETE recovers from a refused connection", "DELETE", []int{0, 0}, 0, del, 3, isNil, 75 * time.Millisecond, 150 * time.Millisecond, 2},
		{"LIST recovers from 503", "LIST", []int{503}, 0, list, 2, isNil, 25 * time.Millisecond, 50 * time.Millisecond, 1},
		{"conditional PUT recovers from 503", "PUT", []int{503}, 0, put(100), 2, isNil, 25 * time.Millisecond, 50 * time.Millisecond, 1},
		{"conditional PUT 412 is success, not retried", "PUT", []int{412}, 0, put(100), 1, isNil, 0, 0, 0},
		{"CreateMultipartUpload is sent once", "CREATE-MPU", []int{503}, 0, put(MinPartSize + 1), 1, isUnavailable, 0, 0, 1},
		{"CompleteMultipartUpload is sent once", "COMPLETE-MPU", []int{503}, 0, put(MinPartSize + 1), 1, isUnavailable, 0, 0, 1},
		{"UploadPart recovers from 503", "PUT-PART", []int{503}, 0, put(MinPartSize + 1), 3, isNil, 25 * time.Millisecond, 50 * time.Millisecond, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				f := &fakeS3{script: map[string][]int{tt.op: tt.script}, body: "0123456789"}
				b := fakeBackend(t, f, tt.retries)
				start := time.Now()
				err := tt.call(b)
				waited := time.Since(start)
				if !tt.wantErr(err) {
					t.Fatalf("error %v is not what the case wants", err)
				}
				if got := f.count(tt.op); got != tt.attempts {
					t.Fatalf("%s sent %d times, want %d", tt.op, got, tt.attempts)
				}
				maxWait := tt.maxWait + time.Duration(tt.failures)*clientWait
				if waited < tt.minWait || waited > maxWait {
					t.Fatalf("waited %v between attempts, want [%v, %v]", waited, tt.minWait, maxWait)
				}
			})
		})
	}
}

func stat(b *Backend) error {
	_, err := b.Stat(context.Background(), storage.Addr{1})
	return err
}

func get(b *Backend) error {
	blob, err := b.Get(context.Background(), storage.Addr{1})
	if err == nil && string(blob) != "0123456789" {
		return fmt.Errorf("Get returned %q", blob)
	}
	return err
}

func del(b *Backend) error { return b.Delete(context.Background(), storage.Addr{1}) }

func list(b *Backend) error {
	_, _, err := b.List(context.Background(), nil, 10)
	return err
}

func put(n int) func(*Backend) error {
	return func(b *Backend) error {
		_, err := b.Put(context.Background(), storage.Addr{1}, make([]byte, n))
		return err
	}
}

func isNil(err error) bool         { return err == nil }
func isUnavailable(err error) bool { return errors.Is(err, ErrUnavailable) }
func isNotFoundErr(err error) bool { return errors.Is(err, storage.ErrNotFound) }
func isPermanent(err error) bool {
	return err != nil && !errors.Is(err, ErrUnavailable) && strings.Contains(err.Error(), "AccessDenied")
}

// TestRetryShortBody cuts a GET body short of its Content-Length: the
// attempt fails and the retry returns the whole object.
func TestRetryShortBody(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &fakeS3{body: "0123456789", short: 1}
		b := fakeBackend(t, f, 0)
		if err := get(b); err != nil {
			t.Fatal(err)
		}
		if n := f.count("GET"); n != 2 {
			t.Fatalf("%d GETs, want 2", n)
		}
	})
}

// TestRetryCanceledDuringBackoff cancels the context while a retry
// waits: the call returns context.Canceled at once, without more
// attempts.
func TestRetryCanceledDuringBackoff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &fakeS3{script: map[string][]int{"HEAD": {503, 503, 503}}}
		b := fakeBackend(t, f, 10)
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(10*time.Millisecond, cancel)
		start := time.Now()
		_, err := b.Stat(ctx, storage.Addr{1})
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Stat = %v; want context.Canceled", err)
		}
		if d := time.Since(start); d > 10*time.Millisecond {
			t.Fatalf("returned after %v; want by the 10ms at which the context ended", d)
		}
		if n := f.count("HEAD"); n != 1 {
			t.Fatalf("%d HEADs, want 1", n)
		}
	})
}

// TestPlainHTTPEndpoint points an HTTPS client at a plain-HTTP server:
// one attempt, not ErrUnavailable, and a message that says what to fix.
func TestPlainHTTPEndpoint(t *testing.T) {
	var conns atomic.Int32
	srv := httptest.NewUnstartedServer(http.NotFoundHandler())
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()
	b, err := New(&Options{
		Endpoint: strings.TrimPrefix(srv.URL, "http://"), PathStyle: true,
		Bucket: "bucket", AccessKey: "a", SecretKey: "s",
	})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	_, err = b.Stat(context.Background(), storage.Addr{1})
	if err == nil || errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "endpoint=http://") {
		t.Fatalf("Stat over HTTPS against plain HTTP = %v; want a final error naming endpoint=http://", err)
	}
	if n := conns.Load(); n != 1 {
		t.Fatalf("%d connections; want 1 (a configuration error is not retried)", n)
	}
}
