package stauth

import (
	"slices"
	"strconv"
	"strings"
	"time"
)

// defaultPrompt is Streamlit's prompt, sent when client_kwargs sets none and
// the provider does not refuse it (see provider.sendsDefaultPrompt).
const defaultPrompt = "select_account"

// ownedAuthParams are authorization request parameters stauth sets itself.
var ownedAuthParams = []string{"state", "nonce", "code_challenge", "redirect_uri", "response_type", "client_id", "response_mode"}

// clientKwargs reads client_kwargs into the provider's authorization request
// settings.
func (p *secretsParser) clientKwargs(section string, table map[string]any, pc *providerConfig) {
	params := map[string]string{}
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
	if _, configured := params["prompt"]; !configured {
		pc.defaultPrompt = defaultPrompt
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
		p.strengthKwarg(section, pc, key, value)
		params[key] = value
	}
}

// strengthKwarg notes what a login must prove when client_kwargs asks for
// it, since the request travels through the browser and may be stripped:
// acr_values (one of them in acr), max_age (auth_time within it) and
// prompt = "login" (auth_time after the login started).
func (p *secretsParser) strengthKwarg(section string, pc *providerConfig, key, value string) {
	switch key {
	case "acr_values":
		pc.acrValues = strings.Fields(value)
	case "max_age":
		seconds, err := strconv.ParseUint(value, 10, 31)
		if err != nil {
			p.fail(section, "client_kwargs.max_age must be a whole number of seconds, like max_age = 3600")
			return
		}
		pc.maxAge = time.Duration(seconds) * time.Second
		pc.hasMaxAge = true
	case "prompt":
		pc.promptLogin = slices.Contains(strings.Fields(value), "login")
	}
}
