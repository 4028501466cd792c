// Package s3test is test support, not library code: it runs a real
// S3-compatible server, Versity Gateway (github.com/versity/versitygw, an
// S3 gateway over a POSIX directory), on a free 127.0.0.1 port with a
// temporary directory and test credentials, for the tests of
// storage/s3store and of `stt store`. The gateway is built once per
// machine and version with `go install` into the user cache directory
// (next to Go's build cache, so CI caches it with that), under a file lock
// so parallel test binaries build it once. When it cannot be built or
// started, Start skips the test and says why, unless STT_S3_REQUIRED=1
// (set by CI), where that is a failure. It uses only the standard
// library; each Server owns one child process and one goroutine waiting
// for it, both gone when the test's cleanup has run.
package s3test
