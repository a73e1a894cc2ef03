//go:build race

package hitratio

// raceEnabled tells TestHitRatio that the race detector is on: under it
// tiercache's miss path costs 35-175 µs (see raceSpec).
const raceEnabled = true
