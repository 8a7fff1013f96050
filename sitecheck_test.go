package stauth

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/stauth/caddy-stauth/internal/hostileop"
	"github.com/stauth/caddy-stauth/internal/testcaddy"
)

// TestWarnIfUnserved checks the warning for a redirect_uri whose host and
// port no site of this Caddy serves, and its absence for one it serves.
func TestWarnIfUnserved(t *testing.T) {
	op := hostileop.New(t, hostileop.Config{})
	port := testcaddy.FreePort(t)
	secrets := writeTestSecrets(t, fmt.Sprintf("[auth]\nredirect_uri = \"http://localhost:%d/oauth2callback\"\ncookie_secret = %q\nclient_id = %q\nclient_secret = %q\nserver_metadata_url = %q\n",
		port, atkCookieSecret, op.ClientID, op.ClientSecret, op.MetadataURL))
	logFile := filepath.Join(t.TempDir(), "caddy.log")
	globals := strings.Replace(testcaddy.Globals(t.TempDir(), port, testcaddy.FreePort(t)), "level ERROR",
		fmt.Sprintf("output file %q\n\t\tlevel WARN\n\t\tinclude http.handlers.stauth", logFile), 1)
	testcaddy.Load(t, globals+fmt.Sprintf(`
http://localhost:%[1]d {
	stauth %[2]s
	respond ok
}
http://127.0.0.1:%[1]d {
	stauth %[2]s {
		redirect_uri http://elsewhere.localhost:%[1]d/oauth2callback
	}
	respond ok
}
`, port, secrets))
	site := &testSite{URL: fmt.Sprintf("http://localhost:%d", port), Port: port}
	b := site.browser(t)
	for range 2 { // the check runs once per handler
		b.get("/")
		b.get(fmt.Sprintf("http://127.0.0.1:%d/", port))
	}
	if err := caddy.Stop(); err != nil { // flushes and closes the log
		t.Fatal(err)
	}
	log, err := os.ReadFile(logFile)
	if err != nil {
		t.Fatal(err)
	}
	var warnings []string
	for _, line := range strings.Split(string(log), "\n") {
		if strings.Contains(line, "no site of this Caddy serves redirect_uri's host and port") {
			warnings = append(warnings, line)
		}
	}
	if len(warnings) != 1 || !strings.Contains(warnings[0], fmt.Sprintf("http://elsewhere.localhost:%d/oauth2callback", port)) {
		t.Fatalf("warnings %q, want one for elsewhere.localhost\n%s", warnings, log)
	}
}
