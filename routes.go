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
// request variable the next handlers cannot read: see cookieStash) and
// every later gating stauth puts back the ones it owns before reading the
// session. A later passive stauth changes nothing: the first one already
// stripped the cookies and set the placeholders, and a gating one after it
// sets them again. So a gated route's decision is never undone by the
// passive stauth of another directive.

// stashVar is the request variable holding the cookieStash.
const stashVar = "stauth_cookies"

// cookieStash is the Cookie header as the first stauth on a request saw it.
// It prints as nothing, so {http.vars.stauth_cookies} shows no cookie.
type cookieStash struct {
	cookie []string
}

// String hides the cookies from placeholders.
func (*cookieStash) String() string { return "" }

// handledWithoutCookies marks a request without cookies that a stauth has
// already handled, without allocating.
var handledWithoutCookies = &cookieStash{}

// earlierStash is the cookieStash of an earlier stauth on this request, if
// any.
func earlierStash(r *http.Request) *cookieStash {
	vars, _ := r.Context().Value(caddyhttp.VarsCtxKey).(map[string]any)
	stash, _ := vars[stashVar].(*cookieStash)
	return stash
}

// stashCookies keeps the request's Cookie header aside for the stauth
// handlers after this one. stripOwn replaces the header's slice rather
// than changing it, so the slice kept here stays as the client sent it.
func stashCookies(r *http.Request) {
	vars, ok := r.Context().Value(caddyhttp.VarsCtxKey).(map[string]any)
	if !ok {
		return
	}
	if len(r.Header["Cookie"]) == 0 {
		vars[stashVar] = handledWithoutCookies
		return
	}
	vars[stashVar] = &cookieStash{cookie: r.Header["Cookie"]}
}

// restoreOwn puts back into h the cookies of this jar that an earlier
// stauth stripped; it adds no cookie that is not stauth's.
func (j *cookieJar) restoreOwn(h http.Header, stash *cookieStash) {
	var own strings.Builder
	scanCookies(http.Header{"Cookie": stash.cookie}, func(name, value string) bool {
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
// anything left to do: the first stauth on a request keeps its cookies
// aside; a later one that gates puts its own back; a later passive one has
// nothing to do.
func (s *Stauth) takeTurn(r *http.Request) bool {
	stash := earlierStash(r)
	switch {
	case stash == nil:
		stashCookies(r)
	case s.Passive:
		return false
	default:
		s.cookies.restoreOwn(r.Header, stash)
	}
	return true
}

// isPreflight tells whether a request is a CORS preflight: OPTIONS with
// Origin and Access-Control-Request-Method.
func isPreflight(r *http.Request) bool {
	return r.Method == http.MethodOptions && r.Header.Get("Origin") != "" && r.Header.Get("Access-Control-Request-Method") != ""
}

// passPreflight lets a CORS preflight through, logged out, with stauth's
// cookies stripped (a browser sends none with a preflight anyway) and no
// assertion for the upstream: the browser sends the real request
// afterwards, with its credentials, and that one is gated.
func (s *Stauth) passPreflight(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	s.cookies.stripOwn(r.Header)
	r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer).Map(loggedOutPlaceholders)
	s.assertIdentity(r, nil)
	return next.ServeHTTP(w, r)
}
