package stauth

import (
	"reflect"
	"strconv"
	"testing"
)

func googleClaims() map[string]any {
	return map[string]any{
		"iss": "https://accounts.google.com", "azp": "123.apps.googleusercontent.com", "aud": "123.apps.googleusercontent.com",
		"sub": "110169484474386276334", "email": "jane@example.com", "email_verified": true, "at_hash": "HK6E_P6Dh8Y93mRNtsDB1Q",
		"nonce": "abc", "name": "Jane Doe", "picture": "https://lh3.googleusercontent.com/a/photo", "given_name": "Jane",
		"family_name": "Doe", "iat": 1700000000.0, "exp": 1700003600.0, "hd": "example.com",
	}
}

func TestSessionEncodeDecode(t *testing.T) {
	in := &session{provider: "google", expires: 1800000000, accessExpires: 1700003600, idToken: "id.token.x", accessToken: "access", refreshToken: "refresh"}
	if err := in.setClaims(googleClaims()); err != nil {
		t.Fatal(err)
	}
	out, ok := decodeSession(in.encode())
	if !ok {
		t.Fatal("decode failed")
	}
	if out.provider != "google" || out.expires != 1800000000 || out.accessExpires != 1700003600 || out.sub != "110169484474386276334" ||
		out.email != "jane@example.com" || out.emailVerified != "true" || out.idToken != "id.token.x" || out.accessToken != "access" || out.refreshToken != "refresh" {
		t.Fatalf("decoded session differs: %+v", out)
	}
	claims := out.allClaims()
	want := googleClaims()
	for _, dropped := range droppedClaims {
		delete(want, dropped)
	}
	if !reflect.DeepEqual(claims, want) {
		t.Fatalf("claims after a round trip:\n%v\nwant\n%v", claims, want)
	}
}

func TestSessionLargeClaimsAreDeflated(t *testing.T) {
	claims := googleClaims()
	groups := make([]any, 50)
	for i := range groups {
		groups[i] = "group-" + strconv.Itoa(i) + "-2b1f4a7e-5c3d-4e8f-9a0b-1c2d3e4f5a6b"
	}
	claims["groups"] = groups
	s := &session{provider: "entra", expires: 1800000000}
	if err := s.setClaims(claims); err != nil {
		t.Fatal(err)
	}
	if !s.claimsDeflated {
		t.Fatal("a large claim set was not deflated")
	}
	out, _ := decodeSession(s.encode())
	if got := out.allClaims()["groups"]; !reflect.DeepEqual(got, groups) {
		t.Fatalf("groups after deflate round trip: %v", got)
	}
}

func TestDecodeSessionRefusesMalformed(t *testing.T) {
	good := (&session{provider: "p", sub: "s", expires: 9}).encode()
	cases := map[string][]byte{
		"empty":          nil,
		"wrong format":   append([]byte{sessionFormat + 1}, good[1:]...),
		"truncated":      good[:len(good)-1],
		"trailing bytes": append(append([]byte(nil), good...), 0),
		"huge length":    append(good[:4], 0xff, 0xff, 0xff, 0xff, 0x0f),
	}
	for name, b := range cases {
		if _, ok := decodeSession(b); ok {
			t.Errorf("%s: decoded", name)
		}
	}
}
