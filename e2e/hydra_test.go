package e2e

// ORY Hydra v2, an OpenID Certified provider, run as a child process (see
// hydraop): Streamlit's default secrets.toml, refresh, logout at the
// provider, and issuers with and without a trailing slash.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stauth/caddy-stauth/e2e/devop"
	"github.com/stauth/caddy-stauth/e2e/hydraop"
	"github.com/stauth/caddy-stauth/internal/testcaddy"
)

// hydraPage is what the site behind stauth answers when it logs in through
// Hydra: the identity placeholders, the groups claim and the access token
// (empty unless exposed).
const hydraPage = `id={http.auth.user.id} email={http.auth.user.email} name={http.auth.user.name} groups={http.auth.user.groups} logged_in={http.auth.user.is_logged_in} access=[{http.auth.user.tokens.access}]`

// hydraSite is a real Caddy with stauth in front of hydraPage, logging in
// through a real Hydra.
type hydraSite struct {
	site
	op *hydraop.Provider
}

// newHydraSite starts Hydra with a client for a new site, and the site,
// whose secrets.toml has extra in [auth]. Hydra's output is shown when the
// test fails.
func newHydraSite(t *testing.T, o hydraop.Options, extra string) *hydraSite {
	t.Helper()
	port := testcaddy.FreePort(t)
	o.RedirectURIs = []string{fmt.Sprintf("http://localhost:%d/oauth2callback", port)}
	o.ClientID, o.ClientSecret = "stauth", "stauth-dev-secret" // as in secretsFor
	log := &lockedBuffer{}
	o.Log = log
	op, err := hydraop.Start(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		op.Close()
		if t.Failed() {
			t.Logf("hydra's output:\n%s", log.String())
		}
	})
	s := &hydraSite{site: site{URL: fmt.Sprintf("http://localhost:%d", port), Port: port}, op: op}
	s.Secrets = writeSecrets(t, port, op.MetadataURL, extra)
	loadSitePage(t, port, s.Secrets, "", hydraPage)
	return s
}

// logIn logs Hydra's user in, starting at path, and returns the page body.
func (s *hydraSite) logIn(t *testing.T, client *http.Client, path string) string {
	t.Helper()
	resp, body, err := s.op.LogIn(client, s.URL+path)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || resp.Request.URL.String() != s.URL+path {
		t.Fatalf("login ended at %s with %s, want %s with 200 OK:\n%s", withoutSecrets(resp.Request.URL), resp.Status, s.URL+path, body)
	}
	return string(body)
}

// withoutSecrets shows a URL for a test log: its query keeps only the
// parameters that carry no code, token or state (error, error_description,
// client_id, post_logout_redirect_uri) and the names of the others.
func withoutSecrets(u *url.URL) string {
	shown := url.Values{}
	for name, values := range u.Query() {
		switch name {
		case "error", "error_description", "client_id", "post_logout_redirect_uri":
			shown[name] = values
		default:
			shown[name] = []string{"…"}
		}
	}
	v := *u
	v.RawQuery = shown.Encode()
	return v.String()
}

// wantIdentity is the page's text for Hydra's demo user, before the access
// token.
func wantIdentity() string {
	u := hydraop.DemoUser
	return fmt.Sprintf("id=%s email=%s name=%s groups=%s logged_in=true", u.Subject, u.Email, u.Name, strings.Join(u.Groups, ","))
}

// TestHydraLogin logs in through Hydra with Streamlit's default
// secrets.toml (no client_kwargs, so no prompt of the user's choosing) and
// with an explicit prompt, against an issuer with and without a trailing
// slash, which Hydra publishes exactly as configured.
func TestHydraLogin(t *testing.T) {
	cases := []struct {
		name          string
		trailingSlash bool
		extra         string
	}{
		{"streamlit default", false, ""},
		{"streamlit default, issuer with trailing slash", true, ""},
		{"prompt login", false, `client_kwargs = { prompt = "login" }`},
		{"prompt login, issuer with trailing slash", true, `client_kwargs = { prompt = "login" }`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := newHydraSite(t, hydraop.Options{TrailingSlash: c.trailingSlash}, c.extra)
			doc, err := s.op.Discovery()
			if err != nil {
				t.Fatal(err)
			}
			if want, _ := json.Marshal(s.op.Issuer); !bytes.Equal(doc["issuer"], want) || strings.HasSuffix(s.op.Issuer, "/") != c.trailingSlash {
				t.Fatalf("hydra publishes issuer %s, want %s", doc["issuer"], want)
			}

			client := browser(t)
			body := s.logIn(t, client, "/page?q=1")
			if want := wantIdentity() + " access=[]"; body != want {
				t.Fatalf("after login the page says\n%s\nwant\n%s", body, want)
			}
			user := userJSON(t, client, s.URL)
			if user["is_logged_in"] != true || user["sub"] != hydraop.DemoUser.Subject || user["email"] != hydraop.DemoUser.Email || user["iss"] != s.op.Issuer {
				t.Fatalf("user JSON after login: %v", user)
			}
			// With Streamlit's default prompt Hydra sees the login twice:
			// it refuses select_account only after its login step, and
			// stauth logs in again without the prompt. One consent, one
			// session.
			if s.op.Consents() != 1 {
				t.Fatalf("hydra's app accepted %d consents, want 1", s.op.Consents())
			}
		})
	}
}

// TestHydraRefresh exposes an access token that lives ten seconds (inside
// stauth's refresh margin, and long enough for stauth's userinfo request
// after the code exchange on a slow machine): once it has expired at Hydra, the next request refreshes it and the session goes
// on; Hydra rotates refresh tokens (and revokes a whole grant when an old
// one comes back), so three refreshes in a row work only if each re-sealed
// the new refresh token. When Hydra revokes the grant, the user logs in
// again.
func TestHydraRefresh(t *testing.T) {
	s := newHydraSite(t, hydraop.Options{AccessTokenTTL: 10 * time.Second}, `expose_tokens = "access"
client_kwargs = { scope = "openid profile email offline_access" }`)
	client := browser(t)

	first := accessToken(t, s.logIn(t, client, "/"))
	if in := s.introspect(t, first); !in.Active || in.Subject != hydraop.DemoUser.Subject {
		t.Fatalf("the access token after login: %+v, want active for %s", in, hydraop.DemoUser.Subject)
	}
	// Wait, without a request to the site, until Hydra has let the token
	// expire.
	deadline := time.Now().Add(30 * time.Second)
	for s.introspect(t, first).Active {
		if time.Now().After(deadline) {
			t.Fatal("hydra still calls the 10-second access token active after 30 seconds")
		}
		time.Sleep(100 * time.Millisecond) // polling Hydra's introspection
	}

	seen := map[string]bool{first: true}
	for i := range 3 {
		before := map[string]string{}
		for _, c := range s.sessionCookies(t, client) {
			before[c.Name] = c.Value
		}
		resp, body := fetch(t, client, s.URL+"/", "text/html")
		if resp.StatusCode != http.StatusOK || !strings.HasPrefix(body, wantIdentity()) {
			t.Fatalf("request %d after the access token expired: %s\n%s", i+1, resp.Status, body)
		}
		token := accessToken(t, body)
		if seen[token] || !s.introspect(t, token).Active {
			t.Fatalf("request %d after the access token expired shows a token seen before (%v) or one Hydra does not call active", i+1, seen[token])
		}
		seen[token] = true
		if !resealsSession(resp, before) {
			t.Fatalf("the refreshed session was not sealed again: Set-Cookie %q", resp.Header["Set-Cookie"])
		}
	}

	if err := s.op.RevokeGrants(); err != nil {
		t.Fatal(err)
	}
	resp, _ := fetch(t, client, s.URL+"/page", "text/html")
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/auth/login?rd=%2Fpage" {
		t.Fatalf("after hydra revoked the grant: %s to %q, want 303 to the login", resp.Status, resp.Header.Get("Location"))
	}
	if len(s.sessionCookies(t, client)) != 0 {
		t.Fatal("the session survived a refused refresh")
	}
}

// logins counts the logins Hydra's app accepted: those for which the user
// signed in anew, and those Hydra remembered from its session.
func (s *hydraSite) logins() (fresh, remembered int64) {
	remembered = s.op.RememberedLogins()
	return s.op.Logins() - remembered, remembered
}

// introspect asks Hydra about a token.
func (s *hydraSite) introspect(t *testing.T, token string) hydraop.Introspection {
	t.Helper()
	in, err := s.op.Introspect(token)
	if err != nil {
		t.Fatal(err)
	}
	return in
}

// TestHydraLogout logs out at Hydra's end_session_endpoint: Hydra's logout
// app ends the Hydra session and Hydra returns the browser to the site,
// logged out; the next login is a fresh one at Hydra, not a remembered one.
func TestHydraLogout(t *testing.T) {
	s := newHydraSite(t, hydraop.Options{}, "")
	client := browser(t)
	s.logIn(t, client, "/")
	fresh, remembered := s.logins()
	// Another browser holding only Hydra's cookies signs in without a new
	// login at Hydra: Hydra remembers the user until the logout.
	other := browser(t)
	hydraURL := mustURL(t, s.op.Issuer)
	other.Jar.SetCookies(hydraURL, client.Jar.Cookies(hydraURL))
	s.logIn(t, other, "/")
	if f, r := s.logins(); f != fresh || r != remembered+1 {
		t.Fatalf("a browser with hydra's cookies made %d new logins at hydra and %d remembered ones, want 0 and 1", f-fresh, r-remembered)
	}

	doc, err := s.op.Discovery()
	if err != nil {
		t.Fatal(err)
	}
	var endSession string
	if err := json.Unmarshal(doc["end_session_endpoint"], &endSession); err != nil || endSession == "" {
		t.Fatalf("hydra's discovery document has no end_session_endpoint: %s", doc["end_session_endpoint"])
	}
	end := logOut(t, client, s.URL)
	if !strings.HasPrefix(end.String(), endSession+"?") {
		t.Fatalf("logout sends the browser to %s, want %s", withoutSecrets(end), endSession)
	}
	q := end.Query()
	if q.Get("id_token_hint") == "" || q.Get("client_id") != "stauth" || q.Get("post_logout_redirect_uri") != s.URL+"/oauth2callback" {
		t.Fatalf("logout at hydra lacks id_token_hint, client_id or post_logout_redirect_uri: %s", withoutSecrets(end))
	}
	if len(s.sessionCookies(t, client)) != 0 {
		t.Fatal("the session cookie survived logout")
	}

	if err := devop.ReturnFromLogout(client, end, s.URL); err != nil {
		t.Fatal(err)
	}
	if s.op.Logouts() != 1 {
		t.Fatalf("hydra's logout app accepted %d logouts, want 1", s.op.Logouts())
	}
	if user := userJSON(t, client, s.URL); user["is_logged_in"] != false || len(user) != 1 {
		t.Fatalf("user JSON after logout: %v", user)
	}

	fresh, remembered = s.logins()
	s.logIn(t, client, "/")
	if f, r := s.logins(); f != fresh+1 || r != remembered {
		t.Fatalf("after logout a login made %d new logins at hydra and %d remembered ones, want 1 and 0 (hydra's session ended)", f-fresh, r-remembered)
	}
}

// lockedBuffer collects a child process's output for the test log.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// Write appends p.
func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String is everything written so far.
func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
