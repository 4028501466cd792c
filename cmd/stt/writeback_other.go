//go:build !linux

package main

import "os"

// directAlign is the alignment of the chunk pools' buffers (for O_DIRECT on
// Linux; see writeback_linux.go).
const directAlign = 4096

// fileWriter writes a received file's body with plain writes outside
// Linux: the fsync before the reply writes the whole file (see
// writeback_linux.go).
type fileWriter struct{ f *os.File }

// newFileWriter returns a writer for f; mode (stt listen --direct-io)
// matters only on Linux.
func newFileWriter(f *os.File, mode directMode) *fileWriter { return &fileWriter{f: f} }

// Write writes b at the end of the file.
func (w *fileWriter) Write(b []byte) (int, error) { return w.f.Write(b) }
