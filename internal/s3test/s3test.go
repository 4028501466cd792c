package s3test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Version is the Versity Gateway release the tests build and run. The
// module proxy serves it; it needs Go 1.25 or later.
const Version = "v1.8.0"

const (
	gatewayPkg = "github.com/versity/versitygw/cmd/versitygw"

	// EnvBinary names a prebuilt versitygw binary to use instead of
	// building one.
	EnvBinary = "STT_VERSITYGW"
	// EnvRequired, set to 1, turns "cannot build or start the server"
	// from a skip into a test failure (CI must run the S3 tests).
	EnvRequired = "STT_S3_REQUIRED"

	// AccessKey, SecretKey and Region are the test server's credentials.
	AccessKey = "stt-test-access"
	SecretKey = "stt-test-secret-key-0123456789"
	Region    = "us-east-1"

	// buildTimeout bounds building the gateway: about a minute on two
	// shared cores with a cold module cache (v1.8.0, measured on the
	// project's CI-sized machine); the margin covers a slow proxy.
	buildTimeout = 15 * time.Minute
	// readyTimeout bounds waiting for a started gateway to accept
	// connections; it is ready in well under a second.
	readyTimeout = 30 * time.Second
	// stopTimeout bounds a graceful stop before SIGKILL.
	stopTimeout = 10 * time.Second
	// logCap bounds the gateway output kept for failure reports.
	logCap = 64 << 10
)

// binary builds (or finds) the gateway once per test process.
var binary = sync.OnceValues(findOrBuild)

// Binary returns the path of a versitygw binary: $STT_VERSITYGW if set,
// else one built into the cache directory, building it now if missing.
// The error says why there is none.
func Binary() (string, error) { return binary() }

func findOrBuild() (string, error) {
	if p := os.Getenv(EnvBinary); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("$%s: %v", EnvBinary, err)
		}
		return p, nil
	}
	base, err := os.UserCacheDir()
	if err != nil {
		base = os.TempDir()
	}
	dir := filepath.Join(base, "stt", "versitygw-"+Version+"-"+runtime.GOOS+"-"+runtime.GOARCH)
	bin := filepath.Join(dir, "versitygw")
	if _, err := os.Stat(bin); err == nil {
		return bin, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("cache directory: %v", err)
	}
	unlock, err := lockFile(filepath.Join(dir, ".lock"))
	if err != nil {
		return "", fmt.Errorf("locking the cache directory: %v", err)
	}
	defer unlock()
	if _, err := os.Stat(bin); err == nil {
		return bin, nil // another process built it while we waited
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		return "", fmt.Errorf("no go command to build versitygw: %v", err)
	}
	tmp, err := os.MkdirTemp(dir, "build-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	ctx, cancel := context.WithTimeout(context.Background(), buildTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, goTool, "install", gatewayPkg+"@"+Version)
	cmd.Dir = tmp
	cmd.Env = append(os.Environ(), "GOBIN="+tmp, "CGO_ENABLED=0", "GOWORK=off", "GOFLAGS=-buildvcs=false")
	start := time.Now()
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go install %s@%s: %v: %s", gatewayPkg, Version, err, bytes.TrimSpace(tail(out, 4096)))
	}
	if err := os.Rename(filepath.Join(tmp, "versitygw"), bin); err != nil {
		return "", err
	}
	fmt.Fprintf(os.Stderr, "s3test: built versitygw %s in %v into %s\n", Version, time.Since(start).Round(time.Second), bin)
	return bin, nil
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}

// Server is a running gateway. Its fields are fixed for its lifetime,
// across Kill and Restart.
type Server struct {
	// Endpoint is host:port on 127.0.0.1, plain HTTP.
	Endpoint string
	// Root is the gateway's POSIX directory: bucket B is directory
	// Root/B, and object K in it is the file Root/B/K.
	Root string

	bin string
	mu  sync.Mutex
	run *process // protected by mu; nil while killed
}

// process is one gateway process and its waiter.
type process struct {
	cmd  *exec.Cmd
	done chan struct{} // closed when cmd.Wait returned
	log  *capped
}

// Start builds (once) and starts a gateway with a fresh root directory,
// and stops it in tb's cleanup. If the gateway cannot be built or started
// it skips tb with the reason, or fails tb when $STT_S3_REQUIRED is 1.
func Start(tb testing.TB) *Server {
	tb.Helper()
	bin, err := Binary()
	if err != nil {
		unavailable(tb, "cannot build the S3 test server (Versity Gateway %s): %v", Version, err)
	}
	s := &Server{Root: tb.TempDir(), bin: bin}
	tb.Cleanup(s.stop)
	var last error
	for range 3 { // a port taken between probe and bind: try another
		port, err := freePort()
		if err != nil {
			unavailable(tb, "no free loopback port: %v", err)
		}
		s.Endpoint = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		if last = s.start(); last == nil {
			return s
		}
	}
	unavailable(tb, "cannot start the S3 test server: %v", last)
	return nil
}

func unavailable(tb testing.TB, format string, args ...any) {
	tb.Helper()
	if os.Getenv(EnvRequired) == "1" {
		tb.Fatalf("s3test: "+format+" ($"+EnvRequired+"=1)", args...)
	}
	tb.Skipf("s3test: "+format+"; skipping (set $"+EnvRequired+"=1 to fail instead)", args...)
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// start runs the gateway on s.Endpoint and waits until it accepts
// connections.
func (s *Server) start() error {
	p := &process{done: make(chan struct{}), log: &capped{max: logCap}}
	p.cmd = exec.Command(s.bin,
		"--access", AccessKey, "--secret", SecretKey, "--region", Region,
		"--port", s.Endpoint, "--quiet",
		"posix", s.Root)
	p.cmd.Stdout, p.cmd.Stderr = p.log, p.log
	if err := p.cmd.Start(); err != nil {
		return err
	}
	go func() { p.cmd.Wait(); close(p.done) }()
	deadline := time.Now().Add(readyTimeout)
	for {
		err := s.ready(p)
		if err == nil {
			s.mu.Lock()
			s.run = p
			s.mu.Unlock()
			return nil
		}
		select {
		case <-p.done:
			return fmt.Errorf("versitygw exited: %v: %s", p.cmd.ProcessState, p.log)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			p.cmd.Process.Kill()
			<-p.done
			return fmt.Errorf("versitygw not ready on %s after %v (%v): %s", s.Endpoint, readyTimeout, err, p.log)
		}
	}
}

// ready checks that p itself listens on s.Endpoint and answers HTTP as
// Versity Gateway does (an anonymous request gets 403 with
// "Server: VERSITYGW"), so that a port taken by someone else in the
// meantime is never mistaken for ours.
func (s *Server) ready(p *process) error {
	_, portStr, _ := net.SplitHostPort(s.Endpoint)
	port, _ := strconv.Atoi(portStr)
	if ok, err := listensOn(p.cmd.Process.Pid, port); err != nil || !ok {
		return fmt.Errorf("not listening yet (%v)", err)
	}
	c := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Get("http://" + s.Endpoint + "/")
	if err != nil {
		return err
	}
	resp.Body.Close()
	if srv := resp.Header.Get("Server"); srv != "VERSITYGW" {
		return fmt.Errorf("answered as %q, not VERSITYGW", srv)
	}
	return nil
}

// Bucket creates bucket name (a directory under Root) and returns it.
func (s *Server) Bucket(tb testing.TB, name string) string {
	tb.Helper()
	if err := os.Mkdir(filepath.Join(s.Root, name), 0o755); err != nil {
		tb.Fatal(err)
	}
	return name
}

// ObjectPath returns the file that holds object key of bucket.
func (s *Server) ObjectPath(bucket, key string) string {
	return filepath.Join(s.Root, bucket, filepath.FromSlash(key))
}

// Kill stops the gateway abruptly (SIGKILL), as a crash would: requests
// in flight fail, and nothing is cleaned up.
func (s *Server) Kill() {
	s.mu.Lock()
	p := s.run
	s.run = nil
	s.mu.Unlock()
	if p != nil {
		p.cmd.Process.Kill()
		<-p.done
	}
}

// Restart starts the gateway again on the same endpoint and directory
// after Kill.
func (s *Server) Restart(tb testing.TB) {
	tb.Helper()
	s.Kill()
	var err error
	for range 50 { // the old socket may linger for a moment
		if err = s.start(); err == nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	tb.Fatalf("s3test: restarting the gateway: %v", err)
}

// Log returns the gateway's recent output, for failure messages.
func (s *Server) Log() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.run == nil {
		return ""
	}
	return s.run.log.String()
}

// stop ends the gateway: SIGTERM, then SIGKILL after stopTimeout.
func (s *Server) stop() {
	s.mu.Lock()
	p := s.run
	s.run = nil
	s.mu.Unlock()
	if p == nil {
		return
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(stopTimeout):
		p.cmd.Process.Kill()
		<-p.done
	}
}

// capped is an io.Writer that keeps the last max bytes written.
type capped struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (c *capped) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.b = append(c.b, p...)
	if len(c.b) > c.max {
		c.b = append(c.b[:0], c.b[len(c.b)-c.max:]...)
	}
	return len(p), nil
}

func (c *capped) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return string(bytes.TrimSpace(c.b))
}
