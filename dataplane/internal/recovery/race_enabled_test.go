//go:build race

package recovery

// raceEnabled reports whether the race detector is on; allocation counts are
// meaningless under it, so TestNoAllocs skips.
const raceEnabled = true
