package stauth

import (
	"context"
	"time"

	"go.uber.org/zap"
	"golang.org/x/oauth2"
)

// refreshBefore is how long before the access token expires it is refreshed.
const refreshBefore = time.Minute

// renewTokens refreshes the session's exposed access token when it expires
// soon. renewed tells that the session now holds new tokens; ok is false
// when the session must end because its tokens could not be renewed.
func (s *Stauth) renewTokens(ctx context.Context, sess *session) (renewed, ok bool) {
	if !needsRefresh(sess) {
		return false, true
	}
	err := s.refreshTokens(ctx, sess)
	switch {
	case err == nil:
		return true, true
	case isUnreachable(err) && time.Now().Unix() < sess.accessExpires:
		// The provider did not answer; the access token still works.
		s.logger.Warn("access token refresh failed; trying again on the next request", zap.String("provider", sess.provider), zap.String("sub", sess.sub), zap.Error(err))
		return false, true
	default:
		s.logger.Info("session ended: the access token could not be refreshed", zap.String("provider", sess.provider), zap.String("sub", sess.sub), zap.Error(err))
		return false, false
	}
}

// needsRefresh tells whether the session's exposed access token expires soon
// and a refresh token can renew it.
func needsRefresh(sess *session) bool {
	return sess.refreshToken != "" && sess.accessExpires != 0 &&
		time.Until(time.Unix(sess.accessExpires, 0)) < refreshBefore
}

// refreshTokens renews the session's tokens at its provider. Requests that
// carry the same refresh token at the same time share one refresh, so a
// provider that rotates refresh tokens does not see it used twice.
func (s *Stauth) refreshTokens(ctx context.Context, sess *session) error {
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
	sess.renew(shared.(*oauth2.Token))
	return nil
}
