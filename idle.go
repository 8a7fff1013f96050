package stauth

// Idle timeout and the end of a session before its expiry: a revoked
// session, or one unused for idle_timeout.

import (
	"fmt"
	"time"

	"github.com/caddyserver/caddy/v2"
)

// maxTouchInterval is the longest a session's last use goes without being
// sealed again: the cookie is re-sealed at most this often (or a quarter of
// idle_timeout, when shorter), never on every request.
const maxTouchInterval = 5 * time.Minute

// validateIdleTimeout checks idle_timeout: off, or at least 1m and shorter
// than session_ttl.
func (s *Stauth) validateIdleTimeout() error {
	switch idle := time.Duration(s.IdleTimeout); {
	case idle == 0:
		return nil
	case idle < time.Minute:
		return fmt.Errorf("stauth: idle_timeout %s is too short; use at least 1m, or leave it out", idle)
	case s.IdleTimeout >= s.SessionTTL:
		return fmt.Errorf("stauth: idle_timeout %s must be shorter than session_ttl %s, which ends every session anyway", idle, time.Duration(s.SessionTTL))
	}
	return nil
}

// lastUse is when a session was last used, as far as its cookie knows.
func lastUse(sess *session) time.Time {
	if sess.lastUsed == 0 {
		return time.Unix(sess.issued, 0) // sealed before lastUsed existed
	}
	return time.Unix(sess.lastUsed, 0)
}

// ended tells why an opened session no longer counts: revoked, or idle too
// long; "" when it still does.
func (s *Stauth) ended(sess *session, now time.Time) refusalReason {
	switch {
	case s.revoked(sess):
		return reasonRevoked
	case s.IdleTimeout > 0 && now.Sub(lastUse(sess)) >= time.Duration(s.IdleTimeout):
		return reasonIdle
	}
	return ""
}

// touchInterval is how stale a session's last use may get before the
// cookie is sealed again.
func (s *Stauth) touchInterval() time.Duration {
	return min(time.Duration(s.IdleTimeout)/4, maxTouchInterval)
}

// touch records the session's use now when idle_timeout is on and its
// recorded last use is older than touchInterval; it tells whether the
// cookie must be sealed again.
func (s *Stauth) touch(sess *session, now time.Time) bool {
	if s.IdleTimeout == 0 || now.Sub(lastUse(sess)) < s.touchInterval() {
		return false
	}
	sess.lastUsed = now.Unix()
	return true
}

// idleTimeoutOption parses the Caddyfile's idle_timeout value.
func idleTimeoutOption(text string) (caddy.Duration, error) {
	d, err := caddy.ParseDuration(text)
	if err != nil {
		return 0, fmt.Errorf("stauth: idle_timeout %q is not a duration such as 30m or 8h", text)
	}
	return caddy.Duration(d), nil
}
