package stauth

// "Log out everywhere": a POST to the user endpoint ends every session of
// the user, in every browser, on every instance sharing the storage.

import (
	"context"
	"net/http"
	"time"
)

// serveLogoutEverywhere records that the session's user logged out of every
// session issued until now, then signs this browser out as logout does. A
// POST from another site is refused; without a session it only deletes the
// cookies.
func (s *Stauth) serveLogoutEverywhere(w http.ResponseWriter, r *http.Request) error {
	if isCrossSite(r) {
		setAuthHeaders(w.Header())
		return writeJSON(w, http.StatusForbidden, map[string]string{"error": "cross_site", "message": "Logging out everywhere must be asked from this site."})
	}
	now := time.Now()
	sess, _, _ := s.cookies.readSession(r, now)
	if sess == nil || !s.bound(sess) {
		return s.signOut(w, r, nil, true, logoutLanding(r))
	}
	stored := s.recordRevocation(r, sess, "everywhere",
		"logging out everywhere could not be recorded in storage: this browser is signed out, other sessions of the user stay valid on other instances until they expire",
		func(ctx context.Context) error {
			return s.revocations.RevokeSubBefore(ctx, sess.binding, sess.sub, now, now.Add(s.markLifetime()))
		})
	s.loggedOut(r, sess, "everywhere", stored)
	return s.signOut(w, r, sess, stored, logoutLanding(r))
}
