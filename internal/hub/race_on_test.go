//go:build race

package hub_test

// raceEnabled: the race detector multiplies memory use, so figures are logged, not asserted.
const raceEnabled = true
