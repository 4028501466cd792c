package storage

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// Disk layout: <dir>/<first address byte, 2 hex digits>/<64 hex digits>.
// The 256-way fan-out keeps directories small (a million objects are about
// 4 000 per directory), as git does for its object store.
const (
	tempPrefix = ".tmp-"
	// staleTempAge is how old a leftover temporary file must be before
	// NewDiskBackend removes it: far longer than any single write takes, so
	// a write in progress in another process is never removed.
	staleTempAge = time.Hour
	dirPerm      = 0o700 // objects are sealed, but their count and sizes are still private
	filePerm     = 0o600
)

// DiskBackend stores each object as one file under a directory. It is safe
// for concurrent use, also by several processes on the same directory.
//
// Crash safety: Put writes to a temporary file in the object's fan-out
// directory, fsyncs it, closes it, renames it over the final name (atomic
// on POSIX filesystems: readers see the old state or the whole new file),
// then fsyncs the directory so the rename itself survives a power loss.
// A crash before the rename leaves only a temporary file, which Get, Has
// and Delete never look at and NewDiskBackend removes once it is older
// than an hour; a crash after it leaves the complete object. Since every
// Put of an address writes the same bytes, a lost rename loses nothing
// that a later Store will not rewrite.
type DiskBackend struct {
	dir string
}

var _ Backend = (*DiskBackend)(nil)

// NewDiskBackend returns a backend rooted at dir, creating it (mode 0700)
// if needed, and removes temporary files left by crashed writes that are
// older than an hour. An empty dir returns an error wrapping
// ErrInvalidOptions; filesystem failures are returned as they are.
func NewDiskBackend(dir string) (*DiskBackend, error) {
	if dir == "" {
		return nil, fmt.Errorf("%w: directory is empty", ErrInvalidOptions)
	}
	if err := os.MkdirAll(dir, dirPerm); err != nil {
		return nil, fmt.Errorf("storage: %w", err)
	}
	d := &DiskBackend{dir: dir}
	if err := d.removeStaleTemps(time.Now()); err != nil {
		return nil, err
	}
	return d, nil
}

// removeStaleTemps deletes temporary files older than staleTempAge at now.
func (d *DiskBackend) removeStaleTemps(now time.Time) error {
	temps, err := filepath.Glob(filepath.Join(d.dir, "[0-9a-f][0-9a-f]", tempPrefix+"*"))
	if err != nil {
		return fmt.Errorf("storage: %w", err)
	}
	for _, p := range temps {
		fi, err := os.Stat(p)
		if err != nil || now.Sub(fi.ModTime()) < staleTempAge {
			continue
		}
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("storage: %w", err)
		}
	}
	return nil
}

// Dir returns the backend's root directory.
func (d *DiskBackend) Dir() string { return d.dir }

// path returns the fan-out directory and file name of addr.
func (d *DiskBackend) path(addr Addr) (dir, file string) {
	name := hex.EncodeToString(addr[:])
	dir = filepath.Join(d.dir, name[:2])
	return dir, filepath.Join(dir, name)
}

// Put writes blob at addr atomically and durably (see the type's doc). It
// checks ctx before starting; once started, a write runs to completion.
func (d *DiskBackend) Put(ctx context.Context, addr Addr, blob []byte) (err error) {
	if err := ctx.Err(); err != nil {
		return err
	}
	dir, file := d.path(addr)
	if err := os.MkdirAll(dir, dirPerm); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, tempPrefix+"*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if err = f.Chmod(filePerm); err != nil {
		return err
	}
	if _, err = f.Write(blob); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	if err = os.Rename(tmp, file); err != nil {
		return err
	}
	return syncDir(dir)
}

// syncDir fsyncs a directory so that a rename into it is durable.
func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// Get reads the object at addr; a missing file is ErrNotFound.
func (d *DiskBackend) Get(ctx context.Context, addr Addr) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	_, file := d.path(addr)
	b, err := os.ReadFile(file)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %w", ErrNotFound, err)
	}
	return b, err
}

// Has reports whether the object file exists.
func (d *DiskBackend) Has(ctx context.Context, addr Addr) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	_, file := d.path(addr)
	_, err := os.Stat(file)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, fs.ErrNotExist):
		return false, nil
	}
	return false, err
}

// Delete removes the object file; a missing file is not an error.
func (d *DiskBackend) Delete(ctx context.Context, addr Addr) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	_, file := d.path(addr)
	if err := os.Remove(file); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}
