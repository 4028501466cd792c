//go:build race

package ws

// raceEnabled skips allocation guards under the race detector, which
// allocates on its own (style rule 35).
const raceEnabled = true
