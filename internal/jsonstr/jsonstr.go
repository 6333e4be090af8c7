// Package jsonstr writes JSON strings byte for byte as go-jose's json
// encoder does (an older encoding/json's escapes), or as log/slog's JSON
// handler does, without reflection or allocation beyond b's growth: the
// engine writes minted payloads and headers with it, oauthhttp its error
// bodies and the reference host its hottest log records.
package jsonstr

import "unicode/utf8"

const hexDigits = "0123456789abcdef"

// Append appends s to b as a JSON string. Control characters, quotes
// and backslashes are escaped; so are <, >, & and U+2028/U+2029, and
// invalid UTF-8 becomes U+FFFD.
func Append(b []byte, s string) []byte { return appendString(b, s, true) }

// AppendNoHTML is Append without escaping <, > and &: byte for byte how
// log/slog's JSON handler writes a string. (encoding/json with
// SetEscapeHTML(false) differs: it writes \b and \f where both of these
// write \u0008 and \u000c.)
func AppendNoHTML(b []byte, s string) []byte { return appendString(b, s, false) }

func appendString(b []byte, s string, html bool) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && (!html || c != '<' && c != '>' && c != '&') {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
