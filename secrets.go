package stauth

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"

	"github.com/BurntSushi/toml"
)

// minSecretLength is the shortest cookie_secret accepted.
const minSecretLength = 16

// defaultProviderName names the unnamed provider of [auth], as Streamlit does.
const defaultProviderName = "default"

// secrets is what stauth takes from a Streamlit secrets.toml: the [auth]
// section and its providers. It holds secret material and is never
// serialized, logged or shown.
type secrets struct {
	// redirectURI is redirect_uri as written, possibly with {port}.
	redirectURI string
	// cookieSecrets holds cookie_secret first, then cookie_secret_previous.
	cookieSecrets []string
	exposeID      bool
	exposeAccess  bool
	// providers are sorted by name.
	providers []providerConfig
	// warnings are problems worth logging that do not stop Caddy.
	warnings []string
}

// providerConfig is one OpenID Connect provider of secrets.toml.
type providerConfig struct {
	name         string
	displayName  string
	clientID     string
	clientSecret string
	metadataURL  string
	scope        string
	// authParams are the extra authorization request parameters (prompt and
	// every client_kwargs key stauth does not own), sorted by key.
	authParams [][2]string
	// tokenAuthMethod is client_secret_basic, client_secret_post or empty
	// (chosen from the provider's metadata).
	tokenAuthMethod string
	// redirectURI is the provider's own redirect_uri, or [auth]'s.
	redirectURI string
}

// secretsError is a problem in secrets.toml, naming the file and section.
type secretsError struct {
	file    string
	section string
	msg     string
}

func (e *secretsError) Error() string {
	if e.section == "" {
		return e.file + ": " + e.msg
	}
	return fmt.Sprintf("%s: [%s]: %s", e.file, e.section, e.msg)
}

// providerKeys are the keys of a provider section; the first three are required.
var providerKeys = []string{"client_id", "client_secret", "server_metadata_url", "client_kwargs", "display_name"}

// sharedKeys are the keys only [auth] itself may hold.
var sharedKeys = []string{"redirect_uri", "cookie_secret", "cookie_secret_previous", "expose_tokens"}

// ownedAuthParams are authorization request parameters stauth sets itself.
var ownedAuthParams = []string{"state", "nonce", "code_challenge", "redirect_uri", "response_type", "client_id", "response_mode"}

// loadSecrets reads and validates the secrets file at path.
func loadSecrets(path string) (*secrets, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, readError(path, err)
	}
	return parseSecrets(path, string(data))
}

func readError(path string, err error) error {
	hint := "check the path given to stauth"
	if wd, wdErr := os.Getwd(); wdErr == nil && !strings.HasPrefix(path, "/") {
		hint += " (a relative path is read from Caddy's working directory, " + wd + ")"
	}
	if errors.Is(err, os.ErrPermission) {
		hint = "let the user running Caddy read it (and nobody else: chmod 600)"
	}
	return &secretsError{file: path, msg: fmt.Sprintf("cannot read the secrets file: %v; %s", errors.Unwrap(err), hint)}
}

// quoted matches a double-quoted fragment of a TOML error message, which may
// hold part of a secret written without quotes.
var quoted = regexp.MustCompile(`"[^"]*"`)

// redactTOML removes from a TOML parser message what may be part of a
// secret: quoted fragments, and every word of the value on the offending
// line (the parser shows a number out of range unquoted, for instance).
func redactTOML(msg, text string, line int) string {
	msg = quoted.ReplaceAllString(msg, `"…"`)
	lines := strings.Split(text, "\n")
	if line < 1 || line > len(lines) {
		return msg
	}
	_, value, _ := strings.Cut(lines[line-1], "=")
	for _, word := range strings.Fields(msg) {
		if w := strings.Trim(word, `"'.,:;()`); len(w) >= 3 && strings.Contains(value, w) {
			msg = strings.ReplaceAll(msg, w, "…")
		}
	}
	return msg
}

// parseSecrets validates the TOML text of a secrets file named file.
func parseSecrets(file, text string) (*secrets, error) {
	var doc map[string]any
	if _, err := toml.Decode(text, &doc); err != nil {
		var perr toml.ParseError
		if errors.As(err, &perr) {
			msg := redactTOML(perr.Message, text, perr.Position.Line)
			return nil, &secretsError{file: file, msg: fmt.Sprintf("line %d: not valid TOML: %s", perr.Position.Line, msg)}
		}
		return nil, &secretsError{file: file, msg: "not valid TOML: " + err.Error()}
	}
	rawAuth, ok := doc["auth"]
	if !ok {
		return nil, &secretsError{file: file, msg: "the [auth] section is missing; it holds redirect_uri, cookie_secret and the OpenID Connect provider settings (see stauth's README)"}
	}
	auth, ok := rawAuth.(map[string]any)
	if !ok {
		return nil, &secretsError{file: file, msg: "auth must be a section ([auth]), not a value"}
	}
	p := &secretsParser{file: file, s: &secrets{}}
	p.shared(auth)
	p.allProviders(auth)
	if p.err != nil {
		return nil, p.err
	}
	return p.s, nil
}

// secretsParser collects the first error met while reading secrets.toml.
type secretsParser struct {
	file string
	s    *secrets
	err  error
}

func (p *secretsParser) fail(section, format string, args ...any) {
	if p.err == nil {
		p.err = &secretsError{file: p.file, section: section, msg: fmt.Sprintf(format, args...)}
	}
}

// str reads a required string key; it never shows the value.
func (p *secretsParser) str(section string, table map[string]any, key string) string {
	raw, ok := table[key]
	if !ok {
		p.fail(section, "%s is missing", key)
		return ""
	}
	s, ok := raw.(string)
	if !ok {
		p.fail(section, "%s must be a string in quotes", key)
		return ""
	}
	if strings.TrimSpace(s) == "" {
		p.fail(section, "%s is empty", key)
	}
	return s
}

// optionalStr reads a string key that may be absent.
func (p *secretsParser) optionalStr(section string, table map[string]any, key string) string {
	if _, ok := table[key]; !ok {
		return ""
	}
	return p.str(section, table, key)
}

// strList reads a key holding a string or a list of strings.
func (p *secretsParser) strList(section string, table map[string]any, key string) []string {
	switch v := table[key].(type) {
	case nil:
		return nil
	case string:
		return []string{v}
	case []any:
		list := make([]string, 0, len(v))
		for _, item := range v {
			s, ok := item.(string)
			if !ok {
				p.fail(section, "%s must be a string or a list of strings", key)
				return nil
			}
			list = append(list, s)
		}
		return list
	default:
		p.fail(section, "%s must be a string or a list of strings", key)
		return nil
	}
}

// shared reads the keys [auth] holds for every provider.
func (p *secretsParser) shared(auth map[string]any) {
	p.s.redirectURI = p.str("auth", auth, "redirect_uri")
	if p.err == nil {
		if err := checkRedirectURI(p.s.redirectURI); err != nil {
			p.fail("auth", "redirect_uri %q %v", p.s.redirectURI, err)
		}
	}
	secret := p.str("auth", auth, "cookie_secret")
	p.s.cookieSecrets = append([]string{secret}, p.strList("auth", auth, "cookie_secret_previous")...)
	for i, s := range p.s.cookieSecrets {
		key := "cookie_secret"
		if i > 0 {
			key = "cookie_secret_previous"
		}
		if p.err == nil && len(s) < minSecretLength {
			p.fail("auth", "%s is too short: use at least %d characters of randomness, e.g. the output of `openssl rand -hex 32`", key, minSecretLength)
		}
	}
	for _, t := range p.strList("auth", auth, "expose_tokens") {
		switch t {
		case "id":
			p.s.exposeID = true
		case "access":
			p.s.exposeAccess = true
		default:
			p.fail("auth", `expose_tokens must be "id", "access" or a list of them, like ["id", "access"]`)
		}
	}
}

// checkRedirectURI checks redirect_uri once {port} is given a value.
func checkRedirectURI(raw string) error {
	u, err := url.Parse(strings.ReplaceAll(raw, "{port}", "8501"))
	switch {
	case err != nil:
		return errors.New("is not a valid URL")
	case u.Scheme != "http" && u.Scheme != "https":
		return errors.New("must be an absolute URL starting with https:// (or http:// for local development)")
	case u.Host == "":
		return errors.New("has no host")
	case u.Fragment != "" || strings.Contains(raw, "#"):
		return errors.New("must not have a #fragment")
	case u.User != nil:
		return errors.New("must not hold a user name or password")
	case u.Path == "" || u.Path == "/":
		return errors.New("needs a path for the login callback, such as /oauth2callback")
	}
	return nil
}

// allProviders reads the unnamed provider of [auth] and every [auth.NAME].
func (p *secretsParser) allProviders(auth map[string]any) {
	names := make([]string, 0, len(auth))
	for key, value := range auth {
		if _, isTable := value.(map[string]any); isTable && key != "client_kwargs" {
			names = append(names, key)
		} else if !slices.Contains(providerKeys, key) && !slices.Contains(sharedKeys, key) {
			p.s.warnings = append(p.s.warnings, fmt.Sprintf("%s: [auth]: %s is not a key stauth knows; it is ignored", p.file, key))
		}
	}
	slices.Sort(names)
	if unnamed := hasProviderKeys(auth); unnamed && slices.Contains(names, defaultProviderName) {
		p.fail("auth", "the unnamed provider (client_id, … in [auth]) and [auth.default] are the same provider; keep one of them")
	} else if unnamed {
		p.provider("auth", defaultProviderName, auth)
	}
	for _, name := range names {
		p.provider("auth."+name, name, auth[name].(map[string]any))
	}
	if p.err == nil && len(p.s.providers) == 0 {
		p.fail("auth", "no provider is configured: add client_id, client_secret and server_metadata_url to [auth], or an [auth.NAME] section holding them")
	}
}

// hasProviderKeys tells whether [auth] holds an unnamed provider.
func hasProviderKeys(auth map[string]any) bool {
	for _, key := range providerKeys {
		if _, ok := auth[key]; ok {
			return true
		}
	}
	return false
}

// provider reads one provider from its section.
func (p *secretsParser) provider(section, name string, table map[string]any) {
	if strings.ContainsFunc(name, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		p.fail(section, "the provider name must not hold control characters")
		return
	}
	pc := providerConfig{
		name:         name,
		clientID:     p.str(section, table, "client_id"),
		clientSecret: p.str(section, table, "client_secret"),
		metadataURL:  p.str(section, table, "server_metadata_url"),
		displayName:  p.optionalStr(section, table, "display_name"),
		scope:        "openid profile email",
	}
	if pc.displayName == "" {
		pc.displayName = name
	}
	if p.err == nil {
		if err := checkMetadataURL(pc.metadataURL); err != nil {
			p.fail(section, "server_metadata_url %q %v", pc.metadataURL, err)
		}
	}
	pc.redirectURI = p.s.redirectURI
	if section != "auth" {
		p.ownRedirectURI(section, table, &pc)
		for key, value := range table {
			if _, isTable := value.(map[string]any); isTable && key != "client_kwargs" {
				p.fail(section, "%s is a section inside a provider; providers are [auth.NAME] sections directly under [auth]", key)
			} else if key == "redirect_uri" {
				continue
			} else if slices.Contains(sharedKeys, key) {
				p.fail(section, "%s belongs in [auth], where it applies to every provider", key)
			} else if !slices.Contains(providerKeys, key) {
				p.s.warnings = append(p.s.warnings, fmt.Sprintf("%s: [%s]: %s is not a key stauth knows; it is ignored", p.file, section, key))
			}
		}
	}
	p.clientKwargs(section, table, &pc)
	p.s.providers = append(p.s.providers, pc)
}

// ownRedirectURI reads a named provider's own redirect_uri, a stauth
// extension: with one callback per provider, a provider that does not send
// the iss parameter cannot be mixed up with another (RFC 9700 §4.4.2). It
// must be on the origin of [auth]'s, where the cookies live.
func (p *secretsParser) ownRedirectURI(section string, table map[string]any, pc *providerConfig) {
	own := p.optionalStr(section, table, "redirect_uri")
	if own == "" || p.err != nil {
		return
	}
	if err := checkRedirectURI(own); err != nil {
		p.fail(section, "redirect_uri %q %v", own, err)
		return
	}
	mine, _ := url.Parse(strings.ReplaceAll(own, "{port}", "1"))
	shared, _ := url.Parse(strings.ReplaceAll(p.s.redirectURI, "{port}", "1"))
	if mine.Scheme != shared.Scheme || mine.Host != shared.Host {
		p.fail(section, "redirect_uri %q must be on the same scheme and host as [auth]'s redirect_uri %q, where stauth's cookies live", own, p.s.redirectURI)
		return
	}
	pc.redirectURI = own
}

// checkMetadataURL checks server_metadata_url.
func checkMetadataURL(raw string) error {
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return errors.New("is not a valid URL")
	case u.Scheme != "http" && u.Scheme != "https":
		return errors.New("must be an absolute URL starting with https://")
	case u.Host == "":
		return errors.New("has no host")
	case !strings.HasSuffix(u.Path, "/.well-known/openid-configuration"):
		return errors.New("must end with /.well-known/openid-configuration (the provider's OpenID Connect discovery document)")
	}
	return nil
}

// clientKwargs reads client_kwargs into the provider's authorization request
// settings.
func (p *secretsParser) clientKwargs(section string, table map[string]any, pc *providerConfig) {
	params := map[string]string{"prompt": "select_account"}
	if raw, ok := table["client_kwargs"]; ok {
		kwargs, ok := raw.(map[string]any)
		if !ok {
			p.fail(section, "client_kwargs must be a table, like client_kwargs = { prompt = \"login\" }")
			return
		}
		for key, value := range kwargs {
			s, ok := scalarText(value)
			if !ok {
				p.fail(section, "client_kwargs.%s must be a string, a number or a boolean", key)
				continue
			}
			p.clientKwarg(section, pc, params, key, s)
		}
	}
	for key, value := range params {
		if value != "" {
			pc.authParams = append(pc.authParams, [2]string{key, value})
		}
	}
	slices.SortFunc(pc.authParams, func(a, b [2]string) int { return strings.Compare(a[0], b[0]) })
}

// clientKwarg applies one client_kwargs entry.
func (p *secretsParser) clientKwarg(section string, pc *providerConfig, params map[string]string, key, value string) {
	switch {
	case key == "scope":
		if !slices.Contains(strings.Fields(value), "openid") {
			p.fail(section, "client_kwargs.scope must include openid (it is %q)", value)
		}
		pc.scope = strings.Join(strings.Fields(value), " ")
	case key == "token_endpoint_auth_method":
		if value != "client_secret_basic" && value != "client_secret_post" {
			p.fail(section, "client_kwargs.token_endpoint_auth_method must be client_secret_basic or client_secret_post")
		}
		pc.tokenAuthMethod = value
	case key == "code_challenge_method":
		if value != "S256" {
			p.fail(section, "client_kwargs.code_challenge_method: stauth always uses PKCE with S256; remove this key")
		}
	case slices.Contains(ownedAuthParams, key) || strings.HasPrefix(key, "code_challenge"):
		p.fail(section, "client_kwargs.%s is set by stauth itself for every login; remove it", key)
	default:
		params[key] = value
	}
}
