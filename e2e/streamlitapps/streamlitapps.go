// Package streamlitapps runs stand-ins for a Streamlit app behind stauth: tiny
// Tornado (Streamlit ≤1.56) and Starlette (Streamlit ≥1.57) servers that read
// the _streamlit_user and _streamlit_user_tokens cookies as Streamlit does and
// report what they read, over HTTP and over the WebSocket at _stcore/stream.
package streamlitapps

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/sha1"
	"crypto/tls"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stauth/caddy-stauth/internal/testcaddy"
)

// Python is the interpreter the apps run with: Debian's, with its packages.
const Python = "/usr/bin/python3"

// Kinds of app, named as stauth's streamlit_user option names the format.
const (
	Tornado   = "tornado"
	Starlette = "starlette"
)

// installHint tells how to get the Python modules the apps need.
const installHint = "apt-get install -y python3-tornado python3-itsdangerous python3-starlette python3-uvicorn"

// App is a running stand-in app.
type App struct {
	Kind string // Tornado or Starlette
	Port int
	Base string // the base path, "" or "/name"
	URL  string // http://127.0.0.1:<port><base>
}

// Identity is what an app read from the request's cookies.
type Identity struct {
	User   map[string]any `json:"user"`   // _streamlit_user, nil when absent or refused
	Tokens map[string]any `json:"tokens"` // _streamlit_user_tokens, likewise
	Origin *string        `json:"origin"` // the request's Origin header
}

// dir is this package's source directory, where the apps' scripts are.
func dir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Dir(file)
}

// Available reports why the apps cannot run here, or nil when they can.
func Available() error {
	out, err := exec.Command(Python, "-c", "import tornado, itsdangerous, starlette, uvicorn, wsproto").CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s with Tornado, itsdangerous, Starlette and uvicorn is needed for the Streamlit stand-ins (%v: %s); install them with\n\t%s\nor set STAUTH_SKIP_PYTHON=1 to skip", Python, err, strings.TrimSpace(string(out)), installHint)
	}
	return nil
}

// Start runs the kind app on a free loopback port, signing key cookieSecret,
// under base ("" or "/name"), returns once it answers /_stcore/health and
// stops it when the test ends. It skips the test when STAUTH_SKIP_PYTHON=1
// and fails it when Python or its modules are missing.
func Start(t testing.TB, kind, cookieSecret, base string) *App {
	t.Helper()
	if os.Getenv("STAUTH_SKIP_PYTHON") == "1" {
		t.Skip("STAUTH_SKIP_PYTHON=1: not running the Streamlit stand-ins")
	}
	if kind != Tornado && kind != Starlette {
		t.Fatalf("streamlitapps: unknown kind %q", kind)
	}
	if err := Available(); err != nil {
		t.Fatal(err)
	}
	port, err := testcaddy.Port()
	if err != nil {
		t.Fatal(err)
	}
	base = strings.TrimSuffix(base, "/")
	if base != "" && !strings.HasPrefix(base, "/") {
		base = "/" + base
	}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, Python, filepath.Join(dir(), kind+"_app.py"), fmt.Sprint(port), cookieSecret, base)
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 10 * time.Second
	var stderr strings.Builder
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	exited := make(chan struct{})
	t.Cleanup(func() {
		cancel()
		<-exited
	})
	ready := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		found := false
		for sc.Scan() {
			if !found && strings.HasPrefix(sc.Text(), "ready ") {
				found = true
				ready <- true
			}
		}
		if !found {
			ready <- false
		}
		cmd.Wait()
		close(exited)
	}()
	select {
	case ok := <-ready:
		if !ok {
			<-exited
			t.Fatalf("%s app exited before it was ready: %s", kind, stderr.String())
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("%s app not ready after 60s: %s", kind, stderr.String())
	}
	app := &App{Kind: kind, Port: port, Base: base, URL: fmt.Sprintf("http://127.0.0.1:%d%s", port, base)}
	resp, err := http.Get(app.URL + "/_stcore/health")
	if err != nil {
		t.Fatalf("%s app health: %v", kind, err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || string(body) != "ok" {
		t.Fatalf("%s app health: %s %q", kind, resp.Status, body)
	}
	return app
}

// WhoAmI asks <prefix>/_stcore/whoami (prefix: an app's URL, or Caddy's URL
// with the app's base path) with header, through client (nil for
// http.DefaultClient). The identity is zero unless the answer is 200.
func WhoAmI(client *http.Client, prefix string, header http.Header) (Identity, *http.Response, error) {
	if client == nil {
		client = http.DefaultClient
	}
	var id Identity
	req, err := http.NewRequest(http.MethodGet, prefix+"/_stcore/whoami", nil)
	if err != nil {
		return id, nil, err
	}
	for k, v := range header {
		req.Header[k] = v
	}
	if h := header.Get("Host"); h != "" {
		req.Host = h
	}
	resp, err := client.Do(req)
	if err != nil {
		return id, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return id, resp, err
	}
	if resp.StatusCode == http.StatusOK {
		err = json.Unmarshal(body, &id)
	}
	return id, resp, err
}

// websocketGUID is RFC 6455's key suffix.
const websocketGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

// Stream opens the WebSocket at <prefix>/_stcore/stream (prefix: http:// or
// https://, TLS with tlsConfig) with header and returns the identity the app
// sends first. When the upgrade is refused it returns the response (with its
// body read) and a zero identity, without error.
func Stream(ctx context.Context, prefix string, header http.Header, tlsConfig *tls.Config) (Identity, *http.Response, error) {
	var id Identity
	u, err := url.Parse(prefix + "/_stcore/stream")
	if err != nil {
		return id, nil, err
	}
	addr := u.Host
	if u.Port() == "" {
		port := "80"
		if u.Scheme == "https" {
			port = "443"
		}
		addr = net.JoinHostPort(u.Hostname(), port)
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return id, nil, err
	}
	defer conn.Close()
	if deadline, ok := ctx.Deadline(); ok {
		conn.SetDeadline(deadline)
	}
	if u.Scheme == "https" {
		tc := tls.Client(conn, tlsConfig)
		if err := tc.HandshakeContext(ctx); err != nil {
			return id, nil, err
		}
		conn = tc
	}
	var nonce [16]byte
	rand.Read(nonce[:])
	key := base64.StdEncoding.EncodeToString(nonce[:])
	req := &http.Request{Method: http.MethodGet, URL: u, Host: u.Host, Header: http.Header{}}
	for k, v := range header {
		req.Header[k] = v
	}
	if h := header.Get("Host"); h != "" {
		req.Host = h
		req.Header.Del("Host")
	}
	req.Header.Set("Upgrade", "websocket")
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Sec-WebSocket-Key", key)
	req.Header.Set("Sec-WebSocket-Version", "13")
	if err := req.Write(conn); err != nil {
		return id, nil, err
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, req)
	if err != nil {
		return id, nil, err
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		resp.Body = io.NopCloser(strings.NewReader(string(body)))
		return id, resp, nil
	}
	sum := sha1.Sum([]byte(key + websocketGUID))
	if got := resp.Header.Get("Sec-WebSocket-Accept"); got != base64.StdEncoding.EncodeToString(sum[:]) {
		return id, resp, fmt.Errorf("bad Sec-WebSocket-Accept %q", got)
	}
	msg, err := readMessage(br)
	if err != nil {
		return id, resp, err
	}
	return id, resp, json.Unmarshal(msg, &id)
}

// readMessage reads the first text message from a server's frames (unmasked),
// skipping control frames.
func readMessage(r *bufio.Reader) ([]byte, error) {
	var msg []byte
	for {
		var head [2]byte
		if _, err := io.ReadFull(r, head[:]); err != nil {
			return nil, err
		}
		fin, opcode, n := head[0]&0x80 != 0, head[0]&0x0f, uint64(head[1]&0x7f)
		switch n {
		case 126:
			var ext [2]byte
			if _, err := io.ReadFull(r, ext[:]); err != nil {
				return nil, err
			}
			n = uint64(binary.BigEndian.Uint16(ext[:]))
		case 127:
			var ext [8]byte
			if _, err := io.ReadFull(r, ext[:]); err != nil {
				return nil, err
			}
			n = binary.BigEndian.Uint64(ext[:])
		}
		if head[1]&0x80 != 0 || n > 1<<20 {
			return nil, errors.New("masked or oversized frame from the server")
		}
		payload := make([]byte, n)
		if _, err := io.ReadFull(r, payload); err != nil {
			return nil, err
		}
		switch opcode {
		case 0x8:
			return nil, errors.New("the server closed the WebSocket before sending a message")
		case 0x9, 0xa:
			continue
		}
		msg = append(msg, payload...)
		if fin {
			return msg, nil
		}
	}
}
