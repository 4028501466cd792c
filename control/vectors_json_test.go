package control

import (
	"bufio"
	"bytes"
	"crypto/ecdh"
	"crypto/mlkem"
	"crypto/mlkem/mlkemtest"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stt-go/stt/internal/vectorfile"
	"github.com/stt-go/stt/stc"
	"github.com/stt-go/stt/wire"
)

// updateJSON regenerates docs/vectors/handshake.json and session.json from
// the default inputs below: go test ./control -run JSON -update-json.
// Review the diff: a changed output is a wire-incompatible change.
var updateJSON = flag.Bool("update-json", false, "rewrite docs/vectors/handshake.json and session.json")

const (
	handshakeJSON = "../docs/vectors/handshake.json"
	sessionJSON   = "../docs/vectors/session.json"
	handshakeMD   = "../docs/HANDSHAKE.md"
	transportMD   = "../docs/TRANSPORT.md"
)

// jsonParams is TransportParams in the vectors.
type jsonParams struct {
	MaxStreams           uint64 `json:"max_streams"`
	InitialMaxData       uint64 `json:"initial_max_data"`
	InitialMaxStreamData uint64 `json:"initial_max_stream_data"`
	MaxDatagram          uint16 `json:"max_datagram"`
	IdleTimeoutMs        uint32 `json:"idle_timeout_ms"`
}

func (p jsonParams) params() TransportParams {
	return TransportParams(p)
}

// hsInputs are every choice a handshake depends on. Hex strings unless
// noted; the responder's nonce_r is used as drawn (responder_loops 1).
type hsInputs struct {
	Hybrid                    bool       `json:"hybrid"`
	SharedSeed                string     `json:"shared_seed"`
	InitiatorNodeSeed         string     `json:"initiator_node_seed"`
	ResponderNodeSeed         string     `json:"responder_node_seed"`
	HandshakeID               string     `json:"handshake_id"`
	TimestampMs               int64      `json:"timestamp_ms"`
	Cookie                    string     `json:"cookie"`
	OfferedSuites             []int      `json:"offered_suites"`
	ResponderSuites           []int      `json:"responder_suites"`
	InitiatorEphemeralPrivate string     `json:"initiator_ephemeral_private"`
	ResponderEphemeralPrivate string     `json:"responder_ephemeral_private"`
	InitiatorKEMSeed          string     `json:"initiator_kem_seed,omitempty"`
	ResponderKEMRandom        string     `json:"responder_kem_encapsulation_random,omitempty"`
	NonceI                    string     `json:"nonce_i"`
	NonceR                    string     `json:"nonce_r"`
	ResponderLoops            int        `json:"responder_loops"`
	InitiatorParams           jsonParams `json:"initiator_params"`
	ResponderParams           jsonParams `json:"responder_params"`
}

// hsOutputs are what the handshake produces from hsInputs.
type hsOutputs struct {
	PSK                      string `json:"psk"`
	InitiatorStaticPublic    string `json:"initiator_static_public"`
	InitiatorNodeID          string `json:"initiator_node_id"`
	ResponderStaticPublic    string `json:"responder_static_public"`
	ResponderNodeID          string `json:"responder_node_id"`
	InitiatorEphemeralPublic string `json:"initiator_ephemeral_public"`
	ResponderEphemeralPublic string `json:"responder_ephemeral_public"`
	KEMSharedSecret          string `json:"kem_shared_secret,omitempty"`
	Hello                    string `json:"hello"`
	HashAfterHello           string `json:"h_after_hello"`
	Response                 string `json:"response"`
	HashAfterResponse        string `json:"h_after_response"`
	ChosenSuite              int    `json:"chosen_suite"`
	AuthProof                string `json:"auth_proof"`
	SessionID                string `json:"session_id"`
	HandshakeHash            string `json:"handshake_hash"`
	CKFinal                  string `json:"ck_final"`
	KeyI2R                   string `json:"key_i2r"`
	KeyR2I                   string `json:"key_r2i"`
}

type hsVector struct {
	Name    string    `json:"name"`
	Note    string    `json:"note"`
	Inputs  hsInputs  `json:"inputs"`
	Outputs hsOutputs `json:"outputs"`
}

// cookieVector is a COOKIE_REPLY, plus this implementation's cookie
// (responder policy: any 16 bytes the responder can recognise will do).
type cookieVector struct {
	Note         string `json:"note"`
	SharedSeed   string `json:"shared_seed"`
	HandshakeID  string `json:"handshake_id"`
	HelloE       string `json:"hello_ephemeral_public"`
	Nonce        string `json:"nonce"`
	CookieSecret string `json:"cookie_secret"`
	Source       string `json:"source"`
	Cookie       string `json:"cookie"`
	ReplyKey     string `json:"cookie_reply_key"`
	CookieReply  string `json:"cookie_reply"`
}

// rejectVector is a REJECT; the collision one is keyed by a handshake's
// ck_final.
type rejectVector struct {
	Note        string `json:"note"`
	HandshakeID string `json:"handshake_id"`
	Reason      int    `json:"reason"`
	CKFinal     string `json:"ck_final,omitempty"`
	RejectKey   string `json:"reject_key,omitempty"`
	Reject      string `json:"reject"`
}

// resumeInputs fix every choice of a ticket issued after one of the
// file's handshakes (from_handshake) and of one resumed handshake with it.
type resumeInputs struct {
	FromHandshake             string     `json:"from_handshake"`
	TicketKey                 string     `json:"ticket_key"`
	TicketKeyID               uint32     `json:"ticket_key_id"`
	TicketNonce               string     `json:"ticket_nonce"`
	IssuedMs                  int64      `json:"issued_ms"`
	ChainStartMs              int64      `json:"chain_start_ms"`
	LifetimeS                 uint32     `json:"lifetime_s"`
	HandshakeID               string     `json:"handshake_id"`
	NowMs                     int64      `json:"now_ms"`
	TicketAgeMs               uint32     `json:"ticket_age_ms"`
	InitiatorEphemeralPrivate string     `json:"initiator_ephemeral_private"`
	ResponderEphemeralPrivate string     `json:"responder_ephemeral_private"`
	NonceI                    string     `json:"nonce_i"`
	NonceR                    string     `json:"nonce_r"`
	ResponderLoops            int        `json:"responder_loops"`
	InitiatorParams           jsonParams `json:"initiator_params"`
	ResponderParams           jsonParams `json:"responder_params"`
}

// resumeOutputs are the ticket and the resumed handshake's messages and
// secrets.
type resumeOutputs struct {
	ResumptionSecret         string `json:"resumption_secret"`
	TicketPlaintext          string `json:"ticket_plaintext"`
	Ticket                   string `json:"ticket"`
	NewTicket                string `json:"new_ticket"`
	InitiatorEphemeralPublic string `json:"initiator_ephemeral_public"`
	ResponderEphemeralPublic string `json:"responder_ephemeral_public"`
	HashAfterPSKTag          string `json:"h_after_psk_tag"`
	Resume                   string `json:"resume"`
	HashAfterResume          string `json:"h_after_resume"`
	ResumeResponse           string `json:"resume_response"`
	SessionID                string `json:"session_id"`
	HandshakeHash            string `json:"handshake_hash"`
	CKFinal                  string `json:"ck_final"`
	KeyI2R                   string `json:"key_i2r"`
	KeyR2I                   string `json:"key_r2i"`
	NextResumptionSecret     string `json:"next_resumption_secret"`
	RejectTicket             string `json:"reject_ticket"`
}

type resumeVector struct {
	Name    string        `json:"name"`
	Note    string        `json:"note"`
	Inputs  resumeInputs  `json:"inputs"`
	Outputs resumeOutputs `json:"outputs"`
}

type handshakeFile struct {
	Description string         `json:"description"`
	Spec        string         `json:"spec"`
	Handshakes  []hsVector     `json:"handshakes"`
	CookieReply cookieVector   `json:"cookie_reply"`
	Rejects     []rejectVector `json:"rejects"`
	Resumptions []resumeVector `json:"resumptions"`
}

func rep(b byte, n int) string { return hex.EncodeToString(bytes.Repeat([]byte{b}, n)) }

func seqHex(first byte, n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = first + byte(i)
	}
	return hex.EncodeToString(b)
}

// defaultHandshakeFile is the input of -update-json. The x25519 vector is
// the one docs/HANDSHAKE.md has always carried (vectors_test.go checks it
// too); the hybrid one is what stt send and stt listen negotiate by default.
func defaultHandshakeFile() *handshakeFile {
	x := hsInputs{
		SharedSeed: seqHex(100, 32), InitiatorNodeSeed: seqHex(1, 32), ResponderNodeSeed: seqHex(2, 32),
		HandshakeID: "0102030405060708", TimestampMs: 1_780_000_000_000,
		OfferedSuites: []int{2, 1}, ResponderSuites: []int{2, 1},
		InitiatorEphemeralPrivate: rep(0x11, 32), ResponderEphemeralPrivate: rep(0x22, 32),
		NonceI: rep(0x33, 32), NonceR: rep(0x44, 32), ResponderLoops: 1,
		InitiatorParams: jsonParams{1, 1 << 20, 1 << 18, 1350, 30000},
		ResponderParams: jsonParams{2, 1 << 20, 1 << 18, 1350, 30000},
	}
	h := x
	h.Hybrid = true
	h.HandshakeID = "a1a2a3a4a5a6a7a8"
	h.InitiatorEphemeralPrivate, h.ResponderEphemeralPrivate = rep(0x13, 32), rep(0x24, 32)
	h.NonceI, h.NonceR = rep(0x35, 32), rep(0x46, 32)
	h.OfferedSuites = []int{1, 3, 2}
	h.ResponderSuites = []int{2, 1, 3}
	h.InitiatorKEMSeed = rep(0x55, 64)
	h.ResponderKEMRandom = rep(0x66, 32)
	h.InitiatorParams = jsonParams{256, 1 << 20, 512 << 10, 1452, 30000}
	h.ResponderParams = jsonParams{256, 1 << 20, 512 << 10, 1452, 30000}
	return &handshakeFile{
		Description: "STT handshake known-answer vectors (version 1). Every random choice is an input; " +
			"the outputs follow from docs/HANDSHAKE.md. Byte strings are lower-case hex; integers are exact " +
			"(parse them as 64-bit unsigned). Checked by control/vectors_json_test.go; regenerate with " +
			"go test ./control -run JSON -update-json.",
		Spec: "docs/HANDSHAKE.md",
		Handshakes: []hsVector{
			{Name: "x25519", Note: "Noise XXpsk0 without ML-KEM. Offered suites 2, 1; the responder accepts 2, 1 and chooses 2, " +
				"the first offered suite it accepts. The initiator announces MaxStreams 1, the responder 2 (test values).", Inputs: x},
			{Name: "hybrid", Note: "With ML-KEM-768: the initiator's decapsulation key is ML-KEM.KeyGen_internal(d ‖ z = initiator_kem_seed), " +
				"the responder encapsulates with ML-KEM.Encaps_internal(ek, m = responder_kem_encapsulation_random) (FIPS 203). " +
				"Offered 1, 3, 2 (stt send on a CPU with AES-GCM instructions); the responder accepts 2, 1, 3 and chooses 1, " +
				"the initiator's first choice. docs/vectors/session.json continues this handshake.", Inputs: h},
		},
		CookieReply: cookieVector{
			Note: "COOKIE_REPLY to the x25519 vector's HELLO. cookie_reply_key = HMAC-SHA256(key = psk, \"stt/1 cookie reply\"); " +
				"the reply is prefix ‖ nonce ‖ XChaCha20-Poly1305(cookie_reply_key, nonce, cookie, ad = hello_ephemeral_public). " +
				"The cookie itself is the responder's business; this implementation's is HMAC-SHA256(cookie_secret, IP16 ‖ port BE16)[:16] " +
				"of the HELLO's source, IPv4 written as ::ffff:a.b.c.d.",
			SharedSeed: x.SharedSeed, HandshakeID: x.HandshakeID, Nonce: rep(0x77, wire.CookieReplyNonceLen),
			CookieSecret: rep(0x88, 32), Source: "192.0.2.1:40000",
		},
		Rejects: []rejectVector{
			{Note: "REJECT(authentication): the tag is zero; it cannot be authenticated.", HandshakeID: x.HandshakeID, Reason: wire.RejectAuthentication},
			{Note: "REJECT(session-ID collision) after the hybrid handshake: reject_key = HMAC-SHA256(ck_final, \"stt/1 reject\"), " +
				"tag = HMAC-SHA256(reject_key, bytes 0..11 of the REJECT)[:16].", HandshakeID: h.HandshakeID, Reason: wire.RejectCollision},
		},
		Resumptions: []resumeVector{{
			Name: "resumed",
			Note: "A ticket issued a second after the hybrid handshake (resumption_secret = HMAC-SHA256(its ck_final, \"stt/1 resumption\")), " +
				"sealed with XChaCha20-Poly1305(ticket_key, ticket_nonce, ticket_plaintext, ad = key ID) as this implementation lays tickets out, " +
				"and a resumed handshake with it a minute later: RESUME, RESUME_RESPONSE, keys. The responder's clock reads now_ms; " +
				"the initiator reports ticket_age_ms (15 ms less than issued_ms to now_ms: the ticket's trip). reject_ticket is a REJECT(ticket) to this RESUME.",
			Inputs: resumeInputs{
				FromHandshake: "hybrid", TicketKey: rep(0x99, 32), TicketKeyID: 0x0a0b0c0d, TicketNonce: rep(0xaa, 24),
				IssuedMs: h.TimestampMs + 1000, ChainStartMs: h.TimestampMs + 1000, LifetimeS: 3600,
				HandshakeID: "b1b2b3b4b5b6b7b8", NowMs: h.TimestampMs + 61000, TicketAgeMs: 59985,
				InitiatorEphemeralPrivate: rep(0x17, 32), ResponderEphemeralPrivate: rep(0x28, 32),
				NonceI: rep(0x39, 32), NonceR: rep(0x4a, 32), ResponderLoops: 1,
				InitiatorParams: h.InitiatorParams, ResponderParams: h.ResponderParams,
			},
		}},
	}
}

func unhex(t testing.TB, what, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return b
}

func suitesOf(codes []int) []stc.Suite {
	out := make([]stc.Suite, len(codes))
	for i, c := range codes {
		out[i] = stc.Suite(c)
	}
	return out
}

func ephemeralFrom(t testing.TB, priv []byte) ephemeral {
	t.Helper()
	k, err := ecdh.X25519().NewPrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	e := ephemeral{priv: k}
	copy(e.pub[:], k.PublicKey().Bytes())
	return e
}

// handshakeRun is a handshake computed from hsInputs by this package's
// code: the initiator is an Initiator, the responder a Plane answering
// through helloWith and handleAuthProof, which must install the session.
type handshakeRun struct {
	out       hsOutputs
	sid       wire.SessionID
	suite     stc.Suite
	i2r, r2i  stc.Secret
	ckFinl    [32]byte
	rejectKey [32]byte
	helloE    [32]byte
}

func runHandshake(t testing.TB, in *hsInputs) *handshakeRun {
	t.Helper()
	id := func(seedHex string) *stc.Identity {
		s, err := stc.NewIdentity(unhex(t, "node seed", seedHex))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	psk, err := stc.DerivePSK(unhex(t, "shared_seed", in.SharedSeed))
	if err != nil {
		t.Fatal(err)
	}
	now := time.UnixMilli(in.TimestampMs)
	hid, err := strconv.ParseUint(in.HandshakeID, 16, 64)
	if err != nil {
		t.Fatal(err)
	}
	ic := &Config{Identity: id(in.InitiatorNodeSeed), PSK: psk, Hybrid: in.Hybrid, Suites: suitesOf(in.OfferedSuites), Params: in.InitiatorParams.params()}
	ii := &InitiatorInputs{ID: wire.SessionID(hid), Ephemeral: unhex(t, "initiator ephemeral", in.InitiatorEphemeralPrivate), Nonce: unhex(t, "nonce_i", in.NonceI)}
	if in.Hybrid {
		ii.KEMSeed = unhex(t, "initiator_kem_seed", in.InitiatorKEMSeed)
	}
	x, err := NewInitiator(ic, ii)
	if err != nil {
		t.Fatal(err)
	}
	var cookie []byte
	if in.Cookie != "" {
		cookie = unhex(t, "cookie", in.Cookie)
	}
	hello, err := x.Hello(now, cookie)
	if err != nil {
		t.Fatal(err)
	}
	hello = bytes.Clone(hello)
	hHello := x.d.sym.h

	rc := &Config{Identity: id(in.ResponderNodeSeed), PSK: psk, Suites: suitesOf(in.ResponderSuites), Params: in.ResponderParams.params(),
		Now: func() time.Time { return now }}
	n := newFakeNet()
	dp := n.add(addrB, in.ResponderLoops)
	r, err := NewPlane(rc, dp)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	dp.plane = r
	var resp []byte
	n.filter = func(from, _ netip.AddrPort, b []byte) []byte {
		if from == addrB {
			resp = b
		}
		return nil
	}
	fixed := &respInputs{e: ephemeralFrom(t, unhex(t, "responder ephemeral", in.ResponderEphemeralPrivate))}
	copy(fixed.nonce[:], unhex(t, "nonce_r", in.NonceR))
	var kemSS []byte
	if in.Hybrid {
		m := unhex(t, "responder_kem_encapsulation_random", in.ResponderKEMRandom)
		fixed.encapsulate = func(ek *mlkem.EncapsulationKey768) ([]byte, []byte, error) {
			ss, ct, err := mlkemtest.Encapsulate768(ek, m)
			kemSS = ss
			return ss, ct, err
		}
	}
	r.helloWith(newWorkerScratch(), hello, addrA, now, fixed)
	if resp == nil {
		t.Fatal("the responder sent no RESPONSE")
	}
	est, proof, err := x.Response(resp)
	if err != nil {
		t.Fatal(err)
	}
	r.handleAuthProof(proof, addrA)
	rs := dp.session(est.SessionID)
	if rs == nil || !rs.sendSecret.Equal(est.recvSecret) || !rs.recvSecret.Equal(est.sendSecret) || rs.Suite != est.Suite {
		t.Fatal("the responder did not install the session the initiator computed")
	}
	ipub, rpub := ic.Identity.Public(), rc.Identity.Public()
	iid, rid := ic.Identity.ID(), rc.Identity.ID()
	run := &handshakeRun{sid: est.SessionID, suite: est.Suite, i2r: est.sendSecret, r2i: est.recvSecret,
		ckFinl: x.fin.ck, rejectKey: x.fin.rejectKey, helloE: x.d.e.pub}
	run.out = hsOutputs{
		PSK:                      hex.EncodeToString(psk[:]),
		InitiatorStaticPublic:    hex.EncodeToString(ipub[:]),
		InitiatorNodeID:          hex.EncodeToString(iid[:]),
		ResponderStaticPublic:    hex.EncodeToString(rpub[:]),
		ResponderNodeID:          hex.EncodeToString(rid[:]),
		InitiatorEphemeralPublic: hex.EncodeToString(x.d.e.pub[:]),
		ResponderEphemeralPublic: hex.EncodeToString(fixed.e.pub[:]),
		KEMSharedSecret:          hex.EncodeToString(kemSS),
		Hello:                    hex.EncodeToString(hello),
		HashAfterHello:           hex.EncodeToString(hHello[:]),
		Response:                 hex.EncodeToString(resp),
		HashAfterResponse:        hex.EncodeToString(x.fin.hResponse[:]),
		ChosenSuite:              int(est.Suite),
		AuthProof:                hex.EncodeToString(proof),
		SessionID:                fmt.Sprintf("%016x", uint64(est.SessionID)),
		HandshakeHash:            hex.EncodeToString(x.fin.h[:]),
		CKFinal:                  hex.EncodeToString(x.fin.ck[:]),
		KeyI2R:                   hex.EncodeToString(est.sendSecret.Bytes()),
		KeyR2I:                   hex.EncodeToString(est.recvSecret.Bytes()),
	}
	return run
}

// computeHandshakeFile fills every output of f from its inputs.
func computeHandshakeFile(t testing.TB, f *handshakeFile) map[string]*handshakeRun {
	t.Helper()
	runs := map[string]*handshakeRun{}
	for i := range f.Handshakes {
		v := &f.Handshakes[i]
		run := runHandshake(t, &v.Inputs)
		v.Outputs = run.out
		runs[v.Name] = run
	}
	c := &f.CookieReply
	psk, err := stc.DerivePSK(unhex(t, "cookie shared_seed", c.SharedSeed))
	if err != nil {
		t.Fatal(err)
	}
	x, ok := runs["x25519"]
	if !ok {
		t.Fatal("cookie_reply answers the x25519 HELLO, which is missing")
	}
	c.HelloE = hex.EncodeToString(x.helloE[:])
	src, err := netip.ParseAddrPort(c.Source)
	if err != nil {
		t.Fatal(err)
	}
	cookie := cookieFor((*[32]byte)(unhex(t, "cookie_secret", c.CookieSecret)), src)
	c.Cookie = hex.EncodeToString(cookie[:])
	var ps pskState
	ps.init(&psk)
	c.ReplyKey = hex.EncodeToString(ps.cookieKey[:])
	hid, err := strconv.ParseUint(c.HandshakeID, 16, 64)
	if err != nil {
		t.Fatal(err)
	}
	reply := ps.cookieReply(nil, wire.SessionID(hid), (*[wire.CookieReplyNonceLen]byte)(unhex(t, "nonce", c.Nonce)), &cookie, x.helloE[:])
	c.CookieReply = hex.EncodeToString(reply)
	for i := range f.Rejects {
		r := &f.Rejects[i]
		hid, err := strconv.ParseUint(r.HandshakeID, 16, 64)
		if err != nil {
			t.Fatal(err)
		}
		out := make([]byte, wire.RejectLen)
		wire.PutHandshakePrefix(out, wire.SessionID(hid), wire.HandshakeReject)
		out[wire.RejectReasonOffset] = byte(r.Reason)
		r.CKFinal, r.RejectKey = "", ""
		if r.Reason == wire.RejectCollision {
			h, ok := runs["hybrid"]
			if !ok {
				t.Fatal("the collision REJECT is keyed by the hybrid handshake, which is missing")
			}
			r.CKFinal = hex.EncodeToString(h.ckFinl[:])
			rk := hmacSHA256(&h.ckFinl, []byte(rejectKeyLabel), nil)
			if rk != h.rejectKey {
				t.Fatal("reject key differs from the one Dial uses")
			}
			r.RejectKey = hex.EncodeToString(rk[:])
			tag := rejectTag(&rk, out[:wire.RejectTagOffset])
			copy(out[wire.RejectTagOffset:], tag[:])
		}
		if _, err := wire.ParseReject(out); err != nil {
			t.Fatal(err)
		}
		r.Reject = hex.EncodeToString(out)
	}
	return runs
}

// computeResumptions fills the outputs of f's resumption vectors from their
// inputs and the handshakes they follow (runs), with this package's code:
// the ticket by sealTicket, the RESUME by buildResume, the responder by
// resumeWith (which must install the session) and the initiator by
// completeResume.
func computeResumptions(t testing.TB, f *handshakeFile, runs map[string]*handshakeRun) {
	t.Helper()
	for i := range f.Resumptions {
		v := &f.Resumptions[i]
		in := &v.Inputs
		var hv *hsVector
		for j := range f.Handshakes {
			if f.Handshakes[j].Name == in.FromHandshake {
				hv = &f.Handshakes[j]
			}
		}
		run, ok := runs[in.FromHandshake]
		if hv == nil || !ok {
			t.Fatalf("resumption %s follows handshake %q, which is missing", v.Name, in.FromHandshake)
		}
		id := func(seedHex string) *stc.Identity {
			s, err := stc.NewIdentity(unhex(t, "node seed", seedHex))
			if err != nil {
				t.Fatal(err)
			}
			return s
		}
		psk, err := stc.DerivePSK(unhex(t, "shared_seed", hv.Inputs.SharedSeed))
		if err != nil {
			t.Fatal(err)
		}
		now := time.UnixMilli(in.NowMs)
		ic := &Config{Identity: id(hv.Inputs.InitiatorNodeSeed), PSK: psk, Suites: suitesOf(hv.Inputs.OfferedSuites),
			Params: in.InitiatorParams.params(), Resumption: true}
		rc := &Config{Identity: id(hv.Inputs.ResponderNodeSeed), PSK: psk, Suites: suitesOf(hv.Inputs.ResponderSuites),
			Params: in.ResponderParams.params(), Resumption: true, Now: func() time.Time { return now }}

		// The ticket.
		ck := [32]byte(run.ckFinl)
		res := resumptionSecret(&ck)
		tc := ticketContents{issued: time.UnixMilli(in.IssuedMs), chain: time.UnixMilli(in.ChainStartMs), suite: run.suite,
			idI: ic.Identity.ID(), staticI: ic.Identity.Public(), idR: rc.Identity.ID(), res: res}
		key := ticketKeyFrom(in.TicketKeyID, (*[32]byte)(unhex(t, "ticket_key", in.TicketKey)), time.UnixMilli(in.IssuedMs))
		var tk [wire.TicketLen]byte
		sealTicket(&tk, key, (*[24]byte)(unhex(t, "ticket_nonce", in.TicketNonce)), &tc)
		blob := make([]byte, wire.NewTicketLen)
		wire.PutNewTicket(blob, in.LifetimeS, tk[:])
		pt := tc.plaintext()

		// RESUME, built by the initiator's code.
		ini, err := newCore(ic)
		if err != nil {
			t.Fatal(err)
		}
		hid, err := strconv.ParseUint(in.HandshakeID, 16, 64)
		if err != nil {
			t.Fatal(err)
		}
		te := &ticketEntry{ticket: tk, res: res, peerID: rc.Identity.ID(), peerStatic: rc.Identity.Public(), suite: run.suite,
			received: now.Add(-time.Duration(in.TicketAgeMs) * time.Millisecond)}
		d := &dial{to: addrB, useTicket: te}
		d.id, d.ticket = wire.SessionID(hid), te
		d.e = ephemeralFrom(t, unhex(t, "initiator ephemeral", in.InitiatorEphemeralPrivate))
		copy(d.nonce[:], unhex(t, "nonce_i", in.NonceI))
		ini.buildResume(d, nil, now)
		resume := bytes.Clone(d.hello[:d.nHello])
		hResume := d.sym.h
		// h after the PSK tag, recomputed step by step from the message.
		var sym symmetric
		ini.psk.start(&sym, resume[:wire.ResumeHeaderLen])
		sym.mixHash(d.e.pub[:])
		sym.mixKey(d.e.pub[:])
		sym.mixHashLong(tk[:])
		sym.mixHash(resume[wire.ResumePSKTagOffset:wire.ResumeSealedOffset])

		// The responder answers and installs.
		n := newFakeNet()
		dp := n.add(addrB, in.ResponderLoops)
		r, err := NewPlane(rc, dp)
		if err != nil {
			t.Fatal(err)
		}
		dp.plane = r
		r.tickets.Store(&ticketKeys{cur: key, prev: randomTicketKey(now, key.id)})
		var answer []byte
		n.filter = func(from, _ netip.AddrPort, b []byte) []byte {
			answer = bytes.Clone(b)
			return nil
		}
		fixed := &respInputs{e: ephemeralFrom(t, unhex(t, "responder ephemeral", in.ResponderEphemeralPrivate))}
		copy(fixed.nonce[:], unhex(t, "nonce_r", in.NonceR))
		rs := r.resumeWith(newWorkerScratch(), resume, addrA, now, fixed)
		r.Close()
		if rs == nil || answer == nil {
			t.Fatalf("resumption %s: the responder did not answer and install", v.Name)
		}
		var fin finalState
		est, err := ini.completeResume(d, answer, &fin)
		if err != nil {
			t.Fatal(err)
		}
		if !est.sendSecret.Equal(rs.recvSecret) || !est.recvSecret.Equal(rs.sendSecret) || est.SessionID != rs.SessionID ||
			rs.PeerID != ic.Identity.ID() || est.PeerID != rc.Identity.ID() {
			t.Fatalf("resumption %s: the two ends disagree", v.Name)
		}
		rej := make([]byte, wire.RejectLen)
		wire.PutHandshakePrefix(rej, d.id, wire.HandshakeReject)
		rej[wire.RejectReasonOffset] = wire.RejectTicket
		v.Outputs = resumeOutputs{
			ResumptionSecret:         hex.EncodeToString(res[:]),
			TicketPlaintext:          hex.EncodeToString(pt[:]),
			Ticket:                   hex.EncodeToString(tk[:]),
			NewTicket:                hex.EncodeToString(blob),
			InitiatorEphemeralPublic: hex.EncodeToString(d.e.pub[:]),
			ResponderEphemeralPublic: hex.EncodeToString(fixed.e.pub[:]),
			HashAfterPSKTag:          hex.EncodeToString(sym.h[:]),
			Resume:                   hex.EncodeToString(resume),
			HashAfterResume:          hex.EncodeToString(hResume[:]),
			ResumeResponse:           hex.EncodeToString(answer),
			SessionID:                fmt.Sprintf("%016x", uint64(est.SessionID)),
			HandshakeHash:            hex.EncodeToString(fin.h[:]),
			CKFinal:                  hex.EncodeToString(fin.ck[:]),
			KeyI2R:                   hex.EncodeToString(est.sendSecret.Bytes()),
			KeyR2I:                   hex.EncodeToString(est.recvSecret.Bytes()),
			NextResumptionSecret:     hex.EncodeToString(fin.res[:]),
			RejectTicket:             hex.EncodeToString(rej),
		}
	}
}

// writeOrCompare writes v as indented JSON to path under -update-json, or
// compares it with the file, reporting the first differing line.
func writeOrCompare(t *testing.T, path string, v any) {
	t.Helper()
	got, err := vectorfile.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if *updateJSON {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(got, want) {
		return
	}
	gl, wl := strings.Split(string(got), "\n"), strings.Split(string(want), "\n")
	for i := range max(len(gl), len(wl)) {
		var g, w string
		if i < len(gl) {
			g = gl[i]
		}
		if i < len(wl) {
			w = wl[i]
		}
		if g != w {
			t.Fatalf("%s line %d differs from what the code computes from its inputs:\n file %.200s\n code %.200s", path, i+1, w, g)
		}
	}
}

// TestHandshakeVectorsJSON recomputes docs/vectors/handshake.json from its
// own inputs with this package's code and checks the copy of its x25519
// vector and message vectors in docs/HANDSHAKE.md.
func TestHandshakeVectorsJSON(t *testing.T) {
	f := defaultHandshakeFile()
	if !*updateJSON {
		f = new(handshakeFile)
		vectorfile.Read(t, handshakeJSON, f, false)
	}
	if len(f.Resumptions) == 0 {
		t.Fatalf("%s has no resumption vector", handshakeJSON)
	}
	runs := computeHandshakeFile(t, f)
	computeResumptions(t, f, runs)
	writeOrCompare(t, handshakeJSON, f)

	blocks := markdownBlocks(t, handshakeMD)
	want := map[string]map[string]string{"# handshake x25519": {}, "# handshake messages": {}, "# resumption": {}}
	for _, v := range f.Resumptions {
		flatten(want["# resumption"], "", v.Inputs)
		flatten(want["# resumption"], "", v.Outputs)
	}
	for _, v := range f.Handshakes {
		if v.Name == "x25519" {
			flatten(want["# handshake x25519"], "", v.Inputs)
			flatten(want["# handshake x25519"], "", v.Outputs)
		}
	}
	m := want["# handshake messages"]
	m["cookie_reply_key"] = f.CookieReply.ReplyKey
	m["cookie_reply_nonce"] = f.CookieReply.Nonce
	m["cookie_reply_cookie"] = f.CookieReply.Cookie
	m["cookie_reply"] = f.CookieReply.CookieReply
	for _, r := range f.Rejects {
		if r.Reason == wire.RejectCollision {
			m["reject_collision_ck_final"] = r.CKFinal
			m["reject_collision_key"] = r.RejectKey
			m["reject_collision"] = r.Reject
		} else {
			m["reject_authentication"] = r.Reject
		}
	}
	compareBlocks(t, handshakeMD, blocks, want)
}

// flatten adds the JSON fields of v (a struct) to m as name → text, nested
// structs as prefix_name, lists comma-separated, empty values left out.
func flatten(m map[string]string, prefix string, v any) {
	b, _ := json.Marshal(v)
	var fields map[string]any
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	_ = d.Decode(&fields)
	for k, val := range fields {
		name := prefix + k
		switch x := val.(type) {
		case map[string]any:
			sub, _ := json.Marshal(x)
			var raw json.RawMessage = sub
			flatten(m, name+"_", raw)
		case []any:
			parts := make([]string, len(x))
			for i, e := range x {
				parts[i] = fmt.Sprint(e)
			}
			m[name] = strings.Join(parts, ", ")
		case string:
			if x != "" {
				m[name] = x
			}
		default:
			m[name] = fmt.Sprint(x)
		}
	}
}

// markdownBlocks returns the `name = value` lines of every ```vectors
// block of the Markdown file at path, keyed by the block's first line.
func markdownBlocks(t *testing.T, path string) map[string]map[string]string {
	t.Helper()
	fh, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	out := map[string]map[string]string{}
	var cur map[string]string
	in, first := false, false
	sc := bufio.NewScanner(fh)
	sc.Buffer(nil, 1<<20)
	for ln := 1; sc.Scan(); ln++ {
		line := strings.TrimSpace(sc.Text())
		switch {
		case !in && line == "```vectors":
			in, first = true, true
		case in && line == "```":
			in, cur = false, nil
		case in && first:
			first = false
			cur = map[string]string{}
			if _, dup := out[line]; dup {
				t.Fatalf("%s:%d: block %q repeated", path, ln, line)
			}
			out[line] = cur
		case in && line != "" && !strings.HasPrefix(line, "#"):
			k, v, ok := strings.Cut(line, "=")
			if !ok {
				t.Fatalf("%s:%d: want name = value, got %q", path, ln, line)
			}
			k, v = strings.TrimSpace(k), strings.TrimSpace(v)
			if _, dup := cur[k]; dup {
				t.Fatalf("%s:%d: %s repeated", path, ln, k)
			}
			cur[k] = v
		}
	}
	if in {
		t.Fatalf("%s: unterminated vectors block", path)
	}
	return out
}

// compareBlocks checks that each wanted block exists in the Markdown and
// holds exactly the wanted entries.
func compareBlocks(t *testing.T, path string, got, want map[string]map[string]string) {
	t.Helper()
	for name, w := range want {
		g, ok := got[name]
		if !ok {
			t.Errorf("%s: no ```vectors block starting %q", path, name)
			continue
		}
		for k, v := range w {
			if gv, ok := g[k]; !ok {
				t.Errorf("%s %s: %s missing (JSON: %.80s)", path, name, k, v)
			} else if gv != v {
				t.Errorf("%s %s: %s\n markdown %.120s\n json     %.120s", path, name, k, gv, v)
			}
		}
		for k := range g {
			if _, ok := w[k]; !ok {
				t.Errorf("%s %s: %s is not in the JSON", path, name, k)
			}
		}
	}
}
