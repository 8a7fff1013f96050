package stauth

// Fuzz targets for what an attacker controls directly: the session cookie,
// the rd parameter, and (for an operator's typo) secrets.toml. CI runs each
// for a few seconds; corpus entries that found bugs live in testdata/fuzz/.

import (
	"encoding/base64"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode"

	"github.com/BurntSushi/toml"
)

// fuzzNow is the clock of the session fuzz target.
var fuzzNow = time.Unix(1800000000, 0)

// FuzzOpenSession feeds arbitrary cookie values to openSession and arbitrary
// payloads, sealed with the key, to decodeSession and the claims decoder. It
// must never panic, and never accept a value that was not sealed by the key.
func FuzzOpenSession(f *testing.F) {
	sealer, err := newSealer([]string{"fuzz-cookie-secret-0123456789abcdef"}, purposeSession)
	if err != nil {
		f.Fatal(err)
	}
	// other seals the fuzzer's payloads, so that sealer only ever sealed
	// payload.
	other, err := newSealer([]string{"fuzz-other-secret-0123456789abcdef"}, purposeSession)
	if err != nil {
		f.Fatal(err)
	}
	live := &session{provider: "default", sub: "alice", email: "alice@example.com", emailVerified: "true", expires: fuzzNow.Unix() + 3600}
	if err := live.setClaims(map[string]any{"sub": "alice", "name": "Alice", "groups": []any{strings.Repeat("g", 300)}}); err != nil {
		f.Fatal(err)
	}
	payload := live.encode()
	// Seeds: sealed values of a real payload (the only values that may
	// open), damaged ones, and raw payloads.
	sealed := sealer.seal(payload)
	f.Add(sealed, payload)
	f.Add(sealed[:len(sealed)-1], payload[:len(payload)-1])
	f.Add(sealed+"A", append([]byte{sessionFormat, 0xff}, payload[2:]...))
	f.Add("", []byte{})
	f.Add("AQ", []byte{sessionFormat, flagClaimsDeflated, 0, 0, 0, 0, 0, 5, 'x', 'x', 'x', 'x', 'x', 0, 0, 0})
	f.Add(base64.RawURLEncoding.EncodeToString([]byte{sealVersion}), []byte{sessionFormat})

	f.Fuzz(func(t *testing.T, value string, plain []byte) {
		// 1. An arbitrary cookie value opens only if it is one of ours.
		// (The seeds are sealed in another process when fuzzing, each with
		// its own nonce: what is known is the plaintext the key sealed.)
		// (Values sealed by earlier versions stay in the fuzz cache: compare
		// what they mean, not their encoding.)
		if sess, _ := openSession(sealer, value, fuzzNow); sess != nil && (sess.sub != live.sub || !reflect.DeepEqual(sess.allClaims(), live.allClaims())) {
			t.Fatalf("openSession accepted %q, which the key did not seal", value)
		}
		if p, _, ok := sealer.open(value); ok {
			if d, ok := decodeSession(p); !ok || d.sub != live.sub || d.provider != live.provider {
				t.Fatalf("open accepted %q as %q, which the key did not seal", value, p)
			}
		}
		// 2. Any payload sealed with the key decodes without panicking, and
		// the claims decoder and placeholders cope with it.
		sess, _ := openSession(other, other.seal(plain), fuzzNow)
		if d, ok := decodeSession(plain); ok {
			if again, ok := decodeSession(d.encode()); !ok || again.sub != d.sub || again.provider != d.provider || again.claims != d.claims {
				t.Fatalf("a decoded session does not survive encode/decode: %q", plain)
			}
		}
		if sess == nil {
			return
		}
		claims := sess.allClaims()
		if claims["sub"] != sess.sub {
			t.Fatalf("claims sub %v, session sub %q", claims["sub"], sess.sub)
		}
		s := &Stauth{secrets: &secrets{}}
		for _, name := range []string{"id", "email", "groups", "name", "is_logged_in", "tokens.id"} {
			_ = s.userValue(sess, name)
		}
	})
}

// FuzzSafeReturnTo checks rd: the result is "/" or the input itself, a
// single leading "/", no backslash or control character, and a path that
// neither url.Parse nor a browser reads as leaving the site.
func FuzzSafeReturnTo(f *testing.F) {
	for _, seed := range []string{
		"", "/", "/page?q=1", "//evil.example", "/\\evil.example", "\\/evil.example",
		"/%2F%2Fevil.example", "https://evil.example", "javascript:alert(1)", "/a\r\nSet-Cookie: x=1",
		"/\t/evil.example", "/caf\u00e9", "/@evil.example", "/.//evil.example", "/x#//evil", " /x",
		"/\x00", "/a:b", "/%5c%5cevil", "/?next=//evil", "/\u3002evil", "/\x7f",
	} {
		f.Add(seed)
	}
	site, _ := url.Parse("https://site.example/base/page")
	f.Fuzz(func(t *testing.T, rd string) {
		got := safeReturnTo(rd)
		if got == "/" {
			return
		}
		if got != rd {
			t.Fatalf("safeReturnTo(%q) = %q: neither / nor the input", rd, got)
		}
		if !strings.HasPrefix(got, "/") || strings.HasPrefix(got, "//") {
			t.Fatalf("safeReturnTo(%q) = %q: not a single leading /", rd, got)
		}
		for _, r := range got {
			if r == '\\' || unicode.IsControl(r) || r > unicode.MaxASCII || r == ' ' {
				t.Fatalf("safeReturnTo(%q) = %q: holds %q", rd, got, r)
			}
		}
		u, err := url.Parse(got)
		if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" {
			t.Fatalf("safeReturnTo(%q) = %q: url.Parse sees %+v (%v)", rd, got, u, err)
		}
		if abs := site.ResolveReference(u); abs.Host != site.Host || abs.Scheme != site.Scheme {
			t.Fatalf("safeReturnTo(%q) = %q resolves to %s", rd, got, abs)
		}
		if safeReturnTo(got) != got {
			t.Fatalf("safeReturnTo is not stable on %q", got)
		}
	})
}

// FuzzParseSecrets feeds secrets.toml text, with SECRET replaced by a
// secret value, to parseSecrets: it must never panic, and its error must
// never show the value of client_secret, cookie_secret or
// cookie_secret_previous.
func FuzzParseSecrets(f *testing.F) {
	seeds := []string{
		"[auth]\nredirect_uri = \"https://app.example/oauth2callback\"\ncookie_secret = \"SECRET\"\nclient_id = \"c\"\nclient_secret = \"SECRET\"\nserver_metadata_url = \"https://op.example/.well-known/openid-configuration\"\n",
		"[auth]\nredirect_uri = \"https://app.example/oauth2callback\"\ncookie_secret = \"SECRET\"\n[auth.google]\nclient_id = \"c\"\nclient_secret = SECRET\nserver_metadata_url = \"https://accounts.google.com/.well-known/openid-configuration\"\n",
		"[auth]\ncookie_secret = 'SECRET'\nclient_secret = \"\"\"SECRET\"\"\"\n",
		"[auth]\ncookie_secret = \"SECRET\nclient_secret = \"x\"\n",
		"[auth]\ncookie_secret = \"SECRET\"\ncookie_secret_previous = [\"SECRET\", 1]\n",
		"[auth]\ncookie_secret = \"SECRET\"\ncookie_secret = \"SECRET\"\n",
		"[auth]\ncookie_secret = SECRET-with-dashes\n",
		"[auth]\nclient_secret = { a = \"SECRET\" }\n",
		"[auth]\nclient_secret = [\"SECRET\"]\n",
		"[auth.\"SECRET\"]\nclient_secret = 1\n",
		"auth = \"SECRET\"\n",
		"[auth]\ncookie_secret = \"SECRET\\q\"\n",
		"[auth]\ncookie_secret = 1979-05-27TSECRET\n",
		"[auth]\ncookie_secret = 0xSECRET\n",
		"[auth]\nclient_kwargs = { SECRET = [1] }\n",
		"[auth]\nclient_secret = SECRET\n",
	}
	for _, s := range seeds {
		f.Add(s, "s3cr3tValue9")
		f.Add(s, "Q9xz7Lk2Pw")
	}
	f.Fuzz(func(t *testing.T, text, secret string) {
		if len(text) > 4096 {
			return
		}
		doc := strings.ReplaceAll(text, "SECRET", secret)
		_, err := parseSecrets("secrets.toml", doc)
		if err == nil {
			return
		}
		msg := err.Error()
		for _, value := range secretValues(doc, secret) {
			if len(value) < 6 || !strings.Contains(msg, value) {
				continue
			}
			// A value that is also a word of the message with the secret
			// replaced (a key name, part of a URL) is not a leak.
			neutral := strings.ReplaceAll(doc, value, "Zq7Zq7Zq7Zq7")
			if _, nerr := parseSecrets("secrets.toml", neutral); nerr != nil && strings.Contains(nerr.Error(), value) {
				continue
			}
			t.Fatalf("the error shows a secret value %q:\n%s\n--- secrets.toml:\n%s", value, msg, doc)
		}
	})
}

// secretValues are the values in secret positions of a secrets.toml: when it
// parses, every client_secret, cookie_secret and cookie_secret_previous
// string; when it does not, the substituted secret itself.
func secretValues(doc, secret string) []string {
	var parsed map[string]any
	if _, err := toml.Decode(doc, &parsed); err != nil {
		// Only plain ASCII letters and digits are unambiguous in a parse
		// error; a shorter value could be a word of the message.
		if len(secret) < 8 || strings.TrimFunc(secret, func(r rune) bool { return r < 0x80 && (unicode.IsLetter(r) || unicode.IsDigit(r)) }) != "" {
			return nil
		}
		return []string{secret}
	}
	var out []string
	var walk func(table map[string]any, depth int)
	walk = func(table map[string]any, depth int) {
		for key, value := range table {
			switch v := value.(type) {
			case map[string]any:
				if depth < 3 {
					walk(v, depth+1)
				}
			case string:
				if key == "client_secret" || key == "cookie_secret" || key == "cookie_secret_previous" {
					out = append(out, v)
				}
			case []any:
				if key == "cookie_secret_previous" {
					for _, item := range v {
						if s, ok := item.(string); ok {
							out = append(out, s)
						}
					}
				}
			}
		}
	}
	if auth, ok := parsed["auth"].(map[string]any); ok {
		walk(auth, 0)
	}
	return out
}
