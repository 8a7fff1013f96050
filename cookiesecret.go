package stauth

import (
	"fmt"
	"math"
	"strings"
	"unicode"
)

// minSecretLength is the shortest cookie_secret accepted.
const minSecretLength = 16

// Strength thresholds of a cookie secret, in estimated bits of randomness.
// Below refuseBelow the secret is refused: a sealed value from an anonymous
// login lets anyone test guesses offline, and a guessed secret forges any
// session. Below warnBelow stauth starts, with a warning in the log.
const (
	refuseBelow = 64
	warnBelow   = 96
)

// secretFix is how to make a good cookie secret.
const secretFix = "make one with `openssl rand -hex 32`"

// checkCookieSecret judges a cookie secret (key names it in messages):
// an error for one that is too short or guessable, a warning for one that is
// weaker than a generated secret, or neither.
func checkCookieSecret(key, secret string) (problem, warning string) {
	if len(secret) < minSecretLength {
		return fmt.Sprintf("%s is too short: use at least %d characters of randomness, e.g. the output of `openssl rand -hex 32`", key, minSecretLength), ""
	}
	switch bits := secretBits(secret); {
	case bits < refuseBelow:
		return key + " is easy to guess (words, dates or repeated characters): anyone who sees one of stauth's cookies could test guesses offline and then forge a login; " + secretFix, ""
	case bits < warnBelow:
		return "", key + " looks weaker than a generated secret; " + secretFix + " and keep the old one as cookie_secret_previous while sessions move over"
	}
	return "", ""
}

// secretBits estimates the randomness of a secret, in bits, erring low. It
// reads the secret as runs of one kind of character: a run of letters
// counts at most as one word from a large dictionary, a run of digits as
// random digits, a repeated run once, and each other character as a symbol.
// Generated secrets (hex, base64) are made of short runs and score about
// four bits per character; "CompanyName2024!" scores about 50.
func secretBits(secret string) float64 {
	const (
		wordBits   = 16 // about 65,000 words
		letterBits = 4.7
		digitBits  = 3.32
		symbolBits = 5
	)
	bits := 0.0
	seen := map[string]bool{}
	for _, run := range charRuns(secret) {
		n := float64(len([]rune(run)))
		if n >= 3 && seen[strings.ToLower(run)] {
			continue // a repeated word or number adds nothing
		}
		seen[strings.ToLower(run)] = true
		r := []rune(run)[0]
		switch {
		case unicode.IsLetter(r):
			bits += math.Min(n*letterBits, wordBits)
		case unicode.IsDigit(r):
			bits += n * digitBits
		default:
			bits += symbolBits
		}
	}
	return bits
}

// charRuns splits s into runs of letters (a capital may start a run of
// small letters, as in a word), digits and single other characters.
func charRuns(s string) []string {
	var runs []string
	rs := []rune(s)
	for i := 0; i < len(rs); {
		j := i + 1
		switch {
		case unicode.IsLetter(rs[i]):
			for j < len(rs) && unicode.IsLetter(rs[j]) && !(unicode.IsUpper(rs[j]) && unicode.IsLower(rs[j-1])) {
				j++
			}
		case unicode.IsDigit(rs[i]):
			for j < len(rs) && unicode.IsDigit(rs[j]) {
				j++
			}
		}
		runs = append(runs, string(rs[i:j]))
		i = j
	}
	return runs
}
