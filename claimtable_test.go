package stauth

import (
	"encoding/json"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// tableShapes are the claim sets the claims table must keep exactly: the
// providers' shapes of bench_test.go and every kind of value.
func tableShapes() map[string]map[string]any {
	shapes := map[string]map[string]any{
		"google":    googleShape().sessionClaims(),
		"okta":      oktaShape().sessionClaims(),
		"entra-50":  entraShape(50).sessionClaims(),
		"entra-200": entraShape(200).sessionClaims(),
		"kinds": {
			"sub": "s", "str": "x", "empty": "", "unicode": "Zoë \u00e9 <&> \"q\" \\",
			"int": 1700000000.0, "frac": 1.5, "neg": -3.0, "big": 1e21, "tiny": 1e-7, "zero": 0.0,
			"yes": true, "no": false, "null": nil,
			"obj":         map[string]any{"country": "NL", "n": 1.0, "list": []any{"a"}},
			"empty-list":  []any{},
			"one-empty":   []any{""},
			"strs":        []any{"a", "b", ""},
			"comma":       []any{"a,b", "c"},
			"mixed":       []any{"a", 2.0, true, nil, map[string]any{"k": "v"}, []any{"x", "y"}},
			"nested":      []any{[]any{[]any{"deep", 1.0}}, "top"},
			"one-guid":    []any{"2b1f4a7e-5c3d-4e8f-9a0b-1c2d3e4f5a6b"},
			"upper-guids": []any{"2B1F4A7E-5C3D-4E8F-9A0B-1C2D3E4F5A6B"},
			"guid":        "2b1f4a7e-5c3d-4e8f-9a0b-1c2d3e4f5a6b",
			"almost-guid": []any{"2b1f4a7e-5c3d-4e8f-9a0b-1c2d3e4f5a6g"},
			"guids-and-1": []any{"2b1f4a7e-5c3d-4e8f-9a0b-1c2d3e4f5a6b", 1.0},
		},
	}
	deep := any("bottom")
	for range maxClaimDepth + 3 {
		deep = []any{deep, "x"}
	}
	shapes["kinds"]["too-deep"] = deep
	texts := make([]any, 200)
	for i := range texts {
		texts[i] = fmt.Sprintf("group-%d-of-the-engineering-department", i)
	}
	shapes["text-groups"] = map[string]any{"sub": "s", "groups": texts, "name": "Jane Doe"}
	return shapes
}

// jsonRoundTrip is what the claims were before the table: the claims (but
// the separated and dropped ones) through encoding/json.
func jsonRoundTrip(t *testing.T, claims map[string]any) map[string]any {
	t.Helper()
	rest := maps.Clone(claims)
	for _, k := range append(slices.Clone(separatedClaims), droppedClaims...) {
		delete(rest, k)
	}
	raw, err := json.Marshal(rest)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]any{}
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestClaimTableMatchesJSON checks that the table reads back every claim as
// the JSON claims did: the same placeholder text (claimText), the same
// allow_claim answers (claimHolds, for each value the claim holds and one
// it does not), the same user JSON, after a trip through the payload.
func TestClaimTableMatchesJSON(t *testing.T) {
	for name, claims := range tableShapes() {
		t.Run(name, func(t *testing.T) {
			in := &session{provider: "p"}
			if err := in.setClaims(claims); err != nil {
				t.Fatal(err)
			}
			sess, ok := decodeSession(in.encode())
			if !ok {
				t.Fatal("the session does not decode")
			}
			want := jsonRoundTrip(t, claims)
			u := userView{sess: sess}
			for claim, v := range want {
				// Lists nested deeper than maxClaimDepth are kept as
				// JSON: their value is the same, their text is JSON.
				if got, w := u.text(claim), claimText(v); got != w && claim != "too-deep" {
					t.Errorf("text(%q) = %.80q, want %.80q", claim, got, w)
				}
				candidates := []string{"no-such-value", claimText(v)}
				if list, ok := v.([]any); ok {
					for _, item := range list {
						candidates = append(candidates, claimText(item))
					}
				}
				for _, c := range candidates {
					if got, w := sess.claimIsOneOf(claim, []string{"other", c}), claimHolds(v, []string{"other", c}); got != w && claim != "too-deep" {
						t.Errorf("claim %q is one of [other %.40q]: %v, want %v", claim, c, got, w)
					}
				}
			}
			if u.text("no-such-claim") != "" || sess.claimIsOneOf("no-such-claim", []string{""}) {
				t.Error("an absent claim has a text or holds a value")
			}
			want["sub"] = sess.sub
			if sess.email != "" {
				want["email"] = sess.email
			}
			if sess.emailVerified != "" {
				want["email_verified"] = sess.emailVerified == "true"
			}
			if got := sess.allClaims(); !reflect.DeepEqual(got, want) {
				t.Errorf("allClaims after the table:\n%v\nwant\n%v", got, want)
			}
		})
	}
}

// TestClaimTableKeepsGUIDsCompact checks that Entra's groups are kept
// undeflated and compact: readable without inflating, and smaller than the
// JSON was deflated.
func TestClaimTableKeepsGUIDsCompact(t *testing.T) {
	for _, groups := range []int{50, 200} {
		claims := entraShape(groups).sessionClaims()
		sess := &session{}
		if err := sess.setClaims(claims); err != nil {
			t.Fatal(err)
		}
		raw, _ := json.Marshal(jsonRoundTrip(t, claims))
		if deflated := deflate(raw); sess.claimsDeflated || len(sess.claims) >= len(deflated) {
			t.Errorf("%d groups: table of %d bytes (deflated %v); the JSON deflated takes %d", groups, len(sess.claims), sess.claimsDeflated, len(deflated))
		}
	}
}

// TestClaimPlaceholderAllocations checks that a claim placeholder renders
// in at most one allocation (its text, for a list of GUIDs or a mixed
// list; none for a string or a list of strings) on the providers' shapes,
// and through Caddy's Replacer costs at most one more than {…user.id}.
func TestClaimPlaceholderAllocations(t *testing.T) {
	if raceEnabledHere() {
		t.Skip("the race detector changes allocation counts")
	}
	s := &Stauth{secrets: &secrets{}}
	for _, shape := range []claimShape{googleShape(), oktaShape(), entraShape(50), entraShape(200)} {
		in := &session{provider: "google"}
		if err := in.setClaims(shape.sessionClaims()); err != nil {
			t.Fatal(err)
		}
		sess, _ := decodeSession(in.encode())
		u := s.user(sess)
		repl := benchReplacer()
		repl.Map(s.placeholders(sess))
		idAllocs := testing.AllocsPerRun(100, func() { _, _ = repl.GetString(userPrefix + "id") })
		names := slices.Sorted(maps.Keys(sess.allClaims()))
		for _, name := range names {
			text := testing.AllocsPerRun(100, func() { _ = u.text(name) })
			if text > 1 {
				t.Errorf("%s: {%s%s} renders in %.0f allocations, want at most 1", shape.name, userPrefix, name, text)
			}
			key := userPrefix + name
			placeholder := testing.AllocsPerRun(100, func() { _, _ = repl.GetString(key) })
			if placeholder > idAllocs+1 {
				t.Errorf("%s: {%s%s} costs %.0f allocations through the Replacer, {%sid} %.0f", shape.name, userPrefix, name, placeholder, userPrefix, idAllocs)
			}
		}
		allow := testing.AllocsPerRun(100, func() { _ = sess.claimIsOneOf("groups", []string{"no-such-group"}) })
		if allow != 0 {
			t.Errorf("%s: allow_claim groups allocates %.0f times, want none", shape.name, allow)
		}
	}
}

// BenchmarkClaimText is one claim placeholder's text alone, on a decoded
// session: what {http.auth.user.<claim>} adds to a request, without the
// Replacer's boxing.
func BenchmarkClaimText(b *testing.B) {
	for _, c := range []struct {
		shape claimShape
		names []string
	}{
		{googleShape(), []string{"name", "picture", "iat", "hd"}},
		{oktaShape(), []string{"name", "groups", "amr", "preferred_username"}},
		{entraShape(50), []string{"name", "oid", "groups", "preferred_username"}},
		{entraShape(200), []string{"name", "groups"}},
	} {
		in := &session{provider: "google"}
		if err := in.setClaims(c.shape.sessionClaims()); err != nil {
			b.Fatal(err)
		}
		sess, _ := decodeSession(in.encode())
		u := userView{sess: sess}
		for _, name := range c.names {
			b.Run(c.shape.name+"/"+name, func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if u.text(name) == "" {
						b.Fatal("empty")
					}
				}
			})
		}
		b.Run(c.shape.name+"/allow_claim-groups-miss", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if sess.claimIsOneOf("groups", []string{"no-such-group"}) {
					b.Fatal("holds")
				}
			}
		})
	}
}

// TestClaimTableMalformed reads damaged tables: nothing panics, and a
// damaged table reads as the claims before the damage.
func TestClaimTableMalformed(t *testing.T) {
	full := string(appendClaimTable(nil, map[string]any{"a": "x", "b": []any{"g", 1.0}, "c": []any{"2b1f4a7e-5c3d-4e8f-9a0b-1c2d3e4f5a6b"}}))
	for cut := range len(full) {
		table := full[:cut]
		for _, name := range []string{"a", "b", "c"} {
			c, _ := findClaim(table, name)
			_, _, _ = c.text(), c.holds([]string{"x"}), c.value()
		}
	}
	for _, bad := range []string{"\x01a\xff", "\x01a\x08\x04", "\x01c\x08\x03abc", "\x01b\x09\x02\x01\xff", "\x01b\x09\x03\x09\x01\x09", "\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff"} {
		c, _ := findClaim(bad, bad[1:2])
		_, _, _ = c.text(), c.holds([]string{"x"}), c.value()
		eachClaim(bad, func(string, claimRef) bool { return true })
	}
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

// claimHolds tells whether a claim value, or one item of a list claim, is
// one of values.
func claimHolds(claim any, values []string) bool {
	if list, ok := claim.([]any); ok {
		for _, item := range list {
			if claimHolds(item, values) {
				return true
			}
		}
		return false
	}
	text, ok := scalarText(claim)
	return ok && slices.Contains(values, text)
}
