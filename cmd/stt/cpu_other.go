//go:build !unix

package main

import "time"

// cpuTime reports that CPU time is not available on this platform.
func cpuTime() (time.Duration, bool) { return 0, false }
