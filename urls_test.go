package stauth

import (
	whatwg "github.com/nlnwa/whatwg-url/url"

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

func TestSafeReturnToDomain(t *testing.T) {
	cases := map[string]string{
		"/page?q=1":                                  "/page?q=1",
		"//evil.example":                             "/",
		"https://example.com/":                       "https://example.com/",
		"https://example.com":                        "https://example.com",
		"https://app.example.com:8443/a?b=c#d":       "https://app.example.com:8443/a?b=c#d",
		"https://a.b.example.com/x%2Fy":              "https://a.b.example.com/x%2Fy",
		"https://evil-example.com/":                  "/", // CVE-2021-21291: no dot boundary
		"https://evilexample.com/":                   "/",
		"https://example.com.evil.net/":              "/",
		"https://example.com.":                       "/",
		"https://app.example.com./":                  "/",
		"http://app.example.com/":                    "/", // not the site's scheme
		"https://user@app.example.com/":              "/",
		"https://app.example.com@evil.net/":          "/",
		"https://evil.net\\@app.example.com/":        "/",
		"https://evil.net%2F@app.example.com/":       "/",
		"https://evil.net#@app.example.com/":         "/",
		"https://evil.net?@app.example.com/":         "/",
		"https://app.example.com:443@evil.net/":      "/",
		"https://app.example.com:99999/":             "/",
		"https://app.example.com:/":                  "/",
		"https://app.example.com:0443/":              "/",
		"https://APP.example.com/":                   "/",
		"https://app%2eexample.com/":                 "/",
		"https://app.example.com\t/":                 "/",
		"https://[::1]/":                             "/",
		"https://-x.example.com/":                    "/",
		"https://app..example.com/":                  "/",
		"https://.example.com/":                      "/",
		"https:app.example.com":                      "/",
		"https:/app.example.com/":                    "/",
		"https://app.example.com\u3002evil.net/":     "/",
		"https://app.example.com/\r\nSet-Cookie:x=1": "/",
	}
	for rd, want := range cases {
		if got := safeReturnToDomain(rd, "https", "example.com"); got != want {
			t.Errorf("safeReturnToDomain(%q) = %q, want %q", rd, got, want)
		}
	}
	if got := safeReturnToDomain("https://app.example.com/", "https", ""); got != "/" {
		t.Errorf("without a cookie domain an absolute rd gave %q, want /", got)
	}
}

// FuzzSafeReturnToDomain checks rd against cookie domain example.com: the
// result is safeReturnTo's for anything but an absolute URL; an absolute
// one has no backslash, control character or user name, and both Go's
// parser and a browser's (the WHATWG URL standard) read its host as
// example.com or one of its subdomains, over https (or, for the browser, as
// no URL at all, which it does not navigate to).
func FuzzSafeReturnToDomain(f *testing.F) {
	for _, seed := range []string{
		"/", "/page", "https://example.com/", "https://app.example.com:8443/a?b#c",
		"https://evil-example.com/", "https://example.com.evil.net/", "https://evil.net\\@app.example.com/",
		"https://app.example.com@evil.net/", "https://evil.net%2F@app.example.com", "https://evil.net#@app.example.com",
		"https://app.example.com:443@evil.net", "https://app.example.com\u3002evil.net/", "https:\\\\app.example.com",
		"https://app.example.com%09.evil.net/", "https://xn--pp-8ja.example.com/", "https://app.example.com./",
		"HTTPS://app.example.com/", "https://app.example.com/%2F%2Fevil.net", "https://app.example.com//evil.net",
		"https://app.example.com:/", "https://0x7f.example.com/", "https://a.example.com?x=https://evil.net",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, rd string) {
		got := safeReturnToDomain(rd, "https", "example.com")
		if !strings.HasPrefix(rd, "https://") {
			if got != safeReturnTo(rd) {
				t.Fatalf("safeReturnToDomain(%q) = %q, safeReturnTo gives %q", rd, got, safeReturnTo(rd))
			}
			return
		}
		if got == "/" {
			return
		}
		for _, r := range got {
			if r == '\\' || r <= ' ' || r >= 0x7f {
				t.Fatalf("safeReturnToDomain(%q) = %q: holds %q", rd, got, r)
			}
		}
		u, err := url.Parse(got)
		if err != nil || u.Scheme != "https" || u.User != nil || u.Opaque != "" || !onExample(u.Hostname()) {
			t.Fatalf("safeReturnToDomain(%q) = %q: Go reads %+v (%v)", rd, got, u, err)
		}
		w, err := whatwg.Parse(got)
		if err != nil {
			return // a browser goes nowhere (such as an invalid xn-- label)
		}
		if w.Protocol() != "https:" || w.Username() != "" || w.Password() != "" || !onExample(w.Hostname()) {
			t.Fatalf("safeReturnToDomain(%q) = %q: a browser reads %v", rd, got, w)
		}
		if safeReturnToDomain(got, "https", "example.com") != got {
			t.Fatalf("safeReturnToDomain is not stable on %q", got)
		}
	})
}

// onExample tells, independently of onDomain, whether host is example.com
// or under it.
func onExample(host string) bool {
	return host == "example.com" || strings.HasSuffix(host, ".example.com") && !strings.HasPrefix(host, ".")
}
