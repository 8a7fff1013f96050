package stauth

// Tests of issue 14, "the first hour": what a newcomer trips over.

import (
	"cmp"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/stauth/caddy-stauth/internal/hostileop"
	"github.com/stauth/caddy-stauth/internal/testcaddy"
)

// TestMisspelledKeys checks that a missing key names the misspelled key
// that was probably meant for it, and never a value.
func TestMisspelledKeys(t *testing.T) {
	misspelt := func(text, from, to string) string { return strings.Replace(text, from, to, 1) }
	cases := []struct {
		name, toml, want string
	}{
		{"swapped letters", misspelt(validAuth, "client_secret =", "client_secert ="),
			"[auth]: client_secret is missing; client_secert looks like a misspelling of it"},
		{"named provider", sharedOnly + misspelt(namedProvider, "client_id =", "clientid ="),
			"[auth.google]: client_id is missing; clientid looks like a misspelling of it"},
		{"cookie_secret tells how to make one", misspelt(validAuth, "cookie_secret =", "cookie_secrte ="),
			"cookie_secret is missing; cookie_secrte looks like a misspelling of it; make one with `openssl rand -hex 32`"},
		{"cookie_secret absent", misspelt(validAuth, "cookie_secret =", "# cookie_secret ="),
			"[auth]: cookie_secret is missing; make one with `openssl rand -hex 32`"},
		{"a far key is no misspelling", misspelt(validAuth, "client_secret =", "password ="),
			"[auth]: client_secret is missing"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := parseSecrets("secrets.toml", c.toml)
			if err == nil || !strings.HasSuffix(err.Error(), c.want) {
				t.Fatalf("error %v\nwant it to end with %q", err, c.want)
			}
			for _, secret := range []string{testClientSecret, testCookieSecret} {
				if strings.Contains(err.Error(), secret) {
					t.Fatalf("the error shows a secret: %v", err)
				}
			}
		})
	}
}

// TestUnknownKeyWarning checks that an unknown key's warning names the
// known key it is closest to.
func TestUnknownKeyWarning(t *testing.T) {
	cases := []struct{ key, want string }{
		{"redirect_url", "redirect_url is not a key stauth knows; it is ignored; did you mean redirect_uri?"},
		{"Display_Name", "Display_Name is not a key stauth knows; it is ignored; did you mean display_name?"},
		{"colour", "colour is not a key stauth knows; it is ignored"},
	}
	for _, c := range cases {
		s, err := parseSecrets("secrets.toml", validAuth+c.key+" = \"x\"\n")
		if err != nil {
			t.Fatal(err)
		}
		if len(s.warnings) != 1 || !strings.HasSuffix(s.warnings[0], c.want) {
			t.Fatalf("warnings %q, want one ending with %q", s.warnings, c.want)
		}
	}
}

// TestCaddyfileErrorsKeepTheLine checks that an error found after the
// directive is parsed (in secrets.toml, or in the options' combination)
// still names the Caddyfile and the directive's line, not ":0".
func TestCaddyfileErrorsKeepTheLine(t *testing.T) {
	bad := writeTestSecrets(t, strings.Replace(validAuth, "client_secret =", "client_secert =", 1))
	good := writeTestSecrets(t, validAuth)
	cases := []struct{ name, text, want string }{
		{"secrets.toml", ":8080 {\n\trespond ok\n\tstauth " + bad + "\n}\n", "at Caddyfile:3"},
		{"options", ":8080 {\n\n\tstauth " + good + " {\n\t\tlogin_path /x\n\t\tuser_path /x\n\t}\n}\n", "at Caddyfile:3"},
		{"with a matcher", ":8080 {\n\t@a path /a/*\n\tstauth @a " + bad + "\n}\n", "at Caddyfile:3"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := testcaddy.Adapt(c.text)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v\nwant it to contain %q", err, c.want)
			}
		})
	}
}

// TestSessionExpires checks that the user JSON and the placeholder tell when
// the session ends (session_ttl after the login), not the ID token's exp.
func TestSessionExpires(t *testing.T) {
	site := newTestSite(t, siteOptions{stauth: "session_ttl 12h", body: "expires={http.auth.user.session_expires}"})
	b := site.browser(t)
	before := time.Now().Add(12 * time.Hour).Unix()
	b.mustLogIn("/auth/login", "/")
	after := time.Now().Add(12 * time.Hour).Unix()
	expires, ok := b.user()["session_expires"].(float64)
	if !ok || int64(expires) < before || int64(expires) > after {
		t.Fatalf("session_expires %v, want between %d and %d", b.user()["session_expires"], before, after)
	}
	if page := b.get("/").Body; page != fmt.Sprintf("expires=%d", int64(expires)) {
		t.Fatalf("the placeholder gives %q, want expires=%d", page, int64(expires))
	}
}

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

// TestCaddyfileRedirectURI checks that the subdirective reaches the JSON,
// {port} as stauth's, and that a matcher covers its callback path.
func TestCaddyfileRedirectURI(t *testing.T) {
	path := writeTestSecrets(t, validAuth)
	route, err := adaptSite(t, "@app path /app/*\nstauth @app "+path+" {\n\tredirect_uri http://localhost:{port}/site/cb\n}")
	if err != nil {
		t.Fatal(err)
	}
	handler, _ := json.Marshal(route["handle"].([]any)[0])
	match, _ := json.Marshal(route["match"])
	if !strings.Contains(string(handler), `"redirect_uri":"http://localhost:{port}/site/cb"`) ||
		string(match) != `[{"path":["/app/*"]},{"path":["/auth/login","/site/cb","/auth/logout","/auth/user"]}]` {
		t.Fatalf("handler %s\nmatch %s", handler, match)
	}
}

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

// TestSignedOutPage checks where a logout lands: the signed-out page by
// default, a same-site rd when asked, and never another site; across the
// provider's logout, rd rides in the state it sends back.
func TestSignedOutPage(t *testing.T) {
	t.Run("without-end-session", func(t *testing.T) {
		s := newTestSite(t, siteOptions{behaviour: hostileop.Behaviour{NoEndSession: true}})
		cases := []struct {
			name, method, target, want string // want: a Location, or "" for the signed-out page
		}{
			{"default", http.MethodGet, "/auth/logout", ""},
			{"rd", http.MethodGet, "/auth/logout?rd=%2Fbye%3Fx%3D1", "/bye?x=1"},
			{"rd by POST", http.MethodPost, "/auth/logout?rd=%2Fbye", "/bye"},
			{"rd to another site", http.MethodGet, "/auth/logout?rd=%2F%2Fevil.example", ""},
			{"rd with a scheme", http.MethodGet, "/auth/logout?rd=https%3A%2F%2Fevil.example%2F", ""},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				b := s.browser(t)
				b.mustLogIn("/auth/login", "/")
				resp := b.do(c.method, c.target, append([]string{"Origin", s.URL}, sameOriginNavigation...)...)
				assertLanding(t, resp, c.want)
				b.assertLoggedOut()
			})
		}
		b := s.browser(t)
		b.mustLogIn("/auth/login", "/")
		confirm := b.get("/auth/logout?rd=%2Fbye", "Sec-Fetch-Site", "cross-site", "Sec-Fetch-Mode", "navigate", "Sec-Fetch-Dest", "document")
		if !strings.Contains(confirm.Body, `action="/auth/logout?rd=%2Fbye"`) {
			t.Fatalf("the confirmation page's form does not keep rd:\n%s", confirm.Body)
		}
	})
	t.Run("with-end-session", func(t *testing.T) {
		s := newTestSite(t, siteOptions{})
		b := s.browser(t)
		b.mustLogIn("/auth/login", "/")
		resp := b.get("/auth/logout?rd=%2Fbye", sameOriginNavigation...)
		end := logoutTarget(t, resp.StatusCode, resp.Header.Get("Location"), resp.Body)
		if end.Query().Get("state") != "/bye" || end.Query().Get("post_logout_redirect_uri") != s.Redirect {
			t.Fatalf("the provider's logout URL %s does not carry rd as state back to %s", end, s.Redirect)
		}
		b.assertLoggedOut()
		cases := []struct{ name, callback, want string }{
			{"the provider's return with the state", "/oauth2callback?state=%2Fbye", "/bye"},
			{"the provider's return without state", "/oauth2callback", ""},
			{"a forged state naming another site", "/oauth2callback?state=%2F%2Fevil.example", ""},
			{"a forged state with a backslash", "/oauth2callback?state=%2F%5Cevil.example", ""},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				assertLanding(t, b.in(t).get(c.callback), c.want)
			})
		}
		b.mustLogIn("/auth/login", "/")
		if resp := b.get("/auth/logout", sameOriginNavigation...); strings.Contains(logoutTarget(t, resp.StatusCode, resp.Header.Get("Location"), resp.Body).RawQuery, "state=") {
			t.Fatalf("a logout without rd sends a state: %s", resp.Header.Get("Location"))
		}
	})
}

// assertLanding checks a logout's last answer: a 303 to want, or with want
// "" the signed-out page with a link to sign in again.
func assertLanding(t *testing.T, resp *testResp, want string) {
	t.Helper()
	if want != "" {
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != want {
			t.Fatalf("%s to %q, want 303 to %q\n%s", resp.Status, resp.Header.Get("Location"), want, resp.Body)
		}
		return
	}
	if resp.StatusCode != http.StatusOK || pageTitle(resp.Body) != "You have signed out" || !strings.Contains(resp.Body, `href="/auth/login"`) {
		t.Fatalf("%s %q, want the signed-out page with a link to sign in again\n%s", resp.Status, resp.Header.Get("Location"), resp.Body)
	}
	assertAuthHeaders(t, resp)
}

// TestOtherHost checks that a site opened at another name of this machine
// than redirect_uri's says so, naming both hosts and where to go, before
// the login goes to the provider; and that a callback no login matches
// names redirect_uri's host.
func TestOtherHost(t *testing.T) {
	s := newTestSite(t, siteOptions{})
	b := s.browser(t)
	other := fmt.Sprintf("127.0.0.1:%d", s.Port)
	here := fmt.Sprintf("localhost:%d", s.Port)
	resp := b.get("http://" + other + "/auth/login?rd=%2Fx")
	want := fmt.Sprintf(`href="http://%s/auth/login?provider=default&amp;rd=%%2Fx"`, here)
	if resp.StatusCode != http.StatusBadRequest || pageTitle(resp.Body) != "Open this site at "+here ||
		!strings.Contains(resp.Body, "You opened this site at "+other) || !strings.Contains(resp.Body, want) || setsLoginCookie(resp) {
		t.Fatalf("a login at %s: %s %q, want 400 naming both hosts with a link %s\n%s", other, resp.Status, pageTitle(resp.Body), want, resp.Body)
	}
	assertNoTokenRequest(t, s.OP)
	if len(s.OP.Requests(hostileop.Authorize)) != 0 {
		t.Fatal("the login at the other host went to the provider")
	}
	cases := []struct{ name, host, want string }{
		{"at redirect_uri's host", "", "If you opened the site at another address than " + here},
		{"at another host", other, "This sign-in came back at " + other + ", but the site signs you in at " + here},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resp := b.in(t).get("/oauth2callback?state=unknown&code=x", "Host", cmp.Or(c.host, here))
			if resp.StatusCode != http.StatusBadRequest || !strings.Contains(resp.Body, c.want) || !strings.Contains(resp.Body, `href="http://`+here+`/auth/login"`) {
				t.Fatalf("a callback without its login: %s, want 400 with %q\n%s", resp.Status, c.want, resp.Body)
			}
		})
	}
}

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

// TestNoLoginPageWithPort checks that the page of a callback without its
// login names redirect_uri's host with {port} given the listener's port.
func TestNoLoginPageWithPort(t *testing.T) {
	s := newTestSite(t, siteOptions{redirectURI: "http://localhost:{port}/oauth2callback"})
	resp := s.browser(t).get("/oauth2callback?state=unknown&code=x")
	want := fmt.Sprintf("another address than localhost:%d", s.Port)
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(resp.Body, want) {
		t.Fatalf("%s, want 400 with %q\n%s", resp.Status, want, resp.Body)
	}
}
