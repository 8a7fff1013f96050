package stauth

import (
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"
)

// secretsError is a problem in secrets.toml, naming the file and section.
type secretsError struct {
	file    string
	section string
	msg     string
}

func (e *secretsError) Error() string {
	if e.section == "" {
		return e.file + ": " + e.msg
	}
	return fmt.Sprintf("%s: [%s]: %s", e.file, e.section, e.msg)
}

func readError(path string, err error) error {
	hint := "check the path given to stauth"
	if wd, wdErr := os.Getwd(); wdErr == nil && !strings.HasPrefix(path, "/") {
		hint += " (a relative path is read from Caddy's working directory, " + wd + ")"
	}
	if errors.Is(err, os.ErrPermission) {
		hint = "let the user running Caddy read it (and nobody else: chmod 600)"
	}
	return &secretsError{file: path, msg: fmt.Sprintf("cannot read the secrets file: %v; %s", errors.Unwrap(err), hint)}
}

// quoted matches a double-quoted fragment of a TOML error message, which may
// hold part of a secret written without quotes.
var quoted = regexp.MustCompile(`"[^"]*"`)

// redactTOML removes from a TOML parser message what may be part of a
// secret: quoted fragments, and every word of the value on the offending
// line (the parser shows a number out of range unquoted, for instance).
func redactTOML(msg, text string, line int) string {
	msg = quoted.ReplaceAllString(msg, `"…"`)
	lines := strings.Split(text, "\n")
	if line < 1 || line > len(lines) {
		return msg
	}
	_, value, _ := strings.Cut(lines[line-1], "=")
	for _, word := range strings.Fields(msg) {
		if w := strings.Trim(word, `"'.,:;()`); len(w) >= 3 && strings.Contains(value, w) {
			msg = strings.ReplaceAll(msg, w, "…")
		}
	}
	return msg
}

// keyOnLine names the key that a line of TOML sets, as " (key)", when the
// line is a plain key = value.
func keyOnLine(text string, line int) string {
	lines := strings.Split(text, "\n")
	if line < 1 || line > len(lines) {
		return ""
	}
	key, _, found := strings.Cut(lines[line-1], "=")
	key = strings.TrimSpace(key)
	if !found || !bareKey.MatchString(key) {
		return ""
	}
	return " (" + key + ")"
}

// bareKey matches a TOML key that needs no quotes, dotted or not.
var bareKey = regexp.MustCompile(`^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$`)
