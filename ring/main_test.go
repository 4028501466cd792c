package ring

import (
	"strings"
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if any test leaves a goroutine running.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// mustPanic runs f and fails tb unless it panics with a message containing want.
func mustPanic(tb testing.TB, want string, f func()) {
	tb.Helper()
	defer func() {
		tb.Helper()
		r := recover()
		if r == nil {
			tb.Fatalf("no panic; want one containing %q", want)
		}
		msg, _ := r.(string)
		if !strings.Contains(msg, want) {
			tb.Fatalf("panic %q; want one containing %q", r, want)
		}
	}()
	f()
}
