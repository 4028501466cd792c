//go:build race

package streambuf

// raceEnabled reports a -race build, under which allocation counts are not
// meaningful (the race runtime allocates), so TestNoAllocs skips.
const raceEnabled = true
