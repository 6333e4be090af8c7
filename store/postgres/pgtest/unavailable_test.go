package pgtest

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// fakeTB records how unavailable ended a test.
type fakeTB struct {
	testing.TB
	skipped, failed string
}

func (f *fakeTB) Helper()                   {}
func (f *fakeTB) Skip(args ...any)          { f.skipped = fmt.Sprint(args...) }
func (f *fakeTB) Fatal(args ...any)         { f.failed = fmt.Sprint(args...) }
func (f *fakeTB) Fatalf(s string, a ...any) { f.failed = fmt.Sprintf(s, a...) }

func TestUnavailable(t *testing.T) {
	cause := errors.New("initdb not found")
	for _, tc := range []struct {
		name                   string
		notInstalled, required bool
		wantSkip, wantFail     bool
	}{
		{"NotInstalled", true, false, true, false},
		{"NotInstalledButRequired", true, true, false, true},
		{"Broken", false, false, false, true},
		{"BrokenAndRequired", false, true, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeTB{}
			unavailable(f, cause, tc.notInstalled, tc.required)
			if (f.skipped != "") != tc.wantSkip || (f.failed != "") != tc.wantFail {
				t.Fatalf("skipped %q, failed %q; want skip %v, fail %v", f.skipped, f.failed, tc.wantSkip, tc.wantFail)
			}
			msg := f.skipped + f.failed
			if !strings.Contains(msg, cause.Error()) {
				t.Errorf("message %q does not give the cause", msg)
			}
			if tc.notInstalled {
				for _, w := range []string{EnvDSN, "initdb"} {
					if !strings.Contains(msg, w) {
						t.Errorf("message %q does not name %s", msg, w)
					}
				}
			}
			if tc.notInstalled && tc.required && !strings.Contains(msg, EnvRequire) {
				t.Errorf("message %q does not say %s made it fail", msg, EnvRequire)
			}
		})
	}
}
