package stauth

import (
	"errors"
	"strings"
)

// overrideRedirect puts the site's redirect_uri subdirective in place of
// [auth]'s redirect_uri, so that one secrets.toml of client credentials
// serves many sites, each with its own registered callback. A named
// provider's own redirect_uri keeps its path and query but takes the
// override's scheme and host: it was on [auth]'s origin, where the cookies
// live, and follows the site to its own.
func overrideRedirect(file string, sec *secrets, override string) error {
	if override == "" {
		return nil
	}
	p := &secretsParser{file: file, s: &secrets{}}
	p.checkRedirectURI("redirect_uri", override)
	if p.err != nil {
		var bad *secretsError
		if errors.As(p.err, &bad) {
			return errors.New("stauth: the redirect_uri subdirective: " + bad.msg)
		}
		return p.err
	}
	for _, w := range p.s.warnings {
		sec.warnings = append(sec.warnings, strings.Replace(w, file+": [redirect_uri]: ", "stauth: the redirect_uri subdirective: ", 1))
	}
	origin, _ := splitOrigin(override)
	for i, pc := range sec.providers {
		if pc.redirectURI == sec.redirectURI {
			sec.providers[i].redirectURI = override
		} else {
			_, rest := splitOrigin(pc.redirectURI)
			sec.providers[i].redirectURI = origin + rest
		}
	}
	sec.redirectURI = override
	return nil
}

// splitOrigin cuts a redirect_uri that checkRedirectURI accepted (so with a
// path, and no user name) into its scheme and host, and the rest from the
// path on; {port} stays as written.
func splitOrigin(raw string) (origin, rest string) {
	scheme, after, _ := strings.Cut(raw, "://")
	i := strings.IndexByte(after, '/')
	if i < 0 {
		return raw, ""
	}
	return scheme + "://" + after[:i], after[i:]
}
