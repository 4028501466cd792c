//go:build unix

package main

import (
	"os"

	"golang.org/x/sys/unix"
)

// lockOutDir takes an exclusive flock on dir when no other listener holds
// one, else a shared one (waiting only while another listener sweeps).
// Where the directory cannot be locked (some network file systems) it
// returns a lock with f nil, and nothing is swept.
func lockOutDir(dir string) *outDirLock {
	f, err := os.Open(dir)
	if err != nil {
		return &outDirLock{}
	}
	fd := int(f.Fd())
	if err := unix.Flock(fd, unix.LOCK_EX|unix.LOCK_NB); err == nil {
		return &outDirLock{f: f, exclusive: true}
	}
	if err := unix.Flock(fd, unix.LOCK_SH); err != nil {
		f.Close()
		return &outDirLock{}
	}
	return &outDirLock{f: f}
}

// downgrade turns an exclusive lock into a shared one, so that other
// listeners may share the directory once the sweep is done.
func (l *outDirLock) downgrade() {
	if l.f != nil && l.exclusive {
		_ = unix.Flock(int(l.f.Fd()), unix.LOCK_SH)
	}
}
