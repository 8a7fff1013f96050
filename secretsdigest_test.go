package stauth

import (
	"fmt"
	"net/http"
	"os"
	"regexp"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/stauth/caddy-stauth/internal/hostileop"
	"github.com/stauth/caddy-stauth/internal/testcaddy"
)

// digestField is the secrets_digest of an adapted config.
var digestField = regexp.MustCompile(`"secrets_digest":"[0-9a-f]{64}",?`)

// withoutDigest is an adapted config without its secrets_digest fields.
func withoutDigest(cfg []byte) string { return digestField.ReplaceAllString(string(cfg), "") }

// TestReloadAppliesSecretsEdits checks that an edit to secrets.toml changes
// the adapted config, so that a reload (which skips an unchanged config,
// and caddy.Load with forceReload false is the admin API's /load) applies it: after a new cookie_secret, a session sealed with the old one
// alone no longer opens.
func TestReloadAppliesSecretsEdits(t *testing.T) {
	op := hostileop.New(t, hostileop.Config{})
	port := testcaddy.FreePort(t)
	site := &testSite{URL: fmt.Sprintf("http://localhost:%d", port), Port: port, OP: op}
	site.Redirect = site.URL + "/oauth2callback"
	secrets := func(cookieSecret string) string {
		return fmt.Sprintf("[auth]\nredirect_uri = %q\ncookie_secret = %q\nclient_id = %q\nclient_secret = %q\nserver_metadata_url = %q\n",
			site.Redirect, cookieSecret, op.ClientID, op.ClientSecret, op.MetadataURL)
	}
	path := writeTestSecrets(t, secrets(atkCookieSecret))
	text := testcaddy.Globals(t.TempDir(), port, testcaddy.FreePort(t)) +
		fmt.Sprintf("http://:%d {\n\tstauth %s\n\trespond %q\n}\n", port, path, atkIdentityPage)
	adapt := func() []byte {
		cfg, err := testcaddy.Adapt(text)
		if err != nil {
			t.Fatal(err)
		}
		return cfg
	}
	first := adapt()
	if err := caddy.Load(first, true); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = caddy.Stop() })
	b := site.browser(t)
	b.mustLogIn("/auth/login", "/")
	b.assertLoggedInAs(hostileop.DefaultSubject)

	if err := os.WriteFile(path, []byte(secrets("a-new-cookie-secret-after-the-edit-0123456789")), 0o600); err != nil {
		t.Fatal(err)
	}
	second := adapt()
	if string(second) == string(first) {
		t.Fatal("the adapted config is the same after secrets.toml changed")
	}
	// Without the digest, the two configs are the same bytes: a reload,
	// which skips an unchanged config, would not have read the new secret.
	if withoutDigest(first) != withoutDigest(second) {
		t.Fatalf("the configs differ elsewhere than in secrets_digest:\n%s\n%s", first, second)
	}
	if err := caddy.Load(second, false); err != nil {
		t.Fatalf("reload after the edit: %v", err)
	}
	awaitNewServer(t, site.URL)
	b.assertLoggedOut()
}

// awaitNewServer waits until a reloaded Caddy answers at url: Caddy shuts the
// old servers down in goroutines after Load returns, so one of them may
// still take a last connection and close it unanswered (caddyhttp.App.Stop
// says so). A few connections, not time, bound the wait.
func awaitNewServer(t *testing.T, url string) {
	t.Helper()
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	var err error
	for range 5 {
		var resp *http.Response
		if resp, err = client.Get(url + "/auth/user"); err == nil {
			resp.Body.Close()
			return
		}
	}
	t.Fatalf("the reloaded Caddy does not answer: %v", err)
}
