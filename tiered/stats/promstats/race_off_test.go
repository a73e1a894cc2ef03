//go:build !race

package promstats_test

// raceEnabled tells allocation tests that the race detector is on.
const raceEnabled = false
