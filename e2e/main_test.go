package e2e

import (
	"os"
	"testing"

	"github.com/stauth/caddy-stauth/internal/testcaddy"
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "stauth-e2e-home-")
	if err != nil {
		panic(err)
	}
	testcaddy.Isolate(dir)
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}
