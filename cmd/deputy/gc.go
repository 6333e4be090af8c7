package main

import (
	"errors"
	"flag"
	"runtime/debug"
	"strconv"
)

// defaultGCPercent is deputy serve's garbage collection target when
// neither GOGC nor --gc-percent gives one. The host's live heap is small
// (a few MB: the config, keys, caches) while each exchange allocates about
// 20 KB that dies with the request, so Go's default of 100 collects every
// few hundred requests; at 400 the collector runs a quarter as often, for
// a heap peak of about five times the live heap instead of twice. Under
// load this lifted HostVsBare's ratio from about 0.49 to 0.55 (README,
// "Performance"). Containers with a tight memory limit should set
// GOMEMLIMIT too (the collector then works harder near the limit), or
// --gc-percent=100 for Go's default.
const defaultGCPercent = 400

// gcFlags is --gc-percent.
type gcFlags struct {
	percent int // 0: defaultGCPercent unless GOGC is set
}

func (g *gcFlags) register(fs *flag.FlagSet) {
	fs.IntVar(&g.percent, "gc-percent", 0, "garbage collection target `percent` (as GOGC); default "+strconv.Itoa(defaultGCPercent)+", or GOGC when that is set")
}

func (g *gcFlags) check() error {
	if g.percent < 0 {
		return errors.New("--gc-percent must be positive (GOGC=off disables the collector)")
	}
	return nil
}

// apply sets the process's GC target: --gc-percent when given, else
// defaultGCPercent unless GOGC is set in the environment (getenv), which
// then stays in force. It returns a description for the start-up log line
// ("400 (default)", "GOGC", "150 (--gc-percent)") and a function that
// restores the previous target, for runServe's callers in tests.
func (g *gcFlags) apply(getenv func(string) string) (string, func()) {
	p, how := g.percent, "--gc-percent"
	if p == 0 {
		if getenv("GOGC") != "" {
			return "GOGC=" + getenv("GOGC"), func() {}
		}
		p, how = defaultGCPercent, "default"
	}
	old := debug.SetGCPercent(p)
	return strconv.Itoa(p) + " (" + how + ")", func() { debug.SetGCPercent(old) }
}
