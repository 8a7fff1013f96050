package stauth

import (
	"os"
	"testing"

	"github.com/stauth/caddy-stauth/internal/testcaddy"
)

// TestMain keeps the Caddy instances of the attack tests from writing into
// the real home directory.
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "stauth-test-home-")
	if err != nil {
		panic(err)
	}
	testcaddy.Isolate(dir)
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}
