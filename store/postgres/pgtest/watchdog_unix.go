//go:build unix

package pgtest

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
)

// watchdog starts a shell that stops the server and removes dir once this
// process is gone, so a test binary that panics or is killed, and so never
// reaches Main's cleanup, leaves no server behind. Best effort: without a
// shell there is no watchdog.
func watchdog(stopArgs []string, dir string) {
	quoted := make([]string, len(stopArgs))
	for i, a := range stopArgs {
		quoted[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
	}
	script := fmt.Sprintf("while kill -0 %d 2>/dev/null; do sleep 1; done; %s >/dev/null 2>&1; rm -rf '%s'",
		os.Getpid(), strings.Join(quoted, " "), strings.ReplaceAll(dir, "'", `'\''`))
	cmd := exec.Command("/bin/sh", "-c", script)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // not killed with our process group
	if cmd.Start() == nil {
		go cmd.Wait() // reap it if it ends first; it normally outlives us
	}
}
