package stauth

// Helpers of the attack tests (attack_*_test.go): a real Caddy running
// stauth in front of a page that prints the identity placeholders, logging
// in through a hostile OpenID provider (internal/hostileop), and a browser
// that steps through the flow one redirect at a time so a test can tamper
// with any step.
//
// There is one Caddy per process: these tests never run in parallel.

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stauth/caddy-stauth/internal/hostileop"
	"github.com/stauth/caddy-stauth/internal/testcaddy"
)

// atkCookieSecret is the cookie_secret of every attack test site.
const atkCookieSecret = "attack-test-cookie-secret-0123456789abcdef"

// atkIdentityPage is what the protected site answers: the placeholders and
// the Cookie header the next handler sees.
const atkIdentityPage = `id={http.auth.user.id} email={http.auth.user.email} name={http.auth.user.name} ` +
	`logged_in={http.auth.user.is_logged_in} provider={http.auth.user.provider} cookie=[{http.request.header.Cookie}]`

// testSite is a Caddy with stauth, on http://localhost:PORT, whose site
// block has no host matcher (http://:PORT), so forged Host headers reach
// stauth.
type testSite struct {
	URL      string // http://localhost:PORT
	Port     int
	Redirect string // redirect_uri
	// OP is the unnamed provider (nil with named providers or
	// metadataURL, until a test sets it).
	OP *hostileop.Provider
	// Storage is the directory of Caddy's file-system storage.
	Storage string
}

// siteOptions sets up a site.
type siteOptions struct {
	// behaviour is the initial behaviour of the (single, unnamed) provider.
	behaviour hostileop.Behaviour
	// providers, when set, are named providers ([auth.NAME]) instead.
	providers map[string]*hostileop.Provider
	// ownRedirects gives each named provider its own redirect_uri,
	// /oauth2callback/NAME.
	ownRedirects bool
	// metadataURL, when set, is the unnamed provider's server_metadata_url
	// (for a provider that is not running yet).
	metadataURL string
	// stauth are option lines for the stauth block.
	stauth string
	// redirectURI overrides redirect_uri (may hold {port}).
	redirectURI string
	// body is the protected page; default atkIdentityPage.
	body string
	// handler, when set, replaces the respond line after stauth.
	handler string
	// kwargs is the unnamed provider's client_kwargs inline table body,
	// such as: acr_values = "mfa".
	kwargs string
	// authExtra are more lines for [auth], such as expose_tokens.
	authExtra string
	// before are handler lines before stauth in the site's route.
	before string
	// storageOf, when set, is a site whose Caddy storage this one shares.
	storageOf *testSite
	// matcher, when set, is a path pattern: stauth takes only the requests
	// it matches (stauth @gated …).
	matcher string
	// adminPort, when set, turns the admin API on at localhost:adminPort
	// with the metrics global option.
	adminPort int
}

// newTestSite starts a hostile provider (unless given) and a Caddy.
func newTestSite(t *testing.T, o siteOptions) *testSite {
	t.Helper()
	port := testcaddy.FreePort(t)
	s := &testSite{URL: fmt.Sprintf("http://localhost:%d", port), Port: port}
	s.Redirect = s.URL + "/oauth2callback"
	if o.redirectURI != "" {
		s.Redirect = o.redirectURI
	}
	var text strings.Builder
	fmt.Fprintf(&text, "[auth]\nredirect_uri = %q\ncookie_secret = %q\n%s\n", s.Redirect, atkCookieSecret, o.authExtra)
	switch {
	case o.providers != nil:
		names := make([]string, 0, len(o.providers))
		for name := range o.providers {
			names = append(names, name)
		}
		slices.Sort(names)
		for _, name := range names {
			op := o.providers[name]
			fmt.Fprintf(&text, "[auth.%s]\nclient_id = %q\nclient_secret = %q\nserver_metadata_url = %q\n", name, op.ClientID, op.ClientSecret, op.MetadataURL)
			if o.ownRedirects {
				fmt.Fprintf(&text, "redirect_uri = %q\n", s.Redirect+"/"+name)
			}
		}
	case o.metadataURL != "":
		fmt.Fprintf(&text, "client_id = %q\nclient_secret = %q\nserver_metadata_url = %q\n", hostileop.DefaultClientID, hostileop.DefaultClientSecret, o.metadataURL)
	default:
		s.OP = hostileop.New(t, hostileop.Config{Behaviour: o.behaviour})
		fmt.Fprintf(&text, "client_id = %q\nclient_secret = %q\nserver_metadata_url = %q\n", s.OP.ClientID, s.OP.ClientSecret, s.OP.MetadataURL)
		if o.kwargs != "" {
			fmt.Fprintf(&text, "client_kwargs = { %s }\n", o.kwargs)
		}
	}
	secretsPath := filepath.Join(t.TempDir(), "secrets.toml")
	if err := os.WriteFile(secretsPath, []byte(text.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	body := o.body
	if body == "" {
		body = atkIdentityPage
	}
	handler := fmt.Sprintf("respond %q", body)
	if o.handler != "" {
		handler = o.handler
	}
	matcher := ""
	if o.matcher != "" {
		matcher = "@gated "
	}
	dir := t.TempDir()
	if o.storageOf != nil {
		dir = filepath.Dir(o.storageOf.Storage) // the same Caddy storage, as instances of a cluster
	}
	s.Storage = filepath.Join(dir, "caddy-storage")
	globals := testcaddy.Globals(dir, port, testcaddy.FreePort(t))
	if o.adminPort != 0 {
		globals = strings.Replace(globals, "admin off", fmt.Sprintf("admin localhost:%d\n\tmetrics", o.adminPort), 1)
	}
	testcaddy.Load(t, globals+fmt.Sprintf(`
http://:%d {
	@gated path %s
	route {
		%s
		stauth %s%s {
			%s
		}
		%s
	}
}
`, port, cmp.Or(o.matcher, "/never-matched"), o.before, matcher, secretsPath, o.stauth, handler))
	return s
}

// sealer returns the sealer of the site's cookies for purpose, keyed from
// secret.
func (s *testSite) sealer(t testing.TB, purpose, secret string) *sealer {
	u := mustParseURL(t, s.Redirect)
	return mustSiteSealer(t, purpose, u.Scheme+"://"+u.Host, secret)
}

// jar returns a cookie jar like the site's.
func (s *testSite) jar(t testing.TB) *cookieJar {
	u := mustParseURL(t, s.Redirect)
	jar, err := newCookieJar(jarConfig{secrets: []string{atkCookieSecret}, site: u.Scheme + "://" + u.Host, ttl: DefaultSessionTTL, logoutPath: DefaultLogoutPath})
	if err != nil {
		t.Fatal(err)
	}
	return jar
}

// sameOriginNavigation are the Fetch Metadata headers of a browser
// following a link of the site itself.
var sameOriginNavigation = []string{"Sec-Fetch-Site", "same-origin", "Sec-Fetch-Mode", "navigate", "Sec-Fetch-Dest", "document"}

// refreshPattern finds the target of a page's meta refresh.
var refreshPattern = regexp.MustCompile(`<meta http-equiv="refresh" content="0;url=([^"]*)">`)

// logoutTarget is where a logout answer sends the browser: the Location of
// a 303, or the meta refresh of the "Signing you out" page (which keeps the
// ID token out of Location headers).
func logoutTarget(t testing.TB, status int, location, body string) *url.URL {
	t.Helper()
	if status == http.StatusSeeOther {
		return mustParseURL(t, location)
	}
	m := refreshPattern.FindStringSubmatch(body)
	if status != http.StatusOK || m == nil {
		t.Fatalf("logout answered %d with neither a redirect nor a refresh", status)
	}
	return mustParseURL(t, html.UnescapeString(m[1]))
}

// testBrowser is a browser with its own cookie jar that never follows a
// redirect by itself.
type testBrowser struct {
	t    *testing.T
	site *testSite
	jar  *cookiejar.Jar
	c    *http.Client
	// ctx, when set, bounds every request (see withContext).
	ctx context.Context
}

// browser returns a new browser reporting to t.
func (s *testSite) browser(t *testing.T) *testBrowser {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	tr := &http.Transport{DisableKeepAlives: true}
	return &testBrowser{t: t, site: s, jar: jar, c: &http.Client{
		Jar:           jar,
		Transport:     tr,
		Timeout:       time.Minute,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

// in returns the browser reporting to t (a subtest).
func (b *testBrowser) in(t *testing.T) *testBrowser {
	c := *b
	c.t = t
	return &c
}

// withContext returns the browser with its requests bound to ctx: a request
// still unanswered when ctx ends fails the test.
func (b *testBrowser) withContext(ctx context.Context) *testBrowser {
	c := *b
	c.ctx = ctx
	return &c
}

// testResp is a response with its body read.
type testResp struct {
	*http.Response
	Body string
}

// abs resolves a site path (or returns an absolute URL unchanged).
func (s *testSite) abs(target string) string {
	if strings.HasPrefix(target, "http://") || strings.HasPrefix(target, "https://") {
		return target
	}
	return s.URL + target
}

// get requests target as a browser navigation (Accept: text/html), with
// extra headers as name, value pairs ("Host" sets the Host header).
func (b *testBrowser) get(target string, headers ...string) *testResp {
	b.t.Helper()
	return b.do(http.MethodGet, target, append([]string{"Accept", "text/html,application/xhtml+xml"}, headers...)...)
}

// do sends one request and reads the answer.
func (b *testBrowser) do(method, target string, headers ...string) *testResp {
	b.t.Helper()
	ctx := b.ctx
	if ctx == nil {
		ctx = context.Background()
	}
	req, err := http.NewRequestWithContext(ctx, method, b.site.abs(target), nil)
	if err != nil {
		b.t.Fatal(err)
	}
	client := b.c
	for i := 0; i+1 < len(headers); i += 2 {
		if headers[i] == "Host" {
			req.Host = headers[i+1]
		} else {
			req.Header.Set(headers[i], headers[i+1])
		}
	}
	if req.Host != "" && req.Host != req.URL.Host {
		// Go's client keys cookies by a forged Host; a browser behind a
		// proxy that forges it still keeps them for the URL it visits.
		bare := *b.c
		bare.Jar = nil
		client = &bare
		for _, c := range b.jar.Cookies(req.URL) {
			req.AddCookie(c)
		}
	}
	resp, err := client.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			b.t.Fatalf("%s %s: no answer before the test's deadline: %v", method, target, err)
		}
		b.t.Fatalf("%s %s: %v", method, target, err)
	}
	defer resp.Body.Close()
	if client != b.c {
		b.jar.SetCookies(req.URL, resp.Cookies())
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		b.t.Fatalf("%s %s: reading the body: %v", method, target, err)
	}
	return &testResp{Response: resp, Body: string(body)}
}

// startLogin opens the login endpoint (path with its query) and returns the
// authorization request stauth redirects to.
func (b *testBrowser) startLogin(path string, headers ...string) *url.URL {
	b.t.Helper()
	resp := b.get(path, headers...)
	if resp.StatusCode != http.StatusSeeOther {
		b.t.Fatalf("GET %s: %s, want 303 to the provider\n%s", path, resp.Status, resp.Body)
	}
	u, err := url.Parse(resp.Header.Get("Location"))
	if err != nil || u.Host == "" {
		b.t.Fatalf("GET %s: Location %q is not the provider's authorization endpoint", path, resp.Header.Get("Location"))
	}
	return u
}

// authorize visits the provider's authorization endpoint and returns the
// callback URL the provider sends the browser back to.
func (b *testBrowser) authorize(authURL *url.URL) *url.URL {
	b.t.Helper()
	resp := b.get(authURL.String())
	if resp.StatusCode != http.StatusFound {
		b.t.Fatalf("the provider's authorize endpoint: %s\n%s", resp.Status, resp.Body)
	}
	u, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		b.t.Fatal(err)
	}
	return u
}

// logIn runs a login from path to the callback's answer.
func (b *testBrowser) logIn(path string) *testResp {
	b.t.Helper()
	return b.get(b.authorize(b.startLogin(path)).String())
}

// mustLogIn logs in from path and checks the login ends with a 303 to want
// and sets a session.
func (b *testBrowser) mustLogIn(path, want string) {
	b.t.Helper()
	resp := b.logIn(path)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != want {
		b.t.Fatalf("login: %s to %q, want 303 to %q\n%s", resp.Status, resp.Header.Get("Location"), want, resp.Body)
	}
	if !setsSession(resp) {
		b.t.Fatalf("login: no session cookie set: %q", resp.Header["Set-Cookie"])
	}
}

// isSessionCookie tells whether name is a stauth session cookie (or chunk).
func isSessionCookie(name string) bool {
	return strings.HasPrefix(name, "stauth_session") || strings.HasPrefix(name, "__Host-stauth_session")
}

// setsSession tells whether the response sets (not deletes) a session cookie.
func setsSession(resp *testResp) bool {
	for _, c := range resp.Cookies() {
		if isSessionCookie(c.Name) && c.MaxAge >= 0 && c.Value != "" {
			return true
		}
	}
	return false
}

// isLoginCookie tells whether name is a stauth login transaction cookie.
func isLoginCookie(name string) bool {
	return strings.HasPrefix(name, "stauth_login_") || strings.HasPrefix(name, "__Host-stauth_login_")
}

// setsLoginCookie tells whether the response sets (not deletes) a login
// transaction cookie, that is, whether it starts a login.
func setsLoginCookie(resp *testResp) bool {
	for _, c := range resp.Cookies() {
		if isLoginCookie(c.Name) && c.MaxAge >= 0 && c.Value != "" {
			return true
		}
	}
	return false
}

// deletes tells whether the response deletes the named cookie.
func deletes(resp *testResp, name string) bool {
	for _, c := range resp.Cookies() {
		if c.Name == name && c.MaxAge < 0 {
			return true
		}
	}
	return false
}

// sessionCookies are the session cookies the browser holds for the site.
func (b *testBrowser) sessionCookies() []*http.Cookie {
	var out []*http.Cookie
	for _, c := range b.jar.Cookies(mustParseURL(b.t, b.site.URL)) {
		if isSessionCookie(c.Name) {
			out = append(out, c)
		}
	}
	return out
}

// cookie returns the value of the named cookie the browser holds.
func (b *testBrowser) cookie(name string) string {
	for _, c := range b.jar.Cookies(mustParseURL(b.t, b.site.URL)) {
		if c.Name == name {
			return c.Value
		}
	}
	return ""
}

// setCookies replaces the browser's cookies for the site by name.
func (b *testBrowser) setCookies(cookies ...*http.Cookie) {
	for _, c := range cookies {
		if c.Path == "" {
			c.Path = "/"
		}
	}
	b.jar.SetCookies(mustParseURL(b.t, b.site.URL), cookies)
}

// clearSession removes the browser's session cookies.
func (b *testBrowser) clearSession() {
	var gone []*http.Cookie
	for _, c := range b.sessionCookies() {
		gone = append(gone, &http.Cookie{Name: c.Name, Path: "/", MaxAge: -1})
	}
	b.jar.SetCookies(mustParseURL(b.t, b.site.URL), gone)
}

func mustParseURL(t testing.TB, raw string) *url.URL {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// user returns the user JSON the browser gets.
func (b *testBrowser) user() map[string]any {
	b.t.Helper()
	resp := b.do(http.MethodGet, "/auth/user", "Accept", "application/json")
	var user map[string]any
	if resp.StatusCode != http.StatusOK || json.Unmarshal([]byte(resp.Body), &user) != nil {
		b.t.Fatalf("/auth/user: %s %q", resp.Status, resp.Body)
	}
	return user
}

// assertLoggedOut proves the browser has no session: the user JSON says
// so, an API call gets 401, a page load is sent to log in.
func (b *testBrowser) assertLoggedOut() {
	b.t.Helper()
	if user := b.user(); user["is_logged_in"] != false || len(user) != 1 {
		b.t.Errorf("not logged out: /auth/user says %v", user)
	}
	if resp := b.do(http.MethodGet, "/private", "Accept", "application/json"); resp.StatusCode != http.StatusUnauthorized {
		b.t.Errorf("not logged out: an API call got %s: %s", resp.Status, resp.Body)
	}
	if resp := b.get("/private"); resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/auth/login?") {
		b.t.Errorf("not logged out: a page load got %s to %q: %s", resp.Status, resp.Header.Get("Location"), resp.Body)
	}
}

// assertLoggedInAs proves the identity reaches the next handler and returns
// the page.
func (b *testBrowser) assertLoggedInAs(sub string) string {
	b.t.Helper()
	resp := b.get("/private")
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Body, "id="+sub+" ") || !strings.Contains(resp.Body, "logged_in=true") {
		b.t.Fatalf("want the page for %s, got %s: %s", sub, resp.Status, resp.Body)
	}
	return resp.Body
}

// assertRefused checks a refused callback or login: a status in
// [lo, hi], an HTML page of stauth's (not a 500, no internals), no session
// cookie set, and the browser not logged in afterwards.
func (b *testBrowser) assertRefused(resp *testResp, lo, hi int) {
	b.t.Helper()
	if resp.StatusCode < lo || resp.StatusCode > hi {
		b.t.Errorf("status %s, want %d..%d (page: %q)", resp.Status, lo, hi, pageTitle(resp.Body))
	}
	assertStauthPage(b.t, resp)
	if setsSession(resp) {
		b.t.Errorf("a refused request set a session cookie: %q", resp.Header["Set-Cookie"])
	}
	for _, leak := range []string{"oidc:", "go-jose", "oauth2:", "panic", hostileop.DefaultClientSecret, atkCookieSecret} {
		if strings.Contains(resp.Body, leak) {
			b.t.Errorf("the page shows internals (%q): %s", leak, resp.Body)
		}
	}
	b.assertLoggedOut()
}

// assertStauthPage checks the headers every stauth page carries.
func assertStauthPage(t *testing.T, resp *testResp) {
	t.Helper()
	h := resp.Header
	if !strings.HasPrefix(h.Get("Content-Type"), "text/html") {
		t.Errorf("Content-Type %q, want an HTML page", h.Get("Content-Type"))
	}
	assertAuthHeaders(t, resp)
}

// assertAuthHeaders checks the headers of every auth response (DESIGN:
// no-store; pages not framed, no Referer sent on).
func assertAuthHeaders(t *testing.T, resp *testResp) {
	t.Helper()
	h := resp.Header
	if h.Get("Cache-Control") != "no-store" {
		t.Errorf("Cache-Control %q, want no-store", h.Get("Cache-Control"))
	}
	if h.Get("X-Frame-Options") != "DENY" || !strings.Contains(h.Get("Content-Security-Policy"), "frame-ancestors 'none'") {
		t.Errorf("the response may be framed: X-Frame-Options %q, CSP %q", h.Get("X-Frame-Options"), h.Get("Content-Security-Policy"))
	}
	if h.Get("Referrer-Policy") != "no-referrer" {
		t.Errorf("Referrer-Policy %q, want no-referrer", h.Get("Referrer-Policy"))
	}
}

// assertNoTokenRequest checks that the provider's token endpoint was never
// called.
func assertNoTokenRequest(t *testing.T, op *hostileop.Provider) {
	t.Helper()
	if reqs := op.Requests(hostileop.Token); len(reqs) != 0 {
		t.Errorf("the provider got %d token request(s); the callback must be refused before the code is redeemed (first: %+v)", len(reqs), reqs[0].Form)
	}
}

// withParam returns u with the query parameter key set to values (none
// deletes it).
func withParam(u *url.URL, key string, values ...string) *url.URL {
	out := *u
	q := out.Query()
	if len(values) == 0 {
		q.Del(key)
	} else {
		q[key] = values
	}
	out.RawQuery = q.Encode()
	return &out
}

// pageTitle is the title of a stauth page, or the start of another body.
func pageTitle(body string) string {
	if _, rest, ok := strings.Cut(body, "<title>"); ok {
		title, _, _ := strings.Cut(rest, "</title>")
		return title
	}
	return body[:min(len(body), 200)]
}

// replayStatus is the status a fresh client gets for an API call to the
// protected page with the session cookie value alone.
func (s *testSite) replayStatus(t *testing.T, cookie string) int {
	t.Helper()
	return s.browser(t).do(http.MethodGet, "/private", "Accept", "application/json", "Cookie", "stauth_session="+cookie).StatusCode
}
