package main

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLoadSeedFile(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, b []byte, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil { // umask-proof
			t.Fatal(err)
		}
		return p
	}
	seed := bytes.Repeat([]byte{7}, seedLen)
	tests := []struct {
		name    string
		path    string
		wantErr string // substring; "" means success
	}{
		{"ok", write("ok", seed, 0o600), ""},
		{"owner read-only", write("ro", seed, 0o400), ""},
		{"longer seed", write("long", bytes.Repeat([]byte{1}, 64), 0o600), ""},
		{"missing", filepath.Join(dir, "nope"), "does not exist"},
		{"short", write("short", seed[:31], 0o600), "holds 31 bytes"},
		{"empty", write("empty", nil, 0o600), "holds 0 bytes"},
		{"world readable", write("world", seed, 0o644), "readable by group or others"},
		{"group readable", write("group", seed, 0o640), "readable by group or others"},
		{"too large", write("big", make([]byte, maxSeedFile+1), 0o600), "larger than"},
		{"directory", dir, "not a regular file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := loadSeed("node-seed", tt.path, "STT_TEST_UNSET_SEED", nil)
			if tt.wantErr == "" {
				if err != nil || len(got) < seedLen {
					t.Fatalf("loadSeed = %d bytes, %v", len(got), err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("loadSeed error = %v, want it to mention %q", err, tt.wantErr)
			}
			if strings.Contains(err.Error(), "\n") || !strings.Contains(err.Error(), "--node-seed") {
				t.Errorf("error %q should be one line naming the flag", err)
			}
		})
	}
}

func TestLoadSeedEnv(t *testing.T) {
	seed := make([]byte, seedLen)
	rand.Read(seed)
	tests := []struct {
		name    string
		val     string
		wantErr string
	}{
		{"hex", hex.EncodeToString(seed), ""},
		{"hex with newline", hex.EncodeToString(seed) + "\n", ""},
		{"short", hex.EncodeToString(seed[:16]), "at least 32"},
		{"not hex", "zz" + hex.EncodeToString(seed), "not valid hex"},
		{"unset", "", "seed not given"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv(envSharedSeed, tt.val)
			got, err := loadSeed("shared-seed", "", envSharedSeed, nil)
			if tt.wantErr == "" {
				if err != nil || !bytes.Equal(got, seed) {
					t.Fatalf("loadSeed = %x, %v; want %x", got, err, seed)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error = %v, want %q", err, tt.wantErr)
			}
		})
	}
	t.Setenv(envSharedSeed, "")
	_, err := loadSeed("shared-seed", "", envSharedSeed, nil)
	var ue *usageError
	if !errors.As(err, &ue) || !errors.Is(err, errSeedMissing) {
		t.Errorf("missing seed: %v, want a usage error wrapping errSeedMissing", err)
	}
}

func TestWriteSeedFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "node.seed")
	if err := writeSeedFile(p, false, rand.Reader); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 || fi.Size() != seedLen {
		t.Fatalf("seed file mode %v size %d, want 0600 and %d", fi.Mode().Perm(), fi.Size(), seedLen)
	}
	first, _ := os.ReadFile(p)
	if err := writeSeedFile(p, false, rand.Reader); err == nil || !strings.Contains(err.Error(), "--force") {
		t.Fatalf("overwrite without --force: %v", err)
	}
	if again, _ := os.ReadFile(p); !bytes.Equal(again, first) {
		t.Fatal("refused overwrite changed the file")
	}
	if err := writeSeedFile(p, true, rand.Reader); err != nil {
		t.Fatal(err)
	}
	second, _ := os.ReadFile(p)
	fi, _ = os.Stat(p)
	if bytes.Equal(second, first) || fi.Mode().Perm() != 0o600 {
		t.Fatal("--force did not replace the seed with a fresh 0600 one")
	}
	if _, err := loadSeed("node-seed", p, "", nil); err != nil {
		t.Fatalf("keygen output does not load: %v", err)
	}
	// A failing random source leaves nothing behind.
	q := filepath.Join(dir, "bad.seed")
	if err := writeSeedFile(q, false, bytes.NewReader(nil)); err == nil {
		t.Fatal("writeSeedFile succeeded without random bytes")
	}
	if _, err := os.Stat(q); !os.IsNotExist(err) {
		t.Fatalf("failed keygen left %s behind", q)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Fatalf("directory holds %d entries, want only the seed", len(entries))
	}
}

func TestWeakSeed(t *testing.T) {
	counter := make([]byte, 32)
	for i := range counter {
		counter[i] = byte(i)
	}
	random := make([]byte, 32)
	rand.Read(random)
	tests := []struct {
		name string
		seed []byte
		want string // "" means not weak
	}{
		{"all zero", make([]byte, 32), "all its bytes are zero"},
		{"one byte repeated", bytes.Repeat([]byte{0x41}, 32), "one byte (0x41) repeated"},
		{"short pattern", bytes.Repeat([]byte("abcd"), 8), "only 4 distinct byte values"},
		{"few letters", []byte("aaaabbbbccccddddeeeeffffgggghhhh"), "only 8 distinct byte values"},
		{"eleven letters", []byte("abcdefghijkabcdefghijkabcdefghij"), "only 11 distinct byte values"},
		{"counter", counter, "only 1 distinct steps"},
		{"hex text of a seed", []byte(hex.EncodeToString(random)), ""},
		{"random", random, ""},
		{"random 64 bytes", append(append([]byte(nil), random...), random...), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := weakSeed(tt.seed)
			if (got == "") != (tt.want == "") || !strings.Contains(got, tt.want) {
				t.Errorf("weakSeed = %q, want %q", got, tt.want)
			}
		})
	}
	// The estimate's false-positive rate on random seeds is below 10^-23,
	// and on their hex text below 10^-6: a few thousand draws must pass.
	for range 5000 {
		rand.Read(random)
		if why := weakSeed(random); why != "" {
			t.Fatalf("random seed %x called weak: %s", random, why)
		}
		if why := weakSeed([]byte(hex.EncodeToString(random))); why != "" {
			t.Fatalf("hex text of random seed %x called weak: %s", random, why)
		}
	}
}

// TestWeakSeedWarnedOnLoad: a weak seed still loads (refusing it would
// stop a working deployment) but says so, naming the file and the fix.
func TestWeakSeedWarnedOnLoad(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "zero.seed")
	if err := os.WriteFile(p, make([]byte, 32), 0o600); err != nil {
		t.Fatal(err)
	}
	var w bytes.Buffer
	if _, err := loadSeed("shared-seed", p, "", &w); err != nil {
		t.Fatal(err)
	}
	want := "stt: warning: --shared-seed: the seed in " + p + " looks weak: all its bytes are zero; create a new one with 'stt keygen -o " + p + " --force'\n"
	if w.String() != want {
		t.Errorf("warning %q, want %q", w.String(), want)
	}
	w.Reset()
	t.Setenv(envNodeSeed, strings.Repeat("00", 32))
	if _, err := loadSeed("node-seed", "", envNodeSeed, &w); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(w.String(), "the seed in $"+envNodeSeed+" looks weak: all its bytes are zero") {
		t.Errorf("env warning %q", w.String())
	}
	w.Reset()
	rp := filepath.Join(dir, "good.seed")
	if err := writeSeedFile(rp, false, rand.Reader); err != nil {
		t.Fatal(err)
	}
	if _, err := loadSeed("node-seed", rp, "", &w); err != nil || w.Len() != 0 {
		t.Errorf("a keygen seed: %v, warning %q", err, w.String())
	}
}

// TestKeygenRefusesWeak: a random source that returns a weak seed (a
// broken generator) makes keygen fail and write nothing.
func TestKeygenRefusesWeak(t *testing.T) {
	dir := t.TempDir()
	for _, src := range [][]byte{make([]byte, 32), bytes.Repeat([]byte{0xff}, 32)} {
		for _, force := range []bool{false, true} {
			p := filepath.Join(dir, "k.seed")
			err := writeSeedFile(p, force, bytes.NewReader(src))
			if err == nil || !strings.Contains(err.Error(), "weak seed") {
				t.Fatalf("writeSeedFile(%x, force %v) = %v, want a weak-seed refusal", src[:4], force, err)
			}
			if entries, _ := os.ReadDir(dir); len(entries) != 0 {
				t.Fatalf("refused keygen left %d entries", len(entries))
			}
		}
	}
}
