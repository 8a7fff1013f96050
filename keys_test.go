package stauth

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/go-jose/go-jose/v4"

	"github.com/stauth/caddy-stauth/internal/hostileop"
)

// jwksServer serves body as a key set and counts the requests.
func jwksServer(t *testing.T, status int, body string) (string, *atomic.Int64) {
	t.Helper()
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = w.Write([]byte(body))
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/jwks", &hits
}

// jwkJSON is the public JWK of key, with alg and use as given.
func jwkJSON(t *testing.T, key *hostileop.Key, alg, use string) string {
	t.Helper()
	b, err := json.Marshal(jose.JSONWebKey{Key: key.Private.Public(), KeyID: key.KID, Algorithm: alg, Use: use})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestKeySet: what a key set document must hold for a token to verify, and
// what of it is ignored.
func TestKeySet(t *testing.T) {
	rsa1, ec1 := hostileop.SharedRSAKey("rsa-1"), hostileop.SharedECKey("ec-1")
	token := func(t *testing.T, key *hostileop.Key, alg jose.SignatureAlgorithm) string {
		return mint(t, key, alg, map[string]any{"sub": "x"}, nil)
	}
	for _, c := range []struct {
		name   string
		status int
		body   func(t *testing.T) string
		algs   []string
		token  func(t *testing.T) string
		want   error // nil accepts; a *keysUnavailableError, errUnknownKey, or any other refusal
		// noFetch: refused before the keys are needed.
		noFetch bool
	}{
		{
			name: "RSA key", status: 200, algs: []string{"RS256"},
			body:  func(t *testing.T) string { return `{"keys":[` + jwkJSON(t, rsa1, "RS256", "sig") + `]}` },
			token: func(t *testing.T) string { return token(t, rsa1, jose.RS256) },
		},
		{
			name: "EC key beside an unknown key type and an encryption key", status: 200, algs: []string{"ES256"},
			body: func(t *testing.T) string {
				return `{"keys":[{"kty":"PQC","kid":"future","x":"AAAA"},` + jwkJSON(t, rsa1, "RSA-OAEP", "enc") + `,` + jwkJSON(t, ec1, "ES256", "sig") + `]}`
			},
			token: func(t *testing.T) string { return token(t, ec1, jose.ES256) },
		},
		{
			name: "key without kid, token without kid", status: 200, algs: []string{"RS256"},
			body: func(t *testing.T) string {
				return `{"keys":[` + jwkJSON(t, &hostileop.Key{Private: rsa1.Private}, "", "") + `]}`
			},
			token: func(t *testing.T) string {
				return signJWT(t, jose.SigningKey{Algorithm: jose.RS256, Key: rsa1.Private}, nil, map[string]any{"sub": "x"})
			},
		},
		{
			name: "key declared for another alg", status: 200, algs: []string{"RS256", "PS256"}, want: errUnknownKey,
			body:  func(t *testing.T) string { return `{"keys":[` + jwkJSON(t, rsa1, "PS256", "sig") + `]}` },
			token: func(t *testing.T) string { return token(t, rsa1, jose.RS256) },
		},
		{
			name: "only an encryption key", status: 200, algs: []string{"RS256"}, want: &keysUnavailableError{},
			body:  func(t *testing.T) string { return `{"keys":[` + jwkJSON(t, rsa1, "RSA-OAEP", "enc") + `]}` },
			token: func(t *testing.T) string { return token(t, rsa1, jose.RS256) },
		},
		{
			name: "private key published", status: 200, algs: []string{"ES256"},
			body: func(t *testing.T) string {
				b, _ := json.Marshal(jose.JSONWebKey{Key: ec1.Private, KeyID: ec1.KID, Algorithm: "ES256"})
				return `{"keys":[` + string(b) + `]}`
			},
			token: func(t *testing.T) string { return token(t, ec1, jose.ES256) },
		},
		{
			name: "empty set", status: 200, algs: []string{"RS256"}, want: &keysUnavailableError{},
			body:  func(*testing.T) string { return `{"keys":[]}` },
			token: func(t *testing.T) string { return token(t, rsa1, jose.RS256) },
		},
		{
			name: "not JSON", status: 200, algs: []string{"RS256"}, want: &keysUnavailableError{},
			body:  func(*testing.T) string { return `<html>` },
			token: func(t *testing.T) string { return token(t, rsa1, jose.RS256) },
		},
		{
			name: "404", status: 404, algs: []string{"RS256"}, want: &keysUnavailableError{},
			body:  func(t *testing.T) string { return `{"keys":[` + jwkJSON(t, rsa1, "RS256", "sig") + `]}` },
			token: func(t *testing.T) string { return token(t, rsa1, jose.RS256) },
		},
		{
			name: "larger than the response cap", status: 200, algs: []string{"RS256"}, want: &keysUnavailableError{},
			body: func(t *testing.T) string {
				return `{"keys":[` + jwkJSON(t, rsa1, "RS256", "sig") + `],"pad":"` + strings.Repeat("x", maxProviderResponse) + `"}`
			},
			token: func(t *testing.T) string { return token(t, rsa1, jose.RS256) },
		},
		{
			name: "algorithm outside the allowed ones", status: 200, algs: []string{"RS256"}, want: errors.New("parse"), noFetch: true,
			body:  func(t *testing.T) string { return `{"keys":[` + jwkJSON(t, ec1, "ES256", "sig") + `]}` },
			token: func(t *testing.T) string { return token(t, ec1, jose.ES256) },
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			uri, hits := jwksServer(t, c.status, c.body(t))
			clock := newTestClock()
			s := newKeySet(context.Background(), uri, newProviderClient(), c.algs, clock.now)
			var slot error
			payload, err := s.VerifySignature(withKeyErrorSlot(context.Background(), &slot), c.token(t))
			if err != slot {
				t.Fatalf("the error slot holds %v, VerifySignature returned %v", slot, err)
			}
			var unavailable *keysUnavailableError
			switch want := c.want.(type) {
			case nil:
				if err != nil || !strings.Contains(string(payload), `"sub":"x"`) {
					t.Fatalf("refused: %v (payload %q)", err, payload)
				}
			case *keysUnavailableError:
				if !errors.As(err, &unavailable) {
					t.Fatalf("error %v, want the keys unavailable", err)
				}
			default:
				if want == errUnknownKey && !errors.Is(err, errUnknownKey) {
					t.Fatalf("error %v, want %v", err, want)
				}
				if err == nil || errors.As(err, &unavailable) {
					t.Fatalf("error %v, want a refusal of the token", err)
				}
			}
			if n, want := hits.Load(), map[bool]int64{false: 1, true: 0}[c.noFetch]; n != want {
				t.Fatalf("%d key set fetches, want %d", n, want)
			}
		})
	}
}
