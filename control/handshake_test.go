package control

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stt-go/stt/stc"
	"github.com/stt-go/stt/wire"
)

// dialB dials B from A with a background context.
func (p *pair) dialB(tb testing.TB) (*Established, error) {
	tb.Helper()
	return p.a.Dial(context.Background(), addrB)
}

// checkEstablished verifies the two sides of one session agree.
func checkEstablished(t *testing.T, p *pair, ei *Established) {
	t.Helper()
	er := p.dpB.session(ei.SessionID)
	if er == nil {
		t.Fatalf("responder has no session %#x", uint64(ei.SessionID))
	}
	if !ei.Initiator || er.Initiator {
		t.Errorf("roles: initiator %v responder %v", ei.Initiator, er.Initiator)
	}
	if !ei.sendSecret.Equal(er.recvSecret) || !ei.recvSecret.Equal(er.sendSecret) {
		t.Error("traffic secrets do not match crosswise")
	}
	if ei.sendSecret.Equal(ei.recvSecret) {
		t.Error("both directions share one secret")
	}
	if ei.Suite != er.Suite || ei.Suite != stc.SuiteChaCha20Poly1305 {
		t.Errorf("suites: %v / %v, want %v (responder preference among offered)", ei.Suite, er.Suite, stc.SuiteChaCha20Poly1305)
	}
	if ei.PeerID != p.b.cfg.Identity.ID() || er.PeerID != p.a.cfg.Identity.ID() {
		t.Error("peer IDs wrong")
	}
	if ei.PeerStatic != p.b.cfg.Identity.Public() || er.PeerStatic != p.a.cfg.Identity.Public() {
		t.Error("peer static keys wrong")
	}
	if ei.PeerParams != p.b.cfg.Params || er.PeerParams != p.a.cfg.Params || ei.LocalParams != p.a.cfg.Params {
		t.Errorf("params: initiator got %+v, responder got %+v", ei.PeerParams, er.PeerParams)
	}
	if ei.Peer != addrB || er.Peer != addrA {
		t.Errorf("peers %v %v", ei.Peer, er.Peer)
	}
}

func TestHandshake(t *testing.T) {
	for _, hybrid := range []bool{false, true} {
		t.Run(map[bool]string{false: "x25519", true: "hybrid"}[hybrid], func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				p := newPair(t, hybrid, nil)
				seen := map[uint64]bool{}
				for i := range 4 {
					ei, err := p.dialB(t)
					if err != nil {
						t.Fatalf("dial %d: %v", i, err)
					}
					checkEstablished(t, p, ei)
					// B has 4 loops: round-robin lands consecutive sessions on distinct loops.
					seen[uint64(ei.SessionID)%4] = true
				}
				if len(seen) != 4 {
					t.Errorf("session IDs hit loops %v, want all 4", seen)
				}
				// The responder counts an accept after Install returns, which
				// may be just after the initiator saw Confirmed: let every
				// goroutine of the bubble settle before reading counters.
				synctest.Wait()
				if halfOpen(p.b) != 0 || dials(p.a) != 0 {
					t.Errorf("state left: halfOpen %d dials %d", halfOpen(p.b), dials(p.a))
				}
				if s := p.a.Stats(); s.HandshakesOK != 4 || s.Retransmits != 0 {
					t.Errorf("initiator stats %+v", s)
				}
				if s := p.b.Stats(); s.Accepted != 4 {
					t.Errorf("responder stats %+v", s)
				}
			})
		})
	}
}

// TestWireSizes pins the amplification rule: RESPONSE never exceeds HELLO.
func TestWireSizes(t *testing.T) {
	for _, hybrid := range []bool{false, true} {
		if wire.ResponseLenFor(hybrid) > wire.HelloLenFor(hybrid) {
			t.Errorf("hybrid=%v: RESPONSE %d > HELLO %d", hybrid, wire.ResponseLenFor(hybrid), wire.HelloLenFor(hybrid))
		}
		if wire.CookieReplyLen > wire.HelloLenFor(hybrid) || wire.RejectLen > wire.HelloLenFor(hybrid) {
			t.Error("COOKIE_REPLY/REJECT larger than HELLO")
		}
	}
}

func TestWrongSeed(t *testing.T) {
	tests := []struct {
		name   string
		reject bool
		want   error
	}{
		{"silent", false, ErrHandshakeTimeout},
		{"reject", true, ErrAuthentication},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				p := newPair(t, false, func(a, b *Config) {
					b.PSK[0] ^= 1
					b.RejectWrongSeed = tt.reject
				})
				start := time.Now()
				_, err := p.dialB(t)
				if !errors.Is(err, tt.want) {
					t.Fatalf("err = %v, want %v", err, tt.want)
				}
				if tt.want == ErrHandshakeTimeout {
					var ne net.Error
					if !errors.As(err, &ne) || !ne.Timeout() || !errors.Is(err, net.ErrClosed) {
						t.Errorf("%v is not a net.Error timeout unwrapping to net.ErrClosed", err)
					}
				}
				// A REJECT cannot be authenticated: the dial waits for a
				// valid RESPONSE until its timeout either way.
				if d := time.Since(start); d != DefaultHandshakeTimeout {
					t.Errorf("returned after %v, want %v", d, DefaultHandshakeTimeout)
				}
				if p.dpA.count()+p.dpB.count() != 0 || halfOpen(p.b) != 0 || dials(p.a) != 0 {
					t.Error("state left after failed handshake")
				}
				if p.b.Stats().SeedMismatch == 0 {
					t.Error("responder did not count the HELLOs it could not open")
				}
			})
		})
	}
}

func TestDialContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newPair(t, false, nil)
		p.net.filter = func(_, _ netip.AddrPort, b []byte) []byte { return nil }
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_, err := p.a.Dial(ctx, addrB)
		if !errors.Is(err, ErrHandshakeTimeout) || !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("err = %v", err)
		}
		ctx2, cancel2 := context.WithCancel(context.Background())
		time.AfterFunc(time.Second, cancel2)
		if _, err := p.a.Dial(ctx2, addrB); !errors.Is(err, context.Canceled) {
			t.Errorf("err = %v, want context.Canceled", err)
		}
		p.a.Close()
		if _, err := p.a.Dial(context.Background(), addrB); !errors.Is(err, ErrClosed) || !errors.Is(err, net.ErrClosed) {
			t.Errorf("err after Close = %v", err)
		}
	})
}

// TestPickNonceSteers: the responder picks its nonce so that the session ID
// lands on the loop it wants by the steering rule (wire.SessionID.Loop),
// round-robin, for any loop count.
func TestPickNonceSteers(t *testing.T) {
	for _, loops := range []int{1, 2, 3, 4, 7} {
		id, err := stc.NewIdentity(seed(9))
		if err != nil {
			t.Fatal(err)
		}
		p := &Plane{dp: &fakeLoops{n: loops}, cfg: Config{Identity: id}}
		for i := range 3 * loops {
			var nr, ni [32]byte
			nr[0], nr[31], ni[5] = byte(i), byte(3*i), byte(7*i)
			got, sid := p.pickNonce(nr, &ni, stc.NodeID{byte(i)})
			if want := (i + 1) % loops; sid.Loop(loops) != want {
				t.Fatalf("%d loops, pick %d: session ID %v is on loop %d, want %d", loops, i, sid, sid.Loop(loops), want)
			}
			if sessionID(&ni, &got, stc.NodeID{byte(i)}, p.cfg.Identity.ID()) != sid {
				t.Fatal("the returned session ID does not follow from the returned nonce")
			}
		}
	}
}

type fakeLoops struct {
	DataPlane
	n int
}

func (f *fakeLoops) Loops() int { return f.n }
