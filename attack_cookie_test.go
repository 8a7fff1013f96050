package stauth

// Attacks on stauth's sealed cookies and on the identity the next handler
// sees (DESIGN: "Cookies and keys", "The gate"; OWASP ASVS V3).

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stauth/caddy-stauth/internal/hostileop"
)

// reseal opens a real session value, lets edit change it and seals it again
// with the site's key: a genuine session with chosen contents.
func (s *testSite) reseal(t *testing.T, value string, edit func(*session)) string {
	t.Helper()
	sealer := s.sealer(t, purposeSession, atkCookieSecret)
	plain, _, ok := sealer.open(value)
	if !ok {
		t.Fatal("the session cookie does not open with the site's key")
	}
	sess, ok := decodeSession(plain)
	if !ok {
		t.Fatal("the session cookie does not decode")
	}
	edit(sess)
	return sealer.seal(sess.encode())
}

// flipBit flips one bit of the sealed bytes behind a cookie value.
func flipBit(t *testing.T, value string, at int) string {
	t.Helper()
	raw, err := base64.RawURLEncoding.DecodeString(value)
	if err != nil {
		t.Fatal(err)
	}
	if at < 0 {
		at += len(raw)
	}
	raw[at] ^= 0x04
	return base64.RawURLEncoding.EncodeToString(raw)
}

func cutBytes(t *testing.T, value string, n int) string {
	t.Helper()
	raw, err := base64.RawURLEncoding.DecodeString(value)
	if err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(raw[:len(raw)-n])
}

// manyGroupsClaim gives a userinfo answer too large for one cookie.
func manyGroupsClaim(c map[string]any) {
	groups := make([]string, 200)
	for i := range groups {
		groups[i] = base64.RawURLEncoding.EncodeToString(randomBytes(24))
	}
	c["groups"] = groups
}

// TestCookieTampering presents forged, damaged and foreign session cookies:
// each is no session (a 401 to an API call, never a 500), is deleted, and
// leaves the browser logged out.
func TestCookieTampering(t *testing.T) {
	s := newTestSite(t, siteOptions{})
	login := func(t *testing.T, big bool) *testBrowser {
		s.OP.Set(func(b *hostileop.Behaviour) {
			b.Userinfo = nil
			if big {
				b.Userinfo = manyGroupsClaim
			}
		})
		b := s.browser(t)
		b.mustLogIn("/auth/login", "/")
		return b
	}
	single := login(t, false)
	good := single.cookie("stauth_session")
	if good == "" || len(single.sessionCookies()) != 1 {
		t.Fatalf("want one session cookie, have %v", single.sessionCookies())
	}
	chunked, other := login(t, true), login(t, true)
	chunk := func(b *testBrowser, i string) string { return b.cookie("stauth_session_" + i) }
	if chunk(chunked, "1") == "" || chunk(chunked, "2") == "" || chunk(chunked, "3") != "" {
		t.Fatalf("want a session in two chunks, have %v", chunked.sessionCookies())
	}
	// A transaction cookie, for presenting it as a session.
	pending := s.browser(t)
	pending.startLogin("/auth/login")
	var txValue string
	for _, c := range pending.jar.Cookies(mustParseURL(t, s.URL)) {
		if isLoginCookie(c.Name) {
			txValue = c.Value
		}
	}
	if txValue == "" {
		t.Fatal("no transaction cookie after the login redirect")
	}
	goodPlain, _, ok := s.sealer(t, purposeSession, atkCookieSecret).open(good)
	if !ok {
		t.Fatal("the session cookie does not open with the site's key")
	}
	huge := base64.RawURLEncoding.EncodeToString(randomBytes(75 << 10)) // 100 KB of text

	type jar map[string]string
	cases := []struct {
		name    string
		cookies jar
	}{
		{"bit-flip-in-version-byte", jar{"stauth_session": flipBit(t, good, 0)}},
		{"bit-flip-in-nonce", jar{"stauth_session": flipBit(t, good, 5)}},
		{"bit-flip-in-ciphertext", jar{"stauth_session": flipBit(t, good, 40)}},
		{"bit-flip-in-tag", jar{"stauth_session": flipBit(t, good, -1)}},
		{"truncated-by-one-byte", jar{"stauth_session": cutBytes(t, good, 1)}},
		{"truncated-tag", jar{"stauth_session": cutBytes(t, good, 16)}},
		{"truncated-to-half", jar{"stauth_session": good[:len(good)/2]}},
		{"extended", jar{"stauth_session": good + "AAAA"}},
		{"empty", jar{"stauth_session": ""}},
		{"not-base64", jar{"stauth_session": "!!!not*base64!!!"}},
		{"chunks-reordered", jar{"stauth_session_1": chunk(chunked, "2"), "stauth_session_2": chunk(chunked, "1")}},
		{"chunks-from-two-sessions", jar{"stauth_session_1": chunk(chunked, "1"), "stauth_session_2": chunk(other, "2")}},
		{"second-chunk-missing", jar{"stauth_session_1": chunk(chunked, "1")}},
		{"first-chunk-missing", jar{"stauth_session_2": chunk(chunked, "2")}},
		{"foreign-third-chunk", jar{"stauth_session_1": chunk(chunked, "1"), "stauth_session_2": chunk(chunked, "2"), "stauth_session_3": "AAAA"}},
		{"transaction-cookie-as-session", jar{"stauth_session": txValue}},
		{"session-payload-sealed-for-transactions", jar{"stauth_session": s.sealer(t, purposeLogin, atkCookieSecret).seal(goodPlain)}},
		{"sealed-with-another-secret", jar{"stauth_session": s.sealer(t, purposeSession, "another-sites-cookie-secret-0123456789").seal(goodPlain)}},
		{"expired-session", jar{"stauth_session": s.reseal(t, good, func(s *session) { s.expires = time.Now().Add(-time.Second).Unix() })}},
		{"provider-not-configured", jar{"stauth_session": s.reseal(t, good, func(s *session) { s.provider = "evil" })}},
		{"12KB-cookie", jar{"stauth_session": huge[:12<<10]}},
		{"100KB-cookie", jar{"stauth_session": huge}},
		{"100KB-in-eight-chunks", func() jar {
			j := jar{}
			for i := 1; i <= 8; i++ {
				j["stauth_session_"+string(rune('0'+i))] = huge[(i-1)*len(huge)/8 : i*len(huge)/8]
			}
			return j
		}()},
	}
	for _, c := range cases {
		t.Run("DESIGN-cookies/"+c.name, func(t *testing.T) {
			b := s.browser(t)
			var cookies []*http.Cookie
			header := []string{}
			for name, value := range c.cookies {
				cookies = append(cookies, &http.Cookie{Name: name, Value: value})
				header = append(header, name+"="+value)
			}
			// Set by hand: Go's jar refuses some of these values.
			resp := b.do(http.MethodGet, "/private", "Accept", "application/json", "Cookie", strings.Join(header, "; "))
			if resp.StatusCode == http.StatusRequestHeaderFieldsTooLarge && strings.HasPrefix(c.name, "100KB") {
				// Caddy refused the request before stauth saw it: no
				// session either, and nothing of stauth's to check.
				t.Log("Caddy refused the header (431) before stauth saw it")
				if setsSession(resp) {
					t.Errorf("the 431 answer set a session cookie: %q", resp.Header["Set-Cookie"])
				}
				return
			}
			if resp.StatusCode != http.StatusUnauthorized {
				t.Fatalf("the tampered session got %s, want 401: %s", resp.Status, resp.Body)
			}
			for name, value := range c.cookies {
				if value != "" && !deletes(resp, name) {
					t.Errorf("the bad cookie %s was not deleted: %q", name, resp.Header["Set-Cookie"])
				}
			}
			if setsSession(resp) {
				t.Errorf("a tampered cookie was sealed again: %q", resp.Header["Set-Cookie"])
			}
			user := b.do(http.MethodGet, "/auth/user", "Cookie", strings.Join(header, "; "))
			if !strings.Contains(user.Body, `"is_logged_in":false`) {
				t.Errorf("/auth/user with the tampered cookie: %s %s", user.Status, user.Body)
			}
			b.setCookies(cookies...)
			b.assertLoggedOut()
		})
	}
	t.Run("DESIGN-cookies/control-the-good-cookies-work", func(t *testing.T) {
		for _, b := range []*testBrowser{single, chunked, other} {
			b.in(t).assertLoggedInAs(hostileop.DefaultSubject)
		}
	})
}

// TestExpiredTransaction: a login transaction older than 10 minutes no
// longer finishes a login (DESIGN: 10 min transaction cookie), and the code
// is not redeemed.
func TestExpiredTransaction(t *testing.T) {
	s := newTestSite(t, siteOptions{})
	t.Run("DESIGN/transaction-older-than-10-minutes", func(t *testing.T) {
		b := s.browser(t)
		cb := b.authorize(b.startLogin("/auth/login"))
		state := cb.Query().Get("state")
		jar := s.jar(t)
		name := jar.loginCookieName(state)
		tx, ok := jar.openLogin(b.cookie(name), time.Now())
		if !ok {
			t.Fatal("the transaction cookie does not open")
		}
		tx.Created = time.Now().Add(-loginTTL - time.Second).Unix()
		b.setCookies(&http.Cookie{Name: name, Value: sealJSON(jar.logins, tx)})
		b.assertRefused(b.get(cb.String()), 400, 499)
		assertNoTokenRequest(t, s.OP)
	})
}

// TestIdentitySpoofing: only stauth's verified session decides what the
// next handler sees as the identity.
func TestIdentitySpoofing(t *testing.T) {
	t.Run("DESIGN-gate/upstream-never-sees-stauth-cookies", func(t *testing.T) {
		s := newTestSite(t, siteOptions{})
		b := s.browser(t)
		b.mustLogIn("/auth/login", "/")
		b.setCookies(&http.Cookie{Name: "app", Value: "kept"}, &http.Cookie{Name: "stauth_login_0123456789abcdef", Value: "x"})
		body := b.assertLoggedInAs(hostileop.DefaultSubject)
		if !strings.HasSuffix(body, "cookie=[app=kept]") {
			t.Errorf("the next handler saw stauth's cookies: %s", body)
		}
	})
	t.Run("DESIGN-placeholders/claims-cannot-override-stauth-fields", func(t *testing.T) {
		s := newTestSite(t, siteOptions{
			behaviour: hostileop.Behaviour{Userinfo: func(c map[string]any) {
				c["is_logged_in"] = false
				c["provider"] = "admin-idp"
				c["id"] = "root"
				c["tokens.id"] = "forged-token"
				c["name"] = "{http.request.header.X-Evil}"
			}},
			body: atkIdentityPage + ` token=[{http.auth.user.tokens.id}]`,
		})
		b := s.browser(t)
		b.mustLogIn("/auth/login", "/")
		resp := b.get("/private", "X-Evil", "expanded")
		want := "id=alice-sub email=alice@example.com name={http.request.header.X-Evil} logged_in=true provider=default cookie=[] token=[]"
		if resp.Body != want {
			t.Errorf("the page says\n%s\nwant\n%s", resp.Body, want)
		}
		user := b.user()
		if user["is_logged_in"] != true || user["provider"] != "default" || user["sub"] != hostileop.DefaultSubject {
			t.Errorf("/auth/user: %v", user)
		}
	})
	t.Run("DESIGN-gate/anonymous-with-a-forged-session-is-logged-out", func(t *testing.T) {
		s := newTestSite(t, siteOptions{stauth: "anonymous"})
		b := s.browser(t)
		forged := s.sealer(t, purposeSession, "another-sites-cookie-secret-0123456789").seal(
			(&session{provider: "default", sub: "root", email: "root@example.com", expires: time.Now().Add(time.Hour).Unix()}).encode())
		resp := b.get("/private", "Cookie", "stauth_session="+forged, "X-Forwarded-User", "root", "X-Auth-Request-User", "root", "Remote-User", "root")
		want := "id= email= name= logged_in=false provider= cookie=[]"
		if resp.StatusCode != http.StatusOK || resp.Body != want {
			t.Errorf("anonymous page with a forged session: %s\n%s\nwant\n%s", resp.Status, resp.Body, want)
		}
	})
	t.Run("DESIGN-placeholders/identity-headers-to-a-proxied-upstream", func(t *testing.T) {
		type seen struct{ user, email, injected, cookie string }
		got := make(chan seen, 10)
		// next is what the upstream saw of the request just answered; the
		// upstream reports before it answers, so it is there already.
		next := func(what string) seen {
			t.Helper()
			select {
			case v := <-got:
				return v
			case <-time.After(10 * time.Second):
				t.Fatalf("%s: the upstream got no request", what)
				return seen{}
			}
		}
		upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			got <- seen{r.Header.Get("X-Auth-User"), r.Header.Get("X-Auth-Email"), r.Header.Get("X-Injected"), r.Header.Get("Cookie")}
			_, _ = w.Write([]byte("upstream"))
		}))
		t.Cleanup(upstream.Close)
		proxy := fmt.Sprintf(`reverse_proxy %s {
			header_up X-Auth-User {http.auth.user.id}
			header_up X-Auth-Email {http.auth.user.email}
		}`, strings.TrimPrefix(upstream.URL, "http://"))
		spoof := []string{"X-Auth-User", "root", "X-Auth-Email", "root@example.com"}

		// Logged in: the upstream sees the session's identity, not the
		// client's headers, and no stauth cookie.
		s := newTestSite(t, siteOptions{handler: proxy})
		b := s.browser(t)
		b.mustLogIn("/auth/login", "/")
		if resp := b.get("/private", spoof...); resp.StatusCode != http.StatusOK {
			t.Fatalf("logged in: %s", resp.Status)
		}
		if v := next("logged in"); v.user != hostileop.DefaultSubject || v.email != hostileop.DefaultEmail || v.cookie != "" {
			t.Errorf("logged in, the upstream saw %+v", v)
		}

		// Logged out (anonymous), with a forged session: the client's
		// identity headers are overwritten with nothing.
		s = newTestSite(t, siteOptions{handler: proxy, stauth: "anonymous"})
		b = s.browser(t)
		if resp := b.get("/private", append(spoof, "Cookie", "stauth_session=forged")...); resp.StatusCode != http.StatusOK {
			t.Fatalf("anonymous: %s", resp.Status)
		}
		if v := next("anonymous"); v.user != "" || v.email != "" || v.cookie != "" {
			t.Errorf("logged out, the upstream saw the client's identity headers: %+v", v)
		}

		// A claim holding a line break cannot add a header upstream: stauth
		// passes the claim on as it is, and Go's transport refuses a header
		// value with CR or LF, so reverse_proxy answers 502 and sends
		// nothing upstream.
		s = newTestSite(t, siteOptions{handler: proxy, behaviour: hostileop.Behaviour{Userinfo: func(c map[string]any) {
			c["email"] = "alice@example.com\r\nX-Injected: 1"
		}}})
		b = s.browser(t)
		b.mustLogIn("/auth/login", "/")
		if resp := b.get("/private"); resp.StatusCode != http.StatusBadGateway {
			t.Errorf("a claim with a line break in a header_up value: %s, want 502 from reverse_proxy", resp.Status)
		}
		upstream.Close() // waits for any request the upstream is serving
		select {
		case v := <-got:
			t.Errorf("the upstream got a request with a line break in a claim: %+v", v)
		default:
		}
	})
	for _, c := range []struct {
		name, allow, email string
		verified           any
	}{
		{"unverified-email", "alice@example.com", "alice@example.com", false},
		{"unverified-email-as-string", "alice@example.com", "alice@example.com", "false"},
		{"subdomain", "*@example.com", "mallory@evil.example.com", true},
		{"suffix", "*@example.com", "mallory@evilexample.com", true},
		{"domain-as-local-part", "*@example.com", "example.com@evil.example", true},
		{"trailing-domain", "*@example.com", "mallory@example.com.evil.example", true},
		{"quoted-at", "alice@example.com", `"alice@example.com"@evil.example`, true},
	} {
		t.Run("DESIGN-allow_emails/"+c.name, func(t *testing.T) {
			claims := func(m map[string]any) { m["email"], m["email_verified"] = c.email, c.verified }
			s := newTestSite(t, siteOptions{
				behaviour: hostileop.Behaviour{Claims: claims, Userinfo: claims},
				stauth:    "allow_emails " + c.allow,
			})
			b := s.browser(t)
			b.mustLogIn("/auth/login", "/")
			resp := b.get("/private")
			if resp.StatusCode != http.StatusForbidden || strings.Contains(resp.Body, "id=") {
				t.Errorf("%s passed allow_emails %s: %s\n%s", c.email, c.allow, resp.Status, resp.Body)
			}
			assertStauthPage(t, resp)
		})
	}
}
