package stc

import (
	"errors"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"

	"github.com/klauspost/cpuid/v2"
)

func TestSuiteProperties(t *testing.T) {
	for _, c := range []struct {
		s                   Suite
		name                string
		valid               bool
		keyLen              int
		confLimit, intLimit uint64
	}{
		{SuiteAES256GCM, "aes256gcm", true, 32, 1 << 23, 1 << 52},
		{SuiteChaCha20Poly1305, "chacha20poly1305", true, 32, 1 << 62, 1 << 36},
		{SuiteAES128GCM, "aes128gcm", true, 16, 1 << 23, 1 << 52},
		{0, "Suite(0)", false, 0, 0, 0},
		{4, "Suite(4)", false, 0, 0, 0},
		{255, "Suite(255)", false, 0, 0, 0},
	} {
		if got := c.s.String(); got != c.name {
			t.Errorf("Suite(%d).String() = %q, want %q", uint8(c.s), got, c.name)
		}
		if c.s.Valid() != c.valid || c.s.KeyLen() != c.keyLen {
			t.Errorf("%v: Valid %v KeyLen %d, want %v %d", c.s, c.s.Valid(), c.s.KeyLen(), c.valid, c.keyLen)
		}
		if c.s.ConfidentialityLimit() != c.confLimit || c.s.IntegrityLimit() != c.intLimit {
			t.Errorf("%v: limits %d/%d, want %d/%d", c.s, c.s.ConfidentialityLimit(), c.s.IntegrityLimit(), c.confLimit, c.intLimit)
		}
	}
}

func TestParseSuite(t *testing.T) {
	for _, c := range []struct {
		in   string
		want Suite
		err  error
	}{
		{"aes256gcm", SuiteAES256GCM, nil},
		{"chacha20poly1305", SuiteChaCha20Poly1305, nil},
		{"aes128gcm", SuiteAES128GCM, nil},
		{"AES256GCM", SuiteAES256GCM, nil},
		{"ChaCha20Poly1305", SuiteChaCha20Poly1305, nil},
		{"", 0, ErrUnknownSuite},
		{"aes", 0, ErrUnknownSuite},
		{"aes256-gcm", 0, ErrUnknownSuite},
		{"chacha20poly1305 ", 0, ErrUnknownSuite},
		{"Suite(1)", 0, ErrUnknownSuite},
	} {
		got, err := ParseSuite(c.in)
		if got != c.want || !errors.Is(err, c.err) || (c.err == nil) != (err == nil) {
			t.Errorf("ParseSuite(%q) = %v, %v; want %v, %v", c.in, got, err, c.want, c.err)
		}
		if err != nil && !strings.Contains(err.Error(), c.in) {
			t.Errorf("ParseSuite(%q) error %q does not name the input", c.in, err)
		}
	}
	for _, s := range allSuites {
		if got, err := ParseSuite(s.String()); got != s || err != nil {
			t.Errorf("ParseSuite(%v.String()) = %v, %v", s, got, err)
		}
	}
}

// TestSuitesPresent reports which suites and hardware paths this machine
// has (visible with -v) and fails loudly if any suite cannot be built.
func TestSuitesPresent(t *testing.T) {
	t.Logf("cpu: %s (%s/%s); cpuid AESNI=%v CLMUL=%v SSSE3=%v SSE4.1=%v VAES=%v VPCLMULQDQ=%v AESARM=%v PMULL=%v",
		cpuid.CPU.BrandName, runtime.GOOS, runtime.GOARCH,
		cpuid.CPU.Supports(cpuid.AESNI), cpuid.CPU.Supports(cpuid.CLMUL), cpuid.CPU.Supports(cpuid.SSSE3),
		cpuid.CPU.Supports(cpuid.SSE4), cpuid.CPU.Supports(cpuid.VAES), cpuid.CPU.Supports(cpuid.VPCLMULQDQ),
		cpuid.CPU.Supports(cpuid.AESARM), cpuid.CPU.Supports(cpuid.PMULL))
	t.Logf("hardwareAES=%v PreferredSuite=%v Available=%v GODEBUG=%q %s=%q",
		hardwareAES(), PreferredSuite(), Available(), os.Getenv("GODEBUG"), EnvSuite, os.Getenv(EnvSuite))
	avail := Available()
	if len(avail) != len(allSuites) {
		t.Fatalf("Available() = %v, want all of %v", avail, allSuites)
	}
	if avail[0] != preferredFor(hardwareAES()) {
		t.Errorf("Available()[0] = %v, want the hardware preference %v", avail[0], preferredFor(hardwareAES()))
	}
	for _, s := range avail {
		path := suitePath(s)
		if _, err := NewPacketAEAD(s, testSecret(0)); err != nil {
			t.Fatalf("suite %v cannot be constructed: %v", s, err)
		}
		t.Logf("suite %-16v ok (%s)", s, path)
	}
}

func TestHardwareAESPredicate(t *testing.T) {
	x86 := cpuFeatures{x86AES: true, x86CLMUL: true, x86SSSE3: true, x86SSE41: true}
	arm := cpuFeatures{armAES: true, armPMULL: true}
	for _, c := range []struct {
		name    string
		arch    string
		f       cpuFeatures
		godebug string
		want    bool
	}{
		{"x86 full", "amd64", x86, "", true},
		{"x86 386", "386", x86, "", true},
		{"x86 no AES", "amd64", cpuFeatures{x86CLMUL: true, x86SSSE3: true, x86SSE41: true}, "", false},
		{"x86 no CLMUL", "amd64", cpuFeatures{x86AES: true, x86SSSE3: true, x86SSE41: true}, "", false},
		{"x86 no SSE4.1", "amd64", cpuFeatures{x86AES: true, x86CLMUL: true, x86SSSE3: true}, "", false},
		{"x86 cpu.aes=off", "amd64", x86, "cpu.aes=off", false},
		{"x86 cpu.aes=off among others", "amd64", x86, "madvdontneed=1,cpu.aes=off,gctrace=0", false},
		{"x86 cpu.all=off", "amd64", x86, "cpu.all=off", false},
		{"x86 cpu.pclmulqdq=off", "amd64", x86, "cpu.pclmulqdq=off", false},
		{"x86 off then on", "amd64", x86, "cpu.aes=off,cpu.aes=on", true},
		{"x86 all off, aes on", "amd64", x86, "cpu.all=off,cpu.aes=on,cpu.pclmulqdq=on,cpu.ssse3=on,cpu.sse41=on", true},
		{"x86 other feature off", "amd64", x86, "cpu.avx2=off", true},
		{"x86 bad value ignored", "amd64", x86, "cpu.aes=no", true},
		{"x86 ARM flags only", "amd64", arm, "", false},
		{"arm64 full", "arm64", arm, "", true},
		{"arm64 no PMULL", "arm64", cpuFeatures{armAES: true}, "", false},
		{"arm64 cpu.aes=off", "arm64", arm, "cpu.aes=off", false},
		{"arm64 x86 flags only", "arm64", x86, "", false},
		{"riscv64", "riscv64", cpuFeatures{x86AES: true, x86CLMUL: true, armAES: true, armPMULL: true}, "", false},
	} {
		if got := hardwareAESWith(c.arch, c.f, c.godebug); got != c.want {
			t.Errorf("%s: hardwareAESWith = %v, want %v", c.name, got, c.want)
		}
		wantSuite := SuiteChaCha20Poly1305
		if c.want {
			wantSuite = SuiteAES256GCM
		}
		if got := preferredFor(hardwareAESWith(c.arch, c.f, c.godebug)); got != wantSuite {
			t.Errorf("%s: preferred %v, want %v", c.name, got, wantSuite)
		}
	}
}

// TestPreferredSuiteThisMachine pins the choice on the machines STT is
// tested on: with AES-NI and PCLMULQDQ (and no GODEBUG veto), AES-256-GCM.
func TestPreferredSuiteThisMachine(t *testing.T) {
	t.Setenv(EnvSuite, "")
	cpuHasAES := cpuid.CPU.Supports(cpuid.AESNI, cpuid.CLMUL, cpuid.SSSE3, cpuid.SSE4) ||
		cpuid.CPU.Supports(cpuid.AESARM, cpuid.PMULL)
	vetoed := godebugDisables(os.Getenv("GODEBUG"), "aes", "pclmulqdq", "pmull", "ssse3", "sse41")
	if got, want := hardwareAES(), cpuHasAES && !vetoed && (runtime.GOARCH == "amd64" || runtime.GOARCH == "arm64" || runtime.GOARCH == "386"); got != want {
		t.Fatalf("hardwareAES() = %v, want %v (cpuid AES path %v, GODEBUG veto %v)", got, want, cpuHasAES, vetoed)
	}
	want := SuiteChaCha20Poly1305
	if hardwareAES() {
		want = SuiteAES256GCM
	}
	if got := PreferredSuite(); got != want {
		t.Fatalf("PreferredSuite() = %v, want %v", got, want)
	}
	t.Logf("PreferredSuite() = %v on %s", PreferredSuite(), cpuid.CPU.BrandName)
}

// TestPreferredSuiteGODEBUG re-runs this test binary with GODEBUG=cpu.aes=off
// and checks in the child that AES is treated as absent.
func TestPreferredSuiteGODEBUG(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a subprocess")
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestPreferredSuiteChild$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), "GODEBUG=cpu.aes=off", EnvSuite+"=", "STC_TEST_CHILD=1")
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--- PASS: TestPreferredSuiteChild") {
		t.Fatalf("child with GODEBUG=cpu.aes=off failed: %v\n%s", err, out)
	}
}

// TestPreferredSuiteChild is the subprocess half of
// TestPreferredSuiteGODEBUG; on its own it only checks the environment.
func TestPreferredSuiteChild(t *testing.T) {
	if os.Getenv("STC_TEST_CHILD") != "1" {
		t.Skip("runs only as TestPreferredSuiteGODEBUG's subprocess")
	}
	if hardwareAES() {
		t.Fatalf("hardwareAES() = true under GODEBUG=%q", os.Getenv("GODEBUG"))
	}
	if got := PreferredSuite(); got != SuiteChaCha20Poly1305 {
		t.Fatalf("PreferredSuite() = %v under GODEBUG=cpu.aes=off, want chacha20poly1305", got)
	}
	if got := Available(); got[0] != SuiteChaCha20Poly1305 {
		t.Fatalf("Available() = %v, want ChaCha20-Poly1305 first", got)
	}
	// The portable AES-GCM path must still work.
	p := newTestPacketAEAD(t, SuiteAES256GCM, testSecret(9))
	if got, err := p.Open(p.Seal(packetBuf([]byte("h"), []byte("portable")), 1, 1), 1, 1); err != nil || string(got) != "portable" {
		t.Fatalf("portable AES-GCM round trip: %q %v", got, err)
	}
}

func TestSuiteFromEnv(t *testing.T) {
	hw := preferredFor(hardwareAES())
	for _, c := range []struct {
		env       string
		want      Suite
		ok        bool
		err       error
		preferred Suite
	}{
		{"", 0, false, nil, hw},
		{"chacha20poly1305", SuiteChaCha20Poly1305, true, nil, SuiteChaCha20Poly1305},
		{"aes128gcm", SuiteAES128GCM, true, nil, SuiteAES128GCM},
		{"AES256GCM", SuiteAES256GCM, true, nil, SuiteAES256GCM},
		{"rot13", 0, true, ErrUnknownSuite, hw},
	} {
		t.Setenv(EnvSuite, c.env)
		got, ok, err := SuiteFromEnv()
		if got != c.want || ok != c.ok || !errors.Is(err, c.err) || (err == nil) != (c.err == nil) {
			t.Errorf("STT_SUITE=%q: SuiteFromEnv() = %v, %v, %v; want %v, %v, %v", c.env, got, ok, err, c.want, c.ok, c.err)
		}
		if err != nil && !strings.Contains(err.Error(), EnvSuite) {
			t.Errorf("STT_SUITE=%q: error %q does not name the variable", c.env, err)
		}
		if p := PreferredSuite(); p != c.preferred {
			t.Errorf("STT_SUITE=%q: PreferredSuite() = %v, want %v", c.env, p, c.preferred)
		}
	}
}

// suitePath names the implementation Go will run for s on this machine.
func suitePath(s Suite) string {
	switch {
	case s == SuiteChaCha20Poly1305 && runtime.GOARCH == "amd64" && cpuid.CPU.Supports(cpuid.AVX2):
		return "x/crypto amd64 assembly, AVX2"
	case s == SuiteChaCha20Poly1305 && runtime.GOARCH == "amd64":
		return "x/crypto amd64 assembly, SSSE3"
	case s == SuiteChaCha20Poly1305:
		return "x/crypto, " + runtime.GOARCH
	case hardwareAES() && runtime.GOARCH == "arm64":
		return "ARMv8 AES + PMULL"
	case hardwareAES():
		return "AES-NI + PCLMULQDQ"
	}
	return "portable Go AES-GCM (slow, not constant-time)"
}
