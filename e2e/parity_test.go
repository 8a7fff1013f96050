package e2e

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/stauth/caddy-stauth/e2e/devop"
	"github.com/stauth/caddy-stauth/internal/testcaddy"
)

// fetch requests url with an Accept header, without following redirects,
// and returns the response and its body.
func fetch(t *testing.T, client *http.Client, url, accept string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", accept)
	resp, err := noRedirects(client).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(body)
}

// TestExposeTokens shows exposed tokens reach the placeholders and the user
// JSON, and unexposed ones never do.
func TestExposeTokens(t *testing.T) {
	cases := []struct {
		expose            string
		wantID, wantToken bool
	}{
		{`expose_tokens = ["id", "access"]`, true, true},
		{`expose_tokens = "access"`, false, true},
		{``, false, false},
	}
	for _, c := range cases {
		t.Run(c.expose, func(t *testing.T) {
			port := testcaddy.FreePort(t)
			p := startProvider(t, port, devop.Options{})
			secrets := writeSecrets(t, port, p.MetadataURL, c.expose)
			loadSitePage(t, port, secrets, "", "id_token=[{http.auth.user.tokens.id}] access_token=[{http.auth.user.tokens.access}]")
			s := &site{URL: fmt.Sprintf("http://localhost:%d", port)}
			client := browser(t)
			body := s.logIn(t, client, "/")
			idMatch := regexp.MustCompile(`id_token=\[([^\]]*)\]`).FindStringSubmatch(body)
			accessMatch := regexp.MustCompile(`access_token=\[([^\]]*)\]`).FindStringSubmatch(body)
			if idMatch == nil || accessMatch == nil {
				t.Fatalf("the page does not show the id_token=[...] and access_token=[...] placeholders: %q", body)
			}
			idToken, accessToken := idMatch[1], accessMatch[1]
			if (strings.Count(idToken, ".") == 2) != c.wantID || (accessToken != "") != c.wantToken {
				t.Fatalf("page shows id_token %q, access_token %q; want id=%v access=%v", idToken, accessToken, c.wantID, c.wantToken)
			}
			want := map[string]any{}
			if c.wantID {
				want["id"] = idToken
			}
			if c.wantToken {
				want["access"] = accessToken
			}
			got, shown := userJSON(t, client, s.URL)["tokens"].(map[string]any)
			if shown != (len(want) > 0) || (shown && !reflect.DeepEqual(got, want)) {
				t.Fatalf("user JSON tokens %v, want %v", got, want)
			}
		})
	}
}

// streamlitLink is the login link st.login("name") makes: an HS256 JWT with
// the provider's name and an expiry, signed with cookie_secret.
func streamlitLink(t *testing.T, key, provider string, exp time.Time) string {
	t.Helper()
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.HS256, Key: []byte(key)}, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		t.Fatal(err)
	}
	token, err := jwt.Signed(signer).Claims(map[string]any{"provider": provider, "exp": exp.Unix()}).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return "/auth/login?provider=" + url.QueryEscape(token)
}

// TestStreamlitLoginLink serves st.login's own link: a valid token starts
// that provider's login; an expired or forged one gets the 400 page.
func TestStreamlitLoginLink(t *testing.T) {
	s := newSite(t, "")
	client := browser(t)
	body := s.logIn(t, client, streamlitLink(t, testCookieSecret, "default", time.Now().Add(2*time.Minute)))
	if !strings.Contains(body, "id=demo-user-1") || !strings.Contains(body, "provider=default") {
		t.Fatalf("login through st.login's link ended on %q", body)
	}
	for name, link := range map[string]string{
		"expired": streamlitLink(t, testCookieSecret, "default", time.Now().Add(-time.Minute)),
		"forged":  streamlitLink(t, "not-the-cookie-secret-0123456789abcdef", "default", time.Now().Add(time.Minute)),
		"unknown": streamlitLink(t, testCookieSecret, "github", time.Now().Add(time.Minute)),
	} {
		resp, page := fetch(t, browser(t), s.URL+link, "text/html")
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(page, "This sign-in link has expired") {
			t.Errorf("%s link: %s\n%s", name, resp.Status, page)
		}
	}
}

// TestPortPlaceholder serves a redirect_uri with {port}: the port is the
// listener's, whatever the Host and X-Forwarded-* headers say.
func TestPortPlaceholder(t *testing.T) {
	port := testcaddy.FreePort(t)
	p := startProvider(t, port, devop.Options{})
	secrets := writeFile(t, secretsFor("http://localhost:{port}/oauth2callback", testCookieSecret, p.MetadataURL, ""))
	loadSite(t, port, secrets, "")
	base := fmt.Sprintf("http://localhost:%d", port)

	req, _ := http.NewRequest(http.MethodGet, base+"/auth/login", nil)
	req.Host = "localhost:6666"
	req.Header.Set("X-Forwarded-Host", "evil.example:7777")
	req.Header.Set("X-Forwarded-Port", "7777")
	resp, err := noRedirects(http.DefaultClient).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	authURL, _ := url.Parse(resp.Header.Get("Location"))
	if got, want := authURL.Query().Get("redirect_uri"), fmt.Sprintf("http://localhost:%d/oauth2callback", port); got != want {
		t.Fatalf("redirect_uri sent to the provider is %q, want %q (never from the Host header)", got, want)
	}
	s := &site{URL: base}
	if body := s.logIn(t, browser(t), "/"); !strings.Contains(body, "id=demo-user-1") {
		t.Fatalf("login with {port}: %s", body)
	}
}

// TestAccessRulesThroughCaddy gates by email and by claim; a user who is
// kept out gets a 403 page naming them, with a way to sign out.
func TestAccessRulesThroughCaddy(t *testing.T) {
	cases := []struct {
		name, options, username string
		allowed                 bool
	}{
		{"exact email", "allow_emails demo@example.com", "demo", true},
		{"domain", "allow_emails *@example.com", "demo", true},
		{"other email", "allow_emails someone@example.org", "demo", false},
		{"domain of another", "allow_emails *@example.org", "demo", false},
		{"claim", "allow_claim preferred_username demo admin", "demo", true},
		{"claim mismatch", "allow_claim preferred_username admin", "demo", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			port := testcaddy.FreePort(t)
			p := startProvider(t, port, devop.Options{})
			loadSite(t, port, writeSecrets(t, port, p.MetadataURL, ""), c.options)
			base := fmt.Sprintf("http://localhost:%d", port)
			client := browser(t)
			resp, body, err := devop.LogIn(client, base+"/", c.username, devop.DemoUser.Password)
			if err != nil {
				t.Fatal(err)
			}
			if c.allowed {
				if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "logged_in=true") {
					t.Fatalf("allowed user got %s: %s", resp.Status, body)
				}
				return
			}
			if resp.StatusCode != http.StatusForbidden || !strings.Contains(string(body), "You are signed in as "+c.username+"@example.com") ||
				!strings.Contains(string(body), `<form method="post" action="/auth/logout">`) {
				t.Fatalf("kept-out user got %s:\n%s", resp.Status, body)
			}
			if resp, _ := fetch(t, client, base+"/api", "application/json"); resp.StatusCode != http.StatusForbidden {
				t.Fatalf("kept-out API call got %s, want 403", resp.Status)
			}
		})
	}
}

// TestChooserPage lists every provider with its display name; choosing one
// logs in with it.
func TestChooserPage(t *testing.T) {
	port := testcaddy.FreePort(t)
	p := startProvider(t, port, devop.Options{})
	provider := func(name, extra string) string {
		return fmt.Sprintf("[auth.%s]\nclient_id = \"stauth\"\nclient_secret = \"stauth-dev-secret\"\nserver_metadata_url = %q\n%s\n", name, p.MetadataURL, extra)
	}
	secrets := writeFile(t, fmt.Sprintf("[auth]\nredirect_uri = \"http://localhost:%d/oauth2callback\"\ncookie_secret = %q\n", port, testCookieSecret)+
		provider("alpha", `display_name = "Alpha Corp"`)+provider("beta", ""))
	loadSite(t, port, secrets, "")
	base := fmt.Sprintf("http://localhost:%d", port)
	client := browser(t)

	resp, page := fetch(t, client, base+"/auth/login?rd=%2Freport", "text/html")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("chooser: %s", resp.Status)
	}
	for _, want := range []string{
		`<a class="button" href="/auth/login?provider=alpha&amp;rd=%2Freport">Continue with Alpha Corp</a>`,
		`<a class="button" href="/auth/login?provider=beta&amp;rd=%2Freport">Continue with beta</a>`,
	} {
		if !strings.Contains(page, want) {
			t.Fatalf("chooser lacks %s:\n%s", want, page)
		}
	}
	assertPageHygiene(t, resp, page)
	s := &site{URL: base}
	if body := s.logIn(t, client, "/auth/login?provider=beta&rd=%2Freport"); !strings.Contains(body, "provider=beta") {
		t.Fatalf("choosing beta ended on %s", body)
	}
}

// assertPageHygiene checks what every stauth page promises: no caching, no
// framing, no external resource or script, one inline style allowed by hash,
// light and dark mode, a language.
func assertPageHygiene(t *testing.T, resp *http.Response, page string) {
	t.Helper()
	h := resp.Header
	if h.Get("Cache-Control") != "no-store" || h.Get("X-Frame-Options") != "DENY" || h.Get("Referrer-Policy") != "no-referrer" ||
		!strings.Contains(h.Get("Content-Security-Policy"), "frame-ancestors 'none'") || !strings.Contains(h.Get("Content-Security-Policy"), "default-src 'none'") {
		t.Errorf("page headers: %v", h)
	}
	for _, banned := range []string{"<script", `src="http`, `href="http`, "@import", "url("} {
		if strings.Contains(page, banned) {
			t.Errorf("page holds %q", banned)
		}
	}
	for _, want := range []string{`<html lang="en">`, "prefers-color-scheme:dark", ":focus-visible", `name="viewport"`} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
}

// TestCookieSecretRotation logs in under one secret, rotates to a new one
// with the old as cookie_secret_previous: the session survives and is sealed
// again with the new secret.
func TestCookieSecretRotation(t *testing.T) {
	port := testcaddy.FreePort(t)
	p := startProvider(t, port, devop.Options{})
	secretsWith := func(secret, previous string) string {
		return writeFile(t, secretsFor(fmt.Sprintf("http://localhost:%d/oauth2callback", port), secret, p.MetadataURL, previous))
	}
	const oldSecret, newSecret = "the-old-cookie-secret-0123456789abcdef", "the-new-cookie-secret-0123456789abcdef"
	loadSite(t, port, secretsWith(oldSecret, ""), "")
	s := &site{URL: fmt.Sprintf("http://localhost:%d", port)}
	client := browser(t)
	s.logIn(t, client, "/")
	oldCookies := s.sessionCookies(t, client)
	if len(oldCookies) != 1 {
		t.Fatalf("after login the browser holds %d session cookies, want 1", len(oldCookies))
	}
	oldCookie := oldCookies[0].Value

	loadSite(t, port, secretsWith(newSecret, fmt.Sprintf("cookie_secret_previous = [%q]", oldSecret)), "")
	resp, body := fetch(t, client, s.URL+"/", "text/html")
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "id=demo-user-1") {
		t.Fatalf("after rotation the old session got %s: %s", resp.Status, body)
	}
	newCookies := s.sessionCookies(t, client)
	if len(newCookies) != 1 {
		t.Fatalf("after rotation the browser holds %d session cookies, want 1", len(newCookies))
	}
	newCookie := newCookies[0].Value
	if newCookie == oldCookie {
		t.Fatal("the session was not sealed again with the new secret")
	}

	loadSite(t, port, secretsWith(newSecret, ""), "")
	if resp, _ := fetch(t, client, s.URL+"/", "text/html"); resp.StatusCode != http.StatusOK {
		t.Fatalf("the re-sealed session does not open with the new secret alone: %s", resp.Status)
	}
	stale := &http.Client{}
	req, _ := http.NewRequest(http.MethodGet, s.URL+"/", nil)
	req.Header.Set("Cookie", "stauth_session="+oldCookie)
	resp, err := stale.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("a cookie of a retired secret got %s, want 401", resp.Status)
	}
}

// TestDeniedLoginPage shows the provider's access_denied as a readable page
// with a retry link that starts the same login again.
func TestDeniedLoginPage(t *testing.T) {
	s := newSite(t, "")
	client := browser(t)
	req, _ := http.NewRequest(http.MethodGet, s.URL+"/report?x=1", nil)
	req.Header.Set("Accept", "text/html")
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	id := resp.Request.URL.Query().Get("authRequestID")
	resp, err = client.PostForm(s.Provider.Issuer+"login/username", url.Values{"id": {id}, "action": {"deny"}})
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(string(page), "The sign-in was cancelled or denied") ||
		!strings.Contains(string(page), "access_denied") || !strings.Contains(string(page), `href="/auth/login?provider=default&amp;rd=%2Freport%3Fx%3D1"`) {
		t.Fatalf("denied login: %s\n%s", resp.Status, page)
	}
	assertPageHygiene(t, resp, string(page))
	if len(s.sessionCookies(t, client)) != 0 {
		t.Fatal("a denied login created a session")
	}
}
