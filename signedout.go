package stauth

import (
	"net/http"
	"net/url"
	"strings"
)

// After a logout, stauth shows a "You have signed out" page by default: on
// a site where every page needs a login, a redirect to / would send the
// browser straight back into the provider's login. A same-site rd on the
// logout request (`/auth/logout?rd=/bye`, or a form field) lands there
// instead. Across the provider's RP-initiated logout, rd travels as the
// logout request's state parameter, which the provider sends back to
// post_logout_redirect_uri (stauth's callback): no cookie is needed, and a
// state that starts with / is never a login's (those are random base64url
// text). The state comes back through the browser, so it is checked again
// with safeReturnTo: a forged one can only name a path of this site, which
// /auth/login?rd= can already send a browser to.

// logoutLanding is the page a logout lands on: the request's rd when it is
// a path of this site, or "" for the signed-out page.
func logoutLanding(r *http.Request) string {
	return safeLanding(r.FormValue("rd"))
}

// safeLanding keeps a landing page that safeReturnTo keeps, or gives "".
func safeLanding(raw string) string {
	if raw == "" {
		return ""
	}
	if safe := safeReturnTo(raw); safe != "/" || raw == "/" {
		return safe
	}
	return ""
}

// logoutAction is the confirmation page's sign-out form target, keeping rd.
func (s *Stauth) logoutAction(landing string) string {
	if landing == "" {
		return s.LogoutPath
	}
	return s.LogoutPath + "?rd=" + url.QueryEscape(landing)
}

// withLogoutState adds the landing page to the provider's logout URL as its
// state, which the provider hands back to the callback.
func withLogoutState(endSession, landing string) string {
	if landing == "" {
		return endSession
	}
	u, err := url.Parse(endSession)
	if err != nil {
		return endSession
	}
	q := u.Query()
	q.Set("state", landing)
	u.RawQuery = q.Encode()
	return u.String()
}

// isLogoutReturn tells whether a callback is the provider's return after
// logout: no code and no error, and no state or a landing page as state.
func isLogoutReturn(state, code, providerErr string) bool {
	return code == "" && providerErr == "" && (state == "" || strings.HasPrefix(state, "/"))
}

// finishLogout answers the end of a logout: the landing page when there is
// a safe one, or the signed-out page with a way to sign in again.
func (s *Stauth) finishLogout(w http.ResponseWriter, landing string) error {
	setAuthHeaders(w.Header())
	if landing = safeLanding(landing); landing != "" {
		return redirect(w, landing)
	}
	return writePage(w, http.StatusOK, page{
		Title:      "You have signed out",
		Paragraphs: []string{"You have signed out of this site."},
		Links:      []link{{Href: s.LoginPath, Label: "Sign in again", Primary: true}},
	})
}
