package control

import (
	"context"
	"math/rand/v2"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stt-go/stt/stc"
)

func TestNewPlaneConfig(t *testing.T) {
	good := testConfig(t, 1, 100, true)
	tests := []struct {
		name string
		mod  func(c *Config)
		want string // substring of the error; "" = success
	}{
		{"ok", func(*Config) {}, ""},
		{"no identity", func(c *Config) { c.Identity = nil }, "Config.Identity"},
		{"no psk", func(c *Config) { c.PSK = [32]byte{} }, "Config.PSK"},
		{"too many suites", func(c *Config) { c.Suites = []stc.Suite{1, 2, 3, 1, 2} }, "Config.Suites"},
		{"invalid suite", func(c *Config) { c.Suites = []stc.Suite{9} }, "Config.Suites"},
		{"defaults", func(c *Config) { c.Suites = nil; c.HandshakeTimeout = -1; c.MaxHalfOpen = -5 }, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := *good
			tt.mod(&c)
			p, err := NewPlane(&c, newFakeNet().add(addrA, 1))
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				defer p.Close()
				if p.cfg.HandshakeTimeout <= 0 || p.cfg.MaxHalfOpen <= 0 || len(p.cfg.Suites) == 0 || p.cfg.Suites[0] != stc.PreferredSuite() && c.Suites == nil {
					t.Errorf("defaults not filled: %+v", p.cfg)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want mention of %q", err, tt.want)
			}
		})
	}
	if _, err := NewPlane(good, nil); err == nil {
		t.Error("nil DataPlane accepted")
	}
	if _, err := NewPlane(nil, newFakeNet().add(addrA, 1)); err == nil {
		t.Error("nil Config accepted")
	}
}

// TestMixedModes: a responder configured without hybrid still answers a
// hybrid initiator and vice versa (the initiator chooses).
func TestMixedModes(t *testing.T) {
	for _, initHybrid := range []bool{false, true} {
		synctest.Test(t, func(t *testing.T) {
			p := newPair(t, initHybrid, func(_, b *Config) { b.Hybrid = !initHybrid })
			ei, err := p.dialB(t)
			if err != nil {
				t.Fatal(err)
			}
			checkEstablished(t, p, ei)
		})
	}
}

// TestRandomLoss drops a third of the handshake datagrams in each
// direction (and FINALs once per session) with a fixed seed: every dial
// still completes and no state is left behind.
func TestRandomLoss(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newPair(t, true, func(a, _ *Config) { a.HandshakeTimeout = 60 * time.Second })
		var mu sync.Mutex
		rng := rand.New(rand.NewPCG(1, 2))
		p.net.filter = func(_, _ netip.AddrPort, b []byte) []byte {
			mu.Lock()
			defer mu.Unlock()
			if rng.IntN(3) == 0 {
				return nil
			}
			return b
		}
		for i := range 20 {
			p.dpB.mu.Lock()
			p.dpB.dropFinal = i % 2
			p.dpB.mu.Unlock()
			ei, err := p.a.Dial(context.Background(), addrB)
			if err != nil {
				t.Fatalf("dial %d: %v", i, err)
			}
			checkEstablished(t, p, ei)
		}
		time.Sleep(DefaultHandshakeTimeout + 2*janitorInterval)
		if halfOpen(p.b) != 0 || dials(p.a) != 0 {
			t.Errorf("state left: halfOpen %d dials %d", halfOpen(p.b), dials(p.a))
		}
		if p.dpA.count() != 20 || p.dpB.count() != 20 {
			t.Errorf("sessions %d/%d, want 20/20", p.dpA.count(), p.dpB.count())
		}
	})
}
