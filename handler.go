package stauth

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"
	"golang.org/x/oauth2"
)

// userPrefix is the placeholder namespace stauth fills.
const userPrefix = "http.auth.user."

// refreshBefore is how long before the access token expires it is refreshed.
const refreshBefore = time.Minute

// ServeHTTP answers stauth's own endpoints and gates every other request.
func (s *Stauth) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	switch path := s.endpoint(r); path {
	case "":
		return s.gate(w, r, next)
	case s.LoginPath:
		return s.serveLogin(w, r)
	case s.LogoutPath:
		return s.serveLogout(w, r)
	case s.UserPath:
		return s.serveUser(w, r)
	default:
		return s.serveCallback(w, r, path)
	}
}

// endpoint returns the request's path when it is one of stauth's endpoints,
// looking also at the path before any rewrite (try_files, rewrite, uri).
func (s *Stauth) endpoint(r *http.Request) string {
	if s.isEndpoint(r.URL.Path) {
		return r.URL.Path
	}
	if orig := originalURL(r); s.isEndpoint(orig.Path) {
		return orig.Path
	}
	return ""
}

func (s *Stauth) isEndpoint(path string) bool {
	return path == s.LoginPath || path == s.LogoutPath || path == s.UserPath || slices.Contains(s.callbackPaths, path)
}

// gate lets a request with a valid session through, with the user's identity
// in the placeholders, and stops the others.
func (s *Stauth) gate(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	repl := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer)
	sess := s.currentSession(w, r)
	s.cookies.stripOwn(r.Header)
	switch {
	case sess == nil && s.Anonymous:
		repl.Map(loggedOutPlaceholders)
	case sess == nil:
		return s.challenge(w, r)
	case !s.rules.allows(sess):
		return s.forbidden(w, r, sess)
	default:
		repl.Map(s.placeholders(sess))
	}
	return next.ServeHTTP(w, r)
}

// currentSession opens the request's session. A cookie that does not open,
// has expired, or whose tokens cannot be refreshed is deleted. A session
// sealed with a previous secret, or just refreshed, is sealed again.
func (s *Stauth) currentSession(w http.ResponseWriter, r *http.Request) *session {
	value := s.cookies.sessionValue(r.Header)
	if value == "" {
		s.cookies.deleteSession(w, r) // orphan chunks, such as a _2 without its _1
		return nil
	}
	sess, stale := openSession(s.sessions, value, time.Now())
	if sess == nil || s.providers[sess.provider] == nil {
		s.cookies.deleteSession(w, r)
		return nil
	}
	if s.needsRefresh(sess) {
		err := s.refresh(r.Context(), sess)
		switch {
		case err == nil:
			stale = true
		case isUnreachable(err) && time.Now().Unix() < sess.accessExpires:
			// The provider did not answer; the access token still works.
			s.logger.Warn("access token refresh failed; trying again on the next request", zap.String("provider", sess.provider), zap.String("sub", sess.sub), zap.Error(err))
		default:
			s.logger.Info("session ended: the access token could not be refreshed", zap.String("provider", sess.provider), zap.String("sub", sess.sub), zap.Error(err))
			s.cookies.deleteSession(w, r)
			return nil
		}
	}
	if stale {
		sealed, err := sealSession(s.sessions, sess)
		if err != nil {
			// The browser keeps the cookie it has: still valid, sealed with a
			// previous secret or holding the tokens before this refresh.
			s.logger.Error("the session could not be sealed again", zap.String("provider", sess.provider), zap.String("sub", sess.sub), zap.Error(err))
		} else {
			s.cookies.setSession(w, r, sealed)
		}
	}
	return sess
}

// needsRefresh tells whether the session's exposed access token expires soon
// and a refresh token can renew it.
func (s *Stauth) needsRefresh(sess *session) bool {
	return sess.refreshToken != "" && sess.accessExpires != 0 &&
		time.Until(time.Unix(sess.accessExpires, 0)) < refreshBefore
}

// refresh renews the session's tokens at its provider. Requests that carry
// the same refresh token at the same time share one refresh, so a provider
// that rotates refresh tokens does not see it used twice.
func (s *Stauth) refresh(ctx context.Context, sess *session) error {
	p := s.providers[sess.provider]
	d, err := p.discover(ctx)
	if err != nil {
		return err
	}
	shared, err, _ := s.refreshes.Do(sess.refreshToken, func() (any, error) {
		return p.refresh(context.WithoutCancel(ctx), d, sess)
	})
	if err != nil {
		return err
	}
	token := shared.(*oauth2.Token)
	sess.accessToken, sess.accessExpires = token.AccessToken, expiryUnix(token.Expiry)
	if token.RefreshToken != "" {
		sess.refreshToken = token.RefreshToken
	}
	if raw, _ := token.Extra("id_token").(string); raw != "" && sess.idToken != "" {
		sess.idToken = raw
	}
	return nil
}

func expiryUnix(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.Unix()
}

// isNavigation tells whether a request is a browser loading a page, which
// can be sent to log in, rather than a script or API call.
func isNavigation(r *http.Request) bool {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return false
	}
	return r.Header.Get("Sec-Fetch-Mode") == "navigate" || strings.Contains(r.Header.Get("Accept"), "text/html")
}

// originalURL is the URL the browser asked for, before rewrites.
func originalURL(r *http.Request) *url.URL {
	if orig, ok := r.Context().Value(caddyhttp.OriginalRequestCtxKey).(http.Request); ok && orig.URL != nil {
		return orig.URL
	}
	return r.URL
}

// challenge answers a request without a session: a browser is sent to log
// in and comes back here; anything else gets a 401.
func (s *Stauth) challenge(w http.ResponseWriter, r *http.Request) error {
	setAuthHeaders(w.Header())
	if isNavigation(r) {
		return redirect(w, s.LoginPath+"?rd="+url.QueryEscape(originalURL(r).RequestURI()))
	}
	w.Header().Set("WWW-Authenticate", `Cookie realm="stauth", form-action="`+s.LoginPath+`"`)
	return writeJSON(w, http.StatusUnauthorized, map[string]string{
		"error":     "login_required",
		"message":   "This resource needs a login; open " + s.LoginPath + " in a browser.",
		"login_url": s.LoginPath,
	})
}

// forbidden answers a logged-in user the access rules keep out.
func (s *Stauth) forbidden(w http.ResponseWriter, r *http.Request, sess *session) error {
	who := sess.email
	if who == "" {
		who = sess.sub
	}
	s.logger.Info("access denied by allow rules", zap.String("provider", sess.provider), zap.String("sub", sess.sub), zap.String("email", sess.email))
	if !isNavigation(r) {
		setAuthHeaders(w.Header())
		return writeJSON(w, http.StatusForbidden, map[string]string{"error": "forbidden", "message": who + " may not use this site."})
	}
	return writePage(w, http.StatusForbidden, page{
		Title:        "You don't have access",
		Paragraphs:   []string{"You are signed in as " + who + " (" + s.providers[sess.provider].displayName + "), but this site does not let that account in.", "Sign out to use another account, or ask the site's administrator for access."},
		LogoutAction: s.LogoutPath,
	})
}

// placeholders resolves the http.auth.user.* namespace for a session.
func (s *Stauth) placeholders(sess *session) caddy.ReplacerFunc {
	return func(key string) (any, bool) {
		name, ok := strings.CutPrefix(key, userPrefix)
		if !ok {
			return nil, false
		}
		return s.userValue(sess, name), true
	}
}

// loggedOutPlaceholders resolves the http.auth.user.* namespace with no
// session: is_logged_in is false and everything else empty.
func loggedOutPlaceholders(key string) (any, bool) {
	name, ok := strings.CutPrefix(key, userPrefix)
	if !ok {
		return nil, false
	}
	if name == "is_logged_in" {
		return "false", true
	}
	return "", true
}

// userValue is the text of one http.auth.user.* placeholder.
func (s *Stauth) userValue(sess *session, name string) string {
	switch name {
	case "id", "sub":
		return sess.sub
	case "is_logged_in":
		return "true"
	case "provider":
		return sess.provider
	case "email":
		return sess.email
	case "email_verified":
		return sess.emailVerified
	case "tokens.id":
		return exposed(s.secrets.exposeID, sess.idToken)
	case "tokens.access":
		return exposed(s.secrets.exposeAccess, sess.accessToken)
	}
	return claimText(sess.allClaims()[name])
}

func exposed(allowed bool, token string) string {
	if allowed {
		return token
	}
	return ""
}

// claimText renders a claim for a placeholder: lists comma-joined, objects
// as JSON, absent as empty.
func claimText(v any) string {
	if text, ok := scalarText(v); ok {
		return text
	}
	switch v := v.(type) {
	case nil:
		return ""
	case []any:
		items := make([]string, len(v))
		for i, item := range v {
			items[i] = claimText(item)
		}
		return strings.Join(items, ",")
	}
	raw, _ := json.Marshal(v)
	return string(raw)
}

// serveUser answers the session's user as JSON, like st.user.
func (s *Stauth) serveUser(w http.ResponseWriter, r *http.Request) error {
	if !allowMethods(w, r, http.MethodGet, http.MethodHead) {
		return nil
	}
	setAuthHeaders(w.Header())
	sess := s.currentSession(w, r)
	if sess == nil {
		return writeJSON(w, http.StatusOK, map[string]any{"is_logged_in": false})
	}
	user := map[string]any{}
	for k, v := range sess.allClaims() {
		user[k] = v
	}
	user["is_logged_in"] = true
	user["provider"] = sess.provider
	tokens := map[string]string{}
	if s.secrets.exposeID {
		tokens["id"] = sess.idToken
	}
	if s.secrets.exposeAccess {
		tokens["access"] = sess.accessToken
	}
	if len(tokens) > 0 {
		user["tokens"] = tokens
	}
	return writeJSON(w, http.StatusOK, user)
}

// serveLogin starts a login: with the provider chosen, a redirect to it.
func (s *Stauth) serveLogin(w http.ResponseWriter, r *http.Request) error {
	if !allowMethods(w, r, http.MethodGet, http.MethodHead) {
		return nil
	}
	q := r.URL.Query()
	returnTo := safeReturnTo(q.Get("rd"))
	choice := q.Get("provider")
	if choice == "" && len(s.providerOrder) > 1 {
		return writePage(w, http.StatusOK, s.chooserPage(returnTo))
	}
	p, err := s.pickProvider(choice)
	if err != nil {
		s.logger.Info("login refused", zap.Error(err))
		return writePage(w, http.StatusBadRequest, s.unknownProviderPage(choice, returnTo))
	}
	d, err := p.discover(r.Context())
	if err != nil {
		return s.unavailablePage(w, p, returnTo, err)
	}
	redirectURI, err := s.redirectURI(r, p)
	if err != nil {
		return err
	}
	s.warnOnOtherHost(r, redirectURI)
	tx := &loginTransaction{
		State: randomToken(), Nonce: randomToken(), Verifier: randomToken(),
		Provider: p.name, Issuer: d.issuer, RedirectURI: redirectURI, ReturnTo: returnTo,
		Created: time.Now().Unix(),
	}
	s.pruneLogins(w, r)
	s.cookies.set(w, s.cookies.loginCookieName(tx.State), sealJSON(s.logins, tx), int(loginTTL/time.Second))
	setAuthHeaders(w.Header())
	return redirect(w, p.authCodeURL(d, tx))
}

// unavailablePage answers a login for a provider whose discovery failed.
func (s *Stauth) unavailablePage(w http.ResponseWriter, p *provider, returnTo string, err error) error {
	why := p.displayName + " cannot be reached right now. Please try again in a moment."
	if s.misconfigured(p, err) {
		why = "Sign-in with " + p.displayName + " is not set up correctly. The site's administrator can find the reason in Caddy's log."
	} else {
		s.logger.Error("login unavailable: the provider is not reachable", zap.Error(err))
	}
	return writePage(w, http.StatusServiceUnavailable, page{
		Title:      "The sign-in service is not available",
		Paragraphs: []string{why},
		Links:      []link{{Href: s.loginURL(p.name, returnTo), Label: "Try again", Primary: true}},
	})
}

// pickProvider finds the provider a login asks for: by name, by Streamlit's
// login token, or the only one.
func (s *Stauth) pickProvider(choice string) (*provider, error) {
	if choice == "" {
		return s.providerOrder[0], nil
	}
	if p, ok := s.providers[choice]; ok {
		return p, nil
	}
	if !looksLikeLoginToken(choice) {
		return nil, errors.New("no provider is named " + choice)
	}
	name, err := providerFromLoginToken(choice, s.secrets.cookieSecrets, time.Now())
	if err != nil {
		return nil, errors.New("Streamlit login token refused: " + err.Error())
	}
	if p, ok := s.providers[name]; ok {
		return p, nil
	}
	return nil, errors.New("the Streamlit login token names provider " + name + ", which is not configured")
}

// looksLikeLoginToken tells whether a login's provider parameter has the
// shape of Streamlit's login token (a JWS: three dot-separated parts) rather
// than of a provider's name.
func looksLikeLoginToken(choice string) bool {
	return strings.Count(choice, ".") == 2
}

// chooserPage lists the providers to log in with.
func (s *Stauth) chooserPage(returnTo string) page {
	p := page{Title: "Sign in", Paragraphs: []string{"Choose how to sign in."}}
	for _, prov := range s.providerOrder {
		p.Choices = append(p.Choices, link{Href: s.loginURL(prov.name, returnTo), Label: "Continue with " + prov.displayName})
	}
	return p
}

// unknownProviderPage answers a login for a provider that is not configured
// or a Streamlit login link that is not valid.
func (s *Stauth) unknownProviderPage(choice, returnTo string) page {
	if looksLikeLoginToken(choice) {
		return page{
			Title:      "This sign-in link has expired",
			Paragraphs: []string{"Sign-in links from the app are valid for two minutes, and only on the site they were made for. Go back to the app and sign in again."},
			Links:      []link{{Href: "/", Label: "Back to the app", Primary: true}},
		}
	}
	p := s.chooserPage(returnTo)
	p.Title = "Unknown sign-in provider"
	p.Paragraphs = []string{"This site has no sign-in provider by that name. Choose one of these."}
	return p
}

// loginURL is the login endpoint for a provider and a return path.
func (s *Stauth) loginURL(providerName, returnTo string) string {
	q := url.Values{}
	if providerName != "" {
		q.Set("provider", providerName)
	}
	if returnTo != "/" {
		q.Set("rd", returnTo)
	}
	if len(q) == 0 {
		return s.LoginPath
	}
	return s.LoginPath + "?" + q.Encode()
}

// pruneLogins deletes expired and surplus login transaction cookies, so that
// abandoned logins do not pile up in the browser.
func (s *Stauth) pruneLogins(w http.ResponseWriter, r *http.Request) {
	type pending struct {
		name    string
		created int64
	}
	var live []pending
	now := time.Now()
	scanCookies(r.Header, func(name, value string) bool {
		if !strings.HasPrefix(name, s.cookies.loginPrefix) {
			return true
		}
		if tx, ok := openLogin(s.logins, value, now); ok {
			live = append(live, pending{name, tx.Created})
		} else {
			s.cookies.set(w, name, "", -1)
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
		s.cookies.set(w, live[oldest].name, "", -1)
		live = append(live[:oldest], live[oldest+1:]...)
	}
}

// warnOnOtherHost logs when a login starts on a host other than
// redirect_uri's: the browser will not bring the login cookie back there.
func (s *Stauth) warnOnOtherHost(r *http.Request, redirectURI string) {
	if u, err := url.Parse(redirectURI); err == nil && !strings.EqualFold(u.Host, r.Host) {
		s.logger.Warn("a login started on a host other than redirect_uri's, so the browser will not send the login cookie back; open the site at redirect_uri's host",
			zap.String("request_host", r.Host), zap.String("redirect_uri", redirectURI))
	}
}

// redirectURI is the provider's redirect_uri with {port} replaced by the
// port of the listener that took the request, never one from the Host header.
func (s *Stauth) redirectURI(r *http.Request, p *provider) (string, error) {
	raw := p.redirectURI
	if !strings.Contains(raw, "{port}") {
		return raw, nil
	}
	if addr, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
		if _, port, err := net.SplitHostPort(addr.String()); err == nil {
			return strings.ReplaceAll(raw, "{port}", port), nil
		}
	}
	return "", caddyhttp.Error(http.StatusInternalServerError, errors.New("stauth: the listener's port for {port} in redirect_uri is unknown"))
}

// serveCallback finishes a login: every check of the provider's answer, then
// the session cookie and a redirect to where the login started.
func (s *Stauth) serveCallback(w http.ResponseWriter, r *http.Request, path string) error {
	if !allowMethods(w, r, http.MethodGet) {
		return nil
	}
	q := r.URL.Query()
	for _, key := range []string{"code", "state", "iss", "error"} {
		if len(q[key]) > 1 {
			return s.refusePage(w, nil, refuse("the callback repeats its %s parameter", key))
		}
	}
	state, code, providerErr := q.Get("state"), q.Get("code"), q.Get("error")
	if state == "" && code == "" && providerErr == "" {
		setAuthHeaders(w.Header())
		return redirect(w, "/") // the provider's return after logout
	}
	// Without a login of this browser, nothing the callback carries (an
	// error_description included: anyone can write one into a link to this
	// site) is shown.
	tx := s.takeLogin(w, r, state)
	if tx == nil {
		return s.refusePage(w, nil, &refusal{
			status: http.StatusBadRequest,
			title:  "This sign-in has expired or was started elsewhere",
			reason: "no login transaction cookie matches the callback's state (expired, replayed, or started in another browser or on another host)",
		})
	}
	if providerErr != "" {
		return s.providerErrorPage(w, tx, providerErr, q.Get("error_description"))
	}
	sess, hint, err := s.completeLogin(r, tx, q, path)
	if err != nil {
		var ref *refusal
		if errors.As(err, &ref) {
			return s.refusePage(w, tx, ref)
		}
		return err
	}
	sealed, err := sealSession(s.sessions, sess)
	if err != nil {
		return s.refusePage(w, tx, &refusal{status: http.StatusBadRequest, title: "Your account's details are too large for this site",
			reason: "the session is larger than the cookie budget; the provider sends too many claims (often groups) or an exposed token is too large"})
	}
	s.cookies.setSession(w, r, sealed)
	s.cookies.setLogoutHint(w, s.sealLogoutHint(sess.sub, hint))
	s.logger.Info("login", zap.String("provider", sess.provider), zap.String("sub", sess.sub))
	setAuthHeaders(w.Header())
	return redirect(w, tx.ReturnTo)
}

// takeLogin opens and deletes the login transaction cookie of state; nil
// when there is none or it does not hold that state.
func (s *Stauth) takeLogin(w http.ResponseWriter, r *http.Request, state string) *loginTransaction {
	if state == "" {
		return nil
	}
	name := s.cookies.loginCookieName(state)
	value, found := cookieValue(r.Header, name)
	if !found {
		return nil
	}
	s.cookies.set(w, name, "", -1)
	tx, ok := openLogin(s.logins, value, time.Now())
	if !ok || subtle.ConstantTimeCompare([]byte(tx.State), []byte(state)) != 1 {
		return nil
	}
	return tx
}

// completeLogin checks the callback against its login and redeems the code.
// It returns the session and the ID token to keep as logout hint, if any.
func (s *Stauth) completeLogin(r *http.Request, tx *loginTransaction, q url.Values, path string) (*session, string, error) {
	p := s.providers[tx.Provider]
	if p == nil {
		return nil, "", refuse("the login's provider %q is no longer configured", tx.Provider)
	}
	d, err := p.discover(r.Context())
	if err != nil {
		return nil, "", unreachable(err, "discovery")
	}
	iss, hasIss := q["iss"]
	switch {
	case tx.Issuer != d.issuer:
		return nil, "", refuse("the provider's issuer changed during the login")
	case parseRedirect(tx.RedirectURI).Path != path:
		return nil, "", refuse("the callback came back at %s, not at provider %q's redirect_uri (mix-up, RFC 9700 §4.4.2)", path, p.name)
	case hasIss && iss[0] != d.issuer:
		return nil, "", refuse("the callback's iss %q is not the issuer of provider %q (RFC 9207)", iss[0], p.name)
	case !hasIss && d.issParamRequired:
		return nil, "", refuse("the callback has no iss parameter, which provider %q promises (RFC 9207)", p.name)
	case q.Get("code") == "":
		return nil, "", refuse("the callback has no code")
	}
	id, err := p.exchange(r.Context(), d, tx, q.Get("code"))
	if err != nil {
		return nil, "", err
	}
	sess, err := s.newSession(p, id)
	if err != nil {
		return nil, "", err
	}
	// Logout at the provider sends the ID token as id_token_hint: unless the
	// session holds it (exposed), it is kept in the logout hint cookie.
	hint := ""
	if !s.secrets.exposeID && d.endSession != "" {
		hint = id.rawIDToken
	}
	return sess, hint, nil
}

// newSession builds the session of a verified login: its claims, and only
// the tokens that are exposed.
func (s *Stauth) newSession(p *provider, id *identity) (*session, error) {
	sess := &session{provider: p.name, expires: time.Now().Add(time.Duration(s.SessionTTL)).Unix()}
	if err := sess.setClaims(id.claims); err != nil {
		return nil, err
	}
	if s.secrets.exposeID {
		sess.idToken = id.rawIDToken
	}
	if s.secrets.exposeAccess {
		sess.accessToken = id.token.AccessToken
		sess.refreshToken = id.token.RefreshToken
		sess.accessExpires = expiryUnix(id.token.Expiry)
	}
	return sess, nil
}

// sealLogoutHint seals the ID token kept for logout; empty (the cookie is
// deleted) when there is none or it would not fit in two cookies, and logout
// then sends client_id alone (id_token_hint is only recommended).
func (s *Stauth) sealLogoutHint(sub, idToken string) string {
	if idToken == "" {
		return ""
	}
	sealed := sealJSON(s.hints, idTokenHint{Sub: sub, IDToken: idToken})
	if len(sealed) > chunkSize*maxChunks {
		return ""
	}
	return sealed
}

// logoutIDToken is the ID token to send as id_token_hint for the session:
// the exposed one, or the logout hint cookie's when it names the same user.
func (s *Stauth) logoutIDToken(r *http.Request, sess *session) string {
	if sess.idToken != "" {
		return sess.idToken
	}
	var hint idTokenHint
	if openJSON(s.hints, chunkedValue(r.Header, s.cookies.logoutHint), &hint) && hint.Sub == sess.sub {
		return hint.IDToken
	}
	return ""
}

// refusePage answers a refused callback: a page for the person with a way to
// try again, the reason in the log.
func (s *Stauth) refusePage(w http.ResponseWriter, tx *loginTransaction, ref *refusal) error {
	level := s.logger.Warn
	if ref.status >= 500 {
		level = s.logger.Error
	}
	level("login refused", zap.Int("status", ref.status), zap.String("reason", ref.reason))
	message := "Something went wrong while signing you in. Please try again."
	if ref.status >= 500 {
		message = "The sign-in service did not answer properly. Please try again in a moment."
	}
	return writePage(w, ref.status, page{
		Title:      ref.title,
		Paragraphs: []string{message},
		Links:      []link{{Href: s.retryURL(tx), Label: "Try again", Primary: true}},
	})
}

// retryURL starts the same login again.
func (s *Stauth) retryURL(tx *loginTransaction) string {
	if tx == nil {
		return s.LoginPath
	}
	return s.loginURL(tx.Provider, tx.ReturnTo)
}

// providerErrorPage shows the error a provider sent back (RFC 6749 §4.1.2.1)
// to a login of this browser.
func (s *Stauth) providerErrorPage(w http.ResponseWriter, tx *loginTransaction, code, description string) error {
	status, title := http.StatusBadRequest, "The sign-in did not succeed"
	switch code {
	case "access_denied":
		status, title = http.StatusForbidden, "The sign-in was cancelled or denied"
	case "server_error":
		status = http.StatusBadGateway
	case "temporarily_unavailable":
		status = http.StatusServiceUnavailable
	}
	s.logger.Warn("the provider returned an error", zap.String("provider", tx.Provider), zap.String("error", code), zap.String("error_description", description))
	detail := "Error from the sign-in service: " + code
	if description != "" {
		detail += " (" + description + ")"
	}
	return writePage(w, status, page{
		Title:      title,
		Paragraphs: []string{"The sign-in service did not let you in. You can try again, perhaps with another account."},
		Detail:     detail,
		Links:      []link{{Href: s.retryURL(tx), Label: "Try again", Primary: true}},
	})
}

// serveLogout ends the session, and at the provider too when it supports
// RP-initiated logout. A cross-site request gets a confirmation page instead.
func (s *Stauth) serveLogout(w http.ResponseWriter, r *http.Request) error {
	if !allowMethods(w, r, http.MethodGet, http.MethodHead, http.MethodPost) {
		return nil
	}
	if isCrossSite(r) || r.Method == http.MethodHead {
		return writePage(w, http.StatusOK, page{
			Title:        "Sign out?",
			Paragraphs:   []string{"Confirm that you want to sign out of this site."},
			LogoutAction: s.LogoutPath,
		})
	}
	value := s.cookies.sessionValue(r.Header)
	sess, _ := openSession(s.sessions, value, time.Now())
	s.cookies.deleteSession(w, r)
	s.cookies.setLogoutHint(w, "")
	setAuthHeaders(w.Header())
	target := "/"
	if sess != nil && s.providers[sess.provider] != nil {
		p := s.providers[sess.provider]
		if d, err := p.discover(r.Context()); err == nil && d.endSession != "" {
			if postLogout, err := s.redirectURI(r, p); err == nil {
				target = p.endSessionURL(d, s.logoutIDToken(r, sess), postLogout)
			}
		}
		s.logger.Info("logout", zap.String("provider", sess.provider), zap.String("sub", sess.sub))
	}
	return redirect(w, target)
}

// isCrossSite tells whether a request comes from another site: Fetch
// Metadata says so or, from a browser that sends none, the Origin header
// names another host (or is "null").
func isCrossSite(r *http.Request) bool {
	if site := r.Header.Get("Sec-Fetch-Site"); site != "" {
		return site == "cross-site"
	}
	origin := r.Header.Get("Origin")
	if origin == "" {
		return false
	}
	u, err := url.Parse(origin)
	return err != nil || u.Host == "" || !strings.EqualFold(u.Host, r.Host)
}

// safeReturnTo keeps rd only when it is a path on this site: one leading /,
// then printable ASCII without a backslash (which browsers read as /).
// Anything else, such as //evil.example, /\evil.example, a scheme or a line
// break, gives /.
func safeReturnTo(rd string) string {
	if len(rd) == 0 || rd[0] != '/' || strings.HasPrefix(rd, "//") {
		return "/"
	}
	for i := 0; i < len(rd); i++ {
		if rd[i] <= ' ' || rd[i] >= 0x7f || rd[i] == '\\' {
			return "/"
		}
	}
	u, err := url.Parse(rd)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil {
		return "/"
	}
	return rd
}

// randomToken returns 256 bits of randomness as URL-safe text.
func randomToken() string {
	return base64.RawURLEncoding.EncodeToString(randomBytes(32))
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

// allowMethods answers 405 unless the request uses one of methods.
func allowMethods(w http.ResponseWriter, r *http.Request, methods ...string) bool {
	if slices.Contains(methods, r.Method) {
		return true
	}
	setAuthHeaders(w.Header())
	w.Header().Set("Allow", strings.Join(methods, ", "))
	w.WriteHeader(http.StatusMethodNotAllowed)
	return false
}

// redirect answers 303 See Other to a target stauth built or checked.
func redirect(w http.ResponseWriter, target string) error {
	w.Header().Set("Location", target)
	w.WriteHeader(http.StatusSeeOther)
	return nil
}

// writeJSON answers v as JSON.
func writeJSON(w http.ResponseWriter, status int, v any) error {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	return json.NewEncoder(w).Encode(v)
}
