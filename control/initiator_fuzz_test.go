package control

import (
	"bytes"
	"testing"
	"time"

	"github.com/stt-go/stt/wire"
)

// FuzzInitiatorAnswers feeds arbitrary datagrams to Initiators, as answers
// to their HELLOs: nothing may panic, only the genuine RESPONSE may
// complete a handshake, only the genuine COOKIE_REPLY may yield a cookie,
// and no REJECT passes as authentic (its tag is an HMAC the fuzzer cannot
// forge). Seeds: a responder Plane's genuine answers in both modes, and a
// REJECT.
func FuzzInitiatorAnswers(f *testing.F) {
	now := time.UnixMilli(1_780_000_000_000)
	type attempt struct {
		x                 *Initiator
		resp, cookieReply []byte
	}
	var atts []attempt
	for _, hybrid := range []bool{false, true} {
		p := newPair(f, hybrid, func(_, b *Config) { b.Now = func() time.Time { return now } })
		var r replies
		p.net.filter = r.filter
		c := p.a.cfg
		x, err := NewInitiator(&c, nil)
		if err != nil {
			f.Fatal(err)
		}
		hello, _ := x.Hello(now, nil)
		hello = bytes.Clone(hello)
		p.b.helloWith(newWorkerScratch(), hello, addrA, now, nil)
		resp := r.take()
		p.b.sendCookieReply(newWorkerScratch(), wire.Hello(hello).ID(), wire.Hello(hello).Ephemeral(), addrA)
		cr := r.take()
		if len(resp) != 1 || len(cr) != 1 {
			f.Fatalf("responder answered %d and %d messages", len(resp), len(cr))
		}
		atts = append(atts, attempt{x, resp[0], cr[0]})
		f.Add(resp[0])
		f.Add(cr[0])
		rej := make([]byte, wire.RejectLen)
		wire.PutHandshakePrefix(rej, x.ID(), wire.HandshakeReject)
		rej[wire.RejectReasonOffset] = wire.RejectCollision
		f.Add(rej)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, a := range atts {
			if a.x.rejectAuthentic(b) {
				t.Fatalf("REJECT %x accepted as authentic", b)
			}
			if _, err := a.x.OpenCookieReply(b); err == nil && !bytes.Equal(b, a.cookieReply) {
				t.Fatalf("a COOKIE_REPLY other than the genuine one opened: %x", b)
			}
			if _, proof, err := a.x.Response(b); err == nil {
				if !bytes.Equal(b, a.resp) {
					t.Fatalf("a RESPONSE other than the genuine one completed the handshake: %x", b)
				}
				if len(proof) != wire.AuthProofLen {
					t.Fatalf("AUTH_PROOF of %d bytes", len(proof))
				}
			}
		}
	})
}
