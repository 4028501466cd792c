package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/debug"
)

// mappedFile is a file being sent, read through a read-only mapping of
// its first size bytes (mapFile) instead of read() into the pipe's
// buffers: the stream's Write copies straight from the page cache and the
// digest hashes the same pages, which saves the sender the kernel's copy
// of every byte into a buffer (17% of the sender's CPU on loopback on
// the development machine; both ends share its cores there).
//
// A mapping has one hazard read() does not: another process that
// truncates the file while it is sent makes the pages past the new end
// fault (SIGBUS). Every access to the mapping therefore runs under guard,
// which turns that fault into errSourceShrank; the file's size is checked
// again at the end, for growth and for a cut inside the last page (which
// reads as zeros instead of faulting).
//
// mappedFile is also an io.Reader (a guarded copy), so that whatever
// takes a body reader can take it; writeBody uses the mapping directly.
type mappedFile struct {
	f    *os.File
	b    []byte // the mapping, len(b) == the size announced
	off  int    // Read's position
	done func() error
}

// errSourceShrank is why a mapped file's transfer stops when the file was
// cut while it was being sent.
var errSourceShrank = errors.New("the source file shrank while it was being sent")

// Read copies from the mapping at the read position.
func (m *mappedFile) Read(p []byte) (int, error) {
	if m.off >= len(m.b) {
		return 0, io.EOF
	}
	var n int
	if guard(func() { n = copy(p, m.b[m.off:]) }) {
		return 0, errSourceShrank
	}
	m.off += n
	return n, nil
}

// checkSize reports a file whose size is no longer the one mapped.
func (m *mappedFile) checkSize() error {
	fi, err := m.f.Stat()
	if err != nil {
		return &sourceError{err: err}
	}
	switch n := fi.Size(); {
	case n > int64(len(m.b)):
		return fmt.Errorf("the source grew beyond %d bytes while sending", len(m.b))
	case n < int64(len(m.b)):
		return fmt.Errorf("%w (%d of %d bytes left)", errSourceShrank, n, len(m.b))
	}
	return nil
}

// close unmaps the file; nothing may touch the mapping afterwards.
func (m *mappedFile) close() error {
	m.b = nil
	return m.done()
}

// guard runs f, which reads a mapped file, and reports whether it stopped
// on a memory fault (the file was cut under the mapping) instead of
// crashing the program. Any other panic goes on. f must leave whatever it
// changes consistent at every instant of its copy: the fault stops it in
// the middle (the stream's Write copies into its buffer under a deferred
// unlock before it counts the bytes, and a hash being fed is abandoned).
func guard(f func()) (faulted bool) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			if _, ok := r.(interface{ Addr() uintptr }); ok {
				faulted = true
				return
			}
			panic(r)
		}
	}()
	f()
	return false
}
