// Package s3store is a storage.Backend on any S3-compatible object store
// (AWS S3, MinIO, Ceph RGW, SeaweedFS, Versity Gateway, …), so that every
// origin and edge can reach the same content-addressed objects. Each
// object is one S3 object named <prefix><64 hex digits of its address> in
// one bucket; objects arrive sealed by storage.Store, so the server never
// sees plaintext, and a server that alters one yields storage.ErrCorrupt
// on Retrieve, never wrong bytes. Put is put-if-absent (If-None-Match: *,
// on a single PUT or on CompleteMultipartUpload), so a Store's
// deduplication costs one HEAD; objects larger than Options.PartSize go
// up in parallel parts, and a failed multipart upload is aborted (or, if
// the server is gone, left incomplete and invisible, for AbortIncomplete
// to remove).
//
// Who uses it: origins and edges that share one store, and stt store with
// an s3:// URL (ParseURL reads the s3://bucket/prefix?endpoint=… form).
//
// Stability: a building block with a stable API.
//
// Requests: only idempotent requests are retried (HEAD, GET, DELETE,
// LIST, a conditional PUT, an UploadPart); CreateMultipartUpload and
// CompleteMultipartUpload are sent once. Timeouts come from the caller's
// context plus dial and response-header limits on the HTTP transport.
//
// Dependency: the S3 protocol comes from github.com/minio/minio-go/v7: a single Go
// module maintained since 2015 and kept current with S3, used by MinIO's
// own tools, speaking SigV4 to any endpoint with path-style addressing,
// whose Core API exposes each multipart step explicitly, and whose
// dependencies are a dozen small hashing and encoding modules; the AWS
// SDK v2 needs a dozen modules of its own, endpoint-resolver plumbing for
// non-AWS servers, and since 2025 sends integrity checksums by default
// that several S3-compatible servers reject. Keeping the client in this
// sub-package keeps it out of the graphs of the root package and of
// storage (internal/deps_test.go checks it).
//
// Concurrency: a Backend is safe for concurrent use; Close releases its
// idle connections.
//
// Allocation: Get allocates the object once.
//
// Ownership: Put sends the caller's slice without copying and does not
// keep it after it returns; Get returns a slice the caller owns.
package s3store
