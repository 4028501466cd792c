package s3store

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/stt-go/stt/storage"
)

// Backoff between attempts of an idempotent request: 50 ms doubling to
// 2 s, each wait drawn uniformly from its upper half so that clients
// failing together do not retry together ("equal jitter", AWS
// Architecture Blog, Exponential Backoff and Jitter, 2015). minio-go
// adds a wait of its own, up to 200 ms (its DefaultRetryUnit, jittered
// from zero), after each failed attempt even with its retries turned off.
// With the default three retries a request gives up after 0.35 s of our
// waits and at most 0.8 s of the client's: enough to ride over a dropped
// connection or a server restart, not an outage.
const (
	firstBackoff = 50 * time.Millisecond
	maxBackoff   = 2 * time.Second
)

// retry runs op, an idempotent request, and runs it again after a backoff
// while it fails transiently, at most b.retries more times. It returns
// op's last error, or the context's error (with op's last error in the
// message) when the context ends during a backoff.
func (b *Backend) retry(ctx context.Context, op func() error) error {
	delay := firstBackoff
	for attempt := 0; ; attempt++ {
		err := op()
		if err == nil || attempt >= b.retries || !transient(err) || ctx.Err() != nil {
			return err
		}
		t := time.NewTimer(delay/2 + rand.N(delay/2+1))
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%w (while waiting to retry after: %v)", ctx.Err(), err)
		case <-t.C:
		}
		delay = min(2*delay, maxBackoff)
	}
}

// Codes S3 servers send for conditions that pass: throttling, a timeout
// reading the request, an internal error, and AWS's 409 for a
// conditional write racing another (retrying it yields 412 or success).
var transientCodes = map[string]bool{
	"SlowDown":                   true,
	"RequestTimeout":             true,
	"InternalError":              true,
	"ServiceUnavailable":         true,
	"ConditionalRequestConflict": true,
}

// transient reports whether err is worth another attempt: a server error
// (5xx, 429, or one of transientCodes), or a network failure (refused,
// reset, timed out, a body cut short). The caller's context ending, a
// client-side limit, and every other S3 error are final.
func transient(err error) bool {
	switch {
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded),
		errors.Is(err, storage.ErrTooLarge), errors.Is(err, storage.ErrCorrupt):
		return false
	}
	if r, ok := errResponse(err); ok && (r.StatusCode != 0 || r.Code != "") {
		return r.StatusCode >= 500 || r.StatusCode == http.StatusTooManyRequests || transientCodes[r.Code]
	}
	if tlsMisconfigured(err) {
		return false
	}
	var ne net.Error
	var ue *url.Error
	return errors.As(err, &ne) || errors.As(err, &ue) ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF)
}

// tlsMisconfigured reports whether err is a TLS setup mistake that no
// retry fixes: a certificate the system does not trust or that names
// another host, or an endpoint that answers HTTPS with plain HTTP.
func tlsMisconfigured(err error) bool {
	var cv *tls.CertificateVerificationError
	var ua x509.UnknownAuthorityError
	var hn x509.HostnameError
	var ci x509.CertificateInvalidError
	return errors.As(err, &cv) || errors.As(err, &ua) || errors.As(err, &hn) || errors.As(err, &ci) || plainHTTP(err)
}

// plainHTTP reports whether err is net/http's answer to an HTTPS request
// that got a plain-HTTP response (the error has no type of its own).
func plainHTTP(err error) bool {
	return strings.Contains(err.Error(), "server gave HTTP response to HTTPS client")
}

// errResponse finds the S3 error response in err's chain.
func errResponse(err error) (minio.ErrorResponse, bool) {
	var r minio.ErrorResponse
	ok := errors.As(err, &r)
	return r, ok
}

// isExists reports whether err is S3's answer to a conditional write
// whose key already exists.
func isExists(err error) bool {
	r, ok := errResponse(err)
	return ok && (r.StatusCode == http.StatusPreconditionFailed || r.Code == minio.PreconditionFailed)
}

// isNotFound reports whether err is S3's "no such key" (a HEAD has no
// body, so only its status says so).
func isNotFound(err error) bool {
	r, ok := errResponse(err)
	return ok && (r.Code == minio.NoSuchKey || (r.StatusCode == http.StatusNotFound && r.Code != minio.NoSuchBucket))
}

// isNoSuchUpload reports whether err says the multipart upload is gone.
func isNoSuchUpload(err error) bool {
	r, ok := errResponse(err)
	return ok && (r.Code == minio.NoSuchUpload || r.StatusCode == http.StatusNotFound)
}

// OpError is the error of a Backend call that reached the client: the
// operation, the s3:// URL of the object (or of the prefix, for a
// listing) and the cause. The cause matches storage.ErrNotFound for a
// missing key, ErrUnavailable for network and server failures retries did
// not fix, the context's error, storage.ErrTooLarge, or else carries the
// server's S3 error message, code and HTTP status. Messages never repeat
// the request URL the HTTP client puts in front of network errors.
type OpError struct {
	Op  string // "put", "get", "stat", "delete", "list", …
	URL string // s3://bucket/key
	Err error
}

func (e *OpError) Error() string { return "s3store: " + e.Op + " " + e.URL + ": " + e.Err.Error() }

func (e *OpError) Unwrap() error { return e.Err }

// wrap turns a client error into an *OpError.
func (b *Backend) wrap(op, key string, err error) error {
	e := &OpError{Op: op, URL: "s3://" + b.bucket + "/" + key}
	switch {
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded),
		errors.Is(err, storage.ErrTooLarge), errors.Is(err, storage.ErrCorrupt):
		e.Err = cleanError{err}
	case isNotFound(err):
		e.Err = storage.ErrNotFound
	case transient(err):
		e.Err = fmt.Errorf("%w: %w", ErrUnavailable, cleanError{err})
	case plainHTTP(err):
		e.Err = fmt.Errorf("%w (the endpoint speaks plain HTTP: write endpoint=http://HOST:PORT, or set Options.Insecure)", cleanError{err})
	default:
		if r, ok := errResponse(err); ok && r.Code != "" {
			e.Err = serverError{r, err}
		} else {
			e.Err = cleanError{err}
		}
	}
	return e
}

// cleanError is err with the "Put \"http://…\": " prefix of any
// *url.Error in it removed from the message.
type cleanError struct{ err error }

func (e cleanError) Error() string {
	msg := e.err.Error()
	var ue *url.Error
	if errors.As(e.err, &ue) && ue.Err != nil {
		msg = strings.Replace(msg, ue.Error(), ue.Err.Error(), 1)
	}
	return msg
}

func (e cleanError) Unwrap() error { return e.err }

// serverError is an S3 error answer: the server's message, code and
// status, and the client's error (with any context) underneath.
type serverError struct {
	r   minio.ErrorResponse
	err error
}

func (e serverError) Error() string {
	msg := cleanError{e.err}.Error()
	return fmt.Sprintf("%s (S3 %s, HTTP %d)", msg, e.r.Code, e.r.StatusCode)
}

func (e serverError) Unwrap() error { return e.err }
