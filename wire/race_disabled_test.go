//go:build !race

package wire

// raceEnabled reports that the race detector is on; allocation counts are
// then meaningless, so TestNoAllocs skips.
const raceEnabled = false
