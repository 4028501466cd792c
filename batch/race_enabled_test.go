//go:build race

package batch

// raceEnabled skips allocation tests: the race detector allocates.
const raceEnabled = true
