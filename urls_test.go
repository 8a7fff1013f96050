package stauth

import (
	"net/url"
	"strings"
	"testing"
	"unicode"
)

func TestSafeReturnTo(t *testing.T) {
	cases := map[string]string{
		"":                        "/",
		"/":                       "/",
		"/page?q=1&r=2":           "/page?q=1&r=2",
		"/a/b%2F%2Fc":             "/a/b%2F%2Fc",
		"/%2F%2Fevil.example":     "/%2F%2Fevil.example",
		"//evil.example":          "/",
		"///evil.example":         "/",
		"/\\evil.example":         "/",
		"/a\\b":                   "/",
		"https://evil.example/":   "/",
		"javascript:alert(1)":     "/",
		"evil.example":            "/",
		"/a\r\nSet-Cookie: x=1":   "/",
		"/a\tb":                   "/",
		"/a b":                    "/",
		"/caf\u00e9":              "/",
		"/a\x00":                  "/",
		"\\\\evil.example":        "/",
		"/.//evil.example":        "/.//evil.example",
		"/x#fragment":             "/x#fragment",
		"/path?next=//evil.com":   "/path?next=//evil.com",
		"/%0d%0aSet-Cookie:x=1":   "/%0d%0aSet-Cookie:x=1",
		" /leading-space":         "/",
		"/@evil.example":          "/@evil.example",
		"/user:pass@evil.example": "/user:pass@evil.example",
	}
	for rd, want := range cases {
		if got := safeReturnTo(rd); got != want {
			t.Errorf("safeReturnTo(%q) = %q, want %q", rd, got, want)
		}
	}
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
