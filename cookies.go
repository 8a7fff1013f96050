package stauth

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"
)

// cookieJar names, reads and writes stauth's cookies: the session, the
// login transactions and the logout hint, each sealed with its own sealer.
// With an https redirect_uri the cookies are Secure and their names take the
// __Host- prefix (__Secure- for the logout hint, whose path is the logout
// path). With cookie_domain they carry Domain, which __Host- forbids: they
// all take the __Secure- prefix on https.
type cookieJar struct {
	session     string
	loginPrefix string
	// logoutHint holds the ID token kept for logout at the provider; the
	// browser sends it to logoutPath only, so it costs nothing elsewhere.
	logoutHint string
	logoutPath string
	secure     bool
	// domain is cookie_domain: every cookie is sent to it and its
	// subdomains. Empty: host-only cookies.
	domain string
	maxAge int

	// ttl is session_ttl: every sealed value older than that is refused,
	// whatever expiry it carries.
	ttl time.Duration

	sessions *sealer
	logins   *sealer
	hints    *sealer
}

// jarConfig is what the cookie jar is made of.
type jarConfig struct {
	// secrets are cookie_secret, then cookie_secret_previous.
	secrets []string
	// site is what every value is bound to: redirect_uri's origin, or the
	// cookie domain (see Stauth.cookieBinding).
	site   string
	secure bool
	// domain is cookie_domain, or empty for host-only cookies.
	domain     string
	ttl        time.Duration
	logoutPath string
}

// newCookieJar names the cookies and derives one sealer per purpose from the
// cookie secrets, bound to the site.
func newCookieJar(c jarConfig) (*cookieJar, error) {
	prefix, hintPrefix := "stauth_", "stauth_"
	switch {
	case c.secure && c.domain != "":
		prefix, hintPrefix = "__Secure-stauth_", "__Secure-stauth_"
	case c.secure:
		prefix, hintPrefix = "__Host-stauth_", "__Secure-stauth_"
	}
	j := &cookieJar{
		session: prefix + "session", loginPrefix: prefix + "login_",
		logoutHint: hintPrefix + "logout", logoutPath: c.logoutPath,
		secure: c.secure, domain: c.domain, maxAge: int(c.ttl / time.Second), ttl: c.ttl,
	}
	var err error
	for purpose, target := range map[string]**sealer{purposeSession: &j.sessions, purposeLogin: &j.logins, purposeLogoutHint: &j.hints} {
		if *target, err = newSealer(c.secrets, purpose, c.site); err != nil {
			return nil, err
		}
	}
	return j, nil
}

// loginCookieName names the transaction cookie of the login with this state.
func (j *cookieJar) loginCookieName(state string) string {
	sum := sha256.Sum256([]byte(state))
	return j.loginPrefix + hex.EncodeToString(sum[:8])
}

// writeLogin prunes the browser's pending logins and writes the transaction
// cookie of a new one.
func (j *cookieJar) writeLogin(w http.ResponseWriter, r *http.Request, tx *loginTransaction, now time.Time) {
	j.pruneLogins(w, r, now)
	j.set(w, j.loginCookieName(tx.State), sealJSON(j.logins, tx), int(loginTTL/time.Second))
}

// pruneLogins deletes expired and surplus login transaction cookies, so that
// abandoned logins do not pile up in the browser.
func (j *cookieJar) pruneLogins(w http.ResponseWriter, r *http.Request, now time.Time) {
	type pending struct {
		name    string
		created int64
	}
	var live []pending
	var seen []string // each name is judged once, however often it was sent
	scanCookies(r.Header, func(name, value string) bool {
		if !strings.HasPrefix(name, j.loginPrefix) || slices.Contains(seen, name) {
			return true
		}
		seen = append(seen, name)
		if tx, ok := j.openLogin(value, now); ok {
			live = append(live, pending{name, tx.Created})
		} else {
			j.set(w, name, "", -1)
		}
		return true
	})
	for len(live) >= maxPendingLogins {
		oldest := 0
		for i, p := range live {
			if p.created < live[oldest].created {
				oldest = i
			}
		}
		j.set(w, live[oldest].name, "", -1)
		live = append(live[:oldest], live[oldest+1:]...)
	}
}

// takeLogin opens and deletes the login transaction cookie of state; nil
// when there is none or it does not hold that state.
func (j *cookieJar) takeLogin(w http.ResponseWriter, r *http.Request, state string, now time.Time) *loginTransaction {
	if state == "" {
		return nil
	}
	name := j.loginCookieName(state)
	value, found := cookieValue(r.Header, name)
	if !found {
		return nil
	}
	j.set(w, name, "", -1)
	tx, ok := j.openLogin(value, now)
	if !ok || subtle.ConstantTimeCompare([]byte(tx.State), []byte(state)) != 1 {
		return nil
	}
	return tx
}

// readSession opens the request's session cookie. present tells whether the
// request carried one at all (a value that does not open is no session).
func (j *cookieJar) readSession(r *http.Request, now time.Time) (sess *session, stale, present bool) {
	value := chunkedValue(r.Header, j.session)
	if value == "" {
		return nil, false, false
	}
	sess, stale = j.openSession(value, now)
	return sess, stale, true
}

// writeSession seals the session and writes it, split into chunks when it is
// too large for one cookie; errSessionTooLarge past the cookie budget.
func (j *cookieJar) writeSession(w http.ResponseWriter, r *http.Request, sess *session) error {
	sealed, err := j.sealSession(sess)
	if err != nil {
		return err
	}
	j.setSession(w, r, sealed)
	return nil
}

// writeLogoutHint keeps the ID token for logout at the provider in its own
// cookie; with no token, or one that would not fit in two cookies, the
// cookie is deleted and logout sends client_id alone (id_token_hint is only
// recommended).
func (j *cookieJar) writeLogoutHint(w http.ResponseWriter, sess *session, idToken string) {
	j.setLogoutHint(w, j.sealLogoutHint(sess, idToken))
}

// deleteLogoutHint deletes the logout hint cookie.
func (j *cookieJar) deleteLogoutHint(w http.ResponseWriter) { j.setLogoutHint(w, "") }

// sealLogoutHint seals the ID token kept for logout, bound to the session
// it belongs to; empty when there is none or it would not fit in two
// cookies.
func (j *cookieJar) sealLogoutHint(sess *session, idToken string) string {
	if idToken == "" {
		return ""
	}
	sealed := sealJSON(j.hints, idTokenHint{Sub: sess.sub, Binding: sess.binding, Issued: sess.issued, IDToken: idToken})
	if len(sealed) > chunkSize*maxChunks {
		return ""
	}
	return sealed
}

// readLogoutHint returns the ID token the request's logout hint cookie keeps
// for the session, if any: the hint of another login is ignored.
func (j *cookieJar) readLogoutHint(r *http.Request, sess *session) string {
	var hint idTokenHint
	if openJSON(j.hints, chunkedValue(r.Header, j.logoutHint), &hint) &&
		hint.Sub == sess.sub && hint.Binding == sess.binding && hint.Issued == sess.issued {
		return hint.IDToken
	}
	return ""
}

// writeChunks writes value under names, split in order.
func (j *cookieJar) writeChunks(w http.ResponseWriter, path string, names []string, value string, maxAge int) {
	for i, name := range names {
		part := value
		if len(names) > 1 {
			part = value[i*chunkSize : min((i+1)*chunkSize, len(value))]
		}
		j.setAt(w, path, name, part, maxAge)
	}
}

// setSession writes the sealed session, split into chunks when it is too
// large for one cookie, and deletes the session cookies it does not reuse.
func (j *cookieJar) setSession(w http.ResponseWriter, r *http.Request, sealed string) {
	names := chunkNames(j.session, len(sealed))
	j.writeChunks(w, "/", names, sealed, j.maxAge)
	j.deleteSession(w, r, names...)
}

// deleteSession deletes the request's session cookies, except keep.
func (j *cookieJar) deleteSession(w http.ResponseWriter, r *http.Request, keep ...string) {
	done := slices.Clone(keep) // each name is deleted once, however often it was sent
	scanCookies(r.Header, func(name, _ string) bool {
		if chunkIndex(j.session, name) >= 0 && !slices.Contains(done, name) {
			j.set(w, name, "", -1)
			done = append(done, name)
		}
		return true
	})
}

// set writes one cookie for the whole site; maxAge -1 deletes it.
func (j *cookieJar) set(w http.ResponseWriter, name, value string, maxAge int) {
	j.setAt(w, "/", name, value, maxAge)
}

// setLogoutHint writes the sealed logout hint, chunked like the session;
// an empty value deletes it. The request does not carry it (its path is
// the logout path), so every name it might have is deleted blindly.
func (j *cookieJar) setLogoutHint(w http.ResponseWriter, sealed string) {
	var names []string
	if sealed != "" {
		names = chunkNames(j.logoutHint, len(sealed))
		j.writeChunks(w, j.logoutPath, names, sealed, j.maxAge)
	}
	for _, name := range append(chunkNames(j.logoutHint, chunkSize*maxChunks), j.logoutHint) {
		if !slices.Contains(names, name) {
			j.setAt(w, j.logoutPath, name, "", -1)
		}
	}
}

// setAt writes one cookie for path; maxAge -1 deletes it.
func (j *cookieJar) setAt(w http.ResponseWriter, path, name, value string, maxAge int) {
	http.SetCookie(w, &http.Cookie{
		Name:     name,
		Value:    value,
		Path:     path,
		Domain:   j.domain,
		MaxAge:   maxAge,
		HttpOnly: true,
		Secure:   j.secure,
		SameSite: http.SameSiteLaxMode,
	})
}

// isOwn tells whether a cookie is one of stauth's.
func (j *cookieJar) isOwn(name string) bool {
	return chunkIndex(j.session, name) >= 0 || strings.HasPrefix(name, j.loginPrefix) || chunkIndex(j.logoutHint, name) >= 0
}

// stripOwn removes stauth's cookies from the request, so the next handler
// never sees them. It allocates only when it has something to remove, and
// then twice at most.
func (j *cookieJar) stripOwn(h http.Header) {
	own, size := false, 0
	scanCookies(h, func(name, value string) bool {
		if j.isOwn(name) {
			own = true
		} else {
			size += len(name) + len(value) + 3
		}
		return true
	})
	if !own {
		return
	}
	if size == 0 {
		h.Del("Cookie")
		return
	}
	var kept strings.Builder
	kept.Grow(size)
	scanCookies(h, func(name, value string) bool {
		if !j.isOwn(name) {
			if kept.Len() > 0 {
				kept.WriteString("; ")
			}
			kept.WriteString(name)
			kept.WriteByte('=')
			kept.WriteString(value)
		}
		return true
	})
	h["Cookie"] = []string{kept.String()}
}

// errSessionTooLarge means the claims do not fit the cookie budget.
var errSessionTooLarge = errors.New("the session does not fit in the cookies a browser keeps")

// sealSession seals a session within the cookie budget.
func (j *cookieJar) sealSession(sess *session) (string, error) {
	sealed := j.sessions.seal(sess.encode())
	if len(sealed) > chunkSize*maxChunks {
		return "", errSessionTooLarge
	}
	return sealed, nil
}

// openSession returns the valid session sealed in value, if any, and whether
// it was sealed with a previous secret.
func (j *cookieJar) openSession(value string, now time.Time) (sess *session, stale bool) {
	if value == "" {
		return nil, false
	}
	plain, stale, ok := j.sessions.open(value)
	if !ok {
		return nil, false
	}
	sess, ok = decodeSession(plain)
	if !ok || now.Unix() >= sess.expires || !j.fresh(sess.issued, now) {
		return nil, false
	}
	return sess, stale
}

// fresh tells whether a value issued at issued (Unix seconds) is younger
// than the current session_ttl, so that lowering session_ttl ends older
// sessions at once. A value from more than a minute in the future (a clock
// far off, or forged) is not fresh either.
func (j *cookieJar) fresh(issued int64, now time.Time) bool {
	age := now.Sub(time.Unix(issued, 0))
	return age >= -time.Minute && age < j.ttl
}

// openLogin opens a login transaction cookie that has not expired.
func (j *cookieJar) openLogin(value string, now time.Time) (*loginTransaction, bool) {
	var tx loginTransaction
	if !openJSON(j.logins, value, &tx) || tx.State == "" {
		return nil, false
	}
	age := now.Sub(time.Unix(tx.Created, 0))
	return &tx, age >= -time.Minute && age < loginTTL
}
