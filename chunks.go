package stauth

import (
	"net/http"
	"strconv"
	"strings"
)

// Cookie size limits: a browser keeps about 4096 bytes per cookie (name and
// attributes included), and Caddy refuses request headers over 16 KB.
const (
	chunkSize     = 3800
	maxChunks     = 2
	maxReadChunks = 8
)

// scanCookies calls fn for each cookie of the request, in order, without
// allocating; fn returns false to stop.
func scanCookies(h http.Header, fn func(name, value string) bool) {
	for _, line := range h["Cookie"] {
		for part := range strings.SplitSeq(line, ";") {
			name, value, _ := strings.Cut(strings.TrimSpace(part), "=")
			if len(value) > 1 && value[0] == '"' && value[len(value)-1] == '"' {
				value = value[1 : len(value)-1]
			}
			if name != "" && !fn(name, value) {
				return
			}
		}
	}
}

// cookieValue returns the first value of the named cookie.
func cookieValue(h http.Header, name string) (value string, found bool) {
	scanCookies(h, func(n, v string) bool {
		if n == name {
			value, found = v, true
		}
		return !found
	})
	return value, found
}

// chunkIndex tells which part of the cookie base name is: 0 for the whole
// cookie, 1… for chunks, -1 for another cookie.
func chunkIndex(base, name string) int {
	if !strings.HasPrefix(name, base) {
		return -1
	}
	rest := name[len(base):]
	if rest == "" {
		return 0
	}
	if len(rest) < 2 || rest[0] != '_' {
		return -1
	}
	n, err := strconv.Atoi(rest[1:])
	if err != nil || n < 1 || n > maxReadChunks {
		return -1
	}
	return n
}

// chunkedValue returns the value of cookie base from the request: the whole
// cookie, or its chunks joined in order.
func chunkedValue(h http.Header, base string) string {
	var parts [maxReadChunks + 1]string
	scanCookies(h, func(name, value string) bool {
		if i := chunkIndex(base, name); i >= 0 && parts[i] == "" {
			parts[i] = value
		}
		return true
	})
	if parts[0] != "" {
		return parts[0]
	}
	n := 1
	for n <= maxReadChunks && parts[n] != "" {
		n++
	}
	return strings.Join(parts[1:n], "")
}

// chunkNames names the cookies that hold a value of size bytes: base alone,
// or base_1, base_2… when it is too large for one cookie.
func chunkNames(base string, size int) []string {
	if size <= chunkSize {
		return []string{base}
	}
	var names []string
	for i := 1; (i-1)*chunkSize < size; i++ {
		names = append(names, base+"_"+strconv.Itoa(i))
	}
	return names
}
