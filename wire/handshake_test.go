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
	r[RejectReasonOffset] = 7
	if _, err := ParseReject(r); !errors.Is(err, ErrMalformed) {
		t.Errorf("unknown reject reason: %v", err)
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
}
