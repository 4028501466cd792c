//go:build !race

package stc

// raceEnabled reports that the race detector is off.
const raceEnabled = false
