package main

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

// buildVersion, when set at link time (go build -ldflags "-X
// main.buildVersion=v1.2.3"), is the version --version prints; packagers
// use it when the binary is built outside a module or a VCS checkout.
var buildVersion string

// versionLine is what `stt --version` prints: the module version (a tag,
// a pseudo-version, or "(devel)" for a build from a checkout), then the VCS
// revision and time the go command stamped into the binary, "+dirty" for
// uncommitted changes, and the toolchain and platform. Without build
// information (a binary built with -buildvcs=false outside a module) it
// says "unknown version" rather than guessing.
func versionLine() string {
	bi, ok := debug.ReadBuildInfo()
	return formatVersion(bi, ok)
}

// formatVersion builds versionLine's text from build information.
func formatVersion(bi *debug.BuildInfo, ok bool) string {
	platform := fmt.Sprintf("%s %s/%s", runtime.Version(), runtime.GOOS, runtime.GOARCH)
	v := buildVersion
	var rev, when, dirty string
	if ok && bi != nil {
		if v == "" {
			v = bi.Main.Version
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.time":
				when = s.Value
			case "vcs.modified":
				if s.Value == "true" {
					dirty = "+dirty"
				}
			}
		}
	}
	if v == "" {
		v = "unknown version"
	}
	line := "stt " + v
	if rev != "" {
		line += fmt.Sprintf(" (commit %.12s%s", rev, dirty)
		if when != "" {
			line += " " + when
		}
		line += ")"
	}
	return line + " " + platform
}
