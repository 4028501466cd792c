package main

import (
	"context"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"

	"github.com/stt-go/stt/stc"
	"github.com/stt-go/stt/storage"
	"github.com/stt-go/stt/storage/s3store"
)

// `stt store` puts files into, and gets them from, a content-addressed
// encrypted store (package storage) on a local directory or any
// S3-compatible object store (package storage/s3store):
//
//	stt store put  [--store URL] [--key FILE] FILE...   prints ADDRESS SIZE FILE per file
//	stt store get  [--store URL] [--key FILE] [-o FILE] ADDRESS
//	stt store stat [--store URL] ADDRESS                  prints ADDRESS SIZE
//
// URL is file:DIR (the default, file:stt-store, or $STT_STORE) or
// s3://BUCKET/PREFIX?endpoint=…, credentials from the AWS environment
// variables. The key is a seed file from `stt keygen` (or hex in
// $STT_STORE_KEY); objects are sealed under keys derived from it, so the
// store never sees plaintext and the same key is needed to read them.

const (
	// envStore and envStoreKey name the environment variables that hold
	// the store URL and the key (hex) when the flags are not given.
	envStore    = "STT_STORE"
	envStoreKey = "STT_STORE_KEY"
	// defaultStore is the store used when neither --store nor $STT_STORE
	// is given: a directory in the working directory.
	defaultStore = "file:stt-store"
	// storeMasterSalt separates the store's master secret from any other
	// use of the same seed file (HKDF-Extract salt).
	storeMasterSalt = "stt store master v1"
)

func runStore(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help") {
			fmt.Fprint(stderr, storeUsage)
			// The flags of all three subcommands, written as the docs do.
			fs := newFlagSet("store", "", stderr)
			var f storeFlags
			f.register(fs, true, true)
			fs.String("o", "", "get: write the object to `FILE` (atomically) instead of stdout")
			fmt.Fprintln(stderr, "\nflags:")
			fs.printDefaults(stderr)
			return flag.ErrHelp
		}
		return usagef("name a store command: put, get or stat")
	}
	switch args[0] {
	case "put":
		return runStorePut(ctx, args[1:], stdout, stderr)
	case "get":
		return runStoreGet(ctx, args[1:], stdout, stderr)
	case "stat":
		return runStoreStat(ctx, args[1:], stdout, stderr)
	}
	return usagef("unknown store command %q: want put, get or stat", args[0])
}

const storeUsage = `usage: stt store put|get|stat [flags] ...

  stt store put  [--store URL] [--key FILE] FILE...    store files; prints ADDRESS SIZE FILE each
  stt store get  [--store URL] [--key FILE] [-o FILE] ADDRESS
  stt store stat [--store URL] ADDRESS                 prints ADDRESS SIZE

--store URL is file:DIR (default file:stt-store, or $STT_STORE) or
s3://BUCKET/PREFIX?endpoint=[http://]HOST:PORT&region=R&path-style=true
with credentials in $AWS_ACCESS_KEY_ID and $AWS_SECRET_ACCESS_KEY.
--key is a seed file from 'stt keygen' (or hex in $STT_STORE_KEY).
`

// storeFlags are the flags the store subcommands share.
type storeFlags struct {
	store string
	key   string
	suite string
}

// register adds --store, --key if key, and --suite if suite.
func (f *storeFlags) register(fs *flagSet, key, suite bool) {
	fs.StringVar(&f.store, "store", "", "the store `URL`: file:DIR or s3://BUCKET/PREFIX?endpoint=HOST:PORT (default $"+envStore+", else "+defaultStore+")")
	if key {
		fs.StringVar(&f.key, "key", "", "the store key: a seed `FILE` from 'stt keygen' (else hex in $"+envStoreKey+")")
	}
	if suite {
		fs.StringVar(&f.suite, "suite", "", "seal new objects with this AEAD `suite`: aes256gcm, chacha20poly1305 or aes128gcm (default: by CPU)")
	}
}

// openedStore is a backend and a way to name it in messages.
type openedStore struct {
	name  string
	b     storage.Backend
	close func()
}

// open opens the backend --store names.
func (f *storeFlags) open() (*openedStore, error) {
	u := f.store
	if u == "" {
		u = os.Getenv(envStore)
	}
	if u == "" {
		u = defaultStore
	}
	switch {
	case strings.HasPrefix(u, "file:"):
		dir := strings.TrimPrefix(strings.TrimPrefix(u, "file:"), "//")
		if dir == "" {
			return nil, usagef("--store %s: give a directory, file:DIR", u)
		}
		d, err := storage.NewDiskBackend(dir)
		if err != nil {
			return nil, fmt.Errorf("opening store directory %s: %v", dir, err)
		}
		return &openedStore{name: dir, b: d, close: func() {}}, nil
	case strings.HasPrefix(u, "s3://"):
		o, err := s3store.ParseURL(u)
		if err != nil {
			return nil, usagef("--store: %v", strings.TrimPrefix(err.Error(), "s3store: "))
		}
		if os.Getenv(s3store.EnvAccessKey) == "" || os.Getenv(s3store.EnvSecretKey) == "" {
			return nil, usagef("--store %s needs credentials: set $%s and $%s (and $%s for temporary ones)",
				u, s3store.EnvAccessKey, s3store.EnvSecretKey, s3store.EnvSessionToken)
		}
		b, err := s3store.New(o)
		if err != nil {
			return nil, usagef("--store: %v", strings.TrimPrefix(err.Error(), "storage: invalid options: "))
		}
		name := "s3://" + o.Bucket + "/" + o.Prefix
		return &openedStore{name: name, b: b, close: func() { b.Close() }}, nil
	}
	return nil, usagef("--store %q: want file:DIR or s3://BUCKET/PREFIX?endpoint=HOST:PORT", u)
}

// newStore opens the store with the key and suite from the flags.
func (f *storeFlags) newStore() (*storage.Store, *openedStore, error) {
	seed, err := loadSeed("key", f.key, envStoreKey, os.Stderr)
	if err != nil {
		return nil, nil, err
	}
	master := stc.Extract([]byte(storeMasterSalt), seed)
	clear(seed)
	defer master.Wipe()
	suite := stc.PreferredSuite()
	if f.suite != "" {
		if suite, err = stc.ParseSuite(f.suite); err != nil {
			return nil, nil, usagef("--suite: %v", err)
		}
	}
	st, err := f.open()
	if err != nil {
		return nil, nil, err
	}
	s, err := storage.New(st.b, master, suite, nil)
	if err != nil {
		st.close()
		return nil, nil, err
	}
	return s, st, nil
}

func runStorePut(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("store", "store put [--store URL] [--key FILE] [--suite S] FILE...", stderr)
	var sf storeFlags
	sf.register(fs, true, true)
	if err := fs.parse(args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		return usagef("name at least one FILE to put")
	}
	s, st, err := sf.newStore()
	if err != nil {
		return err
	}
	defer st.close()
	for _, p := range fs.Args() {
		data, err := readObjectFile(p)
		if err != nil {
			return err
		}
		addr, err := s.Store(ctx, data)
		if err != nil {
			return storeError(err, "put "+p, st.name)
		}
		fmt.Fprintf(stdout, "%x %d %s\n", addr[:], len(data), p)
	}
	return nil
}

// readObjectFile reads a whole regular file of at most
// storage.DefaultMaxSize bytes.
func readObjectFile(p string) ([]byte, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", p)
	}
	data, err := io.ReadAll(io.LimitReader(f, storage.DefaultMaxSize+1))
	if err != nil {
		return nil, err
	}
	if len(data) > storage.DefaultMaxSize {
		return nil, fmt.Errorf("%s is larger than %d MiB, the largest object the store holds", p, storage.DefaultMaxSize>>20)
	}
	return data, nil
}

func runStoreGet(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("store", "store get [--store URL] [--key FILE] [-o FILE] ADDRESS", stderr)
	var sf storeFlags
	sf.register(fs, true, false)
	out := fs.String("o", "", "write the object to `FILE` (atomically) instead of stdout")
	if err := fs.parse(args); err != nil {
		return err
	}
	addr, err := oneAddress(fs)
	if err != nil {
		return err
	}
	s, st, err := sf.newStore()
	if err != nil {
		return err
	}
	defer st.close()
	data, err := s.Retrieve(ctx, addr)
	if err != nil {
		return storeError(err, fmt.Sprintf("get %x", addr[:]), st.name)
	}
	if *out == "" {
		_, err := stdout.Write(data)
		return err
	}
	return writeFileAtomic(*out, data)
}

func runStoreStat(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("store", "store stat [--store URL] ADDRESS", stderr)
	var sf storeFlags
	sf.register(fs, false, false)
	if err := fs.parse(args); err != nil {
		return err
	}
	addr, err := oneAddress(fs)
	if err != nil {
		return err
	}
	st, err := sf.open()
	if err != nil {
		return err
	}
	defer st.close()
	info, err := st.b.Stat(ctx, addr)
	if err != nil {
		return storeError(err, fmt.Sprintf("stat %x", addr[:]), st.name)
	}
	size := info.Size - storage.Overhead
	if size < 0 {
		return fmt.Errorf("object %x in %s is corrupt: %d bytes, shorter than any sealed object", addr[:], st.name, info.Size)
	}
	fmt.Fprintf(stdout, "%x %d\n", addr[:], size)
	return nil
}

// oneAddress parses the single ADDRESS argument: 64 hex digits.
func oneAddress(fs *flagSet) (storage.Addr, error) {
	var a storage.Addr
	if fs.NArg() != 1 {
		return a, usagef("name exactly one ADDRESS (64 hex digits, as 'stt store put' prints)")
	}
	s := fs.Arg(0)
	if len(s) != 2*len(a) {
		return a, usagef("ADDRESS %q: want 64 hex digits, not %d characters", s, len(s))
	}
	if _, err := hex.Decode(a[:], []byte(s)); err != nil {
		return a, usagef("ADDRESS %q is not hex: %v", s, err)
	}
	return a, nil
}

// storeError turns a storage error into one human line: what failed,
// why, and what to check, without the layers of wrapping.
func storeError(err error, what, store string) error {
	var op *s3store.OpError
	var ne *net.OpError
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return fmt.Errorf("%s: object not found in %s", what, store)
	case errors.Is(err, storage.ErrCorrupt):
		return fmt.Errorf("%s: the object in %s fails its integrity check: it was stored with another --key, or it is corrupt or tampered with (delete it and store it again from a good copy)", what, store)
	case errors.Is(err, context.Canceled):
		return fmt.Errorf("%s: interrupted", what)
	case errors.Is(err, s3store.ErrUnavailable) && errors.As(err, &ne):
		return fmt.Errorf("%s: cannot reach the S3 server of %s: %v", what, store, ne)
	case errors.As(err, &op):
		return fmt.Errorf("%s: %s: %v", what, store, op.Err)
	}
	return fmt.Errorf("%s: %s: %v", what, store, err)
}

// writeFileAtomic writes data to path through a temporary file in the
// same directory and a rename, so path is never seen half-written.
func writeFileAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".stt-get-*")
	if err != nil {
		return err
	}
	ok := false
	defer func() {
		if !ok {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if err := tmp.Chmod(0o644); err != nil {
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		return err
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	ok = true
	return nil
}
