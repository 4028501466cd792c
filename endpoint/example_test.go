package endpoint_test

import (
	"context"
	"fmt"

	"github.com/stt-go/stt/endpoint"
)

// Route sends to one named endpoint; Receive drains an endpoint that has
// no Sink.
func ExampleManager() {
	ctx := context.Background()
	m := endpoint.NewManager(nil)
	defer m.CloseAll()
	m.Open("video_sink", nil)
	m.Open("telemetry_sink", nil)
	m.Route(ctx, "video_sink", []byte("frame 1"))
	m.Route(ctx, "telemetry_sink", []byte("cpu 95.3"))
	frame, _ := m.Receive(ctx, "video_sink")
	fmt.Printf("%s\n", frame)
	// Output: frame 1
}

// Live fan-out: one source, a viewer per endpoint. The stalled viewer is
// cut by its policy; the other gets every segment and is never slowed.
func ExampleManager_Broadcast() {
	ctx := context.Background()
	m := endpoint.NewManager(&endpoint.Options{
		OnDisconnect: func(name string, st endpoint.Stats) { fmt.Println(name, "cut:", st.Reason) },
	})
	var alice []string
	m.Attach(ctx, "alice", endpoint.SinkFunc(func(_ context.Context, seg []byte) error {
		alice = append(alice, string(seg))
		return nil
	}), nil)
	stalled := endpoint.SinkFunc(func(ctx context.Context, _ []byte) error {
		<-ctx.Done()
		return ctx.Err()
	})
	m.Attach(ctx, "bob", stalled, &endpoint.EndpointOptions{QueueLen: 1, Policy: endpoint.Disconnect})
	for i := range 3 {
		m.Broadcast(ctx, fmt.Appendf(nil, "segment %d", i))
	}
	m.Flush(ctx, "alice")
	m.CloseAll()
	fmt.Println("alice got", alice)
	// Output:
	// bob cut: endpoint: consumer too slow, disconnected by policy
	// alice got [segment 0 segment 1 segment 2]
}
