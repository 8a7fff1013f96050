package stauth

// The weaknesses an independent attack review found (issue 9), each through
// a real Caddy: requested strength, binding to provider and site, shared
// caches, refresh amplification, matcher mode, logout by a same-site image,
// a lowered session_ttl, the reserved tokens key, duplicate cookies, a
// rewritten callback, and a default prompt a provider refuses.

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stauth/caddy-stauth/internal/hostileop"
)

// withoutParam returns u without the query parameter key, as a user editing
// the authorization request in the address bar would send it.
func withoutParam(u *url.URL, key string) *url.URL {
	c := *u
	q := c.Query()
	q.Del(key)
	c.RawQuery = q.Encode()
	return &c
}

// TestReviewAuthStrength: what client_kwargs asks of the login (acr_values,
// max_age, prompt = "login") is checked in the ID token, since the request
// travels through the browser (OpenID Connect Core 1.0 §3.1.2.1, §5.5.1.1).
func TestReviewAuthStrength(t *testing.T) {
	hour := time.Hour
	for _, c := range []struct {
		name   string
		kwargs string
		strip  string         // a parameter the user removes from the request
		claims map[string]any // what the provider puts in the ID token
		ok     bool
	}{
		{"acr_values-stripped-by-the-user", `acr_values = "mfa phr"`, "acr_values", nil, false},
		{"acr_values-answered-with-another-acr", `acr_values = "mfa"`, "", map[string]any{"acr": "pwd"}, false},
		{"acr_values-met", `acr_values = "mfa phr"`, "", map[string]any{"acr": "phr"}, true},
		{"max_age-stripped-old-authentication", `max_age = 300`, "max_age", map[string]any{"auth_time": -hour}, false},
		{"max_age-without-auth_time", `max_age = 300`, "", map[string]any{"auth_time": nil}, false},
		{"max_age-met", `max_age = 300`, "", map[string]any{"auth_time": -time.Minute}, true},
		{"prompt-login-stripped-no-new-authentication", `prompt = "login"`, "prompt", map[string]any{"auth_time": -hour}, false},
		{"prompt-login-met", `prompt = "login"`, "", map[string]any{"auth_time": time.Duration(0)}, true},
	} {
		t.Run("Core-3.1.2.1/"+c.name, func(t *testing.T) {
			s := newTestSite(t, siteOptions{kwargs: c.kwargs})
			s.OP.Set(func(b *hostileop.Behaviour) {
				b.Claims = func(claims map[string]any) {
					for k, v := range c.claims {
						switch v := v.(type) {
						case nil:
							delete(claims, k)
						case time.Duration:
							claims[k] = time.Now().Add(v).Unix()
						default:
							claims[k] = v
						}
					}
				}
			})
			b := s.browser(t)
			authURL := b.startLogin("/auth/login?rd=/private")
			if c.strip != "" {
				authURL = withoutParam(authURL, c.strip)
			}
			resp := b.get(b.authorize(authURL).String())
			if c.ok {
				if resp.StatusCode != http.StatusSeeOther || !setsSession(resp) {
					t.Fatalf("a login that meets %s: %s\n%s", c.kwargs, resp.Status, resp.Body)
				}
				b.assertLoggedInAs(hostileop.DefaultSubject)
				return
			}
			b.assertRefused(resp, 400, 499)
		})
	}
}

// TestReviewBinding: a session opens only on the site (redirect_uri's
// origin) and at the provider (server_metadata_url, client_id) that made
// it, even where cookie_secret is the same (staging and production sharing
// a secrets.toml, or [auth] switched from one provider to another).
func TestReviewBinding(t *testing.T) {
	origin := newTestSite(t, siteOptions{})
	b := origin.browser(t)
	b.mustLogIn("/auth/login", "/")
	session := b.cookie("stauth_session")
	t.Run("DESIGN-additions/another-provider-same-name-same-site", func(t *testing.T) {
		other := newTestSite(t, siteOptions{redirectURI: origin.Redirect})
		ob := other.browser(t)
		resp := ob.do(http.MethodGet, "/private", "Cookie", "stauth_session="+session)
		if resp.StatusCode != http.StatusUnauthorized || strings.Contains(resp.Body, hostileop.DefaultSubject) {
			t.Fatalf("a session of provider default at another issuer: %s %s", resp.Status, resp.Body)
		}
	})
	t.Run("DESIGN-additions/same-provider-another-site", func(t *testing.T) {
		other := newTestSite(t, siteOptions{metadataURL: origin.OP.MetadataURL})
		ob := other.browser(t)
		resp := ob.do(http.MethodGet, "/private", "Cookie", "stauth_session="+session)
		if resp.StatusCode != http.StatusUnauthorized || strings.Contains(resp.Body, hostileop.DefaultSubject) {
			t.Fatalf("a session of another site with the same secret and provider: %s %s", resp.Status, resp.Body)
		}
	})
	t.Run("control/same-provider-same-site", func(t *testing.T) {
		again := newTestSite(t, siteOptions{metadataURL: origin.OP.MetadataURL, redirectURI: origin.Redirect})
		resp := again.browser(t).do(http.MethodGet, "/private", "Cookie", "stauth_session="+session)
		if resp.StatusCode != http.StatusOK || !strings.Contains(resp.Body, "id="+hostileop.DefaultSubject) {
			t.Fatalf("the same site and provider, restarted: %s %s", resp.Status, resp.Body)
		}
	})
}

// TestReviewLoweredTTL: lowering session_ttl ends the sessions older than
// the new value at once, whatever expiry they carry.
func TestReviewLoweredTTL(t *testing.T) {
	s := newTestSite(t, siteOptions{stauth: "session_ttl 1h"})
	b := s.browser(t)
	b.mustLogIn("/auth/login", "/")
	good := b.cookie("stauth_session")
	for _, c := range []struct {
		name string
		age  time.Duration
		ok   bool
	}{
		{"issued-2h-ago-under-a-30d-ttl", 2 * time.Hour, false},
		{"issued-30m-ago", 30 * time.Minute, true},
	} {
		t.Run("DESIGN-additions/"+c.name, func(t *testing.T) {
			old := s.reseal(t, good, func(sess *session) {
				sess.issued = time.Now().Add(-c.age).Unix()
				sess.expires = time.Now().Add(29 * 24 * time.Hour).Unix()
			})
			resp := s.browser(t).do(http.MethodGet, "/private", "Cookie", "stauth_session="+old)
			if got := resp.StatusCode == http.StatusOK; got != c.ok {
				t.Fatalf("a session %s old under session_ttl 1h: %s", c.age, resp.Status)
			}
		})
	}
}

// TestReviewSharedCache: a response that carries a stauth Set-Cookie (a
// session sealed again after a secret rotation) is never storable by a
// shared cache, whatever the upstream said; other responses keep the
// upstream's headers.
func TestReviewSharedCache(t *testing.T) {
	const previous = "the-previous-cookie-secret-7Hq2xZ9pLm4v"
	s := newTestSite(t, siteOptions{
		authExtra: fmt.Sprintf("cookie_secret_previous = %q", previous),
		handler:   `header Cache-Control "public, max-age=600, s-maxage=600"` + "\n\t\t" + `header CDN-Cache-Control "max-age=600"` + "\n\t\t" + `respond "cached page {http.auth.user.id}"`,
	})
	b := s.browser(t)
	b.mustLogIn("/auth/login", "/")
	plain, _, ok := s.sealer(t, purposeSession, atkCookieSecret).open(b.cookie("stauth_session"))
	if !ok {
		t.Fatal("the session does not open with the site's key")
	}
	b.setCookies(&http.Cookie{Name: "stauth_session", Value: s.sealer(t, purposeSession, previous).seal(plain)})
	t.Run("RFC9111-3/re-sealed-session-is-private", func(t *testing.T) {
		resp := b.get("/page")
		if resp.StatusCode != http.StatusOK || !setsSession(resp) {
			t.Fatalf("a session under the previous secret: %s, Set-Cookie %q", resp.Status, resp.Header["Set-Cookie"])
		}
		if cc := resp.Header.Values("Cache-Control"); len(cc) != 1 || cc[0] != "private, no-store" || resp.Header.Get("CDN-Cache-Control") != "" {
			t.Fatalf("a response carrying a session cookie has Cache-Control %q, CDN-Cache-Control %q", cc, resp.Header.Get("CDN-Cache-Control"))
		}
	})
	t.Run("RFC9111-3/without-set-cookie-upstream-headers-stay", func(t *testing.T) {
		resp := b.get("/page")
		if resp.StatusCode != http.StatusOK || len(resp.Header["Set-Cookie"]) != 0 || resp.Header.Get("Cache-Control") != "public, max-age=600, s-maxage=600" {
			t.Fatalf("a plain request: %s, Set-Cookie %q, Cache-Control %q", resp.Status, resp.Header["Set-Cookie"], resp.Header.Get("Cache-Control"))
		}
	})
}

// refreshingSite is a site whose sessions hold an access token that is due
// for refresh at once, with a refresh token.
func refreshingSite(t *testing.T, stauth string) *testSite {
	s := newTestSite(t, siteOptions{authExtra: `expose_tokens = "access"`, stauth: stauth})
	s.OP.Set(func(b *hostileop.Behaviour) {
		b.TokenResponse = func(resp map[string]any) {
			resp["refresh_token"] = "refresh-" + randomToken()
			resp["expires_in"] = 30 // under refreshBefore: due at the next request
		}
	})
	return s
}

// TestReviewRefreshAmplification: a replayed cookie makes at most one
// refresh attempt per interval; 429 and 5xx are "try later" (the session
// stays); a refusal is remembered; the allow rules come first.
func TestReviewRefreshAmplification(t *testing.T) {
	for _, c := range []struct {
		name      string
		fault     hostileop.Fault
		keepsUser bool
	}{
		{"429-is-try-later", hostileop.Fault{Status: http.StatusTooManyRequests, Error: "slow_down"}, true},
		{"503-is-try-later", hostileop.Fault{Status: http.StatusServiceUnavailable}, true},
		{"invalid_grant-is-remembered", hostileop.Fault{Status: http.StatusBadRequest, Error: "invalid_grant"}, false},
	} {
		t.Run("review-4/"+c.name, func(t *testing.T) {
			s := refreshingSite(t, "")
			b := s.browser(t)
			b.mustLogIn("/auth/login", "/")
			cookie := b.cookie("stauth_session")
			before := s.OP.Count(hostileop.Token)
			s.OP.Set(func(b *hostileop.Behaviour) {
				b.Faults = map[hostileop.Endpoint]hostileop.Fault{hostileop.Token: c.fault}
			})
			for i := range 20 {
				resp := s.browser(t).do(http.MethodGet, "/private", "Cookie", "stauth_session="+cookie)
				if got := resp.StatusCode == http.StatusOK; got != c.keepsUser {
					t.Fatalf("replay %d: %s, want the user kept: %v", i, resp.Status, c.keepsUser)
				}
			}
			if n := s.OP.Count(hostileop.Token) - before; n != 1 {
				t.Fatalf("20 replays of one cookie made %d refresh requests, want 1", n)
			}
		})
	}
	t.Run("review-4/allow-rules-before-refresh", func(t *testing.T) {
		s := refreshingSite(t, "allow_emails someone-else@example.com")
		b := s.browser(t)
		b.mustLogIn("/auth/login", "/")
		before := s.OP.Count(hostileop.Token)
		if resp := b.get("/private"); resp.StatusCode != http.StatusForbidden {
			t.Fatalf("a user the rules keep out: %s", resp.Status)
		}
		if n := s.OP.Count(hostileop.Token) - before; n != 0 {
			t.Fatalf("a user the rules keep out cost %d refresh requests", n)
		}
	})
}

// TestReviewMatcherMode: outside stauth's matcher, the app receives neither
// stauth's cookies nor placeholders left as literal text, and nobody is
// challenged.
func TestReviewMatcherMode(t *testing.T) {
	s := newTestSite(t, siteOptions{matcher: "/private*"})
	b := s.browser(t)
	b.mustLogIn("/auth/login?rd=/private", "/private")
	for _, c := range []struct {
		name    string
		browser *testBrowser
		want    string
	}{
		{"logged-in", b, "id=" + hostileop.DefaultSubject + " email=" + hostileop.DefaultEmail},
		{"logged-out", s.browser(t), "id= email= name= logged_in=false provider="},
	} {
		t.Run("DESIGN-additions/outside-the-matcher-"+c.name, func(t *testing.T) {
			resp := c.browser.get("/public", "Cookie", "app=1")
			if resp.StatusCode != http.StatusOK || !strings.Contains(resp.Body, c.want) || strings.Contains(resp.Body, "{http.auth") || strings.Contains(resp.Body, "stauth_") {
				t.Fatalf("outside the matcher: %s\n%s\nwant it to show %q, no placeholder text and no stauth cookie", resp.Status, resp.Body, c.want)
			}
		})
	}
	if resp := s.browser(t).get("/private"); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("inside the matcher a logged-out browser is not sent to log in: %s", resp.Status)
	}
}

// TestReviewLogoutImage: a GET logs out only as a top-level navigation from
// the same origin or typed by the user; an image, a frame or a browser that
// says nothing get the confirmation page.
func TestReviewLogoutImage(t *testing.T) {
	s := newTestSite(t, siteOptions{behaviour: hostileop.Behaviour{NoEndSession: true}})
	for _, c := range []struct {
		name    string
		headers []string
		logsOut bool
	}{
		{"img-same-origin", []string{"Sec-Fetch-Site", "same-origin", "Sec-Fetch-Mode", "no-cors", "Sec-Fetch-Dest", "image"}, false},
		{"iframe-same-origin", []string{"Sec-Fetch-Site", "same-origin", "Sec-Fetch-Mode", "navigate", "Sec-Fetch-Dest", "iframe"}, false},
		{"link-from-a-sibling-subdomain", []string{"Sec-Fetch-Site", "same-site", "Sec-Fetch-Mode", "navigate", "Sec-Fetch-Dest", "document"}, false},
		{"no-fetch-metadata", nil, false},
		{"same-origin-navigation", sameOriginNavigation, true},
		{"typed-in-the-address-bar", []string{"Sec-Fetch-Site", "none", "Sec-Fetch-Mode", "navigate", "Sec-Fetch-Dest", "document"}, true},
	} {
		t.Run("review-7/"+c.name, func(t *testing.T) {
			b := s.browser(t)
			b.mustLogIn("/auth/login", "/")
			resp := b.get("/auth/logout", c.headers...)
			if c.logsOut {
				if resp.StatusCode != http.StatusOK || pageTitle(resp.Body) != "You have signed out" {
					t.Fatalf("logout: %s %q", resp.Status, pageTitle(resp.Body))
				}
				b.assertLoggedOut()
				return
			}
			if resp.StatusCode != http.StatusOK || !strings.Contains(resp.Body, "Sign out?") || len(resp.Header["Set-Cookie"]) != 0 {
				t.Fatalf("a logout that is not the user's: %s, Set-Cookie %q", resp.Status, resp.Header["Set-Cookie"])
			}
			b.assertLoggedInAs(hostileop.DefaultSubject)
		})
	}
}

// TestReviewSmallerItems: the reserved tokens key, the ID token kept out of
// Location headers, one deletion per cookie name, and a rewritten callback.
func TestReviewSmallerItems(t *testing.T) {
	t.Run("review-9/a-claim-named-tokens-is-never-shown", func(t *testing.T) {
		s := newTestSite(t, siteOptions{body: "tokens=[{http.auth.user.tokens}] id=[{http.auth.user.tokens.id}] access=[{http.auth.user.tokens.access}]"})
		s.OP.Set(func(b *hostileop.Behaviour) {
			b.Claims = func(c map[string]any) { c["tokens"] = map[string]any{"id": "forged", "access": "forged"} }
		})
		b := s.browser(t)
		b.mustLogIn("/auth/login", "/")
		if _, has := b.user()["tokens"]; has {
			t.Fatalf("the user JSON shows a provider's tokens claim: %v", b.user())
		}
		if resp := b.get("/"); resp.Body != "tokens=[] id=[] access=[]" {
			t.Fatalf("placeholders: %q", resp.Body)
		}
	})
	t.Run("review-9/id_token-not-in-a-Location-header", func(t *testing.T) {
		s := newTestSite(t, siteOptions{})
		b := s.browser(t)
		b.mustLogIn("/auth/login", "/")
		resp := b.get("/auth/logout", sameOriginNavigation...)
		end := logoutTarget(t, resp.StatusCode, resp.Header.Get("Location"), resp.Body)
		if hint := end.Query().Get("id_token_hint"); hint == "" || strings.Contains(fmt.Sprint(resp.Header), hint) {
			t.Fatalf("logout: the ID token is missing from the provider's URL or sits in a response header: %v", resp.Header)
		}
	})
	t.Run("review-9/one-deletion-per-cookie-name", func(t *testing.T) {
		s := newTestSite(t, siteOptions{})
		resp := s.browser(t).do(http.MethodGet, "/private", "Cookie", strings.Repeat("stauth_session=x; ", 30)+"stauth_session_2=y; stauth_session_2=z")
		count := map[string]int{}
		for _, c := range resp.Cookies() {
			count[c.Name]++
		}
		if count["stauth_session"] != 1 || count["stauth_session_2"] != 1 {
			t.Fatalf("deleting Set-Cookies per name: %v", count)
		}
	})
	t.Run("review-9/rewrite-in-front-of-the-callback", func(t *testing.T) {
		s := newTestSite(t, siteOptions{before: "rewrite * /app?mode=x"})
		b := s.browser(t)
		b.mustLogIn("/auth/login?rd=/dashboard", "/dashboard")
		b.assertLoggedInAs(hostileop.DefaultSubject)
	})
}

// TestReviewDefaultPrompt: Streamlit's default prompt=select_account is
// sent only where the provider takes it, and a provider that refuses it
// (ORY Hydra) gets the login again without it; a configured prompt is sent
// as written.
func TestReviewDefaultPrompt(t *testing.T) {
	t.Run("review-10/not-sent-where-prompt_values_supported-lacks-it", func(t *testing.T) {
		s := newTestSite(t, siteOptions{behaviour: hostileop.Behaviour{Metadata: func(doc map[string]any) {
			doc["prompt_values_supported"] = []string{"none", "login", "consent"}
		}}})
		if u := s.browser(t).startLogin("/auth/login"); u.Query().Has("prompt") {
			t.Fatalf("the default prompt went to a provider that does not list it: %s", u)
		}
	})
	t.Run("review-10/refused-default-is-retried-without-it", func(t *testing.T) {
		s := newTestSite(t, siteOptions{})
		b := s.browser(t)
		first := b.startLogin("/auth/login?rd=/private")
		if first.Query().Get("prompt") != defaultPrompt {
			t.Fatalf("the first login does not send Streamlit's default prompt: %s", first)
		}
		// The provider refuses it, as Hydra does, back at the callback.
		refusal := url.Values{"error": {"invalid_request"}, "error_description": {"unknown value select_account for prompt"}, "state": {first.Query().Get("state")}}
		resp := b.get("/oauth2callback?" + refusal.Encode())
		again, err := url.Parse(resp.Header.Get("Location"))
		if resp.StatusCode != http.StatusSeeOther || err != nil || again.Host != first.Host || again.Query().Has("prompt") {
			t.Fatalf("after the refusal: %s to %q, want the provider again without prompt", resp.Status, resp.Header.Get("Location"))
		}
		if cb := b.get(b.authorize(again).String()); cb.StatusCode != http.StatusSeeOther || cb.Header.Get("Location") != "/private" {
			t.Fatalf("the login without the default prompt: %s to %q", cb.Status, cb.Header.Get("Location"))
		}
		if later := s.browser(t).startLogin("/auth/login"); later.Query().Has("prompt") {
			t.Fatalf("the refused default prompt is sent again: %s", later)
		}
		// Another instance (or this one restarted) sharing Caddy's storage
		// learns it at start, so the user does not log in twice there.
		other := newTestSite(t, siteOptions{metadataURL: s.OP.MetadataURL, storageOf: s})
		deadline := time.Now().Add(10 * time.Second)
		for other.browser(t).startLogin("/auth/login").Query().Has("prompt") {
			if time.Now().After(deadline) {
				t.Fatal("an instance sharing the storage still sends the refused default prompt")
			}
		}
	})
	t.Run("review-10/configured-prompt-is-sent-as-written", func(t *testing.T) {
		s := newTestSite(t, siteOptions{kwargs: `prompt = "select_account"`})
		b := s.browser(t)
		first := b.startLogin("/auth/login")
		refusal := url.Values{"error": {"invalid_request"}, "state": {first.Query().Get("state")}}
		resp := b.get("/oauth2callback?" + refusal.Encode())
		if first.Query().Get("prompt") != "select_account" || resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("a configured prompt: sent %q; refused, the callback answers %s", first.Query().Get("prompt"), resp.Status)
		}
	})
}
