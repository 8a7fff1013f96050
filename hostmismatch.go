package stauth

import (
	"net/http"
	"net/url"
	"strings"

	"go.uber.org/zap"
)

// A login's cookie is kept for the host where the login starts, and the
// provider sends the browser back to redirect_uri's host: opened at another
// name (127.0.0.1 while redirect_uri says localhost), the site can never
// finish a login. stauth says so, naming both hosts and the fix, instead of
// a vague "expired" page after the round trip.

// otherLoopbackHost tells, for a login about to start, whether the request's
// host is another name of this machine than redirect_uri's, so the login
// cookie could not come back. Only loopback names are told apart this way:
// elsewhere, a proxy in front of Caddy may rewrite Host on purpose, and
// warnOnOtherHost only logs.
func otherLoopbackHost(r *http.Request, redirectURI string) (*url.URL, bool) {
	u, err := url.Parse(redirectURI)
	if err != nil {
		return nil, false
	}
	asked := &url.URL{Host: r.Host}
	if asked.Hostname() == "" || strings.EqualFold(asked.Hostname(), u.Hostname()) || !isLoopback(u) || !isLoopback(asked) {
		return nil, false
	}
	return u, true
}

// otherHostPage answers a login started at another name of this machine
// than redirect_uri's: both hosts, and a link to the same login there.
func (s *Stauth) otherHostPage(w http.ResponseWriter, r *http.Request, site *url.URL, providerName, returnTo string) error {
	s.logger.Warn("a login started on a host other than redirect_uri's, so the browser would not send the login cookie back; open the site at redirect_uri's host, or redir the other host to it (see Caddyfile.example)",
		zap.String("request_host", r.Host), zap.String("redirect_uri", site.String()))
	origin := site.Scheme + "://" + site.Host
	return writePage(w, http.StatusBadRequest, page{
		Title: "Open this site at " + site.Host,
		Paragraphs: []string{
			"You opened this site at " + r.Host + ", but it signs you in at " + site.Host + " (its redirect_uri). The browser keeps a sign-in's cookie for the address where it starts, so a sign-in started at " + r.Host + " cannot finish.",
			"Continue at " + origin + ". The site's administrator can send " + r.Host + " there for everyone with a redir (see Caddyfile.example).",
		},
		Links: []link{{Href: origin + s.loginURL(providerName, returnTo), Label: "Continue at " + site.Host, Primary: true}},
	})
}

// noLoginPage answers a callback that no login of this browser matches,
// naming redirect_uri's host: the usual cause is a site opened at another
// address, whose login cookie the browser keeps there.
func (s *Stauth) noLoginPage(w http.ResponseWriter, r *http.Request, path string) error {
	s.logger.Warn("login refused", zap.Int("status", http.StatusBadRequest),
		zap.String("reason", "no login transaction cookie matches the callback's state (expired, replayed, or started in another browser or on another host)"),
		zap.String("callback_host", r.Host))
	paragraphs := []string{"Something went wrong while signing you in. Please try again."}
	retry := s.LoginPath
	if site := s.callbackSite(r, path); site != nil {
		origin := site.Scheme + "://" + site.Host
		retry = origin + s.LoginPath
		if !strings.EqualFold(r.Host, site.Host) {
			paragraphs = append(paragraphs, "This sign-in came back at "+r.Host+", but the site signs you in at "+site.Host+" (its redirect_uri): open the site at "+origin+".")
		} else {
			paragraphs = append(paragraphs, "If you opened the site at another address than "+site.Host+" (such as 127.0.0.1 instead of localhost, or another name), open it at "+origin+" instead: a sign-in must start and finish at the same address.")
		}
	}
	return writePage(w, http.StatusBadRequest, page{
		Title:      "This sign-in has expired or was started elsewhere",
		Paragraphs: paragraphs,
		Links:      []link{{Href: retry, Label: "Try again", Primary: true}},
	})
}

// callbackSite is the redirect_uri whose path is the callback path, with
// {port} given the listener's port, or nil.
func (s *Stauth) callbackSite(r *http.Request, path string) *url.URL {
	for _, p := range s.providerOrder {
		if parseRedirect(p.redirectURI).Path != path {
			continue
		}
		if raw, err := s.redirectURI(r, p); err == nil {
			if u, err := url.Parse(raw); err == nil {
				return u
			}
		}
	}
	return nil
}
