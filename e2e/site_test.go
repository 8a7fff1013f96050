package e2e

import (
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	_ "github.com/stauth/caddy-stauth"
	"github.com/stauth/caddy-stauth/e2e/devop"
	"github.com/stauth/caddy-stauth/internal/testcaddy"
)

// testCookieSecret is the cookie_secret of every test site.
const testCookieSecret = "e2e-cookie-secret-0123456789abcdef0123456789"

// site is a real Caddy with stauth in front of a page that prints the
// identity placeholders, logging in through a real provider.
type site struct {
	URL      string // http://localhost:PORT
	Port     int
	Secrets  string // path of secrets.toml
	Provider *devop.Provider
}

// identityPage is what the protected site answers: the placeholders, and the
// Cookie header the next handler sees.
const identityPage = `id={http.auth.user.id} email={http.auth.user.email} name={http.auth.user.name} logged_in={http.auth.user.is_logged_in} provider={http.auth.user.provider} cookie=[{http.request.header.Cookie}]`

// startProvider runs a development provider for a site on port.
func startProvider(t *testing.T, port int, o devop.Options) *devop.Provider {
	t.Helper()
	if len(o.RedirectURIs) == 0 {
		o.RedirectURIs = []string{fmt.Sprintf("http://localhost:%d/oauth2callback", port)}
	}
	p, err := devop.Start(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// writeSecrets writes a secrets.toml for one provider and returns its path.
func writeSecrets(t *testing.T, port int, metadataURL, extra string) string {
	t.Helper()
	return writeFile(t, secretsFor(fmt.Sprintf("http://localhost:%d/oauth2callback", port), testCookieSecret, metadataURL, extra))
}

// secretsFor is the text of a secrets.toml with the unnamed provider of a
// development provider at metadataURL; extra goes into [auth].
func secretsFor(redirectURI, cookieSecret, metadataURL, extra string) string {
	return fmt.Sprintf(`[auth]
redirect_uri = %q
cookie_secret = %q
client_id = "stauth"
client_secret = "stauth-dev-secret"
server_metadata_url = %q
%s
`, redirectURI, cookieSecret, metadataURL, extra)
}

// writeFile writes a secrets file (readable by its owner only) into a temp
// dir and returns its path.
func writeFile(t *testing.T, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "secrets.toml")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// loadSite runs Caddy on port with stauth (and its options) in front of the
// identity page.
func loadSite(t *testing.T, port int, secretsPath, options string) {
	t.Helper()
	loadSitePage(t, port, secretsPath, options, identityPage)
}

// loadSitePage runs Caddy on port with stauth in front of a page answering
// body, placeholders replaced.
func loadSitePage(t *testing.T, port int, secretsPath, options, body string) {
	t.Helper()
	testcaddy.Load(t, testcaddy.Globals(t.TempDir(), port, testcaddy.FreePort(t))+fmt.Sprintf(`
http://localhost:%d {
	route {
		stauth %s {
			%s
		}
		respond %q
	}
}
`, port, secretsPath, options, body))
}

// newSite starts a provider and a Caddy protecting the identity page.
func newSite(t *testing.T, options string) *site {
	t.Helper()
	port := testcaddy.FreePort(t)
	p := startProvider(t, port, devop.Options{})
	s := &site{URL: fmt.Sprintf("http://localhost:%d", port), Port: port, Provider: p}
	s.Secrets = writeSecrets(t, port, p.MetadataURL, "")
	loadSite(t, port, s.Secrets, options)
	return s
}

// browser is an HTTP client with a cookie jar that follows redirects. It
// opens a connection per request, so a Caddy config reload in the test
// never meets a connection the old config closed.
func browser(t *testing.T) *http.Client {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Jar: jar, Transport: &http.Transport{DisableKeepAlives: true}}
}

// noRedirects returns a copy of client that stops at the first redirect.
func noRedirects(client *http.Client) *http.Client {
	c := *client
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &c
}

// get requests url with an Accept header, not following redirects.
func get(t *testing.T, client *http.Client, url, accept string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	resp, err := noRedirects(client).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

// refreshPattern finds the target of a page's meta refresh.
var refreshPattern = regexp.MustCompile(`<meta http-equiv="refresh" content="0;url=([^"]*)">`)

// logOut presses the page's sign-out button (a POST from the site) and
// returns where stauth sends the browser: the Location of a 303, or the
// meta refresh of its "Signing you out" page, which carries an ID token.
func logOut(t *testing.T, client *http.Client, siteURL string) *url.URL {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, siteURL+"/auth/logout", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	resp, err := noRedirects(client).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	target := resp.Header.Get("Location")
	if m := refreshPattern.FindSubmatch(body); resp.StatusCode == http.StatusOK && m != nil {
		target = html.UnescapeString(string(m[1]))
	} else if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("logout answered %s, want a redirect or a refresh", resp.Status)
	}
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// logIn logs the demo user in, starting at path, and returns the page body.
func (s *site) logIn(t *testing.T, client *http.Client, path string) string {
	t.Helper()
	resp, body, err := devop.LogIn(client, s.URL+path, devop.DemoUser.Username, devop.DemoUser.Password)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("login ended with %s: %s", resp.Status, body)
	}
	return string(body)
}

// sessionCookies lists the stauth session cookies the jar holds for the site.
func (s *site) sessionCookies(t *testing.T, client *http.Client) []*http.Cookie {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, s.URL, nil)
	var out []*http.Cookie
	for _, c := range client.Jar.Cookies(req.URL) {
		if strings.HasPrefix(c.Name, "stauth_session") {
			out = append(out, c)
		}
	}
	return out
}
