package streaming

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math"
	"testing"

	"github.com/stt-go/stt/stc"
)

// TestRecordRoundTrip encodes records of edge-case sequence numbers and
// lengths, checks RecordLen and the bytes, and parses them back.
func TestRecordRoundTrip(t *testing.T) {
	big := bytes.Repeat([]byte{0xab}, MaxSegmentSize)
	tests := []struct {
		name string
		seg  Segment
		want []byte // the record, or nil to check only the round trip
	}{
		{"empty", Segment{Seq: 0, Data: nil}, []byte{0x00, 0x00}},
		{"one byte", Segment{Seq: 1, Data: []byte{0xee}}, []byte{0x01, 0x01, 0xee}},
		{"seq 127", Segment{Seq: 127, Data: []byte("ab")}, []byte{0x7f, 0x02, 'a', 'b'}},
		{"seq 128", Segment{Seq: 128, Data: []byte("ab")}, []byte{0x80, 0x01, 0x02, 'a', 'b'}},
		{"length 128", Segment{Seq: 2, Data: big[:128]}, append([]byte{0x02, 0x80, 0x01}, big[:128]...)},
		{"max seq", Segment{Seq: math.MaxUint64, Data: []byte("x")}, nil},
		{"max size", Segment{Seq: 1 << 40, Data: big}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec, err := tt.seg.AppendRecord([]byte("prefix"))
			if err != nil {
				t.Fatal(err)
			}
			rec = rec[len("prefix"):]
			if tt.want != nil && !bytes.Equal(rec, tt.want) {
				t.Fatalf("record % x, want % x", rec, tt.want)
			}
			if len(rec) != tt.seg.RecordLen() || len(rec) > MaxRecordLen {
				t.Fatalf("record is %d bytes, RecordLen %d, max %d", len(rec), tt.seg.RecordLen(), MaxRecordLen)
			}
			in := append(rec[:len(rec):len(rec)], "trailing"...)
			got, n, err := ParseRecord(in)
			if err != nil || n != len(rec) || got.Seq != tt.seg.Seq || !bytes.Equal(got.Data, tt.seg.Data) || got.Last {
				t.Fatalf("ParseRecord = seq %d, %d bytes, n %d, %v", got.Seq, len(got.Data), n, err)
			}
			if len(got.Data) > 0 && &got.Data[0] != &in[n-len(got.Data)] {
				t.Fatal("Data is a copy, not a view of the input")
			}
		})
	}
	if _, err := (Segment{Data: make([]byte, MaxSegmentSize+1)}).AppendRecord(nil); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("AppendRecord of an oversized segment = %v", err)
	}
}

// recordErrorCases are malformed records shared by the parser table and
// the CopyFrom table.
var recordErrorCases = []struct {
	name string
	in   []byte
	want error
}{
	{"empty", nil, io.ErrUnexpectedEOF},
	{"seq unfinished", []byte{0x80}, io.ErrUnexpectedEOF},
	{"length missing", []byte{0x05}, io.ErrUnexpectedEOF},
	{"length unfinished", []byte{0x05, 0x81}, io.ErrUnexpectedEOF},
	{"data truncated", []byte{0x05, 0x03, 'a', 'b'}, io.ErrUnexpectedEOF},
	{"non-minimal seq", []byte{0x80, 0x00, 0x00}, ErrMalformedRecord},
	{"non-minimal length", []byte{0x00, 0x81, 0x00, 'a'}, ErrMalformedRecord},
	{"seq overflows", []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0x00}, ErrMalformedRecord},
	{"length too large", []byte{0x00, 0xe4, 0xff, 0x03}, ErrTooLarge}, // 65508
	{"length far too large", []byte{0x00, 0xff, 0xff, 0xff, 0xff, 0x0f}, ErrTooLarge},
}

func TestParseRecordErrors(t *testing.T) {
	for _, tt := range recordErrorCases {
		t.Run(tt.name, func(t *testing.T) {
			s, n, err := ParseRecord(tt.in)
			if !errors.Is(err, tt.want) || n != 0 || s.Data != nil {
				t.Fatalf("ParseRecord(% x) = %d bytes, n %d, %v; want %v", tt.in, len(s.Data), n, err, tt.want)
			}
		})
	}
}

// FuzzRecord feeds arbitrary bytes to the two record parsers a peer can
// reach. ParseRecord: anything it accepts re-encodes to the same bytes
// and RecordLen agrees; every error is a documented one. CopyFrom: over
// the same bytes it never panics, never holds more than its budget, and
// ends with nil only for a complete stream, else with a documented error.
func FuzzRecord(f *testing.F) {
	tx, _ := newContexts(f, stc.SuiteChaCha20Poly1305)
	var stream []byte
	for _, s := range encodeAll(f, tx, testData(300, 9), &EncoderOptions{Mode: Bounded, Size: 300, SegmentSize: 64}) {
		stream, _ = s.AppendRecord(stream)
	}
	f.Add(stream)
	f.Add(stream[:len(stream)/2])
	for _, tt := range recordErrorCases {
		f.Add(tt.in)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		if s, n, err := ParseRecord(in); err == nil {
			if n != s.RecordLen() {
				t.Fatalf("consumed %d, RecordLen %d", n, s.RecordLen())
			}
			re, err := s.AppendRecord(nil)
			if err != nil || !bytes.Equal(re, in[:n]) {
				t.Fatalf("re-encoded % x, parsed % x (%v)", re, in[:n], err)
			}
		} else if !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, ErrTooLarge) && !errors.Is(err, ErrMalformedRecord) {
			t.Fatalf("undocumented ParseRecord error %v", err)
		}

		_, rx := newContexts(t, stc.SuiteChaCha20Poly1305)
		const budget = 256
		d, err := NewDecoder(rx, &DecoderOptions{MaxBuffered: budget, Window: 16})
		if err != nil {
			t.Fatal(err)
		}
		defer d.Close()
		got := make(chan []byte, 1)
		go func() { b, _ := io.ReadAll(d.Reader()); got <- b }()
		n, err := d.CopyFrom(context.Background(), bytes.NewReader(in))
		if n > int64(len(in)) || d.Buffered() > budget {
			t.Fatalf("consumed %d of %d bytes; holds %d of %d", n, len(in), d.Buffered(), budget)
		}
		switch {
		case err == nil:
			if !d.Complete() {
				t.Fatal("CopyFrom returned nil for an incomplete stream")
			}
		case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, ErrTooLarge), errors.Is(err, ErrMalformedRecord),
			errors.Is(err, ErrMalformed), errors.Is(err, ErrBufferFull):
		default:
			t.Fatalf("undocumented CopyFrom error %v", err)
		}
		// The reader ends with EOF or the abort error. Only the genuine
		// segments open, so what it read is a prefix of the sealed data,
		// and all of it once the stream is complete.
		genuine := testData(300, 9)
		if b := <-got; !bytes.HasPrefix(genuine, b) || err == nil && len(b) != len(genuine) {
			t.Fatalf("decoded %d bytes that are not the sealed stream", len(b))
		}
	})
}
