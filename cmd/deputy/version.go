package main

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
	"strings"
)

// buildVersion and buildRevision, when set at link time (go build -ldflags
// "-X main.buildVersion=v1.2.3 -X main.buildRevision=<commit>", as the
// Dockerfile does from its VERSION and REVISION arguments), stand in for
// what the toolchain could not stamp: a binary built from a checkout has
// module version "(devel)", and one built without its .git directory (a
// Docker build context) or in workspace mode without -buildvcs=true has
// no VCS information.
var buildVersion, buildRevision string

// versionInfo is what "deputy version" reports.
type versionInfo struct {
	Module    string // module path of the main package
	Version   string // module version: "(devel)" for a checkout build
	Revision  string // VCS revision; empty when not stamped
	Time      string // commit time (RFC 3339); empty when not stamped
	Modified  string // "true" when built from a tree with uncommitted changes
	GoVersion string // toolchain that built the binary
	Platform  string // GOOS/GOARCH
}

// readVersion reads the build information the Go toolchain embeds in the
// binary.
func readVersion() versionInfo {
	v := versionInfo{
		Module:    "github.com/deputyauth/deputy/cmd/deputy",
		Version:   "(unknown)",
		GoVersion: runtime.Version(),
		Platform:  runtime.GOOS + "/" + runtime.GOARCH,
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		if bi.Main.Path != "" {
			v.Module = bi.Main.Path
		}
		if bi.Main.Version != "" {
			v.Version = bi.Main.Version
		}
		if bi.GoVersion != "" {
			v.GoVersion = bi.GoVersion
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				v.Revision = s.Value
			case "vcs.time":
				v.Time = s.Value
			case "vcs.modified":
				v.Modified = s.Value
			}
		}
	}
	if buildVersion != "" && (v.Version == "(devel)" || v.Version == "(unknown)") {
		v.Version = buildVersion
	}
	if buildRevision != "" && v.Revision == "" {
		v.Revision = buildRevision
	}
	return v
}

// short is the version on one line, for the startup log.
func (v versionInfo) short() string {
	s := v.Version
	if v.Revision != "" {
		s += " " + v.Revision[:min(len(v.Revision), 12)]
		if v.Modified == "true" {
			s += "+modified"
		}
	}
	return s
}

// write prints v as "key: value" lines; absent VCS fields are left out.
func (v versionInfo) write(w io.Writer) {
	var b strings.Builder
	fmt.Fprintf(&b, "deputy %s\n", v.Version)
	fmt.Fprintf(&b, "module:   %s\n", v.Module)
	if v.Revision != "" {
		fmt.Fprintf(&b, "revision: %s\n", v.Revision)
	}
	if v.Time != "" {
		fmt.Fprintf(&b, "time:     %s\n", v.Time)
	}
	if v.Modified != "" {
		fmt.Fprintf(&b, "modified: %s\n", v.Modified)
	}
	fmt.Fprintf(&b, "go:       %s %s\n", v.GoVersion, v.Platform)
	io.WriteString(w, b.String())
}

// runVersion implements "deputy version" and "deputy --version".
func runVersion(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		fmt.Fprintf(stderr, "deputy version: unexpected argument %q\n", args[0])
		return exitUsage
	}
	readVersion().write(stdout)
	return exitOK
}
