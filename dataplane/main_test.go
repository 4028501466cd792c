package dataplane_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the test binary if any goroutine outlives the tests: the
// engines' loops and readers, scripted peers' readers and the application
// goroutines FuzzSession starts (each test also checks when it ends).
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
