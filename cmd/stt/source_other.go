//go:build !linux

package main

import (
	"errors"
	"os"
)

// mapFile is Linux-only (source_linux.go); elsewhere files are sent with
// read().
func mapFile(*os.File, int64) (*mappedFile, error) {
	return nil, errors.New("mapping files is implemented on Linux only")
}
