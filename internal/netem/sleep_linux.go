package netem

import (
	"time"

	"golang.org/x/sys/unix"
)

// sleep blocks the calling goroutine's thread for d with nanosleep(2).
// The Go runtime's timers wake a sub-millisecond sleep up to a
// millisecond late when the process is otherwise idle (the netpoller
// waits in whole milliseconds); nanosleep wakes within the kernel's timer
// slack (50 µs by default), which keeps the release goroutine's
// wake-ups sub-millisecond without spinning. The runtime hands the P to
// another thread while this one sleeps.
func sleep(d time.Duration) {
	ts := unix.NsecToTimespec(int64(d))
	for {
		err := unix.Nanosleep(&ts, &ts)
		if err != unix.EINTR {
			return
		}
	}
}
