// Package modprobe edits /etc/modprobe.d/*.conf files in memory.
//
// It is pure and does no I/O. A file is parsed into logical lines; an edit
// touches only the options, blacklist and install lines of the module (and,
// for options, the parameter) it is asked about, and every other byte is
// written back exactly as it was read. That is what lets a resource share a
// modprobe.d file with its owner: we own what we declare and nothing else.
//
// The grammar is the one kmod's libkmod-config.c reads:
//
//   - A backslash escapes the byte after it. Before a newline that joins the
//     next physical line onto this one with nothing in between; before any
//     other byte kmod drops the backslash and keeps the byte. So a line that
//     ends in an even number of backslashes is NOT continued, and neither is
//     one ending in "\\\r\n" (CRLF file): there the backslash escapes the \r.
//   - Joining happens before anything else, so a comment that ends in a
//     backslash swallows the next physical line too.
//   - Fields are separated by runs of spaces and tabs. The first field is the
//     command; only "options", "blacklist" and "install" are edited, every
//     other line (comments, blank lines, alias, remove, softdep, unknown
//     words, leading-whitespace "  # comments") is kept verbatim. A line is
//     a comment for kmod only when '#' is its very first byte, but a '#'
//     field after blanks is no command either, so both stay untouched.
//   - Module names compare with '-' and '_' equal (kmod's underscores()),
//     and so do parameter names (the kernel's parameq()).
//   - The arguments of an options line are split the way the kernel's
//     next_arg() splits them: blanks separate, double quotes protect blanks,
//     and the quotes are not part of the value.
//
// CRLF: kmod knows only "\n" and reads the "\r" as part of the line, so in
// a CRLF file "blacklist m\r" names a module "m\r" and an install command
// ends in a stray "\r" (options survive: the kernel splits at "\r"). We
// treat "\r\n" as the line ending its author meant and keep it, also on
// lines we add, because the file's line endings are not ours to change.
//
// Semantics: modprobe passes every options line of a module in file order,
// so the last occurrence of a parameter wins; it runs only the first install
// line of a module.
//
// The setters expect input that passed the Valid* functions (callers
// validate at plan time). Given invalid input they leave the file unchanged
// rather than write a line that means something else, so a read-back after
// apply catches it.
package modprobe

import (
	"fmt"
	"strings"

	"github.com/conntrack-ops/terraform-provider-conntrack/internal/conffile/lineend"
)

// line is one logical line: one physical line, or several joined by
// backslash-newline continuations.
type line struct {
	raw  string // exact bytes, continuations and line ending included
	eol  string // "\n", "\r\n", or "" for a last line without one
	text string // what kmod reads: continuations joined, escapes resolved, eol dropped

	// Parsed fields of text (kmod's strtok on " \t"): the command word,
	// the module with '-' folded to '_', and where the arguments after the
	// module start (len(text) if there are none).
	cmd, mod string
	args     int
}

// File is a parsed modprobe.d file. The zero value is an empty file.
type File struct {
	lines []line
}

// Parse splits b into logical lines. It never fails.
func Parse(b []byte) *File {
	s := string(b) // copy: the File must not alias the caller's buffer
	f := &File{}
	for s != "" {
		n := logicalLen(s)
		f.lines = append(f.lines, newLine(s[:n]))
		s = s[n:]
	}
	return f
}

// Bytes renders the file. For an unedited File it returns exactly the bytes
// that were parsed.
func (f *File) Bytes() []byte {
	var b strings.Builder
	for _, l := range f.lines {
		b.WriteString(l.raw)
	}
	return []byte(b.String())
}

// logicalLen is the length of the first logical line of s, line ending
// included: it ends at the first newline that no backslash escapes.
func logicalLen(s string) int {
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++ // the escaped byte, a newline included, does not end the line
		case '\n':
			return i + 1
		}
	}
	return len(s)
}

func newLine(raw string) line {
	l := line{raw: raw}
	switch {
	case strings.HasSuffix(raw, "\r\n"):
		l.eol = "\r\n"
	case strings.HasSuffix(raw, "\n"):
		l.eol = "\n"
	}
	body := raw[:len(raw)-len(l.eol)]
	if l.eol == "" {
		// A CR at end of file is half a CRLF: appending a newline later
		// completes it, and the line must mean the same before and after.
		body = strings.TrimSuffix(body, "\r")
	}
	l.text = unescape(body)
	var end int
	l.cmd, end = field(l.text, 0)
	l.mod, end = field(l.text, end)
	l.mod = fold(l.mod)
	l.args = skipBlanks(l.text, end)
	return l
}

// unescape does what kmod's freadline_wrapped does to a logical line:
// backslash-newline vanishes, any other backslash is dropped and the byte
// after it kept, and a backslash at the very end of the file is dropped.
func unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' {
			i++
			if i == len(s) || s[i] == '\n' {
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// escape is the inverse of unescape for text without newlines: rewritten
// lines must mean to kmod exactly what their text says.
func escape(s string) string { return strings.ReplaceAll(s, `\`, `\\`) }

// withText returns l rewritten as the single physical line text. The line
// ending is kept; continuations, if any, are gone (the line is owned now).
func (l line) withText(text string) line { return newLine(escape(text) + l.eol) }

func isBlank(c byte) bool { return c == ' ' || c == '\t' }

func skipBlanks(s string, i int) int {
	for i < len(s) && isBlank(s[i]) {
		i++
	}
	return i
}

// field returns the next blank-separated field of s at or after i, and
// where it ends.
func field(s string, i int) (string, int) {
	i = skipBlanks(s, i)
	j := i
	for j < len(s) && !isBlank(s[j]) {
		j++
	}
	return s[i:j], j
}

// fold makes names that modprobe (modules) or the kernel (parameters)
// treat as equal compare equal.
func fold(s string) string { return strings.ReplaceAll(s, "-", "_") }

func (l line) is(cmd, module string) bool {
	return l.cmd == cmd && l.mod != "" && l.mod == fold(module)
}

// installCmd returns the command of an install line of module. kmod ignores
// an install line without a command, and so do we.
func (l line) installCmd(module string) (string, bool) {
	if !l.is("install", module) {
		return "", false
	}
	c := strings.TrimRight(l.text[l.args:], " \t")
	return c, c != ""
}

// param is one argument of an options line: text[start:end].
type param struct {
	start, end int
	name, val  string
}

// params splits the arguments of an options line like the kernel's
// next_arg(). The kernel's isspace() also counts \v, \f, \r and 0xA0.
// Quotes are matched within one line only: an unbalanced quote would make
// the kernel read on into the module's next options line, which we do not
// model.
func (l line) params() []param {
	space := func(c byte) bool { return strings.IndexByte(" \t\n\v\f\r\xa0", c) >= 0 }
	var ps []param
	s := l.text
	for i := l.args; ; {
		for i < len(s) && space(s[i]) {
			i++
		}
		if i == len(s) {
			return ps
		}
		start, quoted := i, false
		for ; i < len(s) && (quoted || !space(s[i])); i++ {
			if s[i] == '"' {
				quoted = !quoted
			}
		}
		p := param{start: start, end: i}
		p.name, p.val = splitParam(s[start:i])
		ps = append(ps, p)
	}
}

// splitParam splits `name=value`, `"name=value with blanks"`,
// `name="value"` or a bare `name` and drops the quotes, like next_arg().
func splitParam(tok string) (name, val string) {
	quoted := strings.HasPrefix(tok, `"`)
	if quoted {
		tok = tok[1:]
	}
	name, val, eq := strings.Cut(tok, "=")
	if eq && strings.HasPrefix(val, `"`) {
		val, quoted = val[1:], true
	}
	if quoted && eq {
		val = strings.TrimSuffix(val, `"`)
	} else if quoted {
		name = strings.TrimSuffix(name, `"`)
	}
	return name, val
}

// Option returns the effective value of param for module: its last
// occurrence over all options lines of module. A bare flag ("options m
// debug") has the value "".
func (f *File) Option(module, param string) (value string, ok bool) {
	for _, l := range f.lines {
		if !l.is("options", module) {
			continue
		}
		for _, p := range l.params() {
			if fold(p.name) == fold(param) {
				value, ok = p.val, true
			}
		}
	}
	return value, ok
}

// SetOption makes value the effective value of param for module: the first
// occurrence is rewritten in place, every later one removed (a line left
// without params is dropped); with no occurrence, "options MODULE
// param=value" is appended.
func (f *File) SetOption(module, param, value string) {
	if ValidModuleName(module) != nil || ValidParam(param) != nil || ValidValue(value) != nil {
		return
	}
	tok, found := param+"="+value, false
	f.editOptions(module, param, func() string {
		if found {
			return ""
		}
		found = true
		return tok
	})
	if !found {
		f.appendLine("options " + module + " " + tok)
	}
}

// DeleteOption removes param from every options line of module, dropping
// lines left without params, and reports whether anything changed.
func (f *File) DeleteOption(module, param string) bool {
	return f.editOptions(module, param, func() string { return "" })
}

// editOptions replaces each occurrence of param on the options lines of
// module, in file order, by what repl returns ("" removes it). Other params
// and the blanks before them are kept. It reports whether bytes changed.
func (f *File) editOptions(module, param string, repl func() string) bool {
	changed := false
	f.retain(func(l *line) bool {
		if !l.is("options", module) {
			return true
		}
		ps := l.params()
		toks := make([]string, len(ps))
		edited, kept := false, 0
		for i, p := range ps {
			toks[i] = l.text[p.start:p.end]
			if fold(p.name) == fold(param) {
				if r := repl(); r != toks[i] {
					toks[i], edited = r, true
				}
			}
			if toks[i] != "" {
				kept++
			}
		}
		if !edited {
			return true
		}
		changed = true
		if kept == 0 {
			return false // nothing left for modprobe to pass: drop the line
		}
		// Keyword, module and the blanks up to the first param stay as they
		// are, so do the blanks before each surviving param and after the
		// last one. The first survivor takes the first param's place, whose
		// leading blank is a space or tab as kmod requires after the module.
		var b strings.Builder
		b.WriteString(l.text[:ps[0].start])
		n := 0
		for i, p := range ps {
			if toks[i] == "" {
				continue
			}
			if n > 0 {
				b.WriteString(l.text[ps[i-1].end:p.start])
			}
			b.WriteString(toks[i])
			n++
		}
		b.WriteString(l.text[ps[len(ps)-1].end:])
		*l = l.withText(b.String())
		return true
	})
	return changed
}

// Blacklisted reports whether a "blacklist MODULE" line exists.
func (f *File) Blacklisted(module string) bool {
	for _, l := range f.lines {
		if l.is("blacklist", module) {
			return true
		}
	}
	return false
}

// SetBlacklist appends "blacklist MODULE" unless one exists (on), or removes
// every blacklist line of module (off). It reports whether anything changed.
func (f *File) SetBlacklist(module string, on bool) bool {
	if !on {
		return f.retain(func(l *line) bool { return !l.is("blacklist", module) })
	}
	if f.Blacklisted(module) || ValidModuleName(module) != nil {
		return false
	}
	f.appendLine("blacklist " + module)
	return true
}

// Install returns the command of the first install line of module, which is
// the one modprobe runs: continuations joined, surrounding blanks trimmed.
func (f *File) Install(module string) (command string, ok bool) {
	for _, l := range f.lines {
		if c, ok := l.installCmd(module); ok {
			return c, true
		}
	}
	return "", false
}

// SetInstall makes command the install command of module: it rewrites the
// first install line (unless it already runs command) and removes the later
// ones, or appends "install MODULE command".
func (f *File) SetInstall(module, command string) {
	if ValidModuleName(module) != nil || ValidCommand(command) != nil {
		return
	}
	found := false
	f.retain(func(l *line) bool {
		c, ok := l.installCmd(module)
		switch {
		case !ok:
			return true
		case found:
			return false
		}
		found = true
		if c != command {
			*l = l.withText(l.text[:l.args] + command)
		}
		return true
	})
	if !found {
		f.appendLine("install " + module + " " + command)
	}
}

// DeleteInstall removes every install line of module and reports whether
// there was one.
func (f *File) DeleteInstall(module string) bool {
	return f.retain(func(l *line) bool {
		_, ok := l.installCmd(module)
		return !ok
	})
}

// retain keeps the lines for which keep returns true (keep may rewrite the
// line) and reports whether any was dropped.
func (f *File) retain(keep func(*line) bool) bool {
	out := f.lines[:0]
	for _, l := range f.lines {
		if keep(&l) {
			out = append(out, l)
		}
	}
	dropped := len(out) < len(f.lines)
	f.lines = out
	return dropped
}

// appendLine adds text as a new last line, ended like most lines of the file.
func (f *File) appendLine(text string) {
	eol := lineend.Dominant(f.lines, func(l line) string { return l.eol })
	if n := len(f.lines); n > 0 && f.lines[n-1].eol == "" {
		// The last line has no line ending; give it one, so that it means
		// what it meant. A CR there is half a CRLF: complete it. A lone
		// backslash (kmod drops it at end of file) would continue the line
		// onto ours, so continue it onto an empty physical line first.
		raw := f.lines[n-1].raw
		if trailing := len(raw) - len(strings.TrimRight(raw, `\`)); trailing%2 == 1 {
			raw += "\n"
		}
		if strings.HasSuffix(raw, "\r") {
			raw += "\n"
		} else {
			raw += eol
		}
		f.lines[n-1] = newLine(raw)
	}
	f.lines = append(f.lines, newLine(escape(text)+eol))
}

// ValidModuleName accepts module names as modprobe spells them: 1 to 64 of
// [A-Za-z0-9_-] ('-' and '_' are the same to modprobe), not starting with
// '-' (modprobe and the service scripts would take it for an option). Glob
// patterns, which modprobe.d allows, are not names we own.
func ValidModuleName(m string) error {
	if m == "" || len(m) > 64 {
		return fmt.Errorf("module name %q: must be 1 to 64 characters", m)
	}
	if m[0] == '-' {
		return fmt.Errorf("module name %q: must not start with '-'", m)
	}
	for _, c := range []byte(m) {
		if !isWordByte(c) && c != '-' {
			return fmt.Errorf("module name %q: invalid character %q (allowed: A-Z a-z 0-9 _ -)", m, c)
		}
	}
	return nil
}

// ValidParam accepts module parameter names: [A-Za-z0-9_]+.
func ValidParam(p string) error {
	if p == "" {
		return fmt.Errorf("module parameter name is empty")
	}
	for _, c := range []byte(p) {
		if !isWordByte(c) {
			return fmt.Errorf("module parameter %q: invalid character %q (allowed: A-Z a-z 0-9 _)", p, c)
		}
	}
	return nil
}

func isWordByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_'
}

// ValidValue accepts a parameter value that needs no quoting: non-empty
// printable ASCII without blanks, quotes, backslash or '#'. ASCII only,
// because the kernel's isspace() also splits at byte 0xA0, which UTF-8
// uses inside characters such as "à".
func ValidValue(v string) error {
	if v == "" {
		return fmt.Errorf("module parameter value is empty")
	}
	for _, c := range []byte(v) {
		if c <= ' ' || c >= 0x7f || strings.IndexByte("\"'\\#", c) >= 0 {
			return fmt.Errorf("module parameter value %q: invalid character %q (no whitespace, quotes, backslash, '#' or non-ASCII)", v, c)
		}
	}
	return nil
}

// ValidCommand accepts an install command that survives a round trip
// through the file: non-empty, no leading or trailing blanks (Install trims
// them), no control characters (a newline would end the line). Backslashes
// are fine: SetInstall escapes them.
func ValidCommand(c string) error {
	if strings.TrimSpace(c) != c || c == "" {
		return fmt.Errorf("install command %q: must be non-empty without leading or trailing whitespace", c)
	}
	for _, r := range c {
		if r < ' ' || r == 0x7f {
			return fmt.Errorf("install command %q: control character %q", c, r)
		}
	}
	return nil
}
