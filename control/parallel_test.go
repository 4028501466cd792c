package control

import (
	"runtime"
	"sync/atomic"
	"testing"
)

// TestParallel: every job runs exactly once and its effects are visible
// when parallel returns, whether the helpers start early, late or never
// (GOMAXPROCS 1 runs them serially).
func TestParallel(t *testing.T) {
	for _, procs := range []int{1, 2, 4} {
		old := runtime.GOMAXPROCS(procs)
		for n := 1; n <= 5; n++ {
			for range 300 {
				var runs [5]atomic.Int32
				var plain [5]int // written by the jobs without atomics: -race checks the happens-before
				jobs := make([]func(), n)
				for i := range jobs {
					jobs[i] = func() { runs[i].Add(1); plain[i]++ }
				}
				parallel(jobs...)
				for i := range n {
					if runs[i].Load() != 1 || plain[i] != 1 {
						t.Fatalf("GOMAXPROCS %d, %d jobs: job %d ran %d times", procs, n, i, runs[i].Load())
					}
				}
			}
		}
		runtime.GOMAXPROCS(old)
	}
}
