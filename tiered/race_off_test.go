//go:build !race

package tiered_test

// raceEnabled tells allocation tests that the race detector is on: it
// drops a share of sync.Pool's items and changes allocation counts.
const raceEnabled = false
