package streaming

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"testing"

	"go.uber.org/goleak"

	"github.com/stt-go/stt/stc"
)

// TestMain fails the package if any test leaves a goroutine running.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// testSecret is a fixed stream secret.
var testSecret = stc.SecretFrom(&[32]byte{1, 2, 3, 4, 5, 6, 7, 8})

// newContexts returns a sealing and an opening context for the same
// stream, as two peers would hold them.
func newContexts(tb testing.TB, s stc.Suite) (tx, rx *stc.StreamContext) {
	tb.Helper()
	var err error
	if tx, err = stc.NewStreamContext(s, testSecret, 7, 3); err != nil {
		tb.Fatal(err)
	}
	if rx, err = stc.NewStreamContext(s, testSecret, 7, 3); err != nil {
		tb.Fatal(err)
	}
	return tx, rx
}

// testData returns n deterministic pseudo-random bytes.
func testData(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, 0x5eed))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// encodeAll runs an encoder over data to the end and returns its segments.
func encodeAll(tb testing.TB, tx *stc.StreamContext, data []byte, opts *EncoderOptions) []Segment {
	tb.Helper()
	enc, err := NewEncoder(bytes.NewReader(data), tx, opts)
	if err != nil {
		tb.Fatal(err)
	}
	var segs []Segment
	for seg, err := range enc.All() {
		if err != nil {
			tb.Fatalf("encode: %v", err)
		}
		segs = append(segs, seg)
	}
	return segs
}

// oneByteReader returns at most one byte per Read, then io.EOF without
// data, like a slow live source.
type oneByteReader struct{ r io.Reader }

func (o oneByteReader) Read(p []byte) (int, error) {
	if len(p) > 1 {
		p = p[:1]
	}
	return o.r.Read(p)
}

// errReader fails every Read with err.
type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

var errBoom = errors.New("boom")
