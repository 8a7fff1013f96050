// Package proctest runs a command's main function in a child process (the
// test binary itself, run again), so that a command's test sees what it
// prints and how it exits on a signal, as a user running it does.
package proctest

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stauth/caddy-stauth/internal/testcaddy"
)

// runMainVar, set to 1 in a child's environment, makes Main run the
// command's main function instead of the tests.
const runMainVar = "STAUTH_PROCTEST_RUN_MAIN"

// Main is a command's TestMain: in a child that Start started it runs
// main (and exits 0 when main returns); otherwise it runs the tests with
// HOME and the XDG directories in a temporary directory (testcaddy.Main),
// which the children inherit.
func Main(m *testing.M, name string, main func()) {
	if os.Getenv(runMainVar) == "1" {
		main()
		os.Exit(0)
	}
	testcaddy.Main(m, name)
}

// Process is a running child.
type Process struct {
	cmd   *exec.Cmd
	lines chan string   // each line of its standard output, as it comes
	done  chan struct{} // closed once it has exited
	mu    sync.Mutex
	out   bytes.Buffer // its standard output and standard error so far
}

// Start runs the command's main with args in a child process with extra
// environment variables (NAME=value), until Stop or the test's end.
func Start(t *testing.T, args []string, env ...string) *Process {
	t.Helper()
	p := &Process{lines: make(chan string, 1024), done: make(chan struct{})}
	p.cmd = exec.Command(os.Args[0], args...)
	p.cmd.Env = append(append(os.Environ(), runMainVar+"=1"), env...)
	p.cmd.Stderr = lockedWriter{p}
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		scanner := bufio.NewScanner(stdout)
		for scanner.Scan() {
			line := scanner.Text()
			p.mu.Lock()
			p.out.WriteString(line + "\n")
			p.mu.Unlock()
			select {
			case p.lines <- line:
			default: // nobody waits for so many lines
			}
		}
		_ = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

// lockedWriter appends to the process's output.
type lockedWriter struct{ p *Process }

// Write appends b to the process's output.
func (w lockedWriter) Write(b []byte) (int, error) {
	w.p.mu.Lock()
	defer w.p.mu.Unlock()
	return w.p.out.Write(b)
}

// Output is what the process printed so far.
func (p *Process) Output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

// WaitForLine waits until the process prints a line that is exactly line
// and returns its output so far; it fails the test if the process exits or
// a minute passes first.
func (p *Process) WaitForLine(t *testing.T, line string) string {
	t.Helper()
	deadline := time.After(time.Minute)
	for {
		select {
		case got := <-p.lines:
			if got == line {
				return p.Output()
			}
		case <-p.done:
			for len(p.lines) > 0 {
				if <-p.lines == line {
					return p.Output()
				}
			}
			t.Fatalf("the command exited (%v) before printing %q:\n%s", p.cmd.ProcessState, line, p.Output())
		case <-deadline:
			t.Fatalf("the command did not print %q within a minute:\n%s", line, p.Output())
		}
	}
}

// Stop sends sig and returns the exit code once the process has exited (-1
// when the signal killed it). It fails the test if the process is still
// running half a minute later.
func (p *Process) Stop(t *testing.T, sig syscall.Signal) int {
	t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatalf("signalling the command: %v", err)
	}
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		t.Fatalf("the command still runs 30 s after %v:\n%s", sig, p.Output())
	}
	return p.cmd.ProcessState.ExitCode()
}

// Section returns the lines of output from the one that is exactly first
// up to the next blank line (or the end), each ending in a newline.
func Section(output, first string) string {
	var b strings.Builder
	in := false
	for line := range strings.Lines(output) {
		switch {
		case !in && strings.TrimRight(line, "\n") == first:
			in = true
		case in && strings.TrimSpace(line) == "":
			return b.String()
		}
		if in {
			b.WriteString(line)
		}
	}
	return b.String()
}
