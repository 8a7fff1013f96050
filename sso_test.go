package stauth

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stauth/caddy-stauth/internal/hostileop"
	"github.com/stauth/caddy-stauth/internal/testcaddy"
)

// ssoDomain is the cookie domain of the single sign-on tests; every name
// under it, and the look-alikes, are dialled on loopback.
const ssoDomain = "stauth.localhost"

// ssoSites are two sites, app and grafana, each with its own stauth over
// one secrets.toml with cookie_domain; app is the callback host. Beside
// them run look-alike hosts off the domain that print the cookies they get.
type ssoSites struct {
	port     int
	app      string // http://app.stauth.localhost:PORT
	grafana  string
	evil     []string // look-alikes off the cookie domain
	op       *hostileop.Provider
	secrets  string
	caddyDir string
}

// ssoPage is what the protected sites answer.
const ssoPage = `host={http.request.host} id={http.auth.user.id} logged_in={http.auth.user.is_logged_in} cookie=[{http.request.header.Cookie}]`

// newSSOSites starts the provider and a Caddy serving the sites.
func newSSOSites(t *testing.T) *ssoSites {
	t.Helper()
	port := testcaddy.FreePort(t)
	s := &ssoSites{
		port:    port,
		app:     fmt.Sprintf("http://app.%s:%d", ssoDomain, port),
		grafana: fmt.Sprintf("http://grafana.%s:%d", ssoDomain, port),
		evil:    []string{fmt.Sprintf("http://evil-%s:%d", ssoDomain, port), fmt.Sprintf("http://%s.evil.test:%d", ssoDomain, port)},
		op:      hostileop.New(t, hostileop.Config{}),
	}
	s.secrets = filepath.Join(t.TempDir(), "secrets.toml")
	text := fmt.Sprintf("[auth]\nredirect_uri = %q\ncookie_secret = %q\nclient_id = %q\nclient_secret = %q\nserver_metadata_url = %q\n",
		s.app+"/oauth2callback", atkCookieSecret, s.op.ClientID, s.op.ClientSecret, s.op.MetadataURL)
	if err := os.WriteFile(s.secrets, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	testcaddy.Load(t, testcaddy.Globals(t.TempDir(), port, testcaddy.FreePort(t))+fmt.Sprintf(`
%s {
	stauth %s {
		cookie_domain %s
	}
	respond %q
}
%s {
	stauth %s {
		cookie_domain %s
	}
	respond %q
}
%s, %s {
	respond "cookie=[{http.request.header.Cookie}]"
}
`, s.app, s.secrets, ssoDomain, ssoPage, s.grafana, s.secrets, ssoDomain, ssoPage, s.evil[0], s.evil[1]))
	return s
}

// browser returns a browser whose every name under the cookie domain, and
// the look-alikes, reach the test's Caddy on loopback; its cookie jar keys
// cookies by those names, as a browser's does.
func (s *ssoSites) browser(t *testing.T) *testBrowser {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	dialer := &net.Dialer{Timeout: 10 * time.Second}
	tr := &http.Transport{DisableKeepAlives: true, DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		host, port, err := net.SplitHostPort(addr)
		if err == nil && (strings.HasSuffix(host, ".localhost") || strings.HasSuffix(host, ".evil.test")) {
			addr = net.JoinHostPort("127.0.0.1", port)
		}
		return dialer.DialContext(ctx, network, addr)
	}}
	return &testBrowser{t: t, site: &testSite{URL: s.app}, jar: jar, c: &http.Client{
		Jar: jar, Transport: tr, Timeout: time.Minute,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

// follow requests target and follows stauth's and the provider's redirects
// until an answer that is not one, which it returns, with the last URL.
func (b *testBrowser) follow(target string) (*testResp, string) {
	b.t.Helper()
	for range 10 {
		resp := b.get(target)
		if resp.StatusCode != http.StatusSeeOther && resp.StatusCode != http.StatusFound {
			return resp, target
		}
		next, err := url.Parse(target)
		if err != nil {
			b.t.Fatal(err)
		}
		target = next.ResolveReference(mustParseURL(b.t, resp.Header.Get("Location"))).String()
	}
	b.t.Fatalf("more than 10 redirects from %s", target)
	return nil, ""
}

// TestSSOAcrossSubdomains: a login started on grafana, whose callback is on
// app, returns to the page asked for on grafana; the session then holds on
// both, in cookies for the domain that never reach a look-alike host; a
// logout on either ends it on both.
func TestSSOAcrossSubdomains(t *testing.T) {
	s := newSSOSites(t)
	b := s.browser(t)

	start := s.grafana + "/dash?x=1&y=%2F"
	resp := b.get(start)
	wantLogin := s.app + "/auth/login?rd=" + url.QueryEscape(start)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != wantLogin {
		t.Fatalf("a page load on grafana: %s to %q, want 303 to %q", resp.Status, resp.Header.Get("Location"), wantLogin)
	}
	callback := b.authorize(b.startLogin(wantLogin))
	if callback.Host != mustParseURL(t, s.app).Host {
		t.Fatalf("the provider sent the browser to %s, want the callback host", callback)
	}
	resp = b.get(callback.String())
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != start {
		t.Fatalf("callback: %s to %q, want 303 back to %q", resp.Status, resp.Header.Get("Location"), start)
	}
	for _, c := range resp.Cookies() {
		if isSessionCookie(c.Name) && c.Domain != ssoDomain {
			t.Errorf("session cookie %s has Domain %q, want %q", c.Name, c.Domain, ssoDomain)
		}
		if strings.HasPrefix(c.Name, "__Host-") {
			t.Errorf("cookie %s: __Host- cannot carry Domain", c.Name)
		}
	}
	if !setsSession(resp) {
		t.Fatalf("callback set no session: %q", resp.Header["Set-Cookie"])
	}

	for _, site := range []string{s.grafana, s.app} {
		page := b.get(site + "/dash")
		host := mustParseURL(t, site).Hostname()
		if want := "host=" + host + " id=" + hostileop.DefaultSubject + " logged_in=true cookie=[]"; page.StatusCode != http.StatusOK || page.Body != want {
			t.Errorf("%s: %s %q, want %q", site, page.Status, page.Body, want)
		}
	}
	for _, evil := range s.evil {
		if page := b.get(evil + "/"); page.StatusCode != http.StatusOK || strings.Contains(page.Body, "stauth") {
			t.Errorf("look-alike %s got stauth's cookies: %s %q", evil, page.Status, page.Body)
		}
	}

	out := b.do(http.MethodPost, s.grafana+"/auth/logout", "Origin", s.grafana)
	deleted := false
	for _, c := range out.Cookies() {
		if isSessionCookie(c.Name) && c.MaxAge < 0 && c.Domain == ssoDomain {
			deleted = true
		}
	}
	if !deleted {
		t.Errorf("logout on grafana did not delete the domain's session cookie: %q", out.Header["Set-Cookie"])
	}
	for _, site := range []string{s.app, s.grafana} {
		if page := b.get(site + "/dash"); page.StatusCode != http.StatusSeeOther {
			t.Errorf("after logout, %s answered %s %q, want a redirect to log in", site, page.Status, page.Body)
		}
	}
}

// TestSSOReturnTo: rd may name an absolute URL on the cookie domain and
// nothing else: look-alikes that only share a suffix without a dot
// boundary, or that put the domain first, go back to / on the callback
// host.
func TestSSOReturnTo(t *testing.T) {
	s := newSSOSites(t)
	p := fmt.Sprintf(":%d", s.port)
	for _, c := range []struct{ rd, want string }{
		{s.grafana + "/a?b=c", s.grafana + "/a?b=c"},
		{"http://" + ssoDomain + p + "/top", "http://" + ssoDomain + p + "/top"},
		{"/relative", "/relative"},
		{s.evil[0] + "/", "/"},
		{s.evil[1] + "/", "/"},
		{"https://grafana." + ssoDomain + p + "/", "/"}, // not the site's scheme
		{"http://user@grafana." + ssoDomain + p + "/", "/"},
		{"http://grafana." + ssoDomain + p + "\\@evil.test/", "/"},
		{"//grafana." + ssoDomain + p + "/", "/"},
	} {
		t.Run(c.rd, func(t *testing.T) {
			b := s.browser(t)
			login := s.app + "/auth/login?rd=" + url.QueryEscape(c.rd)
			resp := b.get(b.authorize(b.startLogin(login)).String())
			if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != c.want {
				t.Errorf("rd %q: %s to %q, want %q", c.rd, resp.Status, resp.Header.Get("Location"), c.want)
			}
		})
	}
}

// TestSSOConfigErrors: cookie_domain must be a domain that redirect_uri's
// host is on, and the error says so.
func TestSSOConfigErrors(t *testing.T) {
	dir := t.TempDir()
	secrets := filepath.Join(dir, "secrets.toml")
	text := fmt.Sprintf("[auth]\nredirect_uri = %q\ncookie_secret = %q\nclient_id = \"c\"\nclient_secret = \"s\"\nserver_metadata_url = \"http://127.0.0.1:1/.well-known/openid-configuration\"\n",
		"http://app.stauth.localhost:8080/oauth2callback", atkCookieSecret)
	if err := os.WriteFile(secrets, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ domain, want string }{
		{"other.localhost", "is not cookie_domain other.localhost nor one of its subdomains"},
		{"pp.stauth.localhost", "is not cookie_domain pp.stauth.localhost"},
		{"https://stauth.localhost", "is not a domain name"},
		{"stauth.localhost:8080", "is not a domain name"},
		{"127.0.0.1", "is not a domain name"},
		{"localhost", "is a public suffix"},
		{"com", "is a public suffix"},
		{"co.uk", "is a public suffix"},
		{"github.io", "is a public suffix"},
	} {
		_, err := testcaddy.Adapt(fmt.Sprintf(":8080 {\n\tstauth %s {\n\t\tcookie_domain %s\n\t}\n}\n", secrets, c.domain))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("cookie_domain %s: error %v, want one saying %q", c.domain, err, c.want)
		}
	}
	for _, ok := range []string{"stauth.localhost", ".stauth.localhost", "app.stauth.localhost"} {
		if _, err := testcaddy.Adapt(fmt.Sprintf(":8080 {\n\tstauth %s {\n\t\tcookie_domain %s\n\t}\n}\n", secrets, ok)); err != nil {
			t.Errorf("cookie_domain %s refused: %v", ok, err)
		}
	}
}

// TestSSOCookieNames: with a cookie domain, cookies lose the __Host- prefix
// (which forbids Domain) for __Secure- on https, carry the domain, and a
// session sealed for one host does not open in the domain's scope.
func TestSSOCookieNames(t *testing.T) {
	for _, c := range []struct {
		secure        bool
		domain, want  string
		wantLoginPref string
	}{
		{true, "", "__Host-stauth_session", "__Host-stauth_login_"},
		{true, "example.com", "__Secure-stauth_session", "__Secure-stauth_login_"},
		{false, "example.com", "stauth_session", "stauth_login_"},
	} {
		jar, err := newCookieJar(jarConfig{secrets: []string{atkCookieSecret}, site: "https://.example.com", secure: c.secure, domain: c.domain, ttl: time.Hour, logoutPath: "/auth/logout"})
		if err != nil {
			t.Fatal(err)
		}
		if jar.session != c.want || jar.loginPrefix != c.wantLoginPref {
			t.Errorf("secure %v domain %q: names %s, %s; want %s, %s", c.secure, c.domain, jar.session, jar.loginPrefix, c.want, c.wantLoginPref)
		}
		rec := httptest.NewRecorder()
		jar.set(rec, jar.session, "v", 60)
		if got := rec.Result().Cookies()[0]; got.Domain != c.domain {
			t.Errorf("secure %v domain %q: cookie Domain %q", c.secure, c.domain, got.Domain)
		}
	}
	host := &Stauth{secrets: &secrets{redirectURI: "https://app.example.com/cb"}}
	domain := &Stauth{secrets: host.secrets, CookieDomain: "example.com"}
	if host.cookieBinding() == domain.cookieBinding() {
		t.Errorf("host-only and domain cookies share the binding %q", host.cookieBinding())
	}
	hostSealer := mustSiteSealer(t, purposeSession, host.cookieBinding(), atkCookieSecret)
	domainSealer := mustSiteSealer(t, purposeSession, domain.cookieBinding(), atkCookieSecret)
	if _, _, ok := domainSealer.open(hostSealer.seal([]byte("x"))); ok {
		t.Error("a value sealed for one host opened in the domain's scope")
	}
}

// TestSSOLoginTarget: a page load without a session on another host of the
// cookie domain goes to the login on the callback host with the absolute
// URL as rd, its scheme from the connection; on the callback host, or on a
// host off the domain (a forged Host), the login stays on this host with a
// path as rd.
func TestSSOLoginTarget(t *testing.T) {
	for _, c := range []struct {
		redirect, host string
		tls            bool
		want           string
	}{
		{"https://auth.example.com/cb", "grafana.example.com", true, "https://auth.example.com/auth/login?rd=" + url.QueryEscape("https://grafana.example.com/d/1?x=2")},
		{"https://auth.example.com/cb", "example.com", true, "https://auth.example.com/auth/login?rd=" + url.QueryEscape("https://example.com/d/1?x=2")},
		{"https://auth.example.com/cb", "auth.example.com", true, "/auth/login?rd=" + url.QueryEscape("/d/1?x=2")},
		{"https://auth.example.com/cb", "evil-example.com", true, "/auth/login?rd=" + url.QueryEscape("/d/1?x=2")},
		{"https://auth.example.com/cb", "example.com.evil.net", true, "/auth/login?rd=" + url.QueryEscape("/d/1?x=2")},
		{"https://auth.example.com/cb", "grafana.example.com", false, "/auth/login?rd=" + url.QueryEscape("/d/1?x=2")}, // http under an https site: not a return target
		{"https://auth.example.com:{port}/cb", "grafana.example.com:8443", true, "https://auth.example.com:8443/auth/login?rd=" + url.QueryEscape("https://grafana.example.com:8443/d/1?x=2")},
	} {
		s := &Stauth{LoginPath: DefaultLoginPath, CookieDomain: "example.com", secrets: &secrets{redirectURI: c.redirect}}
		r := httptest.NewRequest(http.MethodGet, "/d/1?x=2", nil)
		r.Host = c.host
		if !c.tls {
			r.TLS = nil
		} else if r.TLS == nil {
			r.TLS = &tls.ConnectionState{}
		}
		r = r.WithContext(context.WithValue(r.Context(), http.LocalAddrContextKey, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 8443}))
		if got := s.loginTarget(r); got != c.want {
			t.Errorf("%s on %s (tls %v): %q, want %q", c.redirect, c.host, c.tls, got, c.want)
		}
	}
}
