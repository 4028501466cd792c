//go:build !race

package streaming

// raceEnabled reports that the race detector is off.
const raceEnabled = false
