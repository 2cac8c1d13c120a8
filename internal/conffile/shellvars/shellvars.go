// Package shellvars edits shell-variable files such as
// /etc/sysconfig/iptables-config in memory.
//
// It is pure and does no I/O. A file is parsed into statements; an edit
// touches only the assignments of the keys it is asked about, and every
// other byte (comments, blank lines, other keys, shell code, CRLF, a missing
// final newline) is written back exactly as it was read. The init scripts
// source these files with `.`, so the grammar is the part of sh that such
// files use:
//
//   - blank lines and comments ('#' at the start of a word, so a
//     commented-out assignment "#IPTABLES_MODULES=..." is a comment);
//   - assignments: optional blanks, an optional "export ", NAME=word, then
//     optional blanks and an optional "# comment". The word is one shell
//     word: bare, "double-quoted", 'single-quoted' or a mix ("a"'b'c);
//   - anything else ("if", commands, "NAME=x cmd", "NAME=x; y",
//     "export NAME", "NAME=(array)") is kept verbatim and never touched.
//
// A statement ends at a newline outside quotes, $(...), `...` and ${...},
// and not escaped by a backslash. So a value may span lines ("a \<newline>
// b", or a newline inside quotes): such an assignment is owned as a whole,
// and a "NAME=value" line inside another statement's string is no
// assignment at all.
//
// Values are read the way sh reads them, except that expansions ($NAME,
// $(...), ${...}, `...`, $'...') are not evaluated but returned as written.
// Set writes only values that mean themselves inside double quotes (see
// ValidValue).
//
// Known limits, none of which the stock files come near: a CR before a
// newline (or at the very end of the file) is taken as part of the line
// ending, as the file's author meant, where sh would read it as part of the
// line; an assignment inside if, case, { } or a function counts like any
// other (one inside a subshell "( )" does not); a variable set by code
// ("A=1 B=2", read, eval) is not seen; here-documents and the ')' of a case
// pattern inside $(...) are not recognised.
package shellvars

import (
	"errors"
	"fmt"
	"strings"

	"github.com/conntrack-ops/terraform-provider-conntrack/internal/conffile/lineend"
)

// stmt is one statement: one physical line, or more when quotes or
// backslash-newlines carry it on.
type stmt struct {
	text string // content, inner newlines included, without the final line ending
	eol  string // "\n", "\r\n", "\r" (the file ends in CR), or ""

	// For assignments only: key is the variable name ("" otherwise) and
	// text[vs:ve] is the value word, quotes included.
	key    string
	vs, ve int

	// open: this is the last statement, and a line appended after it would
	// be part of it (see unterminated).
	open bool
}

// File is a parsed shell-variable file. Parse never fails: statements that
// are not assignments are kept verbatim. The zero value is an empty file.
type File struct {
	stmts []stmt
}

// Parse splits b into statements and recognises assignments. It never
// fails, and Bytes of the result is b.
func Parse(b []byte) *File {
	s := string(b) // copy: the File must not alias the caller's buffer
	f := &File{}
	for s != "" {
		var st stmt
		n, complete := lex(s, false)
		if n < len(s) { // s[n] is the newline that ends the statement
			st.text, st.eol, s = s[:n], "\n", s[n+1:]
		} else {
			st.text, s = s, ""
		}
		// A CR before the newline, or at the very end of the file, is (the
		// first half of) a CRLF line ending.
		if strings.HasSuffix(st.text, "\r") {
			st.text, st.eol = st.text[:len(st.text)-1], "\r"+st.eol
		}
		if complete {
			st.key, st.vs, st.ve = parseAssignment(st.text)
		}
		st.open = st.eol != "\n" && st.eol != "\r\n" && unterminated(st.text+st.eol)
		f.stmts = append(f.stmts, st)
	}
	return f
}

// unterminated reports whether the last statement of a file, raw, which
// has no final newline, would go on past a newline added after it: it ends
// inside quotes, say, or in a backslash.
func unterminated(raw string) bool {
	n, _ := lex(raw+"\n", false)
	return n != len(raw)
}

// Bytes renders the file. For an unedited File it returns exactly the bytes
// given to Parse.
func (f *File) Bytes() []byte {
	var sb strings.Builder
	for _, st := range f.stmts {
		sb.WriteString(st.text)
		sb.WriteString(st.eol)
	}
	return []byte(sb.String())
}

// metas end an unquoted word.
const metas = " \t\n;&|()<>"

// skipBlanks returns the index of the first byte from s[i] on that is not
// a blank or a backslash-newline (which joins lines: nothing was there).
func skipBlanks(s string, i int) int {
	for i < len(s) {
		switch {
		case s[i] == ' ' || s[i] == '\t':
			i++
		case strings.HasPrefix(s[i:], "\\\n"):
			i += 2
		default:
			return i
		}
	}
	return i
}

func isNameByte(c byte, first bool) bool {
	return c == '_' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || !first && c >= '0' && c <= '9'
}

// parseAssignment recognises `[blanks][export blanks]NAME=word[blanks][#...]`
// in a complete statement. It returns the name and the bounds of the value
// word, or key "" when the statement is anything else.
func parseAssignment(s string) (key string, vs, ve int) {
	i := skipBlanks(s, 0)
	if rest := s[i:]; strings.HasPrefix(rest, "export") && skipBlanks(rest, 6) > 6 {
		i = skipBlanks(s, i+len("export"))
	}
	j := i
	for j < len(s) && isNameByte(s[j], j == i) {
		j++
	}
	if j == i || j == len(s) || s[j] != '=' {
		return "", 0, 0
	}
	n, _ := lex(s[j+1:], true)
	if k := skipBlanks(s, j+1+n); k < len(s) && s[k] != '#' {
		return "", 0, 0 // "NAME=x cmd", "NAME=x; y", ...: not a plain assignment
	}
	return s[i:j], j + 1, j + 1 + n
}

// The lexer knows as much sh as it takes to tell where a word, a comment and
// a statement end. Its state is the stack of contexts open, innermost last:
//
//	'  single quotes    "  double quotes    `  backquotes
//	$  bash's $'...'    (  $(...) or ( )    {  ${...}
//
// The empty stack is the top level, where a newline ends the statement.

// closer is the byte that ends context c.
func closer(c byte) byte {
	switch c {
	case '$':
		return '\''
	case '(':
		return ')'
	case '{':
		return '}'
	}
	return c // quotes end with themselves
}

// step moves past the byte at s[i] (a backslash and the byte it escapes, if
// any, count as one) with the contexts ctx open, and returns the contexts
// open after it (appended to or resliced from ctx) and the next index.
func step(s string, i int, ctx []byte) ([]byte, int) {
	c, top := s[i], byte(0)
	if len(ctx) > 0 {
		top = ctx[len(ctx)-1]
	}
	switch {
	case top == '\'':
		if c == '\'' {
			return ctx[:len(ctx)-1], i + 1
		}
	case c == '\\':
		return ctx, min(i+2, len(s))
	case top != 0 && c == closer(top):
		return ctx[:len(ctx)-1], i + 1
	case top == '$' || top == '`':
		// only a backslash or the closer matters
	case c == '$' && i+1 < len(s) && (s[i+1] == '(' || s[i+1] == '{'):
		return append(ctx, s[i+1]), i + 2
	case c == '$' && i+1 < len(s) && s[i+1] == '\'' && top != '"':
		return append(ctx, '$'), i + 2
	case c == '`', c == '"' && top != '"', c == '\'' && top != '"', c == '(' && (top == 0 || top == '('):
		return append(ctx, c), i + 1
	}
	return ctx, i + 1
}

// lex scans s from the top level. It returns the index of the newline that
// ends the first statement (len(s) if none does), and whether the statement
// is complete there: false when s ends inside a quote, say. With word set,
// it reads one word from s[0] instead, and stops at the first
// metacharacter outside every context.
func lex(s string, word bool) (int, bool) {
	var ctx []byte
	start := !word // at the start of a word, where '#' begins a comment
	for i := 0; i < len(s); {
		c := s[i]
		if len(ctx) == 0 || ctx[len(ctx)-1] == '(' { // where words and comments are
			switch {
			case c == '\\' && i+1 < len(s) && s[i+1] == '\n':
				i += 2 // the lines are joined: nothing was here
				continue
			case len(ctx) == 0 && (c == '\n' || word && strings.IndexByte(metas, c) >= 0):
				return i, true
			case strings.IndexByte(metas, c) >= 0:
				ctx, i = step(s, i, ctx)
				start = true
				continue
			case c == '#' && start: // a comment runs to the end of the line
				if j := strings.IndexByte(s[i:], '\n'); j >= 0 {
					i += j
					continue
				}
				return len(s), len(ctx) == 0
			}
		}
		start = false
		ctx, i = step(s, i, ctx)
	}
	return len(s), len(ctx) == 0
}

// unquote performs sh's quote removal on a complete value word. Expansions
// are kept as written.
func unquote(w string) string {
	var b strings.Builder
	var ctx []byte
	for i := 0; i < len(w); {
		quoted := len(ctx) == 1 && (ctx[0] == '\'' || ctx[0] == '"') // in quotes, not in an expansion
		next, j := step(w, i, ctx)
		switch {
		case len(ctx) == 0 && len(next) == 1 && (w[i] == '\'' || w[i] == '"'), quoted && len(next) == 0:
			// an opening or closing quote: removed
		case w[i] == '\\' && j == i+2 && (len(ctx) == 0 || quoted && strings.IndexByte("$`\"\\\n", w[i+1]) >= 0):
			// an escape (in double quotes: only of these; single quotes have none)
			if w[i+1] != '\n' { // backslash-newline joins lines
				b.WriteByte(w[i+1])
			}
		default:
			b.WriteString(w[i:j])
		}
		ctx, i = next, j
	}
	return b.String()
}

// ValidKey reports whether k is a shell variable name, which Set may write:
// [A-Za-z_][A-Za-z0-9_]*. Uppercase is the convention, not a rule.
func ValidKey(k string) error {
	if k == "" {
		return errors.New("variable name is empty")
	}
	for i := 0; i < len(k); i++ {
		if !isNameByte(k[i], i == 0) {
			return fmt.Errorf("variable name %q: must match [A-Za-z_][A-Za-z0-9_]* (e.g. IPTABLES_MODULES)", k)
		}
	}
	return nil
}

// ValidValue reports whether v may be written by Set: a value that means
// itself inside double quotes, so no newline, CR, NUL, '"', '\', '$' or '`'.
// The empty value is allowed.
func ValidValue(v string) error {
	if i := strings.IndexAny(v, "\n\r\x00\"\\$`"); i >= 0 {
		return fmt.Errorf("value %q: must not contain %q (newline, CR, NUL, '\"', '\\', '$' and '`' are not allowed)", v, v[i])
	}
	return nil
}

// assigns reports whether st is an assignment of k. The empty key never
// matches, so comments and code are never owned.
func (st stmt) assigns(k string) bool { return st.key != "" && st.key == k }

// Get returns the value of the last assignment of key (sh runs the file top
// to bottom), with its quotes removed.
func (f *File) Get(key string) (value string, ok bool) {
	for _, st := range f.stmts {
		if st.assigns(key) {
			value, ok = unquote(st.text[st.vs:st.ve]), true
		}
	}
	return value, ok
}

// Set makes value the effective value of key. The first assignment is
// rewritten in place, replacing only the value word, so its indentation,
// "export ", trailing comment and line ending stay (a value that spanned
// lines now takes one); the word keeps its quoting: double, single (double
// if the value holds a '), or bare (double if the value needs quoting).
// Later assignments are removed: left in place they would override ours. If
// the key is absent, KEY="value" is appended with the file's line ending.
//
// Callers validate with ValidKey and ValidValue; given an invalid key or
// value Set leaves the file unchanged rather than write a line that means
// something else.
func (f *File) Set(key, value string) {
	if ValidKey(key) != nil || ValidValue(value) != nil {
		return
	}
	out := f.stmts[:0] // filter in place; we own f.stmts
	found := false
	for _, st := range f.stmts {
		if !st.assigns(key) {
			out = append(out, st)
			continue
		}
		if found {
			continue // later duplicate
		}
		found = true
		w := quote(value, st.text[st.vs:st.ve])
		st.text = st.text[:st.vs] + w + st.text[st.ve:]
		st.ve = st.vs + len(w)
		st.open = st.open && unterminated(st.text+st.eol)
		out = append(out, st)
	}
	clear(f.stmts[len(out):]) // drop references to removed statements
	f.stmts = out
	if !found {
		f.append(key, value)
	}
}

// append adds KEY="value" at the end, or, if the last statement would
// swallow a line appended after it, just before that one.
func (f *File) append(key, value string) {
	eol := f.dominantEOL()
	at := len(f.stmts)
	if at > 0 && f.stmts[at-1].open {
		at--
	} else if at > 0 {
		last := &f.stmts[at-1]
		switch last.eol {
		case "": // otherwise our line would join the last one
			last.eol = eol
		case "\r":
			last.eol = "\r\n"
		}
	}
	text := key + `="` + value + `"`
	st := stmt{text: text, eol: eol, key: key, vs: len(key) + 1, ve: len(text)}
	f.stmts = append(f.stmts[:at], append([]stmt{st}, f.stmts[at:]...)...)
}

// quote renders value as a word in the quoting style of the word old.
func quote(value, old string) string {
	switch {
	case strings.HasPrefix(old, "'") && !strings.Contains(value, "'"):
		return "'" + value + "'"
	case old == "" || !strings.ContainsAny(old[:1], `"'`):
		if isBare(value) {
			return value
		}
	}
	return `"` + value + `"`
}

// isBare reports whether v can be written unquoted and mean itself.
func isBare(v string) bool {
	for i := 0; i < len(v); i++ {
		if !isNameByte(v[i], false) && strings.IndexByte("@%+=:,./-", v[i]) < 0 {
			return false
		}
	}
	return true
}

// Delete removes every assignment of key and reports whether there was any.
// Commented-out assignments stay.
func (f *File) Delete(key string) bool {
	out := f.stmts[:0]
	for _, st := range f.stmts {
		if !st.assigns(key) {
			out = append(out, st)
		}
	}
	removed := len(out) < len(f.stmts)
	clear(f.stmts[len(out):])
	f.stmts = out
	return removed
}

// Keys returns the assigned variable names in order of first appearance,
// without duplicates.
func (f *File) Keys() []string {
	var keys []string
	seen := map[string]bool{}
	for _, st := range f.stmts {
		if st.key != "" && !seen[st.key] {
			seen[st.key] = true
			keys = append(keys, st.key)
		}
	}
	return keys
}

// dominantEOL is the line ending for added lines.
func (f *File) dominantEOL() string {
	return lineend.Dominant(f.stmts, func(l stmt) string { return l.eol })
}
