package streaming_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/stt-go/stt/stc"
	"github.com/stt-go/stt/streaming"
)

// streamKey stands for a secret both peers hold, such as one exported
// from their session.
var streamKey = stc.SecretFrom(&[32]byte{1, 2, 3})

// Live mode: every Read of the source that returns bytes leaves as a
// segment at once; the source's EOF ends the stream with an empty Last
// segment.
func ExampleEncoder() {
	tx, _ := stc.NewStreamContext(stc.SuiteChaCha20Poly1305, streamKey, 1, 1)
	frames := io.MultiReader(strings.NewReader("frame 1"), strings.NewReader("frame 22"))
	enc, _ := streaming.NewEncoder(frames, tx, nil)
	for seg, err := range enc.All() {
		if err != nil {
			panic(err)
		}
		fmt.Println(seg.Seq, len(seg.Data)-streaming.SegmentOverhead, seg.Last)
	}
	// Output:
	// 0 7 false
	// 1 8 false
	// 2 0 true
}

// Bounded mode: a file of known size is cut into full segments, and the
// last one carries the Last flag.
func ExampleEncoder_bounded() {
	tx, _ := stc.NewStreamContext(stc.SuiteChaCha20Poly1305, streamKey, 1, 2)
	file := bytes.Repeat([]byte("x"), 2500)
	enc, _ := streaming.NewEncoder(bytes.NewReader(file), tx, &streaming.EncoderOptions{
		Mode: streaming.Bounded, Size: int64(len(file)),
	})
	for seg := range enc.All() {
		fmt.Println(seg.Seq, len(seg.Data), seg.Last)
	}
	// Output:
	// 0 1200 false
	// 1 1200 false
	// 2 151 true
}

// The Decoder takes segments in any order and hands back the bytes in
// order.
func ExampleDecoder() {
	tx, _ := stc.NewStreamContext(stc.SuiteChaCha20Poly1305, streamKey, 1, 3)
	rx, _ := stc.NewStreamContext(stc.SuiteChaCha20Poly1305, streamKey, 1, 3)
	enc, _ := streaming.NewEncoder(strings.NewReader("hello, stream"), tx, &streaming.EncoderOptions{
		Mode: streaming.Bounded, Size: 13, SegmentSize: streaming.SegmentOverhead + 5,
	})
	var segs []streaming.Segment
	for seg := range enc.All() {
		segs = append(segs, seg)
	}
	dec, _ := streaming.NewDecoder(rx, nil)
	for i := len(segs) - 1; i >= 0; i-- { // arrival order reversed
		dec.Receive(segs[i].Seq, segs[i].Data)
	}
	out, _ := dec.ReceiveAll(context.Background())
	fmt.Printf("%d segments: %s\n", len(segs), out)
	// Output: 3 segments: hello, stream
}

// CopyTo and CopyFrom pump a live source over any byte stream — here a
// pipe; in practice an STT stream — into a Decoder whose Reader yields it.
func ExampleEncoder_CopyTo() {
	tx, _ := stc.NewStreamContext(stc.SuiteChaCha20Poly1305, streamKey, 1, 4)
	rx, _ := stc.NewStreamContext(stc.SuiteChaCha20Poly1305, streamKey, 1, 4)
	ctx := context.Background()
	carrier, sender := io.Pipe()
	enc, _ := streaming.NewEncoder(strings.NewReader("live bytes"), tx, nil)
	go func() {
		_, err := enc.CopyTo(ctx, sender)
		sender.CloseWithError(err)
	}()
	dec, _ := streaming.NewDecoder(rx, nil)
	go dec.CopyFrom(ctx, carrier)
	out, err := io.ReadAll(dec.Reader())
	fmt.Printf("%s %v\n", out, err)
	// Output: live bytes <nil>
}
