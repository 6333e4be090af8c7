//go:build !unix

package pgtest

// watchdog does nothing where there is no POSIX shell: Main still stops
// the server after the tests.
func watchdog(stopArgs []string, dir string) {}
