package stt_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stt-go/stt"
	"github.com/stt-go/stt/endpoint"
)

// TestStreamSink: an endpoint.Manager fans one source out to two peers
// whose streams are endpoints; each receives every item, in order, as one
// message.
func TestStreamSink(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	origin := startNode(t, ctx, 1, nil)
	m := endpoint.NewManager(nil)
	defer m.CloseAll()
	var viewers []*stt.Stream
	for i := range 2 {
		v := startNode(t, ctx, byte(10+i), nil)
		sess, err := origin.Connect(ctx, v.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		st, err := sess.OpenStream(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := m.Attach(ctx, fmt.Sprint("viewer", i), st.Sink(), &endpoint.EndpointOptions{Policy: endpoint.DropOldest}); err != nil {
			t.Fatal(err)
		}
		vs, err := v.Accept(ctx)
		if err != nil {
			t.Fatal(err)
		}
		rs, err := vs.AcceptStream(ctx)
		if err != nil {
			t.Fatal(err)
		}
		viewers = append(viewers, rs)
	}
	const n = 50
	for i := range n {
		m.Broadcast(ctx, []byte(fmt.Sprintf("segment %03d", i)))
	}
	for vi, rs := range viewers {
		for i := range n {
			msg, err := rs.ReceiveMessage(ctx)
			if err != nil {
				t.Fatalf("viewer %d, item %d: %v", vi, i, err)
			}
			if want := fmt.Sprintf("segment %03d", i); string(msg) != want {
				t.Fatalf("viewer %d got %q, want %q", vi, msg, want)
			}
		}
	}
}
