package stauth

// Start-up checks of a site's setup that do not stop Caddy: warnings that
// say what to fix.

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"
)

// warnIfUnserved warns, once, when no server of this Caddy listens on
// redirect_uri's port with a route for its host: the provider's callback
// would then never reach stauth. It runs at the first request, when the
// http app has finished provisioning (asking for it during Provision would
// load a second one). It is best-effort: it reads the top-level routes'
// host matchers only, and a proxy in front of Caddy may forward another
// port on purpose.
func (s *Stauth) warnIfUnserved() {
	if s.servedCheck == nil {
		return
	}
	s.servedCheck.Do(func() {
		if s.Passive || s.caddyCtx.Context == nil {
			return
		}
		app, err := s.caddyCtx.AppIfConfigured("http")
		httpApp, ok := app.(*caddyhttp.App)
		if err != nil || !ok {
			return
		}
		for _, redirectURI := range s.redirectURIs() {
			u := parseRedirect(redirectURI)
			if !servesHost(httpApp, u, strings.Contains(redirectURI, "{port}")) {
				s.logger.Warn("no site of this Caddy serves redirect_uri's host and port, so the provider's callback cannot reach stauth; "+
					"serve that address here (it is the site's address), or change redirect_uri (or the redirect_uri subdirective); "+
					"ignore this when a proxy in front of Caddy forwards it",
					zap.String("redirect_uri", redirectURI))
			}
		}
	})
}

// redirectURIs are the distinct redirect URIs of the providers.
func (s *Stauth) redirectURIs() []string {
	var list []string
	for _, pc := range s.secrets.providers {
		if !slices.Contains(list, pc.redirectURI) {
			list = append(list, pc.redirectURI)
		}
	}
	return list
}

// servesHost tells whether a server of app listens on u's port (any port
// when anyPort, for {port}) and has a top-level route that takes u's host.
func servesHost(app *caddyhttp.App, u *url.URL, anyPort bool) bool {
	port := u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
	}
	want, _ := strconv.ParseUint(port, 10, 32)
	req, err := http.NewRequest(http.MethodGet, u.String(), nil)
	if err != nil {
		return true // nothing to say
	}
	repl := caddy.NewReplacer()
	req = req.WithContext(context.WithValue(req.Context(), caddy.ReplacerCtxKey, repl))
	for _, srv := range app.Servers {
		if !anyPort && !listensOn(srv, uint(want)) {
			continue
		}
		for _, route := range srv.Routes {
			if routeTakesHost(route, req) {
				return true
			}
		}
	}
	return false
}

// listensOn tells whether a server listens on port.
func listensOn(srv *caddyhttp.Server, port uint) bool {
	for _, addr := range srv.Listen {
		na, err := caddy.ParseNetworkAddress(addr)
		if err == nil && na.StartPort <= port && port <= na.EndPort {
			return true
		}
	}
	return false
}

// routeTakesHost tells whether a route may take requests for req's host:
// it has no matcher set, or one whose host matcher (if any) takes it.
func routeTakesHost(route caddyhttp.Route, req *http.Request) bool {
	if len(route.MatcherSets) == 0 {
		return true
	}
	for _, set := range route.MatcherSets {
		takes := true
		for _, m := range set {
			var host caddyhttp.MatchHost
			switch m := m.(type) {
			case *caddyhttp.MatchHost:
				host = *m
			case caddyhttp.MatchHost:
				host = m
			default:
				continue
			}
			if ok, err := host.MatchWithError(req); err != nil || !ok {
				takes = false
			}
		}
		if takes {
			return true
		}
	}
	return false
}

// warnAboutFile warns when secrets.toml is readable by every user, and when
// cookie_secret is too short to verify Streamlit's login links.
func (s *Stauth) warnAboutFile() {
	if info, err := os.Stat(s.SecretsFile); err == nil && info.Mode().Perm()&0o004 != 0 {
		s.logger.Warn("the secrets file is readable by every user of this machine; restrict it with chmod 600",
			zap.String("file", s.SecretsFile))
	}
	if len(s.secrets.cookieSecrets[0]) < 32 {
		s.logger.Warn("cookie_secret is shorter than 32 characters: Streamlit's login links (st.login) cannot be verified with it, since HS256 needs a 256-bit key; make one with `openssl rand -hex 32`",
			zap.String("file", s.SecretsFile))
	}
}

// warnAboutOpenProviders warns when a provider lets in anyone who makes an
// account there and no allow rule narrows it down.
func (s *Stauth) warnAboutOpenProviders() {
	if !s.rules.empty() || s.Passive {
		return
	}
	for _, pc := range s.secrets.providers {
		if who := openTo(pc.metadataURL); who != "" {
			s.logger.Warn("this site has no allow rule, so "+who+" can log in through this provider; limit it with allow_emails (e.g. *@example.com) or allow_claim (e.g. allow_claim hd example.com for Google Workspace)",
				zap.String("file", s.SecretsFile), zap.String("section", "["+pc.section+"]"))
		}
	}
}

// misconfigured tells whether a failed discovery found a document stauth
// cannot use, which waiting will not mend, and then logs where to fix it.
func (s *Stauth) misconfigured(p *provider, err error) bool {
	var bad *metadataError
	if !errors.As(err, &bad) {
		return false
	}
	s.logger.Error("this provider cannot be used until its settings change: check server_metadata_url and client_kwargs in secrets.toml, and the provider's own settings",
		zap.String("file", s.SecretsFile), zap.String("section", "["+p.section+"]"), zap.Error(err))
	return true
}
