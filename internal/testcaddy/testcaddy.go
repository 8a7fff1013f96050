// Package testcaddy runs a real Caddy, in the test's own process, on free
// ports and with nothing written outside a temporary directory. Unlike
// caddytest it binds no fixed port, so test packages may run side by side.
package testcaddy

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"

	// The standard modules, as in cmd/caddy.
	_ "github.com/caddyserver/caddy/v2/modules/standard"
)

// FreePort returns a TCP port on localhost that nothing listens on now.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("no free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Globals returns a global options block for a test Caddy: no admin API,
// no config autosave, no change to the system trust store, storage in dir.
func Globals(dir string, httpPort, httpsPort int) string {
	return fmt.Sprintf(`{
	admin off
	persist_config off
	skip_install_trust
	storage file_system %q
	http_port %d
	https_port %d
	grace_period 1s
	log {
		level ERROR
	}
}
`, filepath.Join(dir, "caddy-storage"), httpPort, httpsPort)
}

// Adapt turns a Caddyfile into Caddy's JSON, as `caddy adapt` does.
func Adapt(caddyfileText string) ([]byte, error) {
	adapter := caddyconfig.GetAdapter("caddyfile")
	cfg, warnings, err := adapter.Adapt([]byte(caddyfileText), map[string]any{"filename": "Caddyfile"})
	if err != nil {
		return nil, err
	}
	for _, w := range warnings {
		if !strings.Contains(w.Message, "not formatted") {
			return nil, fmt.Errorf("caddyfile warning: %s", w.String())
		}
	}
	return cfg, nil
}

// Load adapts and runs a Caddyfile in this process, replacing whatever
// config ran before, and stops it when the test ends.
func Load(t testing.TB, caddyfileText string) {
	t.Helper()
	if err := LoadErr(caddyfileText); err != nil {
		t.Fatalf("loading Caddy config: %v\n%s", err, caddyfileText)
	}
	t.Cleanup(func() { _ = caddy.Stop() })
}

// LoadErr is Load that returns the error, for tests of bad configs.
func LoadErr(caddyfileText string) error {
	cfg, err := Adapt(caddyfileText)
	if err != nil {
		return err
	}
	return caddy.Load(cfg, true)
}

// Isolate points HOME and the XDG directories at dir, so that Caddy (and
// anything else the test starts) writes nothing in the real home.
func Isolate(dir string) {
	for _, v := range []string{"HOME", "XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME"} {
		_ = os.Setenv(v, filepath.Join(dir, v))
	}
}

// Main runs a test binary's tests with HOME and the XDG directories in a
// temporary directory (see Isolate); call it from TestMain.
func Main(m *testing.M, name string) {
	dir, err := os.MkdirTemp("", name+"-home-")
	if err != nil {
		panic(err)
	}
	Isolate(dir)
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}
