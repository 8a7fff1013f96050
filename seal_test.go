package stauth

import (
	"bytes"
	"encoding/base64"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/crypto/argon2"
)

func mustSealer(t testing.TB, purpose string, secrets ...string) *sealer {
	t.Helper()
	return mustSiteSealer(t, purpose, "http://localhost:8080", secrets...)
}

// mustSiteSealer returns the sealer of a site (redirect_uri's origin).
func mustSiteSealer(t testing.TB, purpose, site string, secrets ...string) *sealer {
	t.Helper()
	s, err := newSealer(secrets, purpose, site)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSealerRoundTrip(t *testing.T) {
	s := mustSealer(t, purposeSession, testCookieSecret)
	value := s.seal([]byte("hello"))
	plain, stale, ok := s.open(value)
	if !ok || stale || string(plain) != "hello" {
		t.Fatalf("open(seal(hello)) = %q, stale=%v, ok=%v", plain, stale, ok)
	}
	if s.seal([]byte("hello")) == value {
		t.Fatal("two seals of the same text are equal: the nonce is not random")
	}
	if strings.Contains(value, "hello") || strings.ContainsAny(value, ";, =\"") {
		t.Fatalf("sealed value is readable or not cookie-safe: %q", value)
	}
}

func TestSealerRefuses(t *testing.T) {
	s := mustSealer(t, purposeSession, testCookieSecret)
	value := s.seal([]byte("a session payload"))
	raw, _ := base64.RawURLEncoding.DecodeString(value)
	cases := map[string]string{
		"empty":           "",
		"not base64":      "!!!",
		"truncated":       value[:len(value)-4],
		"only the header": value[:2],
		"other purpose":   mustSealer(t, purposeLogin, testCookieSecret).seal([]byte("a session payload")),
		"other secret":    mustSealer(t, purposeSession, "another-secret-0123456789abcdef").seal([]byte("a session payload")),
		"other version":   base64.RawURLEncoding.EncodeToString(append([]byte{sealVersion + 1}, raw[1:]...)),
		"padded base64":   value + "==",
	}
	for i := range raw { // every single-bit flip
		flipped := append([]byte(nil), raw...)
		flipped[i] ^= 1 << (i % 8)
		cases["bit flip at "+strconv.Itoa(i)] = base64.RawURLEncoding.EncodeToString(flipped)
	}
	for name, v := range cases {
		if plain, _, ok := s.open(v); ok {
			t.Errorf("%s: opened as %q", name, plain)
		}
	}
}

func TestSealerPreviousSecret(t *testing.T) {
	old := mustSealer(t, purposeSession, "the-old-secret-0123456789abcdef")
	rotated := mustSealer(t, purposeSession, testCookieSecret, "the-old-secret-0123456789abcdef")
	plain, stale, ok := rotated.open(old.seal([]byte("x")))
	if !ok || !stale || string(plain) != "x" {
		t.Fatalf("a cookie of the previous secret: %q stale=%v ok=%v, want it opened and marked stale", plain, stale, ok)
	}
	if _, stale, ok := rotated.open(rotated.seal([]byte("x"))); !ok || stale {
		t.Fatalf("a cookie of the current secret: stale=%v ok=%v", stale, ok)
	}
}

// TestMasterKeyIsArgon2id: cookie keys come from the secret through
// Argon2id (RFC 9106's second recommended settings), so a sealed value does
// not let anyone test guesses of the secret quickly; it is derived once per
// secret and process.
func TestMasterKeyIsArgon2id(t *testing.T) {
	secret := "argon2-test-secret-5f0d1c2b3a4e"
	want := argon2.IDKey([]byte(secret), kdfSalt, 3, 64*1024, 2, 32)
	got := masterKey(secret)
	if !bytes.Equal(got, want) {
		t.Fatal("the master key is not Argon2id(t=3, m=64 MiB, p=2) of the secret")
	}
	if again := masterKey(secret); &again[0] != &got[0] {
		t.Fatal("the master key was derived twice")
	}
}

// BenchmarkMasterKey measures the start-up cost of one cookie secret (the
// derivation is cached, so the cache is bypassed here).
func BenchmarkMasterKey(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		_ = argon2.IDKey([]byte("3f9c1a7be2d84c6f0a5e1d2c3b4a59687f6e5d4c3b2a19080f1e2d3c4b5a6978"), kdfSalt, kdfTime, kdfMemory, kdfThreads, 32)
	}
}
