package stauth

// The claims table: how a session keeps its claims (every claim but sub,
// email and email_verified), so that a placeholder or an allow_claim rule
// reads one claim without decoding the others (issue 15).
//
// The table is a sequence of entries sorted by name, each
//
//	uvarint(len(name)) name kind [uvarint(len(body))] body
//
// where the kind says how the value is kept, so that its placeholder text is
// mostly a slice of the table itself:
//
//   - claimString, claimNumber: the text (a number as claimText renders it);
//   - claimTrue, claimFalse, claimNull: no body;
//   - claimObject: the JSON text, which is also its placeholder text;
//   - claimStringList: a list of strings none of which holds a comma, kept
//     comma-joined, which is its placeholder text;
//   - claimGUIDList: a list of lower-case GUIDs (Entra's groups), kept as 16
//     bytes each, rendered in one allocation;
//   - claimList: any other list, its items encoded as values (a kind and a
//     body) one after another, rendered in one allocation.
//
// Looking a claim up skips from entry to entry by their lengths. The table
// comes out of a sealed payload, but it is read defensively all the same: a
// malformed table ends where it stops making sense, and nothing panics.

import (
	"encoding/json"
	"maps"
	"slices"
	"strconv"
	"strings"
)

// Kinds of claim values in the table.
const (
	claimString byte = iota + 1
	claimNumber
	claimTrue
	claimFalse
	claimNull
	claimObject
	claimStringList
	claimGUIDList
	claimList
	// claimGUID is one item of a claimGUIDList, as items yields it: its 16
	// bytes. It never appears in a table.
	claimGUID
)

// maxClaimDepth bounds lists nested in lists: deeper lists are kept as JSON.
const maxClaimDepth = 16

// guidSize is a GUID's length in bytes and as text.
const (
	guidSize     = 16
	guidTextSize = 36
)

// claimRef is one claim value in a table: its kind and its body, which
// shares the table's memory.
type claimRef struct {
	kind byte
	body string
}

// appendClaimTable appends the table of claims, which are what encoding/json
// decodes into an any: strings, float64, bools, nil, []any and maps.
func appendClaimTable(b []byte, claims map[string]any) []byte {
	for _, name := range slices.Sorted(maps.Keys(claims)) {
		b = appendBody(b, name)
		b = appendClaimValue(b, claims[name], 0)
	}
	return b
}

// appendClaimValue appends one value: its kind and body.
func appendClaimValue(b []byte, v any, depth int) []byte {
	switch v := v.(type) {
	case string:
		return appendBody(append(b, claimString), v)
	case float64:
		return appendBody(append(b, claimNumber), strconv.FormatFloat(v, 'f', -1, 64))
	case bool:
		if v {
			return append(b, claimTrue)
		}
		return append(b, claimFalse)
	case nil:
		return append(b, claimNull)
	case []any:
		if depth < maxClaimDepth {
			return appendList(b, v, depth)
		}
	}
	raw, _ := json.Marshal(v)
	return appendBody(append(b, claimObject), string(raw))
}

// appendList appends a list in the most compact kind that holds it.
func appendList(b []byte, list []any, depth int) []byte {
	if kind := listKind(list); kind == claimGUIDList {
		b = append(b, claimGUIDList)
		b = appendUvarint(b, uint64(len(list)*guidSize))
		for _, item := range list {
			b = appendGUID(b, item.(string))
		}
		return b
	} else if kind == claimStringList {
		b = append(b, claimStringList)
		n := len(list) - 1
		for _, item := range list {
			n += len(item.(string))
		}
		b = appendUvarint(b, uint64(n))
		for i, item := range list {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, item.(string)...)
		}
		return b
	}
	var items []byte
	for _, item := range list {
		items = appendClaimValue(items, item, depth+1)
	}
	return appendBody(append(b, claimList), string(items))
}

// listKind tells how a list is best kept: claimGUIDList when every item is
// a lower-case GUID, claimStringList when every item is a string without a
// comma, claimList otherwise (and for an empty list).
func listKind(list []any) byte {
	if len(list) == 0 {
		return claimList
	}
	guids, strs := true, true
	for _, item := range list {
		s, ok := item.(string)
		if !ok {
			return claimList
		}
		guids = guids && isGUID(s)
		strs = strs && !strings.Contains(s, ",")
	}
	switch {
	case guids:
		return claimGUIDList
	case strs:
		return claimStringList
	}
	return claimList
}

// isGUID tells whether s is a GUID in lower-case canonical text, which
// formatGUID gives back exactly.
func isGUID(s string) bool {
	if len(s) != guidTextSize {
		return false
	}
	for i := range len(s) {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
				return false
			}
		}
	}
	return true
}

// appendGUID appends the 16 bytes of a GUID checked by isGUID.
func appendGUID(b []byte, s string) []byte {
	for i := 0; i < len(s); i += 2 {
		if s[i] == '-' {
			i++
		}
		b = append(b, unhex(s[i])<<4|unhex(s[i+1]))
	}
	return b
}

func unhex(c byte) byte {
	if c <= '9' {
		return c - '0'
	}
	return c - 'a' + 10
}

// appendBody appends a length-prefixed string.
func appendBody(b []byte, s string) []byte {
	return append(appendUvarint(b, uint64(len(s))), s...)
}

func appendUvarint(b []byte, v uint64) []byte {
	for v >= 0x80 {
		b = append(b, byte(v)|0x80)
		v >>= 7
	}
	return append(b, byte(v))
}

// readUvarint reads a uvarint at the start of t: its value and length, or
// a length of 0 when t does not start with one.
func readUvarint(t string) (uint64, int) {
	var v uint64
	for i := 0; i < len(t) && i < 10; i++ {
		c := t[i]
		v |= uint64(c&0x7f) << (7 * i)
		if c < 0x80 {
			return v, i + 1
		}
	}
	return 0, 0
}

// readBody reads a length-prefixed string at the start of t, and the rest.
func readBody(t string) (body, rest string, ok bool) {
	if t != "" && t[0] < 0x80 { // most bodies are shorter than 128 bytes
		if n := int(t[0]); n < len(t) {
			return t[1 : 1+n], t[1+n:], true
		}
		return "", "", false
	}
	n, w := readUvarint(t)
	if w == 0 || n > uint64(len(t)-w) {
		return "", "", false
	}
	return t[w : w+int(n)], t[w+int(n):], true
}

// readClaimValue reads one value at the start of t, and the rest.
func readClaimValue(t string) (claimRef, string, bool) {
	if t == "" {
		return claimRef{}, "", false
	}
	kind := t[0]
	switch kind {
	case claimTrue, claimFalse, claimNull:
		return claimRef{kind: kind}, t[1:], true
	case claimString, claimNumber, claimObject, claimStringList, claimGUIDList, claimList:
		body, rest, ok := readBody(t[1:])
		if !ok || (kind == claimGUIDList && len(body)%guidSize != 0) {
			return claimRef{}, "", false
		}
		return claimRef{kind: kind, body: body}, rest, true
	}
	return claimRef{}, "", false
}

// findClaim returns the value of the claim name in a table.
func findClaim(table, name string) (found claimRef, ok bool) {
	eachClaim(table, func(key string, v claimRef) bool {
		if key == name {
			found, ok = v, true
		}
		return !ok
	})
	return found, ok
}

// eachClaim calls f with every claim of a table, in order, until f returns
// false.
func eachClaim(table string, f func(name string, v claimRef) bool) {
	for t := table; t != ""; {
		key, rest, ok := readBody(t)
		if !ok {
			return
		}
		var v claimRef
		if v, t, ok = readClaimValue(rest); !ok || !f(key, v) {
			return
		}
	}
}
