//go:build !race

package event

// raceEnabled reports that the race detector is off.
const raceEnabled = false
