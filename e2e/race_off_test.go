//go:build !race

package e2e

// raceEnabled says the tests run with the race detector; child Caddy
// processes are then built with it too.
const raceEnabled = false
