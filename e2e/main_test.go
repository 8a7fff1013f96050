package e2e

import (
	"testing"

	"github.com/stauth/caddy-stauth/internal/testcaddy"
)

// TestMain keeps Caddy, Chromium and the providers from writing into the
// real home directory.
func TestMain(m *testing.M) { testcaddy.Main(m, "stauth-e2e") }
