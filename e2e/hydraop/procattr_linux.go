package hydraop

import (
	"os/exec"
	"syscall"
)

// dieWithParent has the kernel kill Hydra when the test process dies
// without calling Close (a panic, a test timeout).
func dieWithParent(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
