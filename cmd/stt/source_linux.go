package main

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// mapFile maps the first size bytes of f, a regular file open for reading,
// read-only and shared, with sequential read-ahead (MADV_SEQUENTIAL). It
// fails for an empty file and wherever mmap does (the caller then reads
// with read()).
func mapFile(f *os.File, size int64) (*mappedFile, error) {
	if size <= 0 || int64(int(size)) != size {
		return nil, errors.New("nothing to map")
	}
	rc, err := f.SyscallConn()
	if err != nil {
		return nil, err
	}
	var (
		b    []byte
		merr error
	)
	if err := rc.Control(func(fd uintptr) {
		b, merr = unix.Mmap(int(fd), 0, int(size), unix.PROT_READ, unix.MAP_SHARED)
	}); err != nil {
		return nil, err
	}
	if merr != nil {
		return nil, merr
	}
	_ = unix.Madvise(b, unix.MADV_SEQUENTIAL) // advice: the mapping works without it
	return &mappedFile{f: f, b: b, done: func() error { return unix.Munmap(b) }}, nil
}
