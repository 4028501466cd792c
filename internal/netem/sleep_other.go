//go:build !linux

package netem

import "time"

// sleep is time.Sleep where nanosleep is not wired up: the emulator still
// works, with the runtime timers' coarser wake-ups adding delay.
func sleep(d time.Duration) { time.Sleep(d) }
