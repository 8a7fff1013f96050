package stauth

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// streamlitPyRequest is one request to testdata/streamlit/decode_cookie.py.
type streamlitPyRequest struct {
	Op     string `json:"op"`
	Format string `json:"format"`
	Secret string `json:"secret"`
	Name   string `json:"name"`
	Header string `json:"header,omitempty"`
	Value  string `json:"value,omitempty"`
	TS     int64  `json:"ts,omitempty"`
}

// streamlitPyAnswer is decode_cookie.py's answer to one request.
type streamlitPyAnswer struct {
	Payload *string  `json:"payload"`
	Names   []string `json:"names"`
	Signed  string   `json:"signed"`
}

// streamlitPython answers reqs with the real Tornado, itsdangerous and
// Starlette, through /usr/bin/python3 and testdata/streamlit/decode_cookie.py.
func streamlitPython(t *testing.T, reqs []streamlitPyRequest) []streamlitPyAnswer {
	t.Helper()
	if os.Getenv("STAUTH_SKIP_PYTHON") == "1" {
		t.Skip("STAUTH_SKIP_PYTHON=1: not checking minted cookies against Tornado and itsdangerous")
	}
	const python = "/usr/bin/python3"
	if out, err := exec.Command(python, "-c", "import tornado, itsdangerous, starlette").CombinedOutput(); err != nil {
		t.Fatalf("%s with Tornado, itsdangerous and Starlette is needed to check minted Streamlit cookies (%v: %s); install them with\n\tapt-get install -y python3-tornado python3-itsdangerous python3-starlette python3-uvicorn\nor set STAUTH_SKIP_PYTHON=1 to skip", python, err, bytes.TrimSpace(out))
	}
	// Tornado and Starlette decode headers as Latin-1: so does the script's
	// input, byte for byte.
	reqs = slices.Clone(reqs)
	for i := range reqs {
		reqs[i].Header = latin1(reqs[i].Header)
	}
	in, err := json.Marshal(reqs)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(python, filepath.Join("testdata", "streamlit", "decode_cookie.py"))
	cmd.Stdin = bytes.NewReader(in)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("decode_cookie.py: %v\n%s", err, stderr.Bytes())
	}
	var answers []streamlitPyAnswer
	if err := json.Unmarshal(out, &answers); err != nil || len(answers) != len(reqs) {
		t.Fatalf("decode_cookie.py answered %d of %d (%v): %s", len(answers), len(reqs), err, out)
	}
	return answers
}

// latin1 decodes the bytes of s as Latin-1.
func latin1(s string) string {
	r := make([]rune, len(s))
	for i := range len(s) {
		r[i] = rune(s[i])
	}
	return string(r)
}

// streamlitClaims are an ID token's claims as stauth holds them.
var streamlitClaims = map[string]any{
	"iss": "https://op.example", "sub": "248289761001", "aud": "stauth",
	"email": "jane@example.com", "email_verified": true, "name": "Jané Doe 🚀",
	"groups": []any{"admins", "<staff> & \"friends\""}, "exp": 1800000120.0,
}

// bigStreamlitClaims carry enough groups to need chunks.
func bigStreamlitClaims() map[string]any {
	groups := make([]any, 400)
	for i := range groups {
		groups[i] = fmt.Sprintf("group-%03d-%x", i, sha256.Sum256([]byte{byte(i), byte(i >> 8)}))[:24]
	}
	m := maps.Clone(streamlitClaims)
	m["groups"] = groups
	return m
}

func TestMintStreamlitUserAgainstLibraries(t *testing.T) {
	now := time.Now()
	user, err := streamlitUserPayload(streamlitClaims, "https://app.example:8443", "google")
	if err != nil {
		t.Fatal(err)
	}
	bigUser, err := streamlitUserPayload(bigStreamlitClaims(), "https://app.example", "default")
	if err != nil {
		t.Fatal(err)
	}
	tokens, err := streamlitTokensPayload("eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln", "access-token/+=")
	if err != nil {
		t.Fatal(err)
	}
	idOnly, err := streamlitTokensPayload("eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln", "")
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name         string
		user, tokens []byte
		chunks       int // _streamlit_user_N cookies expected
	}{
		{"user and tokens", user, tokens, 0},
		{"id token only", user, idOnly, 0},
		{"no tokens", user, nil, 0},
		{"chunked", bigUser, tokens, 4},
	}
	var reqs []streamlitPyRequest
	for _, f := range []streamlitUserFormat{streamlitUserTornado, streamlitUserStarlette} {
		for _, c := range cases {
			header := "theme=dark; " + mintStreamlitUser(f, testCookieSecret, c.user, c.tokens, now) + "; z=1"
			for _, name := range []string{streamlitUserCookie, streamlitTokensCookie} {
				reqs = append(reqs, streamlitPyRequest{Op: "decode", Format: f.String(), Secret: testCookieSecret, Name: name, Header: header})
			}
		}
	}
	answers := streamlitPython(t, reqs)
	i := 0
	for _, f := range []streamlitUserFormat{streamlitUserTornado, streamlitUserStarlette} {
		for _, c := range cases {
			userAns, tokAns := answers[i], answers[i+1]
			i += 2
			t.Run(f.String()+"/"+c.name, func(t *testing.T) {
				if userAns.Payload == nil || *userAns.Payload != string(c.user) {
					t.Fatalf("%s read _streamlit_user as %v, want %s", f, userAns.Payload, c.user)
				}
				var decoded map[string]any
				if err := json.Unmarshal([]byte(*userAns.Payload), &decoded); err != nil {
					t.Fatal(err)
				}
				if decoded["is_logged_in"] != true || decoded["provider"] == nil || decoded["origin"] == nil {
					t.Errorf("payload lacks is_logged_in, provider or origin: %v", decoded)
				}
				if c.tokens == nil && tokAns.Payload != nil {
					t.Errorf("tokens cookie present without tokens: %s", *tokAns.Payload)
				}
				if c.tokens != nil && (tokAns.Payload == nil || *tokAns.Payload != string(c.tokens)) {
					t.Errorf("%s read _streamlit_user_tokens as %v, want %s", f, tokAns.Payload, c.tokens)
				}
				chunks := 0
				for _, n := range userAns.Names {
					if strings.HasPrefix(n, streamlitUserCookie+"_") && n != streamlitTokensCookie {
						chunks++
					}
				}
				if chunks != c.chunks {
					t.Errorf("%d chunk cookies (%v), want %d", chunks, userAns.Names, c.chunks)
				}
				if !slices.Contains(userAns.Names, "theme") || !slices.Contains(userAns.Names, "z") {
					t.Errorf("other cookies lost: %v", userAns.Names)
				}
				t.Logf("%s decoded _streamlit_user (%d bytes): %.300s", f, len(*userAns.Payload), *userAns.Payload)
				if tokAns.Payload != nil {
					t.Logf("%s decoded _streamlit_user_tokens: %s", f, *tokAns.Payload)
				}
			})
		}
	}
}

// TestSignStreamlitValueByteForByte compares signed values with the
// libraries' own for the same time: equal bytes, except that Go's zlib
// compresses differently from CPython's, so a compressed itsdangerous value
// must be compressed too and read back by itsdangerous.
func TestSignStreamlitValueByteForByte(t *testing.T) {
	ts := time.Now().Add(-time.Minute).Unix()
	values := []string{
		`{}`,
		`{"email": "jane@example.com", "is_logged_in": true}`,
		"quote \" backslash \\ newline \n tab \t nul \x00 del \x7f",
		"Jané 🚀 \u2028",
		`chunks-3`,
		strings.Repeat(`{"groups": ["admins", "staff"]}`, 20),
	}
	var reqs []streamlitPyRequest
	for _, f := range []string{"tornado", "starlette"} {
		for _, v := range values {
			format, _ := parseStreamlitUserFormat(f)
			ours := signStreamlitValue(format, testCookieSecret, streamlitUserCookie, []byte(v), ts)
			reqs = append(reqs,
				streamlitPyRequest{Op: "sign", Format: f, Secret: testCookieSecret, Name: streamlitUserCookie, Value: v, TS: ts},
				streamlitPyRequest{Op: "decode", Format: f, Secret: testCookieSecret, Name: streamlitUserCookie, Header: streamlitUserCookie + "=" + ours, Value: ours})
		}
	}
	answers := streamlitPython(t, reqs)
	for i := 0; i < len(reqs); i += 2 {
		r, ours, want := reqs[i], reqs[i+1].Value, answers[i].Signed
		// A chunk count reads as a chunked cookie whose chunks are missing.
		if p := answers[i+1].Payload; !strings.HasPrefix(r.Value, "chunks-") && (p == nil || *p != r.Value) {
			t.Errorf("%s %q: the library read our %s as %v", r.Format, r.Value, ours, p)
		}
		if r.Format == "starlette" && strings.HasPrefix(want, ".") {
			if !strings.HasPrefix(ours, ".") {
				t.Errorf("starlette %q: got %s, want it compressed like %s", r.Value, ours, want)
			}
			continue
		}
		if ours != want {
			t.Errorf("%s %q:\n got  %s\n want %s", r.Format, r.Value, ours, want)
		}
	}
}

func TestStreamlitCookieRefused(t *testing.T) {
	now := time.Now()
	payload := []byte(`{"email": "jane@example.com", "is_logged_in": true, "origin": "https://a.example", "provider": "default"}`)
	flip := func(s string, i int) string {
		b := []byte(s)
		if i < 0 {
			i += len(b)
		}
		b[i] ^= 0x01
		return string(b)
	}
	cases := []struct {
		name   string
		header func(f streamlitUserFormat) string
		ok     bool
		okFor  streamlitUserFormat // the one format that accepts when ok is false
	}{
		{"control: valid", func(f streamlitUserFormat) string {
			return mintStreamlitCookie(f, testCookieSecret, streamlitUserCookie, payload, now)
		}, true, 0},
		{"control: a day old", func(f streamlitUserFormat) string {
			return mintStreamlitCookie(f, testCookieSecret, streamlitUserCookie, payload, now.Add(-24*time.Hour))
		}, true, 0},
		{"other secret", func(f streamlitUserFormat) string {
			return mintStreamlitCookie(f, "another-secret-0123456789abcdef", streamlitUserCookie, payload, now)
		}, false, 0},
		{"flipped signature byte", func(f streamlitUserFormat) string {
			return flip(mintStreamlitCookie(f, testCookieSecret, streamlitUserCookie, payload, now), -3)
		}, false, 0},
		{"flipped payload byte", func(f streamlitUserFormat) string {
			return flip(mintStreamlitCookie(f, testCookieSecret, streamlitUserCookie, payload, now), 45)
		}, false, 0},
		{"signed for another name", func(f streamlitUserFormat) string {
			v := mintStreamlitCookie(f, testCookieSecret, streamlitTokensCookie, payload, now)
			return streamlitUserCookie + strings.TrimPrefix(v, streamlitTokensCookie)
		}, false, 0},
		{"a minute ahead: only Tornado ignores the future", func(f streamlitUserFormat) string {
			return mintStreamlitCookie(f, testCookieSecret, streamlitUserCookie, payload, now.Add(time.Minute))
		}, false, streamlitUserTornado},
		{"control: minted by a clock 4s ahead", func(f streamlitUserFormat) string {
			return mintStreamlitCookie(f, testCookieSecret, streamlitUserCookie, payload, now.Add(4*time.Second))
		}, true, 0},
		{"32 days old", func(f streamlitUserFormat) string {
			return mintStreamlitCookie(f, testCookieSecret, streamlitUserCookie, payload, now.Add(-32*24*time.Hour))
		}, false, 0},
		{"chunk missing", func(f streamlitUserFormat) string {
			big, err := streamlitUserPayload(bigStreamlitClaims(), "https://a.example", "default")
			if err != nil {
				t.Fatal(err)
			}
			v := mintStreamlitCookie(f, testCookieSecret, streamlitUserCookie, big, now)
			var kept []string
			for p := range strings.SplitSeq(v, "; ") {
				if !strings.HasPrefix(p, streamlitUserCookie+"_2=") {
					kept = append(kept, p)
				}
			}
			return strings.Join(kept, "; ")
		}, false, 0},
	}
	var reqs []streamlitPyRequest
	formats := []streamlitUserFormat{streamlitUserTornado, streamlitUserStarlette}
	for _, f := range formats {
		for _, c := range cases {
			reqs = append(reqs, streamlitPyRequest{Op: "decode", Format: f.String(), Secret: testCookieSecret, Name: streamlitUserCookie, Header: c.header(f)})
		}
	}
	answers := streamlitPython(t, reqs)
	for i, r := range reqs {
		c := cases[i%len(cases)]
		format, _ := parseStreamlitUserFormat(r.Format)
		if got := answers[i].Payload != nil; got != (c.ok || c.okFor == format) {
			t.Errorf("%s, %s: accepted = %v, want %v", r.Format, c.name, got, c.ok)
		}
	}
}

func TestStreamlitChunkSizes(t *testing.T) {
	big, err := streamlitUserPayload(bigStreamlitClaims(), "https://a.example", "default")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	for _, f := range []streamlitUserFormat{streamlitUserTornado, streamlitUserStarlette} {
		pairs := strings.Split(mintStreamlitCookie(f, testCookieSecret, streamlitUserCookie, big, now), "; ")
		main, _ := strings.CutPrefix(pairs[0], streamlitUserCookie+"=")
		if want := signStreamlitValue(f, testCookieSecret, streamlitUserCookie, fmt.Appendf(nil, "chunks-%d", len(pairs)-1), now.Add(-streamlitMintSkew).Unix()); main != want {
			t.Errorf("%s: main cookie %q, want the signed chunks-%d", f, main, len(pairs)-1)
		}
		for i, p := range pairs[1:] {
			if !strings.HasPrefix(p, fmt.Sprintf("%s_%d=", streamlitUserCookie, i+1)) {
				t.Errorf("%s: cookie %d is %.30s…", f, i+1, p)
			}
			if len(p)+streamlitCookieAttrs > streamlitMaxCookie {
				t.Errorf("%s: cookie %d is %d bytes with its attributes, over %d", f, i+1, len(p)+streamlitCookieAttrs, streamlitMaxCookie)
			}
		}
	}
}

func TestRewriteStreamlitCookies(t *testing.T) {
	minted := mintStreamlitUser(streamlitUserTornado, testCookieSecret, []byte(`{"is_logged_in": true, "email": "real@example.com"}`), nil, time.Now())
	cases := []struct {
		name   string
		in     []string // Cookie lines; nil for none
		minted string
		want   []string
	}{
		{"no cookies, no user", nil, "", nil},
		{"other cookies only, no user: untouched", []string{"a=1;b=2", "c=3"}, "", []string{"a=1;b=2", "c=3"}},
		{"no cookies, user", nil, "_streamlit_user=X", []string{"_streamlit_user=X"}},
		{"user appended, lines merged", []string{"a=1", "b=2; c=\"q;\""}, "_streamlit_user=X", []string{"a=1; b=2; c=\"q; \"; _streamlit_user=X"}},
		{"forged user, chunks and tokens removed", []string{"_streamlit_user=F; a=1; _streamlit_user_1=F; _streamlit_user_tokens=F; _streamlit_user_tokens_2=F; b=_streamlit_user"}, "", []string{"a=1; b=_streamlit_user"}},
		{"forged user replaced", []string{"_streamlit_user=F", "x=1"}, "_streamlit_user=X", []string{"x=1; _streamlit_user=X"}},
		{"only forged cookies, no user", []string{"_streamlit_user=F"}, "", nil},
		{"hidden behind Python white space", []string{" \t_streamlit_user =F;\xa0_streamlit_user_1=F;\x85_streamlit_user_tokens\xa0=F; keep=\xa0v"}, "", []string{"keep=\xa0v"}},
		{"names differing in case are other cookies", []string{"_Streamlit_User=a; x_streamlit_user=b"}, "", []string{"_Streamlit_User=a; x_streamlit_user=b"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := http.Header{}
			if c.in != nil {
				h["Cookie"] = slices.Clone(c.in)
			}
			rewriteStreamlitCookies(h, c.minted)
			if got := h["Cookie"]; !slices.Equal(got, c.want) {
				t.Errorf("Cookie = %q, want %q", got, c.want)
			}
		})
	}

	// Tornado's and Starlette's own parsers see the minted user only, and
	// every other cookie, however the client spaced its forged ones.
	forged := []string{"_streamlit_user=F; a=1", "\xa0_streamlit_user_1=F;\x1c_streamlit_user_tokens=F ;b=2", "_streamlit_user\x85=F"}
	var reqs []streamlitPyRequest
	for _, f := range []string{"tornado", "starlette"} {
		h := http.Header{"Cookie": slices.Clone(forged)}
		rewriteStreamlitCookies(h, minted)
		reqs = append(reqs, streamlitPyRequest{Op: "decode", Format: f, Secret: testCookieSecret, Name: streamlitUserCookie, Header: h.Get("Cookie")})
	}
	answers := streamlitPython(t, reqs)
	if p := answers[0].Payload; p == nil || !strings.Contains(*p, "real@example.com") {
		t.Errorf("Tornado read %v, want the minted user", p)
	}
	for i, a := range answers {
		if want := []string{"_streamlit_user", "a", "b"}; !slices.Equal(a.Names, want) {
			t.Errorf("%s parsed cookies %q, want %q", reqs[i].Format, a.Names, want)
		}
	}
}

func TestRewriteStreamlitCookiesAllocs(t *testing.T) {
	minted := mintStreamlitUser(streamlitUserStarlette, testCookieSecret, []byte(`{"is_logged_in": true}`), []byte(`{"id_token": "x"}`), time.Now())
	h := http.Header{"Cookie": {"_streamlit_xsrf=2|abc|def|1800000000; _streamlit_user=forged; theme=dark"}}
	allocs := testing.AllocsPerRun(100, func() {
		h["Cookie"][0] = "_streamlit_xsrf=2|abc|def|1800000000; _streamlit_user=forged; theme=dark"
		rewriteStreamlitCookies(h, minted)
	})
	if allocs > 1 {
		t.Errorf("rewriteStreamlitCookies allocates %.0f times, want at most 1 (the new line)", allocs)
	}
	untouched := http.Header{"Cookie": {"a=1; b=2"}}
	if allocs := testing.AllocsPerRun(100, func() { rewriteStreamlitCookies(untouched, "") }); allocs != 0 {
		t.Errorf("rewriteStreamlitCookies allocates %.0f times with nothing to do, want 0", allocs)
	}
}

func BenchmarkMintStreamlitUser(b *testing.B) {
	user, err := streamlitUserPayload(streamlitClaims, "https://app.example", "google")
	if err != nil {
		b.Fatal(err)
	}
	tokens, err := streamlitTokensPayload(strings.Repeat("i", 900), strings.Repeat("a", 400))
	if err != nil {
		b.Fatal(err)
	}
	now := time.Now()
	for _, f := range []streamlitUserFormat{streamlitUserTornado, streamlitUserStarlette} {
		b.Run(f.String(), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				mintStreamlitUser(f, testCookieSecret, user, tokens, now)
			}
		})
	}
	b.Run("rewrite", func(b *testing.B) {
		minted := mintStreamlitUser(streamlitUserTornado, testCookieSecret, user, tokens, now)
		h := http.Header{"Cookie": {""}}
		b.ReportAllocs()
		for b.Loop() {
			h["Cookie"][0] = "_streamlit_xsrf=2|abc|def|1800000000; _streamlit_user=forged; theme=dark"
			rewriteStreamlitCookies(h, minted)
		}
	})
}

// FuzzRewriteStreamlitCookies checks that no cookie Python would name
// _streamlit_user… survives the rewrite but the minted one, and that every
// other cookie does, in order.
func FuzzRewriteStreamlitCookies(f *testing.F) {
	f.Add("a=1; _streamlit_user=F", "\xa0_streamlit_user_1=F;b=2")
	f.Add("_streamlit_user", "=_streamlit_user;;")
	f.Fuzz(func(t *testing.T, line1, line2 string) {
		const minted = "_streamlit_user=M"
		var others []string
		for _, line := range []string{line1, line2} {
			for part := range strings.SplitSeq(line, ";") {
				name, _, _ := strings.Cut(part, "=")
				if p := strings.Trim(part, " \t"); p != "" && !strings.HasPrefix(pythonStrip(name), streamlitUserCookie) {
					others = append(others, p)
				}
			}
		}
		h := http.Header{"Cookie": {line1, line2}}
		rewriteStreamlitCookies(h, minted)
		if len(h["Cookie"]) != 1 {
			t.Fatalf("%d Cookie lines", len(h["Cookie"]))
		}
		got := strings.Split(h["Cookie"][0], "; ")
		if got[len(got)-1] != minted {
			t.Fatalf("minted cookie not last: %q", got)
		}
		// Splitting the result again must give the same parts: a kept part
		// cannot contain "; " (it came from a split on ";").
		if !slices.Equal(got[:len(got)-1], others) {
			t.Fatalf("kept %q, want %q", got[:len(got)-1], others)
		}
		for _, part := range got[:len(got)-1] {
			for p := range strings.SplitSeq(part, ";") {
				name, _, _ := strings.Cut(p, "=")
				if strings.HasPrefix(pythonStrip(name), streamlitUserCookie) {
					t.Fatalf("%q survived", p)
				}
			}
		}
	})
}
