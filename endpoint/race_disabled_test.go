//go:build !race

package endpoint

// raceEnabled reports that the race detector is off.
const raceEnabled = false
