package ring

import "testing"

// Sinks keep the compiler from optimising the measured calls away.
var (
	sinkBuf  []byte
	sinkInt  int
	sinkPtr  *int
	sinkBool bool
)

// TestNoAllocs guards the steady-state hot paths: after warm-up (slabs
// carved, rings built) none of them may allocate.
func TestNoAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are not meaningful under -race")
	}
	pool := NewPool(PacketBufSize, 64, 256)
	batch := make([][]byte, 64)
	pool.putBatch(batch[:pool.getBatch(batch)]) // warm up: carve a slab
	exhausted := NewPool(smallBufSize, 1, 1)
	held := exhausted.Get()
	defer exhausted.Put(held)
	mpsc := NewMPSC[*int](64)
	note := NewNotify()
	x := new(int)

	tests := []struct {
		name string
		fn   func()
	}{
		{"Pool.Get+Put", func() {
			sinkBuf = pool.Get()
			pool.Put(sinkBuf)
		}},
		{"Pool.getBatch+putBatch", func() {
			sinkInt = pool.getBatch(batch)
			pool.putBatch(batch[:sinkInt])
		}},
		{"Pool.Get miss", func() {
			sinkBuf = exhausted.Get() // nil: counted, not allocated
		}},
		{"Pool.getBatch miss", func() {
			sinkInt = exhausted.getBatch(batch)
		}},
		{"MPSC.Push+Pop", func() {
			sinkBool = mpsc.Push(x)
			sinkPtr, sinkBool = mpsc.Pop()
		}},
		{"Notify.Signal+receive", func() {
			note.Signal()
			<-note.C()
		}},
		{"stats", func() {
			sinkInt = pool.inUse() + pool.Allocated() + pool.Cap() + int(pool.Misses()) +
				mpsc.Len() + mpsc.Cap()
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if n := testing.AllocsPerRun(100, tt.fn); n != 0 {
				t.Errorf("%s: %v allocs per run; want 0", tt.name, n)
			}
		})
	}
}
