package jsonscan

import "bytes"

// maxDepth bounds nesting, as encoding/json's does; deeper text is
// reported invalid rather than recursed into.
const maxDepth = 10000

// Members calls f with each member of the JSON object data in order: the
// key's text between its quotes, and the raw text of its value. It
// returns false when data is not exactly one valid JSON object (space
// around it allowed), when a key holds an escape (the caller cannot
// compare it as written), or as soon as f returns false.
func Members(data []byte, f func(key, value []byte) bool) bool {
	return walk(data, '}', f)
}

// Elements calls f with the raw text of each element of the JSON array
// data in order. It returns false when data is not exactly one valid JSON
// array (space around it allowed), or as soon as f returns false.
func Elements(data []byte, f func(value []byte) bool) bool {
	return walk(data, ']', func(_, v []byte) bool { return f(v) })
}

// walk is Members for closer '}' and Elements for ']'.
func walk(data []byte, closer byte, f func(key, value []byte) bool) bool {
	i := skipSpace(data, 0)
	if i == len(data) || data[i] != closer-2 { // '{' is '}'-2, '[' is ']'-2
		return false
	}
	end := containerEnd(data, i, 1, closer, f)
	return end >= 0 && skipSpace(data, end) == len(data)
}

// Valid reports whether data is one valid JSON value, space around it
// allowed: json.Valid's answer.
func Valid(data []byte) bool {
	i := skipSpace(data, 0)
	end := valueEnd(data, i, 0)
	return end >= 0 && skipSpace(data, end) == len(data)
}

// PlainString returns the string a raw JSON string value stands for when
// it is written plainly: ASCII without escapes. Otherwise ok is false
// (an escape, other UTF-8 that encoding/json would check, or not a string).
func PlainString(raw []byte) (s string, ok bool) {
	if len(raw) < 2 || raw[0] != '"' || raw[len(raw)-1] != '"' {
		return "", false
	}
	body := raw[1 : len(raw)-1]
	for _, c := range body {
		if c == '\\' || c == '"' || c < 0x20 || c >= 0x80 {
			return "", false
		}
	}
	return string(body), true
}

func skipSpace(data []byte, i int) int {
	for i < len(data) {
		switch data[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// valueEnd returns the index just past the JSON value starting at
// data[i], or -1 if there is no valid value there. depth is the nesting
// of the value's container.
func valueEnd(data []byte, i, depth int) int {
	if i >= len(data) {
		return -1
	}
	switch c := data[i]; {
	case c == '"':
		return stringEnd(data, i)
	case c == '{':
		return containerEnd(data, i, depth+1, '}', nil)
	case c == '[':
		return containerEnd(data, i, depth+1, ']', nil)
	case c == 't':
		return literalEnd(data, i, "true")
	case c == 'f':
		return literalEnd(data, i, "false")
	case c == 'n':
		return literalEnd(data, i, "null")
	case c == '-' || c >= '0' && c <= '9':
		return numberEnd(data, i)
	}
	return -1
}

// containerEnd scans the object or array opening at data[i], calling f
// (when not nil) with each member or element; a key with an escape then
// fails the scan.
func containerEnd(data []byte, i, depth int, closer byte, f func(key, value []byte) bool) int {
	if depth > maxDepth {
		return -1
	}
	i = skipSpace(data, i+1)
	if i < len(data) && data[i] == closer {
		return i + 1
	}
	for {
		var key []byte
		if closer == '}' {
			if i >= len(data) || data[i] != '"' {
				return -1
			}
			kend := stringEnd(data, i)
			if kend < 0 {
				return -1
			}
			key = data[i+1 : kend-1]
			if f != nil && bytes.IndexByte(key, '\\') >= 0 {
				return -1
			}
			i = skipSpace(data, kend)
			if i >= len(data) || data[i] != ':' {
				return -1
			}
			i = skipSpace(data, i+1)
		}
		vend := valueEnd(data, i, depth)
		if vend < 0 || f != nil && !f(key, data[i:vend]) {
			return -1
		}
		i = skipSpace(data, vend)
		if i >= len(data) {
			return -1
		}
		switch data[i] {
		case ',':
			i = skipSpace(data, i+1)
		case closer:
			return i + 1
		default:
			return -1
		}
	}
}

// stringEnd scans the string opening at data[i] (a quote).
func stringEnd(data []byte, i int) int {
	for i++; i < len(data); i++ {
		switch c := data[i]; {
		case c == '"':
			return i + 1
		case c < 0x20:
			return -1
		case c == '\\':
			i++
			if i >= len(data) {
				return -1
			}
			switch data[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if i+4 >= len(data) {
					return -1
				}
				for _, h := range data[i+1 : i+5] {
					if !isHex(h) {
						return -1
					}
				}
				i += 4
			default:
				return -1
			}
		}
	}
	return -1
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

func literalEnd(data []byte, i int, lit string) int {
	if len(data)-i < len(lit) || string(data[i:i+len(lit)]) != lit {
		return -1
	}
	return i + len(lit)
}

// numberEnd scans -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func numberEnd(data []byte, i int) int {
	if data[i] == '-' {
		i++
	}
	switch {
	case i < len(data) && data[i] == '0':
		i++
	case i < len(data) && data[i] >= '1' && data[i] <= '9':
		i = digitsEnd(data, i)
	default:
		return -1
	}
	if i < len(data) && data[i] == '.' {
		j := digitsEnd(data, i+1)
		if j == i+1 {
			return -1
		}
		i = j
	}
	if i < len(data) && (data[i] == 'e' || data[i] == 'E') {
		i++
		if i < len(data) && (data[i] == '+' || data[i] == '-') {
			i++
		}
		j := digitsEnd(data, i)
		if j == i {
			return -1
		}
		i = j
	}
	return i
}

func digitsEnd(data []byte, i int) int {
	for i < len(data) && data[i] >= '0' && data[i] <= '9' {
		i++
	}
	return i
}
