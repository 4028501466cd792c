package ws

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain checks that every test leaves no goroutine behind. The two
// ignored ones belong to gnet's package-level worker pool
// (pkg/pool/goroutine.DefaultWorkerPool, an ants pool created at package
// init): they exist before any test starts and live for the process.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		goleak.IgnoreTopFunction("github.com/panjf2000/ants/v2.(*poolCommon).purgeStaleWorkers"),
		goleak.IgnoreTopFunction("github.com/panjf2000/ants/v2.(*poolCommon).ticktock"))
}
