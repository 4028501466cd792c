//go:build race

package ring

// raceEnabled reports a -race build, under which allocation counts are not
// meaningful and TestNoAllocs is skipped.
const raceEnabled = true
