package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/stauth/caddy-stauth/e2e/devop"
	"github.com/stauth/caddy-stauth/internal/testcaddy"
)

// TestLoginFlow walks the whole life of a session against a real provider:
// protected page, login, callback, identity in placeholders, user JSON,
// logout at the provider, logged out.
func TestLoginFlow(t *testing.T) {
	s := newSite(t, "")
	client := browser(t)

	resp := get(t, client, s.URL+"/page?q=1", "text/html")
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/auth/login?rd=%2Fpage%3Fq%3D1" {
		t.Fatalf("protected page: %s to %q, want 303 to the login with rd", resp.Status, resp.Header.Get("Location"))
	}

	client.Jar.SetCookies(mustURL(t, s.URL), []*http.Cookie{{Name: "app", Value: "kept"}})
	body := s.logIn(t, client, "/page?q=1")
	want := "id=demo-user-1 email=demo@example.com name=Dana Demo logged_in=true provider=default cookie=[app=kept]"
	if body != want {
		t.Fatalf("after login the page says\n%s\nwant\n%s", body, want)
	}

	user := userJSON(t, client, s.URL)
	if user["is_logged_in"] != true || user["email"] != "demo@example.com" || user["provider"] != "default" || user["sub"] != "demo-user-1" {
		t.Fatalf("user JSON after login: %v", user)
	}
	if _, has := user["tokens"]; has {
		t.Fatalf("user JSON shows tokens that are not exposed: %v", user)
	}

	end := logOut(t, client, s.URL)
	if !strings.HasPrefix(end.String(), s.Provider.Issuer) {
		t.Fatalf("logout sends the browser to %q, want the provider's end_session_endpoint", end)
	}
	q := end.Query()
	if q.Get("id_token_hint") == "" || q.Get("client_id") != "stauth" || q.Get("post_logout_redirect_uri") != s.URL+"/oauth2callback" {
		t.Fatalf("logout at the provider lacks id_token_hint, client_id or post_logout_redirect_uri: %v", q)
	}
	if len(s.sessionCookies(t, client)) != 0 {
		t.Fatal("the session cookie survived logout")
	}
	if err := devop.ReturnFromLogout(client, end, s.URL); err != nil {
		t.Fatal(err)
	}
	if user := userJSON(t, client, s.URL); user["is_logged_in"] != false || len(user) != 1 {
		t.Fatalf("user JSON after logout: %v", user)
	}
	if resp := get(t, client, s.URL+"/page", "application/json"); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("an API call after logout got %s, want 401", resp.Status)
	}
}

// TestCallbackWithWrongStateIsRefused shows a callback whose state matches
// no login of this browser is refused with no session, before its code is
// redeemed: the provider's real code, sent with a wrong state, is refused,
// and the same code still completes the login when it comes back with the
// right state (the provider honours a code once).
func TestCallbackWithWrongStateIsRefused(t *testing.T) {
	s := newSite(t, "")
	client := browser(t)
	// The browser signs in at the provider and stops at the redirect to
	// stauth's callback.
	stopAtCallback := *client
	stopAtCallback.CheckRedirect = func(req *http.Request, _ []*http.Request) error {
		if req.URL.Path == "/oauth2callback" {
			return http.ErrUseLastResponse
		}
		return nil
	}
	resp, body, err := devop.LogIn(&stopAtCallback, s.URL+"/auth/login", devop.DemoUser.Username, devop.DemoUser.Password)
	if err != nil {
		t.Fatal(err)
	}
	callback, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		t.Fatalf("the provider's redirect to the callback: %v", err)
	}
	q := callback.Query()
	if resp.StatusCode != http.StatusFound || callback.Path != "/oauth2callback" || q.Get("code") == "" || q.Get("state") == "" {
		t.Fatalf("the provider answered the login with %s to %q, want 302 to the callback with a code and a state\n%s", resp.Status, callback, body)
	}

	wrong := *callback
	wrongQuery := callback.Query()
	wrongQuery.Set("state", "not-the-state")
	wrong.RawQuery = wrongQuery.Encode()
	resp = get(t, client, wrong.String(), "text/html")
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("callback with a wrong state: %s, want 400", resp.Status)
	}
	if len(s.sessionCookies(t, client)) != 0 {
		t.Fatal("a refused callback created a session")
	}

	resp = get(t, client, callback.String(), "text/html")
	if resp.StatusCode != http.StatusSeeOther || len(s.sessionCookies(t, client)) == 0 {
		t.Fatalf("the same code with the right state: %s, want 303 and a session: the refused callback redeemed the code", resp.Status)
	}
}

// TestTamperedSessionIsNoSession flips one character of a real session
// cookie: the site must treat the browser as logged out.
func TestTamperedSessionIsNoSession(t *testing.T) {
	s := newSite(t, "")
	client := browser(t)
	s.logIn(t, client, "/")
	cookies := s.sessionCookies(t, client)
	if len(cookies) != 1 {
		t.Fatalf("want one session cookie, got %d", len(cookies))
	}
	c := cookies[0]
	mid := len(c.Value) / 2
	flipped := byte('A')
	if c.Value[mid] == 'A' {
		flipped = 'B'
	}
	req, _ := http.NewRequest(http.MethodGet, s.URL+"/", nil)
	req.Header.Set("Cookie", c.Name+"="+c.Value[:mid]+string(flipped)+c.Value[mid+1:])
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("a tampered session cookie got %s, want 401", resp.Status)
	}
	if !deletesCookie(resp, c.Name) {
		t.Fatalf("the tampered cookie was not deleted: %v", resp.Header["Set-Cookie"])
	}
}

// TestProviderDownAtStart starts Caddy while the provider is down: Caddy
// runs, a login gets a 503 page, and once the provider is up the login works
// without a restart.
func TestProviderDownAtStart(t *testing.T) {
	port, opPort := testcaddy.FreePort(t), testcaddy.FreePort(t)
	metadataURL := fmt.Sprintf("http://localhost:%d/.well-known/openid-configuration", opPort)
	loadSite(t, port, writeSecrets(t, port, metadataURL, ""), "")
	base := fmt.Sprintf("http://localhost:%d", port)
	client := browser(t)

	resp, err := noRedirects(client).Get(base + "/auth/login")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(page), "Try again") {
		t.Fatalf("login with the provider down: %s, want a 503 page with a retry link:\n%s", resp.Status, page)
	}

	startProvider(t, port, devop.Options{Addr: fmt.Sprintf("localhost:%d", opPort)})
	s := &site{URL: base, Port: port}
	if body := s.logIn(t, client, "/"); !strings.Contains(body, "id=demo-user-1") {
		t.Fatalf("after the provider came up, the page says %s", body)
	}
}

func userJSON(t *testing.T, client *http.Client, base string) map[string]any {
	t.Helper()
	resp, err := client.Get(base + "/auth/user")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.Header.Get("Cache-Control") != "no-store" || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("user JSON headers: %v", resp.Header)
	}
	var user map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&user); err != nil {
		t.Fatal(err)
	}
	return user
}

func deletesCookie(resp *http.Response, name string) bool {
	for _, c := range resp.Cookies() {
		if c.Name == name && c.MaxAge < 0 {
			return true
		}
	}
	return false
}

func mustURL(t *testing.T, raw string) *url.URL {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return u
}
