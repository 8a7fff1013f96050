// Package stauth is a Caddy HTTP handler that puts OpenID Connect login in
// front of a site, configured from the secrets.toml of Streamlit's st.login.
package stauth

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/caddyserver/certmagic"
	"go.uber.org/zap"
)

func init() {
	caddy.RegisterModule(Stauth{})
}

// Default settings; the login and logout paths and the session length are
// Streamlit's.
const (
	DefaultLoginPath  = "/auth/login"
	DefaultLogoutPath = "/auth/logout"
	DefaultUserPath   = "/auth/user"
	DefaultSessionTTL = 30 * 24 * time.Hour
	// DefaultBackchannelLogoutPath receives back-channel logout tokens.
	DefaultBackchannelLogoutPath = "/auth/backchannel-logout"
)

// Stauth logs visitors in with OpenID Connect before letting their requests
// through, configured from the secrets.toml that Streamlit's st.login reads.
//
// It answers its own endpoints (login, the callback at redirect_uri's path,
// logout, the user JSON and "log out everywhere", back-channel logout, and
// the JWKS of upstream_jwt) and gates every other request: with a valid
// session (or bearer token) the request goes on with the user's identity in
// the `{http.auth.user.*}` placeholders; without one, a browser is sent to
// log in and anything else gets a 401. Sessions live in encrypted cookies,
// so any number of Caddy instances sharing the secrets serve the same users;
// what must be shared besides (revocations, refresh results) lives in
// Caddy's configured storage, mirrored in memory.
type Stauth struct {
	// SecretsFile is the path of the Streamlit secrets.toml whose [auth]
	// section holds redirect_uri, cookie_secret and the providers. A relative
	// path is read from Caddy's working directory.
	SecretsFile string `json:"secrets_file,omitempty"`

	// RedirectURI, when set, replaces [auth]'s redirect_uri for this site,
	// so that one secrets.toml of client credentials serves many sites,
	// each with the callback registered for it at the provider. The
	// [auth.NAME] sections' own redirect_uri keep their path and take this
	// one's scheme and host. It must be served by this site.
	RedirectURI string `json:"redirect_uri,omitempty"`

	// SecretsDigest is set by the Caddyfile adapter and read by nobody: a
	// keyed digest of secrets.toml's content (see secretsDigest), there so
	// that an edit to secrets.toml changes the adapted config, and `caddy
	// reload` applies the edit instead of finding the config unchanged.
	// In JSON config, change it (or reload with --force) after editing the
	// file.
	SecretsDigest string `json:"secrets_digest,omitempty"`

	// LoginPath starts a login. Default: /auth/login (Streamlit's).
	LoginPath string `json:"login_path,omitempty"`

	// LogoutPath ends the session. Default: /auth/logout (Streamlit's).
	LogoutPath string `json:"logout_path,omitempty"`

	// UserPath answers the logged-in user as JSON, like st.user, to a GET;
	// a POST from this site logs the user out everywhere (every session of
	// every browser). Default: /auth/user.
	UserPath string `json:"user_path,omitempty"`

	// Anonymous lets requests without a session through, logged out, instead
	// of sending them to log in. The placeholders then say is_logged_in false.
	Anonymous bool `json:"anonymous,omitempty"`

	// Bearer accepts API and CLI clients that send `Authorization: Bearer
	// <JWT>` instead of a session cookie: an ID token or JWT access token
	// issued by one of the configured providers for this client, checked
	// like a login's ID token (signature with the provider's advertised
	// asymmetric algorithms, iss, aud, exp, nbf, iat, sub), then the allow
	// rules and placeholders as for a session. A refused or opaque token
	// gets 401 with `WWW-Authenticate: Bearer error="invalid_token"`, never
	// a redirect.
	Bearer bool `json:"bearer,omitempty"`

	// BearerAudiences are audiences a bearer token may name instead of the
	// provider's client_id, such as an API's own identifier. Needs bearer.
	BearerAudiences []string `json:"bearer_audiences,omitempty"`

	// Passive makes this stauth challenge nobody and answer no endpoint: it
	// only strips stauth's cookies and sets the placeholders to the user of
	// a valid session that the allow rules let in, or logged out. The
	// Caddyfile adapter adds a passive stauth for the requests outside a
	// stauth matcher; write one in JSON config for the same effect.
	Passive bool `json:"passive,omitempty"`

	// AllowEmails, when set, lets in only users whose email is listed, as
	// user@example.com or *@example.com (that domain, not its subdomains).
	// Matching ignores case; an email with email_verified false never matches.
	// Others get a 403 page.
	AllowEmails []string `json:"allow_emails,omitempty"`

	// AllowClaims, when set, lets in only users who pass every rule.
	AllowClaims []ClaimRule `json:"allow_claims,omitempty"`

	// SessionTTL is how long a login lasts, at least 1m. Default: 30 days
	// (Streamlit's).
	SessionTTL caddy.Duration `json:"session_ttl,omitempty"`

	// StreamlitUser hands the user to a Streamlit app behind stauth in
	// Streamlit's own _streamlit_user cookie (and _streamlit_user_tokens,
	// with the tokens expose_tokens lists), signed with cookie_secret, so
	// that st.user works unchanged: "tornado" for Streamlit 1.56 and older,
	// "starlette" for 1.57 and newer. The cookies are added to the Cookie
	// header of the WebSocket handshake at <base>/_stcore/stream, where
	// Streamlit reads them, and the browser's own _streamlit_user* cookies
	// are removed from every request; nothing is sent to the browser.
	StreamlitUser string `json:"streamlit_user,omitempty"`
	// IdleTimeout, when set, ends a session unused for that long; at least
	// 1m and shorter than session_ttl, which stays the hard cap. Default:
	// off.
	IdleTimeout caddy.Duration `json:"idle_timeout,omitempty"`

	// BackchannelLogoutPath receives the providers' OpenID Connect
	// Back-Channel Logout tokens. Default: /auth/backchannel-logout.
	BackchannelLogoutPath string `json:"backchannel_logout_path,omitempty"`
	// CookieDomain shares one session across a domain and its subdomains
	// (single sign-on): with example.com, a login on any of
	// app.example.com, grafana.example.com, … holds for all of them, when
	// their stauth read the same secrets.toml. The cookies then carry
	// Domain=example.com (and the __Secure- prefix on https instead of
	// __Host-); redirect_uri's host, the one callback host, must be the
	// domain or one of its subdomains; a login's rd may be an absolute URL
	// on the domain. Every host under the domain receives the cookies: see
	// the README on sibling subdomains you do not control.
	CookieDomain string `json:"cookie_domain,omitempty"`

	// AllowPreflight lets CORS preflight requests (OPTIONS with Origin and
	// Access-Control-Request-Method) through unauthenticated and logged
	// out, so that a cross-origin app can call a protected API; the browser
	// then sends the real request with its credentials, which is gated as
	// usual. Default: off (a preflight gets a 401).
	AllowPreflight bool `json:"allow_preflight,omitempty"`

	// UpstreamJWT, when set, adds a short-lived signed JWT (ES256) about the
	// logged-in user to every request passed on, in its header (replacing
	// one the client sent), and serves the public key at UpstreamJWKSPath.
	UpstreamJWT *UpstreamJWT `json:"upstream_jwt,omitempty"`

	// UpstreamJWKSPath serves the public keys of upstream_jwt as a JWKS.
	// Default, with upstream_jwt: /auth/jwks.json.
	UpstreamJWKSPath string `json:"upstream_jwks_path,omitempty"`

	secrets       *secrets
	providers     map[string]*provider
	providerOrder []*provider
	cookies       *cookieJar
	endpoints     map[string]*endpoint
	bearer        *bearerVerifier
	callbackPaths []string
	rules         accessRules
	logger        *zap.Logger
	client        *http.Client
	cancel        context.CancelFunc
	refresher     *refresher
	streamlit     *streamlitMinter
	// caddyCtx and servedCheck serve warnIfUnserved at the first request.
	caddyCtx      caddy.Context
	servedCheck   *sync.Once
	revocations   *revocations
	revocationKey string
	metrics       *stauthMetrics
	// logoutVerifier checks back-channel logout tokens' signatures.
	logoutVerifier *bearerVerifier
	// storage is Caddy's configured storage (see contextStorage).
	storage    certmagic.Storage
	assertions *assertionSigner
}

// ClaimRule lets a user in when a claim holds one of the values; for a claim
// that is a list (such as groups), when the list holds one of them.
type ClaimRule struct {
	// Claim is the claim's name, such as groups or roles.
	Claim string `json:"claim"`
	// Values are the accepted values.
	Values []string `json:"values"`
}

// CaddyModule returns the Caddy module information.
func (Stauth) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.stauth",
		New: func() caddy.Module { return new(Stauth) },
	}
}

// Provision reads secrets.toml, derives the cookie keys and prepares the
// providers; discovery starts in the background and never blocks start-up.
func (s *Stauth) Provision(ctx caddy.Context) error {
	s.logger = ctx.Logger()
	s.caddyCtx, s.servedCheck = ctx, new(sync.Once)
	s.setDefaults()
	if s.SecretsFile == "" {
		return errors.New("stauth: the path of secrets.toml is missing: write it after the directive (stauth <path/to/secrets.toml>), or set secrets_file in JSON")
	}
	if err := s.readSecrets(); err != nil {
		return err
	}
	for _, w := range s.secrets.warnings {
		s.logger.Warn(w)
	}
	s.warnAboutFile()
	var err error
	if s.rules, err = newAccessRules(s.AllowEmails, s.AllowClaims); err != nil {
		return err
	}
	s.warnAboutOpenProviders()
	site := parseRedirect(s.secrets.redirectURI)
	if s.cookies, err = newCookieJar(jarConfig{
		secrets: s.secrets.cookieSecrets, site: s.cookieBinding(), domain: s.CookieDomain,
		secure: site.Scheme == "https", ttl: time.Duration(s.SessionTTL), logoutPath: s.LogoutPath,
	}); err != nil {
		return err
	}
	s.endpoints = map[string]*endpoint{}
	for _, e := range s.endpointList() {
		s.endpoints[e.path] = &e
	}
	if err := s.setUpStreamlit(); err != nil {
		return err
	}
	s.refresher = newRefresher()
	s.metrics = registerMetrics(ctx.GetMetricsRegistry(), s.logger)
	if err := s.startRevocations(ctx); err != nil {
		return err
	}
	s.shareRefreshes(ctx)
	if err := s.setUpAssertions(); err != nil {
		return err
	}
	s.storage = contextStorage(ctx)
	s.setUpProviders(ctx)
	if s.Bearer {
		s.bearer = newBearerVerifier(s.providerOrder, s.BearerAudiences, nil)
	}
	s.logoutVerifier = newBearerVerifier(s.providerOrder, nil, nil)
	return nil
}

func (s *Stauth) setDefaults() {
	if s.LoginPath == "" {
		s.LoginPath = DefaultLoginPath
	}
	if s.LogoutPath == "" {
		s.LogoutPath = DefaultLogoutPath
	}
	if s.UserPath == "" {
		s.UserPath = DefaultUserPath
	}
	if s.SessionTTL == 0 {
		s.SessionTTL = caddy.Duration(DefaultSessionTTL)
	}
	if s.BackchannelLogoutPath == "" {
		s.BackchannelLogoutPath = DefaultBackchannelLogoutPath
	}
	if s.UpstreamJWT != nil && s.UpstreamJWKSPath == "" {
		s.UpstreamJWKSPath = DefaultUpstreamJWKSPath
	}
}

// readSecrets reads secrets.toml, then finds the callback paths in the
// redirect URIs and the cookie settings that follow from their scheme.
func (s *Stauth) readSecrets() error {
	sec, err := loadSecrets(s.SecretsFile)
	if err != nil {
		return err
	}
	if err := overrideRedirect(s.SecretsFile, sec, s.RedirectURI); err != nil {
		return err
	}
	s.secrets = sec
	if err := s.checkCookieDomain(); err != nil {
		return err
	}
	s.callbackPaths = nil
	for _, pc := range sec.providers {
		path := parseRedirect(pc.redirectURI).Path
		if !slices.Contains(s.callbackPaths, path) {
			s.callbackPaths = append(s.callbackPaths, path)
		}
		section := pc.redirectSection(sec.redirectURI)
		for _, own := range s.endpointList() {
			if own.setting != "redirect_uri" && path == own.path {
				return &secretsError{file: s.SecretsFile, section: section, msg: fmt.Sprintf("redirect_uri's path %s is also stauth's %s; use another path, such as /oauth2callback", path, own.setting)}
			}
		}
	}
	return nil
}

// checkedCopy checks the whole configuration, secrets.toml included, on a
// copy of s with the defaults filled in, so that caddy adapt refuses what
// caddy run would.
func (s *Stauth) checkedCopy() (*Stauth, error) {
	checked := *s
	checked.setDefaults()
	if err := checked.Validate(); err != nil {
		return nil, err
	}
	if _, err := newAccessRules(checked.AllowEmails, checked.AllowClaims); err != nil {
		return nil, err
	}
	if err := checked.readSecrets(); err != nil {
		return nil, err
	}
	return &checked, nil
}

// Validate checks the settings that do not come from secrets.toml.
func (s *Stauth) Validate() error {
	seen := map[string]string{}
	for _, e := range s.endpointList() {
		if e.setting == "redirect_uri" {
			continue // checked with secrets.toml
		}
		if !strings.HasPrefix(e.path, "/") {
			return fmt.Errorf("stauth: %s %q must be a path starting with /", e.setting, e.path)
		}
		if other, dup := seen[e.path]; dup {
			return fmt.Errorf("stauth: %s and %s are both %s; give each its own path", other, e.setting, e.path)
		}
		seen[e.path] = e.setting
	}
	if slices.Contains(s.BearerAudiences, "") {
		return errors.New("stauth: bearer_audiences holds an empty audience; remove it")
	}
	if len(s.BearerAudiences) > 0 && !s.Bearer {
		return errors.New("stauth: bearer_audiences is set but bearer is not: add bearer to accept bearer tokens")
	}
	if err := s.checkUpstreamJWT(); err != nil {
		return err
	}
	if s.SessionTTL < caddy.Duration(time.Minute) {
		return fmt.Errorf("stauth: session_ttl %s is too short; use at least 1m (default 30d)", time.Duration(s.SessionTTL))
	}
	if s.StreamlitUser != "" {
		if _, err := parseStreamlitUserFormat(s.StreamlitUser); err != nil {
			return fmt.Errorf("stauth: %w", err)
		}
	}
	return s.validateIdleTimeout()
}

// Cleanup stops background discovery and closes idle provider connections.
func (s *Stauth) Cleanup() error {
	s.stopRevocations()
	if s.cancel != nil {
		s.cancel()
		s.client.CloseIdleConnections()
	}
	return nil
}

// Interface guards
var (
	_ caddy.Provisioner           = (*Stauth)(nil)
	_ caddy.Validator             = (*Stauth)(nil)
	_ caddy.CleanerUpper          = (*Stauth)(nil)
	_ caddyhttp.MiddlewareHandler = (*Stauth)(nil)
)
