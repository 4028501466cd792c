package event_test

import (
	"context"
	"fmt"

	"github.com/stt-go/stt/event"
)

// A synchronous handler runs inside Emit, on the caller's goroutine.
func ExampleEmitter() {
	e := event.NewEmitter(nil)
	defer e.Close()
	e.On("temperature_threshold_exceeded", func(_ context.Context, p any) error {
		fmt.Printf("alert: %.1f °C\n", p)
		return nil
	})
	e.Emit(context.Background(), "temperature_threshold_exceeded", 95.3)
	// Output: alert: 95.3 °C
}

// An asynchronous handler runs on its own goroutine, in Emit order; Emit
// never waits for it, and Close waits for what is queued.
func ExampleEmitter_OnAsync() {
	e := event.NewEmitter(nil)
	e.OnAsync("frame_sent", func(_ context.Context, p any) error {
		fmt.Println("frame", p)
		return nil
	})
	for i := range 3 {
		e.Emit(context.Background(), "frame_sent", i)
	}
	e.Close()
	fmt.Printf("%+v\n", e.Stats())
	// Output:
	// frame 0
	// frame 1
	// frame 2
	// {Emitted:3 Delivered:3 Failed:0 Panicked:0 Dropped:0}
}

// A panicking handler is recovered, reported and counted; the process and
// the handler's later events carry on.
func ExampleEmitter_OnAsync_panic() {
	e := event.NewEmitter(&event.Options{
		OnError: func(err *event.AsyncError) { fmt.Println(err) },
	})
	e.OnAsync("peer_connected", func(_ context.Context, p any) error {
		panic(fmt.Sprint("bug handling ", p))
	})
	e.Emit(context.Background(), "peer_connected", "alice")
	e.Emit(context.Background(), "peer_connected", "bob")
	e.Close()
	fmt.Println("panicked:", e.Stats().Panicked)
	// Output:
	// event "peer_connected": async handler: handler panicked: bug handling alice
	// event "peer_connected": async handler: handler panicked: bug handling bob
	// panicked: 2
}
