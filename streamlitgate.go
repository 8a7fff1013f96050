package stauth

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"
)

// With streamlit_user set, stauth hands the Streamlit app behind it the
// user in Streamlit's own _streamlit_user cookie, so that st.user works
// unchanged: every request loses the _streamlit_user* cookies its browser
// sent, and the WebSocket handshake at <base>/_stcore/stream, the only
// request where Streamlit reads them, gains freshly minted ones for a
// logged-in user. Nothing is sent to the browser.

// streamlitStreamPath ends the path of Streamlit's WebSocket, whatever its
// server.baseUrlPath.
const streamlitStreamPath = "/_stcore/stream"

// streamlitMintMaxAge is how long a minted cookie is handed out again:
// Streamlit accepts one for 31 days.
const streamlitMintMaxAge = 24 * time.Hour

// streamlitMintCacheSize bounds the minted cookies kept, one per session
// and origin.
const streamlitMintCacheSize = 1024

// streamlitMinter mints and caches the _streamlit_user cookies of one
// stauth handler.
type streamlitMinter struct {
	format streamlitUserFormat
	secret string
	// origin is the app's origin taken from redirect_uri, or "" when
	// redirect_uri holds {port}, which each request's listener gives.
	origin       string
	redirectURI  string
	exposeID     bool
	exposeAccess bool
	logger       *zap.Logger

	mu    sync.Mutex
	cache map[streamlitMintKey]streamlitMint
}

// streamlitMintKey names a session's mint for one origin.
type streamlitMintKey struct{ origin, id string }

// streamlitMint is a minted Cookie header fragment and what it was minted
// from, so that a refreshed token or an older session is minted again.
type streamlitMint struct {
	issued      int64
	idToken     string
	accessToken string
	at          time.Time
	pairs       string
}

// setUpStreamlit reads the streamlit_user option: it prepares the minter,
// or leaves it nil when the option is not set.
func (s *Stauth) setUpStreamlit() error {
	s.streamlit = nil
	if s.StreamlitUser == "" {
		return nil
	}
	format, err := parseStreamlitUserFormat(s.StreamlitUser)
	if err != nil {
		return fmt.Errorf("stauth: %w", err)
	}
	m := &streamlitMinter{
		format:       format,
		secret:       s.secrets.cookieSecrets[0],
		redirectURI:  s.secrets.redirectURI,
		exposeID:     s.secrets.exposeID,
		exposeAccess: s.secrets.exposeAccess,
		logger:       s.logger,
		cache:        map[streamlitMintKey]streamlitMint{},
	}
	if !strings.Contains(m.redirectURI, "{port}") {
		if m.origin, err = streamlitOrigin(m.redirectURI); err != nil {
			return fmt.Errorf("stauth: streamlit_user: %w", err)
		}
	}
	s.streamlit = m
	return nil
}

// passStreamlitUser prepares the Cookie header the upstream Streamlit app
// receives: no _streamlit_user* cookie from the browser, and on the
// WebSocket handshake, for sess (nil when logged out), a minted one.
// Without the option it does nothing; on any other request it allocates
// only when the browser sent such a cookie.
func (s *Stauth) passStreamlitUser(r *http.Request, sess *session) {
	m := s.streamlit
	if m == nil {
		return
	}
	minted := ""
	if sess != nil && strings.HasSuffix(r.URL.Path, streamlitStreamPath) {
		minted = m.mint(r, sess, time.Now())
	}
	rewriteStreamlitCookies(r.Header, minted)
}

// mint returns the Cookie header pairs carrying sess's user to Streamlit,
// from the cache when they were minted less than a day ago for the same
// session, origin and tokens; "" when they cannot be made.
func (m *streamlitMinter) mint(r *http.Request, sess *session, now time.Time) string {
	origin := m.siteOrigin(r)
	if origin == "" {
		return ""
	}
	idToken, accessToken := "", ""
	if m.exposeID {
		idToken = sess.idToken
	}
	if m.exposeAccess {
		accessToken = sess.accessToken
	}
	key := streamlitMintKey{origin, sess.id}
	if sess.id != "" {
		m.mu.Lock()
		c, ok := m.cache[key]
		m.mu.Unlock()
		if ok && c.issued == sess.issued && c.idToken == idToken && c.accessToken == accessToken && now.Sub(c.at) < streamlitMintMaxAge {
			return c.pairs
		}
	}
	user, err := streamlitUserPayload(sess.allClaims(), origin, sess.provider)
	if err != nil {
		m.logger.Error("the user's claims cannot be written for Streamlit", zap.String("provider", sess.provider), zap.String("sub", sess.sub), zap.Error(err))
		return ""
	}
	tokens, err := streamlitTokensPayload(idToken, accessToken)
	if err != nil {
		m.logger.Error("the tokens cannot be written for Streamlit", zap.String("provider", sess.provider), zap.String("sub", sess.sub), zap.Error(err))
		return ""
	}
	pairs := mintStreamlitUser(m.format, m.secret, user, tokens, now)
	if sess.id != "" {
		m.store(key, streamlitMint{issued: sess.issued, idToken: idToken, accessToken: accessToken, at: now, pairs: pairs}, now)
	}
	return pairs
}

// store caches a mint under key; when the cache is full it first drops the
// mints too old to be handed out, then, if none was, any one.
func (m *streamlitMinter) store(key streamlitMintKey, c streamlitMint, now time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.cache[key]; !ok {
		makeRoom(m.cache, streamlitMintCacheSize, func(old streamlitMint) bool { return now.Sub(old.at) >= streamlitMintMaxAge })
	}
	m.cache[key] = c
}

// siteOrigin is the origin Streamlit compares with the browser's Origin:
// redirect_uri's, with {port} replaced by the port of the listener that
// took the request (never one from the Host header); "" when unknown.
func (m *streamlitMinter) siteOrigin(r *http.Request) string {
	if m.origin != "" {
		return m.origin
	}
	port := listenerPort(r)
	if port == "" {
		return ""
	}
	origin, err := streamlitOrigin(strings.ReplaceAll(m.redirectURI, "{port}", port))
	if err != nil {
		return ""
	}
	return origin
}
