package streambuf

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if any test leaves a goroutine behind (the
// concurrency tests start writers, readers and a loop).
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
