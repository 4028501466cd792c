//go:build !linux

package s3test

// listensOn cannot look at other processes' sockets here; the start-up
// check then relies on the gateway's Server header alone.
func listensOn(pid, port int) (bool, error) { return true, nil }
