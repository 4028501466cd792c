package streaming

import (
	"bytes"
	"io"
	"strconv"
	"testing"

	"github.com/stt-go/stt/stc"
)

// Sinks keep results alive so the compiler cannot drop the measured calls.
var (
	sinkSeg Segment
	sinkErr error
	sinkN   int
)

// loopReader yields the same bytes forever, like an endless live source.
type loopReader struct{ b []byte }

func (l loopReader) Read(p []byte) (int, error) { return copy(p, l.b), nil }

// TestNoAllocs guards the steady-state paths: sealing the next segment
// into a caller buffer, and an in-order Receive followed by a Read that
// drains it.
func TestNoAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	if testing.CoverMode() != "" {
		t.Skip("coverage instrumentation may allocate")
	}
	tx, rx := newContexts(t, stc.SuiteAES256GCM)
	enc, err := NewEncoder(loopReader{testData(4096, 1)}, tx, nil)
	if err != nil {
		t.Fatal(err)
	}
	dst := make([]byte, 0, DefaultSegmentSize)
	dec, err := NewDecoder(rx, nil)
	if err != nil {
		t.Fatal(err)
	}
	rd := dec.Reader()
	out := make([]byte, DefaultSegmentSize)
	warm := func() {
		sinkSeg, sinkErr = enc.NextInto(dst)
		sinkErr = dec.Receive(sinkSeg.Seq, sinkSeg.Data)
		sinkN, sinkErr = rd.Read(out)
	}
	warm() // the first Receive allocates the buffer later ones reuse
	tests := []struct {
		name string
		fn   func()
	}{
		{"Encoder.NextInto+Decoder.Receive+Read", warm},
	}
	for _, tt := range tests {
		if n := testing.AllocsPerRun(100, tt.fn); n != 0 {
			t.Errorf("%s: %v allocs, want 0", tt.name, n)
		}
		if sinkErr != nil {
			t.Fatalf("%s: %v", tt.name, sinkErr)
		}
	}
}

var benchSizes = []int{1024 - 5, 64 << 10, 1 << 20}

// BenchmarkEncoder measures sealing a bounded stream into default-size
// segments, per stream byte.
func BenchmarkEncoder(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			data := testData(n, 1)
			dst := make([]byte, 0, DefaultSegmentSize)
			r := bytes.NewReader(data)
			b.SetBytes(int64(n))
			b.ReportAllocs()
			for b.Loop() {
				b.StopTimer() // a context seals each seq once: a fresh one per pass
				tx, _ := newContexts(b, stc.PreferredSuite())
				r.Reset(data)
				b.StartTimer()
				enc, err := NewEncoder(r, tx, &EncoderOptions{Mode: Bounded, Size: int64(n)})
				if err != nil {
					b.Fatal(err)
				}
				for {
					s, err := enc.NextInto(dst)
					if err == io.EOF {
						break
					}
					if err != nil {
						b.Fatal(err)
					}
					sinkSeg = s
				}
			}
		})
	}
}

// BenchmarkDecoder measures Receive plus Read of a stream, per stream
// byte: in order with a reader that keeps up (buffers recycled), and
// reversed (everything buffered out of order, then read at once).
func BenchmarkDecoder(b *testing.B) {
	for _, order := range []string{"inorder", "reversed"} {
		for _, n := range benchSizes {
			b.Run(order+"/"+strconv.Itoa(n), func(b *testing.B) {
				data := testData(n, 1)
				tx, _ := newContexts(b, stc.PreferredSuite())
				segs := encodeAll(b, tx, data, &EncoderOptions{Mode: Bounded, Size: int64(n)})
				if order == "reversed" {
					for i, j := 0, len(segs)-1; i < j; i, j = i+1, j-1 {
						segs[i], segs[j] = segs[j], segs[i]
					}
				}
				out := make([]byte, 64<<10)
				b.SetBytes(int64(n))
				b.ReportAllocs()
				for b.Loop() {
					b.StopTimer()
					_, rx := newContexts(b, stc.PreferredSuite())
					dec, err := NewDecoder(rx, nil)
					if err != nil {
						b.Fatal(err)
					}
					b.StartTimer()
					rd := dec.Reader()
					for _, s := range segs {
						if err := dec.Receive(s.Seq, s.Data); err != nil {
							b.Fatal(err)
						}
						if order == "inorder" {
							sinkN, sinkErr = rd.Read(out) // reader keeps up
						}
					}
					for {
						if _, err := rd.Read(out); err == io.EOF {
							break
						}
					}
				}
			})
		}
	}
}
