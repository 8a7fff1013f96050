package stauth

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"strings"
	"sync"

	"golang.org/x/crypto/argon2"
)

func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

// Cookie purposes. Each gets its own key, so a cookie sealed for one purpose
// never opens as another.
const (
	purposeSession    = "stauth session cookie"
	purposeLogin      = "stauth login transaction cookie"
	purposeLogoutHint = "stauth logout hint cookie"
)

// sealVersion is the first byte of every sealed cookie value. Version 2:
// keys from Argon2id, values bound to the site.
const sealVersion byte = 2

// Argon2id settings of the master key (RFC 9106 §4, second recommended
// option): a guess at cookie_secret costs 64 MiB of memory and three passes
// over it, so a sealed value cannot be used to test guesses quickly.
const (
	kdfTime    = 3
	kdfMemory  = 64 * 1024 // KiB
	kdfThreads = 2
)

// kdfSalt is fixed: every instance sharing the secret must derive the same
// keys; the secret itself must carry the randomness (see checkCookieSecret).
var kdfSalt = []byte("stauth cookie keys v2")

// masterKeys keeps the master key of each cookie secret this process has
// derived, by the secret's SHA-256, so the memory-hard derivation runs once
// per secret and process, not at each reload or for each site.
var masterKeys sync.Map

// masterKey derives (once) the master key of a cookie secret with Argon2id.
func masterKey(secret string) []byte {
	id := sha256.Sum256([]byte(secret))
	if key, ok := masterKeys.Load(id); ok {
		return key.([]byte)
	}
	key := argon2.IDKey([]byte(secret), kdfSalt, kdfTime, kdfMemory, kdfThreads, 32)
	actual, _ := masterKeys.LoadOrStore(id, key)
	return actual.([]byte)
}

// sealer encrypts and authenticates cookie values for one purpose. The first
// AEAD, keyed from cookie_secret, seals and opens; the others, keyed from
// cookie_secret_previous, only open.
type sealer struct {
	aeads []cipher.AEAD
	aad   []byte
}

// Sizes of the sealed layout: version byte, GCM nonce, ciphertext, GCM tag.
const (
	gcmNonceSize = 12
	gcmTagSize   = 16
)

// newSealer derives one AES-256-GCM key per secret for purpose: HKDF-SHA256
// from the secret's master key, so a key per purpose costs nothing more.
// binding, the site's origin, is authenticated with every value, so a value
// sealed for another site never opens here even with the same secret.
func newSealer(secrets []string, purpose, binding string) (*sealer, error) {
	s := &sealer{aad: append(append([]byte{sealVersion}, purpose...), "\x00"+binding...)}
	for _, secret := range secrets {
		key, err := hkdf.Key(sha256.New, masterKey(secret), []byte("stauth"), purpose, 32)
		if err != nil {
			return nil, err
		}
		block, err := aes.NewCipher(key)
		if err != nil {
			return nil, err
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, err
		}
		s.aeads = append(s.aeads, aead)
	}
	return s, nil
}

// seal returns plaintext sealed with the current secret, as cookie-safe text.
func (s *sealer) seal(plaintext []byte) string {
	out := make([]byte, 1+gcmNonceSize, 1+gcmNonceSize+len(plaintext)+gcmTagSize)
	out[0] = sealVersion
	nonce := out[1:]
	_, _ = rand.Read(nonce) // crypto/rand.Read never fails
	out = s.aeads[0].Seal(out, nonce, plaintext, s.aad)
	return base64.RawURLEncoding.EncodeToString(out)
}

// open returns the plaintext of a sealed value and whether it was sealed with
// a previous secret (and should be sealed again). ok is false for anything
// that was not sealed by this sealer: tampered, truncated, foreign or empty.
// It allocates once: the value is decoded and decrypted in one buffer, which
// the plaintext shares.
func (s *sealer) open(value string) (plaintext []byte, stale, ok bool) {
	size := base64.RawURLEncoding.DecodedLen(len(value))
	if len(s.aeads) > 1 {
		// A failed Open may wipe its output: with several keys, every
		// attempt but the last decrypts into a copy.
		size *= 2
	}
	buf := make([]byte, size)
	n, ok := decodeBase64(buf, value)
	if !ok || n < 1+gcmNonceSize+gcmTagSize || buf[0] != sealVersion {
		return nil, false, false
	}
	nonce, sealed := buf[1:1+gcmNonceSize], buf[1+gcmNonceSize:n]
	for i, aead := range s.aeads {
		out := sealed[:0]
		if i < len(s.aeads)-1 {
			out = buf[n:n]
		}
		if plain, err := aead.Open(out, nonce, sealed, s.aad); err == nil {
			return plain, i > 0, true
		}
	}
	return nil, false, false
}

// decodeBase64 decodes base64url text into dst without first copying it
// into a byte slice: a stack buffer takes it in pieces of a multiple of 4
// characters, which decode on their own.
func decodeBase64(dst []byte, src string) (int, bool) {
	if strings.IndexByte(src, '\n') >= 0 || strings.IndexByte(src, '\r') >= 0 { // which Decode skips: decode it whole
		n, err := base64.RawURLEncoding.Decode(dst, []byte(src))
		return n, err == nil
	}
	var piece [1024]byte
	n := 0
	for len(src) > 0 {
		k := copy(piece[:], src)
		m, err := base64.RawURLEncoding.Decode(dst[n:], piece[:k])
		if err != nil {
			return 0, false
		}
		n, src = n+m, src[k:]
	}
	return n, true
}

// sealJSON seals v as JSON.
func sealJSON(s *sealer, v any) string {
	raw, _ := json.Marshal(v)
	return s.seal(raw)
}

// openJSON opens a value sealed by sealJSON into v.
func openJSON(s *sealer, value string, v any) bool {
	plain, _, ok := s.open(value)
	return ok && json.Unmarshal(plain, v) == nil
}
