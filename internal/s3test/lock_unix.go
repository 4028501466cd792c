//go:build unix

package s3test

import (
	"os"
	"syscall"
)

// lockFile takes an exclusive flock(2) on path, waiting for it, and
// returns the unlock function. The kernel drops the lock if the process
// dies, so a killed build never blocks the next one.
func lockFile(path string) (func(), error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, err
	}
	return func() { f.Close() }, nil
}
