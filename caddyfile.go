package stauth

import (
	"slices"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

func init() {
	httpcaddyfile.RegisterDirective("stauth", parseCaddyfile)
	httpcaddyfile.RegisterDirectiveOrder("stauth", httpcaddyfile.Before, "basic_auth")
}

// parseCaddyfile reads the stauth directive. Its first argument may be a
// matcher (* or @name); a path matcher is refused because the secrets path
// may itself start with /. With a matcher, the route also matches stauth's
// own endpoints, so a login can finish whatever the matcher covers, and a
// second, passive stauth takes every other request: it challenges nobody,
// but strips stauth's cookies and sets the placeholders, so that an app
// outside the matcher never receives a replayable session or a placeholder
// left as literal text.
func parseCaddyfile(h httpcaddyfile.Helper) ([]httpcaddyfile.ConfigValue, error) {
	h.Next()
	args := h.RemainingArgs()
	h.Reset()
	var matcher caddy.ModuleMap
	isMatcher := len(args) > 0 && (args[0] == "*" || strings.HasPrefix(args[0], "@"))
	switch {
	case isMatcher && len(args) == 1:
		return nil, h.Errf("stauth: the path of secrets.toml is missing after the matcher %s: stauth %s <path/to/secrets.toml>", args[0], args[0])
	case isMatcher && len(args) > 2:
		return nil, h.Errf("stauth: unexpected argument %q: stauth takes a matcher and one path", args[2])
	case isMatcher:
		h.Next()
		var err error
		if matcher, err = h.ExtractMatcherSet(); err != nil {
			return nil, err
		}
	case len(args) == 2 && strings.HasPrefix(args[0], "/"):
		return nil, h.Errf("stauth: %q looks like a path matcher, but stauth's argument is the path of secrets.toml, which may start with / too; "+
			"name the matcher instead: @protected path %s, then stauth @protected %s", args[0], args[0], args[1])
	}
	s := new(Stauth)
	if err := s.UnmarshalCaddyfile(h.Dispenser); err != nil {
		return nil, err
	}
	checked, err := s.checkedCopy()
	if err != nil {
		h.Reset() // back to the directive's first token, for its file and line
		h.Next()
		return nil, h.Errf("%v", err)
	}
	if s.SecretsDigest, err = secretsDigest(s.SecretsFile, checked.secrets.cookieSecrets[0]); err != nil {
		h.Reset()
		h.Next()
		return nil, h.Errf("%v", err)
	}
	routes := h.NewRoute(matcher, s)
	if matcher == nil {
		return routes, nil
	}
	var endpoints caddyhttp.MatchPath
	for _, e := range checked.endpointList() {
		endpoints = append(endpoints, e.path)
	}
	gated := routes[0].Value.(caddyhttp.Route)
	gated.MatcherSetsRaw = append(gated.MatcherSetsRaw, caddy.ModuleMap{"path": h.JSON(endpoints)})
	routes[0].Value = gated
	passive := *s
	passive.Passive = true
	outside := h.NewRoute(caddy.ModuleMap{"not": h.JSON(gated.MatcherSetsRaw)}, &passive)
	return append(routes, outside...), nil
}

// UnmarshalCaddyfile sets up the handler from Caddyfile tokens. Syntax:
//
//	stauth [<matcher>] <path/to/secrets.toml> {
//	    login_path   <path>                  # default /auth/login
//	    logout_path  <path>                  # default /auth/logout
//	    user_path    <path>                  # default /auth/user
//	    anonymous                            # let requests without a session through, logged out
//	    allow_emails <email|*@domain> ...    # default: every logged-in user; repeatable
//	    allow_claim  <claim> <value> ...     # e.g. allow_claim groups admins; repeatable, all must hold
//	    session_ttl  <duration>              # default 30d, at least 1m
//	    bearer                               # also accept Authorization: Bearer <JWT> from the providers
//	    bearer_audiences <aud> ...           # audiences a bearer token may name besides client_id
//	    streamlit_user <tornado|starlette>   # st.user for the Streamlit app behind: tornado ≤1.56, starlette ≥1.57
//	    redirect_uri <url>                   # this site's callback, in place of [auth]'s redirect_uri
//	    idle_timeout <duration>              # end a session unused this long; default off, ≥ 1m, < session_ttl
//	    backchannel_logout_path <path>       # default /auth/backchannel-logout
//	    cookie_domain <domain>               # share the session with the domain's subdomains (single sign-on)
//	    allow_preflight                      # let CORS preflights (OPTIONS) through, logged out
//	    upstream_jwt <audience> [<header>]   # a signed JWT about the user for the upstream; header default X-Stauth-Assertion
//	    upstream_jwks_path <path>            # its public keys; default /auth/jwks.json (with upstream_jwt)
//	}
//
// The matcher, when given, is * or a named matcher (@name); the directive
// reads it before this method sees the tokens. A path matcher must be named,
// because the secrets path may start with / too. The callback is the path of
// redirect_uri (the subdirective's, or else secrets.toml's; Streamlit's is
// /oauth2callback), and of each provider's own redirect_uri if it has one.
// A relative secrets path is read from Caddy's working directory.
//
// With cookie_domain example.com, redirect_uri's host must be example.com
// or one of its subdomains. Several stauth directives in one site, over the
// same secrets.toml, share one login: each gates its own matcher with its
// own allow rules.
func (s *Stauth) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // the directive's name
	if !d.NextArg() {
		return d.Err("stauth: the path of secrets.toml is missing: stauth <path/to/secrets.toml>")
	}
	s.SecretsFile = d.Val()
	if d.NextArg() {
		return d.Errf("stauth: unexpected argument %q: stauth takes one path (and an optional matcher before it)", d.Val())
	}
	var seen []string
	for d.NextBlock(0) {
		if slices.Contains(seen, d.Val()) && !slices.Contains(repeatableOptions, d.Val()) {
			return d.Errf("stauth: %s is given twice; keep one", d.Val())
		}
		seen = append(seen, d.Val())
		if err := s.unmarshalOption(d); err != nil {
			return err
		}
	}
	return nil
}

// repeatableOptions add to what an earlier line gave; every other option
// may be given once.
var repeatableOptions = []string{"allow_emails", "allow_claim", "bearer_audiences"}

// optionNames are the subdirectives of the stauth block, for error
// messages; TestOptionNames keeps it and unmarshalOption in step.
var optionNames = []string{
	"login_path", "logout_path", "user_path", "anonymous", "allow_emails", "allow_claim", "session_ttl",
	"bearer", "bearer_audiences", "streamlit_user", "redirect_uri", "idle_timeout", "backchannel_logout_path",
	"cookie_domain", "allow_preflight", "upstream_jwt", "upstream_jwks_path",
}

// unmarshalOption reads one line of the stauth block.
func (s *Stauth) unmarshalOption(d *caddyfile.Dispenser) error {
	option := d.Val()
	args := d.RemainingArgs()
	one := func(target *string) error {
		if len(args) != 1 {
			return d.Errf("stauth: %s takes one value", option)
		}
		*target = args[0]
		return nil
	}
	switch option {
	case "login_path":
		return one(&s.LoginPath)
	case "logout_path":
		return one(&s.LogoutPath)
	case "user_path":
		return one(&s.UserPath)
	case "redirect_uri":
		// The Caddyfile expands the {port} shorthand; stauth's {port} is the
		// listener's port, as in secrets.toml.
		err := one(&s.RedirectURI)
		s.RedirectURI = strings.ReplaceAll(s.RedirectURI, "{http.request.port}", "{port}")
		return err
	case "anonymous":
		if len(args) != 0 {
			return d.Err("stauth: anonymous takes no value")
		}
		s.Anonymous = true
	case "allow_emails":
		if len(args) == 0 {
			return d.Err("stauth: allow_emails needs at least one email or *@domain")
		}
		s.AllowEmails = append(s.AllowEmails, args...)
	case "allow_claim":
		if len(args) < 2 {
			return d.Err("stauth: allow_claim needs a claim and at least one value, like: allow_claim groups admins")
		}
		s.AllowClaims = append(s.AllowClaims, ClaimRule{Claim: args[0], Values: args[1:]})
	case "bearer":
		if len(args) != 0 {
			return d.Err("stauth: bearer takes no value")
		}
		s.Bearer = true
	case "bearer_audiences":
		if len(args) == 0 {
			return d.Err("stauth: bearer_audiences needs at least one audience, such as https://api.example.com")
		}
		s.BearerAudiences = append(s.BearerAudiences, args...)
	case "cookie_domain":
		return one(&s.CookieDomain)
	case "allow_preflight":
		if len(args) != 0 {
			return d.Err("stauth: allow_preflight takes no value")
		}
		s.AllowPreflight = true
	case "upstream_jwt":
		if len(args) < 1 || len(args) > 2 {
			return d.Err("stauth: upstream_jwt takes the audience (the upstream the JWT is for) and optionally the header, like: upstream_jwt grafana X-Stauth-Assertion")
		}
		s.UpstreamJWT = &UpstreamJWT{Audience: args[0]}
		if len(args) == 2 {
			s.UpstreamJWT.Header = args[1]
		}
	case "upstream_jwks_path":
		return one(&s.UpstreamJWKSPath)
	case "session_ttl":
		var text string
		if err := one(&text); err != nil {
			return err
		}
		ttl, err := caddy.ParseDuration(text)
		if err != nil {
			return d.Errf("stauth: session_ttl %q is not a duration such as 12h or 30d", text)
		}
		s.SessionTTL = caddy.Duration(ttl)
	case "streamlit_user":
		if err := one(&s.StreamlitUser); err != nil {
			return d.Errf("stauth: streamlit_user takes one value: tornado (Streamlit 1.56 and older) or starlette (1.57 and newer)")
		}
		if _, err := parseStreamlitUserFormat(s.StreamlitUser); err != nil {
			return d.Errf("stauth: %v", err)
		}
	case "backchannel_logout_path":
		return one(&s.BackchannelLogoutPath)
	case "idle_timeout":
		var text string
		if err := one(&text); err != nil {
			return err
		}
		idle, err := idleTimeoutOption(text)
		if err != nil {
			return d.Err(err.Error())
		}
		s.IdleTimeout = idle
	default:
		return d.Errf("stauth: unknown option %q; the options are %s", option, strings.Join(optionNames, ", "))
	}
	return nil
}

// Interface guards
var _ caddyfile.Unmarshaler = (*Stauth)(nil)
