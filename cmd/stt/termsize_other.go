//go:build !unix

package main

import "os"

// termSize cannot ask the terminal here: a character device is taken for
// a terminal of the size $COLUMNS and $LINES say, else 80 x 24.
func termSize(f *os.File) (cols, rows int, ok bool) {
	fi, err := f.Stat()
	if err != nil || fi.Mode()&os.ModeCharDevice == 0 {
		return 0, 0, false
	}
	cols, rows = envSize()
	return cols, rows, true
}
