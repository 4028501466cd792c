package main

import (
	"sync"
	"unsafe"
)

// A transfer's body moves through a few fixed buffers, or views of a
// mapped file, in two stages that overlap:
//
//  1. the transfer's goroutine: on the sender, the stream writes (from
//     the mapped file, or from buffers it reads the source into); on the
//     receiver, the stream reads into the buffers, each chunk hashed as
//     soon as it is filled, while it is still in the core's cache;
//  2. a chunkPipe's worker goroutine, on each chunk in the same order: on
//     the sender the digest, on the receiver the file write (or the
//     check of the generator's bytes).
//
// So the sender's stream never waits for the digest, the receiver's
// digest runs while the worker waits for the disk, and the digest never
// copies the data. The transport already authenticates every byte; the
// digest (digest.go) checks the path from the sender's file to the
// receiver's, disk reads and writes included.

const (
	// pipeBuffers is how many chunks a transfer has in flight between its
	// stream side and its worker: one being filled, one being worked on,
	// and one queued so that neither side waits for a hand-over.
	pipeBuffers = 3
	// sendChunk is the size of a sender's chunks (the pieces of a mapped
	// file, or the buffers it reads other bodies into): large enough that
	// the hand-over between goroutines costs nothing next to the
	// transport's work on it, small enough to stay in a core's L2 cache
	// between the stream write that reads it and the digest.
	sendChunk = 256 * kiB
	// recvChunk is the size of a receiver's chunks: each is one O_DIRECT
	// write of the file (fileWriter), and larger writes cost the disk path
	// less per byte. perf stat, 1 GiB to an ext4 --out with BLAKE3, 3 runs
	// each, machine shared: the listener took 2.11-2.17 CPU-s with
	// 256 KiB chunks, 1.80-1.95 with 512 KiB and 1.71-1.77 with 1 MiB (on
	// tmpfs 1.89-1.93, 1.92-2.16 and 1.97-2.02: no gain there).
	recvChunk = 1 * miB
)

// sendPool and recvPool recycle chunk buffers across transfers, so a
// listener that serves many transfers one after another does not allocate
// per transfer. Each buffer starts at a multiple of directAlign, so that a
// receiver can write it to its file with O_DIRECT (fileWriter).
var (
	sendPool = newChunkPool(sendChunk)
	recvPool = newChunkPool(recvChunk)
)

// newChunkPool returns a pool of aligned buffers of n bytes (*[]byte).
func newChunkPool(n int) *sync.Pool {
	return &sync.Pool{New: func() any {
		b := alignedBuffer(n, directAlign)
		return &b
	}}
}

// alignedBuffer returns n bytes whose address is a multiple of align (a
// power of two); its capacity is n.
func alignedBuffer(n, align int) []byte {
	b := make([]byte, n+align)
	off := 0
	if r := int(uintptr(unsafe.Pointer(unsafe.SliceData(b))) & uintptr(align-1)); r != 0 {
		off = align - r
	}
	return b[off : off+n : off+n]
}

// chunkPipe hands filled buffers, in order, to a worker goroutine.
//
// The producer (one goroutine) calls get for an empty buffer, fills a
// prefix of it and hands that prefix to put, or hands the worker a view
// of memory it does not own with putView; it must call close once, after
// which it may not call get, put or putView. The worker runs work on
// every chunk in order until work fails once; later chunks are returned
// unworked. get and failure report a worker failure so the producer
// stops early.
type chunkPipe struct {
	free chan []byte
	full chan chunk
	done chan struct{}
	mu   sync.Mutex
	err  error      // the worker's first error (mu)
	pool *sync.Pool // where bufs come from and go back to
	bufs []*[]byte
}

// newChunkPipe starts the worker, with pipeBuffers buffers from pool
// (sendPool or recvPool).
func newChunkPipe(pool *sync.Pool, work func(chunk []byte) error) *chunkPipe {
	p := &chunkPipe{
		pool: pool,
		free: make(chan []byte, pipeBuffers),
		full: make(chan chunk, pipeBuffers),
		done: make(chan struct{}),
	}
	for range pipeBuffers {
		b := pool.Get().(*[]byte)
		p.bufs = append(p.bufs, b)
		p.free <- *b
	}
	go p.run(work)
	return p
}

// run is the worker.
func (p *chunkPipe) run(work func([]byte) error) {
	defer close(p.done)
	failed := false
	for c := range p.full {
		if !failed {
			if err := work(c.b); err != nil {
				failed = true
				p.mu.Lock()
				p.err = err
				p.mu.Unlock()
			}
		}
		if !c.view {
			p.free <- c.b[:cap(c.b)]
		}
	}
}

// failure returns the worker's error so far, or nil.
func (p *chunkPipe) failure() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}

// get returns an empty buffer of the pool's size, waiting for the worker
// to release one, or the worker's error.
func (p *chunkPipe) get() ([]byte, error) {
	b := <-p.free
	if err := p.failure(); err != nil {
		p.free <- b
		return nil, err
	}
	return b, nil
}

// put hands a filled prefix of a buffer from get to the worker. An empty
// chunk is returned at once.
func (p *chunkPipe) put(b []byte) {
	if len(b) == 0 {
		p.free <- b[:cap(b)]
		return
	}
	p.full <- chunk{b: b}
}

// putView hands the worker a view of memory the pipe does not own (a
// mapped file): the producer keeps it valid and unchanged until close
// returns. It blocks while pipeBuffers chunks wait for the worker.
func (p *chunkPipe) putView(b []byte) {
	if len(b) > 0 {
		p.full <- chunk{b: b, view: true}
	}
}

// chunk is one hand-over to the worker: a buffer of the pipe's, or a view
// (putView) that does not go back to the free list.
type chunk struct {
	b    []byte
	view bool
}

// close waits until the worker has finished every chunk put so far and
// returns its error. The buffers go back to the pool.
func (p *chunkPipe) close() error {
	close(p.full)
	<-p.done
	for _, b := range p.bufs {
		p.pool.Put(b)
	}
	p.bufs = nil
	return p.failure()
}
