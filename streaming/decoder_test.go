package streaming

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stt-go/stt/stc"
)

func TestDecoderOptions(t *testing.T) {
	_, rx := newContexts(t, stc.SuiteAES256GCM)
	if _, err := NewDecoder(nil, nil); !errors.Is(err, ErrInvalidOptions) {
		t.Fatalf("nil context: %v", err)
	}
	if _, err := NewDecoder(rx, &DecoderOptions{MaxBuffered: -1}); !errors.Is(err, ErrInvalidOptions) || !strings.Contains(err.Error(), "MaxBuffered") {
		t.Fatalf("negative MaxBuffered: %v", err)
	}
	d, err := NewDecoder(rx, nil)
	if err != nil || d.maxBuffered != DefaultMaxBuffered || d.window != DefaultWindow {
		t.Fatalf("defaults: %v, %+v", err, d)
	}
}

// TestRoundTrip encodes streams of several sizes and delivers the segments
// in several orders, with duplicates and forgeries mixed in; the decoder
// must return exactly the input.
func TestRoundTrip(t *testing.T) {
	orders := []struct {
		name  string
		order func(r *rand.Rand, segs []Segment) []Segment
	}{
		{"in order", func(_ *rand.Rand, s []Segment) []Segment { return s }},
		{"reversed", func(_ *rand.Rand, s []Segment) []Segment {
			out := make([]Segment, len(s))
			for i := range s {
				out[len(s)-1-i] = s[i]
			}
			return out
		}},
		{"shuffled", func(r *rand.Rand, s []Segment) []Segment {
			out := append([]Segment(nil), s...)
			r.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
			return out
		}},
		{"shuffled with duplicates", func(r *rand.Rand, s []Segment) []Segment {
			out := append(append([]Segment(nil), s...), s...)
			r.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
			return out
		}},
	}
	sizes := []int{0, 1, DefaultSegmentSize - SegmentOverhead, DefaultSegmentSize, 1024 - 5, 100_000}
	for _, suite := range []stc.Suite{stc.SuiteAES256GCM, stc.SuiteChaCha20Poly1305, stc.SuiteAES128GCM} {
		for _, mode := range []Mode{Live, Bounded} {
			for _, n := range sizes {
				for _, o := range orders {
					t.Run(suite.String()+"/"+mode.String()+"/"+itoa(n)+"/"+o.name, func(t *testing.T) {
						tx, rx := newContexts(t, suite)
						data := testData(n, uint64(n))
						segs := encodeAll(t, tx, data, &EncoderOptions{Mode: mode, Size: int64(n)})
						dec, err := NewDecoder(rx, nil)
						if err != nil {
							t.Fatal(err)
						}
						r := rand.New(rand.NewPCG(uint64(n), 1))
						seen := map[uint64]bool{}
						for _, s := range o.order(r, segs) {
							// A forged copy first: it must be rejected and
							// must not block the genuine one.
							bad := append([]byte(nil), s.Data...)
							bad[r.IntN(len(bad))] ^= 1 << r.IntN(8)
							if err := dec.Receive(s.Seq, bad); !errors.Is(err, ErrForged) && !errors.Is(err, ErrDuplicate) {
								t.Fatalf("forged segment %d: %v", s.Seq, err)
							}
							err := dec.Receive(s.Seq, s.Data)
							if seen[s.Seq] {
								if !errors.Is(err, ErrDuplicate) {
									t.Fatalf("duplicate %d: %v", s.Seq, err)
								}
								continue
							}
							seen[s.Seq] = true
							if err != nil {
								t.Fatalf("segment %d: %v", s.Seq, err)
							}
						}
						got, err := dec.ReceiveAll(context.Background())
						if err != nil {
							t.Fatal(err)
						}
						if !bytes.Equal(got, data) {
							t.Fatalf("got %d bytes, want %d (content differs)", len(got), len(data))
						}
						if dec.Buffered() != 0 {
							t.Fatalf("Buffered() = %d after ReceiveAll", dec.Buffered())
						}
					})
				}
			}
		}
	}
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b []byte
	for ; n > 0; n /= 10 {
		b = append([]byte{byte('0' + n%10)}, b...)
	}
	return string(b)
}

// TestDecoderErrors checks each rejection, that it is counted, and that the
// decoder still completes the stream afterwards.
func TestDecoderErrors(t *testing.T) {
	tx, _ := newContexts(t, stc.SuiteAES256GCM)
	data := testData(10*(DefaultSegmentSize-SegmentOverhead), 9)
	segs := encodeAll(t, tx, data, &EncoderOptions{Mode: Bounded, Size: int64(len(data))})
	if len(segs) != 10 || !segs[9].Last {
		t.Fatalf("setup: %d segments", len(segs))
	}
	other, err := stc.NewStreamContext(stc.SuiteAES256GCM, testSecret, 7, 4) // another stream
	if err != nil {
		t.Fatal(err)
	}
	otherSeg := other.Seal(nil, 2, append([]byte{0}, data[:10]...))
	flip := func(b []byte, i int) []byte {
		c := append([]byte(nil), b...)
		c[i] ^= 0x80
		return c
	}
	type step struct {
		seq  uint64
		data []byte
		want error
	}
	tests := []struct {
		name  string
		opts  DecoderOptions
		steps []step
		stat  func(DecoderStats) uint64
	}{
		{"duplicate delivered", DecoderOptions{}, []step{{0, segs[0].Data, nil}, {0, segs[0].Data, ErrDuplicate}}, func(s DecoderStats) uint64 { return s.Duplicates }},
		{"duplicate buffered", DecoderOptions{}, []step{{3, segs[3].Data, nil}, {3, segs[3].Data, ErrDuplicate}}, func(s DecoderStats) uint64 { return s.Duplicates }},
		{"flipped ciphertext", DecoderOptions{}, []step{{1, flip(segs[1].Data, 0), ErrForged}}, func(s DecoderStats) uint64 { return s.Forged }},
		{"flipped tag", DecoderOptions{}, []step{{1, flip(segs[1].Data, len(segs[1].Data)-1), ErrForged}}, func(s DecoderStats) uint64 { return s.Forged }},
		{"wrong position", DecoderOptions{}, []step{{2, segs[1].Data, ErrForged}}, func(s DecoderStats) uint64 { return s.Forged }},
		{"other stream", DecoderOptions{}, []step{{2, otherSeg, ErrForged}}, func(s DecoderStats) uint64 { return s.Forged }},
		{"short", DecoderOptions{}, []step{{1, segs[1].Data[:SegmentOverhead-1], ErrForged}}, func(s DecoderStats) uint64 { return s.Forged }},
		{"empty", DecoderOptions{}, []step{{1, nil, ErrForged}}, func(s DecoderStats) uint64 { return s.Forged }},
		{"too large", DecoderOptions{}, []step{{1, make([]byte, MaxSegmentSize+1), ErrTooLarge}}, func(s DecoderStats) uint64 { return s.OutOfWindow }},
		{"beyond window", DecoderOptions{Window: 4}, []step{{4, segs[4].Data, ErrOutOfWindow}, {3, segs[3].Data, nil}}, func(s DecoderStats) uint64 { return s.OutOfWindow }},
		{"window slides", DecoderOptions{Window: 4}, []step{{0, segs[0].Data, nil}, {4, segs[4].Data, nil}, {5, segs[5].Data, ErrOutOfWindow}}, func(s DecoderStats) uint64 { return s.OutOfWindow }},
		{"far beyond window", DecoderOptions{}, []step{{1 << 63, segs[1].Data, ErrOutOfWindow}}, func(s DecoderStats) uint64 { return s.OutOfWindow }},
		{"beyond last", DecoderOptions{}, []step{{9, segs[9].Data, nil}, {10, segs[9].Data, ErrOutOfWindow}}, func(s DecoderStats) uint64 { return s.OutOfWindow }},
		{"buffer full", DecoderOptions{MaxBuffered: 2 * (DefaultSegmentSize + chunkOverhead)}, []step{{5, segs[5].Data, nil}, {6, segs[6].Data, nil}, {7, segs[7].Data, ErrBufferFull}}, func(s DecoderStats) uint64 { return s.BufferFull }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, rx := newContexts(t, stc.SuiteAES256GCM)
			dec, err := NewDecoder(rx, &tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			var rejected uint64
			for i, s := range tt.steps {
				err := dec.Receive(s.seq, s.data)
				if !errors.Is(err, s.want) || (s.want == nil) != (err == nil) {
					t.Fatalf("step %d: Receive(%d) = %v, want %v", i, s.seq, err, s.want)
				}
				if errors.Is(err, ErrForged) && !errors.Is(err, stc.ErrAuth) {
					t.Fatalf("ErrForged does not wrap stc.ErrAuth: %v", err)
				}
				if err != nil {
					rejected++
				}
			}
			if got := tt.stat(dec.Stats()); got != rejected {
				t.Fatalf("counter = %d, want %d (%+v)", got, rejected, dec.Stats())
			}
			// The stream still completes when drained through the Reader.
			var got bytes.Buffer
			for _, s := range segs {
				for {
					err := dec.Receive(s.Seq, s.Data)
					if errors.Is(err, ErrBufferFull) || errors.Is(err, ErrOutOfWindow) {
						if readReady(t, dec, &got) == 0 {
							t.Fatalf("segment %d: %v with nothing to read", s.Seq, err)
						}
						continue
					}
					if err != nil && !errors.Is(err, ErrDuplicate) {
						t.Fatalf("segment %d: %v", s.Seq, err)
					}
					break
				}
			}
			if _, err := got.ReadFrom(dec.Reader()); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got.Bytes(), data) {
				t.Fatalf("stream differs after errors: %d bytes, want %d", got.Len(), len(data))
			}
		})
	}
}

// TestDecoderMalformed feeds authentic segments that break the stream's
// rules, as only a broken key holder could produce.
func TestDecoderMalformed(t *testing.T) {
	tests := []struct {
		name string
		segs []struct {
			seq   uint64
			flags byte
		}
		wantN int // index of the step that must fail with ErrMalformed
	}{
		{"reserved flag", []struct {
			seq   uint64
			flags byte
		}{{0, 0x02}}, 0},
		{"second last", []struct {
			seq   uint64
			flags byte
		}{{3, flagLast}, {1, flagLast}}, 1},
		{"last below buffered", []struct {
			seq   uint64
			flags byte
		}{{5, 0}, {3, flagLast}}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tx, rx := newContexts(t, stc.SuiteChaCha20Poly1305)
			dec, err := NewDecoder(rx, nil)
			if err != nil {
				t.Fatal(err)
			}
			// Seal in increasing seq order as the context requires, then
			// deliver in the table's order.
			sealed := map[uint64][]byte{}
			seqs := []uint64{}
			for _, s := range tt.segs {
				seqs = append(seqs, s.seq)
			}
			for _, seq := range sortedCopy(seqs) {
				for _, s := range tt.segs {
					if s.seq == seq {
						sealed[seq] = tx.Seal(nil, seq, []byte{s.flags, 'x'})
					}
				}
			}
			for i, s := range tt.segs {
				err := dec.Receive(s.seq, sealed[s.seq])
				if i == tt.wantN {
					if !errors.Is(err, ErrMalformed) {
						t.Fatalf("step %d: %v, want ErrMalformed", i, err)
					}
					return
				}
				if err != nil {
					t.Fatalf("step %d: %v", i, err)
				}
			}
			t.Fatal("no step failed")
		})
	}
}

func sortedCopy(s []uint64) []uint64 {
	out := append([]uint64(nil), s...)
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j] < out[i] {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
}

func TestReceiveAllContext(t *testing.T) {
	_, rx := newContexts(t, stc.SuiteAES256GCM)
	dec, err := NewDecoder(rx, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		time.Sleep(10 * time.Millisecond)
		cancel()
	}()
	if _, err := dec.ReceiveAll(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("ReceiveAll = %v, want context.Canceled", err)
	}
}

func TestClose(t *testing.T) {
	tx, rx := newContexts(t, stc.SuiteAES256GCM)
	segs := encodeAll(t, tx, testData(5000, 5), nil)
	dec, err := NewDecoder(rx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := dec.Receive(1, segs[1].Data); err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 2)
	go func() { _, err := dec.Reader().Read(make([]byte, 10)); errs <- err }()
	go func() { _, err := dec.ReceiveAll(context.Background()); errs <- err }()
	time.Sleep(10 * time.Millisecond)
	if err := dec.Close(); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := <-errs; !errors.Is(err, ErrClosed) {
			t.Fatalf("blocked call returned %v, want ErrClosed", err)
		}
	}
	if err := dec.Receive(0, segs[0].Data); !errors.Is(err, ErrClosed) || !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Receive after Close = %v", err)
	}
	if err := dec.Close(); err != nil {
		t.Fatalf("second Close = %v", err)
	}
	if dec.Complete() || dec.Buffered() != 0 {
		t.Fatal("closed decoder reports data")
	}
}

// TestConcurrent delivers a shuffled, duplicated stream from several
// goroutines while one goroutine reads; run under -race.
func TestConcurrent(t *testing.T) {
	tx, rx := newContexts(t, stc.SuiteAES256GCM)
	data := testData(300_000, 6)
	segs := encodeAll(t, tx, data, &EncoderOptions{Mode: Bounded, Size: int64(len(data))})
	dec, err := NewDecoder(rx, &DecoderOptions{MaxBuffered: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	const senders = 4
	var wg sync.WaitGroup
	for w := range senders {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(w), 2))
			// Like a sender that retransmits until acknowledged: keep
			// offering every segment until the stream is complete, since
			// a segment another sender placed may have been evicted.
			for !dec.Complete() {
				for _, i := range r.Perm(len(segs)) {
					err := dec.Receive(segs[i].Seq, segs[i].Data)
					switch {
					case err == nil, errors.Is(err, ErrDuplicate),
						errors.Is(err, ErrBufferFull), errors.Is(err, ErrOutOfWindow):
					default:
						t.Errorf("segment %d: %v", i, err)
						return
					}
				}
				time.Sleep(100 * time.Microsecond)
			}
		})
	}
	got, err := io.ReadAll(dec.Reader())
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, data) {
		t.Fatalf("got %d bytes, want %d", len(got), len(data))
	}
	if st := dec.Stats(); st.Accepted-st.Evicted != uint64(len(segs)) {
		t.Fatalf("accepted %d - evicted %d segments, want %d", st.Accepted, st.Evicted, len(segs))
	}
}

// readReady reads, without blocking, the in-order bytes the decoder holds
// and returns how many it read.
func readReady(tb testing.TB, d *Decoder, w io.Writer) int {
	tb.Helper()
	n := d.Readable()
	if n == 0 {
		return 0
	}
	if _, err := io.CopyN(w, d.Reader(), int64(n)); err != nil {
		tb.Fatal(err)
	}
	return n
}

// TestEvict checks that far-ahead segments give way to the one the reader
// needs, and that evicted segments are accepted again when resent.
func TestEvict(t *testing.T) {
	tx, rx := newContexts(t, stc.SuiteAES256GCM)
	data := testData(4*(DefaultSegmentSize-SegmentOverhead), 8)
	segs := encodeAll(t, tx, data, &EncoderOptions{Mode: Bounded, Size: int64(len(data))})
	unit := DefaultSegmentSize - stc.Overhead - flagsLen + chunkOverhead
	dec, err := NewDecoder(rx, &DecoderOptions{MaxBuffered: 2 * unit})
	if err != nil {
		t.Fatal(err)
	}
	for _, i := range []int{3, 2} { // 3 is the last segment
		if err := dec.Receive(segs[i].Seq, segs[i].Data); err != nil {
			t.Fatal(err)
		}
	}
	if err := dec.Receive(0, segs[0].Data); err != nil { // evicts 3, the highest
		t.Fatalf("in-order segment refused: %v", err)
	}
	if st := dec.Stats(); st.Evicted != 1 || dec.Complete() {
		t.Fatalf("stats %+v complete %v; want 1 eviction", st, dec.Complete())
	}
	var got bytes.Buffer
	readReady(t, dec, &got)
	for _, i := range []int{1, 3} {
		if err := dec.Receive(segs[i].Seq, segs[i].Data); err != nil {
			t.Fatalf("segment %d: %v", i, err)
		}
		readReady(t, dec, &got)
	}
	if _, err := got.ReadFrom(dec.Reader()); err != nil || !bytes.Equal(got.Bytes(), data) {
		t.Fatalf("stream after eviction: %d bytes, %v", got.Len(), err)
	}
}
