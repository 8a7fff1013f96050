package stauth

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"
	"golang.org/x/oauth2"
)

// refreshBefore is how long before the access token expires it is refreshed.
const refreshBefore = time.Minute

// ServeHTTP answers stauth's own endpoints and gates every other request.
func (s *Stauth) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	switch path := s.endpoint(r); path {
	case "":
		return s.gate(w, r, next)
	case s.LoginPath:
		return s.serveLogin(w, r)
	case s.LogoutPath:
		return s.serveLogout(w, r)
	case s.UserPath:
		return s.serveUser(w, r)
	default:
		return s.serveCallback(w, r, path)
	}
}

// endpoint returns the request's path when it is one of stauth's endpoints,
// looking also at the path before any rewrite (try_files, rewrite, uri).
func (s *Stauth) endpoint(r *http.Request) string {
	if s.isEndpoint(r.URL.Path) {
		return r.URL.Path
	}
	if orig := originalURL(r); s.isEndpoint(orig.Path) {
		return orig.Path
	}
	return ""
}

func (s *Stauth) isEndpoint(path string) bool {
	return path == s.LoginPath || path == s.LogoutPath || path == s.UserPath || slices.Contains(s.callbackPaths, path)
}

// gate lets a request with a valid session through, with the user's identity
// in the placeholders, and stops the others.
func (s *Stauth) gate(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	repl := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer)
	sess := s.currentSession(w, r)
	s.cookies.stripOwn(r.Header)
	switch {
	case sess == nil && s.Anonymous:
		repl.Map(loggedOutPlaceholders)
	case sess == nil:
		return s.challenge(w, r)
	case !s.rules.allows(sess):
		return s.forbidden(w, r, sess)
	default:
		repl.Map(s.placeholders(sess))
	}
	return next.ServeHTTP(w, r)
}

// currentSession opens the request's session. A cookie that does not open,
// has expired, or whose tokens cannot be refreshed is deleted. A session
// sealed with a previous secret, or just refreshed, is sealed again.
func (s *Stauth) currentSession(w http.ResponseWriter, r *http.Request) *session {
	value := s.cookies.sessionValue(r.Header)
	if value == "" {
		s.cookies.deleteSession(w, r) // orphan chunks, such as a _2 without its _1
		return nil
	}
	sess, stale := openSession(s.sessions, value, time.Now())
	if sess == nil || s.providers[sess.provider] == nil {
		s.cookies.deleteSession(w, r)
		return nil
	}
	if s.needsRefresh(sess) {
		err := s.refresh(r.Context(), sess)
		switch {
		case err == nil:
			stale = true
		case isUnreachable(err) && time.Now().Unix() < sess.accessExpires:
			// The provider did not answer; the access token still works.
			s.logger.Warn("access token refresh failed; trying again on the next request", zap.String("provider", sess.provider), zap.String("sub", sess.sub), zap.Error(err))
		default:
			s.logger.Info("session ended: the access token could not be refreshed", zap.String("provider", sess.provider), zap.String("sub", sess.sub), zap.Error(err))
			s.cookies.deleteSession(w, r)
			return nil
		}
	}
	if stale {
		sealed, err := sealSession(s.sessions, sess)
		if err != nil {
			// The browser keeps the cookie it has: still valid, sealed with a
			// previous secret or holding the tokens before this refresh.
			s.logger.Error("the session could not be sealed again", zap.String("provider", sess.provider), zap.String("sub", sess.sub), zap.Error(err))
		} else {
			s.cookies.setSession(w, r, sealed)
		}
	}
	return sess
}

// needsRefresh tells whether the session's exposed access token expires soon
// and a refresh token can renew it.
func (s *Stauth) needsRefresh(sess *session) bool {
	return sess.refreshToken != "" && sess.accessExpires != 0 &&
		time.Until(time.Unix(sess.accessExpires, 0)) < refreshBefore
}

// refresh renews the session's tokens at its provider. Requests that carry
// the same refresh token at the same time share one refresh, so a provider
// that rotates refresh tokens does not see it used twice.
func (s *Stauth) refresh(ctx context.Context, sess *session) error {
	p := s.providers[sess.provider]
	d, err := p.discover(ctx)
	if err != nil {
		return err
	}
	shared, err, _ := s.refreshes.Do(sess.refreshToken, func() (any, error) {
		return p.refresh(context.WithoutCancel(ctx), d, sess)
	})
	if err != nil {
		return err
	}
	token := shared.(*oauth2.Token)
	sess.accessToken, sess.accessExpires = token.AccessToken, expiryUnix(token.Expiry)
	if token.RefreshToken != "" {
		sess.refreshToken = token.RefreshToken
	}
	if raw, _ := token.Extra("id_token").(string); raw != "" && sess.idToken != "" {
		sess.idToken = raw
	}
	return nil
}

// isNavigation tells whether a request is a browser loading a page, which
// can be sent to log in, rather than a script or API call.
func isNavigation(r *http.Request) bool {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return false
	}
	return r.Header.Get("Sec-Fetch-Mode") == "navigate" || strings.Contains(r.Header.Get("Accept"), "text/html")
}

// challenge answers a request without a session: a browser is sent to log
// in and comes back here; anything else gets a 401.
func (s *Stauth) challenge(w http.ResponseWriter, r *http.Request) error {
	setAuthHeaders(w.Header())
	if isNavigation(r) {
		return redirect(w, s.LoginPath+"?rd="+url.QueryEscape(originalURL(r).RequestURI()))
	}
	w.Header().Set("WWW-Authenticate", `Cookie realm="stauth", form-action="`+s.LoginPath+`"`)
	return writeJSON(w, http.StatusUnauthorized, map[string]string{
		"error":     "login_required",
		"message":   "This resource needs a login; open " + s.LoginPath + " in a browser.",
		"login_url": s.LoginPath,
	})
}

// forbidden answers a logged-in user the access rules keep out.
func (s *Stauth) forbidden(w http.ResponseWriter, r *http.Request, sess *session) error {
	who := sess.email
	if who == "" {
		who = sess.sub
	}
	s.logger.Info("access denied by allow rules", zap.String("provider", sess.provider), zap.String("sub", sess.sub), zap.String("email", sess.email))
	if !isNavigation(r) {
		setAuthHeaders(w.Header())
		return writeJSON(w, http.StatusForbidden, map[string]string{"error": "forbidden", "message": who + " may not use this site."})
	}
	return writePage(w, http.StatusForbidden, page{
		Title:        "You don't have access",
		Paragraphs:   []string{"You are signed in as " + who + " (" + s.providers[sess.provider].displayName + "), but this site does not let that account in.", "Sign out to use another account, or ask the site's administrator for access."},
		LogoutAction: s.LogoutPath,
	})
}
