package cluster

import (
	"os/exec"
	"syscall"
)

// dieWithTest makes the kernel SIGKILL cmd when the test process dies
// without its cleanup (go test's timeout panic, a crash), so no server
// process outlives the test. (The signal follows the OS thread that
// started cmd; the Go runtime keeps its threads for the life of the
// process.)
func dieWithTest(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
