# stauth: the README's two commands are `make demo` and `make test`.
.PHONY: demo test lint unit e2e fuzz bench caddy clean

# demo runs a local development OpenID provider and Caddy with stauth in
# front of a page; it prints the URL and the demo credentials.
demo:
	go -C e2e build -o artifacts/bin/demo ./cmd/demo
	e2e/artifacts/bin/demo

# dev-provider runs the development OpenID provider alone, for trying stauth
# on your own Caddyfile with no account: REDIRECT_URI is your site's
# redirect_uri, or several separated by spaces or commas, as in
#   make dev-provider REDIRECT_URI=http://localhost:9080/oauth2callback
# It serves on localhost:9998 (DEV_PROVIDER_PORT=N for another port), prints
# the [auth] section to paste into secrets.toml and the demo user, and stops
# on Ctrl-C. It runs as a built binary, not with `go run` (which exits 1 on
# Ctrl-C), so that make reports no error then.
REDIRECT_URI ?=
.PHONY: dev-provider
dev-provider:
	go -C e2e build -o artifacts/bin/devprovider ./cmd/devprovider
	e2e/artifacts/bin/devprovider $(REDIRECT_URI)

# test runs everything CI runs: formatting and vet, the plugin's tests, the
# end-to-end tests (real Caddy, real providers, Chromium), and short fuzzing.
test: lint unit e2e fuzz

lint:
	@out=$$(gofmt -l . ); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	go vet ./...
	cd e2e && go vet ./...

# The cost tests count allocations and live heap, which the race detector
# changes: they run again without it.
COST_TESTS = ^(TestCookieSizes|TestGateAllocations|TestMemoryFlatAcrossSessions|TestRevocationMemory|TestRevokedAllocations|TestRewriteStreamlitCookiesAllocs|TestStreamlitGateAllocations|TestClaimPlaceholderAllocations)$$
unit:
	go test -race -count=1 ./...
	go test -count=1 -run='$(COST_TESTS)' .

# One test binary at a time (-p 1): each picks free ports for its Caddy and
# providers, and two binaries could pick the same one.
# ORY Hydra, a provider of the e2e tests (e2e/hydraop), is built first (cgo,
# for its in-memory SQLite) in its own module (e2e/tools/hydra: its
# dependencies clash with Caddy's), so that the tests' timeout is not spent
# compiling it.
HYDRA_BIN = $(CURDIR)/e2e/artifacts/bin/hydra
e2e:
	cd e2e/tools/hydra && go build -tags sqlite -o $(HYDRA_BIN) github.com/ory/hydra/v2
	cd e2e && HYDRA_BIN=$(HYDRA_BIN) go test -race -count=1 -p 1 -timeout 20m ./...

FUZZTIME ?= 5s
fuzz:
	go test -run='^$$' -fuzz='^FuzzOpenSession$$' -fuzztime=$(FUZZTIME) .
	go test -run='^$$' -fuzz='^FuzzSafeReturnTo$$' -fuzztime=$(FUZZTIME) .
	go test -run='^$$' -fuzz='^FuzzSafeReturnToDomain$$' -fuzztime=$(FUZZTIME) .
	go test -run='^$$' -fuzz='^FuzzParseSecrets$$' -fuzztime=$(FUZZTIME) .
	go test -run='^$$' -fuzz='^FuzzRewriteStreamlitCookies$$' -fuzztime=$(FUZZTIME) .

# bench runs the Go benchmarks and the load test against plain Caddy.
bench:
	go test -count=1 -v -run='$(COST_TESTS)' .
	go test -run='^$$' -bench=. -benchmem .
	sh bench/load.sh -rounds 5

# caddy builds Caddy with the standard modules and stauth into ./caddy.
caddy:
	go build -o caddy ./cmd/caddy

clean:
	rm -rf caddy e2e/artifacts
