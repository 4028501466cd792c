package main

import (
	"os"

	"golang.org/x/sys/unix"
)

// writeBehindStep is how many bytes of a received file accumulate before
// writeBehind asks the kernel to start writing them out.
const writeBehindStep = 8 * miB

// writeBehind starts the kernel's writeback of a file being received every
// writeBehindStep bytes (sync_file_range with SYNC_FILE_RANGE_WRITE, which
// queues the I/O and does not wait for it), so that the disk writes while
// the transfer goes on and the fsync before the reply finds little left
// to do. Without it, a 1 GiB file is written out only by that fsync,
// after the last byte arrived. Errors are ignored: the fsync reports any
// I/O failure. It is used from one goroutine (a chunkPipe worker).
type writeBehind struct {
	f                *os.File
	written, started int64
}

func newWriteBehind(f *os.File) *writeBehind { return &writeBehind{f: f} }

// wrote records n more bytes written at the end of the file.
func (w *writeBehind) wrote(n int) {
	w.written += int64(n)
	if w.written-w.started < writeBehindStep {
		return
	}
	rc, err := w.f.SyscallConn()
	if err != nil {
		return
	}
	off, n64 := w.started, w.written-w.started
	_ = rc.Control(func(fd uintptr) {
		_ = unix.SyncFileRange(int(fd), off, n64, unix.SYNC_FILE_RANGE_WRITE)
	})
	w.started = w.written
}
