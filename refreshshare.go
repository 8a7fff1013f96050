package stauth

// Refresh across replicas. A provider that rotates refresh tokens with reuse
// detection revokes the whole grant when an old refresh token comes back;
// two instances refreshing the same session at once would trigger it. With
// Caddy's storage shared, the instances take a storage lock per refresh
// token and leave the new tokens there, sealed, for a minute: the second
// instance takes them instead of refreshing again.

import (
	"context"
	"encoding/hex"
	"errors"
	"io/fs"
	"path"
	"sync"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/certmagic"
	"go.uber.org/zap"
	"golang.org/x/oauth2"
)

// Shared refresh settings.
const (
	// purposeRefreshResult keys the sealer of refresh results in storage.
	purposeRefreshResult = "stauth refresh result"
	// refreshLockTimeout bounds the wait for another instance's refresh of
	// the same token; past it, this instance refreshes on its own.
	refreshLockTimeout = 10 * time.Second
	// refreshResultsSweep is how often stale results are deleted.
	refreshResultsSweep = 10 * time.Minute
	refreshLockPrefix   = "stauth/refresh"
	refreshResultPrefix = "stauth/refresh-results"
)

// sharedRefresh coordinates refreshes through Caddy's storage.
type sharedRefresh struct {
	storage certmagic.Storage
	sealer  *sealer
	logger  *zap.Logger
	now     func() time.Time

	mu        sync.Mutex
	lastSweep time.Time
}

// storedRefresh is a refresh result as sealed in storage.
type storedRefresh struct {
	Access  string `json:"a"`
	Refresh string `json:"r,omitempty"`
	IDToken string `json:"i,omitempty"`
	Expiry  int64  `json:"e,omitempty"`
	Until   int64  `json:"u"`
}

// shareRefreshes makes the refresher coordinate through Caddy's storage,
// sealing results with a key derived from cookie_secret for this purpose.
func (s *Stauth) shareRefreshes(ctx caddy.Context) {
	site := parseRedirect(s.secrets.redirectURI)
	sl, err := newSealer(s.secrets.cookieSecrets, purposeRefreshResult, site.Scheme+"://"+site.Host)
	if err != nil {
		s.logger.Warn("refreshes are not shared between instances", zap.Error(err))
		return
	}
	s.refresher.shared = &sharedRefresh{storage: contextStorage(ctx), sealer: sl, logger: s.logger, now: time.Now}
}

// atProvider runs call, the refresh at the provider, under the shared
// refresh's lock when there is one.
func (rf *refresher) atProvider(ctx context.Context, key [32]byte, call func() (refreshOutcome, error)) (refreshOutcome, error) {
	if rf.shared == nil {
		return call()
	}
	return rf.shared.do(context.WithoutCancel(ctx), key, call)
}

// do takes the storage lock of the refresh token whose SHA-256 is key,
// answers the result another instance left, or calls the provider and
// leaves its result for the others. A storage that fails is logged and
// the refresh goes on locally.
func (sr *sharedRefresh) do(ctx context.Context, key [32]byte, call func() (refreshOutcome, error)) (refreshOutcome, error) {
	name := hex.EncodeToString(key[:])[:32]
	lock, result := path.Join(refreshLockPrefix, name), path.Join(refreshResultPrefix, name)
	lctx, cancel := context.WithTimeout(ctx, refreshLockTimeout)
	defer cancel()
	if err := sr.storage.Lock(lctx, lock); err != nil {
		sr.logger.Warn("refreshing without the storage lock: another instance may refresh the same token at once", zap.Error(err))
		return call()
	}
	defer func() {
		if err := sr.storage.Unlock(ctx, lock); err != nil {
			sr.logger.Warn("the refresh lock could not be released", zap.Error(err))
		}
	}()
	if token, ok := sr.load(lctx, result); ok {
		return refreshOutcome{verdict: refreshDone, token: token}, nil
	}
	outcome, err := call()
	if outcome.verdict == refreshDone {
		sctx, cancel := context.WithTimeout(ctx, refreshLockTimeout)
		sr.store(sctx, result, outcome.token)
		cancel()
	}
	sr.sweep()
	return outcome, err
}

// load returns the tokens another instance left at key, if still fresh.
func (sr *sharedRefresh) load(ctx context.Context, key string) (*oauth2.Token, bool) {
	sealed, err := sr.storage.Load(ctx, key)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			sr.logger.Warn("a shared refresh result could not be read", zap.Error(err))
		}
		return nil, false
	}
	var stored storedRefresh
	if !openJSON(sr.sealer, string(sealed), &stored) || sr.now().Unix() >= stored.Until {
		return nil, false
	}
	token := (&oauth2.Token{AccessToken: stored.Access, RefreshToken: stored.Refresh, TokenType: "Bearer"}).
		WithExtra(map[string]any{"id_token": stored.IDToken})
	if stored.Expiry != 0 {
		token.Expiry = time.Unix(stored.Expiry, 0)
	}
	return token, true
}

// store leaves a refresh's tokens, sealed, for refreshReuse.
func (sr *sharedRefresh) store(ctx context.Context, key string, token *oauth2.Token) {
	idToken, _ := token.Extra("id_token").(string)
	stored := storedRefresh{Access: token.AccessToken, Refresh: token.RefreshToken, IDToken: idToken,
		Expiry: expiryUnix(token.Expiry), Until: sr.now().Add(refreshReuse).Unix()}
	if err := sr.storage.Store(ctx, key, []byte(sealJSON(sr.sealer, stored))); err != nil {
		sr.logger.Warn("a refresh result could not be shared with the other instances", zap.Error(err))
	}
}

// sweep deletes, at most every refreshResultsSweep and in the background,
// the results older than refreshReuse.
func (sr *sharedRefresh) sweep() {
	sr.mu.Lock()
	now := sr.now()
	due := now.Sub(sr.lastSweep) >= refreshResultsSweep
	if due {
		sr.lastSweep = now
	}
	sr.mu.Unlock()
	if !due {
		return
	}
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		keys, err := sr.storage.List(ctx, refreshResultPrefix, false)
		if err != nil {
			return
		}
		for _, k := range keys {
			if info, err := sr.storage.Stat(ctx, k); err == nil && now.Sub(info.Modified) > 2*refreshReuse {
				_ = sr.storage.Delete(ctx, k)
			}
		}
	}()
}
