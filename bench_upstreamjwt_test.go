package stauth

import (
	"net/http"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

// BenchmarkServeHTTPUpstreamJWT is the gate of BenchmarkServeHTTPAuthenticated
// with upstream_jwt on: the session's assertion comes from the cache, signed
// once per 30 seconds. gate-ns/op and gate-allocs/op are, as there, what
// stauth adds to a no-op handler.
func BenchmarkServeHTTPUpstreamJWT(b *testing.B) {
	for _, c := range gateCases[:2] {
		b.Run(c.name, func(b *testing.B) {
			site, br := gateRequest(b, c)
			site.s.UpstreamJWT = &UpstreamJWT{Audience: "grafana"}
			if err := site.s.setUpAssertions(); err != nil {
				b.Fatal(err)
			}
			var got string
			next := caddyhttp.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) error {
				got = r.Header.Get(DefaultUpstreamJWTHeader)
				return nil
			})
			b.ReportAllocs()
			start := readMallocs()
			for b.Loop() {
				if err := site.s.ServeHTTP(br.w, br.next(), next); err != nil {
					b.Fatal(err)
				}
			}
			allocs := float64(readMallocs()-start) / float64(b.N)
			if got == "" {
				b.Fatal("the next handler got no assertion")
			}
			elapsed := b.Elapsed()
			baseNs, baseAllocs := baselineOf(b.N, br)
			b.ReportMetric(float64(elapsed.Nanoseconds())/float64(b.N)-baseNs, "gate-ns/op")
			b.ReportMetric(allocs-baseAllocs, "gate-allocs/op")
		})
	}
}

// BenchmarkSignAssertion is one assertion signed, as for a session not in
// the cache: what the cache saves on every other request.
func BenchmarkSignAssertion(b *testing.B) {
	site := newBenchSite(b, benchSiteOptions{})
	site.s.UpstreamJWT = &UpstreamJWT{Audience: "grafana"}
	if err := site.s.setUpAssertions(); err != nil {
		b.Fatal(err)
	}
	sess := &session{sub: "alice", email: "alice@example.com", claims: `{"groups":["admins","staff"]}`} // no id: never cached
	b.ReportAllocs()
	for b.Loop() {
		if _, err := site.s.assertions.assertion(sess, time.Now()); err != nil {
			b.Fatal(err)
		}
	}
}
