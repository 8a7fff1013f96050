package stauth

import (
	"net/http"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

// Several stauth handlers on one request.
//
// A site may hold several stauth directives over the same secrets.toml with
// different allow rules (stauth @admin … { allow_claim groups admins }, then
// stauth …): one login, rules per route. A request may then pass through
// more than one of them, in route order: the gated stauth of its matcher,
// the passive stauth the Caddyfile adds outside another one's matcher, a
// catch-all stauth. Each of them strips stauth's cookies before passing the
// request on, so the first one keeps the original cookies aside (in a
// request variable that prints as nothing: see requestState) and
// every later stauth puts back the ones it owns before reading the session.
// A later passive stauth changes nothing once an earlier one identified the
// user: a passive stauth never turns an identified request into a logged
// out one, so a gated route's decision is never undone by the passive
// stauth of another directive. A later gating stauth decides again, with
// its own rules.

// stateVar is the request variable holding the requestState.
const stateVar = "stauth_state"

// requestState is what the stauth handlers on one request share: the Cookie
// header as the first one saw it, and the user the placeholders show. The
// first stauth maps the placeholders to it once; a later one changes the
// user it holds, since a Replacer answers from the first mapping that knows
// a name and a second mapping would never be read.
type requestState struct {
	cookie []string
	// identified tells that user is the identified user; without it the
	// placeholders show a logged-out request.
	identified bool
	user       userView
}

// String hides the state from placeholders: {http.vars.stauth_state} shows
// no cookie.
func (*requestState) String() string { return "" }

// replace resolves the http.auth.user.* placeholders for the state's user.
func (st *requestState) replace(key string) (any, bool) {
	if !st.identified {
		return loggedOutPlaceholders(key)
	}
	name, ok := strings.CutPrefix(key, userPrefix)
	if !ok {
		return nil, false
	}
	return st.user.text(name), true
}

// stateOf is the requestState of an earlier stauth on this request, if any.
func stateOf(r *http.Request) *requestState {
	vars, _ := r.Context().Value(caddyhttp.VarsCtxKey).(map[string]any)
	st, _ := vars[stateVar].(*requestState)
	return st
}

// startState makes the request's state, keeping its Cookie header as the
// client sent it (stripOwn replaces the header's slice rather than
// changing it), and maps the placeholders to it. Outside a Caddy server
// (no variables) it returns nil.
func startState(r *http.Request) *requestState {
	vars, ok := r.Context().Value(caddyhttp.VarsCtxKey).(map[string]any)
	if !ok {
		return nil
	}
	st := &requestState{cookie: r.Header["Cookie"]}
	vars[stateVar] = st
	r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer).Map(st.replace)
	return st
}

// handOver prepares a request the gate or the passive stauth passes on:
// the placeholders show the user of sess, or a logged-out request when it
// is nil, and the upstream gets the assertion of that user (or none) and,
// with streamlit_user, Streamlit's cookie of that user (or none).
func (s *Stauth) handOver(r *http.Request, sess *session) {
	s.assertIdentity(r, sess)
	s.passStreamlitUser(r, sess)
	if st := stateOf(r); st != nil {
		st.identified = sess != nil
		if sess != nil {
			st.user = s.user(sess)
		}
		return
	}
	repl := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer)
	if sess == nil {
		repl.Map(loggedOutPlaceholders)
	} else {
		repl.Map(s.placeholders(sess))
	}
}

// restoreOwn puts back into h the cookies of this jar that an earlier
// stauth stripped; it adds no cookie that is not stauth's.
func (j *cookieJar) restoreOwn(h http.Header, cookie []string) {
	var own strings.Builder
	scanCookies(http.Header{"Cookie": cookie}, func(name, value string) bool {
		if j.isOwn(name) {
			if own.Len() > 0 {
				own.WriteString("; ")
			}
			own.WriteString(name + "=" + value)
		}
		return true
	})
	if own.Len() > 0 {
		kept := h["Cookie"]
		h["Cookie"] = append(kept[:len(kept):len(kept)], own.String())
	}
}

// takeTurn prepares a request for this stauth and tells whether it has
// anything left to do: the first stauth on a request starts its state; a
// later one puts its own cookies back, except a passive one after the user
// was identified, which has nothing to do.
func (s *Stauth) takeTurn(r *http.Request) bool {
	st := stateOf(r)
	switch {
	case st == nil:
		startState(r)
	case s.Passive && st.identified:
		return false
	default:
		s.cookies.restoreOwn(r.Header, st.cookie)
	}
	return true
}
