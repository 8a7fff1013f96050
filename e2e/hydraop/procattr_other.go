//go:build !linux

package hydraop

import "os/exec"

// dieWithParent does nothing where the kernel cannot kill a child with its
// parent; Close stops Hydra.
func dieWithParent(*exec.Cmd) {}
