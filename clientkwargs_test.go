package stauth

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

// TestClientKwargs: what client_kwargs asks of a login is noted for the
// callback to check, and a default prompt is kept apart from a configured
// one.
func TestClientKwargs(t *testing.T) {
	for _, c := range []struct {
		name, kwargs string
		check        func(pc providerConfig) bool
		err          string
	}{
		{"nothing: Streamlit's default prompt", "", func(pc providerConfig) bool {
			return pc.defaultPrompt == "select_account" && len(pc.authParams) == 0 && !pc.promptLogin && !pc.hasMaxAge
		}, ""},
		{"acr_values", `acr_values = "mfa  phr"`, func(pc providerConfig) bool {
			return reflect.DeepEqual(pc.acrValues, []string{"mfa", "phr"}) && reflect.DeepEqual(pc.authParams, [][2]string{{"acr_values", "mfa  phr"}})
		}, ""},
		{"max_age", `max_age = 300`, func(pc providerConfig) bool { return pc.hasMaxAge && pc.maxAge == 5*time.Minute }, ""},
		{"max_age zero", `max_age = "0"`, func(pc providerConfig) bool { return pc.hasMaxAge && pc.maxAge == 0 }, ""},
		{"prompt login", `prompt = "login consent"`, func(pc providerConfig) bool {
			return pc.promptLogin && pc.defaultPrompt == "" && reflect.DeepEqual(pc.authParams, [][2]string{{"prompt", "login consent"}})
		}, ""},
		{"prompt configured empty", `prompt = ""`, func(pc providerConfig) bool { return pc.defaultPrompt == "" && len(pc.authParams) == 0 }, ""},
		{"max_age not a number", `max_age = "1h"`, nil, "client_kwargs.max_age must be a whole number of seconds"},
		{"max_age negative", `max_age = -5`, nil, "client_kwargs.max_age must be a whole number of seconds"},
	} {
		t.Run(c.name, func(t *testing.T) {
			text := validAuth
			if c.kwargs != "" {
				text += "client_kwargs = { " + c.kwargs + " }\n"
			}
			s, err := parseSecrets("secrets.toml", text)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("error %v, want %q", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if pc := s.providers[0]; !c.check(pc) {
				t.Fatalf("provider settings: %+v", pc)
			}
		})
	}
}
