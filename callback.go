package stauth

import (
	"errors"
	"net/http"
	"net/url"
	"time"

	"go.uber.org/zap"
)

// serveCallback finishes a login: every check of the provider's answer, then
// the session cookie and a redirect to where the login started.
func (s *Stauth) serveCallback(w http.ResponseWriter, r *http.Request, path string) error {
	if !allowMethods(w, r, http.MethodGet) {
		return nil
	}
	q := r.URL.Query()
	for _, key := range []string{"code", "state", "iss", "error"} {
		if len(q[key]) > 1 {
			return s.refusePage(w, nil, refusalOf(refuse("the callback repeats its %s parameter", key)))
		}
	}
	state, code, providerErr := q.Get("state"), q.Get("code"), q.Get("error")
	if isLogoutReturn(state, code, providerErr) {
		return s.finishLogout(w, state) // the provider's return after logout
	}
	// Without a login of this browser, nothing the callback carries (an
	// error_description included: anyone can write one into a link to this
	// site) is shown.
	tx := s.cookies.takeLogin(w, r, state, time.Now())
	if tx == nil {
		return s.noLoginPage(w, r, path)
	}
	if providerErr == "invalid_request" && tx.DefaultPrompt {
		return s.retryWithoutDefaultPrompt(w, r, tx)
	}
	if providerErr != "" {
		return s.providerErrorPage(w, tx, providerErr, q.Get("error_description"))
	}
	sess, hint, err := s.completeLogin(r, tx, q, path)
	if err != nil {
		var failed *loginError
		if errors.As(err, &failed) {
			return s.refusePage(w, tx, refusalOf(failed))
		}
		return err
	}
	if err := s.cookies.writeSession(w, r, sess); err != nil {
		return s.refusePage(w, tx, &refusal{status: http.StatusBadRequest, title: "Your account's details are too large for this site",
			reason: "the session is larger than the cookie budget; the provider sends too many claims (often groups) or an exposed token is too large"})
	}
	s.cookies.writeLogoutHint(w, sess, hint)
	s.loggedIn(r, sess)
	setAuthHeaders(w.Header())
	return redirect(w, tx.ReturnTo)
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
	case tx.Issuer != d.issuer || tx.Binding != p.binding:
		return nil, "", refuse("provider %q's settings changed during the login", p.name)
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
	now := time.Now()
	sess := &session{
		provider: p.name, binding: p.binding, id: string(randomBytes(sessionIDSize)),
		issued: now.Unix(), lastUsed: now.Unix(), expires: now.Add(time.Duration(s.SessionTTL)).Unix(),
	}
	sess.sid, _ = id.claims["sid"].(string)
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

// refusal is a refused callback as the person sees it: a status and a
// title, and the reason for the log.
type refusal struct {
	status int
	title  string
	reason string
}

// notAnswering is the title of the page for a provider that failed.
const notAnswering = "The sign-in service is not answering"

// refusalOf answers a failed login by whose fault it is: 400 for a check
// that did not pass, 502 for a wrong answer, 503 for a provider that could
// not be reached, 504 for one that did not answer in time.
func refusalOf(err *loginError) *refusal {
	switch err.fault {
	case faultBadAnswer:
		return &refusal{http.StatusBadGateway, notAnswering, err.reason}
	case faultUnreachable:
		return &refusal{http.StatusServiceUnavailable, notAnswering, err.reason}
	case faultTimeout:
		return &refusal{http.StatusGatewayTimeout, notAnswering, err.reason}
	}
	return &refusal{http.StatusBadRequest, "The sign-in could not be completed", err.reason}
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

// retryWithoutDefaultPrompt starts a login again, once, when the provider
// refused a login that carried stauth's default prompt (ORY Hydra refuses
// select_account): a default never breaks a login. The prompt is not sent
// to this provider again.
func (s *Stauth) retryWithoutDefaultPrompt(w http.ResponseWriter, r *http.Request, tx *loginTransaction) error {
	p := s.providers[tx.Provider]
	if p == nil {
		return s.providerErrorPage(w, tx, "invalid_request", "")
	}
	p.promptRefused.Store(true)
	s.rememberPromptRefusal(r.Context(), p)
	s.logger.Warn("the provider refused the default prompt "+p.defaultPrompt+"; logging in again without it (set client_kwargs.prompt to choose one)", zap.String("provider", p.name))
	return s.startLogin(w, r, p, tx.ReturnTo)
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
