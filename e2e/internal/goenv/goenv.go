// Package goenv gives the end-to-end tests' helpers the environment for
// running the go command from inside a test binary.
package goenv

import (
	"os"
	"os/user"
	"strings"
)

// Env is the environment for the go command. The e2e TestMain points HOME
// and the XDG directories at a temp dir, which would give the go command an
// empty module and build cache; Env gives it the real home back.
func Env() []string {
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		switch name {
		case "HOME", "XDG_CONFIG_HOME", "XDG_CACHE_HOME", "XDG_DATA_HOME":
			continue
		}
		env = append(env, kv)
	}
	if u, err := user.Current(); err == nil && u.HomeDir != "" {
		env = append(env, "HOME="+u.HomeDir)
	}
	return env
}
