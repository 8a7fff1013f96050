package stauth

import (
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// accessRules decide which logged-in users may pass: allow_emails and
// allow_claim. No rules let every logged-in user pass.
type accessRules struct {
	// emails are exact addresses and domains are "@example.com" suffixes,
	// all lower case.
	emails  []string
	domains []string
	claims  []ClaimRule
}

// newAccessRules checks and prepares allow_emails and allow_claim.
func newAccessRules(emails []string, claims []ClaimRule) (accessRules, error) {
	var a accessRules
	for _, e := range emails {
		local, domain, ok := strings.Cut(strings.ToLower(e), "@")
		if !ok || local == "" || domain == "" || strings.ContainsAny(domain, "@*") || strings.ContainsFunc(e, isSpaceOrControl) || (strings.Contains(local, "*") && local != "*") {
			return a, fmt.Errorf("stauth: allow_emails: %q is neither an email address nor *@domain", e)
		}
		if local == "*" {
			a.domains = append(a.domains, "@"+domain)
		} else {
			a.emails = append(a.emails, local+"@"+domain)
		}
	}
	for i, c := range claims {
		if c.Claim == "" || len(c.Values) == 0 {
			return a, fmt.Errorf("stauth: allow_claim rule %d (claim %q) needs a claim name and at least one value, like: allow_claim groups admins (in JSON: allow_claims: [{\"claim\": \"groups\", \"values\": [\"admins\"]}])", i+1, c.Claim)
		}
	}
	a.claims = claims
	return a, nil
}

func isSpaceOrControl(r rune) bool { return r <= ' ' || r == 0x7f }

// allows tells whether the session's user passes every rule.
func (a accessRules) allows(s *session) bool {
	if (len(a.emails) > 0 || len(a.domains) > 0) && !a.allowsEmail(s) {
		return false
	}
	for _, rule := range a.claims {
		if !s.claimIsOneOf(rule.Claim, rule.Values) {
			return false
		}
	}
	return true
}

// allowsEmail matches the session's email against allow_emails; an email the
// provider says is not verified never matches.
func (a accessRules) allowsEmail(s *session) bool {
	if s.email == "" || s.emailVerified == "false" {
		return false
	}
	email := strings.ToLower(s.email)
	at := strings.LastIndexByte(email, '@')
	return slices.Contains(a.emails, email) || (at >= 0 && slices.Contains(a.domains, email[at:]))
}

// scalarText renders a string, number or boolean (of JSON or TOML) as text.
func scalarText(v any) (string, bool) {
	switch v := v.(type) {
	case string:
		return v, true
	case int64:
		return strconv.FormatInt(v, 10), true
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64), true
	case bool:
		return strconv.FormatBool(v), true
	}
	return "", false
}

// openProviders are providers whose accounts anyone can make, by host and
// path prefix of server_metadata_url, with who can log in through them.
var openProviders = []struct{ host, pathPrefix, who string }{
	{"accounts.google.com", "/", "anyone with a Google account"},
	{"login.microsoftonline.com", "/common/", "anyone with a Microsoft account"},
	{"login.microsoftonline.com", "/organizations/", "anyone with a Microsoft work or school account"},
	{"login.microsoftonline.com", "/consumers/", "anyone with a personal Microsoft account"},
	{"login.microsoftonline.com", "/9188040d-6c67-4c5b-b112-36a304b66dad/", "anyone with a personal Microsoft account"},
	{"gitlab.com", "/", "anyone with a GitLab.com account"},
}

// openTo says who can log in through a provider when anyone can make an
// account there ("" when it is a provider of one organisation).
func openTo(metadataURL string) string {
	u, err := url.Parse(metadataURL)
	if err != nil {
		return ""
	}
	for _, open := range openProviders {
		if strings.EqualFold(u.Hostname(), open.host) && strings.HasPrefix(u.Path, open.pathPrefix) {
			return open.who
		}
	}
	return ""
}

// empty tells whether there is no rule, so every logged-in user passes.
func (a accessRules) empty() bool {
	return len(a.emails) == 0 && len(a.domains) == 0 && len(a.claims) == 0
}
