package e2e

// Streamlit apps behind stauth (issue 10): the stand-ins of
// e2e/streamlitapps read _streamlit_user as Streamlit does, behind a real
// Caddy with stauth and reverse_proxy, logging in through the development
// provider.

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/stauth/caddy-stauth/e2e/devop"
	"github.com/stauth/caddy-stauth/e2e/streamlitapps"
	"github.com/stauth/caddy-stauth/internal/testcaddy"
)

// streamlitSite is a Caddy with stauth (streamlit_user set) in front of a
// stand-in Streamlit app, logging in through the development provider.
type streamlitSite struct {
	site
	App *streamlitapps.App
	// forged is a _streamlit_user for another user, validly signed with
	// cookie_secret, and a chunk: what a browser might hold (from the app
	// itself before stauth, or stolen) and must never reach the app.
	forged string
}

// startStreamlitSite runs the kind app under base, a provider, and Caddy
// with stauth (streamlit_user kind, then options) and reverse_proxy to the
// app; extra goes into secrets.toml's [auth]. Under a base path, stauth's
// login and logout paths are Streamlit's: <base>/auth/login and
// <base>/auth/logout.
func startStreamlitSite(t *testing.T, kind, base, options, extra string) *streamlitSite {
	t.Helper()
	app := streamlitapps.Start(t, kind, testCookieSecret, base)
	port := testcaddy.FreePort(t)
	p := startProvider(t, port, devop.Options{})
	s := &streamlitSite{site: site{URL: fmt.Sprintf("http://localhost:%d", port), Port: port, Provider: p}, App: app}
	s.forged = "_streamlit_user=" + pythonSign(t, kind, streamlitUserCookieName,
		fmt.Sprintf(`{"email": "mallory@example.com", "is_logged_in": true, "provider": "default", "origin": %q}`, s.URL)) + "; _streamlit_user_1=forged"
	s.Secrets = writeSecrets(t, port, p.MetadataURL, extra)
	if base != "" {
		options = fmt.Sprintf("login_path %s/auth/login\n\t\t\tlogout_path %s/auth/logout\n\t\t\t%s", base, base, options)
	}
	testcaddy.Load(t, testcaddy.Globals(t.TempDir(), port, testcaddy.FreePort(t))+fmt.Sprintf(`
http://localhost:%d {
	route {
		stauth %s {
			streamlit_user %s
			%s
		}
		reverse_proxy 127.0.0.1:%d
	}
}
`, port, s.Secrets, kind, options, app.Port))
	return s
}

// streamlitUserCookieName is the cookie Streamlit keeps the user in.
const streamlitUserCookieName = "_streamlit_user"

// pythonSign signs value for the cookie name with cookie_secret as the kind
// of Streamlit server does, with its own library.
func pythonSign(t *testing.T, kind, name, value string) string {
	t.Helper()
	script := map[string]string{
		streamlitapps.Tornado:   `import sys, tornado.web; print(tornado.web.create_signed_value(sys.argv[1], sys.argv[2], sys.argv[3]).decode())`,
		streamlitapps.Starlette: `import sys, itsdangerous; print(itsdangerous.URLSafeTimedSerializer(sys.argv[1], salt=sys.argv[2]).dumps(sys.argv[3]))`,
	}[kind]
	out, err := exec.Command(streamlitapps.Python, "-c", script, testCookieSecret, name, value).Output()
	if err != nil {
		t.Fatalf("signing a cookie with the %s library: %v", kind, err)
	}
	return strings.TrimSpace(string(out))
}

// browserCookies is the Cookie header the client's jar sends to the site,
// after the forged cookies and the app's own.
func (s *streamlitSite) browserCookies(t *testing.T, client *http.Client) string {
	t.Helper()
	parts := []string{s.forged, "_streamlit_xsrf=2|ab|cd|1800000000"}
	for _, c := range client.Jar.Cookies(mustURL(t, s.URL)) {
		parts = append(parts, c.Name+"="+c.Value)
	}
	return strings.Join(parts, "; ")
}

// stream opens the app's WebSocket through Caddy as Streamlit's front-end
// does, with the browser's cookies and Origin.
func (s *streamlitSite) stream(t *testing.T, client *http.Client) (streamlitapps.Identity, *http.Response) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	header := http.Header{
		"Origin":         {s.URL},
		"Cookie":         {s.browserCookies(t, client)},
		"Sec-Fetch-Mode": {"websocket"},
		"Sec-Fetch-Site": {"same-origin"},
		"Accept":         {"*/*"},
	}
	id, resp, err := streamlitapps.Stream(ctx, s.URL+s.App.Base, header, nil)
	if err != nil {
		t.Fatalf("the WebSocket at %s%s/_stcore/stream: %v", s.URL, s.App.Base, err)
	}
	return id, resp
}

// whoami asks the app's plain HTTP endpoint through Caddy, as a fetch of
// Streamlit's front-end would.
func (s *streamlitSite) whoami(t *testing.T, client *http.Client) (streamlitapps.Identity, *http.Response) {
	t.Helper()
	header := http.Header{"Cookie": {s.browserCookies(t, client)}, "Accept": {"*/*"}, "Sec-Fetch-Mode": {"cors"}, "Origin": {s.URL}}
	id, resp, err := streamlitapps.WhoAmI(&http.Client{Transport: &http.Transport{DisableKeepAlives: true}}, s.URL+s.App.Base, header)
	if err != nil {
		t.Fatalf("whoami: %v", err)
	}
	return id, resp
}

// loggedOutRequests are what Streamlit's front-end sends without a
// session: its polls, its WebSocket and an upload, as fetches.
var loggedOutRequests = []struct{ method, path, accept, mode string }{
	{http.MethodGet, "/_stcore/health", "*/*", "cors"},
	{http.MethodGet, "/_stcore/host-config", "application/json, text/plain, */*", "cors"},
	{http.MethodGet, "/_stcore/health", "text/html, */*", "cors"},
	{http.MethodPut, "/_stcore/upload_file/session/file", "*/*", "cors"},
	{http.MethodGet, "/media/abc.png", "image/avif,image/webp,*/*", "no-cors"},
}

// assertLoggedOutRefused checks that a logged-out client's Streamlit
// requests, the WebSocket included, get 401 and never a redirect.
func (s *streamlitSite) assertLoggedOutRefused(t *testing.T, client *http.Client) {
	t.Helper()
	for _, c := range loggedOutRequests {
		req, err := http.NewRequest(c.method, s.URL+s.App.Base+c.path, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Accept", c.accept)
		req.Header.Set("Sec-Fetch-Mode", c.mode)
		req.Header.Set("Cookie", s.browserCookies(t, client))
		resp, err := noRedirects(&http.Client{Transport: &http.Transport{DisableKeepAlives: true}}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("logged out, %s %s (Accept %s, %s) got %s (Location %q), want 401", c.method, c.path, c.accept, c.mode, resp.Status, resp.Header.Get("Location"))
		}
	}
	id, resp := s.stream(t, client)
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusUnauthorized || id.User != nil || !strings.Contains(string(body), "login_required") {
		t.Errorf("logged out, the WebSocket got %s (Location %q): %s, want 401", resp.Status, resp.Header.Get("Location"), body)
	}
}

// stLogin logs the demo user in as st.login() does: Streamlit's window goes
// to <base>/auth/login?provider=<token signed with cookie_secret>.
func (s *streamlitSite) stLogin(t *testing.T, client *http.Client) {
	t.Helper()
	link := s.App.Base + streamlitLink(t, testCookieSecret, "default", time.Now().Add(2*time.Minute))
	if _, _, err := devop.LogIn(client, s.URL+link, devop.DemoUser.Username, devop.DemoUser.Password); err != nil {
		t.Fatal(err)
	}
	if len(s.sessionCookies(t, client)) == 0 {
		t.Fatal("st.login's link ended without a session")
	}
}

// stLogout logs out as st.logout() does: Streamlit's window goes to
// <base>/auth/logout, a same-origin top-level navigation.
func (s *streamlitSite) stLogout(t *testing.T, client *http.Client) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, s.URL+s.App.Base+"/auth/logout", nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]string{"Sec-Fetch-Mode": "navigate", "Sec-Fetch-Dest": "document", "Sec-Fetch-Site": "same-origin", "Accept": "text/html"} {
		req.Header.Set(k, v)
	}
	resp, err := noRedirects(client).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if len(s.sessionCookies(t, client)) != 0 {
		t.Fatalf("st.logout's navigation to %s left the session (%s): %s", req.URL.Path, resp.Status, body)
	}
}

// TestStreamlitUserThroughCaddy runs each stand-in behind stauth with
// streamlit_user, at the root and under a base path: logged out, its
// requests get 401; after st.login's link its WebSocket handshake carries
// the user (and the exposed tokens), minted by stauth and read by Tornado or
// itsdangerous, while a forged _streamlit_user never reaches it; after
// st.logout's navigation it is refused again.
func TestStreamlitUserThroughCaddy(t *testing.T) {
	for _, c := range []struct {
		kind, base, extra string
		tokens            bool
	}{
		{streamlitapps.Tornado, "", "", false},
		{streamlitapps.Starlette, "", "", false},
		{streamlitapps.Tornado, "/app", `expose_tokens = ["id", "access"]`, true},
		{streamlitapps.Starlette, "/app", `expose_tokens = ["id", "access"]`, true},
	} {
		t.Run(c.kind+c.base, func(t *testing.T) {
			s := startStreamlitSite(t, c.kind, c.base, "", c.extra)
			client := browser(t)
			s.assertLoggedOutRefused(t, client)

			s.stLogin(t, client)
			id, resp := s.stream(t, client)
			if resp.StatusCode != http.StatusSwitchingProtocols {
				t.Fatalf("logged in, the WebSocket got %s", resp.Status)
			}
			raw, _ := json.Marshal(id.User)
			t.Logf("%s app's _streamlit_user, as it decoded it: %s", c.kind, raw)
			u := id.User
			if u["email"] != devop.DemoUser.Email || u["name"] != "Dana Demo" || u["provider"] != "default" ||
				u["is_logged_in"] != true || u["sub"] != "demo-user-1" {
				t.Errorf("the app sees the user %v", u)
			}
			if id.Origin == nil || u["origin"] != *id.Origin || u["origin"] != s.URL {
				t.Errorf("the payload's origin %v is not the browser's Origin %v (%s)", u["origin"], id.Origin, s.URL)
			}
			if c.tokens {
				idToken, _ := id.Tokens["id_token"].(string)
				access, _ := id.Tokens["access_token"].(string)
				if strings.Count(idToken, ".") != 2 || access == "" {
					t.Errorf("the app's _streamlit_user_tokens lacks an exposed token: keys %v", keys(id.Tokens))
				}
				t.Logf("%s app's _streamlit_user_tokens holds %v (id_token %d bytes, access_token %d bytes)", c.kind, keys(id.Tokens), len(idToken), len(access))
			} else if id.Tokens != nil {
				t.Errorf("tokens reach the app without expose_tokens: keys %v", keys(id.Tokens))
			}

			// Another request than the handshake: passed on, with no
			// _streamlit_user at all.
			who, resp := s.whoami(t, client)
			if resp.StatusCode != http.StatusOK || who.User != nil || who.Tokens != nil {
				t.Errorf("whoami got %s with user %v, tokens %v; want 200 with neither", resp.Status, who.User, keys(who.Tokens))
			}

			s.stLogout(t, client)
			s.assertLoggedOutRefused(t, client)
		})
	}
}

// keys lists a map's keys, to report tokens without their values.
func keys(m map[string]any) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// TestStreamlitUserAnonymous shows that with anonymous a logged-out
// browser's Streamlit requests pass, with no user even when it forges one,
// and the user appears once logged in and goes at logout.
func TestStreamlitUserAnonymous(t *testing.T) {
	for _, kind := range []string{streamlitapps.Tornado, streamlitapps.Starlette} {
		t.Run(kind, func(t *testing.T) {
			s := startStreamlitSite(t, kind, "/app", "anonymous", "")
			client := browser(t)
			loggedOut := func(when string) {
				t.Helper()
				id, resp := s.stream(t, client)
				if resp.StatusCode != http.StatusSwitchingProtocols || id.User != nil || id.Tokens != nil {
					t.Errorf("%s, the WebSocket got %s with user %v", when, resp.Status, id.User)
				}
				who, resp := s.whoami(t, client)
				if resp.StatusCode != http.StatusOK || who.User != nil {
					t.Errorf("%s, whoami got %s with user %v", when, resp.Status, who.User)
				}
			}
			loggedOut("before login")
			s.stLogin(t, client)
			if id, _ := s.stream(t, client); id.User["email"] != devop.DemoUser.Email {
				t.Errorf("logged in, the WebSocket shows %v", id.User)
			}
			s.stLogout(t, client)
			loggedOut("after logout")
		})
	}
}

// TestBrowserStreamlitUser has Chromium use the Tornado stand-in under a
// base path behind stauth: the page sends it to log in, then the page's
// script opens the WebSocket at /app/_stcore/stream as Streamlit's
// front-end does, and shows the user the app read there; the payload's
// origin is the Origin Chromium sent. No _streamlit_user cookie ever
// reaches the browser. The page's link to /app/auth/logout, a same-origin
// navigation as st.logout() makes, signs out and ends on the signed-out
// page.
func TestBrowserStreamlitUser(t *testing.T) {
	chromiumPath(t)
	s := startStreamlitSite(t, streamlitapps.Tornado, "/app", "", "")
	c := newChrome(t)
	b := c.tab("app")
	b.open(s.URL+"/app/", "#username")
	zitadelProvider.logIn(b)
	b.waitFor("#received")
	for sel, want := range map[string]string{"#email": devop.DemoUser.Email, "#name": "Dana Demo", "#provider": "default", "#origin": s.URL, "#browser-origin": s.URL} {
		if got := b.text(chromedp.CSS(sel)); got != want {
			t.Errorf("the page shows %s %q, want %q", sel, got, want)
		}
	}
	if got := b.url(); got != s.URL+"/app/" {
		t.Errorf("after the login the browser is at %s, want %s/app/", got, s.URL)
	}
	if names := b.cookieNames(s.URL, "_streamlit_user"); len(names) != 0 {
		t.Errorf("the browser holds %v: stauth must send no Streamlit cookie to it", names)
	}
	b.click("#logout")
	// The browser ends on stauth's signed-out page, whose link logs in again.
	b.waitFor(chromedp.CSS(`main a.primary[href="/app/auth/login"]`))
	if names := b.cookieNames(s.URL, "stauth_session"); len(names) != 0 {
		t.Fatalf("after st.logout's navigation the browser still holds %v", names)
	}
}
