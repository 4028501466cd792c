//go:build unix

package main

import (
	"os"

	"golang.org/x/sys/unix"
)

// termSize returns the terminal's width and height in character cells
// when f is a terminal (the TIOCGWINSZ ioctl, the call x/term's GetSize
// makes; x/sys is already a dependency, x/term would add a module for
// this one call), or ok false.
func termSize(f *os.File) (cols, rows int, ok bool) {
	rc, err := f.SyscallConn()
	if err != nil {
		return 0, 0, false
	}
	var (
		ws   *unix.Winsize
		werr error
	)
	if err := rc.Control(func(fd uintptr) { ws, werr = unix.IoctlGetWinsize(int(fd), unix.TIOCGWINSZ) }); err != nil || werr != nil {
		return 0, 0, false
	}
	return int(ws.Col), int(ws.Row), true
}
