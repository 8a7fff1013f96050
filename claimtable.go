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
	"encoding/binary"
	"encoding/json"
	"maps"
	"slices"
	"strconv"
	"strings"
	"unsafe"
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

// appendGUIDText appends the canonical text of 16 GUID bytes.
func appendGUIDText(b []byte, raw string) []byte {
	var text [guidTextSize]byte
	putGUIDText(text[:], raw)
	return append(b, text[:]...)
}

// putGUIDText writes the canonical text of 16 GUID bytes at the start of
// dst, eight hex digits at a time.
func putGUIDText(dst []byte, raw string) {
	_, _ = dst[guidTextSize-1], raw[guidSize-1]
	a, b, c, d := hex8(raw[0:4]), hex8(raw[4:8]), hex8(raw[8:12]), hex8(raw[12:16])
	binary.BigEndian.PutUint64(dst[0:], a)
	dst[8] = '-'
	binary.BigEndian.PutUint32(dst[9:], uint32(b>>32))
	dst[13] = '-'
	binary.BigEndian.PutUint32(dst[14:], uint32(b))
	dst[18] = '-'
	binary.BigEndian.PutUint32(dst[19:], uint32(c>>32))
	dst[23] = '-'
	binary.BigEndian.PutUint32(dst[24:], uint32(c))
	binary.BigEndian.PutUint64(dst[28:], d)
}

// hex8 is the lower-case hex text of four bytes, as eight bytes of a
// big-endian uint64: each nibble spread to its own byte, then turned into
// its digit in every byte at once.
func hex8(s string) uint64 {
	x := uint64(s[0])<<24 | uint64(s[1])<<16 | uint64(s[2])<<8 | uint64(s[3])
	x = (x | x<<16) & 0x0000ffff0000ffff
	x = (x | x<<8) & 0x00ff00ff00ff00ff
	x = (x | x<<4) & 0x0f0f0f0f0f0f0f0f
	letters := (x + 0x0606060606060606) >> 4 & 0x0101010101010101 // 1 where the nibble is over 9
	return x + 0x3030303030303030 + letters*('a'-'0'-10)
}

// guidListText is the text of a GUID list: its GUIDs comma-separated, in
// one allocation.
func guidListText(body string) string {
	n := len(body) / guidSize
	if n == 0 {
		return ""
	}
	b := make([]byte, n*(guidTextSize+1)-1)
	for i := range n {
		at := i * (guidTextSize + 1)
		putGUIDText(b[at:], body[i*guidSize:])
		if i+1 < n {
			b[at+guidTextSize] = ','
		}
	}
	return unsafe.String(unsafe.SliceData(b), len(b))
}

// guidListHolds tells whether a GUID list holds one of values, comparing
// bytes: no value is rendered.
func guidListHolds(body string, values []string) bool {
	for _, v := range values {
		if !isGUID(v) {
			continue
		}
		var raw [guidSize]byte
		appendGUID(raw[:0], v)
		for i := 0; i+guidSize <= len(body); i += guidSize {
			if body[i:i+guidSize] == string(raw[:]) {
				return true
			}
		}
	}
	return false
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
func findClaim(table, name string) (claimRef, bool) {
	for t := table; t != ""; {
		key, rest, ok := readBody(t)
		if !ok {
			break
		}
		var v claimRef
		if v, t, ok = readClaimValue(rest); !ok {
			break
		}
		if key == name {
			return v, true
		}
	}
	return claimRef{}, false
}

// eachClaim calls f with every claim of a table, in order.
func eachClaim(table string, f func(name string, v claimRef)) {
	for t := table; t != ""; {
		key, rest, ok := readBody(t)
		if !ok {
			return
		}
		var v claimRef
		if v, t, ok = readClaimValue(rest); !ok {
			return
		}
		f(key, v)
	}
}

// items calls f with every item of a list value, and stops when f returns
// false.
func (c claimRef) items(f func(item claimRef) bool) {
	switch c.kind {
	case claimStringList:
		for s, more := c.body, true; more; {
			var item string
			item, s, more = strings.Cut(s, ",")
			if !f(claimRef{kind: claimString, body: item}) {
				return
			}
		}
	case claimGUIDList:
		for i := 0; i+guidSize <= len(c.body); i += guidSize {
			if !f(claimRef{kind: claimGUID, body: c.body[i : i+guidSize]}) {
				return
			}
		}
	case claimList:
		for t := c.body; t != ""; {
			item, rest, ok := readClaimValue(t)
			if !ok || !f(item) {
				return
			}
			t = rest
		}
	}
}

// text is the claim's placeholder text, as claimText renders the decoded
// value: a slice of the table, or one allocation for a GUID list or a
// mixed list.
func (c claimRef) text() string {
	switch c.kind {
	case claimString, claimNumber, claimObject, claimStringList:
		return c.body
	case claimTrue:
		return "true"
	case claimFalse:
		return "false"
	case claimGUIDList:
		return guidListText(c.body)
	case claimList, claimGUID:
		b := c.appendText(make([]byte, 0, c.textLen(0)), 0)
		return unsafe.String(unsafe.SliceData(b), len(b))
	}
	return ""
}

// textLen is the length of the claim's text (0 beyond maxClaimDepth).
func (c claimRef) textLen(depth int) int {
	switch {
	case c.kind == claimGUID:
		return guidTextSize
	case c.kind == claimGUIDList:
		if n := len(c.body) / guidSize; n > 0 {
			return n*(guidTextSize+1) - 1
		}
		return 0
	case c.kind == claimList:
		if depth >= maxClaimDepth {
			return 0
		}
		n, first := 0, true
		c.items(func(item claimRef) bool {
			if !first {
				n++
			}
			first = false
			n += item.textLen(depth + 1)
			return true
		})
		return n
	}
	return len(c.text())
}

// appendText appends the claim's text (nothing beyond maxClaimDepth).
func (c claimRef) appendText(b []byte, depth int) []byte {
	switch {
	case c.kind == claimGUID:
		return appendGUIDText(b, c.body)
	case c.kind == claimGUIDList:
		return append(b, guidListText(c.body)...)
	case c.kind == claimList && depth >= maxClaimDepth:
		return b
	case c.kind == claimList:
		first := true
		c.items(func(item claimRef) bool {
			if !first {
				b = append(b, ',')
			}
			first = false
			b = item.appendText(b, depth+1)
			return true
		})
		return b
	}
	return append(b, c.text()...)
}

// holds tells whether the claim, or one item of a list claim, is one of
// values, as claimHolds does on the decoded value.
func (c claimRef) holds(values []string) bool {
	return c.holdsAt(values, 0)
}

func (c claimRef) holdsAt(values []string, depth int) bool {
	switch {
	case c.kind == claimGUID:
		var text [guidTextSize]byte
		putGUIDText(text[:], c.body)
		for _, v := range values {
			if string(text[:]) == v {
				return true
			}
		}
		return false
	case c.kind == claimGUIDList:
		return guidListHolds(c.body, values)
	case c.kind == claimStringList || c.kind == claimList:
		found := false
		if depth < maxClaimDepth {
			c.items(func(item claimRef) bool {
				found = item.holdsAt(values, depth+1)
				return !found
			})
		}
		return found
	case c.kind == claimNull || c.kind == claimObject:
		return false
	}
	return slices.Contains(values, c.text())
}

// value is the claim decoded as encoding/json decodes it into an any.
func (c claimRef) value() any {
	return c.valueAt(0)
}

func (c claimRef) valueAt(depth int) any {
	switch {
	case c.kind == claimGUID:
		return string(appendGUIDText(make([]byte, 0, guidTextSize), c.body))
	case c.kind == claimString:
		return c.body
	case c.kind == claimNumber:
		f, _ := strconv.ParseFloat(c.body, 64)
		return f
	case c.kind == claimTrue:
		return true
	case c.kind == claimFalse:
		return false
	case c.kind == claimObject:
		var v any
		_ = json.Unmarshal([]byte(c.body), &v)
		return v
	case c.kind == claimStringList || c.kind == claimGUIDList || c.kind == claimList:
		list := []any{}
		if depth < maxClaimDepth {
			c.items(func(item claimRef) bool {
				list = append(list, item.valueAt(depth+1))
				return true
			})
		}
		return list
	}
	return nil
}
