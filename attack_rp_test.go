package stauth

// The relying party against a hostile OpenID provider, case by case after
// the OpenID Foundation's RP certification tests (OpenID Connect Core 1.0
// and Discovery 1.0 where no certification test exists), through a real
// Caddy running stauth.

import (
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stauth/caddy-stauth/internal/hostileop"
)

// rpCase is one login against a provider behaving as setup says.
type rpCase struct {
	name   string // the certification test id, or the spec clause
	clause string // where the requirement comes from
	setup  func(b *hostileop.Behaviour)
	// accept: the identity must reach the next handler. Otherwise the
	// callback is refused with a 4xx and no session.
	accept bool
	// either: the spec allows accepting or refusing; both must be clean.
	either bool
	// check inspects the provider's log after the login.
	check func(t *testing.T, op *hostileop.Provider)
}

func TestRP(t *testing.T) {
	later := func(d time.Duration) int64 { return time.Now().Add(d).Unix() }
	cases := []rpCase{
		{
			name: "rp-response_type-code", clause: "Core §3.1.2.1; RFC 6749 §4.1.1",
			accept: true,
			check: func(t *testing.T, op *hostileop.Provider) {
				q := op.Requests(hostileop.Authorize)[0].Query
				if q.Get("response_type") != "code" || q.Get("client_id") != op.ClientID || !strings.Contains(" "+q.Get("scope")+" ", " openid ") {
					t.Errorf("authorization request: %v", q)
				}
				for _, key := range []string{"response_type", "client_id", "redirect_uri", "scope", "state", "nonce", "code_challenge", "code_challenge_method"} {
					if len(q[key]) != 1 {
						t.Errorf("authorization request has %d %s parameters, want 1: %v", len(q[key]), key, q)
					}
				}
			},
		},
		{
			name: "rp-token_endpoint-client_secret_basic", clause: "Core §9; RFC 6749 §2.3.1",
			accept: true,
			check: func(t *testing.T, op *hostileop.Provider) {
				r := op.Requests(hostileop.Token)[0]
				if r.AuthScheme != "Basic" || r.BasicUser != op.ClientID || r.Form.Has("client_secret") {
					t.Errorf("token request: Authorization %q for %q, form %v; want client_secret_basic only", r.AuthScheme, r.BasicUser, r.Form)
				}
				if r.Form.Get("grant_type") != "authorization_code" || r.Form.Get("redirect_uri") == "" {
					t.Errorf("token request form: %v", r.Form)
				}
			},
		},
		{
			name: "rp-token_endpoint-client_secret_post", clause: "Core §9; RFC 6749 §2.3.1",
			setup:  func(b *hostileop.Behaviour) { b.ClientSecretPost = true },
			accept: true,
			check: func(t *testing.T, op *hostileop.Provider) {
				r := op.Requests(hostileop.Token)[0]
				if r.AuthScheme != "" || r.Form.Get("client_id") != op.ClientID || !r.Form.Has("client_secret") {
					t.Errorf("token request: Authorization %q, form keys %v; want client_secret_post only", r.AuthScheme, keys(r.Form))
				}
			},
		},
		{name: "rp-id_token-sig-rs256", clause: "Core §3.1.3.7 step 6", accept: true},
		{
			name: "rp-id_token-sig-es256", clause: "Core §3.1.3.7 step 6",
			setup:  func(b *hostileop.Behaviour) { b.SigningKey = hostileop.SharedECKey("ec-1") },
			accept: true,
		},
		{
			name: "rp-id_token-sig-none", clause: "Core §3.1.3.7 step 7; Discovery §3 (none only for non-code flows)",
			setup: func(b *hostileop.Behaviour) { b.Signing = hostileop.SignNone },
		},
		{
			name: "rp-id_token-sig-none/advertised", clause: "Core §3.1.3.7 step 7",
			setup: func(b *hostileop.Behaviour) {
				b.Signing = hostileop.SignNone
				b.Metadata = func(doc map[string]any) {
					doc["id_token_signing_alg_values_supported"] = []string{"none", "RS256"}
				}
			},
		},
		{
			name: "rp-id_token-bad-sig-rs256", clause: "Core §3.1.3.7 step 6",
			setup: func(b *hostileop.Behaviour) { b.Signing = hostileop.SignBadSignature },
		},
		{
			name: "rp-id_token-bad-sig-es256", clause: "Core §3.1.3.7 step 6",
			setup: func(b *hostileop.Behaviour) {
				b.SigningKey = hostileop.SharedECKey("ec-1")
				b.Signing = hostileop.SignBadSignature
			},
		},
		{
			name: "rp-id_token-bad-sig-hs256", clause: "Core §3.1.3.7 step 8 (HS256 keyed with the client secret)",
			setup: func(b *hostileop.Behaviour) { b.Signing = hostileop.SignHS256ClientSecret },
		},
		{
			name: "rp-id_token-bad-sig-hs256/advertised", clause: "Core §3.1.3.7 steps 7-8; DESIGN (asymmetric algs only)",
			setup: func(b *hostileop.Behaviour) {
				b.Signing = hostileop.SignHS256ClientSecret
				b.Metadata = func(doc map[string]any) {
					doc["id_token_signing_alg_values_supported"] = []string{"HS256", "RS256"}
				}
			},
		},
		{
			name: "rp-id_token-unknown-kid", clause: "Core §3.1.3.7 step 6; §10.1.1 (key not in the JWKS)",
			setup: func(b *hostileop.Behaviour) {
				b.SigningKey = hostileop.SharedRSAKey("rsa-unpublished")
				b.PublishedKeys = []*hostileop.Key{hostileop.SharedRSAKey("rsa-1")}
			},
			check: func(t *testing.T, op *hostileop.Provider) {
				if n := op.Count(hostileop.JWKS); n > 3 {
					t.Errorf("an unknown kid made stauth fetch the JWKS %d times for one login", n)
				}
			},
		},
		{
			name: "rp-id_token-issuer-mismatch", clause: "Core §3.1.3.7 step 2",
			setup: func(b *hostileop.Behaviour) {
				b.Claims = func(c map[string]any) { c["iss"] = "https://evil.example" }
			},
		},
		{
			name: "rp-id_token-aud", clause: "Core §3.1.3.7 step 3",
			setup: func(b *hostileop.Behaviour) {
				b.Claims = func(c map[string]any) { c["aud"] = "another-client" }
			},
		},
		{
			name: "Core-3.1.3.7-4/aud-lists-others-without-azp", clause: "Core §3.1.3.7 step 4; DESIGN precise rules",
			setup: func(b *hostileop.Behaviour) {
				b.Claims = func(c map[string]any) { c["aud"] = []string{hostileop.DefaultClientID, "another-client"} }
			},
		},
		{
			name: "Core-3.1.3.7-5/azp-other-client", clause: "Core §3.1.3.7 step 5",
			setup: func(b *hostileop.Behaviour) {
				b.Claims = func(c map[string]any) {
					c["aud"] = []string{hostileop.DefaultClientID, "another-client"}
					c["azp"] = "another-client"
				}
			},
		},
		{
			name: "Core-3.1.3.7-5/azp-single-aud-other", clause: "Core §3.1.3.7 step 5; DESIGN (azp when present equals client_id)",
			setup: func(b *hostileop.Behaviour) {
				b.Claims = func(c map[string]any) { c["azp"] = "another-client" }
			},
		},
		{
			name: "Core-3.1.3.7-4/aud-lists-others-with-azp", clause: "Core §3.1.3.7 steps 4-5",
			setup: func(b *hostileop.Behaviour) {
				b.Claims = func(c map[string]any) {
					c["aud"] = []string{"another-client", hostileop.DefaultClientID}
					c["azp"] = hostileop.DefaultClientID
				}
			},
			accept: true,
		},
		{
			name: "rp-id_token-sub", clause: "Core §2 (sub REQUIRED)",
			setup: func(b *hostileop.Behaviour) {
				b.Claims = func(c map[string]any) { delete(c, "sub") }
				b.NoUserinfo = true
			},
		},
		{
			name: "rp-id_token-iat", clause: "Core §2 (iat REQUIRED); §3.1.3.7 step 10",
			setup: func(b *hostileop.Behaviour) {
				b.Claims = func(c map[string]any) { delete(c, "iat") }
			},
		},
		{
			name: "Core-3.1.3.7-10/iat-in-the-future", clause: "Core §3.1.3.7 step 10",
			setup: func(b *hostileop.Behaviour) {
				b.Claims = func(c map[string]any) { c["iat"] = later(time.Hour) }
			},
		},
		{
			name: "Core-3.1.3.7-9/expired", clause: "Core §3.1.3.7 step 9",
			setup: func(b *hostileop.Behaviour) {
				b.Claims = func(c map[string]any) {
					c["iat"] = later(-2 * time.Hour)
					c["exp"] = later(-time.Hour)
				}
			},
		},
		{
			name: "Core-3.1.3.7-9/exp-absent", clause: "Core §2 (exp REQUIRED); §3.1.3.7 step 9",
			setup: func(b *hostileop.Behaviour) {
				b.Claims = func(c map[string]any) { delete(c, "exp") }
			},
		},
		{
			name: "RFC7519-4.1.5/nbf-in-the-future", clause: "RFC 7519 §4.1.5",
			setup: func(b *hostileop.Behaviour) {
				b.Claims = func(c map[string]any) { c["nbf"] = later(time.Hour) }
			},
		},
		{
			name: "RFC7515-4.1.11/unknown-critical-header", clause: "RFC 7515 §4.1.11 (crit names an extension the RP does not understand)",
			setup: func(b *hostileop.Behaviour) {
				b.Header = map[string]any{"urn:example:must-understand": true}
				b.Critical = []string{"urn:example:must-understand"}
			},
		},
		{
			name: "rp-nonce-invalid", clause: "Core §3.1.3.7 step 11",
			setup: func(b *hostileop.Behaviour) {
				b.Claims = func(c map[string]any) { c["nonce"] = "a-nonce-of-another-login" }
			},
		},
		{
			name: "Core-3.1.3.7-11/nonce-absent", clause: "Core §3.1.3.7 step 11 (a nonce was sent, so it must come back)",
			setup: func(b *hostileop.Behaviour) {
				b.Claims = func(c map[string]any) { delete(c, "nonce") }
			},
		},
		{
			name: "Core-3.1.3.8/at_hash-mismatch", clause: "Core §3.1.3.8; DESIGN (at_hash when present)",
			setup: func(b *hostileop.Behaviour) {
				b.Claims = func(c map[string]any) { c["at_hash"] = "c29tZXRoaW5nIGVsc2U" }
			},
		},
		{
			name: "Core-3.1.3.3/no-id_token", clause: "Core §3.1.3.3 (id_token REQUIRED in the token response)",
			setup: func(b *hostileop.Behaviour) {
				b.TokenResponse = func(r map[string]any) { delete(r, "id_token") }
			},
		},
		{
			name: "rp-id_token-kid-absent-single-jwks", clause: "Core §10.1 (kid optional with a single key)",
			setup:  func(b *hostileop.Behaviour) { b.OmitKID = true },
			accept: true,
		},
		{
			name: "rp-id_token-kid-absent-multiple-jwks", clause: "Core §10.1 (the RP may refuse or try every key)",
			setup: func(b *hostileop.Behaviour) {
				b.OmitKID = true
				b.PublishedKeys = []*hostileop.Key{hostileop.SharedRSAKey("rsa-2"), hostileop.SharedRSAKey("rsa-1")}
			},
			either: true,
		},
		{
			name: "rp-userinfo-bad-sub-claim", clause: "Core §5.3.2",
			setup: func(b *hostileop.Behaviour) {
				b.Userinfo = func(c map[string]any) { c["sub"] = "mallory-sub" }
			},
		},
		{
			name: "Core-5.3.2/userinfo-without-sub", clause: "Core §5.3.2 (sub always returned)",
			setup: func(b *hostileop.Behaviour) {
				b.Userinfo = func(c map[string]any) { delete(c, "sub") }
			},
		},
		{
			name: "rp-userinfo-bearer-header", clause: "Core §5.3.1; RFC 6750 §2.1",
			setup: func(b *hostileop.Behaviour) {
				b.Userinfo = func(c map[string]any) { c["name"] = "Alice From Userinfo" }
			},
			accept: true,
			check: func(t *testing.T, op *hostileop.Provider) {
				reqs := op.Requests(hostileop.Userinfo)
				if len(reqs) != 1 || reqs[0].AuthScheme != "Bearer" || reqs[0].Query.Has("access_token") {
					t.Errorf("userinfo requests: %+v; want one, with the token in an Authorization: Bearer header", reqs)
				}
			},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			reportClause(t, c.clause)
			var beh hostileop.Behaviour
			if c.setup != nil {
				c.setup(&beh)
			}
			s := newTestSite(t, siteOptions{behaviour: beh})
			b := s.browser(t)
			resp := b.logIn("/auth/login?rd=/private")
			switch {
			case c.accept || (c.either && resp.StatusCode == http.StatusSeeOther):
				if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/private" || !setsSession(resp) {
					t.Fatalf("login refused: %s to %q, want 303 to /private with a session (%s)\n%s", resp.Status, resp.Header.Get("Location"), c.clause, resp.Body)
				}
				body := b.assertLoggedInAs(hostileop.DefaultSubject)
				if c.name == "rp-userinfo-bearer-header" && !strings.Contains(body, "name=Alice From Userinfo ") {
					t.Errorf("the userinfo claims did not reach the page: %s", body)
				}
			default:
				b.assertRefused(resp, 400, 499)
				if !deletes(resp, s.loginCookieOf(t, resp)) {
					t.Errorf("the refused callback did not delete its transaction cookie: %q", resp.Header["Set-Cookie"])
				}
			}
			if c.check != nil {
				c.check(t, s.OP)
			}
		})
	}
}

// reportClause names, when the test fails, the requirement it checks.
func reportClause(t *testing.T, clause string) {
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("the requirement: %s", clause)
		}
	})
}

// loginCookieOf names the transaction cookie of the callback that got resp.
func (s *testSite) loginCookieOf(t *testing.T, resp *testResp) string {
	t.Helper()
	state := resp.Request.URL.Query().Get("state")
	return mustJar(t, false, atkCookieSecret).loginCookieName(state)
}

func keys[M ~map[string]V, V any](m M) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

// TestRPKeyRotation is rp-key-rotation-op-sign-key (Core §10.1.1): the
// provider starts signing with a new key, published under a new kid; the
// next login must verify with it, fetching the JWKS again without a restart.
func TestRPKeyRotation(t *testing.T) {
	t.Run("rp-key-rotation-op-sign-key", func(t *testing.T) {
		s := newTestSite(t, siteOptions{})
		s.browser(t).mustLogIn("/auth/login?rd=/private", "/private")
		before := s.OP.Count(hostileop.JWKS)
		s.OP.Set(func(b *hostileop.Behaviour) {
			b.SigningKey = hostileop.SharedRSAKey("rsa-2")
			b.PublishedKeys = []*hostileop.Key{hostileop.SharedRSAKey("rsa-2")}
		})
		b := s.browser(t)
		b.mustLogIn("/auth/login?rd=/private", "/private")
		b.assertLoggedInAs(hostileop.DefaultSubject)
		if s.OP.Count(hostileop.JWKS) == before {
			t.Error("the new key verified without a new JWKS fetch?")
		}
	})
	t.Run("rp-key-rotation-op-sign-key/old-key-withdrawn", func(t *testing.T) {
		// After rotation a token signed with the withdrawn key must fail.
		s := newTestSite(t, siteOptions{})
		s.browser(t).mustLogIn("/auth/login", "/")
		s.OP.Set(func(b *hostileop.Behaviour) {
			b.SigningKey = hostileop.SharedRSAKey("rsa-2")
			b.PublishedKeys = []*hostileop.Key{hostileop.SharedRSAKey("rsa-2")}
		})
		s.browser(t).mustLogIn("/auth/login", "/") // stauth now knows only rsa-2
		s.OP.Set(func(b *hostileop.Behaviour) { b.SigningKey = hostileop.SharedRSAKey("rsa-1") })
		b := s.browser(t)
		b.assertRefused(b.logIn("/auth/login"), 400, 499)
	})
}

// TestRPDiscovery covers discovery documents stauth must not use.
func TestRPDiscovery(t *testing.T) {
	cases := []struct {
		name, clause string
		setup        func(b *hostileop.Behaviour)
	}{
		{"rp-discovery-issuer-not-matching-config", "Discovery §4.3", func(b *hostileop.Behaviour) {
			b.Issuer = "https://evil.example"
		}},
		{"Discovery-4.3/issuer-with-other-path", "Discovery §4.3", func(b *hostileop.Behaviour) {
			b.Metadata = func(doc map[string]any) { doc["issuer"] = doc["issuer"].(string) + "/tenant" }
		}},
		{"Discovery-3/only-symmetric-algs", "Core §3.1.3.7 step 8; DESIGN (asymmetric algs only)", func(b *hostileop.Behaviour) {
			b.Metadata = func(doc map[string]any) { doc["id_token_signing_alg_values_supported"] = []string{"HS256", "none"} }
		}},
		{"Discovery-3/no-code-flow", "Discovery §3 response_types_supported", func(b *hostileop.Behaviour) {
			b.Metadata = func(doc map[string]any) { doc["response_types_supported"] = []string{"id_token"} }
		}},
		{"Discovery-3/relative-token-endpoint", "Discovery §3 (endpoints are URLs)", func(b *hostileop.Behaviour) {
			b.Metadata = func(doc map[string]any) { doc["token_endpoint"] = "/token" }
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			reportClause(t, c.clause)
			var beh hostileop.Behaviour
			c.setup(&beh)
			s := newTestSite(t, siteOptions{behaviour: beh})
			b := s.browser(t)
			resp := b.get("/auth/login?rd=/private")
			// DESIGN: a provider stauth cannot use is a provider fault: the
			// 503 page, and no login started (the browser is not sent to
			// the provider, no transaction cookie).
			b.assertRefused(resp, 502, 503)
			if !strings.Contains(resp.Body, "is not set up correctly") {
				t.Errorf("the page does not say the sign-in is misconfigured (rather than down):\n%s", resp.Body)
			}
			if loc := resp.Header.Get("Location"); strings.HasPrefix(loc, s.OP.URL) {
				t.Errorf("the browser was sent to an unusable provider, against %s: Location %q", c.clause, loc)
			}
			if setsLoginCookie(resp) {
				t.Errorf("a login transaction was started with an unusable provider, against %s: %q", c.clause, resp.Header["Set-Cookie"])
			}
		})
	}
}

// TestPKCE checks the authorization and token requests carry PKCE with
// S256, always, and state and nonce with enough randomness (RFC 7636 §4.1-
// 4.5 and §7.2; RFC 9700 §2.1.1 and §4.8; DESIGN: at least 128 bits).
func TestPKCE(t *testing.T) {
	unreserved := regexp.MustCompile(`^[A-Za-z0-9._~-]{43,128}$`)
	for _, c := range []struct {
		name  string
		setup func(b *hostileop.Behaviour)
	}{
		{"RFC7636-4.2/S256", nil},
		{"RFC9700-2.1.1/S256-when-the-provider-does-not-advertise-PKCE", func(b *hostileop.Behaviour) {
			b.Metadata = func(doc map[string]any) { delete(doc, "code_challenge_methods_supported") }
		}},
		{"RFC9700-4.8/S256-when-the-provider-advertises-only-plain", func(b *hostileop.Behaviour) {
			b.Metadata = func(doc map[string]any) { doc["code_challenge_methods_supported"] = []string{"plain"} }
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			var beh hostileop.Behaviour
			if c.setup != nil {
				c.setup(&beh)
			}
			s := newTestSite(t, siteOptions{behaviour: beh})
			s.browser(t).mustLogIn("/auth/login", "/")
			s.browser(t).mustLogIn("/auth/login", "/")
			auths, tokens := s.OP.Requests(hostileop.Authorize), s.OP.Requests(hostileop.Token)
			seen := map[string]bool{}
			for i, a := range auths {
				q := a.Query
				if q.Get("code_challenge_method") != "S256" || len(q.Get("code_challenge")) != 43 || q.Has("code_verifier") {
					t.Errorf("authorization request %d: code_challenge %q method %q", i, q.Get("code_challenge"), q.Get("code_challenge_method"))
				}
				verifier := tokens[i].Form.Get("code_verifier")
				sum := sha256.Sum256([]byte(verifier))
				if !unreserved.MatchString(verifier) || base64.RawURLEncoding.EncodeToString(sum[:]) != q.Get("code_challenge") {
					t.Errorf("token request %d: code_verifier %q does not match the S256 challenge", i, verifier)
				}
				if strings.Contains(a.Query.Encode(), verifier) {
					t.Errorf("the code_verifier was sent in the authorization request")
				}
				for _, key := range []string{"state", "nonce"} {
					v := q.Get(key)
					raw, err := base64.RawURLEncoding.DecodeString(v)
					if err != nil || len(raw) < 16 {
						t.Errorf("%s %q carries fewer than 128 bits", key, v)
					}
					if seen[v] {
						t.Errorf("%s %q repeats across logins", key, v)
					}
					seen[v] = true
				}
				if seen[verifier] {
					t.Errorf("code_verifier repeats across logins")
				}
				seen[verifier] = true
			}
		})
	}
}
