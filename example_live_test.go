package stt_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"strings"
	"time"

	"github.com/stt-go/stt"
	"github.com/stt-go/stt/endpoint"
	"github.com/stt-go/stt/event"
	"github.com/stt-go/stt/stc"
	"github.com/stt-go/stt/storage"
	"github.com/stt-go/stt/streaming"
)

// The seed's composed example: a live origin seals frames with the
// streaming Encoder in live mode, stores every segment (hash-addressed),
// routes each to its viewers through an endpoint Manager — here a
// viewer's latency-bounded stream, attached when its peer_connected event
// arrives — and emits its own frame_sent event. The viewer decodes the
// segments back into the frames.
func Example_liveVideo() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	origin, viewer := examplePair(ctx)
	defer origin.Stop(ctx)
	defer viewer.Stop(ctx)
	keyBytes := [32]byte{7}
	key := stc.SecretFrom(&keyBytes) // the content key both ends hold
	suite := stc.SuiteChaCha20Poly1305

	// The origin's side.
	store, _ := storage.New(&storage.MemoryBackend{}, key, suite, nil)
	viewers := endpoint.NewManager(nil)
	defer viewers.CloseAll()
	events := event.NewEmitter(nil)
	events.On("frame_sent", func(_ context.Context, p any) error { fmt.Println("frame_sent", p); return nil })
	attached := make(chan struct{})
	origin.On(stt.EventPeerConnected, func(ctx context.Context, p any) error {
		st, err := p.(*stt.PeerConnectedEvent).Session.OpenStreamWith(ctx, stt.StreamOptions{Deadline: time.Second})
		if err == nil {
			err = viewers.Attach(ctx, "viewer", st.Sink(), &endpoint.EndpointOptions{Policy: endpoint.DropOldest})
		}
		close(attached)
		return err
	})

	sess, err := viewer.Connect(ctx, origin.Addr().String())
	if err != nil {
		log.Fatal(err)
	}
	<-attached
	camera := io.MultiReader(strings.NewReader("frame 1"), strings.NewReader("frame 2")) // a Read per frame
	tx, _ := stc.NewStreamContext(suite, key, 1, 1)
	enc, _ := streaming.NewEncoder(camera, tx, nil) // live mode
	for seg, err := range enc.All() {
		if err != nil {
			log.Fatal(err)
		}
		addr, _ := store.Store(ctx, seg.Data)
		rec, _ := seg.AppendRecord(nil)
		n := viewers.Broadcast(ctx, rec)
		events.Emit(ctx, "frame_sent", fmt.Sprintf("segment %d, %d viewer(s), stored at %x…", seg.Seq, n, addr[:2]))
	}

	// The viewer's side: one record per message.
	st, _ := sess.AcceptStream(ctx)
	rx, _ := stc.NewStreamContext(suite, key, 1, 1)
	dec, _ := streaming.NewDecoder(rx, nil)
	for !dec.Complete() {
		msg, err := st.ReceiveMessage(ctx) // a *stt.SkippedError if a segment missed the deadline
		if err != nil {
			log.Fatal(err)
		}
		seg, _, _ := streaming.ParseRecord(msg)
		dec.Receive(seg.Seq, seg.Data)
	}
	frames, _ := dec.ReceiveAll(ctx)
	fmt.Printf("viewer decoded %q\n", frames)
	// Output:
	// frame_sent segment 0, 1 viewer(s), stored at a994…
	// frame_sent segment 1, 1 viewer(s), stored at 60c1…
	// frame_sent segment 2, 1 viewer(s), stored at 736e…
	// viewer decoded "frame 1frame 2"
}
