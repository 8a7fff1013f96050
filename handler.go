package stauth

import (
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"
)

// ServeHTTP answers stauth's own endpoints and gates every other request.
func (s *Stauth) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	if !s.takeTurn(r) {
		return next.ServeHTTP(w, r) // an earlier stauth handled it (routes.go)
	}
	if s.Passive {
		return s.identify(w, r, next)
	}
	s.warnIfUnserved()
	if e, req := s.endpointFor(r); e != nil {
		return e.serve(w, req)
	}
	return s.gate(w, r, next)
}

// endpoint is one of stauth's own URLs and what answers it.
type endpoint struct {
	// setting names what sets its path, for error messages.
	setting string
	path    string
	serve   func(http.ResponseWriter, *http.Request) error
}

// endpointList lists stauth's endpoints: the one place where an endpoint is
// added. Routing, the checks that their paths differ, and the Caddyfile's
// matcher for them all read it.
func (s *Stauth) endpointList() []endpoint {
	list := []endpoint{{"login_path", s.LoginPath, s.serveLogin}}
	for _, path := range s.callbackPaths {
		list = append(list, endpoint{"redirect_uri", path, func(w http.ResponseWriter, r *http.Request) error {
			return s.serveCallback(w, r, path)
		}})
	}
	list = append(list,
		endpoint{"logout_path", s.LogoutPath, s.serveLogout},
		endpoint{"user_path", s.UserPath, s.serveUser},
		endpoint{"backchannel_logout_path", s.BackchannelLogoutPath, s.serveBackchannelLogout},
	)
	if s.UpstreamJWT != nil {
		list = append(list, endpoint{"upstream_jwks_path", s.UpstreamJWKSPath, s.serveJWKS})
	}
	return list
}

// endpointFor finds the endpoint a request is for. The URL the browser asked
// for comes first, query included, so that a rewrite (try_files, rewrite,
// uri) in front of stauth changes neither which endpoint answers nor what it
// reads; a request rewritten to an endpoint's path is answered as it is.
func (s *Stauth) endpointFor(r *http.Request) (*endpoint, *http.Request) {
	if orig := originalURL(r); orig != r.URL {
		if e := s.endpoints[orig.Path]; e != nil {
			asked := *r
			asked.URL = orig
			return e, &asked
		}
	}
	return s.endpoints[r.URL.Path], r
}

// gate lets a request with a valid session through, with the user's identity
// in the placeholders, and stops the others.
func (s *Stauth) gate(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	if s.AllowPreflight && isPreflight(r) {
		return s.passPreflight(w, r, next)
	}
	if raw, ok := bearerToken(r); ok && s.bearer != nil {
		return s.gateBearer(w, r, next, raw)
	}
	cookiesBefore := len(w.Header()["Set-Cookie"])
	sess := s.currentSession(w, r)
	if len(w.Header()["Set-Cookie"]) > cookiesBefore {
		// A re-sealed or deleted session rides on the next handler's
		// response: no shared cache may keep it for the next user.
		w = privateResponse(w)
	}
	s.cookies.stripOwn(r.Header)
	switch {
	case sess == nil && s.Anonymous:
		// passed on logged out
	case sess == nil:
		return s.challenge(w, r)
	case !s.rules.allows(sess):
		return s.forbidden(w, r, sess)
	}
	s.handOver(r, sess) // placeholders, assertion, Streamlit's cookie; nil: logged out
	return next.ServeHTTP(w, r)
}

// identify passes every request on, with stauth's cookies stripped and the
// placeholders set to the user of a valid session the rules let in, or
// logged out. It writes nothing and calls no provider.
func (s *Stauth) identify(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	now := time.Now()
	sess, _, _ := s.cookies.readSession(r, now)
	s.cookies.stripOwn(r.Header)
	if !s.bound(sess) || s.ended(sess, now) != "" || !s.rules.allows(sess) {
		sess = nil
	}
	s.handOver(r, sess)
	return next.ServeHTTP(w, r)
}

// currentSession opens the request's session. A cookie that does not open,
// has expired, was revoked, was idle too long, or whose tokens were refused
// at refresh is deleted. A session sealed with a previous secret, just
// refreshed, or due for a new last use (idle_timeout) is sealed again.
func (s *Stauth) currentSession(w http.ResponseWriter, r *http.Request) *session {
	now := time.Now()
	sess, stale, present := s.cookies.readSession(r, now)
	if !present {
		s.cookies.deleteSession(w, r) // orphan chunks, such as a _2 without its _1
		return nil
	}
	if !s.bound(sess) {
		s.refused(r, sess, reasonInvalid)
		s.cookies.deleteSession(w, r)
		return nil
	}
	if reason := s.ended(sess, now); reason != "" {
		s.refused(r, sess, reason)
		s.cookies.deleteSession(w, r)
		return nil
	}
	touched := s.touch(sess, now)
	renewed := false
	if s.rules.allows(sess) { // a user the rules keep out never costs a refresh
		var ok bool
		if renewed, ok = s.renewTokens(r.Context(), sess); !ok {
			s.refused(r, sess, reasonRefreshRefused)
			s.cookies.deleteSession(w, r)
			return nil
		}
	}
	if stale || renewed || touched {
		if err := s.cookies.writeSession(w, r, sess); err != nil {
			// The browser keeps the cookie it has: still valid, sealed with a
			// previous secret or holding the tokens before this refresh.
			s.logger.Error("the session could not be sealed again, so the browser keeps its current cookie; it holds too many claims or tokens for the cookie budget: expose fewer tokens (expose_tokens) or ask the provider for fewer claims", zap.String("provider", sess.provider), zap.String("sub", sess.sub), zap.Error(err))
		}
	}
	return sess
}

// gateBearer lets a request with a valid bearer token through as its user,
// with the allow rules and placeholders of a session; a bad token gets a
// 401 (503 while the provider's keys cannot be fetched), never a redirect.
func (s *Stauth) gateBearer(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler, raw string) error {
	id, err := s.bearer.verify(r.Context(), raw)
	s.counters().countBearer(err == nil)
	if err != nil {
		description := "the token is not valid"
		if refused := (*bearerError)(nil); errors.As(err, &refused) {
			description = refused.description
		}
		s.logger.Info("bearer token refused", zap.Error(err))
		status := http.StatusUnauthorized
		if errors.As(err, new(*keysUnavailableError)) {
			status = http.StatusServiceUnavailable
		}
		setAuthHeaders(w.Header())
		w.Header().Set("WWW-Authenticate", bearerChallenge(description))
		return writeJSON(w, status, map[string]string{"error": "invalid_token", "message": description})
	}
	if s.revoked(id.session) {
		// Its user was logged out after it was issued (back-channel logout,
		// log out everywhere), or its provider session was.
		setAuthHeaders(w.Header())
		w.Header().Set("WWW-Authenticate", bearerChallenge(bearerLoggedOut))
		return writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "invalid_token", "message": bearerLoggedOut})
	}
	s.cookies.stripOwn(r.Header)
	if !s.rules.allows(id.session) {
		return s.forbidden(w, r, id.session)
	}
	s.handOver(r, id.session)
	return next.ServeHTTP(w, r)
}

// bound tells whether an opened session was made by a provider configured
// here as it is now.
func (s *Stauth) bound(sess *session) bool {
	if sess == nil {
		return false
	}
	p := s.providers[sess.provider]
	return p != nil && sess.binding == p.binding
}

// isNavigation tells whether a request is a browser loading a page, which
// can be sent to log in, rather than a script or API call. A WebSocket
// upgrade never is (a redirect there only fails the script, which Streamlit's
// front-end then retries forever), nor is a request whose Fetch Metadata
// names another mode, whatever its Accept header.
func isNavigation(r *http.Request) bool {
	if r.Method != http.MethodGet && r.Method != http.MethodHead || r.Header.Get("Upgrade") != "" {
		return false
	}
	if mode := r.Header.Get("Sec-Fetch-Mode"); mode != "" {
		return mode == "navigate"
	}
	return strings.Contains(r.Header.Get("Accept"), "text/html")
}

// challenge answers a request without a session: a browser is sent to log
// in and comes back here; anything else gets a 401.
func (s *Stauth) challenge(w http.ResponseWriter, r *http.Request) error {
	setAuthHeaders(w.Header())
	if isNavigation(r) {
		return redirect(w, s.loginTarget(r))
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
	s.refused(r, sess, reasonForbidden)
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
