package endpoint_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"testing"

	"github.com/stt-go/stt/endpoint"
	"github.com/stt-go/stt/stc"
	"github.com/stt-go/stt/streaming"
)

// TestLiveOrigin composes the primitives as the seed's live example does:
// a live Encoder's segments, framed as records, are broadcast to viewers
// whose carriers (pipes here, STT streams in a node) feed a Decoder each.
// The healthy viewers decode the stream byte for byte; the stalled one is
// cut by its policy without holding the others back.
func TestLiveOrigin(t *testing.T) {
	ctx := context.Background()
	key := stc.SecretFrom(&[32]byte{9, 9, 9})
	tx, err := stc.NewStreamContext(stc.SuiteChaCha20Poly1305, key, 7, 1)
	if err != nil {
		t.Fatal(err)
	}
	var frames bytes.Buffer
	for i := range 200 {
		fmt.Fprintf(&frames, "frame %03d|", i)
	}
	want := frames.Bytes()

	cut := make(chan string, 1)
	m := endpoint.NewManager(&endpoint.Options{OnDisconnect: func(name string, st endpoint.Stats) {
		if !errors.Is(st.Reason, endpoint.ErrSlow) {
			t.Errorf("%s cut for %v", name, st.Reason)
		}
		cut <- name
	}})
	defer m.CloseAll()

	var wg sync.WaitGroup
	got := make([][]byte, 3)
	for i := range got {
		rx, err := stc.NewStreamContext(stc.SuiteChaCha20Poly1305, key, 7, 1)
		if err != nil {
			t.Fatal(err)
		}
		dec, err := streaming.NewDecoder(rx, nil)
		if err != nil {
			t.Fatal(err)
		}
		carrier, sender := io.Pipe()
		wg.Go(func() {
			if _, err := dec.CopyFrom(ctx, carrier); err != nil {
				t.Errorf("viewer %d: %v", i, err)
			}
		})
		wg.Go(func() { got[i], _ = io.ReadAll(dec.Reader()) })
		if err := m.Attach(ctx, fmt.Sprint("viewer", i), endpoint.WriterSink(sender), nil); err != nil {
			t.Fatal(err)
		}
	}
	stalled := endpoint.SinkFunc(func(ctx context.Context, _ []byte) error { <-ctx.Done(); return ctx.Err() })
	if err := m.Attach(ctx, "stalled", stalled, &endpoint.EndpointOptions{QueueLen: 4, Policy: endpoint.Disconnect}); err != nil {
		t.Fatal(err)
	}

	// The origin: one small read per frame, as a live source delivers.
	enc, err := streaming.NewEncoder(&frameReader{b: want, n: 10}, tx, nil)
	if err != nil {
		t.Fatal(err)
	}
	for seg, err := range enc.All() {
		if err != nil {
			t.Fatal(err)
		}
		rec, err := seg.AppendRecord(nil)
		if err != nil {
			t.Fatal(err)
		}
		m.Broadcast(ctx, rec)
	}
	if name := <-cut; name != "stalled" {
		t.Fatalf("cut %s", name)
	}
	for i := range got {
		if err := m.Flush(ctx, fmt.Sprint("viewer", i)); err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
	for i, g := range got {
		if !bytes.Equal(g, want) {
			t.Errorf("viewer %d decoded %d bytes, want %d", i, len(g), len(want))
		}
	}
}

// frameReader returns n bytes per Read, like a source producing frames.
type frameReader struct {
	b []byte
	n int
}

func (f *frameReader) Read(p []byte) (int, error) {
	if len(f.b) == 0 {
		return 0, io.EOF
	}
	k := copy(p[:min(len(p), f.n)], f.b)
	f.b = f.b[k:]
	return k, nil
}
