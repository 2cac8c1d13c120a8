// Package sysctl edits sysctl.conf and sysctl.d files in memory.
//
// It is pure and does no I/O. A file is parsed into lines; an edit touches
// only the assignment lines of the keys it is asked about, and every other
// byte (comments, blank lines, other keys, odd spacing, CRLF, a missing final
// newline) is written back exactly as it was read. This is what lets a
// resource share /etc/sysctl.conf with its owner: we own the keys we declare
// and nothing else.
//
// The line grammar follows what procps sysctl(8) and systemd-sysctl read:
//
//   - blank and whitespace-only lines;
//   - comments: the first non-blank character is '#' or ';';
//   - assignments: "key = value", with optional whitespace around key, '='
//     and value. The key may use '.' or '/' as separator and may carry a
//     leading '-' (systemd: ignore a failure to set it). The value is the
//     rest of the line, trimmed; it may contain spaces ("1024 65000"), and
//     neither tool strips an inline "# ..." from it, so neither do we;
//   - anything else (no '=', or nothing before it, such as systemd's
//     "-key" glob exclusion line) is kept verbatim and never touched.
package sysctl

import (
	"errors"
	"fmt"
	"strings"

	"github.com/conntrack-ops/terraform-provider-conntrack/internal/conffile/lineend"
)

// ws is the whitespace C's isspace() knows in the C locale, which is what
// procps trims with. Using one set everywhere keeps Get, Set and ValidValue
// in agreement about where a value starts and ends.
const ws = " \t\n\v\f\r"

// line is one physical line of the file.
type line struct {
	text string // content, without the line ending
	eol  string // "\n", "\r\n", or "" for a final line without newline

	// For assignment lines only: key is the normalized key ("" otherwise)
	// and text[vs:ve] is the trimmed value.
	key    string
	vs, ve int
}

// assigns reports whether l is an assignment of the normalized key k. The
// empty key never matches, so comments and blank lines are never owned.
func (l line) assigns(k string) bool { return l.key != "" && l.key == k }

// File is a parsed sysctl.conf. Parse never fails: unknown lines are kept
// verbatim. The zero value is an empty file.
type File struct {
	lines []line
}

// Parse splits b into lines and recognises assignments. It never fails.
func Parse(b []byte) *File {
	s := string(b) // copy: the File must not alias the caller's buffer
	f := &File{}
	for s != "" {
		var text, eol string
		if i := strings.IndexByte(s, '\n'); i >= 0 {
			text, eol, s = s[:i], "\n", s[i+1:]
			if strings.HasSuffix(text, "\r") {
				text, eol = text[:len(text)-1], "\r\n"
			}
		} else {
			text, s = s, ""
		}
		f.lines = append(f.lines, parseLine(text, eol))
	}
	return f
}

func parseLine(text, eol string) line {
	l := line{text: text, eol: eol}
	t := strings.TrimLeft(text, ws)
	if t == "" || t[0] == '#' || t[0] == ';' {
		return l
	}
	eq := strings.IndexByte(text, '=')
	if eq < 0 {
		return l
	}
	key := NormalizeKey(text[:eq])
	if key == "" {
		return l
	}
	after := text[eq+1:]
	l.key = key
	l.vs = eq + 1 + len(after) - len(strings.TrimLeft(after, ws))
	l.ve = max(eq+1+len(strings.TrimRight(after, ws)), l.vs) // empty value: ve == vs
	return l
}

// Bytes renders the file. For an unedited File it returns exactly the bytes
// given to Parse.
func (f *File) Bytes() []byte {
	var sb strings.Builder
	for _, l := range f.lines {
		sb.WriteString(l.text)
		sb.WriteString(l.eol)
	}
	return []byte(sb.String())
}

// NormalizeKey returns the canonical dotted form of a sysctl key: surrounding
// whitespace trimmed, one leading '-' (systemd's "ignore errors" prefix)
// removed, and slashes turned into dots.
//
// As in procps and sysctl.d(5), when the first separator is '/' the key is
// in path form and '/' and '.' are swapped, not just '/' replaced: a dot in
// path form belongs to a name, e.g. the VLAN interface in
// "net/ipv4/conf/eth0.100/rp_filter", whose dotted form is
// "net.ipv4.conf.eth0/100.rp_filter".
func NormalizeKey(k string) string {
	k = strings.Trim(k, ws)
	k = strings.Trim(strings.TrimPrefix(k, "-"), ws)
	i := strings.IndexAny(k, "./")
	if i < 0 || k[i] == '.' {
		return k
	}
	b := []byte(k)
	for j, c := range b {
		switch c {
		case '/':
			b[j] = '.'
		case '.':
			b[j] = '/'
		}
	}
	return string(b)
}

// ValidKey reports whether k may be written by Set: only [A-Za-z0-9_./-],
// no whitespace or '=', separators neither leading, trailing nor doubled,
// and not starting with '-' once the one optional '-' prefix is removed.
// Globs ('*') are rejected: a resource manages concrete keys.
func ValidKey(k string) error {
	if k == "" {
		return errors.New("sysctl key is empty")
	}
	for _, c := range []byte(k) {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
			c == '_' || c == '.' || c == '/' || c == '-'
		if !ok {
			return fmt.Errorf("sysctl key %q: character %q is not allowed (use letters, digits, '_', '-', '.' or '/')", k, c)
		}
	}
	body := strings.TrimPrefix(k, "-")
	if strings.HasPrefix(body, "-") {
		return fmt.Errorf("sysctl key %q: only one leading '-' is allowed", k)
	}
	// An empty name between separators (leading, trailing or doubled) is
	// something procps warns about; it would name another /proc/sys path
	// than the one meant.
	parts := strings.Split(strings.ReplaceAll(body, "/", "."), ".")
	for _, p := range parts {
		if p == "" {
			return fmt.Errorf("sysctl key %q: empty name between separators", k)
		}
	}
	return nil
}

// ValidValue reports whether v may be written by Set: not blank, and no
// CR, LF or NUL, which would end the line early or corrupt the file.
func ValidValue(v string) error {
	if strings.ContainsAny(v, "\r\n\x00") {
		return fmt.Errorf("sysctl value %q: must not contain CR, LF or NUL", v)
	}
	if strings.Trim(v, ws) == "" {
		return errors.New("sysctl value is empty")
	}
	return nil
}

// Get returns the effective value of key: that of its last assignment,
// because sysctl applies a file top to bottom.
func (f *File) Get(key string) (value string, ok bool) {
	k := NormalizeKey(key)
	for _, l := range f.lines {
		if l.assigns(k) {
			value, ok = l.text[l.vs:l.ve], true
		}
	}
	return value, ok
}

// Set makes value the effective value of key (both validated by the caller;
// value is trimmed). The first assignment is rewritten in place, changing
// only the value bytes, so its key spelling, '-' prefix, spacing, trailing
// whitespace and line ending stay as the file's author wrote them. Later
// assignments are removed: left in place they would override ours. If the
// key is absent, "key = value" is appended in dotted form.
func (f *File) Set(key, value string) {
	k, v := NormalizeKey(key), strings.Trim(value, ws)
	if k == "" {
		return // not a key; nothing can own it
	}
	out := f.lines[:0] // filter in place; we own f.lines
	found := false
	for _, l := range f.lines {
		if !l.assigns(k) {
			out = append(out, l)
			continue
		}
		if found {
			continue // later duplicate
		}
		found = true
		l.text = l.text[:l.vs] + v + l.text[l.ve:]
		l.ve = l.vs + len(v)
		out = append(out, l)
	}
	clear(f.lines[len(out):]) // drop references to removed lines
	f.lines = out
	if found {
		return
	}
	eol := f.dominantEOL()
	if n := len(f.lines); n > 0 && f.lines[n-1].eol == "" {
		f.lines[n-1].eol = eol // otherwise our line would join the last one
	}
	text := k + " = " + v
	f.lines = append(f.lines, line{text: text, eol: eol, key: k, vs: len(k) + 3, ve: len(text)})
}

// Delete removes every assignment line of key and reports whether there was
// any. Comments about the key, and systemd's value-less "-key" lines, stay.
func (f *File) Delete(key string) bool {
	k := NormalizeKey(key)
	out := f.lines[:0]
	for _, l := range f.lines {
		if !l.assigns(k) {
			out = append(out, l)
		}
	}
	removed := len(out) < len(f.lines)
	clear(f.lines[len(out):])
	f.lines = out
	return removed
}

// Keys returns the normalized keys assigned in the file, in order of first
// appearance, without duplicates. Glob keys ("net.ipv4.conf.*.rp_filter")
// are returned as written; they are distinct keys to this package.
func (f *File) Keys() []string {
	var keys []string
	seen := map[string]bool{}
	for _, l := range f.lines {
		if l.key != "" && !seen[l.key] {
			seen[l.key] = true
			keys = append(keys, l.key)
		}
	}
	return keys
}

// dominantEOL is the line ending for added lines.
func (f *File) dominantEOL() string {
	return lineend.Dominant(f.lines, func(l line) string { return l.eol })
}
