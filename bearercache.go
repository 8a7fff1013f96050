package stauth

import (
	"crypto/sha256"
	"net/http"
	"strings"
	"sync"
	"time"
)

// bearerChallenge is the WWW-Authenticate value of a 401 answered to a
// refused bearer token (RFC 6750 §3): error invalid_token and the
// description, kept to the characters the header allows.
func bearerChallenge(description string) string {
	clean := strings.Map(func(r rune) rune {
		if r < 0x20 || r > 0x7e || r == '"' || r == '\\' {
			return -1
		}
		return r
	}, description)
	if clean == "" {
		return `Bearer error="invalid_token"`
	}
	return `Bearer error="invalid_token", error_description="` + clean + `"`
}

// bearerToken returns the token of an Authorization: Bearer header (RFC
// 6750 §2.1; the scheme is case-insensitive), and whether there is one.
func bearerToken(r *http.Request) (string, bool) {
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimLeft(token, " ")
	return token, token != ""
}

// bearerCache remembers verified tokens by the SHA-256 of the token, so a
// client presenting the same token again skips the signature check. Only
// verified tokens are kept: a refused one costs a parse and at most one
// signature check, and a cache of refusals would be one attackers fill.
type bearerCache struct {
	mu      sync.Mutex
	max     int
	entries map[[sha256.Size]byte]bearerCacheEntry
}

// bearerCacheEntry is a verified token until its expiry.
type bearerCacheEntry struct {
	id    *bearerIdentity
	until time.Time
}

// newBearerCache returns a cache of at most max tokens.
func newBearerCache(max int) *bearerCache {
	return &bearerCache{max: max, entries: map[[sha256.Size]byte]bearerCacheEntry{}}
}

// get returns the identity of the token whose hash is key, if it is cached
// and not expired at now.
func (c *bearerCache) get(key [sha256.Size]byte, now time.Time) *bearerIdentity {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[key]
	if !ok {
		return nil
	}
	if !now.Before(e.until) {
		delete(c.entries, key)
		return nil
	}
	return e.id
}

// put remembers id until until. A full cache first drops its expired
// entries, then, if still full, a tenth of the rest (any of them), so the
// sweep is paid once per many insertions.
func (c *bearerCache) put(key [sha256.Size]byte, id *bearerIdentity, until, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	makeRoom(c.entries, c.max, func(e bearerCacheEntry) bool { return !now.Before(e.until) })
	c.entries[key] = bearerCacheEntry{id: id, until: until}
}
