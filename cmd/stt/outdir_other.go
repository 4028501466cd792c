//go:build !unix

package main

// lockOutDir cannot lock directories on this system: partial files are
// reported, never swept (see outdir.go).
func lockOutDir(string) *outDirLock { return &outDirLock{} }

func (*outDirLock) downgrade() {}
