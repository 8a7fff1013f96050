package stauth

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"encoding/json"
	"html/template"
	"net/http"
	"slices"
	"strings"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

// allowMethods answers 405 unless the request uses one of methods.
func allowMethods(w http.ResponseWriter, r *http.Request, methods ...string) bool {
	if slices.Contains(methods, r.Method) {
		return true
	}
	setAuthHeaders(w.Header())
	w.Header().Set("Allow", strings.Join(methods, ", "))
	w.WriteHeader(http.StatusMethodNotAllowed)
	return false
}

// redirect answers 303 See Other to a target stauth built or checked.
func redirect(w http.ResponseWriter, target string) error {
	w.Header().Set("Location", target)
	w.WriteHeader(http.StatusSeeOther)
	return nil
}

// writeJSON answers v as JSON.
func writeJSON(w http.ResponseWriter, status int, v any) error {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	return json.NewEncoder(w).Encode(v)
}

//go:embed pages/page.html pages/page.css
var pageFiles embed.FS

// pageTemplate is the one template every stauth page shares.
var pageTemplate = template.Must(template.ParseFS(pageFiles, "pages/page.html"))

// pageStyle is the pages' only style sheet, inlined and allowed by its hash.
var pageStyle = func() string {
	css, err := pageFiles.ReadFile("pages/page.css")
	if err != nil {
		panic(err)
	}
	return string(css)
}()

// pageCSP lets a page use its own inline style and nothing else: no scripts,
// no external resources, no framing.
var pageCSP = func() string {
	sum := sha256.Sum256([]byte(pageStyle))
	return "default-src 'none'; style-src 'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) +
		"'; img-src data:; base-uri 'none'; frame-ancestors 'none'"
}()

// page is what one stauth page shows.
type page struct {
	Title      string
	Paragraphs []string
	// Detail is a technical hint, such as the error code a provider sent.
	Detail string
	// Choices are the providers of the chooser page.
	Choices []link
	// Links are the page's actions, such as "Try again".
	Links []link
	// LogoutAction, when set, shows a sign-out button posting there.
	LogoutAction string
	// Refresh, when set, is where the page sends the browser at once.
	Refresh string
}

// link is a button-styled link.
type link struct {
	Href    string
	Label   string
	Primary bool
}

// Style returns the page's style sheet for the template.
func (page) Style() template.CSS { return template.CSS(pageStyle) }

// setAuthHeaders marks a response of stauth's own: never stored by a cache,
// never framed, never sending a Referer onward.
func setAuthHeaders(h http.Header) {
	h.Set("Cache-Control", "no-store")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Content-Security-Policy", pageCSP)
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Content-Type-Options", "nosniff")
}

// writePage renders p with the given status.
func writePage(w http.ResponseWriter, status int, p page) error {
	var buf bytes.Buffer
	if err := pageTemplate.Execute(&buf, p); err != nil {
		return err
	}
	setAuthHeaders(w.Header())
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, err := w.Write(buf.Bytes())
	return err
}

// privateResponse makes the response unstorable by shared caches whatever
// the next handler says (an upstream's Cache-Control: public, s-maxage, or a
// CDN's own cache header), for a response that carries a cookie of stauth's.
func privateResponse(w http.ResponseWriter) http.ResponseWriter {
	return caddyhttp.NewResponseRecorder(w, nil, func(_ int, h http.Header) bool {
		h.Set("Cache-Control", "private, no-store")
		for _, name := range cdnCacheHeaders {
			h.Del(name)
		}
		return false // stream the response; only its header changes
	})
}

// cdnCacheHeaders are cache headers that CDNs obey over Cache-Control.
var cdnCacheHeaders = []string{"Surrogate-Control", "CDN-Cache-Control", "Cloudflare-CDN-Cache-Control"}
