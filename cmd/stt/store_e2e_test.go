package main

import (
	"bytes"
	"encoding/hex"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stt-go/stt/internal/s3test"
)

// storeFixture is a store URL, a key file and the environment to run
// `stt store` with.
type storeFixture struct {
	dir   string
	key   string
	env   []string
	store string
}

// put runs `stt store put` on files and returns the printed addresses.
func (f *storeFixture) put(t *testing.T, files ...string) []string {
	t.Helper()
	args := append([]string{"store", "put", "--store", f.store, "--key", f.key}, files...)
	r := runStt(t, f.env, args...)
	if r.code != 0 {
		t.Fatalf("store put: exit %d\n%s", r.code, r.stderr)
	}
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) != len(files) {
		t.Fatalf("store put printed %d lines for %d files:\n%s", len(lines), len(files), r.stdout)
	}
	var addrs []string
	for i, l := range lines {
		fields := strings.Fields(l)
		fi, err := os.Stat(files[i])
		if err != nil {
			t.Fatal(err)
		}
		if len(fields) != 3 || len(fields[0]) != 64 || fields[1] != itoa(fi.Size()) || fields[2] != files[i] {
			t.Fatalf("store put line %q; want ADDRESS %d %s", l, fi.Size(), files[i])
		}
		addrs = append(addrs, fields[0])
	}
	return addrs
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func newStoreFixture(t *testing.T, store string, env ...string) *storeFixture {
	t.Helper()
	dir := t.TempDir()
	return &storeFixture{dir: dir, key: keygen(t, dir, "store.key"), env: env, store: store}
}

// writeFiles writes test files into dir: an empty one, a small one, and
// 3 MiB of non-repeating bytes.
func writeFiles(t *testing.T, dir string) []string {
	t.Helper()
	big := make([]byte, 3<<20)
	patternAt(big, 42, 0)
	contents := map[string][]byte{"empty": nil, "hello.txt": []byte("hello, store\n"), "big.bin": big}
	var paths []string
	for _, name := range []string{"empty", "hello.txt", "big.bin"} {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, contents[name], 0o644); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	return paths
}

// checkRoundTrip puts files, gets each back (to a file and to stdout) and
// stats it, and returns the addresses.
func (f *storeFixture) checkRoundTrip(t *testing.T, files []string) []string {
	t.Helper()
	addrs := f.put(t, files...)
	if again := f.put(t, files...); strings.Join(again, " ") != strings.Join(addrs, " ") {
		t.Fatalf("second put printed other addresses: %v vs %v", again, addrs)
	}
	for i, p := range files {
		want, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		out := filepath.Join(f.dir, "out-"+filepath.Base(p))
		if r := runStt(t, f.env, "store", "get", "--store", f.store, "--key", f.key, "-o", out, addrs[i]); r.code != 0 {
			t.Fatalf("store get -o: exit %d: %s", r.code, r.stderr)
		}
		if got, err := os.ReadFile(out); err != nil || !bytes.Equal(got, want) {
			t.Fatalf("store get -o %s: %d bytes, %v; want %d bytes equal", out, len(got), err, len(want))
		}
		r := runStt(t, f.env, "store", "get", "--store", f.store, "--key", f.key, addrs[i])
		if r.code != 0 || r.stdout != string(want) {
			t.Fatalf("store get to stdout: exit %d, %d bytes; want %d: %s", r.code, len(r.stdout), len(want), r.stderr)
		}
		r = runStt(t, f.env, "store", "stat", "--store", f.store, addrs[i])
		if r.code != 0 || strings.TrimSpace(r.stdout) != addrs[i]+" "+itoa(int64(len(want))) {
			t.Fatalf("store stat: exit %d, %q: %s", r.code, r.stdout, r.stderr)
		}
	}
	return addrs
}

// checkFailures runs the failures every store must report the same way.
func (f *storeFixture) checkFailures(t *testing.T, addr string) {
	t.Helper()
	missing := strings.Repeat("0", 64)
	wantFailure(t, runStt(t, f.env, "store", "get", "--store", f.store, "--key", f.key, missing), 1, "store", "object not found in")
	wantFailure(t, runStt(t, f.env, "store", "stat", "--store", f.store, missing), 1, "store", "object not found in")
	other := keygen(t, f.dir, "other.key")
	wantFailure(t, runStt(t, f.env, "store", "get", "--store", f.store, "--key", other, addr), 1, "store", "stored with another --key")
	wantFailure(t, runStt(t, f.env, "store", "get", "--store", f.store, "--key", f.key, "abc"), 2, "store", "64 hex digits")
	wantFailure(t, runStt(t, f.env, "store", "get", "--store", f.store, "--key", f.key, strings.Repeat("zz", 32)), 2, "store", "not hex")
	wantFailure(t, runStt(t, append(f.env, envStoreKey+"="), "store", "get", "--store", f.store, addr), 2, "store", envStoreKey)
}

// TestStoreFileE2E drives `stt store` on a directory.
func TestStoreFileE2E(t *testing.T) {
	f := newStoreFixture(t, "")
	f.store = "file:" + filepath.Join(f.dir, "objects")
	files := writeFiles(t, f.dir)
	addrs := f.checkRoundTrip(t, files)
	f.checkFailures(t, addrs[1])

	// At rest: sealed, no plaintext.
	blob, err := os.ReadFile(filepath.Join(f.dir, "objects", addrs[1][:2], addrs[1]))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(blob, []byte("hello, store")) {
		t.Fatal("plaintext visible in the store directory")
	}
	blob[len(blob)-1] ^= 1
	if err := os.WriteFile(filepath.Join(f.dir, "objects", addrs[1][:2], addrs[1]), blob, 0o600); err != nil {
		t.Fatal(err)
	}
	wantFailure(t, runStt(t, nil, "store", "get", "--store", f.store, "--key", f.key, addrs[1]), 1, "store", "corrupt or tampered")

	// $STT_STORE and $STT_STORE_KEY stand in for the flags.
	seed, err := os.ReadFile(f.key)
	if err != nil {
		t.Fatal(err)
	}
	env := []string{envStore + "=" + f.store, envStoreKey + "=" + hex.EncodeToString(seed)}
	if r := runStt(t, env, "store", "get", addrs[2]); r.code != 0 || len(r.stdout) != 3<<20 {
		t.Fatalf("store get from the environment: exit %d, %d bytes: %s", r.code, len(r.stdout), r.stderr)
	}

	wantFailure(t, runStt(t, nil, "store", "put", "--store", "ftp://x", "--key", f.key, files[0]), 2, "store", "file:DIR or s3://")
	wantFailure(t, runStt(t, nil, "store", "frob"), 2, "store", "unknown store command")
	wantFailure(t, runStt(t, nil, "store", "put", "--store", f.store, "--key", f.key, filepath.Join(f.dir, "nonexistent")), 1, "store", "no such file")
}

// TestStoreS3E2E drives `stt store` against a real S3 server (Versity
// Gateway on loopback): round trips, failures, an object tampered with
// on the server's disk, bad URLs and missing credentials, and the server
// going away.
func TestStoreS3E2E(t *testing.T) {
	srv := s3test.Start(t)
	bucket := srv.Bucket(t, "stt-e2e")
	url := "s3://" + bucket + "/segments/ch1?endpoint=http://" + srv.Endpoint + "&path-style=true"
	f := newStoreFixture(t, url, "AWS_ACCESS_KEY_ID="+s3test.AccessKey, "AWS_SECRET_ACCESS_KEY="+s3test.SecretKey, "AWS_REGION="+s3test.Region)
	files := writeFiles(t, f.dir)
	addrs := f.checkRoundTrip(t, files)
	f.checkFailures(t, addrs[1])

	path := srv.ObjectPath(bucket, "segments/ch1/"+addrs[1])
	blob, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("object not on the server's disk: %v", err)
	}
	if bytes.Contains(blob, []byte("hello, store")) {
		t.Fatal("plaintext visible on the S3 server")
	}
	blob[5] ^= 1
	if err := os.WriteFile(path, blob, 0o644); err != nil {
		t.Fatal(err)
	}
	wantFailure(t, runStt(t, f.env, "store", "get", "--store", url, "--key", f.key, addrs[1]), 1, "store", "corrupt or tampered")

	noCreds := []string{"AWS_ACCESS_KEY_ID=", "AWS_SECRET_ACCESS_KEY="}
	wantFailure(t, runStt(t, noCreds, "store", "stat", "--store", url, addrs[0]), 2, "store", "set $AWS_ACCESS_KEY_ID and $AWS_SECRET_ACCESS_KEY")
	wantFailure(t, runStt(t, f.env, "store", "stat", "--store", "s3://"+bucket+"?endpont=x", addrs[0]), 2, "store", `unknown parameter "endpont"`)
	wantFailure(t, runStt(t, f.env, "store", "stat", "--store", "s3://key:secret@"+bucket, addrs[0]), 2, "store", "credentials do not belong in the URL")
	wrongSecret := []string{"AWS_ACCESS_KEY_ID=" + s3test.AccessKey, "AWS_SECRET_ACCESS_KEY=wrong"}
	wantFailure(t, runStt(t, wrongSecret, "store", "stat", "--store", url, addrs[0]), 1, "store", "Access Denied")

	srv.Kill()
	wantFailure(t, runStt(t, f.env, "store", "stat", "--store", url, addrs[0]), 1, "store", "cannot reach the S3 server")
}
