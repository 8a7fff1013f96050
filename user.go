package stauth

import (
	"encoding/json"
	"net/http"
	"strings"

	"github.com/caddyserver/caddy/v2"
)

// userPrefix is the placeholder namespace stauth fills.
const userPrefix = "http.auth.user."

// placeholders resolves the http.auth.user.* namespace for a session.
func (s *Stauth) placeholders(sess *session) caddy.ReplacerFunc {
	return func(key string) (any, bool) {
		name, ok := strings.CutPrefix(key, userPrefix)
		if !ok {
			return nil, false
		}
		return s.userValue(sess, name), true
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

// userValue is the text of one http.auth.user.* placeholder.
func (s *Stauth) userValue(sess *session, name string) string {
	switch name {
	case "id", "sub":
		return sess.sub
	case "is_logged_in":
		return "true"
	case "provider":
		return sess.provider
	case "email":
		return sess.email
	case "email_verified":
		return sess.emailVerified
	case "tokens.id":
		return exposed(s.secrets.exposeID, sess.idToken)
	case "tokens.access":
		return exposed(s.secrets.exposeAccess, sess.accessToken)
	}
	return claimText(sess.allClaims()[name])
}

func exposed(allowed bool, token string) string {
	if allowed {
		return token
	}
	return ""
}

// claimText renders a claim for a placeholder: lists comma-joined, objects
// as JSON, absent as empty.
func claimText(v any) string {
	if text, ok := scalarText(v); ok {
		return text
	}
	switch v := v.(type) {
	case nil:
		return ""
	case []any:
		items := make([]string, len(v))
		for i, item := range v {
			items[i] = claimText(item)
		}
		return strings.Join(items, ",")
	}
	raw, _ := json.Marshal(v)
	return string(raw)
}

// serveUser answers the session's user as JSON, like st.user.
func (s *Stauth) serveUser(w http.ResponseWriter, r *http.Request) error {
	if !allowMethods(w, r, http.MethodGet, http.MethodHead) {
		return nil
	}
	setAuthHeaders(w.Header())
	sess := s.currentSession(w, r)
	if sess == nil {
		return writeJSON(w, http.StatusOK, map[string]any{"is_logged_in": false})
	}
	user := map[string]any{}
	for k, v := range sess.allClaims() {
		user[k] = v
	}
	user["is_logged_in"] = true
	user["provider"] = sess.provider
	tokens := map[string]string{}
	if s.secrets.exposeID {
		tokens["id"] = sess.idToken
	}
	if s.secrets.exposeAccess {
		tokens["access"] = sess.accessToken
	}
	if len(tokens) > 0 {
		user["tokens"] = tokens
	}
	return writeJSON(w, http.StatusOK, user)
}
