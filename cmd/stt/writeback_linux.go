package main

import (
	"errors"
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

// writeBehindStep is how many bytes of a received file accumulate before
// a buffered fileWriter asks the kernel to start writing them out.
const writeBehindStep = 8 * miB

// directAlign is the alignment O_DIRECT asks of a write's buffer address,
// length and file offset: the device's logical block size, which is 512
// or 4096 on the disks Linux drives; 4096 covers both.
const directAlign = 4096

// fileWriter writes a received file's body, chunk after chunk, from one
// goroutine (a chunkPipe worker). It does not allocate per write.
//
// It writes with O_DIRECT where the file system allows it: the chunks go
// from the pipe's buffers to the disk without a copy into the page cache.
// That copy, and the writeback of a 1 GiB file the fsync before the reply
// then waits for, cost the receiver more CPU than the whole transport on
// the development machine (dd of 1 GiB to ext4 in 256 KiB writes: 0.2-0.3
// CPU-s with O_DIRECT, 1.8 CPU-s buffered with fsync), and both ends of a
// loopback transfer share its two cores. The chunks are directAlign-
// aligned (recvPool) and, but for a file's last, whole; the first write
// that is not aligned (the tail) or that the file system refuses with
// EINVAL turns O_DIRECT off for the rest of the file. The fsync before
// the reply still makes the file durable: O_DIRECT skips the page cache,
// not the disk's own cache, and the size and block map are metadata.
//
// Buffered (O_DIRECT off or refused from the start, as by a file system
// without direct I/O), it starts the kernel's writeback every
// writeBehindStep bytes (sync_file_range with SYNC_FILE_RANGE_WRITE,
// which queues the I/O and does not wait for it), so that the disk
// writes while the transfer goes on and the fsync finds little left to
// do. Its errors are ignored: the fsync reports any I/O failure.
type fileWriter struct {
	f       *os.File
	direct  bool  // O_DIRECT is on
	written int64 // bytes written
	started int64 // bytes whose writeback was started (buffered)
}

// newFileWriter returns a writer for f, a new, empty file open for
// writing, with O_DIRECT as mode says: directAuto turns it on where the
// file system takes it and is local, directOn wherever the file system
// takes it, directOff never.
func newFileWriter(f *os.File, mode directMode) *fileWriter {
	w := &fileWriter{f: f}
	switch mode {
	case directAuto:
		w.direct = !onNetworkFS(f) && w.setDirect(true) == nil
	case directOn:
		w.direct = w.setDirect(true) == nil
	}
	return w
}

// onNetworkFS reports whether f lives on a network or user-space file
// system (NFS, SMB, Ceph, AFS, Coda, OCFS2, FUSE), where a direct write is
// a synchronous round trip to a server for every 1 MiB chunk and the page
// cache's write-behind is what keeps the disk busy: those keep buffered
// writes. Where the file system cannot be told, it is taken as local.
func onNetworkFS(f *os.File) bool {
	var st unix.Statfs_t
	rc, err := f.SyscallConn()
	if err != nil {
		return false
	}
	var ferr error
	if err := rc.Control(func(fd uintptr) { ferr = unix.Fstatfs(int(fd), &st) }); err != nil || ferr != nil {
		return false
	}
	switch uint32(st.Type) {
	case unix.NFS_SUPER_MAGIC, unix.SMB_SUPER_MAGIC, unix.SMB2_SUPER_MAGIC, unix.CIFS_SUPER_MAGIC,
		unix.CEPH_SUPER_MAGIC, unix.AFS_SUPER_MAGIC, unix.CODA_SUPER_MAGIC, unix.OCFS2_SUPER_MAGIC,
		unix.FUSE_SUPER_MAGIC:
		return true
	}
	return false
}

// setDirect turns O_DIRECT on or off on w.f.
func (w *fileWriter) setDirect(on bool) error {
	rc, err := w.f.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		fl, err := unix.FcntlInt(fd, unix.F_GETFL, 0)
		if err != nil {
			serr = err
			return
		}
		if on {
			fl |= unix.O_DIRECT
		} else {
			fl &^= unix.O_DIRECT
		}
		_, serr = unix.FcntlInt(fd, unix.F_SETFL, fl)
	}); err != nil {
		return err
	}
	return serr
}

// aligned reports whether b can be written with O_DIRECT at the current
// offset (a multiple of directAlign while direct: every earlier direct
// write was).
func aligned(b []byte) bool {
	return len(b)%directAlign == 0 && uintptr(unsafe.Pointer(unsafe.SliceData(b)))%directAlign == 0
}

// endDirect turns O_DIRECT off for the rest of the file. Failing to turn
// it off leaves it on, and a write that then fails reports that.
func (w *fileWriter) endDirect() {
	if w.setDirect(false) == nil {
		w.direct = false
		w.started = w.written
	}
}

// Write writes b at the end of the file.
func (w *fileWriter) Write(b []byte) (int, error) {
	if w.direct && !aligned(b) {
		w.endDirect()
	}
	n, err := w.f.Write(b)
	if err != nil && w.direct && errors.Is(err, unix.EINVAL) {
		// The file system took O_DIRECT but refuses this write with it.
		w.endDirect()
		if !w.direct {
			var m int
			m, err = w.f.Write(b[n:])
			n += m
		}
	}
	w.written += int64(n)
	if !w.direct {
		w.writeBehind()
	}
	return n, err
}

// writeBehind starts the writeback of the bytes written since the last
// start once they reach writeBehindStep.
func (w *fileWriter) writeBehind() {
	if w.written-w.started < writeBehindStep {
		return
	}
	rc, err := w.f.SyscallConn()
	if err != nil {
		return
	}
	off, n := w.started, w.written-w.started
	_ = rc.Control(func(fd uintptr) {
		_ = unix.SyncFileRange(int(fd), off, n, unix.SYNC_FILE_RANGE_WRITE)
	})
	w.started = w.written
}
