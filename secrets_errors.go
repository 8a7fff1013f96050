package stauth

import (
	"errors"
	"fmt"
	"os"
	"regexp"
	"slices"
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

// quoted matches a quoted fragment of a TOML error message (double quotes,
// or single quotes around more than a character or an escape), which may
// hold part of a secret written without quotes.
var quoted = regexp.MustCompile(`"[^"]*"|'[^']{3,}'`)

// redactTOML removes from a TOML parser message what may be part of a
// secret: quoted fragments, and every word of the value on the offending
// line (of the whole line when it is not key = value) (the parser shows a number out of range unquoted, for instance).
func redactTOML(msg, text string, line int) string {
	msg = quoted.ReplaceAllString(msg, `"…"`)
	lines := strings.Split(text, "\n")
	if line < 1 || line > len(lines) {
		return msg
	}
	key, value, found := strings.Cut(lines[line-1], "=")
	if !found {
		value = key // a line without = may be a secret pasted on its own
	}
	for _, word := range strings.Fields(msg) {
		if w := strings.Trim(word, `"'.,:;()`); len(w) >= 3 && strings.Contains(value, w) {
			msg = strings.ReplaceAll(msg, w, "…")
		}
	}
	return msg
}

// keyOnLine names the key that a line of TOML sets, as " (key)", when the
// line is a plain key = value and the key is one of the schema's.
func keyOnLine(text string, line int) string {
	lines := strings.Split(text, "\n")
	if line < 1 || line > len(lines) {
		return ""
	}
	key, _, found := strings.Cut(lines[line-1], "=")
	key = strings.TrimSpace(key)
	if !found || !(slices.Contains(providerKeys, key) || slices.Contains(sharedKeys, key)) {
		return "" // any other text could be a secret pasted where a key goes
	}
	return " (" + key + ")"
}
