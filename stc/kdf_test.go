package stc

import (
	"bytes"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
)

func mustHex(tb testing.TB, s string) []byte {
	tb.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// TestHKDFRFC5869 runs the SHA-256 test cases of RFC 5869 Appendix A
// through Extract and the zero-allocation Expand.
func TestHKDFRFC5869(t *testing.T) {
	for _, c := range []struct {
		name, ikm, salt, info, prk, okm string
	}{
		{
			"A.1",
			"0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b",
			"000102030405060708090a0b0c",
			"f0f1f2f3f4f5f6f7f8f9",
			"077709362c2e32df0ddc3f0dc47bba6390b6c73bb50f9c3122ec844ad7c2b3e5",
			"3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865",
		},
		{
			"A.2",
			"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f404142434445464748494a4b4c4d4e4f",
			"606162636465666768696a6b6c6d6e6f707172737475767778797a7b7c7d7e7f808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9fa0a1a2a3a4a5a6a7a8a9aaabacadaeaf",
			"b0b1b2b3b4b5b6b7b8b9babbbcbdbebfc0c1c2c3c4c5c6c7c8c9cacbcccdcecfd0d1d2d3d4d5d6d7d8d9dadbdcdddedfe0e1e2e3e4e5e6e7e8e9eaebecedeeeff0f1f2f3f4f5f6f7f8f9fafbfcfdfeff",
			"06a6b88c5853361a06104c9ceb35b45cef760014904671014a193f40c15fc244",
			"b11e398dc80327a1c8e7f78c596a49344f012eda2d4efad8a050cc4c19afa97c59045a99cac7827271cb41c65e590e09da3275600c2f09b8367793a9aca3db71cc30c58179ec3e87c14c01d5c1f3434f1d87",
		},
		{
			"A.3",
			"0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b",
			"",
			"",
			"19ef24a32c717b167f33a91d6f648bdf96596776afdb6377ac434c1c293ccb04",
			"8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8",
		},
	} {
		prk := Extract(mustHex(t, c.salt), mustHex(t, c.ikm))
		if got := hex.EncodeToString(prk.b[:]); got != c.prk {
			t.Errorf("%s: PRK %s, want %s", c.name, got, c.prk)
		}
		okm := make([]byte, len(c.okm)/2)
		hkdfExpand(okm, &prk, "", string(mustHex(t, c.info)), nil)
		if got := hex.EncodeToString(okm); got != c.okm {
			t.Errorf("%s: OKM %s, want %s", c.name, got, c.okm)
		}
	}
}

// TestExpandIntoMatchesHKDF compares the stack-buffer HKDF-Expand with
// crypto/hkdf over output lengths crossing block boundaries, up to the
// maximum, and label lengths up to maxLabelLen.
func TestExpandIntoMatchesHKDF(t *testing.T) {
	secret := testSecret(0x55)
	labels := []string{"", "stt key", strings.Repeat("L", 100), strings.Repeat("x", maxLabelLen)}
	lengths := []int{0, 1, 12, 16, 31, 32, 33, 63, 64, 65, 100, 1000, maxExpandLen}
	for _, label := range labels {
		for _, n := range lengths {
			want, err := hkdf.Expand(sha256.New, secret.b[:], "stt/1 "+label, n)
			if err != nil {
				t.Fatal(err)
			}
			got := make([]byte, n)
			ExpandInto(got, secret, label)
			if !bytes.Equal(got, want) {
				t.Fatalf("label len %d, n %d: ExpandInto differs from crypto/hkdf", len(label), n)
			}
			if !bytes.Equal(Expand(secret, label, n), want) {
				t.Fatalf("label len %d, n %d: Expand differs from crypto/hkdf", len(label), n)
			}
		}
	}
	// The context bytes of expandInto are part of the info.
	ctx := []byte{0, 1, 2, 0xff}
	want, _ := hkdf.Expand(sha256.New, secret.b[:], "stt/1 stt stream key"+string(ctx), 32)
	got := make([]byte, 32)
	expandInto(got, &secret, labelStreamKey, ctx)
	if !bytes.Equal(got, want) {
		t.Fatal("expandInto with context differs from crypto/hkdf")
	}
}

func TestExpandPanics(t *testing.T) {
	s := testSecret(0)
	long := strings.Repeat("x", maxLabelLen+1)
	mustPanic(t, "Expand long label", func() { Expand(s, long, 32) })
	mustPanic(t, "ExpandInto long label", func() { ExpandInto(make([]byte, 32), s, long) })
	mustPanic(t, "Expand negative", func() { Expand(s, "x", -1) })
	mustPanic(t, "Expand too long", func() { Expand(s, "x", maxExpandLen+1) })
	mustPanic(t, "ExpandInto too long", func() { ExpandInto(make([]byte, maxExpandLen+1), s, "x") })
}

func TestLabelsSeparate(t *testing.T) {
	s := testSecret(0x20)
	seen := map[string]string{}
	for _, label := range []string{labelPSK, labelNodeStatic, labelKey, labelIV, labelTrafficUpd, labelStreamKey, labelStreamIV, ""} {
		out := string(Expand(s, label, 32))
		if prev, dup := seen[out]; dup {
			t.Fatalf("labels %q and %q give the same output", label, prev)
		}
		seen[out] = label
	}
	// Without the "stt/1 " prefix the output must differ (domain separation).
	raw, _ := hkdf.Expand(sha256.New, s.b[:], labelKey, 32)
	if bytes.Equal(raw, Expand(s, labelKey, 32)) {
		t.Fatal("label prefix has no effect")
	}
}

func TestSecretNext(t *testing.T) {
	s := testSecret(0x40)
	orig := s
	n1 := s.Next()
	if !s.Equal(orig) {
		t.Fatal("Next modified its receiver")
	}
	if !bytes.Equal(n1.b[:], Expand(s, "stt traffic upd", 32)) {
		t.Fatal("Next != Expand(s, \"stt traffic upd\", 32)")
	}
	n2 := n1.Next()
	if n1.Equal(s) || n2.Equal(n1) || n2.Equal(s) {
		t.Fatal("ratchet repeats")
	}
	if !s.Next().Equal(n1) {
		t.Fatal("Next is not deterministic")
	}
}

func TestSecretEqualWipe(t *testing.T) {
	a, b := testSecret(1), testSecret(1)
	c := testSecret(2)
	if !a.Equal(b) || a.Equal(c) {
		t.Fatal("Equal wrong")
	}
	if a.IsZero() {
		t.Fatal("IsZero of a key")
	}
	a.Wipe()
	if a.b != ([secretLen]byte{}) || !a.IsZero() {
		t.Fatal("Wipe left bytes")
	}
	if !bytes.Equal(b.Bytes(), seqBytes(1, secretLen)) {
		t.Fatal("Bytes differ from the key")
	}
	from := [32]byte{7, 7, 7}
	if f := SecretFrom(&from); from != ([32]byte{}) || f.b[0] != 7 {
		t.Fatal("SecretFrom did not move the bytes")
	}
}

// TestSecretRedacted: no fmt verb prints a Secret's bytes.
func TestSecretRedacted(t *testing.T) {
	s := testSecret(0xab)
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%x", "%X", "%q", "%d"} {
		for _, arg := range []any{s, &s, struct{ K Secret }{s}} {
			out := fmt.Sprintf(verb, arg)
			if strings.Contains(strings.ToLower(out), "abac") || strings.Contains(out, "171") {
				t.Errorf("Sprintf(%q, %T) = %q shows key bytes", verb, arg, out)
			}
		}
	}
}

func TestDerivePSK(t *testing.T) {
	for _, c := range []struct {
		name string
		seed []byte
		err  error
	}{
		{"nil", nil, ErrSeedTooShort},
		{"31 bytes", seqBytes(0, 31), ErrSeedTooShort},
		{"32 bytes", seqBytes(0, 32), nil},
		{"64 bytes", seqBytes(0, 64), nil},
	} {
		psk, err := DerivePSK(c.seed)
		if !errors.Is(err, c.err) || (err == nil) != (c.err == nil) {
			t.Errorf("%s: err %v, want %v", c.name, err, c.err)
			continue
		}
		if err != nil {
			if !strings.Contains(err.Error(), "shared seed is "+strconv.Itoa(len(c.seed))+" bytes") {
				t.Errorf("%s: error %q does not name the length", c.name, err)
			}
			if psk != [32]byte{} {
				t.Errorf("%s: non-zero PSK with error", c.name)
			}
			continue
		}
		want, _ := hkdf.Key(sha256.New, c.seed, nil, "stt/1 stt psk", 32)
		if !bytes.Equal(psk[:], want) {
			t.Errorf("%s: PSK differs from crypto/hkdf.Key", c.name)
		}
	}
	a, _ := DerivePSK(seqBytes(0, 32))
	b, _ := DerivePSK(seqBytes(1, 32))
	if a == b {
		t.Fatal("different seeds give the same PSK")
	}
}
