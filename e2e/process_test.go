package e2e

// Real Caddy processes: the repository's cmd/caddy built once per test, run
// with `caddy run`, reloaded with `caddy reload`, stopped with SIGTERM.

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stauth/caddy-stauth/e2e/internal/goenv"
)

// buildCaddy builds the repository's cmd/caddy (Caddy's standard modules
// plus stauth, from the plugin's own go.mod, as a user builds it) into a
// temp dir, with the race detector when the tests have it.
func buildCaddy(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "caddy")
	args := []string{"build", "-o", bin}
	if raceEnabled {
		args = append(args, "-race")
	}
	args = append(args, "./cmd/caddy")
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = ".." // the repository root: the plugin's module
	cmd.Env = goenv.Env()
	start := time.Now()
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	t.Logf("built cmd/caddy in %s", time.Since(start).Round(100*time.Millisecond))
	return bin
}

// caddyProcess is a `caddy run` child process.
type caddyProcess struct {
	name, bin, dir string
	caddyfile      string // path of its Caddyfile
	logPath        string
	cmd            *exec.Cmd
	done           chan struct{} // closed when the process has exited
	waitErr        error
}

// startCaddy writes caddyfileText to a temp dir and runs `caddy run` on it
// until the test ends. It returns once Caddy reports that its config is
// loaded and its servers listen (through --pingback), or fails the test.
func startCaddy(t *testing.T, bin, name, caddyfileText string) *caddyProcess {
	t.Helper()
	dir := t.TempDir()
	p := &caddyProcess{name: name, bin: bin, dir: dir, caddyfile: filepath.Join(dir, "Caddyfile"), logPath: filepath.Join(dir, "caddy.log"), done: make(chan struct{})}
	p.writeCaddyfile(t, caddyfileText)
	logFile, err := os.Create(p.logPath)
	if err != nil {
		t.Fatal(err)
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	token := make([]byte, 16)
	_, _ = rand.Read(token)
	confirmation := hex.EncodeToString(token)

	p.cmd = exec.Command(bin, "run", "--config", p.caddyfile, "--pingback", ln.Addr().String())
	p.cmd.Dir = dir
	p.cmd.Env = p.env()
	p.cmd.Stdin = strings.NewReader(confirmation)
	p.cmd.Stdout, p.cmd.Stderr = logFile, logFile
	if err := p.cmd.Start(); err != nil {
		logFile.Close()
		t.Fatalf("starting caddy %s: %v", name, err)
	}
	go func() {
		p.waitErr = p.cmd.Wait()
		logFile.Close()
		close(p.done)
	}()
	t.Cleanup(func() { p.stop(t) })

	pinged := make(chan string, 1)
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		defer conn.Close()
		_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		got, _ := io.ReadAll(conn)
		pinged <- string(got)
	}()
	select {
	case got := <-pinged:
		if got != confirmation {
			t.Fatalf("caddy %s: the pingback carried %q, not the confirmation", name, got)
		}
	case <-p.done:
		t.Fatalf("caddy %s exited while starting (%v):\n%s", name, p.waitErr, p.log())
	case <-time.After(60 * time.Second):
		t.Fatalf("caddy %s did not report a successful start within 60 s:\n%s", name, p.log())
	}
	return p
}

// env isolates the process: its HOME and XDG directories are in its temp
// dir.
func (p *caddyProcess) env() []string {
	env := os.Environ()
	for _, v := range []string{"HOME", "XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME"} {
		env = append(env, v+"="+filepath.Join(p.dir, v))
	}
	return env
}

func (p *caddyProcess) writeCaddyfile(t *testing.T, text string) {
	t.Helper()
	if err := os.WriteFile(p.caddyfile, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

// reload rewrites the process's Caddyfile and runs `caddy reload --config`
// on it, which sends it to the process's admin endpoint (the Caddyfile
// names it) and returns once the new config runs.
func (p *caddyProcess) reload(t *testing.T, caddyfileText string) {
	t.Helper()
	p.writeCaddyfile(t, caddyfileText)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, p.bin, "reload", "--config", p.caddyfile)
	cmd.Dir = p.dir
	cmd.Env = p.env()
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("caddy reload of %s: %v\n%s\nits log:\n%s", p.name, err, out, p.log())
	}
}

// stop ends the process with SIGTERM (Caddy's graceful stop) and reports an
// unclean exit, such as a data race found in the child.
func (p *caddyProcess) stop(t *testing.T) {
	select {
	case <-p.done:
	default:
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(15 * time.Second):
			_ = p.cmd.Process.Kill()
			<-p.done
			t.Errorf("caddy %s did not stop within 15 s of SIGTERM; killed", p.name)
			return
		}
	}
	if p.waitErr != nil {
		t.Errorf("caddy %s exited uncleanly (%v):\n%s", p.name, p.waitErr, p.log())
	} else if t.Failed() {
		t.Logf("caddy %s log:\n%s", p.name, p.log())
	}
}

// log is the tail of the process's output.
func (p *caddyProcess) log() string {
	b, err := os.ReadFile(p.logPath)
	if err != nil {
		return err.Error()
	}
	if len(b) > 8000 {
		b = append([]byte("…"), b[len(b)-8000:]...)
	}
	return string(bytes.TrimSpace(b))
}

// processCaddyfile is the Caddyfile of one Caddy process of the scale-out
// tests: its own port, an admin endpoint (adminPort 0: none), stauth with
// the shared secrets in front of a page naming the instance and the config
// version.
func processCaddyfile(dir string, port, adminPort int, secrets, instance string, version int) string {
	admin := "admin off"
	if adminPort != 0 {
		admin = fmt.Sprintf("admin localhost:%d", adminPort)
	}
	return fmt.Sprintf(`{
	%s
	persist_config off
	skip_install_trust
	storage file_system %q
	http_port %d
	grace_period 1s
}

http://localhost:%d {
	route {
		stauth %s
		respond "instance=%s version=%d id={http.auth.user.id} email={http.auth.user.email}"
	}
}
`, admin, filepath.Join(dir, "storage"), port, port, secrets, instance, version)
}
