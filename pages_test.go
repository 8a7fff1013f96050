package stauth

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestPrivateResponse: a response carrying stauth's cookie is private and
// unstorable whatever the next handler says, and is streamed unchanged
// otherwise.
func TestPrivateResponse(t *testing.T) {
	for _, c := range []struct {
		name   string
		header map[string]string
	}{
		{"public", map[string]string{"Cache-Control": "public, max-age=600"}},
		{"s-maxage and CDN headers", map[string]string{"Cache-Control": "s-maxage=600", "CDN-Cache-Control": "max-age=600", "Surrogate-Control": "max-age=600"}},
		{"nothing said", nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			w := privateResponse(rec)
			for k, v := range c.header {
				w.Header().Set(k, v)
			}
			_, _ = w.Write([]byte("body")) // without WriteHeader, as many handlers do
			h := rec.Result().Header
			if h.Get("Cache-Control") != "private, no-store" || h.Get("CDN-Cache-Control") != "" || h.Get("Surrogate-Control") != "" || rec.Body.String() != "body" {
				t.Fatalf("headers %v, body %q", h, rec.Body.String())
			}
		})
	}
}

// TestPageHeaders: every page is unframeable, unstored and sends no
// Referer.
func TestPageHeaders(t *testing.T) {
	rec := httptest.NewRecorder()
	if err := writePage(rec, http.StatusForbidden, page{Title: "t", Paragraphs: []string{"<b>x</b>"}}); err != nil {
		t.Fatal(err)
	}
	h := rec.Result().Header
	if rec.Code != http.StatusForbidden || h.Get("Cache-Control") != "no-store" || h.Get("X-Frame-Options") != "DENY" ||
		h.Get("Referrer-Policy") != "no-referrer" || h.Get("Content-Security-Policy") != pageCSP {
		t.Fatalf("page headers: %d %v", rec.Code, h)
	}
	if body := rec.Body.String(); !strings.Contains(body, "&lt;b&gt;x&lt;/b&gt;") {
		t.Fatalf("a paragraph is not escaped: %s", body)
	}
}
