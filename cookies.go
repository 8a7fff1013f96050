package stauth

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Cookie size limits: a browser keeps about 4096 bytes per cookie (name and
// attributes included), and Caddy refuses request headers over 16 KB.
const (
	chunkSize     = 3800
	maxChunks     = 2
	maxReadChunks = 8
)

// cookieJar names and writes stauth's cookies. With an https redirect_uri the
// cookies are Secure and their names take the __Host- prefix (__Secure- for
// the logout hint, whose path is the logout path).
type cookieJar struct {
	session     string
	loginPrefix string
	// logoutHint holds the ID token kept for logout at the provider; the
	// browser sends it to logoutPath only, so it costs nothing elsewhere.
	logoutHint string
	logoutPath string
	secure     bool
	maxAge     int
}

func newCookieJar(secure bool, sessionTTL time.Duration, logoutPath string) cookieJar {
	prefix, hintPrefix := "stauth_", "stauth_"
	if secure {
		prefix, hintPrefix = "__Host-stauth_", "__Secure-stauth_"
	}
	return cookieJar{
		session: prefix + "session", loginPrefix: prefix + "login_",
		logoutHint: hintPrefix + "logout", logoutPath: logoutPath,
		secure: secure, maxAge: int(sessionTTL / time.Second),
	}
}

// loginCookieName names the transaction cookie of the login with this state.
func (j cookieJar) loginCookieName(state string) string {
	sum := sha256.Sum256([]byte(state))
	return j.loginPrefix + hex.EncodeToString(sum[:8])
}

// scanCookies calls fn for each cookie of the request, in order, without
// allocating; fn returns false to stop.
func scanCookies(h http.Header, fn func(name, value string) bool) {
	for _, line := range h["Cookie"] {
		for part := range strings.SplitSeq(line, ";") {
			name, value, _ := strings.Cut(strings.TrimSpace(part), "=")
			if len(value) > 1 && value[0] == '"' && value[len(value)-1] == '"' {
				value = value[1 : len(value)-1]
			}
			if name != "" && !fn(name, value) {
				return
			}
		}
	}
}

// cookieValue returns the first value of the named cookie.
func cookieValue(h http.Header, name string) (value string, found bool) {
	scanCookies(h, func(n, v string) bool {
		if n == name {
			value, found = v, true
		}
		return !found
	})
	return value, found
}

// chunkIndex tells which part of the cookie base name is: 0 for the whole
// cookie, 1… for chunks, -1 for another cookie.
func chunkIndex(base, name string) int {
	if !strings.HasPrefix(name, base) {
		return -1
	}
	rest := name[len(base):]
	if rest == "" {
		return 0
	}
	if len(rest) < 2 || rest[0] != '_' {
		return -1
	}
	n, err := strconv.Atoi(rest[1:])
	if err != nil || n < 1 || n > maxReadChunks {
		return -1
	}
	return n
}

// chunkedValue returns the value of cookie base from the request: the whole
// cookie, or its chunks joined in order.
func chunkedValue(h http.Header, base string) string {
	var parts [maxReadChunks + 1]string
	scanCookies(h, func(name, value string) bool {
		if i := chunkIndex(base, name); i >= 0 && parts[i] == "" {
			parts[i] = value
		}
		return true
	})
	if parts[0] != "" {
		return parts[0]
	}
	n := 1
	for n <= maxReadChunks && parts[n] != "" {
		n++
	}
	return strings.Join(parts[1:n], "")
}

// chunkNames names the cookies that hold a value of size bytes: base alone,
// or base_1, base_2… when it is too large for one cookie.
func chunkNames(base string, size int) []string {
	if size <= chunkSize {
		return []string{base}
	}
	var names []string
	for i := 1; (i-1)*chunkSize < size; i++ {
		names = append(names, base+"_"+strconv.Itoa(i))
	}
	return names
}

// writeChunks writes value under names, split in order.
func (j cookieJar) writeChunks(w http.ResponseWriter, path string, names []string, value string, maxAge int) {
	for i, name := range names {
		part := value
		if len(names) > 1 {
			part = value[i*chunkSize : min((i+1)*chunkSize, len(value))]
		}
		j.setAt(w, path, name, part, maxAge)
	}
}

// sessionValue returns the sealed session from the request.
func (j cookieJar) sessionValue(h http.Header) string { return chunkedValue(h, j.session) }

// setSession writes the sealed session, split into chunks when it is too
// large for one cookie, and deletes the session cookies it does not reuse.
func (j cookieJar) setSession(w http.ResponseWriter, r *http.Request, sealed string) {
	names := chunkNames(j.session, len(sealed))
	j.writeChunks(w, "/", names, sealed, j.maxAge)
	j.deleteSession(w, r, names...)
}

// deleteSession deletes the request's session cookies, except keep.
func (j cookieJar) deleteSession(w http.ResponseWriter, r *http.Request, keep ...string) {
	scanCookies(r.Header, func(name, _ string) bool {
		if chunkIndex(j.session, name) >= 0 && !slices.Contains(keep, name) {
			j.set(w, name, "", -1)
		}
		return true
	})
}

// set writes one cookie for the whole site; maxAge -1 deletes it.
func (j cookieJar) set(w http.ResponseWriter, name, value string, maxAge int) {
	j.setAt(w, "/", name, value, maxAge)
}

// setLogoutHint writes the sealed logout hint, chunked like the session;
// an empty value deletes it. The request does not carry it (its path is
// the logout path), so every name it might have is deleted blindly.
func (j cookieJar) setLogoutHint(w http.ResponseWriter, sealed string) {
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
func (j cookieJar) setAt(w http.ResponseWriter, path, name, value string, maxAge int) {
	http.SetCookie(w, &http.Cookie{
		Name:     name,
		Value:    value,
		Path:     path,
		MaxAge:   maxAge,
		HttpOnly: true,
		Secure:   j.secure,
		SameSite: http.SameSiteLaxMode,
	})
}

// isOwn tells whether a cookie is one of stauth's.
func (j cookieJar) isOwn(name string) bool {
	return chunkIndex(j.session, name) >= 0 || strings.HasPrefix(name, j.loginPrefix) || chunkIndex(j.logoutHint, name) >= 0
}

// stripOwn removes stauth's cookies from the request, so the next handler
// never sees them. It allocates only when it has something to remove, and
// then twice at most.
func (j cookieJar) stripOwn(h http.Header) {
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
func sealSession(s *sealer, sess *session) (string, error) {
	sealed := s.seal(sess.encode())
	if len(sealed) > chunkSize*maxChunks {
		return "", errSessionTooLarge
	}
	return sealed, nil
}

// openSession returns the valid session sealed in value, if any, and whether
// it was sealed with a previous secret.
func openSession(s *sealer, value string, now time.Time) (sess *session, stale bool) {
	if value == "" {
		return nil, false
	}
	plain, stale, ok := s.open(value)
	if !ok {
		return nil, false
	}
	sess, ok = decodeSession(plain)
	if !ok || now.Unix() >= sess.expires {
		return nil, false
	}
	return sess, stale
}

// openLogin opens a login transaction cookie that has not expired.
func openLogin(s *sealer, value string, now time.Time) (*loginTransaction, bool) {
	var tx loginTransaction
	if !openJSON(s, value, &tx) || tx.State == "" {
		return nil, false
	}
	age := now.Sub(time.Unix(tx.Created, 0))
	return &tx, age >= -time.Minute && age < loginTTL
}
