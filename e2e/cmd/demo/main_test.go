package main

import (
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/stauth/caddy-stauth/e2e/cmd/internal/proctest"
	"github.com/stauth/caddy-stauth/internal/testcaddy"
)

// TestMain runs main in the children the tests start, the tests otherwise.
func TestMain(m *testing.M) { proctest.Main(m, "stauth-demo-cmd-test", main) }

// The banner's lines naming the site and the demo's files.
var (
	openLine  = regexp.MustCompile(`(?m)^  Open      (\S+)$`)
	filesLine = regexp.MustCompile(`(?m)^  Files     (\S+) \(`)
)

// TestDemoStopsCleanly runs the demo command as `make demo` does and stops
// it as Ctrl-C (SIGINT) or a service manager (SIGTERM) does: it removes its
// files, stops serving and exits with status 0, so make reports no error.
func TestDemoStopsCleanly(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) {
			cmd := proctest.Start(t, []string{"-port", strconv.Itoa(testcaddy.FreePort(t)), "-provider-port", strconv.Itoa(testcaddy.FreePort(t))})
			out := cmd.WaitForLine(t, "Press Ctrl-C to stop.")
			open, files := openLine.FindStringSubmatch(out), filesLine.FindStringSubmatch(out)
			if open == nil || files == nil {
				t.Fatalf("the banner names no site or no files:\n%s", out)
			}
			site, dir := open[1], files[1]

			// The banner comes once Caddy runs: the site answers, asking
			// for a login.
			client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
			resp, err := client.Get(site + "/")
			if err != nil {
				t.Fatalf("the demo printed its banner but %s does not answer: %v", site, err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusUnauthorized {
				t.Fatalf("%s answered %s before a login, want 401", site, resp.Status)
			}
			if _, err := os.Stat(dir); err != nil {
				t.Fatalf("the demo's files: %v", err)
			}

			if code := cmd.Stop(t, sig); code != 0 {
				t.Fatalf("after %v the demo exited with %d, want 0:\n%s", sig, code, cmd.Output())
			}
			if !strings.HasSuffix(cmd.Output(), "\nstopping…\n") {
				t.Errorf("the demo's output does not end with stopping…:\n%s", cmd.Output())
			}
			if _, err := os.Stat(dir); !os.IsNotExist(err) {
				t.Errorf("the demo left %s behind (%v)", dir, err)
			}
			if resp, err := client.Get(site + "/"); err == nil {
				resp.Body.Close()
				t.Errorf("%s still answers (%s) after the demo exited", site, resp.Status)
			}
		})
	}
}
