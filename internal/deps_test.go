// Package internal_test holds repository-wide checks: the dependency
// direction between STT's layers and the package-doc rule.
package internal_test

import (
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
)

type goPackage struct {
	ImportPath string
	Imports    []string
	Deps       []string
	Doc        string
	GoFiles    []string
}

// listPackages runs `go list -json ./...` from the module root.
func listPackages(t *testing.T) []goPackage {
	t.Helper()
	cmd := exec.Command("go", "list", "-json", "./...")
	cmd.Dir = ".."
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	var pkgs []goPackage
	for dec.More() {
		var p goPackage
		if err := dec.Decode(&p); err != nil {
			t.Fatalf("decode go list output: %v", err)
		}
		pkgs = append(pkgs, p)
	}
	return pkgs
}

const mod = "github.com/stt-go/stt"

// allowed lists, per package, the non-standard-library imports it may use,
// with the reason. Standard-library imports are always allowed. Packages not
// listed may import anything in the module (the root API, cmd, tests).
var allowed = map[string]struct {
	prefixes []string
	why      string
}{
	mod + "/internal/monotime":            {nil, "leaf clock type; std only"},
	mod + "/internal/netem":               {[]string{mod + "/batch", mod + "/internal/monotime", "golang.org/x/sys/"}, "path emulator (test infrastructure): batched sockets from batch, nanosleep from x/sys"},
	mod + "/wire":                         {nil, "pure codecs: std only so it can be fuzzed and reused anywhere"},
	mod + "/ring":                         {nil, "memory substrate: std only"},
	mod + "/stc":                          {[]string{"golang.org/x/crypto/", "github.com/klauspost/cpuid/v2"}, "crypto core: ChaCha20-Poly1305 from x/crypto, suite dispatch from cpuid"},
	mod + "/batch":                        {[]string{"golang.org/x/sys/", mod + "/wire", mod + "/ring"}, "syscalls via x/sys; header offsets from wire"},
	mod + "/internal/batchtest":           {[]string{mod + "/batch"}, "test double of batch.Conn"},
	mod + "/dataplane/internal/recovery":  {[]string{mod + "/internal/monotime", mod + "/wire"}, "pure loss/congestion state, time as an argument"},
	mod + "/dataplane/internal/streambuf": {[]string{mod + "/internal/monotime"}, "pure stream buffers, time as an argument"},
	mod + "/control":                      {[]string{"golang.org/x/crypto/", mod + "/wire", mod + "/stc", mod + "/internal/monotime"}, "handshake on std crypto plus x/crypto's ChaCha20-Poly1305"},
	mod + "/streaming":                    {[]string{mod + "/stc"}, "agnostic encoder/decoder on stream contexts"},
	mod + "/storage":                      {[]string{mod + "/stc"}, "content-addressed store: hashing and sealing from stc"},
	mod + "/endpoint":                     {nil, "router: std only"},
	mod + "/event":                        {nil, "emitter: std only"},
	mod + "/transport/ws":                 {[]string{"github.com/panjf2000/gnet/v2"}, "WebSocket fallback: gnet event loop for the TCP side; STT packets pass through opaque"},

	// Storage backends and their test support (issue 13).
	mod + "/storage/storagetest": {[]string{mod + "/stc", mod + "/storage"}, "test support: the Backend conformance suite"},
	mod + "/storage/s3store":     {[]string{"github.com/minio/minio-go/v7", mod + "/storage"}, "S3 backend: the S3 protocol from minio-go, kept out of storage's and the root's graphs"},
	mod + "/internal/s3test":     {nil, "test support: builds and runs Versity Gateway; std only"},
}

// fastPath packages must never depend on the control plane (Invariant 4).
var fastPath = []string{"/wire", "/ring", "/stc", "/batch", "/dataplane"}

func isStd(path string) bool {
	first, _, _ := strings.Cut(path, "/")
	return !strings.Contains(first, ".")
}

func TestDependencyDirection(t *testing.T) {
	for _, p := range listPackages(t) {
		rule, ok := allowed[p.ImportPath]
		if ok {
			for _, imp := range p.Imports {
				if isStd(imp) || hasPrefix(imp, rule.prefixes) {
					continue
				}
				t.Errorf("%s imports %s; allowed: std + %v (%s)", p.ImportPath, imp, rule.prefixes, rule.why)
			}
		}
		if !strings.HasPrefix(p.ImportPath, mod+"/cmd/") {
			for _, d := range p.Deps {
				if strings.HasPrefix(d, "github.com/prometheus/") {
					t.Errorf("library package %s depends on %s: metrics adapters live under cmd/ only (issue 6)", p.ImportPath, d)
				}
			}
		}
		if !strings.HasPrefix(p.ImportPath+"/", mod+"/storage/s3store/") && !strings.HasPrefix(p.ImportPath, mod+"/cmd/") {
			for _, d := range p.Deps {
				if strings.HasPrefix(d, "github.com/minio/") {
					t.Errorf("package %s depends on %s: the S3 client lives in storage/s3store only, imported by cmd/ (issue 13)", p.ImportPath, d)
				}
			}
		}
		for _, fp := range fastPath {
			if !strings.HasPrefix(p.ImportPath, mod+fp) {
				continue
			}
			for _, d := range p.Deps {
				if d == mod+"/control" || strings.HasPrefix(d, mod+"/control/") {
					t.Errorf("fast-path package %s depends on %s (Invariant 4: the fast path never blocks on the slow path)", p.ImportPath, d)
				}
			}
		}
	}
}

func hasPrefix(s string, prefixes []string) bool {
	for _, p := range prefixes {
		if s == strings.TrimSuffix(p, "/") || strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}
