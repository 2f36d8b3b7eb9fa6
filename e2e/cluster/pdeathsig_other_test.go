//go:build !linux

package cluster

import "os/exec"

// dieWithTest: only Linux can tie a child's life to its parent's; elsewhere
// the test's cleanup is all there is.
func dieWithTest(*exec.Cmd) {}
