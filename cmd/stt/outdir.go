package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// The out directory of `stt listen`: created when missing, checked for
// writing, and cleared of the partial files an interrupted run left —
// but only when no other `stt listen` uses the directory, since the
// partial files of a running listener look the same. Each listener holds
// a shared lock on the directory (flock) while it runs; one that can take
// the lock exclusively at start knows it is alone, removes the stale
// partial files and says so, then keeps a shared lock. One that cannot
// leaves them and says how many there are.

// outDirMode is the mode listen creates a missing --out with, less the
// umask.
const outDirMode = 0o755

// prepareOutDir creates dir (and its parents) when it does not exist and
// checks that it is a directory this process can create files in. It
// reports a directory it created on w.
func prepareOutDir(dir string, w io.Writer) error {
	fi, err := os.Stat(dir)
	if errors.Is(err, fs.ErrNotExist) {
		if err := os.MkdirAll(dir, outDirMode); err != nil {
			return fmt.Errorf("--out: cannot create %s: %v", dir, pathless(err))
		}
		fmt.Fprintf(w, "created %s\n", dir)
		fi, err = os.Stat(dir)
	}
	if err != nil {
		return fmt.Errorf("--out: %s: %v", dir, pathless(err))
	}
	if !fi.IsDir() {
		return fmt.Errorf("--out: %s is not a directory", dir)
	}
	f, err := createPart(dir)
	if err != nil {
		return fmt.Errorf("--out: %s is not writable: %v", dir, pathless(err))
	}
	f.Close()
	if err := os.Remove(f.Name()); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("--out: %v", pathless(err))
	}
	return nil
}

// outDirLock is a listener's hold on its out directory.
type outDirLock struct {
	f         *os.File // the directory, locked; nil without locking
	exclusive bool     // the lock was taken exclusively at start: no other listener uses dir
}

// release drops the lock.
func (l *outDirLock) release() {
	if l.f != nil {
		l.f.Close()
	}
}

// partialFiles lists the partial files in dir with their total size.
func partialFiles(dir string) (names []string, size int64, err error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, 0, err
	}
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), tempPrefix) || !e.Type().IsRegular() {
			continue
		}
		names = append(names, e.Name())
		if fi, err := e.Info(); err == nil {
			size += fi.Size()
		}
	}
	return names, size, nil
}

// sweepPartials locks dir and, when this listener is alone in it, removes
// the partial files of interrupted runs; it reports what it removed, or
// what it left, on w. The caller releases the lock when it stops.
func sweepPartials(dir string, w io.Writer) (*outDirLock, error) {
	lock := lockOutDir(dir)
	names, size, err := partialFiles(dir)
	if err != nil {
		lock.release()
		return nil, fmt.Errorf("--out: %v", err)
	}
	if len(names) == 0 {
		lock.downgrade()
		return lock, nil
	}
	if !lock.exclusive {
		why := "another stt listen uses the directory"
		if lock.f == nil {
			why = "the directory cannot be locked here"
		}
		fmt.Fprintf(w, "left %d partial file(s) (%s) in %s: %s; remove %s* there when no transfer runs\n",
			len(names), formatBytes(size), dir, why, tempPrefix)
		return lock, nil
	}
	removed := 0
	for _, n := range names {
		if err := os.Remove(filepath.Join(dir, n)); err == nil {
			removed++
		}
	}
	lock.downgrade()
	fmt.Fprintf(w, "removed %d partial file(s) (%s) that an interrupted run left in %s\n", removed, formatBytes(size), dir)
	if removed < len(names) {
		return lock, fmt.Errorf("--out: could not remove %d partial file(s) in %s", len(names)-removed, dir)
	}
	return lock, nil
}
