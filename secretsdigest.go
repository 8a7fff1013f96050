package stauth

import (
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"os"
)

// digestInfo is the HKDF info of the secrets digest's key.
const digestInfo = "stauth secrets.toml digest"

// secretsDigest is the digest the Caddyfile adapter writes as secrets_digest,
// so that an edit to secrets.toml changes the adapted config and `caddy
// reload` applies it instead of answering that the config is unchanged.
//
// It is HMAC-SHA256 of the file's bytes keyed from cookie_secret's Argon2id
// master key (the cookies' own, cached per process). The adapted config is
// less guarded than secrets.toml (caddy adapt's output is pasted into bug
// reports; the admin API answers it), and a plain SHA-256 of the file would
// let whoever sees it test guesses at a weak secret at hash speed, given the
// rest of the file; a hash under a fixed key would be no better. Under a
// key from the Argon2id master key, each guess costs what a guess against a
// sealed session cookie costs, and a cookie_secret with the randomness
// checkCookieSecret asks for makes guessing hopeless: the digest tells
// nothing a session cookie does not.
func secretsDigest(path, cookieSecret string) (string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", readError(path, err)
	}
	key, err := hkdf.Key(sha256.New, masterKey(cookieSecret), nil, digestInfo, 32)
	if err != nil {
		return "", err
	}
	mac := hmac.New(sha256.New, key)
	mac.Write(data)
	return hex.EncodeToString(mac.Sum(nil)), nil
}
