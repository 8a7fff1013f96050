package stauth

import (
	"errors"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

// originalURL is the URL the browser asked for, before rewrites.
func originalURL(r *http.Request) *url.URL {
	if orig, ok := r.Context().Value(caddyhttp.OriginalRequestCtxKey).(http.Request); ok && orig.URL != nil {
		return orig.URL
	}
	return r.URL
}

// loginURL is the login endpoint for a provider and a return path.
func (s *Stauth) loginURL(providerName, returnTo string) string {
	q := url.Values{}
	if providerName != "" {
		q.Set("provider", providerName)
	}
	if returnTo != "/" {
		q.Set("rd", returnTo)
	}
	if len(q) == 0 {
		return s.LoginPath
	}
	return s.LoginPath + "?" + q.Encode()
}

// redirectURI is the provider's redirect_uri with {port} replaced by the
// port of the listener that took the request, never one from the Host header.
func (s *Stauth) redirectURI(r *http.Request, p *provider) (string, error) {
	raw := p.redirectURI
	if !strings.Contains(raw, "{port}") {
		return raw, nil
	}
	if port := listenerPort(r); port != "" {
		return strings.ReplaceAll(raw, "{port}", port), nil
	}
	return "", caddyhttp.Error(http.StatusInternalServerError, errors.New("stauth: the listener's port for {port} in redirect_uri is unknown (a request that reached Caddy through no listener?); write the port in redirect_uri instead of {port}"))
}

// listenerPort is the port of the listener that took the request, or "".
func listenerPort(r *http.Request) string {
	if addr, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
		if _, port, err := net.SplitHostPort(addr.String()); err == nil {
			return port
		}
	}
	return ""
}

// safeReturnTo keeps rd only when it is a path on this site: one leading /,
// then printable ASCII without a backslash (which browsers read as /).
// Anything else, such as //evil.example, /\evil.example, a scheme or a line
// break, gives /.
func safeReturnTo(rd string) string {
	if len(rd) == 0 || rd[0] != '/' || strings.HasPrefix(rd, "//") || !plainURLText(rd) {
		return "/"
	}
	u, err := url.Parse(rd)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil {
		return "/"
	}
	return rd
}

// plainURLText tells whether a URL is printable ASCII without a space or a
// backslash (which browsers read as /).
func plainURLText(u string) bool {
	for i := 0; i < len(u); i++ {
		if u[i] <= ' ' || u[i] >= 0x7f || u[i] == '\\' {
			return false
		}
	}
	return true
}

// safeReturnToDomain is safeReturnTo for a site with cookie_domain: rd may
// also be an absolute URL with the site's scheme whose host is domain or one
// of its subdomains, matched on a dot boundary (onDomain), with an optional
// port and no user name; it comes back as url.Parse reads it, so the browser
// is sent where it was checked to go. Without a domain, or for anything
// else, it is safeReturnTo(rd).
func safeReturnToDomain(rd, scheme, domain string) string {
	if domain == "" || !strings.HasPrefix(rd, scheme+"://") {
		return safeReturnTo(rd)
	}
	if !plainURLText(rd) {
		return "/"
	}
	u, err := url.Parse(rd)
	if err != nil || u.Scheme != scheme || u.User != nil || u.Opaque != "" || strings.ContainsAny(u.Host, "%@") {
		return "/"
	}
	if port := u.Port(); port != "" {
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 || strconv.Itoa(n) != port {
			return "/"
		}
	} else if strings.HasSuffix(u.Host, ":") {
		return "/"
	}
	if !onDomain(u.Hostname(), domain) {
		return "/"
	}
	if u.Path != "" && !strings.HasPrefix(u.EscapedPath(), "/") {
		return "/"
	}
	return u.String()
}

// parseRedirect parses a redirect_uri that checkRedirectURI accepted.
func parseRedirect(redirectURI string) *url.URL {
	u, _ := url.Parse(strings.ReplaceAll(redirectURI, "{port}", "1"))
	return u
}

// checkWebURL checks that u is an absolute http or https URL with a host and
// no user name or password.
func checkWebURL(u *url.URL) error {
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return errors.New("must be an absolute URL starting with https:// (or http:// on this machine)")
	case u.Host == "":
		return errors.New("has no host")
	case u.User != nil:
		return errors.New("must not hold a user name or password")
	}
	return nil
}

// isLoopback tells whether u's host is this machine.
func isLoopback(u *url.URL) bool {
	host := u.Hostname()
	if ip := net.ParseIP(host); ip != nil {
		return ip.IsLoopback()
	}
	return host == "localhost" || strings.HasSuffix(host, ".localhost")
}

// shownURL is a URL as an error message may quote it: without a password.
func shownURL(raw string) string {
	if u, err := url.Parse(raw); err == nil {
		return strconv.Quote(u.Redacted())
	}
	if at := strings.LastIndexByte(raw, '@'); at >= 0 {
		return strconv.Quote("…" + raw[at:])
	}
	return strconv.Quote(raw)
}
