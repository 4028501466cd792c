package stt_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log"
	"time"

	"github.com/stt-go/stt"
)

// Two nodes on loopback: one accepts, the other connects, opens a stream
// and writes; the reader sees the bytes in order and then io.EOF.
func Example() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	shared := bytes.Repeat([]byte{0x5e}, 32) // distributed out of band
	alice, err := stt.NewNode(stt.Config{NodeSeed: bytes.Repeat([]byte{1}, 32), SharedSeed: shared, ListenAddr: "127.0.0.1:0"})
	if err != nil {
		log.Fatal(err)
	}
	bob, err := stt.NewNode(stt.Config{NodeSeed: bytes.Repeat([]byte{2}, 32), SharedSeed: shared, ListenAddr: "127.0.0.1:0"})
	if err != nil {
		log.Fatal(err)
	}
	for _, n := range []*stt.Node{alice, bob} {
		if err := n.Start(ctx); err != nil {
			log.Fatal(err)
		}
		defer n.Stop(ctx)
	}

	go func() {
		sess, err := alice.Connect(ctx, bob.Addr().String())
		if err != nil {
			log.Fatal(err)
		}
		st, err := sess.OpenStream(ctx)
		if err != nil {
			log.Fatal(err)
		}
		st.Write([]byte("Hello Bob!"))
		st.CloseWrite()
	}()

	sess, err := bob.Accept(ctx)
	if err != nil {
		log.Fatal(err)
	}
	st, err := sess.AcceptStream(ctx)
	if err != nil {
		log.Fatal(err)
	}
	got, err := io.ReadAll(st)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s (from %s, authenticated: %v)\n", got, sess.PeerID().Short(), sess.PeerID() == alice.ID())
	// Output: Hello Bob! (from 950bbe66, authenticated: true)
}

// Messages keep their boundaries: SendMessage on one side, ReceiveMessage
// on the other.
func ExampleStream_SendMessage() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	a, b := examplePair(ctx)
	defer a.Stop(ctx)
	defer b.Stop(ctx)

	go func() {
		sess, _ := a.Connect(ctx, b.Addr().String())
		st, _ := sess.OpenStream(ctx)
		for _, m := range []string{"temperature=21.5", "humidity=40", "door=open"} {
			st.SendMessage(ctx, []byte(m))
		}
		st.CloseWrite()
	}()
	sess, _ := b.Accept(ctx)
	st, _ := sess.AcceptStream(ctx)
	for {
		msg, err := st.ReceiveMessage(ctx)
		if err == io.EOF {
			break
		}
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(string(msg))
	}
	// Output:
	// temperature=21.5
	// humidity=40
	// door=open
}

// Node.Receive is the seed's node.receive(): every message from every peer
// and stream, without accepting sessions or streams by hand.
func ExampleNode_Receive() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	a, b := examplePair(ctx)
	defer a.Stop(ctx)
	defer b.Stop(ctx)

	go func() {
		sess, _ := a.Connect(ctx, b.Addr().String())
		st, _ := sess.OpenStream(ctx)
		st.SendMessage(ctx, []byte("ping"))
	}()
	pkt, err := b.Receive(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("stream %d: %s\n", pkt.StreamID, pkt.Data)
	// Output: stream 1: ping
}

func examplePair(ctx context.Context) (a, b *stt.Node) {
	shared := bytes.Repeat([]byte{0x5e}, 32)
	mk := func(s byte) *stt.Node {
		n, err := stt.NewNode(stt.Config{NodeSeed: bytes.Repeat([]byte{s}, 32), SharedSeed: shared, ListenAddr: "127.0.0.1:0"})
		if err != nil {
			log.Fatal(err)
		}
		if err := n.Start(ctx); err != nil {
			log.Fatal(err)
		}
		return n
	}
	return mk(1), mk(2)
}
