package stc

import (
	"crypto/aes"
	"crypto/cipher"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"

	"github.com/klauspost/cpuid/v2"
	"golang.org/x/crypto/chacha20poly1305"
)

// Suite identifies an AEAD construction. Its numeric value is the code
// carried in the handshake's offered/chosen suite fields (docs/PROTOCOL.md),
// so existing values never change meaning. The zero Suite is invalid.
type Suite uint8

// The suites STT speaks. Every suite is constructible on every platform (Go
// ships portable code for all three); CPU features only decide which one is
// fast and constant-time, see [PreferredSuite].
const (
	// SuiteAES256GCM is AES-256 in GCM mode (NIST SP 800-38D), 32-byte key.
	SuiteAES256GCM Suite = 1
	// SuiteChaCha20Poly1305 is ChaCha20-Poly1305 (RFC 8439), 32-byte key.
	SuiteChaCha20Poly1305 Suite = 2
	// SuiteAES128GCM is AES-128 in GCM mode, 16-byte key.
	SuiteAES128GCM Suite = 3
)

// AEAD usage limits, counted in packets (each packet at most 2^16 bytes).
// The control plane must rotate a direction's key before the number of
// packets sealed under it reaches the suite's confidentiality limit, and
// before the number of failed opens reaches its integrity limit. Source:
// RFC 9001 §6.6 (QUIC-TLS), which derives them from the AEBounds analysis
// for an attacker advantage of 2^-57.
const (
	// aesgcmConfidentialityLimit is the packet count after which an AES-GCM
	// key must not seal more (RFC 9001 §6.6: 2^23 full-size packets).
	aesgcmConfidentialityLimit uint64 = 1 << 23
	// aesgcmIntegrityLimit is the number of forged packets an AES-GCM key
	// may be asked to open before it must be retired (RFC 9001 §6.6: 2^52).
	aesgcmIntegrityLimit uint64 = 1 << 52
	// chaChaConfidentialityLimit stands in for "no practical limit" (RFC 9001
	// §6.6: ChaCha20-Poly1305's confidentiality bound exceeds 2^62 packets,
	// the largest packet number QUIC can send).
	chaChaConfidentialityLimit uint64 = 1 << 62
	// chaChaIntegrityLimit is the number of forged packets a
	// ChaCha20-Poly1305 key may be asked to open (RFC 9001 §6.6: 2^36).
	chaChaIntegrityLimit uint64 = 1 << 36
)

// ErrUnknownSuite is returned (wrapped, naming the input) by [ParseSuite]
// and [SuiteFromEnv] for a name or code that is not one of STT's suites.
// Callers should report it as a configuration error.
var ErrUnknownSuite = errors.New("stc: unknown AEAD suite")

// EnvSuite names the environment variable that overrides suite choice; see
// [SuiteFromEnv].
const EnvSuite = "STT_SUITE"

// String returns the suite's canonical name as accepted by [ParseSuite],
// or "Suite(N)" for an invalid value.
func (s Suite) String() string {
	switch s {
	case SuiteAES256GCM:
		return "aes256gcm"
	case SuiteChaCha20Poly1305:
		return "chacha20poly1305"
	case SuiteAES128GCM:
		return "aes128gcm"
	}
	return "Suite(" + strconv.Itoa(int(s)) + ")"
}

// Valid reports whether s is one of the defined suites.
func (s Suite) Valid() bool {
	return s == SuiteAES256GCM || s == SuiteChaCha20Poly1305 || s == SuiteAES128GCM
}

// KeyLen returns the AEAD key length in bytes, or 0 for an invalid suite.
func (s Suite) KeyLen() int {
	switch s {
	case SuiteAES256GCM, SuiteChaCha20Poly1305:
		return 32
	case SuiteAES128GCM:
		return 16
	}
	return 0
}

// ConfidentialityLimit returns how many packets one key of this suite may
// seal (RFC 9001 §6.6), or 0 for an invalid suite.
func (s Suite) ConfidentialityLimit() uint64 {
	switch s {
	case SuiteAES256GCM, SuiteAES128GCM:
		return aesgcmConfidentialityLimit
	case SuiteChaCha20Poly1305:
		return chaChaConfidentialityLimit
	}
	return 0
}

// IntegrityLimit returns how many failed opens one key of this suite may
// absorb before it must be retired (RFC 9001 §6.6), or 0 for an invalid
// suite.
func (s Suite) IntegrityLimit() uint64 {
	switch s {
	case SuiteAES256GCM, SuiteAES128GCM:
		return aesgcmIntegrityLimit
	case SuiteChaCha20Poly1305:
		return chaChaIntegrityLimit
	}
	return 0
}

// ParseSuite returns the suite named by name: "aes256gcm",
// "chacha20poly1305" or "aes128gcm", compared case-insensitively. Any
// other name returns an error wrapping [ErrUnknownSuite].
func ParseSuite(name string) (Suite, error) {
	for _, s := range allSuites {
		if strings.EqualFold(name, s.String()) {
			return s, nil
		}
	}
	return 0, fmt.Errorf("%w %q (want aes256gcm, chacha20poly1305 or aes128gcm)", ErrUnknownSuite, name)
}

// allSuites lists the defined suites in code order.
var allSuites = [...]Suite{SuiteAES256GCM, SuiteChaCha20Poly1305, SuiteAES128GCM}

// newAEAD builds the raw AEAD for s from key, which must be s.KeyLen()
// bytes. The returned AEAD copies the key; the caller may wipe it.
func newAEAD(s Suite, key []byte) (cipher.AEAD, error) {
	if !s.Valid() || len(key) != s.KeyLen() {
		return nil, invalidSuite(s)
	}
	if s == SuiteChaCha20Poly1305 {
		return chacha20poly1305.New(key)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// invalidSuite is the error for constructing an AEAD of an undefined suite.
func invalidSuite(s Suite) error {
	return fmt.Errorf("%w: code %d", ErrUnknownSuite, uint8(s))
}

// SuiteFromEnv reads the STT_SUITE environment variable. It returns
// (0, false, nil) when the variable is unset or empty, (suite, true, nil)
// when it names a suite, and (0, true, err) with err wrapping
// [ErrUnknownSuite] when it is set to anything else. stt.NewNode calls it
// and refuses to start on an error, so that a typo in an operator's
// override is reported instead of silently ignored.
func SuiteFromEnv() (Suite, bool, error) {
	v := os.Getenv(EnvSuite)
	if v == "" {
		return 0, false, nil
	}
	s, err := ParseSuite(v)
	if err != nil {
		return 0, true, fmt.Errorf("stc: %s: %w", EnvSuite, err)
	}
	return s, true, nil
}

// PreferredSuite returns the suite this process should offer first: the
// valid STT_SUITE override if one is set (an invalid one is ignored here;
// see [SuiteFromEnv] to surface it), else AES-256-GCM when hardwareAES
// reports an AES-GCM hardware path, else ChaCha20-Poly1305, which is fast
// and constant-time in portable code. Safe for concurrent use; it reads the
// environment on every call.
func PreferredSuite() Suite {
	if s, ok, err := SuiteFromEnv(); ok && err == nil {
		return s
	}
	return preferredFor(hardwareAES())
}

// preferredFor is the suite choice given whether hardware AES-GCM exists.
func preferredFor(hwAES bool) Suite {
	if hwAES {
		return SuiteAES256GCM
	}
	return SuiteChaCha20Poly1305
}

// Available returns every suite this build can construct, most preferred
// first for this CPU (ignoring STT_SUITE). All three are always present:
// without hardware AES the AES-GCM suites still work, through Go's slower
// portable code, so that peers that insist on them can still connect. The
// slice is freshly allocated; the caller owns it.
func Available() []Suite {
	if hardwareAES() {
		return []Suite{SuiteAES256GCM, SuiteAES128GCM, SuiteChaCha20Poly1305}
	}
	return []Suite{SuiteChaCha20Poly1305, SuiteAES256GCM, SuiteAES128GCM}
}

// hardwareAES reports whether AES-GCM runs on dedicated instructions here:
// AES-NI + PCLMULQDQ (+ SSSE3 and SSE4.1, which Go's assembly also needs)
// on x86, AES + PMULL on ARM64, as detected by cpuid, and not disabled by
// GODEBUG=cpu.aes=off (or cpu.all=off, or the other features turned off),
// which makes Go's crypto fall back to portable code. Other architectures
// report false. The answer is computed once per process, as GODEBUG's CPU
// options are read only at start-up.
func hardwareAES() bool { return hardwareAESOnce() }

var hardwareAESOnce = sync.OnceValue(func() bool {
	return hardwareAESWith(runtime.GOARCH, detectFeatures(), os.Getenv("GODEBUG"))
})

// cpuFeatures is the subset of CPU flags the suite choice depends on,
// separated from detection so the predicate is testable with injected
// values.
type cpuFeatures struct {
	x86AES, x86CLMUL, x86SSSE3, x86SSE41 bool
	armAES, armPMULL                     bool
}

// detectFeatures reads this CPU's flags through cpuid.
func detectFeatures() cpuFeatures {
	c := &cpuid.CPU
	return cpuFeatures{
		x86AES:   c.Supports(cpuid.AESNI),
		x86CLMUL: c.Supports(cpuid.CLMUL),
		x86SSSE3: c.Supports(cpuid.SSSE3),
		x86SSE41: c.Supports(cpuid.SSE4),
		armAES:   c.Supports(cpuid.AESARM),
		armPMULL: c.Supports(cpuid.PMULL),
	}
}

// hardwareAESWith is the predicate behind hardwareAES, mirroring Go's own
// dispatch (crypto/internal/fips140/aes/gcm supportsAESGCM).
func hardwareAESWith(goarch string, f cpuFeatures, godebug string) bool {
	switch goarch {
	case "amd64", "386":
		return f.x86AES && f.x86CLMUL && f.x86SSSE3 && f.x86SSE41 &&
			!godebugDisables(godebug, "aes", "pclmulqdq", "ssse3", "sse41")
	case "arm64":
		return f.armAES && f.armPMULL && !godebugDisables(godebug, "aes", "pmull")
	}
	return false
}

// godebugDisables reports whether the GODEBUG value turns off any of the
// named CPU features, following internal/cpu's rules: comma-separated
// cpu.<name>=on|off fields, cpu.all applies to every feature, later fields
// override earlier ones, anything else is ignored.
func godebugDisables(godebug string, names ...string) bool {
	for _, name := range names {
		enabled := true
		for field := range strings.SplitSeq(godebug, ",") {
			key, value, ok := strings.Cut(field, "=")
			if !ok || (value != "on" && value != "off") {
				continue
			}
			if key == "cpu.all" || key == "cpu."+name {
				enabled = value == "on"
			}
		}
		if !enabled {
			return true
		}
	}
	return false
}
