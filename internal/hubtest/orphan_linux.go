package hubtest

import (
	"os/exec"
	"syscall"
)

// orphanGuard has the kernel kill cmd's process should the test binary die without stopping
// it (a test timing out), so that no broker outlives its test holding a port.
func orphanGuard(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
