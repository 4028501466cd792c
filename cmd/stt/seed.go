package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

const (
	// seedLen is the size of a seed keygen writes: the root package's
	// minimum (stt.MinSeedLen), 256 bits.
	seedLen = 32
	// maxSeedFile bounds how much of a seed file is read: a seed is a few
	// dozen bytes, so anything larger is the wrong file.
	maxSeedFile = 4096
	// seedFileMode is the mode keygen creates seed files with.
	seedFileMode = 0o600
	// envNodeSeed and envSharedSeed name the environment variables that may
	// hold the seeds as hex when no file flag is given.
	envNodeSeed   = "STT_NODE_SEED"
	envSharedSeed = "STT_SHARED_SEED"
)

// errSeedMissing reports that neither the flag nor the environment variable
// provides a seed.
var errSeedMissing = errors.New("seed not given")

// loadSeed returns the seed from the file path when set, else from the hex
// environment variable env. Files must be regular, at most maxSeedFile
// bytes, at least seedLen bytes and not readable by group or others.
// Errors name the flag, the file and the fix, on one line.
//
// A seed that looks weak (weakSeed) is used, with a warning on warn (nil:
// none): refusing it would stop a deployment that works.
func loadSeed(flagName, path, env string, warn io.Writer) ([]byte, error) {
	b, err := loadSeedBytes(flagName, path, env)
	if err != nil {
		return nil, err
	}
	if path == "" {
		warnWeak(warn, "the seed in $"+env, "create a new one with 'stt keygen'", b)
	} else {
		warnWeak(warn, "--"+flagName+": the seed in "+path, "create a new one with 'stt keygen -o "+path+" --force'", b)
	}
	return b, nil
}

func loadSeedBytes(flagName, path, env string) ([]byte, error) {
	if path == "" {
		v := strings.TrimSpace(os.Getenv(env))
		if v == "" {
			return nil, usagef("%w: set --%s FILE or the %s environment variable (hex)", errSeedMissing, flagName, env)
		}
		b, err := hex.DecodeString(v)
		if err != nil {
			return nil, fmt.Errorf("%s is not valid hex: %v", env, err)
		}
		if len(b) < seedLen {
			return nil, fmt.Errorf("%s holds %d bytes, a seed needs at least %d (64 hex digits); create one with 'stt keygen'", env, len(b), seedLen)
		}
		return b, nil
	}
	return readSeedFile(flagName, path)
}

func readSeedFile(flagName, path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("--%s: seed file %s does not exist; create one with 'stt keygen -o %s'", flagName, path, path)
		}
		return nil, fmt.Errorf("--%s: cannot read seed file: %v", flagName, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("--%s: cannot stat seed file: %v", flagName, err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("--%s: seed file %s is not a regular file", flagName, path)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("--%s: seed file %s is readable by group or others (mode %04o); run 'chmod 600 %s'", flagName, path, perm, path)
	}
	b, err := io.ReadAll(io.LimitReader(f, maxSeedFile+1))
	if err != nil {
		return nil, fmt.Errorf("--%s: cannot read seed file: %v", flagName, err)
	}
	if len(b) > maxSeedFile {
		return nil, fmt.Errorf("--%s: seed file %s is larger than %d bytes; is it the right file?", flagName, path, maxSeedFile)
	}
	if len(b) < seedLen {
		return nil, fmt.Errorf("--%s: seed file %s holds %d bytes, a seed needs at least %d; create one with 'stt keygen'", flagName, path, len(b), seedLen)
	}
	return b, nil
}

// minSeedVariety is the weak-seed estimate's threshold: a seed with fewer
// distinct byte values, or fewer distinct steps between consecutive bytes,
// is weak (see weakSeed). Not 16: a seed written as 64 hex digits (256
// bits) lacks one of the 16 digits a quarter of the time.
const minSeedVariety = 12

// weakSeed says why seed looks weak, or returns "" when the estimate finds
// nothing. The estimate is deliberately simple: it catches the mistakes
// that happen — a zeroed buffer, one repeated byte, a short pattern
// repeated, a counter (0, 1, 2, …), ASCII text of few characters — not a
// seed that is merely guessable. A seed is weak when all its bytes are
// equal, when it holds fewer than minSeedVariety distinct byte values, or
// when the differences between consecutive bytes (mod 256) take fewer than
// minSeedVariety distinct values. 32 bytes from a uniform random source
// trip it with probability below 10^-23 (6.4e-26 for the values, 1.4e-24
// for the 31 steps): a random seed has about 30 of each. The 64-digit hex
// text of a random seed passes too (it lacks 5 of the 16 digits with
// probability 1.6e-7; none of 300 000 samples had fewer than 12 steps).
func weakSeed(seed []byte) string {
	if len(seed) == 0 {
		return "empty"
	}
	var values, steps [256]bool
	nv, ns := 0, 0
	for i, c := range seed {
		if !values[c] {
			values[c] = true
			nv++
		}
		if i > 0 {
			if d := c - seed[i-1]; !steps[d] {
				steps[d] = true
				ns++
			}
		}
	}
	switch {
	case nv == 1 && seed[0] == 0:
		return "all its bytes are zero"
	case nv == 1:
		return fmt.Sprintf("it is one byte (%#02x) repeated", seed[0])
	case nv < minSeedVariety:
		return fmt.Sprintf("it has only %d distinct byte values (a random seed has about 30)", nv)
	case ns < minSeedVariety:
		return fmt.Sprintf("its bytes follow a pattern (only %d distinct steps between consecutive bytes; a random seed has about 30)", ns)
	}
	return ""
}

// warnWeak prints a warning on w when seed looks weak; where names its
// origin ("--node-seed: the seed file x", "$STT_NODE_SEED").
func warnWeak(w io.Writer, where, fix string, seed []byte) {
	if w == nil {
		return
	}
	if why := weakSeed(seed); why != "" {
		fmt.Fprintf(w, "stt: warning: %s looks weak: %s; %s\n", where, why, fix)
	}
}

// writeSeedFile writes a fresh random seed to path with mode 0600. Without
// force it refuses an existing path; with force it replaces it atomically
// (temporary file in the same directory, then rename).
func writeSeedFile(path string, force bool, random io.Reader) error {
	seed := make([]byte, seedLen)
	if _, err := io.ReadFull(random, seed); err != nil {
		return fmt.Errorf("read random bytes: %v", err)
	}
	defer clear(seed)
	if why := weakSeed(seed); why != "" {
		return fmt.Errorf("the random source returned a weak seed (%s); nothing written: the system's random number generator is broken", why)
	}
	if !force {
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, seedFileMode)
		if err != nil {
			if errors.Is(err, fs.ErrExist) {
				return fmt.Errorf("%s already exists; use --force to replace it", path)
			}
			return err
		}
		if _, err := f.Write(seed); err != nil {
			f.Close()
			os.Remove(path)
			return err
		}
		if err := f.Sync(); err != nil {
			f.Close()
			os.Remove(path)
			return err
		}
		return f.Close()
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".stt-seed-*")
	if err != nil {
		return err
	}
	ok := false
	defer func() {
		if !ok {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if err := tmp.Chmod(seedFileMode); err != nil {
		return err
	}
	if _, err := tmp.Write(seed); err != nil {
		return err
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	ok = true
	return nil
}

func runKeygen(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("keygen", "keygen -o FILE [--force]", stderr)
	out := fs.String("o", "", "write the seed to `FILE` (mode 0600)")
	force := fs.Bool("force", false, "replace FILE if it exists")
	if err := fs.parse(args); err != nil {
		return err
	}
	if *out == "" {
		return usagef("-o FILE is required")
	}
	if fs.NArg() > 0 {
		return usagef("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	if err := writeSeedFile(*out, *force, rand.Reader); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote a %d-byte seed to %s (mode 0600)\n", seedLen, *out)
	return nil
}
