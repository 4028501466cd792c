package streaming

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/stt-go/stt/stc"
)

func TestEncoderOptions(t *testing.T) {
	tx, _ := newContexts(t, stc.SuiteChaCha20Poly1305)
	r := strings.NewReader("x")
	tests := []struct {
		name string
		r    io.Reader
		sc   *stc.StreamContext
		opts *EncoderOptions
		want string // substring of the error; "" means success
	}{
		{"nil options", r, tx, nil, ""},
		{"nil reader", nil, tx, nil, "reader is nil"},
		{"nil context", r, nil, nil, "StreamContext is nil"},
		{"bad mode", r, tx, &EncoderOptions{Mode: 9}, "Mode(9)"},
		{"negative size", r, tx, &EncoderOptions{Mode: Bounded, Size: -1}, "Size -1"},
		{"negative size ignored in live", r, tx, &EncoderOptions{Size: -1}, ""},
		{"segment too small", r, tx, &EncoderOptions{SegmentSize: MinSegmentSize - 1}, "SegmentSize"},
		{"segment minimum", r, tx, &EncoderOptions{SegmentSize: MinSegmentSize}, ""},
		{"segment maximum", r, tx, &EncoderOptions{SegmentSize: MaxSegmentSize}, ""},
		{"segment too large", r, tx, &EncoderOptions{SegmentSize: MaxSegmentSize + 1}, "SegmentSize"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			enc, err := NewEncoder(tt.r, tt.sc, tt.opts)
			if tt.want == "" {
				if err != nil || enc == nil {
					t.Fatalf("NewEncoder = %v, %v; want success", enc, err)
				}
				return
			}
			if !errors.Is(err, ErrInvalidOptions) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v; want ErrInvalidOptions mentioning %q", err, tt.want)
			}
		})
	}
}

func TestModeString(t *testing.T) {
	for m, want := range map[Mode]string{Live: "live", Bounded: "bounded", 7: "Mode(7)"} {
		if got := m.String(); got != want {
			t.Errorf("Mode(%d).String() = %q, want %q", uint8(m), got, want)
		}
	}
}

// TestEncoderSegments checks segment sizes, numbering and the Last flag.
func TestEncoderSegments(t *testing.T) {
	const seg = 100
	payload := seg - SegmentOverhead
	tests := []struct {
		name   string
		mode   Mode
		n      int
		reader func([]byte) io.Reader
		want   []int // payload length of each segment
	}{
		{"bounded empty", Bounded, 0, nil, []int{0}},
		{"bounded one byte", Bounded, 1, nil, []int{1}},
		{"bounded exact", Bounded, payload, nil, []int{payload}},
		{"bounded one over", Bounded, payload + 1, nil, []int{payload, 1}},
		{"bounded three", Bounded, 3 * payload, nil, []int{payload, payload, payload}},
		{"bounded slow reader fills", Bounded, payload + 5, func(b []byte) io.Reader { return oneByteReader{bytes.NewReader(b)} }, []int{payload, 5}},
		{"live empty", Live, 0, nil, []int{0}},
		{"live bytes.Reader", Live, payload + 5, nil, []int{payload, 5, 0}},
		{"live data with EOF", Live, 5, func(b []byte) io.Reader { return dataEOFReader{b} }, []int{5}},
		{"live one byte per read", Live, 3, func(b []byte) io.Reader { return oneByteReader{bytes.NewReader(b)} }, []int{1, 1, 1, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tx, _ := newContexts(t, stc.SuiteAES256GCM)
			data := testData(tt.n, 1)
			var r io.Reader = bytes.NewReader(data)
			if tt.reader != nil {
				r = tt.reader(data)
			}
			enc, err := NewEncoder(r, tx, &EncoderOptions{Mode: tt.mode, Size: int64(tt.n), SegmentSize: seg})
			if err != nil {
				t.Fatal(err)
			}
			var got []int
			for {
				s, err := enc.Next()
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				if s.Seq != uint64(len(got)) {
					t.Fatalf("segment %d has Seq %d", len(got), s.Seq)
				}
				if len(s.Data) > seg {
					t.Fatalf("segment %d is %d bytes, SegmentSize %d", s.Seq, len(s.Data), seg)
				}
				got = append(got, len(s.Data)-SegmentOverhead)
				if s.Last != (len(got) == len(tt.want)) {
					t.Fatalf("segment %d Last = %v", s.Seq, s.Last)
				}
			}
			if !equalInts(got, tt.want) {
				t.Fatalf("payload lengths %v, want %v", got, tt.want)
			}
			if _, err := enc.Next(); !errors.Is(err, io.EOF) {
				t.Fatalf("Next after end = %v, want io.EOF", err)
			}
			if enc.Seq() != uint64(len(tt.want)) {
				t.Fatalf("Seq() = %d, want %d", enc.Seq(), len(tt.want))
			}
		})
	}
}

// dataEOFReader returns all its bytes together with io.EOF.
type dataEOFReader struct{ b []byte }

func (d dataEOFReader) Read(p []byte) (int, error) { return copy(p, d.b), io.EOF }

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestEncoderErrors(t *testing.T) {
	tests := []struct {
		name string
		r    io.Reader
		opts EncoderOptions
		want error
	}{
		{"bounded short", strings.NewReader("abc"), EncoderOptions{Mode: Bounded, Size: 4}, ErrSizeMismatch},
		{"bounded long", strings.NewReader("abcde"), EncoderOptions{Mode: Bounded, Size: 4}, ErrSizeMismatch},
		{"bounded long at segment edge", strings.NewReader(strings.Repeat("a", 2*(DefaultSegmentSize-SegmentOverhead))), EncoderOptions{Mode: Bounded, Size: DefaultSegmentSize - SegmentOverhead}, ErrSizeMismatch},
		{"bounded read error", errReader{errBoom}, EncoderOptions{Mode: Bounded, Size: 4}, errBoom},
		{"bounded probe error", io.MultiReader(strings.NewReader("abcd"), errReader{errBoom}), EncoderOptions{Mode: Bounded, Size: 4}, errBoom},
		{"bounded no progress", zeroReader{}, EncoderOptions{Mode: Bounded, Size: 0}, io.ErrNoProgress},
		{"live read error", errReader{errBoom}, EncoderOptions{}, errBoom},
		{"live no progress", zeroReader{}, EncoderOptions{}, io.ErrNoProgress},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tx, _ := newContexts(t, stc.SuiteAES256GCM)
			enc, err := NewEncoder(tt.r, tx, &tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			var gotErr error
			for seg, err := range enc.All() {
				if err != nil {
					gotErr = err
					break
				}
				if seg.Last {
					t.Fatalf("segment %d marked Last despite the error", seg.Seq)
				}
			}
			if !errors.Is(gotErr, tt.want) {
				t.Fatalf("error %v, want %v", gotErr, tt.want)
			}
			if _, err := enc.Next(); !errors.Is(err, tt.want) {
				t.Fatalf("error not sticky: %v", err)
			}
		})
	}
}

// zeroReader always returns (0, nil).
type zeroReader struct{}

func (zeroReader) Read([]byte) (int, error) { return 0, nil }

// TestAllStopsEarly checks that breaking out of All leaves the encoder
// usable from where it stopped.
func TestAllStopsEarly(t *testing.T) {
	tx, _ := newContexts(t, stc.SuiteAES256GCM)
	enc, err := NewEncoder(bytes.NewReader(testData(5000, 2)), tx, &EncoderOptions{Mode: Bounded, Size: 5000})
	if err != nil {
		t.Fatal(err)
	}
	for range enc.All() {
		break
	}
	s, err := enc.Next()
	if err != nil || s.Seq != 1 {
		t.Fatalf("Next after break = seq %d, %v; want seq 1", s.Seq, err)
	}
}

// TestLiveEmitsPromptly checks the live contract: a segment leaves as soon
// as the source has some bytes, without waiting for a full segment, and the
// decoder's Reader sees them before the stream ends.
func TestLiveEmitsPromptly(t *testing.T) {
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
	writes := [][]byte{[]byte("hello"), []byte(" "), testData(3000, 3), []byte("end")}
	var want []byte
	for _, w := range writes {
		want = append(want, w...)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	go func() {
		for _, w := range writes {
			if _, err := pw.Write(w); err != nil {
				return
			}
		}
		pw.Close()
	}()
	// The first write is 5 bytes: the first segment must carry exactly
	// those, not wait for more.
	s, err := enc.Next()
	if err != nil || len(s.Data)-SegmentOverhead != 5 || s.Last {
		t.Fatalf("first segment: %d payload bytes, last %v, %v; want 5 bytes", len(s.Data)-SegmentOverhead, s.Last, err)
	}
	if err := dec.Receive(s.Seq, s.Data); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, 5)
	if _, err := io.ReadFull(dec.Reader(), got); err != nil || string(got) != "hello" {
		t.Fatalf("reader got %q, %v before the stream ended", got, err)
	}
	for seg, err := range enc.All() {
		if err != nil {
			t.Fatal(err)
		}
		if err := dec.Receive(seg.Seq, seg.Data); err != nil {
			t.Fatal(err)
		}
	}
	rest, err := dec.ReceiveAll(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := append(got, rest...); !bytes.Equal(got, want) {
		t.Fatalf("live stream corrupted: got %d bytes, want %d", len(got), len(want))
	}
}

// TestLiveSlowConsumer runs a live encoder over a pipe fed in small writes
// with a reader that drains slowly, through a decoder with a small buffer:
// the sender retries on ErrBufferFull, and every byte arrives in order.
func TestLiveSlowConsumer(t *testing.T) {
	tx, rx := newContexts(t, stc.SuiteAES256GCM)
	want := testData(64<<10, 4)
	pr, pw := io.Pipe()
	go func() {
		for b := want; len(b) > 0; {
			n := min(len(b), 777)
			if _, err := pw.Write(b[:n]); err != nil {
				return
			}
			b = b[n:]
		}
		pw.Close()
	}()
	enc, err := NewEncoder(pr, tx, &EncoderOptions{SegmentSize: 512})
	if err != nil {
		t.Fatal(err)
	}
	dec, err := NewDecoder(rx, &DecoderOptions{MaxBuffered: 4096})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	var got bytes.Buffer
	go func() {
		buf := make([]byte, 100) // slow: small reads
		for {
			n, err := dec.Reader().Read(buf)
			got.Write(buf[:n])
			if err == io.EOF {
				done <- nil
				return
			}
			if err != nil {
				done <- err
				return
			}
		}
	}()
	fulls := 0
	for seg, err := range enc.All() {
		if err != nil {
			t.Fatal(err)
		}
		for {
			err := dec.Receive(seg.Seq, seg.Data)
			if err == nil {
				break
			}
			if !errors.Is(err, ErrBufferFull) {
				t.Fatal(err)
			}
			fulls++
			time.Sleep(50 * time.Microsecond)
		}
		if b := dec.Buffered(); b > 4096 {
			t.Fatalf("decoder holds %d bytes, limit 4096", b)
		}
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Bytes(), want) {
		t.Fatalf("got %d bytes, want %d, equal prefix broken", got.Len(), len(want))
	}
	if st := dec.Stats(); st.BufferFull != uint64(fulls) || st.Delivered != uint64(len(want)) {
		t.Fatalf("stats %+v; want BufferFull %d, Delivered %d", st, fulls, len(want))
	}
}
