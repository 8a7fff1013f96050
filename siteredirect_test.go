package stauth

import (
	"net/http"
	"strings"
	"testing"

	"github.com/stauth/caddy-stauth/internal/hostileop"
)

// TestOverrideRedirect checks the redirect_uri subdirective: it replaces
// [auth]'s, and a provider's own redirect_uri keeps its path on the
// override's origin.
func TestOverrideRedirect(t *testing.T) {
	own := strings.Replace(namedProvider, "google]", "okta]\nredirect_uri = \"https://app.example.com/oauth2callback/okta?x=1\"", 1)
	cases := []struct {
		name, toml, override string
		want                 map[string]string // provider → redirect_uri
		err                  string
	}{
		{"unnamed", validAuth, "https://docs.example.com/cb",
			map[string]string{"default": "https://docs.example.com/cb"}, ""},
		{"own keeps its path", sharedOnly + namedProvider + own, "http://localhost:{port}/cb",
			map[string]string{"google": "http://localhost:{port}/cb", "okta": "http://localhost:{port}/oauth2callback/okta?x=1"}, ""},
		{"no path", validAuth, "https://docs.example.com", nil, "stauth: the redirect_uri subdirective: redirect_uri \"https://docs.example.com\" needs a path"},
		{"not a URL", validAuth, "docs.example.com/cb", nil, "stauth: the redirect_uri subdirective: redirect_uri \"docs.example.com/cb\" must be an absolute URL"},
		{"fragment", validAuth, "https://docs.example.com/cb#x", nil, "must not have a #fragment"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			sec, err := parseSecrets("secrets.toml", c.toml)
			if err != nil {
				t.Fatal(err)
			}
			err = overrideRedirect("secrets.toml", sec, c.override)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("error %v, want %q", err, c.err)
				}
				return
			}
			if err != nil || sec.redirectURI != c.override {
				t.Fatalf("redirect_uri %q (%v), want %q", sec.redirectURI, err, c.override)
			}
			for _, pc := range sec.providers {
				if pc.redirectURI != c.want[pc.name] {
					t.Errorf("provider %s: redirect_uri %q, want %q", pc.name, pc.redirectURI, c.want[pc.name])
				}
			}
		})
	}
	sec, _ := parseSecrets("secrets.toml", validAuth)
	if err := overrideRedirect("secrets.toml", sec, "http://docs.example.com/cb"); err != nil || len(sec.warnings) != 1 || !strings.HasPrefix(sec.warnings[0], "stauth: the redirect_uri subdirective: redirect_uri \"http://docs.example.com/cb\" is plain http") {
		t.Fatalf("plain http override: %v, warnings %q", err, sec.warnings)
	}
}

// TestSiteRedirectURI logs in on a site whose redirect_uri subdirective
// names its own callback, while secrets.toml's names another site.
func TestSiteRedirectURI(t *testing.T) {
	site := newTestSite(t, siteOptions{
		redirectURI: "https://other.example/oauth2callback",
		stauth:      "redirect_uri http://localhost:{port}/site-callback",
	})
	b := site.browser(t)
	auth := b.startLogin("/auth/login")
	if got, want := auth.Query().Get("redirect_uri"), site.URL+"/site-callback"; got != want {
		t.Fatalf("the provider is told redirect_uri %q, want %q", got, want)
	}
	resp := b.get(b.authorize(auth).String())
	if resp.StatusCode != http.StatusSeeOther || !setsSession(resp) {
		t.Fatalf("the callback at the site's redirect_uri: %s\n%s", resp.Status, resp.Body)
	}
	b.assertLoggedInAs(hostileop.DefaultSubject)
	if resp := b.get("/oauth2callback?state=x&code=y"); resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Body, "id="+hostileop.DefaultSubject+" ") {
		t.Fatalf("secrets.toml's callback path is still a callback, not the site's page: %s\n%s", resp.Status, resp.Body)
	}
}
