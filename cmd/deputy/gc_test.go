package main

import (
	"runtime/debug"
	"testing"
)

// currentGCPercent reads the runtime's GC target without changing it.
func currentGCPercent() int {
	p := debug.SetGCPercent(100)
	debug.SetGCPercent(p)
	return p
}

func TestGCPercent(t *testing.T) {
	before := currentGCPercent()
	for _, tc := range []struct {
		name     string
		flag     int
		gogc     string
		want     int // the target while applied; -1: left as it was
		wantDesc string
	}{
		{"default", 0, "", defaultGCPercent, "400 (default)"},
		{"GOGC wins over the default", 0, "250", -1, "GOGC=250"},
		{"flag", 150, "", 150, "150 (--gc-percent)"},
		{"flag wins over GOGC", 150, "250", 150, "150 (--gc-percent)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := gcFlags{percent: tc.flag}
			if err := g.check(); err != nil {
				t.Fatal(err)
			}
			desc, restore := g.apply(func(k string) string {
				if k == "GOGC" {
					return tc.gogc
				}
				return ""
			})
			want := tc.want
			if want < 0 {
				want = before
			}
			if got := currentGCPercent(); got != want || desc != tc.wantDesc {
				t.Errorf("target %d %q, want %d %q", got, desc, want, tc.wantDesc)
			}
			restore()
			if got := currentGCPercent(); got != before {
				t.Errorf("after restore: %d, want %d", got, before)
			}
		})
	}
	if err := (&gcFlags{percent: -1}).check(); err == nil {
		t.Error("--gc-percent=-1 accepted")
	}
}
