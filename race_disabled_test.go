//go:build !race

package stt_test

const raceEnabled = false
