package control

import (
	"bytes"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/stt-go/stt/wire"
)

// FuzzResume feeds arbitrary datagrams to both ends of a resumed
// handshake: to a responder as RESUMEs and to an initiator as the answer to
// its RESUME. Nothing may panic, only the genuine RESUME may install a
// session at the responder (once: a second copy is a replay), and only the
// genuine RESUME_RESPONSE may complete the initiator's attempt. Seeds: the
// genuine RESUME and RESUME_RESPONSE of a pair that completed a full
// handshake, and a REJECT(ticket).
func FuzzResume(f *testing.F) {
	now := time.UnixMilli(1_780_000_000_000)
	p := newResumePair(f, false, nil, func(a, b *Config) {
		a.Now = func() time.Time { return now }
		b.Now = a.Now
	})
	dialOK(f, p.a, addrB, nil)
	t := waitTicket(f, p.a, addrB, nil)
	var mu sync.Mutex
	var sent [][]byte
	p.net.filter = func(_, _ netip.AddrPort, b []byte) []byte {
		mu.Lock()
		sent = append(sent, bytes.Clone(b))
		mu.Unlock()
		return nil
	}
	d := &dial{to: addrB, useTicket: t}
	d.id, d.ticket = 0x0102030405060708, t
	d.e = newEphemeral()
	d.nonce[0] = 1
	p.a.buildResume(d, nil, now)
	resume := bytes.Clone(d.hello[:d.nHello])
	fixed := &respInputs{e: newEphemeral()}
	if p.b.resumeWith(newWorkerScratch(), resume, addrA, now, fixed) == nil {
		f.Fatal("the genuine RESUME did not install")
	}
	mu.Lock()
	if len(sent) != 1 {
		f.Fatalf("responder sent %d datagrams", len(sent))
	}
	answer := sent[0]
	sent = nil
	mu.Unlock()
	if _, _, err := p.a.finishResume(d, answer); err != nil {
		f.Fatal(err)
	}
	// A fresh responder state, so the genuine RESUME installs once more in
	// the fuzz run (and only once).
	p.b.mu.Lock()
	p.b.mu.resumes = resumeReplay{}
	p.b.mu.Unlock()
	f.Add(resume)
	f.Add(answer)
	rej := make([]byte, wire.RejectLen)
	wire.PutHandshakePrefix(rej, d.id, wire.HandshakeReject)
	rej[wire.RejectReasonOffset] = wire.RejectTicket
	f.Add(rej)
	w := newWorkerScratch()
	installs := 0
	f.Fuzz(func(t *testing.T, b []byte) {
		if est := p.b.resumeWith(w, b, addrA, now, nil); est != nil {
			if !bytes.Equal(b, resume) {
				t.Fatalf("a RESUME other than the genuine one installed a session: %x", b)
			}
			if installs++; installs > 1 {
				t.Fatal("the genuine RESUME installed twice")
			}
		}
		if est, _, err := p.a.finishResume(d, b); err == nil {
			if !bytes.Equal(b, answer) {
				t.Fatalf("a RESUME_RESPONSE other than the genuine one completed: %x", b)
			}
			if !est.Resumed || est.PeerID != p.b.cfg.Identity.ID() {
				t.Fatal("completed session is wrong")
			}
		}
	})
}
