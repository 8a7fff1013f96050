// Package testcaddy runs a real Caddy, in the test's own process, on free
// ports and with nothing written outside a temporary directory. Unlike
// caddytest it binds no fixed port, so test packages may run side by side.
package testcaddy

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"

	// The standard modules, as in cmd/caddy.
	_ "github.com/caddyserver/caddy/v2/modules/standard"
)

// FreePort returns a TCP port that nothing listens on now, on any
// interface. It fails the test when there is none; see Port.
func FreePort(t testing.TB) int {
	t.Helper()
	port, err := Port()
	if err != nil {
		t.Fatal(err)
	}
	return port
}

// Port returns a TCP port that nothing listens on now, never the same one
// twice in a process. It is chosen below the kernel's ephemeral range, so no
// outgoing connection (of this test or of any other process) can take it
// between the choice and the server's bind: a port the kernel itself picked
// with :0 is exactly the kind an outgoing connection can take.
func Port() (int, error) {
	low, high := unassignedRange()
	portsMu.Lock()
	defer portsMu.Unlock()
	for range 1000 {
		port := low + rand.IntN(high-low+1)
		if portsGiven[port] {
			continue
		}
		l, err := net.Listen("tcp", fmt.Sprintf(":%d", port))
		if err != nil {
			continue
		}
		l.Close()
		portsGiven[port] = true
		return port, nil
	}
	return 0, fmt.Errorf("no free TCP port between %d and %d after 1000 tries", low, high)
}

var (
	portsMu    sync.Mutex
	portsGiven = map[int]bool{}
)

// unassignedRange is the range Port chooses from: from 10000 up to just
// below the start of the ephemeral range in ip_local_port_range, or
// 10000–32767 (below Linux's default ephemeral range) where that file is
// missing or leaves too little room.
func unassignedRange() (low, high int) {
	low, high = 10000, 32767
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return low, high
	}
	fields := strings.Fields(string(b))
	if len(fields) != 2 {
		return low, high
	}
	if ephemeralLow, err := strconv.Atoi(fields[0]); err == nil && ephemeralLow-1 >= low+1000 {
		high = ephemeralLow - 1
	}
	return low, high
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
