package stauth

import (
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"

	"golang.org/x/net/publicsuffix"
)

// Single sign-on across subdomains (cookie_domain).
//
// With cookie_domain example.com, every stauth of app.example.com,
// grafana.example.com, … reading the same secrets.toml shares one session:
// its cookies carry Domain=example.com, so the browser sends them to every
// host under it, and one callback host (redirect_uri's) finishes every
// login. A login started on a subdomain returns to it: rd may then be an
// absolute URL on the cookie domain.

// checkCookieDomain normalises cookie_domain and checks that every
// redirect_uri is on it: the callback host must receive the cookies it
// sets. section names where a redirect_uri comes from, for the error.
func (s *Stauth) checkCookieDomain() error {
	if s.CookieDomain == "" {
		return nil
	}
	domain := strings.ToLower(strings.TrimPrefix(s.CookieDomain, "."))
	if !isDomainName(domain) {
		return fmt.Errorf("stauth: cookie_domain %q is not a domain name such as example.com (no scheme, port, path or IP address)", s.CookieDomain)
	}
	if suffix, _ := publicsuffix.PublicSuffix(domain); suffix == domain {
		return fmt.Errorf("stauth: cookie_domain %s is a public suffix (like com, co.uk or github.io): browsers refuse cookies for it, and every site under it would share them; use your own domain, such as example.%s", domain, domain)
	}
	s.CookieDomain = domain
	for _, pc := range s.secrets.providers {
		host := strings.ToLower(parseRedirect(pc.redirectURI).Hostname())
		if !onDomain(host, domain) {
			return &secretsError{file: s.SecretsFile, section: pc.redirectSection(s.secrets.redirectURI), msg: fmt.Sprintf(
				"redirect_uri's host %s is not cookie_domain %s nor one of its subdomains, so the callback would never receive the session cookie; use a redirect_uri such as https://auth.%s/oauth2callback, or another cookie_domain",
				host, domain, domain)}
		}
	}
	return nil
}

// isDomainName tells whether name is a DNS name of at least one label made
// of lower-case letters, digits and inner hyphens (not an IP address).
func isDomainName(name string) bool {
	if name == "" || len(name) > 253 || net.ParseIP(name) != nil {
		return false
	}
	for label := range strings.SplitSeq(name, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '-' {
				return false
			}
		}
	}
	return true
}

// onDomain tells whether host (lower case, no port) is domain or one of its
// subdomains, matched on a dot boundary: evil-example.com and
// example.com.evil.net are not on example.com (CVE-2021-21291).
func onDomain(host, domain string) bool {
	return host == domain || (strings.HasSuffix(host, domain) && host[len(host)-len(domain)-1] == '.' && isDomainName(host))
}

// cookieBinding is what the cookie sealers bind their values to: the origin
// of redirect_uri or, with cookie_domain, the scheme and the domain written
// as no origin can be (https://.example.com). A value sealed for a single
// host then never opens in the shared scope of the domain, nor the other
// way round, even with the same cookie_secret; and every subdomain, whose
// stauth reads the same secrets.toml, opens the same session: binding it to
// the host that serves the request would split the session per host, which
// is what the domain cookie is there to avoid.
func (s *Stauth) cookieBinding() string {
	site := parseRedirect(s.secrets.redirectURI)
	if s.CookieDomain != "" {
		return site.Scheme + "://." + s.CookieDomain
	}
	return site.Scheme + "://" + site.Host
}

// returnTo keeps a login's rd when it is safe: a path on this site, or,
// with cookie_domain, an absolute URL on the cookie domain; otherwise /.
func (s *Stauth) returnTo(rd string) string {
	scheme := parseRedirect(s.secrets.redirectURI).Scheme
	return safeReturnToDomain(rd, scheme, s.CookieDomain)
}

// loginTarget is where the challenge sends a browser without a session: the
// login on this host with the path it asked for, or, on another host of the
// cookie domain, the login on redirect_uri's host with the absolute URL it
// asked for as rd.
//
// The host of that URL comes from the request's Host header, which the
// client chooses. That is safe here only because the URL is nothing but a
// proposed rd: the login endpoint keeps it only when it is on the cookie
// domain (safeReturnToDomain), and it never goes into anything sent to the
// provider (redirect_uri comes from secrets.toml, its port from the
// listener). A forged Host can at worst send the browser back to another
// host of the same domain, which it could have asked for itself.
func (s *Stauth) loginTarget(r *http.Request) string {
	orig := originalURL(r)
	relative := s.LoginPath + "?rd=" + url.QueryEscape(orig.RequestURI())
	if s.CookieDomain == "" {
		return relative
	}
	callback := parseRedirect(s.secrets.redirectURI)
	if strings.Contains(s.secrets.redirectURI, "{port}") {
		port := listenerPort(r)
		if port == "" {
			return relative
		}
		callback.Host = net.JoinHostPort(callback.Hostname(), port)
	}
	if strings.EqualFold(r.Host, callback.Host) {
		return relative
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	back := safeReturnToDomain(scheme+"://"+r.Host+orig.RequestURI(), callback.Scheme, s.CookieDomain)
	if back == "/" {
		return relative // a host off the cookie domain: the login stays here
	}
	return callback.Scheme + "://" + callback.Host + s.LoginPath + "?rd=" + url.QueryEscape(back)
}

// sharesCookies tells whether a request's Host (with or without a port) is
// on cookie_domain, so that it shares stauth's cookies with the callback.
func (s *Stauth) sharesCookies(host string) bool {
	if s.CookieDomain == "" {
		return false
	}
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	return onDomain(strings.ToLower(host), s.CookieDomain)
}
