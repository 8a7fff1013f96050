package stauth

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stauth/caddy-stauth/internal/hostileop"
	"github.com/stauth/caddy-stauth/internal/testcaddy"
)

// routesPage is the page behind every route of the per-route tests.
const routesPage = `id={http.auth.user.id} groups={http.auth.user.groups} logged_in={http.auth.user.is_logged_in} cookie=[{http.request.header.Cookie}]`

// routesSite starts a provider and a Caddy whose site block holds the
// given stauth lines (SECRETS stands for the secrets path) at its top level,
// where the Caddyfile adapter orders the routes, then routesPage.
func routesSite(t *testing.T, lines string) *testSite {
	t.Helper()
	port := testcaddy.FreePort(t)
	s := &testSite{URL: fmt.Sprintf("http://localhost:%d", port), Port: port}
	s.Redirect = s.URL + "/oauth2callback"
	s.OP = hostileop.New(t, hostileop.Config{})
	secrets := filepath.Join(t.TempDir(), "secrets.toml")
	text := fmt.Sprintf("[auth]\nredirect_uri = %q\ncookie_secret = %q\nclient_id = %q\nclient_secret = %q\nserver_metadata_url = %q\n",
		s.Redirect, atkCookieSecret, s.OP.ClientID, s.OP.ClientSecret, s.OP.MetadataURL)
	if err := os.WriteFile(secrets, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	testcaddy.Load(t, testcaddy.Globals(t.TempDir(), port, testcaddy.FreePort(t))+fmt.Sprintf(`
http://:%d {
	@admin path /admin/*
	@app path /app/*
	%s
	respond %q
}
`, port, strings.ReplaceAll(lines, "SECRETS", secrets), routesPage))
	return s
}

// logInAs logs a new browser in as sub, in groups.
func (s *testSite) logInAs(t *testing.T, sub string, groups ...string) *testBrowser {
	t.Helper()
	s.OP.Set(func(b *hostileop.Behaviour) {
		b.Subject = sub
		b.Claims = func(c map[string]any) { c["groups"] = groups }
	})
	b := s.browser(t)
	b.mustLogIn("/auth/login", "/")
	return b
}

// TestRoutesShareOneLogin: stauth directives over one secrets.toml with
// different allow rules share one login; each gates its own routes. The
// passive stauth the adapter adds outside a matcher neither strips the
// session before a later stauth reads it nor turns an identified request
// into a logged-out one; the gated route comes first whatever the order
// the directives are written in.
func TestRoutesShareOneLogin(t *testing.T) {
	admin := "stauth @admin SECRETS {\n\t\tallow_claim groups admins\n\t}"
	type want struct{ path, body string }
	for _, c := range []struct {
		name  string
		lines string
		// alice is in admins, bob is not; a missing path is refused
		// (403) for bob.
		alice, bob []want
	}{
		{
			name:  "admin then catch-all",
			lines: admin + "\n\tstauth SECRETS",
			alice: []want{{"/admin/x", "id=alice groups=admins logged_in=true cookie=[]"}, {"/app/x", "id=alice groups=admins logged_in=true cookie=[]"}, {"/other", "id=alice groups=admins logged_in=true cookie=[]"}},
			bob:   []want{{"/app/x", "id=bob groups=staff logged_in=true cookie=[]"}, {"/other", "id=bob groups=staff logged_in=true cookie=[]"}},
		},
		{
			name:  "catch-all written first",
			lines: "stauth SECRETS\n\t" + admin,
			alice: []want{{"/admin/x", "id=alice groups=admins logged_in=true cookie=[]"}, {"/app/x", "id=alice groups=admins logged_in=true cookie=[]"}},
			bob:   []want{{"/app/x", "id=bob groups=staff logged_in=true cookie=[]"}},
		},
		{
			name:  "two matchers",
			lines: admin + "\n\tstauth @app SECRETS {\n\t\tallow_claim groups staff admins\n\t}",
			alice: []want{{"/admin/x", "id=alice groups=admins logged_in=true cookie=[]"}, {"/app/x", "id=alice groups=admins logged_in=true cookie=[]"}, {"/other", "id=alice groups=admins logged_in=true cookie=[]"}},
			bob:   []want{{"/app/x", "id=bob groups=staff logged_in=true cookie=[]"}, {"/other", "id=bob groups=staff logged_in=true cookie=[]"}},
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := routesSite(t, c.lines)
			anon := s.browser(t)
			for _, path := range []string{"/admin/x", "/app/x"} {
				if c.name != "two matchers" || path == "/admin/x" {
					if resp := anon.get(path); resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/auth/login?rd=") {
						t.Errorf("anonymous %s: %s %q, want 303 to log in", path, resp.Status, resp.Header.Get("Location"))
					}
				}
			}
			alice := s.logInAs(t, "alice", "admins")
			bob := s.logInAs(t, "bob", "staff")
			for _, u := range []struct {
				b     *testBrowser
				wants []want
			}{{alice, c.alice}, {bob, c.bob}} {
				for _, w := range u.wants {
					if resp := u.b.get(w.path); resp.StatusCode != http.StatusOK || resp.Body != w.body {
						t.Errorf("%s: %s %q, want %q", w.path, resp.Status, resp.Body, w.body)
					}
				}
			}
			if resp := bob.get("/admin/x"); resp.StatusCode != http.StatusForbidden {
				t.Errorf("bob on /admin/x: %s, want 403: %s", resp.Status, pageTitle(resp.Body))
			}
		})
	}
}

// TestRoutesOrder: the adapted routes put each gated stauth before the
// passive one of its directive, and every stauth with a matcher before the
// catch-all, whatever order the directives are written in.
func TestRoutesOrder(t *testing.T) {
	dir := t.TempDir()
	secrets := filepath.Join(dir, "secrets.toml")
	text := fmt.Sprintf("[auth]\nredirect_uri = \"http://localhost:8080/oauth2callback\"\ncookie_secret = %q\nclient_id = \"c\"\nclient_secret = \"s\"\nserver_metadata_url = \"http://127.0.0.1:1/.well-known/openid-configuration\"\n", atkCookieSecret)
	if err := os.WriteFile(secrets, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, order := range [][2]string{{"admin", "all"}, {"all", "admin"}} {
		lines := map[string]string{"admin": "stauth @admin " + secrets + " {\n\t\tallow_claim groups admins\n\t}", "all": "stauth " + secrets}
		cfg, err := testcaddy.Adapt(fmt.Sprintf(":8080 {\n\t@admin path /admin/*\n\t%s\n\t%s\n}\n", lines[order[0]], lines[order[1]]))
		if err != nil {
			t.Fatal(err)
		}
		var doc struct {
			Apps struct {
				HTTP struct {
					Servers map[string]struct {
						Routes []struct {
							Handle []json.RawMessage `json:"handle"`
						} `json:"routes"`
					} `json:"servers"`
				} `json:"http"`
			} `json:"apps"`
		}
		if err := json.Unmarshal(cfg, &doc); err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, srv := range doc.Apps.HTTP.Servers {
			for _, r := range srv.Routes {
				var h struct {
					Passive     bool        `json:"passive"`
					AllowClaims []ClaimRule `json:"allow_claims"`
				}
				_ = json.Unmarshal(r.Handle[0], &h)
				kind := "all"
				switch {
				case h.Passive:
					kind = "passive-admin"
				case len(h.AllowClaims) > 0:
					kind = "gated-admin"
				}
				got = append(got, kind)
			}
		}
		if strings.Join(got, ",") != "gated-admin,passive-admin,all" {
			t.Errorf("written %v: routes %v, want gated-admin, passive-admin, all", order, got)
		}
	}
}
