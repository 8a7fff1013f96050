package stauth

// Reading the values of the claims table (claimtable.go): a claim's
// placeholder text, whether it holds one of an allow_claim rule's values,
// and its decoded value for the user JSON, each from the table's bytes.

import (
	"encoding/binary"
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"unsafe"
)

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
		return appendGUIDListText(b, c.body)
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

// appendGUIDListText appends the text of a GUID list.
func appendGUIDListText(b []byte, body string) []byte {
	for i := 0; i+guidSize <= len(body); i += guidSize {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendGUIDText(b, body[i:i+guidSize])
	}
	return b
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
