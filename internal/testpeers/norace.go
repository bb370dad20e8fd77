//go:build !race

package testpeers

// raceEnabled reports whether this binary was built with -race.
const raceEnabled = false
