package stauth

// Wiring of the revocation store (revocation.go) into the handler: one store
// per storage shared by every stauth of the process, the gate's check, and
// the revocations that logouts record.

import (
	"context"
	"encoding/hex"
	"fmt"
	"net/http"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/certmagic"
	"go.uber.org/zap"
)

// revocationPrefix is where revocations live in Caddy's storage.
const revocationPrefix = "stauth/revocations"

// revocationStores shares one revocation store among every stauth handler
// (several sites, the Caddyfile's passive stauth, the old and the new
// config during a reload) that uses the same storage.
var revocationStores = caddy.NewUsagePool()

// sharedRevocations is a pooled revocation store; Destruct stops it once
// the last handler using it is cleaned up.
type sharedRevocations struct{ *revocations }

// Destruct stops the store's background refresher (caddy.Destructor).
func (s sharedRevocations) Destruct() error {
	s.Stop()
	if theMetrics != nil {
		theMetrics.forgetRevocations(s.revocations)
	}
	return nil
}

// storageIdentity names a storage for the pool: its String when it has
// one (certmagic's file storage names its path), else its type and
// address, so that unnamed storages are never confused.
func storageIdentity(st certmagic.Storage) string {
	if named, ok := st.(fmt.Stringer); ok {
		return fmt.Sprintf("%T %s", st, named.String())
	}
	return fmt.Sprintf("%T %p", st, st)
}

// startRevocations takes this storage's revocation store from the pool,
// started with the first handler that needs it. It outlives any one config
// (its refresher runs on a background context) and stops with the last.
func (s *Stauth) startRevocations(ctx caddy.Context) error {
	st := contextStorage(ctx)
	key := storageIdentity(st) + "\x00" + revocationPrefix
	logger := s.logger
	v, _, err := revocationStores.LoadOrNew(key, func() (caddy.Destructor, error) {
		r := newRevocations(st, revocationPrefix, logger.Named("revocations"))
		r.Start(context.Background())
		return sharedRevocations{r}, nil
	})
	if err != nil {
		return err
	}
	s.revocations, s.revocationKey = v.(sharedRevocations).revocations, key
	s.counters().watchRevocations(s.revocations)
	return nil
}

// contextStorage is the config's storage; Caddy's default storage for a
// context made without a config (caddy.NewContext in tests), whose
// Storage method would panic.
func contextStorage(ctx caddy.Context) (st certmagic.Storage) {
	defer func() {
		if recover() != nil {
			st = caddy.DefaultStorage
		}
	}()
	if st = ctx.Storage(); st == nil {
		st = caddy.DefaultStorage
	}
	return st
}

// stopRevocations gives this handler's store back to the pool.
func (s *Stauth) stopRevocations() {
	if s.revocations == nil {
		return
	}
	_, _ = revocationStores.Delete(s.revocationKey)
	s.revocations = nil
}

// sessionID is a session's id as the revocation store takes it; zero for a
// session sealed before sessions had ids.
func sessionID(sess *session) [16]byte {
	var id [16]byte
	if len(sess.id) == len(id) {
		copy(id[:], sess.id)
	}
	return id
}

// shortID is the first bytes of a session's id in hex, to tell sessions
// apart in the log without naming one fully.
func shortID(sess *session) string {
	id := sessionID(sess)
	return hex.EncodeToString(id[:4])
}

// revoked tells whether a session was revoked: by logout, back-channel
// logout, or "log out everywhere". Memory only. Revocations by sid and sub
// name the provider by its binding (server_metadata_url and client_id),
// not by its name in secrets.toml: sites sharing a storage may give one
// name to different providers, whose subs are not comparable.
func (s *Stauth) revoked(sess *session) bool {
	return s.revocations != nil &&
		s.revocations.Revoked(sessionID(sess), sess.sid, sess.binding, sess.sub, time.Unix(sess.issued, 0))
}

// revokeSession records a logout of one session until its own expiry, and
// tells whether it was stored for the other instances.
func (s *Stauth) revokeSession(r *http.Request, sess *session) bool {
	if sessionID(sess) == ([16]byte{}) {
		return true // sealed before sessions had ids: nothing to name
	}
	return s.recordRevocation(r, sess, "session",
		"the logout could not be recorded in storage: the session cookie was deleted, but a copy of it stays valid on other instances until it expires",
		func(ctx context.Context) error {
			return s.revocations.RevokeSession(ctx, sessionID(sess), time.Unix(sess.expires, 0))
		})
}

// recordRevocation stores a revocation of the session's kind with record,
// logs it as lost (the message says what then stays valid) when storage
// fails, audits it, and tells whether it was stored.
func (s *Stauth) recordRevocation(r *http.Request, sess *session, kind, lost string, record func(context.Context) error) bool {
	if s.revocations == nil {
		return true
	}
	err := record(r.Context())
	if err != nil {
		s.logger.Error(lost, zap.String("provider", sess.provider), zap.String("session", shortID(sess)), zap.Error(err))
	}
	s.audit("revocation", sess.provider, sess.sub, shortID(sess), clientIP(r), zap.String("kind", kind), zap.Bool("stored", err == nil))
	return err == nil
}

// notStoredNote is the sentence a signed-out page adds when the logout
// could not be recorded for the other instances.
func notStoredNote(stored bool) []string {
	if stored {
		return nil
	}
	return []string{"This browser is signed out, but the sign-out could not be recorded on the server: a copy of the session made before it stays valid until it expires."}
}

// markLifetime is how long a revocation by sid or by user is kept: as long
// as a session of this site lasts, and at least session_ttl's default, so
// that a site with a short session_ttl sharing Caddy's storage with another
// (single sign-on) does not let the other's sessions outlive it.
func (s *Stauth) markLifetime() time.Duration {
	return max(time.Duration(s.SessionTTL), DefaultSessionTTL)
}
