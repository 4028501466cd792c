package wire

import (
	"errors"
	"io"
	"testing"
)

func TestHandshakeLayout(t *testing.T) {
	tests := []struct {
		name string
		got  int
		want int
	}{
		{"HelloLen", HelloLen, 204},
		{"HelloHybridLen", HelloHybridLen, 1388},
		{"ResponseLen", ResponseLen, 202},
		{"ResponseHybridLen", ResponseHybridLen, 1290},
		{"AuthProofLen", AuthProofLen, 113},
		{"CookieReplyLen", CookieReplyLen, 67},
		{"RejectLen", RejectLen, 28},
		{"ResumeLen", ResumeLen, 351},
		{"ResumeResponseLen", ResumeResponseLen, 121},
		{"NewTicketLen", NewTicketLen, 193},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s = %d, want %d (docs/HANDSHAKE.md tables)", tt.name, tt.got, tt.want)
		}
	}
	for _, hybrid := range []bool{false, true} {
		if ResponseLenFor(hybrid) > HelloLenFor(hybrid) {
			t.Errorf("hybrid=%v: RESPONSE larger than HELLO", hybrid)
		}
	}
	if ResumeResponseLen > ResumeLen || RejectLen > ResumeLen || CookieReplyLen > ResumeLen {
		t.Error("an answer to RESUME is larger than the RESUME")
	}
	if ResumeLen > MaxHandshakeLen {
		t.Error("RESUME larger than MaxHandshakeLen")
	}
}

func msg(t HandshakeType, n int, flags byte) []byte {
	b := make([]byte, n)
	PutHandshakePrefix(b, 0x1122334455667788, t)
	if t == HandshakeHello {
		b[HelloFlagsOffset] = flags
	}
	return b
}

func TestParseHandshake(t *testing.T) {
	parsers := []struct {
		name  string
		typ   HandshakeType
		n     int
		flags byte
		parse func([]byte) error
	}{
		{"HELLO", HandshakeHello, HelloLen, 0, func(b []byte) error { _, err := ParseHello(b); return err }},
		{"HELLO hybrid", HandshakeHello, HelloHybridLen, HelloFlagHybrid, func(b []byte) error { _, err := ParseHello(b); return err }},
		{"RESPONSE", HandshakeResponse, ResponseLen, 0, func(b []byte) error { _, err := ParseResponse(b, false); return err }},
		{"RESPONSE hybrid", HandshakeResponse, ResponseHybridLen, 0, func(b []byte) error { _, err := ParseResponse(b, true); return err }},
		{"AUTH_PROOF", HandshakeAuthProof, AuthProofLen, 0, func(b []byte) error { _, err := ParseAuthProof(b); return err }},
		{"COOKIE_REPLY", HandshakeCookieReply, CookieReplyLen, 0, func(b []byte) error { _, err := ParseCookieReply(b); return err }},
		{"RESUME", HandshakeResume, ResumeLen, 0, func(b []byte) error { _, err := ParseResume(b); return err }},
		{"RESUME_RESPONSE", HandshakeResumeResponse, ResumeResponseLen, 0, func(b []byte) error { _, err := ParseResumeResponse(b); return err }},
	}
	for _, p := range parsers {
		t.Run(p.name, func(t *testing.T) {
			b := msg(p.typ, p.n, p.flags)
			if err := p.parse(b); err != nil {
				t.Fatalf("valid message: %v", err)
			}
			for n := range len(b) {
				if err := p.parse(b[:n]); !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, ErrMalformed) {
					t.Fatalf("truncated to %d: %v", n, err)
				}
			}
			var pe *ParseError
			if err := p.parse(append(b, 0)); !errors.Is(err, ErrTooLarge) || !errors.As(err, &pe) {
				t.Errorf("one byte long: %v", err)
			}
			bad := append([]byte(nil), b...)
			bad[HandshakeTypeOffset] = 9
			if err := p.parse(bad); !errors.Is(err, ErrMalformed) {
				t.Errorf("wrong type: %v", err)
			}
			bad[HandshakeTypeOffset] = byte(p.typ)
			bad[0] = 2
			if err := p.parse(bad); err == nil {
				t.Error("wrong version accepted")
			}
		})
	}
	b := msg(HandshakeHello, HelloLen, 0x02)
	if _, err := ParseHello(b); !errors.Is(err, ErrMalformed) {
		t.Errorf("unknown HELLO flag: %v", err)
	}
	r := msg(HandshakeReject, RejectLen, 0)
	r[RejectReasonOffset] = RejectCollision
	if rj, err := ParseReject(r); err != nil || rj.Reason() != RejectCollision || len(rj.Tag()) != TagLen {
		t.Errorf("REJECT: %v", err)
	}
	r[RejectReasonOffset] = RejectTicket
	if rj, err := ParseReject(r); err != nil || rj.Reason() != RejectTicket {
		t.Errorf("REJECT(ticket): %v", err)
	}
	r[RejectReasonOffset] = 7
	if _, err := ParseReject(r); !errors.Is(err, ErrMalformed) {
		t.Errorf("unknown reject reason: %v", err)
	}
	// RESUME: flags and reserved bytes must be zero.
	for _, off := range []int{ResumeFlagsOffset, resumeReservedOffset, resumeReservedOffset + 3} {
		b := msg(HandshakeResume, ResumeLen, 0)
		b[off] = 1
		var pe *ParseError
		if _, err := ParseResume(b); !errors.Is(err, ErrMalformed) || !errors.As(err, &pe) || pe.Offset != off {
			t.Errorf("RESUME byte %d set: %v", off, err)
		}
	}
	for _, n := range []int{0, 3, NewTicketLen - 1, NewTicketLen + 1} {
		if _, _, err := ParseNewTicket(make([]byte, n)); !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, ErrTooLarge) {
			t.Errorf("NEW_TICKET of %d bytes: %v", n, err)
		}
	}
}

func TestResumeAccessors(t *testing.T) {
	b := msg(HandshakeResume, ResumeLen, 0)
	for i := ResumeCookieOffset; i < len(b); i++ {
		b[i] = byte(i)
	}
	r, err := ParseResume(b)
	if err != nil {
		t.Fatal(err)
	}
	if r.ID() != 0x1122334455667788 || len(r.Header()) != ResumeHeaderLen || r.Cookie()[0] != ResumeCookieOffset ||
		len(r.Cookie()) != CookieLen || r.Ephemeral()[0] != ResumeEphemeralOffset || len(r.Ephemeral()) != KeyLen ||
		r.Ticket()[0] != byte(ResumeTicketOffset) || len(r.Ticket()) != TicketLen ||
		r.PSKTag()[0] != byte(ResumePSKTagOffset) || len(r.PSKTag()) != TagLen ||
		r.Sealed()[0] != byte(ResumeSealedOffset%256) || len(r.Sealed()) != resumeSealedLen {
		t.Error("RESUME accessors read the wrong offsets")
	}
	a := msg(HandshakeResumeResponse, ResumeResponseLen, 0)
	for i := HandshakePrefixLen; i < len(a); i++ {
		a[i] = byte(i)
	}
	rr, err := ParseResumeResponse(a)
	if err != nil {
		t.Fatal(err)
	}
	if rr.ID() != 0x1122334455667788 || rr.Ephemeral()[0] != ResumeResponseEphemeralOffset || len(rr.Ephemeral()) != KeyLen ||
		rr.Sealed()[0] != ResumeResponseSealedOffset || len(rr.Sealed()) != ResumeResponsePayloadLen+TagLen {
		t.Error("RESUME_RESPONSE accessors read the wrong offsets")
	}
	tk := make([]byte, TicketLen)
	for i := range tk {
		tk[i] = byte(i)
	}
	blob := make([]byte, NewTicketLen)
	PutNewTicket(blob, 3600, tk)
	life, got, err := ParseNewTicket(blob)
	if err != nil || life != 3600 || string(got) != string(tk) || blob[0] != 0 || blob[3] != 0x10 {
		t.Errorf("NEW_TICKET round trip: %v %d %x", err, life, blob[:4])
	}
}

func TestHelloAccessors(t *testing.T) {
	b := msg(HandshakeHello, HelloHybridLen, HelloFlagHybrid)
	for i := HelloSuitesOffset; i < len(b); i++ {
		b[i] = byte(i)
	}
	h, err := ParseHello(b)
	if err != nil {
		t.Fatal(err)
	}
	if h.ID() != 0x1122334455667788 || !h.Hybrid() || h.Suites()[0] != HelloSuitesOffset ||
		h.Cookie()[0] != HelloCookieOffset || h.Ephemeral()[0] != HelloEphemeralOffset ||
		len(h.KEMKey()) != KEMEncapKeyLen || h.KEMKey()[0] != byte(HelloKEMOffset) ||
		len(h.Sealed()) != HelloSealedLen || len(h.Header()) != HelloHeaderLen {
		t.Error("HELLO accessors read the wrong offsets")
	}
	r := msg(HandshakeResponse, ResponseHybridLen, 0)
	for i := HandshakePrefixLen; i < len(r); i++ {
		r[i] = byte(i)
	}
	rv, _ := ParseResponse(r, true)
	if rv.ID() != 0x1122334455667788 || rv.Ephemeral()[0] != ResponseEphemeralOffset || len(rv.KEMCiphertext()) != KEMCiphertextLen ||
		len(rv.SealedStatic()) != ResponseSealedStaticLen || len(rv.Sealed()) != ResponseSealedLen {
		t.Error("RESPONSE accessors read the wrong offsets")
	}
	rx, _ := ParseResponse(r[:ResponseLen], false)
	if rx.KEMCiphertext() != nil {
		t.Error("non-hybrid RESPONSE has a KEM ciphertext")
	}
}

func TestHandshakeParseNoAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are not meaningful under -race")
	}
	b := msg(HandshakeHello, HelloHybridLen, HelloFlagHybrid)
	if n := testing.AllocsPerRun(100, func() { _, _ = ParseHello(b) }); n != 0 {
		t.Errorf("ParseHello: %v allocs", n)
	}
	r := msg(HandshakeResume, ResumeLen, 0)
	if n := testing.AllocsPerRun(100, func() { _, _ = ParseResume(r) }); n != 0 {
		t.Errorf("ParseResume: %v allocs", n)
	}
	a := msg(HandshakeResumeResponse, ResumeResponseLen, 0)
	if n := testing.AllocsPerRun(100, func() { _, _ = ParseResumeResponse(a) }); n != 0 {
		t.Errorf("ParseResumeResponse: %v allocs", n)
	}
	blob := make([]byte, NewTicketLen)
	if n := testing.AllocsPerRun(100, func() { _, _, _ = ParseNewTicket(blob) }); n != 0 {
		t.Errorf("ParseNewTicket: %v allocs", n)
	}
}

// FuzzParseResume feeds arbitrary bytes to the resumption parsers: a
// message that parses has exactly its length, zero flags and reserved
// bytes, its views tile it, and re-encoding reproduces a NEW_TICKET blob.
func FuzzParseResume(f *testing.F) {
	for _, n := range []int{ResumeLen, ResumeResponseLen, NewTicketLen, RejectLen} {
		for _, typ := range []HandshakeType{HandshakeResume, HandshakeResumeResponse, HandshakeReject} {
			b := make([]byte, n)
			PutHandshakePrefix(b, 0x0102030405060708, typ)
			if typ == HandshakeReject {
				b[RejectReasonOffset] = RejectTicket
			}
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if r, err := ParseResume(b); err == nil {
			if len(b) != ResumeLen || b[ResumeFlagsOffset] != 0 || string(b[resumeReservedOffset:ResumeCookieOffset]) != "\x00\x00\x00\x00" ||
				len(r.Header())+len(r.Ephemeral())+len(r.Ticket())+len(r.PSKTag())+len(r.Sealed()) != len(b) {
				t.Fatalf("RESUME view inconsistent (len %d)", len(b))
			}
		} else if len(b) == ResumeLen && b[0] == Version && b[1] == byte(KindHandshake) && HandshakeType(b[HandshakeTypeOffset]) == HandshakeResume &&
			b[ResumeFlagsOffset] == 0 && string(b[resumeReservedOffset:ResumeCookieOffset]) == "\x00\x00\x00\x00" {
			t.Fatalf("valid RESUME refused: %v", err)
		}
		if r, err := ParseResumeResponse(b); err == nil &&
			(len(b) != ResumeResponseLen || HandshakePrefixLen+len(r.Ephemeral())+len(r.Sealed()) != len(b)) {
			t.Fatal("RESUME_RESPONSE view inconsistent")
		}
		if r, err := ParseReject(b); err == nil && r.Reason() != RejectAuthentication && r.Reason() != RejectCollision && r.Reason() != RejectTicket {
			t.Fatal("REJECT with an unknown reason parsed")
		}
		if life, tk, err := ParseNewTicket(b); err == nil {
			out := make([]byte, NewTicketLen)
			PutNewTicket(out, life, tk)
			if string(out) != string(b) {
				t.Fatal("NEW_TICKET does not round-trip")
			}
		}
	})
}
