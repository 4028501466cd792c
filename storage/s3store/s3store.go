package s3store

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/minio/minio-go/v7/pkg/s3utils"

	"github.com/stt-go/stt/storage"
)

// Defaults and limits of Options.
const (
	// DefaultPartSize is the default Options.PartSize: 16 MiB parts put a
	// DefaultMaxSize (64 MiB) object up in four parallel requests, and
	// keep each retry of a failed part small.
	DefaultPartSize = 16 << 20
	// MinPartSize is S3's smallest part but the last (5 MiB, AWS S3
	// multipart limits); servers reject smaller ones.
	MinPartSize = 5 << 20
	// MaxPartSize is S3's largest part (5 GiB).
	MaxPartSize = 5 << 30
	// DefaultConcurrency is the default Options.Concurrency: parallel part
	// uploads per Put.
	DefaultConcurrency = 4
	// DefaultRetries is the default Options.Retries: extra attempts for an
	// idempotent request that failed on the network or with a 5xx/429.
	DefaultRetries = 3
	// DefaultRegion is used when neither Options.Region nor the
	// environment names one; S3-compatible servers generally accept it.
	DefaultRegion = "us-east-1"

	// dialTimeout and responseHeaderTimeout bound a request whose caller
	// gave no deadline: connecting, and waiting for the server to start
	// answering once the body is sent (CompleteMultipartUpload of a large
	// object is the slowest S3 call; AWS answers it with headers at once
	// and keeps the body alive, so a minute is generous).
	dialTimeout           = 10 * time.Second
	responseHeaderTimeout = time.Minute
	// abortTimeout bounds aborting a failed multipart upload, which runs
	// even when the caller's context is done.
	abortTimeout = 30 * time.Second
)

// Environment variables read by New when the matching Options field is
// empty: the AWS SDKs' standard names.
const (
	EnvAccessKey     = "AWS_ACCESS_KEY_ID"
	EnvSecretKey     = "AWS_SECRET_ACCESS_KEY"
	EnvSessionToken  = "AWS_SESSION_TOKEN"
	EnvRegion        = "AWS_REGION"
	EnvDefaultRegion = "AWS_DEFAULT_REGION"
)

// Options configures a Backend. Endpoint and Bucket are required; New
// copies the struct.
type Options struct {
	// Endpoint is the server's host or host:port, without a scheme (for
	// example "s3.eu-west-1.amazonaws.com" or "127.0.0.1:7070").
	// Required.
	Endpoint string
	// Insecure selects plain HTTP instead of HTTPS. Objects are sealed
	// either way and requests are signed, but over HTTP the access key ID
	// and the request pattern are visible: meant for loopback and tests.
	Insecure bool
	// PathStyle puts the bucket in the URL path instead of the host name,
	// as most self-hosted servers need. False lets the client choose
	// (virtual-host style for AWS, path style for IP addresses).
	PathStyle bool
	// Bucket holds the objects; it must exist. Required.
	Bucket string
	// Prefix is prepended to every object key; a "/" is added if it is
	// not empty and lacks one. Empty means the bucket's top level.
	Prefix string
	// Region signs requests; empty means $AWS_REGION, then
	// $AWS_DEFAULT_REGION, then DefaultRegion.
	Region string
	// AccessKey, SecretKey and SessionToken are the credentials; when
	// AccessKey is empty all three come from $AWS_ACCESS_KEY_ID,
	// $AWS_SECRET_ACCESS_KEY and $AWS_SESSION_TOKEN. No credentials at
	// all is an error (anonymous access is not supported).
	AccessKey, SecretKey, SessionToken string
	// PartSize is the multipart part size in bytes: larger objects are
	// uploaded in parts of this size. Zero means DefaultPartSize; values
	// outside [MinPartSize, MaxPartSize] are rejected.
	PartSize int64
	// Concurrency is the number of parts one Put uploads at once. Zero
	// means DefaultConcurrency; negative is rejected.
	Concurrency int
	// Retries is the number of extra attempts for an idempotent request
	// that failed on the network or with a server error (5xx, 429,
	// SlowDown), with exponential backoff from 50 ms. Zero means
	// DefaultRetries; negative means none.
	Retries int
	// MaxObjectSize bounds, in bytes, what Get reads and Put writes, so a
	// broken server cannot make Get allocate without limit. Zero means
	// storage.DefaultMaxSize + storage.Overhead (the largest object a
	// Store with default options writes); negative is rejected.
	MaxObjectSize int64
	// Transport carries the requests; nil means an http.Transport with
	// dial and response-header timeouts, proxies from the environment,
	// and no transparent compression. Close closes its idle connections
	// if it has a CloseIdleConnections method.
	Transport http.RoundTripper
}

// Backend is a storage.Backend in an S3 bucket. It is safe for concurrent
// use. A call made with a done context returns the context's error as it
// is; every other error is an *OpError, matching storage.ErrNotFound for
// a missing object, storage.ErrTooLarge for an object over MaxObjectSize,
// ErrUnavailable when the server could not be reached or kept failing, or
// carrying the server's S3 error message.
type Backend struct {
	core        minio.Core
	bucket      string
	prefix      string
	region      string
	partSize    int64
	concurrency int
	retries     int
	maxObject   int64
	transport   http.RoundTripper
}

var _ storage.Backend = (*Backend)(nil)

// ErrUnavailable wraps failures to reach the server or get a non-error
// answer from it after the retries: connection refused or reset, a
// timeout, a 5xx. Check it with errors.Is; retrying later may succeed.
var ErrUnavailable = errors.New("S3 server unavailable")

// New returns a Backend for opts. It checks the options but does not
// contact the server. A missing or invalid field, or missing credentials,
// returns an error wrapping storage.ErrInvalidOptions that names the
// field.
func New(opts *Options) (*Backend, error) {
	if opts == nil {
		return nil, fmt.Errorf("%w: s3store.Options is nil (Endpoint and Bucket are required)", storage.ErrInvalidOptions)
	}
	o := *opts
	invalid := func(format string, args ...any) error {
		return fmt.Errorf("%w: s3store.Options.%s", storage.ErrInvalidOptions, fmt.Sprintf(format, args...))
	}
	switch {
	case o.Endpoint == "":
		return nil, invalid("Endpoint is empty")
	case strings.Contains(o.Endpoint, "://"):
		return nil, invalid("Endpoint %q has a scheme: give host[:port], and Insecure for http", o.Endpoint)
	case o.Bucket == "":
		return nil, invalid("Bucket is empty")
	case strings.HasPrefix(o.Prefix, "/"):
		return nil, invalid("Prefix %q starts with /", o.Prefix)
	case o.PartSize != 0 && (o.PartSize < MinPartSize || o.PartSize > MaxPartSize):
		return nil, invalid("PartSize %d is outside [%d, %d]", o.PartSize, MinPartSize, MaxPartSize)
	case o.Concurrency < 0:
		return nil, invalid("Concurrency %d is negative", o.Concurrency)
	case o.MaxObjectSize < 0:
		return nil, invalid("MaxObjectSize %d is negative", o.MaxObjectSize)
	}
	if err := s3utils.CheckValidBucketNameStrict(o.Bucket); err != nil {
		return nil, invalid("Bucket %q: %v", o.Bucket, err)
	}
	if o.Prefix != "" && !strings.HasSuffix(o.Prefix, "/") {
		o.Prefix += "/"
	}
	if err := s3utils.CheckValidObjectNamePrefix(o.Prefix); o.Prefix != "" && err != nil {
		return nil, invalid("Prefix %q: %v", o.Prefix, err)
	}
	if o.PartSize == 0 {
		o.PartSize = DefaultPartSize
	}
	if o.Concurrency == 0 {
		o.Concurrency = DefaultConcurrency
	}
	switch {
	case o.Retries == 0:
		o.Retries = DefaultRetries
	case o.Retries < 0:
		o.Retries = 0
	}
	if o.MaxObjectSize == 0 {
		o.MaxObjectSize = storage.DefaultMaxSize + storage.Overhead
	}
	if o.Region == "" {
		o.Region = firstEnv(EnvRegion, EnvDefaultRegion)
	}
	if o.Region == "" {
		o.Region = DefaultRegion
	}
	if o.AccessKey == "" {
		o.AccessKey, o.SecretKey, o.SessionToken = os.Getenv(EnvAccessKey), os.Getenv(EnvSecretKey), os.Getenv(EnvSessionToken)
		if o.AccessKey == "" || o.SecretKey == "" {
			return nil, invalid("AccessKey is empty and $%s/$%s are not both set", EnvAccessKey, EnvSecretKey)
		}
	}
	if o.SecretKey == "" {
		return nil, invalid("SecretKey is empty")
	}
	if o.Transport == nil {
		o.Transport = newTransport()
	}
	lookup := minio.BucketLookupAuto
	if o.PathStyle {
		lookup = minio.BucketLookupPath
	}
	c, err := minio.New(o.Endpoint, &minio.Options{
		Creds:        credentials.NewStaticV4(o.AccessKey, o.SecretKey, o.SessionToken),
		Secure:       !o.Insecure,
		Transport:    o.Transport,
		Region:       o.Region, // set, so the client never asks for the bucket's location
		BucketLookup: lookup,
		MaxRetries:   1, // no retries inside the client: this package decides what is idempotent
	})
	if err != nil {
		return nil, invalid("Endpoint %q: %v", o.Endpoint, err)
	}
	return &Backend{
		core:        minio.Core{Client: c},
		bucket:      o.Bucket,
		prefix:      o.Prefix,
		region:      o.Region,
		partSize:    o.PartSize,
		concurrency: o.Concurrency,
		retries:     o.Retries,
		maxObject:   o.MaxObjectSize,
		transport:   o.Transport,
	}, nil
}

func firstEnv(names ...string) string {
	for _, n := range names {
		if v := os.Getenv(n); v != "" {
			return v
		}
	}
	return ""
}

// newTransport returns the default transport: http.DefaultTransport's
// settings plus the timeouts above and room for parallel parts.
func newTransport() *http.Transport {
	return &http.Transport{
		Proxy: http.ProxyFromEnvironment,
		DialContext: (&net.Dialer{
			Timeout:   dialTimeout,
			KeepAlive: 30 * time.Second,
		}).DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          64,
		MaxIdleConnsPerHost:   2 * DefaultConcurrency,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   dialTimeout,
		ResponseHeaderTimeout: responseHeaderTimeout,
		ExpectContinueTimeout: time.Second,
		// Objects are sealed, so incompressible; and a transparently
		// decompressed body would not match its Content-Length.
		DisableCompression: true,
	}
}

// Close closes the transport's idle connections. The Backend stays
// usable; Close exists so that programs and tests can end cleanly.
func (b *Backend) Close() error {
	if t, ok := b.transport.(interface{ CloseIdleConnections() }); ok {
		t.CloseIdleConnections()
	}
	return nil
}

// Key returns the object key of addr: the prefix and 64 hex digits.
func (b *Backend) Key(addr storage.Addr) string {
	return b.prefix + hex.EncodeToString(addr[:])
}

// parseKey returns the address a listed key names, if it is one of ours.
func (b *Backend) parseKey(key string) (storage.Addr, bool) {
	var a storage.Addr
	name, ok := strings.CutPrefix(key, b.prefix)
	if !ok || len(name) != 2*len(a) || strings.ContainsAny(name, "ABCDEF") {
		return a, false
	}
	_, err := hex.Decode(a[:], []byte(name))
	return a, err == nil
}

// Put uploads blob under addr's key unless an object is there: one
// conditional PUT for blobs up to PartSize, a multipart upload (parts
// in parallel, completed conditionally) above. stored is false when the
// server already held the key, including when a retried request finds the
// object its own lost-answer attempt wrote. A server without conditional
// writes ignores If-None-Match and replaces the object, which for a Store
// (the same bytes under an address every time) changes nothing. A failed
// multipart upload is aborted; see the package doc for a server that dies
// mid-upload.
func (b *Backend) Put(ctx context.Context, addr storage.Addr, blob []byte) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	key := b.Key(addr)
	if int64(len(blob)) > b.maxObject {
		return false, b.wrap("put", key, fmt.Errorf("%w: %d bytes, MaxObjectSize %d", storage.ErrTooLarge, len(blob), b.maxObject))
	}
	if int64(len(blob)) > b.partSize {
		return b.putMultipart(ctx, key, blob)
	}
	var stored bool
	err := b.retry(ctx, func() error {
		opts := putOptions()
		_, err := b.core.PutObject(ctx, b.bucket, key, bytes.NewReader(blob), int64(len(blob)), "", "", opts)
		switch {
		case err == nil:
			stored = true
		case isExists(err):
			stored, err = false, nil
		}
		return err
	})
	if err != nil {
		return false, b.wrap("put", key, err)
	}
	return stored, nil
}

// putOptions returns the options of every object write: put-if-absent.
func putOptions() minio.PutObjectOptions {
	opts := minio.PutObjectOptions{ContentType: "application/octet-stream"}
	opts.SetMatchETagExcept("*") // If-None-Match: *
	return opts
}

// Get downloads the object at addr into a new slice, refusing one
// larger than MaxObjectSize before reading it. A body shorter than its
// Content-Length is a failed attempt (and retried); the HTTP client
// itself never reads past Content-Length.
func (b *Backend) Get(ctx context.Context, addr storage.Addr) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	key := b.Key(addr)
	var blob []byte
	err := b.retry(ctx, func() error {
		body, info, _, err := b.core.GetObject(ctx, b.bucket, key, minio.GetObjectOptions{})
		if err != nil {
			return err
		}
		defer body.Close()
		if info.Size > b.maxObject {
			return fmt.Errorf("%w: %d bytes, MaxObjectSize %d", storage.ErrTooLarge, info.Size, b.maxObject)
		}
		if info.Size < 0 { // no Content-Length: read up to the limit
			buf, err := io.ReadAll(io.LimitReader(body, b.maxObject+1))
			if err != nil {
				return fmt.Errorf("reading the body: %w", err)
			}
			if int64(len(buf)) > b.maxObject {
				return fmt.Errorf("%w: body over MaxObjectSize %d", storage.ErrTooLarge, b.maxObject)
			}
			blob = buf
			return nil
		}
		buf := make([]byte, info.Size)
		if _, err := io.ReadFull(body, buf); err != nil {
			return fmt.Errorf("reading the body: %w", err)
		}
		blob = buf
		return nil
	})
	if err != nil {
		return nil, b.wrap("get", key, err)
	}
	return blob, nil
}

// Stat returns the object's size from a HEAD request.
func (b *Backend) Stat(ctx context.Context, addr storage.Addr) (storage.Info, error) {
	if err := ctx.Err(); err != nil {
		return storage.Info{}, err
	}
	key := b.Key(addr)
	var info storage.Info
	err := b.retry(ctx, func() error {
		oi, err := b.core.StatObject(ctx, b.bucket, key, minio.StatObjectOptions{})
		info.Size = oi.Size
		return err
	})
	if err != nil {
		return storage.Info{}, b.wrap("stat", key, err)
	}
	return info, nil
}

// Delete removes the object at addr; S3 answers a missing key with
// success too.
func (b *Backend) Delete(ctx context.Context, addr storage.Addr) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	key := b.Key(addr)
	err := b.retry(ctx, func() error {
		return b.core.RemoveObject(ctx, b.bucket, key, minio.RemoveObjectOptions{})
	})
	if err != nil {
		return b.wrap("delete", key, err)
	}
	return nil
}

// List returns up to limit addresses after *after with ListObjectsV2
// (StartAfter, a "/" delimiter so that nested keys do not count), asking
// for one more than limit to learn whether more follow. Keys under the
// prefix that are not 64 lower-case hex digits are skipped.
func (b *Backend) List(ctx context.Context, after *storage.Addr, limit int) ([]storage.Addr, bool, error) {
	if err := ctx.Err(); err != nil {
		return nil, false, err
	}
	if limit <= 0 {
		limit = storage.DefaultListLimit
	}
	startAfter := ""
	if after != nil {
		startAfter = b.Key(*after)
	}
	var out []storage.Addr
	more := false
	err := b.retry(ctx, func() error {
		fetchOwner := false
		opts := minio.ListObjectsOptions{
			Prefix:     b.prefix,
			StartAfter: startAfter,
			MaxKeys:    min(limit-len(out)+1, storage.DefaultListLimit),
			FetchOwner: &fetchOwner,
		}
		for oi := range b.core.ListObjectsIter(ctx, b.bucket, opts) {
			if oi.Err != nil {
				return oi.Err
			}
			a, ok := b.parseKey(oi.Key)
			if !ok {
				continue
			}
			if len(out) == limit {
				more = true
				return nil
			}
			out = append(out, a)
			startAfter = oi.Key // a retry resumes after what we have
		}
		return nil
	})
	if err != nil {
		return nil, false, b.wrap("list", b.prefix, err)
	}
	return out, more, nil
}
