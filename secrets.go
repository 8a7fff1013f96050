package stauth

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
)

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
	// providers are the unnamed provider of [auth] (named default) first,
	// then the [auth.NAME] sections sorted by name.
	providers []providerConfig
	// warnings are problems worth logging that do not stop Caddy.
	warnings []string
}

// providerConfig is one OpenID Connect provider of secrets.toml.
type providerConfig struct {
	name string
	// section is where the provider is configured: auth or auth.NAME.
	section      string
	displayName  string
	clientID     string
	clientSecret string
	metadataURL  string
	scope        string
	// authParams are the extra authorization request parameters (prompt and
	// every client_kwargs key stauth does not own), sorted by key.
	authParams [][2]string
	// defaultPrompt is the prompt sent when client_kwargs sets none, and
	// the provider accepts it; empty when client_kwargs sets one.
	defaultPrompt string
	// acrValues, maxAge (when hasMaxAge) and promptLogin are what the ID
	// token must show when client_kwargs asks for them.
	acrValues   []string
	maxAge      time.Duration
	hasMaxAge   bool
	promptLogin bool
	// tokenAuthMethod is client_secret_basic, client_secret_post or empty
	// (chosen from the provider's metadata).
	tokenAuthMethod string
	// redirectURI is the provider's own redirect_uri, or [auth]'s.
	redirectURI string
}

// providerKeys are the keys of a provider section; the first three are required.
var providerKeys = []string{"client_id", "client_secret", "server_metadata_url", "client_kwargs", "display_name"}

// sharedKeys are the keys of [auth] that apply to every provider; a named
// provider may hold only redirect_uri of them (see ownRedirectURI).
var sharedKeys = []string{"redirect_uri", "cookie_secret", "cookie_secret_previous", "expose_tokens"}

// loadSecrets reads and validates the secrets file at path.
func loadSecrets(path string) (*secrets, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, readError(path, err)
	}
	return parseSecrets(path, string(data))
}

// parseSecrets validates the TOML text of a secrets file named file.
func parseSecrets(file, text string) (*secrets, error) {
	var doc map[string]any
	if _, err := toml.Decode(text, &doc); err != nil {
		var perr toml.ParseError
		if errors.As(err, &perr) {
			msg := redactTOML(perr.Message, text, perr.Position.Line)
			return nil, &secretsError{file: file, msg: fmt.Sprintf("line %d%s: not valid TOML: %s (text values go in double quotes, like client_secret = \"…\")", perr.Position.Line, keyOnLine(text, perr.Position.Line), msg)}
		}
		return nil, &secretsError{file: file, msg: "not valid TOML: " + quoted.ReplaceAllString(err.Error(), `"…"`)}
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

// warn keeps a problem that does not stop Caddy, to be logged.
func (p *secretsParser) warn(section, format string, args ...any) {
	p.s.warnings = append(p.s.warnings, (&secretsError{file: p.file, section: section, msg: fmt.Sprintf(format, args...)}).Error())
}

// str reads a required string key; it never shows the value.
func (p *secretsParser) str(section string, table map[string]any, key string) string {
	raw, ok := table[key]
	if !ok {
		p.fail(section, "%s", missingKeyMessage(key, table))
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
		p.checkRedirectURI("auth", p.s.redirectURI)
	}
	secret := p.str("auth", auth, "cookie_secret")
	p.s.cookieSecrets = append([]string{secret}, p.strList("auth", auth, "cookie_secret_previous")...)
	for i, s := range p.s.cookieSecrets {
		key := "cookie_secret"
		if i > 0 {
			key = "cookie_secret_previous"
		}
		problem, warning := checkCookieSecret(key, s)
		if p.err == nil && problem != "" {
			p.fail("auth", "%s", problem)
		}
		if warning != "" {
			p.warn("auth", "%s", warning)
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

// checkRedirectURI checks a redirect_uri once {port} is given a value.
func (p *secretsParser) checkRedirectURI(section, raw string) {
	u, err := url.Parse(strings.ReplaceAll(raw, "{port}", "8501"))
	if err == nil {
		err = checkWebURL(u)
	}
	switch {
	case err != nil:
	case u.Fragment != "" || strings.Contains(raw, "#"):
		err = errors.New("must not have a #fragment")
	case u.Path == "" || u.Path == "/":
		err = errors.New("needs a path for the login callback, such as /oauth2callback")
	case u.Scheme == "http" && !isLoopback(u):
		p.warn(section, "redirect_uri %s is plain http on a host other than this machine: stauth's cookies cannot be Secure and can be read on the network; use https", shownURL(raw))
	}
	if err != nil {
		p.fail(section, "redirect_uri %s %v", shownURL(raw), err)
	}
}

// allProviders reads the unnamed provider of [auth] and every [auth.NAME].
func (p *secretsParser) allProviders(auth map[string]any) {
	names := make([]string, 0, len(auth))
	for key, value := range auth {
		if isSubsection(key, value) {
			names = append(names, key)
		} else if !slices.Contains(providerKeys, key) && !slices.Contains(sharedKeys, key) {
			p.warn("auth", "%s", unknownKeyMessage(key))
		}
	}
	slices.Sort(names)
	present := presentKeys(auth, providerKeys)
	unnamed := len(present) > 0
	_, hasClientID := auth["client_id"]
	switch {
	case unnamed && slices.Contains(names, defaultProviderName):
		p.fail("auth", "the unnamed provider (client_id, … in [auth]) and [auth.default] are the same provider; keep one of them")
	case unnamed && !hasClientID && len(names) > 0:
		p.fail("auth", "it holds provider settings (%s) besides the [auth.NAME] sections: move them into the provider's section, or give [auth] a provider of its own with client_id, client_secret and server_metadata_url", strings.Join(present, ", "))
	case unnamed:
		p.provider("auth", defaultProviderName, auth)
	}
	for _, name := range names {
		p.provider("auth."+name, name, auth[name].(map[string]any))
	}
	if p.err == nil && len(p.s.providers) == 0 {
		p.fail("auth", "no provider is configured: add client_id, client_secret and server_metadata_url to [auth], or an [auth.NAME] section holding them")
	}
}

// isSubsection tells whether a key holds a section of its own, such as
// [auth.google], rather than a value (client_kwargs is an inline table).
func isSubsection(key string, value any) bool {
	_, isTable := value.(map[string]any)
	return isTable && key != "client_kwargs"
}

// presentKeys are the keys of table among keys, in that order.
func presentKeys(table map[string]any, keys []string) []string {
	var present []string
	for _, key := range keys {
		if _, ok := table[key]; ok {
			present = append(present, key)
		}
	}
	return present
}

// provider reads one provider from its section.
func (p *secretsParser) provider(section, name string, table map[string]any) {
	if strings.ContainsFunc(name, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		p.fail(section, "the provider name must not hold control characters")
		return
	}
	pc := providerConfig{
		name:         name,
		section:      section,
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
		p.checkMetadataURL(section, pc.metadataURL)
	}
	pc.redirectURI = p.s.redirectURI
	if section != "auth" {
		p.ownRedirectURI(section, table, &pc)
		for key, value := range table {
			if isSubsection(key, value) {
				p.fail(section, "%s is a section inside a provider; providers are [auth.NAME] sections directly under [auth]", key)
			} else if key == "redirect_uri" {
				continue
			} else if slices.Contains(sharedKeys, key) {
				p.fail(section, "%s belongs in [auth], where it applies to every provider", key)
			} else if !slices.Contains(providerKeys, key) {
				p.warn(section, "%s", unknownKeyMessage(key))
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
	p.checkRedirectURI(section, own)
	if p.err != nil {
		return
	}
	mine, shared := parseRedirect(own), parseRedirect(p.s.redirectURI)
	if mine.Scheme != shared.Scheme || mine.Host != shared.Host {
		p.fail(section, "redirect_uri %s must be on the same scheme and host as [auth]'s redirect_uri %s, where stauth's cookies live", shownURL(own), shownURL(p.s.redirectURI))
		return
	}
	pc.redirectURI = own
}

// checkMetadataURL checks server_metadata_url.
func (p *secretsParser) checkMetadataURL(section, raw string) {
	u, err := url.Parse(raw)
	if err == nil {
		err = checkWebURL(u)
	}
	switch {
	case err != nil:
	case !strings.HasSuffix(u.Path, "/.well-known/openid-configuration"):
		err = errors.New("must end with /.well-known/openid-configuration (the provider's OpenID Connect discovery document)")
	case u.Scheme == "http" && !isLoopback(u):
		p.warn(section, "server_metadata_url %s is plain http on a host other than this machine: anyone on the network between Caddy and the provider could swap its signing keys and forge logins; use https", shownURL(raw))
	}
	if err != nil {
		p.fail(section, "server_metadata_url %s %v", shownURL(raw), err)
	}
}

// redirectSection names where the provider's redirect_uri is written, for
// errors: its own [auth.NAME] when it differs from [auth]'s shared one.
func (pc providerConfig) redirectSection(shared string) string {
	if pc.redirectURI != shared {
		return "auth." + pc.name
	}
	return "auth"
}
