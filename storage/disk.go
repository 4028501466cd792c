package storage

import (
	"bytes"
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
// directory, fsyncs it, closes it, hard-links it to the final name (atomic
// on POSIX filesystems, and refused if the name exists, which makes Put
// put-if-absent), removes the temporary name, then fsyncs the directory so
// the link itself survives a power loss. A crash before the link leaves
// only a temporary file, which Get, Stat, List and Delete never look at
// and NewDiskBackend removes once it is older than an hour; a crash after
// it leaves the complete object. Since every Put of an address writes the
// same bytes, a lost link loses nothing that a later Store will not
// rewrite. On filesystems without hard links Put falls back to rename(2)
// after checking the name is free, which is atomic but can, in a race with
// another writer of the same address, replace its (identical) object.
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

// Put writes blob at addr atomically and durably unless an object is
// already there (see the type's doc). It checks ctx before starting; once
// started, a write runs to completion.
func (d *DiskBackend) Put(ctx context.Context, addr Addr, blob []byte) (stored bool, err error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	dir, file := d.path(addr)
	if fi, err := os.Lstat(file); err == nil {
		if !fi.Mode().IsRegular() {
			return false, fmt.Errorf("storage: %s is in the way: not a regular file (%v)", file, fi.Mode().Type())
		}
		return false, nil
	}
	if err := os.MkdirAll(dir, dirPerm); err != nil {
		return false, err
	}
	f, err := os.CreateTemp(dir, tempPrefix+"*")
	if err != nil {
		return false, err
	}
	tmp := f.Name()
	defer os.Remove(tmp) // after a link, only the temporary name goes
	if err := writeSynced(f, blob); err != nil {
		return false, err
	}
	// Publish without replacing: link(2) fails with EEXIST when the name
	// is taken, atomically, where rename(2) would replace it.
	err = os.Link(tmp, file)
	switch {
	case errors.Is(err, fs.ErrExist):
		return false, nil
	case errors.Is(err, errors.ErrUnsupported), errors.Is(err, fs.ErrPermission):
		// No hard links on this filesystem (FAT, some FUSE mounts):
		// rename, which is atomic but may replace an object written
		// since the Lstat above. Store writes identical bytes to an
		// address, so for it the difference is invisible.
		if _, serr := os.Lstat(file); serr == nil {
			return false, nil
		}
		err = os.Rename(tmp, file)
	}
	if err != nil {
		return false, err
	}
	return true, syncDir(dir)
}

// writeSynced writes blob to f with the object mode, fsyncs and closes it.
func writeSynced(f *os.File, blob []byte) error {
	err := f.Chmod(filePerm)
	if err == nil {
		_, err = f.Write(blob)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
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

// Stat returns the size of the object file; a missing file is
// ErrNotFound.
func (d *DiskBackend) Stat(ctx context.Context, addr Addr) (Info, error) {
	if err := ctx.Err(); err != nil {
		return Info{}, err
	}
	_, file := d.path(addr)
	fi, err := os.Stat(file)
	switch {
	case err == nil:
		return Info{Size: fi.Size()}, nil
	case errors.Is(err, fs.ErrNotExist):
		return Info{}, fmt.Errorf("%w: %w", ErrNotFound, err)
	}
	return Info{}, err
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

// List walks the fan-out directories in order from after's, reading one
// directory at a time, and returns up to limit object addresses after
// *after. Temporary files and names that are not 64 lower-case hex digits
// under their own fan-out directory are ignored.
func (d *DiskBackend) List(ctx context.Context, after *Addr, limit int) ([]Addr, bool, error) {
	if limit <= 0 {
		limit = DefaultListLimit
	}
	first := 0
	if after != nil {
		first = int(after[0])
	}
	var out []Addr
	for fan := first; fan < 256; fan++ {
		if err := ctx.Err(); err != nil {
			return nil, false, err
		}
		ents, err := os.ReadDir(filepath.Join(d.dir, hex.EncodeToString([]byte{byte(fan)})))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, false, err
		}
		for _, e := range ents { // sorted by name, which is address order
			a, ok := parseObjectName(e.Name(), byte(fan))
			if !ok || (after != nil && bytes.Compare(a[:], after[:]) <= 0) {
				continue
			}
			if len(out) == limit {
				return out, true, nil
			}
			out = append(out, a)
		}
	}
	return out, false, nil
}

// parseObjectName returns the address an object file name encodes: 64
// lower-case hex digits whose first byte is fan.
func parseObjectName(name string, fan byte) (Addr, bool) {
	var a Addr
	if len(name) != 2*len(a) {
		return a, false
	}
	if _, err := hex.Decode(a[:], []byte(name)); err != nil || a[0] != fan {
		return a, false
	}
	for _, c := range []byte(name) {
		if c >= 'A' && c <= 'F' {
			return a, false // one name per address: lower case only
		}
	}
	return a, true
}
