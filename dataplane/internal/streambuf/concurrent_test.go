package streambuf

import (
	"bytes"
	"io"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/stt-go/stt/internal/monotime"
)

// TestConcurrentPipe runs the three real roles at once: an API writer on a
// Send (waiting on Writable), the loop moving frames from Send to Recv with
// loss and reordering (NextFrame, OnLost, OnAcked, Push, MaybeGrowLimit), and
// an API reader on the Recv (waiting on Readable). Run under -race, it checks
// the locking; in any mode, that the bytes arrive exactly and nobody hangs.
func TestConcurrentPipe(t *testing.T) {
	const total = 3 << 20
	src := pattern(0, total, 5)
	snd := NewSend(64 << 10)
	rcv := NewRecv(16<<10, 256<<10, 64)
	wake := make(chan struct{}, 1) // the loop's own wake-up, as the session has
	done := make(chan struct{})
	var wg sync.WaitGroup
	var got []byte

	wg.Add(3)
	go func() { // writer
		defer wg.Done()
		rng := rand.New(rand.NewPCG(1, 1))
		for off := 0; off < total; {
			n, err := snd.Write(src[off:min(total, off+1+rng.IntN(40000))])
			if err != nil {
				t.Error(err)
				return
			}
			off += n
			signal(wake)
			if n == 0 {
				<-snd.Writable()
			}
		}
		snd.Close()
		signal(wake)
	}()
	go func() { // reader
		defer wg.Done()
		defer close(done)
		p := make([]byte, 10000)
		for {
			n, err := rcv.Read(p)
			got = append(got, p[:n]...)
			if err == io.EOF {
				return
			}
			if err != nil {
				t.Error(err)
				return
			}
			if rcv.UpdateDue() {
				signal(wake)
			}
			if n == 0 {
				<-rcv.Readable()
			}
		}
	}()
	go func() { // loop
		defer wg.Done()
		rng := rand.New(rand.NewPCG(2, 2))
		dst := make([]byte, 1400)
		var held []frame // sent, not yet resolved: reordering
		now := monotime.Time(0)
		for {
			progress := false
			if lim, ok := rcv.MaybeGrowLimit(now, time.Millisecond); ok {
				snd.SetPeerLimit(lim)
				progress = true
			}
			for range 8 {
				n, off, fin, _ := snd.NextFrame(dst, len(dst), rcv.Limit())
				if n == 0 && !fin {
					break
				}
				progress = true
				if rng.IntN(20) == 0 {
					snd.OnLost(off, n, fin)
					continue
				}
				if _, err := rcv.Push(off, dst[:n], fin); err != nil {
					t.Error(err)
					return
				}
				held = append(held, frame{off, n, fin})
			}
			for len(held) > 0 && (rng.IntN(4) != 0 || !progress) {
				i := rng.IntN(len(held))
				f := held[i]
				held = append(held[:i], held[i+1:]...)
				snd.OnAcked(f.off, f.n, f.fin)
				progress = true
			}
			if snd.Done() {
				return
			}
			now = now.Add(100 * time.Microsecond)
			if !progress {
				select {
				case <-wake:
				case <-time.After(time.Millisecond): // window update polling, as a timer would
				}
			}
		}
	}()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("pipe stalled")
	}
	wg.Wait()
	if !bytes.Equal(got, src) {
		t.Fatalf("received %d bytes, want %d (content mismatch)", len(got), total)
	}
}
