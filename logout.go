package stauth

import (
	"net/http"
	"net/url"
	"strings"
	"time"

	"go.uber.org/zap"
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
// RP-initiated logout. A cross-site request gets a confirmation page instead.
func (s *Stauth) serveLogout(w http.ResponseWriter, r *http.Request) error {
	if !allowMethods(w, r, http.MethodGet, http.MethodHead, http.MethodPost) {
		return nil
	}
	if isCrossSite(r) || r.Method == http.MethodHead {
		return writePage(w, http.StatusOK, page{
			Title:        "Sign out?",
			Paragraphs:   []string{"Confirm that you want to sign out of this site."},
			LogoutAction: s.LogoutPath,
		})
	}
	sess, _, _ := s.cookies.readSession(r, time.Now())
	s.cookies.deleteSession(w, r)
	s.cookies.deleteLogoutHint(w)
	setAuthHeaders(w.Header())
	target := "/"
	if sess != nil && s.providers[sess.provider] != nil {
		p := s.providers[sess.provider]
		if d, err := p.discover(r.Context()); err == nil && d.endSession != "" {
			if postLogout, err := s.redirectURI(r, p); err == nil {
				target = p.endSessionURL(d, s.logoutIDToken(r, sess), postLogout)
			}
		}
		s.logger.Info("logout", zap.String("provider", sess.provider), zap.String("sub", sess.sub))
	}
	return redirect(w, target)
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
