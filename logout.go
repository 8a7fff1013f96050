package stauth

import (
	"net/http"
	"net/url"
	"strings"
	"time"
)

// logoutIDToken is the ID token to send as id_token_hint for the session:
// the exposed one, or the logout hint cookie's when it names the same user.
func (s *Stauth) logoutIDToken(r *http.Request, sess *session) string {
	if sess.idToken != "" {
		return sess.idToken
	}
	return s.cookies.readLogoutHint(r, sess)
}

// serveLogout ends the session, and at the provider too when it supports
// RP-initiated logout. A request that is not the user's own gets a
// confirmation page instead.
func (s *Stauth) serveLogout(w http.ResponseWriter, r *http.Request) error {
	if !allowMethods(w, r, http.MethodGet, http.MethodHead, http.MethodPost) {
		return nil
	}
	landing := logoutLanding(r)
	if r.Method == http.MethodHead || !isDeliberateLogout(r) {
		return writePage(w, http.StatusOK, page{
			Title:        "Sign out?",
			Paragraphs:   []string{"Confirm that you want to sign out of this site."},
			LogoutAction: s.logoutAction(landing),
		})
	}
	sess, _, _ := s.cookies.readSession(r, time.Now())
	stored := true
	if sess != nil {
		stored = s.revokeSession(r, sess)
		s.loggedOut(r, sess, "session", stored)
	}
	return s.signOut(w, r, sess, stored, landing)
}

// signOut deletes the session's cookies and sends the browser to log out at
// the provider too, when it supports RP-initiated logout, then to landing
// (the signed-out page when empty); stored false says on the page that the
// revocation could not be recorded.
func (s *Stauth) signOut(w http.ResponseWriter, r *http.Request, sess *session, stored bool, landing string) error {
	s.cookies.deleteSession(w, r)
	s.cookies.deleteLogoutHint(w)
	setAuthHeaders(w.Header())
	target, idToken := "", ""
	if s.bound(sess) { // never an ID token to a provider other than its own
		p := s.providers[sess.provider]
		if d, err := p.discover(r.Context()); err == nil && d.endSession != "" {
			if postLogout, err := s.redirectURI(r, p); err == nil {
				idToken = s.logoutIDToken(r, sess)
				target = withLogoutState(p.endSessionURL(d, idToken, postLogout), landing)
			}
		}
	}
	if idToken != "" {
		// The ID token travels in the provider's URL, as RP-Initiated
		// Logout's GET has it; sent in a page rather than in a Location
		// header, it stays out of Caddy's access log.
		return writePage(w, http.StatusOK, page{
			Title:      "Signing you out…",
			Paragraphs: append([]string{"You are being signed out at the sign-in service too."}, notStoredNote(stored)...),
			Refresh:    target,
			Links:      []link{{Href: target, Label: "Continue", Primary: true}},
		})
	}
	if target == "" {
		return s.finishLogout(w, landing)
	}
	return redirect(w, target)
}

// isDeliberateLogout tells whether a logout request is the user's own: a
// POST from this site (Fetch Metadata, or Origin from a browser without
// it), or a GET that is a top-level navigation typed by the user or from a
// page of this origin. An image, a script, a frame or another site's link
// get the confirmation page instead, whatever the browser.
func isDeliberateLogout(r *http.Request) bool {
	if r.Method == http.MethodPost {
		return !isCrossSite(r)
	}
	site := r.Header.Get("Sec-Fetch-Site")
	return r.Header.Get("Sec-Fetch-Mode") == "navigate" && r.Header.Get("Sec-Fetch-Dest") == "document" &&
		(site == "same-origin" || site == "none")
}

// isCrossSite tells whether a request comes from another site: Fetch
// Metadata says so or, from a browser that sends none, the Origin header
// names another host (or is "null").
func isCrossSite(r *http.Request) bool {
	if site := r.Header.Get("Sec-Fetch-Site"); site != "" {
		return site == "cross-site"
	}
	origin := r.Header.Get("Origin")
	if origin == "" {
		return false
	}
	u, err := url.Parse(origin)
	return err != nil || u.Host == "" || !strings.EqualFold(u.Host, r.Host)
}

// idTokenHint is the ID token kept for logout at the provider (its
// id_token_hint) when it is not exposed, with the session it belongs to.
type idTokenHint struct {
	Sub     string `json:"s"`
	Binding string `json:"b"`
	Issued  int64  `json:"i"`
	IDToken string `json:"t"`
}
