package stauth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
	"golang.org/x/sync/singleflight"
)

// How often a key set may be fetched again.
const (
	// keyRefreshInterval is how long after a fetch a token naming a key the
	// set does not hold may make it fetch again: a flood of forged kids costs
	// the provider one request a minute.
	keyRefreshInterval = time.Minute
	// keyRetryInterval is how long after a failed fetch the next may start
	// while no fetch has worked yet, so a provider that was down at start
	// is used soon after it is back. Once keys are held, a failed refresh
	// keeps them and waits keyRefreshInterval like a good one.
	keyRetryInterval = 5 * time.Second
)

// Reasons a signature check fails.
var (
	// errUnknownKey is a token signed with a key the provider does not
	// publish (after a refresh, when one was allowed).
	errUnknownKey = errors.New("no published key has the token's kid")
	// errBadSignature is a token whose key is known but whose signature
	// does not verify with it.
	errBadSignature = errors.New("the signature does not verify with the published key")
)

// keysUnavailableError is a key set that could not be fetched.
type keysUnavailableError struct{ err error }

func (e *keysUnavailableError) Error() string {
	return "fetching the provider's signing keys: " + e.err.Error()
}

func (e *keysUnavailableError) Unwrap() error { return e.err }

// keySet is a provider's JSON Web Key Set (RFC 7517) for checking bearer
// tokens: an oidc.KeySet that fetches the keys with the provider's client,
// keeps them, and fetches them again for a token whose key it does not hold
// at most once per keyRefreshInterval. go-oidc's RemoteKeySet would fetch
// for every such token. Concurrent fetches are shared.
type keySet struct {
	uri string
	// ctx carries no deadline; it lives as long as the module and bounds
	// the shared fetch, which no single request owns.
	ctx    context.Context
	client *http.Client
	algs   []jose.SignatureAlgorithm
	now    func() time.Time
	flight singleflight.Group

	mu      sync.Mutex
	keys    []jose.JSONWebKey
	fetched time.Time // when the last fetch ended; zero before the first
	lastErr error     // the last fetch's error
	fetches int       // how many fetches ended
}

// newKeySet returns the key set at uri, fetched with client within ctx's
// lifetime; it accepts signatures with algs only.
func newKeySet(ctx context.Context, uri string, client *http.Client, algs []string, now func() time.Time) *keySet {
	s := &keySet{uri: uri, ctx: ctx, client: client, now: now}
	for _, alg := range algs {
		s.algs = append(s.algs, jose.SignatureAlgorithm(alg))
	}
	return s
}

// keyErrorSlot is the context key under which VerifySignature leaves its
// error: go-oidc keeps only the text of it.
type keyErrorSlot struct{}

// withKeyErrorSlot returns a context in which VerifySignature records its
// error in *slot.
func withKeyErrorSlot(ctx context.Context, slot *error) context.Context {
	return context.WithValue(ctx, keyErrorSlot{}, slot)
}

// VerifySignature checks the compact JWS raw against the provider's keys and
// returns its payload (oidc.KeySet).
func (s *keySet) VerifySignature(ctx context.Context, raw string) ([]byte, error) {
	payload, err := s.verify(ctx, raw)
	if err != nil {
		if slot, ok := ctx.Value(keyErrorSlot{}).(*error); ok {
			*slot = err
		}
	}
	return payload, err
}

// verify checks raw with the cached keys, fetching them first when there
// are none yet, and again when no key matched and a refresh is allowed.
func (s *keySet) verify(ctx context.Context, raw string) ([]byte, error) {
	jws, err := jose.ParseSigned(raw, s.algs)
	if err != nil {
		return nil, err
	}
	if len(jws.Signatures) != 1 {
		return nil, errors.New("the token must carry exactly one signature")
	}
	keys, fresh, err := s.cached(ctx, false)
	if err != nil {
		return nil, err
	}
	payload, err := verifyWith(jws, keys)
	if !errors.Is(err, errUnknownKey) || fresh {
		return payload, err
	}
	keys, fresh, err = s.cached(ctx, true)
	if err != nil || !fresh {
		// No refresh allowed yet (or it failed): the key stays unknown.
		return nil, errors.Join(errUnknownKey, err)
	}
	return verifyWith(jws, keys)
}

// cached returns the keys, fetching them when there are none yet or, with
// refresh, when the last fetch is old enough. fresh tells whether they were
// fetched for this call (or for a call it joined).
func (s *keySet) cached(ctx context.Context, refresh bool) (keys []jose.JSONWebKey, fresh bool, err error) {
	s.mu.Lock()
	keys, due, seen := s.keys, s.fetchDue(refresh), s.fetches
	s.mu.Unlock()
	if !due {
		if keys == nil {
			return nil, false, &keysUnavailableError{errors.New("the last fetch failed; the next is not due yet")}
		}
		return keys, false, nil
	}
	ch := s.flight.DoChan("", func() (any, error) { return s.fetchShared(seen) })
	select {
	case res := <-ch:
		if res.Err != nil {
			return nil, false, res.Err
		}
		return res.Val.([]jose.JSONWebKey), true, nil
	case <-ctx.Done():
		return nil, false, ctx.Err()
	}
}

// fetchDue tells whether a fetch may start now; s.mu is held.
func (s *keySet) fetchDue(refresh bool) bool {
	switch {
	case s.fetched.IsZero():
		return true
	case s.keys == nil:
		// Every fetch so far failed: nothing can be checked until one works.
		return s.now().Sub(s.fetched) >= keyRetryInterval
	case refresh:
		return s.now().Sub(s.fetched) >= keyRefreshInterval
	}
	return false
}

// fetchShared fetches the keys for every caller waiting on the flight. A
// caller that decided to fetch after seen fetches had ended, while another
// was ending, gets that one's result instead of fetching again.
func (s *keySet) fetchShared(seen int) (any, error) {
	s.mu.Lock()
	if s.fetches != seen {
		keys, err := s.keys, s.lastErr
		s.mu.Unlock()
		if err != nil {
			return nil, err
		}
		return keys, nil
	}
	s.mu.Unlock()
	keys, err := s.fetch()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fetched, s.fetches = s.now(), s.fetches+1
	if err != nil {
		// A failed refresh keeps the keys held.
		s.lastErr = &keysUnavailableError{err}
		return nil, s.lastErr
	}
	s.keys, s.lastErr = keys, nil
	return keys, nil
}

// fetch reads the key set: each key that go-jose parses and that is a
// signature key is kept as its public part; the others are skipped, so one
// key of an unknown type does not hide the rest.
func (s *keySet) fetch() ([]jose.JSONWebKey, error) {
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := getJSON(s.ctx, s.client, s.uri, &set); err != nil {
		return nil, fmt.Errorf("the jwks_uri does not serve a key set: %w", err)
	}
	keys := make([]jose.JSONWebKey, 0, len(set.Keys))
	for _, text := range set.Keys {
		var k jose.JSONWebKey
		if json.Unmarshal(text, &k) != nil || !k.Valid() || k.Use == "enc" {
			continue
		}
		keys = append(keys, k.Public())
	}
	if len(keys) == 0 {
		return nil, errors.New("the jwks_uri serves no usable signing keys")
	}
	return keys, nil
}

// verifyWith checks jws with the key its kid names (each key, when it names
// none). A key that declares its alg is used for that alg only.
func verifyWith(jws *jose.JSONWebSignature, keys []jose.JSONWebKey) ([]byte, error) {
	header := jws.Signatures[0].Header
	named := false
	for _, k := range keys {
		if header.KeyID != "" && k.KeyID != header.KeyID {
			continue
		}
		if k.Algorithm != "" && k.Algorithm != header.Algorithm {
			continue
		}
		named = true
		if payload, err := jws.Verify(k.Key); err == nil {
			return payload, nil
		}
	}
	if named && header.KeyID != "" {
		return nil, errBadSignature
	}
	// A token without kid that no key verifies may come from a new key.
	return nil, errUnknownKey
}
