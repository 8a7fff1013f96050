package stauth

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
)

// userPrefix is the placeholder namespace stauth fills.
const userPrefix = "http.auth.user."

// tokensKey is where the exposed tokens appear, in the user JSON and as
// {http.auth.user.tokens.*}: reserved, so a provider's claim of that name is
// never shown in its place.
const tokensKey = "tokens"

// sessionExpiresKey is when the session ends, in Unix seconds, in the user
// JSON and as {http.auth.user.session_expires}; idleExpiresKey is when it
// ends unless used before, with idle_timeout. Both are reserved like
// tokensKey.
const (
	sessionExpiresKey = "session_expires"
	idleExpiresKey    = "idle_expires"
)

// userView is what stauth tells of a logged-in user: the claims, the
// provider and the exposed tokens. The placeholders and the user endpoint
// both read it, so they always agree.
type userView struct {
	sess         *session
	exposeID     bool
	exposeAccess bool
	idleTimeout  time.Duration
}

// user is the view of a session's user.
func (s *Stauth) user(sess *session) userView {
	return userView{sess: sess, exposeID: s.secrets.exposeID, exposeAccess: s.secrets.exposeAccess, idleTimeout: time.Duration(s.IdleTimeout)}
}

// text is the value of one http.auth.user.* placeholder: a claim (lists
// comma-joined, objects as JSON), or one stauth sets itself.
func (u userView) text(name string) string {
	switch name {
	case "id", "sub":
		return u.sess.sub
	case "is_logged_in":
		return "true"
	case "provider":
		return u.sess.provider
	case "email":
		return u.sess.email
	case "email_verified":
		return u.sess.emailVerified
	case tokensKey:
		return ""
	case sessionExpiresKey:
		return strconv.FormatInt(u.sess.expires, 10)
	case idleExpiresKey:
		if u.idleTimeout == 0 {
			return ""
		}
		return strconv.FormatInt(u.idleExpires(), 10)
	}
	if kind, ok := strings.CutPrefix(name, tokensKey+"."); ok {
		return u.tokens()[kind]
	}
	return u.sess.claimText(name)
}

// idleExpires is when the session ends unless used before (Unix seconds).
func (u userView) idleExpires() int64 {
	return lastUse(u.sess).Add(u.idleTimeout).Unix()
}

// tokens are the exposed tokens by kind (id, access).
func (u userView) tokens() map[string]string {
	tokens := map[string]string{}
	if u.exposeID {
		tokens["id"] = u.sess.idToken
	}
	if u.exposeAccess {
		tokens["access"] = u.sess.accessToken
	}
	return tokens
}

// json is the user as the user endpoint answers it, like st.user: every
// claim, is_logged_in, provider, and the exposed tokens.
func (u userView) json() map[string]any {
	user := map[string]any{}
	for k, v := range u.sess.allClaims() {
		user[k] = v
	}
	delete(user, tokensKey)
	user["is_logged_in"] = true
	user["provider"] = u.sess.provider
	// The session's end, which the ID token's one-hour exp is not.
	user[sessionExpiresKey] = u.sess.expires
	delete(user, idleExpiresKey)
	if u.idleTimeout > 0 {
		user[idleExpiresKey] = u.idleExpires()
	}
	if tokens := u.tokens(); len(tokens) > 0 {
		user[tokensKey] = tokens
	}
	return user
}

// loggedOutJSON is the user endpoint's answer without a session.
var loggedOutJSON = map[string]any{"is_logged_in": false}

// placeholders resolves the http.auth.user.* namespace for a session.
func (s *Stauth) placeholders(sess *session) caddy.ReplacerFunc {
	user := s.user(sess)
	return func(key string) (any, bool) {
		name, ok := strings.CutPrefix(key, userPrefix)
		if !ok {
			return nil, false
		}
		return user.text(name), true
	}
}

// loggedOutPlaceholders resolves the http.auth.user.* namespace with no
// session: is_logged_in is false and everything else empty.
func loggedOutPlaceholders(key string) (any, bool) {
	name, ok := strings.CutPrefix(key, userPrefix)
	if !ok {
		return nil, false
	}
	if name == "is_logged_in" {
		return "false", true
	}
	return "", true
}

// serveUser answers the session's user as JSON, like st.user; a POST
// logs the user out everywhere.
func (s *Stauth) serveUser(w http.ResponseWriter, r *http.Request) error {
	if !allowMethods(w, r, http.MethodGet, http.MethodHead, http.MethodPost) {
		return nil
	}
	if r.Method == http.MethodPost {
		return s.serveLogoutEverywhere(w, r)
	}
	setAuthHeaders(w.Header())
	sess := s.currentSession(w, r)
	if sess == nil {
		return writeJSON(w, http.StatusOK, loggedOutJSON)
	}
	return writeJSON(w, http.StatusOK, s.user(sess).json())
}
