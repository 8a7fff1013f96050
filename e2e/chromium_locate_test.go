package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestLocateChromium shows a missing Chromium is never a silent pass: the
// browser tests fail saying how to install it (or how to opt out).
func TestLocateChromium(t *testing.T) {
	dir := t.TempDir()
	fake := filepath.Join(dir, "my-chrome")
	if err := os.WriteFile(fake, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir) // holds my-chrome, no chromium
	missing := filepath.Join(dir, "no-such-chromium")

	if path, problem := locateChromium("", missing); path != "" ||
		!strings.Contains(problem, "apt-get install -y chromium") || !strings.Contains(problem, "STAUTH_SKIP_BROWSER=1") {
		t.Errorf("no Chromium anywhere: %q, %q", path, problem)
	}
	if path, problem := locateChromium(missing, fake); path != "" || !strings.Contains(problem, "CHROMIUM_PATH="+missing) {
		t.Errorf("a CHROMIUM_PATH that does not exist: %q, %q", path, problem)
	}
	if path, problem := locateChromium(fake, missing); path != fake || problem != "" {
		t.Errorf("CHROMIUM_PATH: %q, %q", path, problem)
	}
	if path, problem := locateChromium("", fake); path != fake || problem != "" {
		t.Errorf("the default path: %q, %q", path, problem)
	}
	if err := os.WriteFile(filepath.Join(dir, "chromium"), []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if path, problem := locateChromium("", missing); path != filepath.Join(dir, "chromium") || problem != "" {
		t.Errorf("chromium on PATH: %q, %q", path, problem)
	}
}
