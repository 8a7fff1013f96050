package stauth

import (
	"strings"
	"testing"
)

func TestAccessRules(t *testing.T) {
	user := func(email, verified string, claims map[string]any) *session {
		s := &session{}
		if err := s.setClaims(claims); err != nil {
			t.Fatal(err)
		}
		s.email, s.emailVerified = email, verified
		return s
	}
	admins := map[string]any{"groups": []any{"staff", "admins"}, "tier": 2.0, "active": true}
	cases := []struct {
		name   string
		emails []string
		claims []ClaimRule
		user   *session
		want   bool
	}{
		{"no rules", nil, nil, user("", "", nil), true},
		{"exact email", []string{"jane@example.com"}, nil, user("jane@example.com", "true", nil), true},
		{"email ignores case", []string{"Jane@Example.com"}, nil, user("JANE@example.COM", "", nil), true},
		{"other email", []string{"jane@example.com"}, nil, user("john@example.com", "true", nil), false},
		{"domain", []string{"*@example.com"}, nil, user("john@example.com", "true", nil), true},
		{"subdomain is not the domain", []string{"*@example.com"}, nil, user("john@sub.example.com", "true", nil), false},
		{"suffix is not the domain", []string{"*@example.com"}, nil, user("john@badexample.com", "true", nil), false},
		{"unverified email", []string{"jane@example.com"}, nil, user("jane@example.com", "false", nil), false},
		{"no email", []string{"*@example.com"}, nil, user("", "", nil), false},
		{"group in list", nil, []ClaimRule{{"groups", []string{"admins"}}}, user("", "", admins), true},
		{"group not in list", nil, []ClaimRule{{"groups", []string{"ops"}}}, user("", "", admins), false},
		{"number claim", nil, []ClaimRule{{"tier", []string{"1", "2"}}}, user("", "", admins), true},
		{"bool claim", nil, []ClaimRule{{"active", []string{"true"}}}, user("", "", admins), true},
		{"absent claim", nil, []ClaimRule{{"roles", []string{"admin"}}}, user("", "", admins), false},
		{"every rule must hold", []string{"*@example.com"}, []ClaimRule{{"groups", []string{"admins"}}}, user("x@other.com", "true", admins), false},
		{"all rules hold", []string{"*@example.com"}, []ClaimRule{{"groups", []string{"admins"}}, {"active", []string{"true"}}}, user("x@example.com", "true", admins), true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rules, err := newAccessRules(c.emails, c.claims)
			if err != nil {
				t.Fatal(err)
			}
			if got := rules.allows(c.user); got != c.want {
				t.Fatalf("allows = %v, want %v", got, c.want)
			}
		})
	}
}

func TestAccessRulesErrors(t *testing.T) {
	for _, e := range []string{"jane", "@example.com", "jane@", "*@", "a@b@c", "j*@example.com", "*@*.example.com", "jane doe@example.com"} {
		if _, err := newAccessRules([]string{e}, nil); err == nil || !strings.Contains(err.Error(), "is neither an email address nor *@domain") {
			t.Errorf("allow_emails %q: %v", e, err)
		}
	}
	if _, err := newAccessRules(nil, []ClaimRule{{Claim: "groups"}}); err == nil || !strings.Contains(err.Error(), "allow_claim rule 1 (claim \"groups\") needs a claim name and at least one value") {
		t.Errorf("allow_claim without values: %v", err)
	}
}
