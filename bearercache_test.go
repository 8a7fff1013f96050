package stauth

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/stauth/caddy-stauth/internal/hostileop"
)

// TestBearerCache: a verified token is answered from the cache until its
// exp or bearerCacheTTL, whichever comes first.
func TestBearerCache(t *testing.T) {
	f := newBearerFixture(t, "op", hostileop.Behaviour{})
	v := f.verifier()
	key := hostileop.SharedRSAKey("rsa-1")
	for _, c := range []struct {
		name     string
		lifetime time.Duration
		cached   time.Duration // how long a repeat is answered from the cache
	}{
		{"short-lived token", 2 * time.Minute, 2 * time.Minute},
		{"long-lived token", time.Hour, bearerCacheTTL},
	} {
		t.Run(c.name, func(t *testing.T) {
			claims := f.claims()
			claims["exp"] = f.clock.now().Add(c.lifetime).Unix()
			raw := mint(t, key, jose.RS256, claims, nil)
			first, err := v.verify(context.Background(), raw)
			if err != nil {
				t.Fatal(err)
			}
			f.clock.advance(c.cached - time.Second)
			again, err := v.verify(context.Background(), raw)
			if err != nil || again != first {
				t.Fatalf("a repeat within %v was not answered from the cache (err %v)", c.cached, err)
			}
			f.clock.advance(time.Second)
			later, err := v.verify(context.Background(), raw)
			switch {
			case c.lifetime == c.cached:
				checkRefused(t, raw, later, err, bearerExpired)
			case err != nil:
				t.Fatalf("checked again after the cache entry ended: %v", err)
			case later == first:
				t.Fatal("answered from the cache after bearerCacheTTL")
			}
		})
	}
}

// TestBearerCacheBounded: a full cache drops its expired entries first,
// and never holds more than its size.
func TestBearerCacheBounded(t *testing.T) {
	c := newBearerCache(100)
	now := time.Now()
	id := &bearerIdentity{session: &session{provider: "op"}}
	key := func(i int) [32]byte { return [32]byte{byte(i), byte(i >> 8), 1} }
	for i := range 50 {
		c.put(key(i), id, now.Add(time.Second), now)
	}
	for i := 50; i < 100; i++ {
		c.put(key(i), id, now.Add(time.Hour), now)
	}
	later := now.Add(2 * time.Second)
	c.put(key(100), id, now.Add(time.Hour), later)
	if n := c.len(); n != 51 {
		t.Fatalf("%d entries after the sweep, want 51 (the 50 expired ones dropped, nothing else)", n)
	}
	for i := 50; i <= 100; i++ {
		if c.get(key(i), later) != id {
			t.Fatalf("live entry %d was dropped while expired ones could go", i)
		}
	}
	for i := 101; i < 2000; i++ {
		c.put(key(i), id, now.Add(time.Hour), later)
		if n := c.len(); n > 100 {
			t.Fatalf("%d entries after %d insertions, want at most 100", n, i+1)
		}
	}
	if c.get(key(1999), later) != id {
		t.Fatal("the newest entry is missing")
	}
}

// TestBearerChallenge: the WWW-Authenticate value names invalid_token and
// keeps the description to what a quoted-string allows.
func TestBearerChallenge(t *testing.T) {
	for _, c := range []struct{ description, want string }{
		{bearerExpired, `Bearer error="invalid_token", error_description="the token has expired or has no exp"`},
		{"", `Bearer error="invalid_token"`},
		{"a \"quoted\\\" \r\nvalue\x00é", `Bearer error="invalid_token", error_description="a quoted value"`},
	} {
		if got := bearerChallenge(c.description); got != c.want {
			t.Errorf("bearerChallenge(%q) = %q", c.description, got)
		}
	}
}

// TestBearerToken: the token of an Authorization header.
func TestBearerToken(t *testing.T) {
	for _, c := range []struct {
		header, want string
		ok           bool
	}{
		{"Bearer abc.def.ghi", "abc.def.ghi", true},
		{"bearer abc", "abc", true},
		{"BEARER   abc", "abc", true},
		{"Bearer ", "", false},
		{"Bearer", "", false},
		{"Basic dXNlcjpwYXNz", "", false},
		{"", "", false},
	} {
		r := httptest.NewRequest("GET", "/", nil)
		if c.header != "" {
			r.Header.Set("Authorization", c.header)
		}
		if got, ok := bearerToken(r); got != c.want || ok != c.ok {
			t.Errorf("bearerToken(%q) = %q, %v; want %q, %v", c.header, got, ok, c.want, c.ok)
		}
	}
}

// BenchmarkBearerCached is a token verified before: a SHA-256 and a map
// lookup.
func BenchmarkBearerCached(b *testing.B) {
	f := newBearerFixture(b, "op", hostileop.Behaviour{})
	v := f.verifier()
	raw := mint(b, hostileop.SharedRSAKey("rsa-1"), jose.RS256, f.claims(), nil)
	ctx := context.Background()
	first, err := v.verify(ctx, raw)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if id, err := v.verify(ctx, raw); err != nil || id != first {
			b.Fatal("not answered from the cache")
		}
	}
}

// len is how many tokens are cached.
func (c *bearerCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}
