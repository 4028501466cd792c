package wire

import (
	"os/exec"
	"regexp"
	"testing"
)

// TestInlining checks that the leaf helpers the fast path calls per packet
// or per frame stay within the compiler's inlining budget (STYLE rule 27).
// Adding a branch to one of them can silently push it over; this catches it.
func TestInlining(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the compiler")
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("go tool not found: %v", err)
	}
	out, err := exec.Command(goBin, "build", "-gcflags=-m", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build -gcflags=-m: %v\n%s", err, out)
	}
	want := []string{
		"VarintLen",
		"PeekKind",
		"PeekSessionID",
		"DataFrameOverhead", // packetizer, once per frame
		"Header.Len",        // sizes the headroom
		"FrameType.IsCustom",
	}
	got := map[string]bool{}
	re := regexp.MustCompile(`can inline \(?\*?([A-Za-z0-9_]+)\)?\.?([A-Za-z0-9_]*)`)
	for _, m := range re.FindAllStringSubmatch(string(out), -1) {
		name := m[1]
		if m[2] != "" {
			name += "." + m[2]
		}
		got[name] = true
	}
	for _, fn := range want {
		if !got[fn] {
			t.Errorf("%s is no longer inlinable", fn)
		}
	}
}
