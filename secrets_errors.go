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

// missingKeyMessage says that a required key of a section is missing,
// names a key of table that looks like a misspelling of it, and for
// cookie_secret tells how to make one. It names keys only, never a value.
func missingKeyMessage(key string, table map[string]any) string {
	msg := key + " is missing"
	var near []string
	for other, value := range table {
		if other != key && !isSubsection(other, value) && !isKnownKey(other) && editDistance(other, key) <= 2 {
			near = append(near, other)
		}
	}
	slices.Sort(near)
	if len(near) > 0 {
		msg += "; " + strings.Join(near, ", ") + " looks like a misspelling of it"
	}
	if key == "cookie_secret" {
		msg += "; make one with `openssl rand -hex 32`"
	}
	return msg
}

// unknownKeyMessage warns of a key stauth does not know, naming the known
// key it is closest to when it looks like a misspelling.
func unknownKeyMessage(key string) string {
	msg := key + " is not a key stauth knows; it is ignored"
	if near := closestKnownKey(key); near != "" {
		msg += "; did you mean " + near + "?"
	}
	return msg
}

// isKnownKey tells whether key is one of the schema's.
func isKnownKey(key string) bool {
	return slices.Contains(providerKeys, key) || slices.Contains(sharedKeys, key)
}

// closestKnownKey is the known key within two edits of key, or "".
func closestKnownKey(key string) string {
	best, bestDistance := "", 3
	for _, known := range slices.Concat(sharedKeys, providerKeys) {
		if d := editDistance(key, known); d < bestDistance {
			best, bestDistance = known, d
		}
	}
	return best
}

// editDistance counts the insertions, deletions, substitutions and swaps of
// adjacent letters that turn a into b, ignoring case (the optimal string
// alignment distance).
func editDistance(a, b string) int {
	x, y := []rune(strings.ToLower(a)), []rune(strings.ToLower(b))
	d := make([][]int, len(x)+1)
	for i := range d {
		d[i] = make([]int, len(y)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(x); i++ {
		for j := 1; j <= len(y); j++ {
			cost := 1
			if x[i-1] == y[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && x[i-1] == y[j-2] && x[i-2] == y[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(x)][len(y)]
}
