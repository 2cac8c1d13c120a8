// Package nftinclude edits the include lines of an nftables configuration
// (/etc/nftables.conf, /etc/sysconfig/nftables.conf): it adds or removes
// one `include "PATH"` line and keeps every other byte, line endings and a
// missing final newline included. It is pure: no I/O.
package nftinclude

import (
	"strings"

	"github.com/conntrack-ops/terraform-provider-conntrack/internal/conffile/lineend"
)

// Line is the include line of path, without its line ending. The path is
// one a caller validated (letters, digits and _ . + - /): it needs no
// escaping inside the quotes.
func Line(path string) string { return `include "` + path + `"` }

// line is one line of the file and the ending it had ("" for a last line
// without one).
type line struct{ text, eol string }

func split(content []byte) []line {
	var out []line
	for _, raw := range strings.SplitAfter(string(content), "\n") {
		if raw == "" {
			continue
		}
		switch {
		case strings.HasSuffix(raw, "\r\n"):
			out = append(out, line{raw[:len(raw)-2], "\r\n"})
		case strings.HasSuffix(raw, "\n"):
			out = append(out, line{raw[:len(raw)-1], "\n"})
		default:
			out = append(out, line{raw, ""})
		}
	}
	return out
}

// includes reports whether a line is an include of path: the statement
// alone on its line, blanks around it allowed, nothing after it but a
// comment. A commented-out include is not one.
func includes(text, path string) bool {
	t := strings.TrimSpace(text)
	rest, ok := strings.CutPrefix(t, Line(path))
	if !ok {
		return false
	}
	rest = strings.TrimSpace(rest)
	return rest == "" || rest == ";" || strings.HasPrefix(rest, "#")
}

// Has reports whether content includes path.
func Has(content []byte, path string) bool {
	for _, l := range split(content) {
		if includes(l.text, path) {
			return true
		}
	}
	return false
}

// Ensure returns content with an include of path at its end unless it has
// one already (then content itself). The new line takes the file's
// dominant line ending; a last line without an ending gets one first.
func Ensure(content []byte, path string) []byte {
	if Has(content, path) {
		return content
	}
	lines := split(content)
	eol := lineend.Dominant(lines, func(l line) string { return l.eol })
	out := string(content)
	if n := len(lines); n > 0 && lines[n-1].eol == "" {
		out += eol
	}
	return []byte(out + Line(path) + eol)
}

// Remove returns content without the include lines of path; every other
// byte stays.
func Remove(content []byte, path string) []byte {
	var b strings.Builder
	for _, l := range split(content) {
		if includes(l.text, path) {
			continue
		}
		b.WriteString(l.text + l.eol)
	}
	return []byte(b.String())
}
