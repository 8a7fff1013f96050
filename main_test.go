package stauth

import (
	"testing"

	"github.com/stauth/caddy-stauth/internal/testcaddy"
)

// TestMain keeps the Caddy instances of the tests from writing into the real
// home directory.
func TestMain(m *testing.M) { testcaddy.Main(m, "stauth-test") }
