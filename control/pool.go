package control

import (
	"crypto/ecdh"
	"crypto/mlkem"
	"crypto/rand"
	"sync"
	"sync/atomic"
)

// ephemeral is a precomputed X25519 key pair.
type ephemeral struct {
	priv *ecdh.PrivateKey
	pub  [32]byte
}

// kemPair is a precomputed ML-KEM-768 key pair.
type kemPair struct {
	dk *mlkem.DecapsulationKey768
	ek []byte
}

// keyPool keeps small bounded stocks of ephemeral key pairs, refilled by
// background goroutines, so key generation is off the handshake's latency
// path. When a stock is empty the caller generates inline (counted).
type keyPool struct {
	x      chan ephemeral
	kem    chan kemPair
	done   chan struct{}
	misses *atomic.Uint64
}

func newKeyPool(hybrid bool, misses *atomic.Uint64, wg *sync.WaitGroup) *keyPool {
	k := &keyPool{x: make(chan ephemeral, poolSize), done: make(chan struct{}), misses: misses}
	wg.Add(1)
	go k.fillX(wg)
	if hybrid {
		k.kem = make(chan kemPair, poolSize)
		wg.Add(1)
		go k.fillKEM(wg)
	}
	return k
}

func (k *keyPool) close() { close(k.done) }

// fillX is the X25519 refiller goroutine.
func (k *keyPool) fillX(wg *sync.WaitGroup) {
	defer wg.Done()
	for {
		e := newEphemeral()
		select {
		case k.x <- e:
		case <-k.done:
			return
		}
	}
}

// fillKEM is the ML-KEM refiller goroutine.
func (k *keyPool) fillKEM(wg *sync.WaitGroup) {
	defer wg.Done()
	for {
		e := newKEMPair()
		select {
		case k.kem <- e:
		case <-k.done:
			return
		}
	}
}

// ephemeral returns a fresh X25519 key pair (each is used once).
func (k *keyPool) ephemeral() ephemeral {
	select {
	case e := <-k.x:
		return e
	default:
		k.misses.Add(1)
		return newEphemeral()
	}
}

// kemPair returns a fresh ML-KEM-768 key pair (each is used once).
func (k *keyPool) kemPair() kemPair {
	if k.kem != nil {
		select {
		case e := <-k.kem:
			return e
		default:
		}
	}
	k.misses.Add(1)
	return newKEMPair()
}

func newEphemeral() ephemeral {
	priv, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		panic("control: X25519 key generation failed: " + err.Error()) // crypto/rand never fails on Linux
	}
	var e ephemeral
	e.priv = priv
	copy(e.pub[:], priv.PublicKey().Bytes())
	return e
}

func newKEMPair() kemPair {
	dk, err := mlkem.GenerateKey768()
	if err != nil {
		panic("control: ML-KEM key generation failed: " + err.Error())
	}
	return kemPair{dk: dk, ek: dk.EncapsulationKey().Bytes()}
}
