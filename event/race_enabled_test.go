//go:build race

package event

// raceEnabled reports that the race detector is on; it allocates, so
// TestNoAllocs is skipped.
const raceEnabled = true
