package streaming

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stt-go/stt/stc"
)

// waitTimeout bounds waits in these tests. It only turns a hang into a
// failure; no test depends on how fast anything runs.
const waitTimeout = 20 * time.Second

// recordWriter hands each Write to a channel, as a message carrier would.
type recordWriter chan []byte

func (w recordWriter) Write(p []byte) (int, error) {
	w <- bytes.Clone(p)
	return len(p), nil
}

// TestCopyToLive checks the live pump: each chunk written to the source
// leaves as one record, a single Write, before the next chunk exists, and
// the source's end produces the Last record and a nil return.
func TestCopyToLive(t *testing.T) {
	tx, rx := newContexts(t, stc.SuiteChaCha20Poly1305)
	pr, pw := io.Pipe()
	enc, err := NewEncoder(pr, tx, nil)
	if err != nil {
		t.Fatal(err)
	}
	dec, err := NewDecoder(rx, nil)
	if err != nil {
		t.Fatal(err)
	}
	records := make(recordWriter, 1)
	done := make(chan error, 1)
	go func() { _, err := enc.CopyTo(context.Background(), records); done <- err }()
	next := func() Segment {
		t.Helper()
		select {
		case rec := <-records:
			s, n, err := ParseRecord(rec)
			if err != nil || n != len(rec) {
				t.Fatalf("a Write is not exactly one record: %d of %d bytes, %v", n, len(rec), err)
			}
			return s
		case <-time.After(waitTimeout):
			t.Fatal("no record")
			panic("unreachable")
		}
	}
	for i, chunk := range []string{"frame 1", "f2", string(testData(3000, 5))} {
		go pw.Write([]byte(chunk)) // the pipe blocks until CopyTo reads
		var got []byte
		for len(got) < len(chunk) { // a chunk above the payload size takes several records
			s := next()
			if err := dec.Receive(s.Seq, s.Data); err != nil {
				t.Fatal(err)
			}
			buf := make([]byte, dec.Readable())
			io.ReadFull(dec.Reader(), buf)
			got = append(got, buf...)
		}
		if string(got) != chunk {
			t.Fatalf("chunk %d: decoded %d bytes, want %d", i, len(got), len(chunk))
		}
	}
	pw.Close()
	last := next()
	if err := dec.Receive(last.Seq, last.Data); err != nil || !dec.Complete() {
		t.Fatalf("last record: %v, complete %v", err, dec.Complete())
	}
	if err := <-done; err != nil {
		t.Fatalf("CopyTo = %v", err)
	}
}

// TestCopyRoundTrip pumps streams of several sizes, in both modes,
// through CopyTo into a byte buffer and back with CopyFrom.
func TestCopyRoundTrip(t *testing.T) {
	for _, mode := range []Mode{Live, Bounded} {
		for _, n := range []int{0, 1, 1200 - SegmentOverhead, 1 << 16, 1<<16 + 7} {
			for _, segSize := range []int{MinSegmentSize, 100, DefaultSegmentSize, MaxSegmentSize} {
				t.Run(fmt.Sprint(mode, "/", n, "/", segSize), func(t *testing.T) {
					if segSize == MinSegmentSize && n > 4096 {
						t.Skip("one-byte segments: covered by the smaller sizes")
					}
					tx, rx := newContexts(t, stc.SuiteAES256GCM)
					data := testData(n, uint64(n))
					enc, err := NewEncoder(oneOrAll(mode, data), tx, &EncoderOptions{Mode: mode, Size: int64(n), SegmentSize: segSize})
					if err != nil {
						t.Fatal(err)
					}
					var carrier bytes.Buffer
					wrote, err := enc.CopyTo(context.Background(), &carrier)
					if err != nil || wrote != int64(carrier.Len()) {
						t.Fatalf("CopyTo = %d, %v; carrier holds %d", wrote, err, carrier.Len())
					}
					dec, err := NewDecoder(rx, &DecoderOptions{MaxBuffered: 2*n + 1<<20})
					if err != nil {
						t.Fatal(err)
					}
					defer dec.Close()
					read, err := dec.CopyFrom(context.Background(), &carrier)
					if err != nil || read != wrote {
						t.Fatalf("CopyFrom = %d, %v; want %d", read, err, wrote)
					}
					got, err := dec.ReceiveAll(context.Background())
					if err != nil || !bytes.Equal(got, data) {
						t.Fatalf("decoded %d bytes, %v; want %d", len(got), err, n)
					}
				})
			}
		}
	}
}

// oneOrAll returns a Bounded source as one reader, and a Live source in
// small irregular chunks, as a live source produces them.
func oneOrAll(m Mode, data []byte) io.Reader {
	if m == Bounded {
		return bytes.NewReader(data)
	}
	return &chunkReader{b: data}
}

// chunkReader returns 1, 2, …, 97 bytes per Read, cyclically.
type chunkReader struct {
	b []byte
	i int
}

func (c *chunkReader) Read(p []byte) (int, error) {
	if len(c.b) == 0 {
		return 0, io.EOF
	}
	c.i = c.i%97 + 1
	n := copy(p[:min(len(p), c.i)], c.b)
	c.b = c.b[n:]
	return n, nil
}

// TestCopyFile is the bounded mode for files: a file is encoded into
// another file, which is decoded through the Reader by a reader slower
// than the carrier, with a byte budget far below the file's size.
func TestCopyFile(t *testing.T) {
	dir := t.TempDir()
	data := testData(1<<20+3, 11)
	src := filepath.Join(dir, "video.bin")
	if err := os.WriteFile(src, data, 0o600); err != nil {
		t.Fatal(err)
	}
	tx, rx := newContexts(t, stc.PreferredSuite())
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	fi, err := in.Stat()
	if err != nil {
		t.Fatal(err)
	}
	enc, err := NewEncoder(in, tx, &EncoderOptions{Mode: Bounded, Size: fi.Size()})
	if err != nil {
		t.Fatal(err)
	}
	out, err := os.Create(filepath.Join(dir, "video.stt"))
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	if _, err := enc.CopyTo(context.Background(), out); err != nil {
		t.Fatal(err)
	}
	if _, err := out.Seek(0, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	const budget = 16 << 10
	dec, err := NewDecoder(rx, &DecoderOptions{MaxBuffered: budget})
	if err != nil {
		t.Fatal(err)
	}
	defer dec.Close()
	copied := make(chan error, 1)
	go func() { _, err := dec.CopyFrom(context.Background(), out); copied <- err }()
	var got bytes.Buffer
	buf := make([]byte, 500) // slower than the carrier: small reads
	for {
		if b := dec.Buffered(); b > budget {
			t.Fatalf("decoder holds %d bytes, budget %d", b, budget)
		}
		n, err := dec.Reader().Read(buf)
		got.Write(buf[:n])
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := <-copied; err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Bytes(), data) {
		t.Fatalf("decoded %d bytes, want %d", got.Len(), len(data))
	}
	if st := dec.Stats(); st.BufferFull != 0 || st.Evicted != 0 {
		t.Fatalf("stats %+v: CopyFrom must wait for the reader, not drop", st)
	}
}

// TestCopyFromSkips feeds CopyFrom a carrier that duplicates, forges,
// reorders and sends out-of-window records: it skips and counts them and
// still completes.
func TestCopyFromSkips(t *testing.T) {
	tx, rx := newContexts(t, stc.SuiteChaCha20Poly1305)
	data := testData(1000, 12)
	segs := encodeAll(t, tx, data, &EncoderOptions{Mode: Bounded, Size: 1000, SegmentSize: 217})
	var carrier []byte
	add := func(s Segment) {
		var err error
		if carrier, err = s.AppendRecord(carrier); err != nil {
			t.Fatal(err)
		}
	}
	forged := bytes.Clone(segs[1].Data)
	forged[3] ^= 0x40
	add(segs[1])                                    // ahead of a gap
	add(Segment{Seq: segs[1].Seq, Data: forged})    // forged: seq 1 is already held, so a duplicate
	add(Segment{Seq: segs[2].Seq, Data: forged})    // forged under another number
	add(Segment{Seq: 1 << 30, Data: segs[0].Data})  // out of window
	add(segs[0])                                    // fills the gap
	add(segs[0])                                    // duplicate of a delivered one
	add(Segment{Seq: segs[3].Seq, Data: []byte{1}}) // too short to be a segment
	for _, s := range segs[2:] {
		add(s)
	}
	dec, err := NewDecoder(rx, &DecoderOptions{Window: 64})
	if err != nil {
		t.Fatal(err)
	}
	defer dec.Close()
	if _, err := dec.CopyFrom(context.Background(), bytes.NewReader(carrier)); err != nil {
		t.Fatal(err)
	}
	got, err := dec.ReceiveAll(context.Background())
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("decoded %d bytes, %v", len(got), err)
	}
	st := dec.Stats()
	if st.Duplicates != 2 || st.Forged != 2 || st.OutOfWindow != 1 || st.Accepted != uint64(len(segs)) {
		t.Fatalf("stats %+v", st)
	}
}

// TestCopyFromErrors checks the errors that stop CopyFrom, and that each
// aborts the decoder: the Reader returns the bytes in order, then the
// error.
func TestCopyFromErrors(t *testing.T) {
	tx, _ := newContexts(t, stc.SuiteChaCha20Poly1305)
	segs := encodeAll(t, tx, testData(500, 13), &EncoderOptions{Mode: Bounded, Size: 500, SegmentSize: 100})
	first, _ := segs[0].AppendRecord(nil)
	firstPayload := len(segs[0].Data) - SegmentOverhead
	tx2, _ := newContexts(t, stc.SuiteChaCha20Poly1305)                    // tx has sealed seq 1 already
	badFlags := Segment{Seq: 1, Data: tx2.Seal(nil, 1, []byte{0x02, 'x'})} // reserved flag bit
	errCarrier := errors.New("carrier reset")
	type tc struct {
		name string
		r    io.Reader
		opts *DecoderOptions
		want error
	}
	var tests []tc
	for _, rc := range recordErrorCases {
		if len(rc.in) == 0 {
			continue // an empty carrier is the "ends early" case below
		}
		tests = append(tests, tc{"record: " + rc.name, bytes.NewReader(append(bytes.Clone(first), rc.in...)), nil, rc.want})
	}
	tests = append(tests,
		tc{"ends early", bytes.NewReader(first), nil, io.ErrUnexpectedEOF},
		tc{"carrier fails", io.MultiReader(bytes.NewReader(first), errReader{errCarrier}), nil, errCarrier},
		tc{"malformed segment", bytes.NewReader(must(badFlags.AppendRecord(bytes.Clone(first)))), nil, ErrMalformed},
		tc{"segment above the budget", bytes.NewReader(first), &DecoderOptions{MaxBuffered: 10}, ErrBufferFull},
	)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, rx := newContexts(t, stc.SuiteChaCha20Poly1305)
			dec, err := NewDecoder(rx, tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			defer dec.Close()
			if _, err := dec.CopyFrom(context.Background(), tt.r); !errors.Is(err, tt.want) {
				t.Fatalf("CopyFrom = %v, want %v", err, tt.want)
			}
			got, err := io.ReadAll(dec.Reader())
			if !errors.Is(err, tt.want) {
				t.Fatalf("Reader after the failure = %v, want the CopyFrom error", err)
			}
			wantN := firstPayload
			if tt.opts != nil { // the first segment did not fit
				wantN = 0
			}
			if len(got) != wantN {
				t.Fatalf("Reader returned %d bytes, want the %d in order", len(got), wantN)
			}
			if err := dec.Receive(segs[1].Seq, segs[1].Data); !errors.Is(err, tt.want) {
				t.Fatalf("Receive after abort = %v", err)
			}
			if _, err := dec.ReceiveAll(context.Background()); !errors.Is(err, tt.want) {
				t.Fatalf("ReceiveAll after abort = %v", err)
			}
		})
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// TestAbort checks Abort's no-op cases: nil, a complete stream, twice.
func TestAbort(t *testing.T) {
	tx, rx := newContexts(t, stc.SuiteChaCha20Poly1305)
	dec, err := NewDecoder(rx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer dec.Close()
	dec.Abort(nil)
	segs := encodeAll(t, tx, []byte("whole"), &EncoderOptions{Mode: Bounded, Size: 5})
	for _, s := range segs {
		if err := dec.Receive(s.Seq, s.Data); err != nil {
			t.Fatal(err)
		}
	}
	dec.Abort(errBoom) // complete: ignored
	if b, err := io.ReadAll(dec.Reader()); err != nil || string(b) != "whole" {
		t.Fatalf("read %q, %v after Abort of a complete stream", b, err)
	}
}

// TestCopyContext checks that both pumps stop when ctx ends while blocked:
// in a source Read, in a carrier Read, in a carrier Write, and while
// waiting for the reader to free room.
func TestCopyContext(t *testing.T) {
	errStop := errors.New("viewer left")
	cancelAfter := func(t *testing.T, d time.Duration) context.Context {
		ctx, cancel := context.WithCancelCause(context.Background())
		timer := time.AfterFunc(d, func() { cancel(errStop) })
		t.Cleanup(func() { timer.Stop(); cancel(nil) })
		return ctx
	}
	t.Run("CopyTo blocked reading the source", func(t *testing.T) {
		tx, _ := newContexts(t, stc.SuiteChaCha20Poly1305)
		a, b := net.Pipe() // nothing is ever written to b
		defer a.Close()
		defer b.Close()
		enc, err := NewEncoder(a, tx, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := enc.CopyTo(cancelAfter(t, 10*time.Millisecond), io.Discard); !errors.Is(err, context.Canceled) {
			t.Fatalf("CopyTo = %v, want context.Canceled", err)
		}
	})
	t.Run("CopyTo blocked writing", func(t *testing.T) {
		tx, _ := newContexts(t, stc.SuiteChaCha20Poly1305)
		a, b := net.Pipe() // nobody reads b
		defer a.Close()
		defer b.Close()
		enc, err := NewEncoder(loopReader{[]byte("x")}, tx, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := enc.CopyTo(cancelAfter(t, 10*time.Millisecond), a); !errors.Is(err, context.Canceled) {
			t.Fatalf("CopyTo = %v, want context.Canceled", err)
		}
		if _, err := enc.Next(); err == nil {
			t.Fatal("the Encoder carries on after a segment was lost")
		}
	})
	t.Run("CopyFrom blocked reading the carrier", func(t *testing.T) {
		_, rx := newContexts(t, stc.SuiteChaCha20Poly1305)
		a, b := net.Pipe()
		defer a.Close()
		defer b.Close()
		dec, err := NewDecoder(rx, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer dec.Close()
		if _, err := dec.CopyFrom(cancelAfter(t, 10*time.Millisecond), a); !errors.Is(err, context.Canceled) {
			t.Fatalf("CopyFrom = %v, want context.Canceled", err)
		}
		if _, err := dec.Reader().Read(make([]byte, 1)); !errors.Is(err, context.Canceled) {
			t.Fatalf("Reader after CopyFrom was cancelled = %v", err)
		}
	})
	t.Run("CopyFrom waiting for the reader", func(t *testing.T) {
		tx, rx := newContexts(t, stc.SuiteChaCha20Poly1305)
		var carrier bytes.Buffer
		enc, _ := NewEncoder(bytes.NewReader(testData(5000, 1)), tx, &EncoderOptions{Mode: Bounded, Size: 5000})
		if _, err := enc.CopyTo(context.Background(), &carrier); err != nil {
			t.Fatal(err)
		}
		dec, err := NewDecoder(rx, &DecoderOptions{MaxBuffered: 2000}) // one segment fits; nobody reads
		if err != nil {
			t.Fatal(err)
		}
		defer dec.Close()
		if _, err := dec.CopyFrom(cancelAfter(t, 10*time.Millisecond), &carrier); !errors.Is(err, context.Canceled) {
			t.Fatalf("CopyFrom = %v, want context.Canceled", err)
		}
		if st := dec.Stats(); st.BufferFull != 0 || st.Accepted != 1 || dec.Buffered() > 2000 {
			t.Fatalf("stats %+v, buffered %d", st, dec.Buffered())
		}
	})
}

// failWriter fails after n successful writes.
type failWriter struct {
	n   int
	err error
}

func (w *failWriter) Write(p []byte) (int, error) {
	if w.n == 0 {
		return 0, w.err
	}
	w.n--
	return len(p), nil
}

// TestCopyToWriteError checks that a failed write stops CopyTo and leaves
// the Encoder failed, so no later segment hides the hole.
func TestCopyToWriteError(t *testing.T) {
	tx, _ := newContexts(t, stc.SuiteChaCha20Poly1305)
	enc, err := NewEncoder(loopReader{testData(100, 2)}, tx, nil)
	if err != nil {
		t.Fatal(err)
	}
	w := &failWriter{n: 3, err: errBoom}
	if _, err := enc.CopyTo(context.Background(), w); !errors.Is(err, errBoom) {
		t.Fatalf("CopyTo = %v", err)
	}
	if _, err := enc.Next(); !errors.Is(err, errBoom) {
		t.Fatalf("Next after the failed write = %v, want it again", err)
	}
	if enc.Seq() != 4 {
		t.Fatalf("sealed %d segments, want 4 (3 written, 1 lost)", enc.Seq())
	}
}

// TestCopyConcurrent runs a live pump pair over a pipe with a reader,
// many times, under -race.
func TestCopyConcurrent(t *testing.T) {
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			tx, rx := newContexts(t, stc.SuiteAES256GCM)
			data := testData(20000, uint64(i))
			pr, pw := io.Pipe()
			enc, _ := NewEncoder(&chunkReader{b: data}, tx, &EncoderOptions{SegmentSize: 300})
			dec, _ := NewDecoder(rx, &DecoderOptions{MaxBuffered: 1000})
			defer dec.Close()
			go func() { _, err := enc.CopyTo(context.Background(), pw); pw.CloseWithError(err) }()
			copied := make(chan error, 1)
			go func() { _, err := dec.CopyFrom(context.Background(), pr); copied <- err }()
			got, err := io.ReadAll(dec.Reader())
			if err != nil || !bytes.Equal(got, data) {
				t.Errorf("pair %d: %d bytes, %v", i, len(got), err)
			}
			if err := <-copied; err != nil {
				t.Errorf("pair %d: CopyFrom %v", i, err)
			}
		})
	}
	wg.Wait()
}

// TestCopyToAllocs checks that CopyTo's allocations do not grow with the
// number of segments: only its record buffer (and the encoder setup).
func TestCopyToAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	if testing.CoverMode() != "" {
		t.Skip("coverage instrumentation may allocate")
	}
	data := testData(200*(DefaultSegmentSize-SegmentOverhead), 3)
	r := bytes.NewReader(nil)
	run := func(n int) float64 {
		return testing.AllocsPerRun(20, func() {
			tx, _ := newContexts(t, stc.SuiteAES256GCM)
			r.Reset(data[:n])
			enc, err := NewEncoder(r, tx, &EncoderOptions{Mode: Bounded, Size: int64(n)})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := enc.CopyTo(context.Background(), io.Discard); err != nil {
				t.Fatal(err)
			}
		})
	}
	if one, many := run(1), run(len(data)); many != one {
		t.Fatalf("CopyTo of 200 segments: %v allocs, of 1 segment: %v; want equal", many, one)
	}
}

// BenchmarkCopy measures a live pump pair over an in-memory carrier, per
// stream byte.
func BenchmarkCopy(b *testing.B) {
	for _, n := range []int{64 << 10, 1 << 20} {
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			data := testData(n, 1)
			var carrier bytes.Buffer
			b.SetBytes(int64(n))
			b.ReportAllocs()
			for b.Loop() {
				tx, rx := newContexts(b, stc.PreferredSuite())
				carrier.Reset()
				enc, _ := NewEncoder(bytes.NewReader(data), tx, &EncoderOptions{Mode: Bounded, Size: int64(n)})
				if _, err := enc.CopyTo(context.Background(), &carrier); err != nil {
					b.Fatal(err)
				}
				dec, _ := NewDecoder(rx, &DecoderOptions{MaxBuffered: 2 * n})
				if _, err := dec.CopyFrom(context.Background(), &carrier); err != nil {
					b.Fatal(err)
				}
				if _, err := dec.ReceiveAll(context.Background()); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
