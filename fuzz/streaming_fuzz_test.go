package fuzz

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/stt-go/stt/stc"
	"github.com/stt-go/stt/streaming"
)

// FuzzDecoder encodes fuzzer-chosen bytes into small segments, then lets
// the fuzzer deliver them in any order, duplicated, corrupted or under the
// wrong sequence number, to a decoder with a fuzzer-chosen byte budget and
// window. Invariants: every Receive error is one of the documented
// sentinels; a tampered or misnumbered segment is never accepted; the
// decoder never holds more than MaxBuffered bytes; and once every genuine
// segment has been offered (retrying while the budget is full), the
// reader yields exactly the input.
func FuzzDecoder(f *testing.F) {
	f.Add([]byte("hello, stream"), uint8(0), uint8(0), uint8(0), []byte{})
	f.Add(bytes.Repeat([]byte("abcdefgh"), 100), uint8(3), uint8(1), uint8(2), []byte{0x10, 0x01, 0x22, 0x43, 0x64, 0x85, 0x06, 0x07})
	f.Add(bytes.Repeat([]byte{0xff}, 3000), uint8(200), uint8(0), uint8(255), []byte{0xff, 0xfe, 0xfd, 0x00, 0x80, 0x40})
	f.Add([]byte{}, uint8(9), uint8(9), uint8(1), []byte{0x01, 0x02, 0x03})
	f.Fuzz(fuzzDecoder)
}

// fuzzDecoder is FuzzDecoder's body.
func fuzzDecoder(t *testing.T, data []byte, segSel, bufSel, winSel uint8, ops []byte) {
	if len(data) > 2<<10 || len(ops) > 512 { // small inputs keep minimisation fast
		return
	}
	const suite = stc.SuiteChaCha20Poly1305
	tx, err := stc.NewStreamContext(suite, fuzzSecret, 1, 2)
	if err != nil {
		t.Fatal(err)
	}
	rx, err := stc.NewStreamContext(suite, fuzzSecret, 1, 2)
	if err != nil {
		t.Fatal(err)
	}
	segSize := streaming.MinSegmentSize + int(segSel)
	enc, err := streaming.NewEncoder(bytes.NewReader(data), tx, &streaming.EncoderOptions{
		Mode: streaming.Bounded, Size: int64(len(data)), SegmentSize: segSize,
	})
	if err != nil {
		t.Fatal(err)
	}
	var segs []streaming.Segment
	for s, err := range enc.All() {
		if err != nil {
			t.Fatal(err)
		}
		if len(s.Data) > segSize {
			t.Fatalf("segment %d is %d bytes, SegmentSize %d", s.Seq, len(s.Data), segSize)
		}
		segs = append(segs, s)
	}
	if !segs[len(segs)-1].Last {
		t.Fatal("final segment not marked Last")
	}
	maxBuf := segSize + 64 + int(bufSel)*64
	dec, err := streaming.NewDecoder(rx, &streaming.DecoderOptions{MaxBuffered: maxBuf, Window: uint64(winSel) + 1})
	if err != nil {
		t.Fatal(err)
	}
	defer dec.Close()
	check := func(err error) {
		t.Helper()
		for _, e := range []error{streaming.ErrDuplicate, streaming.ErrForged, streaming.ErrOutOfWindow, streaming.ErrBufferFull} {
			if err == nil || errors.Is(err, e) {
				if errors.Is(err, streaming.ErrForged) && !errors.Is(err, stc.ErrAuth) {
					t.Fatalf("ErrForged without stc.ErrAuth: %v", err)
				}
				if b := dec.Buffered(); b > maxBuf {
					t.Fatalf("decoder holds %d bytes, limit %d", b, maxBuf)
				}
				return
			}
		}
		t.Fatalf("undocumented error: %v", err)
	}
	// Phase 1: fuzzer-driven deliveries. Each op is two bytes: the
	// segment index and the action.
	for ; len(ops) >= 2; ops = ops[2:] {
		s := segs[int(ops[0])%len(segs)]
		switch act := ops[1]; act & 3 {
		case 0, 1: // genuine (also the duplicate case when repeated)
			check(dec.Receive(s.Seq, s.Data))
		case 2: // one bit flipped
			bad := append([]byte(nil), s.Data...)
			bad[int(act>>2)%len(bad)] ^= 1 << (act >> 5)
			err := dec.Receive(s.Seq, bad)
			if err == nil {
				t.Fatalf("tampered segment %d accepted", s.Seq)
			}
			check(err)
		case 3: // wrong sequence number
			seq := s.Seq + 1 + uint64(act>>2)
			err := dec.Receive(seq, s.Data)
			if err == nil {
				t.Fatalf("segment %d accepted as %d", s.Seq, seq)
			}
			check(err)
		}
	}
	// Phase 2: every genuine segment is offered in order; while the budget
	// is full, the bytes already in order are read out (Readable says how
	// many can be read without blocking), as a reader would.
	var out bytes.Buffer
	for _, s := range segs {
		for {
			err := dec.Receive(s.Seq, s.Data)
			check(err)
			if !errors.Is(err, streaming.ErrBufferFull) {
				break
			}
			n := dec.Readable()
			if n == 0 {
				t.Fatalf("segment %d: %v with nothing readable", s.Seq, err)
			}
			if _, err := io.CopyN(&out, dec.Reader(), int64(n)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if !dec.Complete() {
		t.Fatal("stream incomplete after every segment was delivered")
	}
	if _, err := out.ReadFrom(dec.Reader()); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out.Bytes(), data) {
		t.Fatalf("decoded %d bytes, want %d (content differs)", out.Len(), len(data))
	}
	st := dec.Stats()
	if st.Delivered != uint64(len(data)) || st.Accepted-st.Evicted != uint64(len(segs)) {
		t.Fatalf("stats %+v for %d bytes in %d segments", st, len(data), len(segs))
	}
}
