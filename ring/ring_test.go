package ring

import (
	"fmt"
	"runtime"
	"sync"
	"testing"
)

// queue is the ring API the tests drive (one table, should another ring
// kind come back).
type queue[T any] interface {
	Push(T) bool
	Pop() (T, bool)
	Len() int
	Cap() int
}

type queueKind struct {
	name string
	make func(capacity int) queue[*int]
}

var queueKinds = []queueKind{
	{"MPSC", func(c int) queue[*int] { return NewMPSC[*int](c) }},
}

func TestRingCapacity(t *testing.T) {
	tests := []struct{ capacity, want int }{
		{1, 1}, {2, 2}, {3, 4}, {64, 64}, {65, 128}, {1000, 1024},
	}
	for _, k := range queueKinds {
		for _, tt := range tests {
			t.Run(fmt.Sprintf("%s/%d", k.name, tt.capacity), func(t *testing.T) {
				q := k.make(tt.capacity)
				if q.Cap() != tt.want || q.Len() != 0 {
					t.Fatalf("Cap, Len = %d, %d; want %d, 0", q.Cap(), q.Len(), tt.want)
				}
			})
		}
		for _, c := range []int{0, -1, maxRingCap + 1} {
			t.Run(fmt.Sprintf("%s/panics/%d", k.name, c), func(t *testing.T) {
				mustPanic(t, "outside", func() { k.make(c) })
			})
		}
	}
}

func TestRingFIFOFullEmpty(t *testing.T) {
	for _, k := range queueKinds {
		t.Run(k.name, func(t *testing.T) {
			q := k.make(8)
			if v, ok := q.Pop(); ok || v != nil {
				t.Fatalf("Pop on empty = %v, %v", v, ok)
			}
			vals := make([]int, 9)
			for i := range 8 {
				vals[i] = i
				if !q.Push(&vals[i]) {
					t.Fatalf("Push %d failed below capacity", i)
				}
				if q.Len() != i+1 {
					t.Fatalf("Len = %d; want %d", q.Len(), i+1)
				}
			}
			if q.Push(&vals[8]) {
				t.Fatal("Push into full ring succeeded")
			}
			for i := range 8 {
				v, ok := q.Pop()
				if !ok || v != &vals[i] {
					t.Fatalf("Pop %d = %v, %v; want &vals[%d]", i, v, ok, i)
				}
			}
			if _, ok := q.Pop(); ok || q.Len() != 0 {
				t.Fatalf("ring not empty after draining: Len %d", q.Len())
			}
		})
	}
}

// TestRingWraparound interleaves pushes and pops so indices lap the ring
// many times at every fill level, checked against a slice as reference.
func TestRingWraparound(t *testing.T) {
	for _, k := range queueKinds {
		t.Run(k.name, func(t *testing.T) {
			q := k.make(4)
			vals := make([]int, 1000)
			var model []*int
			next := 0
			for step := range 400 {
				pushes := step%5 + 1 // 1..5 pushes, 1..3 pops: fill level wanders
				for range pushes {
					v := &vals[next%len(vals)]
					ok := q.Push(v)
					if ok != (len(model) < 4) {
						t.Fatalf("step %d: Push = %v with %d queued", step, ok, len(model))
					}
					if ok {
						model = append(model, v)
						next++
					}
				}
				for range step%3 + 1 {
					v, ok := q.Pop()
					if ok != (len(model) > 0) || (ok && v != model[0]) {
						t.Fatalf("step %d: Pop = %v, %v; model %v", step, v, ok, model)
					}
					if ok {
						model = model[1:]
					}
				}
				if q.Len() != len(model) {
					t.Fatalf("step %d: Len = %d; want %d", step, q.Len(), len(model))
				}
			}
			if next < 100 {
				t.Fatalf("only %d pushes: the ring did not lap", next)
			}
		})
	}
}

// TestRingClearsSlots checks that popped slots hold no stale pointer.
func TestRingClearsSlots(t *testing.T) {
	x := 1
	m := NewMPSC[*int](4)
	for range 6 { // lap the ring
		m.Push(&x)
		m.Pop()
	}
	for i := range m.slots {
		if m.slots[i].val != nil {
			t.Errorf("MPSC slot %d still holds a pointer", i)
		}
	}
}

// TestMPSCManyProducers pushes distinct values from several producers and
// checks every value is popped exactly once (a checksum plus a seen table)
// and each producer's values come out in its push order.
func TestMPSCManyProducers(t *testing.T) {
	const (
		producers = 4
		each      = 5000
	)
	q := NewMPSC[uint32](32)
	got := runConsumer(t, producers*each, q.Pop, func(signal func()) {
		var wg sync.WaitGroup
		for p := range producers {
			wg.Go(func() {
				for i := range each {
					v := uint32(p<<24 | i) // producer in the top byte, sequence below
					for !q.Push(v) {
						signal()
						runtime.Gosched()
					}
					signal()
				}
			})
		}
		wg.Wait()
	})
	var sum, wantSum uint64
	seen := make(map[uint32]bool, len(got))
	last := [producers]int{-1, -1, -1, -1}
	for _, v := range got {
		p, i := int(v>>24), int(v&0xFFFFFF)
		if seen[v] || p >= producers || i >= each {
			t.Fatalf("value %#x duplicated or never pushed", v)
		}
		seen[v] = true
		if i <= last[p] {
			t.Fatalf("producer %d: %d popped after %d", p, i, last[p])
		}
		last[p] = i
		sum += uint64(v)
	}
	for p := range producers {
		for i := range each {
			wantSum += uint64(p<<24 | i)
		}
	}
	if len(got) != producers*each || sum != wantSum {
		t.Fatalf("popped %d values, checksum %d; want %d, %d", len(got), sum, producers*each, wantSum)
	}
}

// runConsumer starts produce(signal) on its own goroutine and consumes n
// values with the documented Notify protocol: drain until empty, then select
// on the Notify channel. It returns the values in pop order.
func runConsumer[T any](tb testing.TB, n int, pop func() (T, bool), produce func(signal func())) []T {
	tb.Helper()
	note := NewNotify()
	done := make(chan struct{})
	go func() {
		defer close(done)
		produce(note.Signal)
	}()
	got := make([]T, 0, n)
	for len(got) < n {
		for {
			v, ok := pop()
			if !ok {
				break
			}
			got = append(got, v)
		}
		if len(got) < n {
			<-note.C()
		}
	}
	<-done
	if v, ok := pop(); ok {
		tb.Fatalf("extra value %v after %d", v, n)
	}
	return got
}

func TestNotifyCoalesces(t *testing.T) {
	n := NewNotify()
	select {
	case <-n.C():
		t.Fatal("fresh Notify has a pending signal")
	default:
	}
	for range 3 {
		n.Signal() // never blocks
	}
	<-n.C()
	select {
	case <-n.C():
		t.Fatal("three Signals left more than one wake-up")
	default:
	}
}
