// Package iptables edits iptables-save / iptables-restore files
// (/etc/sysconfig/iptables, /etc/iptables/rules.v4 and rules.v6) in memory.
//
// It is pure and does no I/O. A file is parsed into lines; AddRule and
// DeleteRules touch only the rule lines they are asked about, and every other
// byte (other tables, chains and rules, comments anywhere, counters, blank
// lines, trailing whitespace, CRLF, a missing final newline) is written back
// exactly as it was read. That is what lets a resource share a ruleset file
// with its owner: we own the rules we add and nothing else.
//
// Lines are read the way iptables-restore (1.8) reads them:
//
//   - "#..." is a comment; blank lines are ignored;
//   - "*table" starts a table block and "COMMIT" ends it;
//   - ":CHAIN POLICY [pkts:bytes]" declares a chain (policy "-" for a user
//     chain; the counters may be missing);
//   - every other line inside a block is a command line, optionally prefixed
//     with "[pkts:bytes]" (iptables-save -c), split into arguments by
//     SplitArgs. A command line whose first argument is "-A CHAIN" (also
//     "--append CHAIN", "--append=CHAIN", "-ACHAIN") is a rule. Hand-written
//     files also hold "-I", "-P", "-N" and others: they are kept, never
//     owned; "-P" and "-N" are read by Policy and AddRule.
//
// Anything else, including lines iptables-restore would reject (a rule
// outside a table, an unterminated quote, a comment with leading spaces), is
// kept verbatim and never owned. A block without COMMIT (a broken file) runs
// to the next "*table" line or the end of the file.
//
// "\r\n" is treated as a line ending, so CRLF files keep CRLF and our edits
// match them; note that iptables-restore itself does not accept CR.
package iptables

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/conntrack-ops/terraform-provider-conntrack/internal/conffile/lineend"
)

// builtins are the built-in chains of each table, in the order iptables-save
// writes them. They exist without a ":CHAIN" line.
var builtins = map[string][]string{
	"raw":      {"PREROUTING", "OUTPUT"},
	"filter":   {"INPUT", "FORWARD", "OUTPUT"},
	"mangle":   {"PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"},
	"nat":      {"PREROUTING", "INPUT", "OUTPUT", "POSTROUTING"},
	"security": {"INPUT", "FORWARD", "OUTPUT"},
}

// maxChainLen is the longest chain name the kernel takes
// (XT_EXTENSION_MAXNAMELEN - 1).
const maxChainLen = 28

// line is one physical line of the file.
type line struct {
	text string // content, without the line ending
	eol  string // "\n", "\r\n", or "" for a final line without newline
}

// File is a parsed iptables-save file. Parse never fails: unknown lines are
// kept verbatim. The zero value is an empty file.
type File struct {
	lines []line
}

// Rule is one "-A CHAIN args..." line.
type Rule struct {
	Table string   // "raw", "filter", ...
	Chain string   // the chain appended to
	Args  []string // arguments after "-A CHAIN", quotes removed and escapes resolved; not the counters prefix
	Raw   string   // the line as in the file, without line ending
}

// Parse splits b into lines. It never fails, and Bytes gives b back.
func Parse(b []byte) *File {
	s := string(b) // copy: the File must not alias the caller's buffer
	f := &File{}
	for s != "" {
		var l line
		if i := strings.IndexByte(s, '\n'); i >= 0 {
			l, s = line{s[:i], "\n"}, s[i+1:]
			if strings.HasSuffix(l.text, "\r") {
				l = line{l.text[:len(l.text)-1], "\r\n"}
			}
		} else {
			l, s = line{text: s}, ""
		}
		f.lines = append(f.lines, l)
	}
	return f
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

// block is one "*table ... COMMIT" section, as indexes into File.lines.
type block struct {
	table  string
	head   int // the "*table" line
	commit int // the COMMIT line, or -1 when the block has none
	end    int // one past its last line
}

// blocks finds the table blocks in file order.
func (f *File) blocks() []block {
	var bs []block
	open := false
	for i, l := range f.lines {
		if name, ok := tableName(l.text); ok {
			if open {
				bs[len(bs)-1].end = i
			}
			bs = append(bs, block{table: name, head: i, commit: -1, end: len(f.lines)})
			open = true
		} else if open && isCommit(l.text) {
			bs[len(bs)-1].commit, bs[len(bs)-1].end = i, i+1
			open = false
		}
	}
	return bs
}

// tableName reads a "*table" line; like iptables-restore it takes the first
// word after the '*'.
func tableName(text string) (string, bool) {
	if !strings.HasPrefix(text, "*") {
		return "", false
	}
	w := fields(text[1:])
	if len(w) == 0 {
		return "", false
	}
	return w[0], true
}

// isCommit reports whether text is a COMMIT line. Trailing blanks are
// allowed: iptables-restore rejects "COMMIT " but a hand-edited file meant
// it, and treating it as the end keeps our rules inside the block.
func isCommit(text string) bool { return strings.TrimRight(text, " \t") == "COMMIT" }

// chainDecl reads a ":CHAIN POLICY [pkts:bytes]" line.
func chainDecl(text string) (chain, policy string, ok bool) {
	if !strings.HasPrefix(text, ":") {
		return "", "", false
	}
	w := fields(text[1:])
	if len(w) == 0 {
		return "", "", false
	}
	if len(w) > 1 {
		policy = w[1]
	}
	return w[0], policy, true
}

// command returns the arguments of a command line (one that is neither
// blank, comment, "*table", ":CHAIN" nor COMMIT), without the "[pkts:bytes]"
// prefix, or nil.
func command(text string) []string {
	if text == "" || strings.ContainsRune("#*:", rune(text[0])) || isCommit(text) {
		return nil
	}
	if text[0] == '[' { // iptables-restore takes everything up to the first ']' as counters
		i := strings.IndexByte(text, ']')
		if i < 0 {
			return nil
		}
		text = text[i+1:]
	}
	args, err := SplitArgs(text)
	if err != nil {
		return nil
	}
	return args
}

// option matches the first argument against a command option that takes a
// value, in the spellings getopt accepts ("-A X", "-AX", "--append X",
// "--append=X"), and returns the value and the arguments after it.
func option(args []string, short, long string) (value string, rest []string, ok bool) {
	if len(args) == 0 {
		return "", nil, false
	}
	switch a := args[0]; {
	case a == short || a == long:
		if len(args) < 2 {
			return "", nil, false
		}
		return args[1], args[2:], true
	case strings.HasPrefix(a, long+"="):
		return a[len(long)+1:], args[1:], true
	case len(a) > len(short) && strings.HasPrefix(a, short):
		return a[len(short):], args[1:], true
	}
	return "", nil, false
}

// rule reads line i as a rule of table, if it is one.
func (f *File) rule(table string, i int) (Rule, bool) {
	text := f.lines[i].text
	chain, args, ok := option(command(text), "-A", "--append")
	if !ok {
		return Rule{}, false
	}
	return Rule{Table: table, Chain: chain, Args: args, Raw: text}, true
}

// Tables returns the names of the tables in file order, each once.
func (f *File) Tables() []string {
	var names []string
	for _, b := range f.blocks() {
		if !slices.Contains(names, b.table) {
			names = append(names, b.table)
		}
	}
	return names
}

// Rules returns every rule of table in file order. When a table has several
// blocks, the rules of all of them are returned (iptables-restore flushes the
// table at each block, so only the last block's rules stay in force).
func (f *File) Rules(table string) []Rule {
	var rules []Rule
	for _, b := range f.blocks() {
		if b.table != table {
			continue
		}
		for i := b.head + 1; i < b.end; i++ {
			if r, ok := f.rule(table, i); ok {
				rules = append(rules, r)
			}
		}
	}
	return rules
}

// Policy returns the policy of chain in table as the file sets it: from its
// ":CHAIN POLICY" line, or from a later "-P CHAIN POLICY" line, the last one
// winning. A user chain's policy is "-".
func (f *File) Policy(table, chain string) (policy string, ok bool) {
	for _, b := range f.blocks() {
		if b.table != table {
			continue
		}
		for _, l := range f.lines[b.head+1 : b.end] {
			if c, p, isDecl := chainDecl(l.text); isDecl && c == chain && p != "" {
				policy, ok = p, true
			} else if c, rest, isP := option(command(l.text), "-P", "--policy"); isP && c == chain && len(rest) > 0 {
				policy, ok = rest[0], true
			}
		}
	}
	return policy, ok
}

// ValidRule reports whether AddRule can write the rule: table is one whose
// built-in chains this package knows (raw, filter, mangle, nat, security);
// chain is 1 to 28 printable ASCII characters without spaces or quotes and
// does not start with '-' or '!'; no arg holds CR, LF or NUL, which cannot be
// written on one line.
func ValidRule(table, chain string, args []string) error {
	if _, ok := builtins[table]; !ok {
		return fmt.Errorf("iptables table %q: must be one of raw, filter, mangle, nat, security", table)
	}
	if chain == "" {
		return errors.New("iptables chain name is empty")
	}
	if len(chain) > maxChainLen {
		return fmt.Errorf("iptables chain %q: longer than %d characters", chain, maxChainLen)
	}
	if chain[0] == '-' || chain[0] == '!' {
		return fmt.Errorf("iptables chain %q: must not start with %q", chain, chain[0])
	}
	for _, c := range []byte(chain) {
		if c <= ' ' || c >= 0x7f || c == '"' {
			return fmt.Errorf("iptables chain %q: character %q is not allowed", chain, c)
		}
	}
	for _, a := range args {
		if strings.ContainsAny(a, "\r\n\x00") {
			return fmt.Errorf("iptables argument %q: must not contain CR, LF or NUL", a)
		}
	}
	return nil
}

// AddRule appends "-A chain args..." as the last rule of table: just before
// the COMMIT of the table's last block (the one in force), with args rendered
// by FormatArgs. If that block neither declares chain (":chain" or "-N
// chain") nor has it built in, ":chain - [0:0]" is added after the block's
// last ":" line (or its "*table" line if it has none). If the file has no such table, a block is appended at the
// end of the file:
//
//	*raw
//	:PREROUTING ACCEPT [0:0]
//	:OUTPUT ACCEPT [0:0]
//	-A ...
//	COMMIT
//
// A block without COMMIT (a broken file) gets the rule after its last line
// that is neither blank nor a comment; it is not repaired.
//
// New lines use the file's line ending (the most common one, LF on a tie or
// an empty file); a final line without one gets one before a line is added
// after it. If ValidRule rejects the input, AddRule returns its error and
// leaves the file alone: plan-time validation should have refused the value,
// but a provider never panics on input.
func (f *File) AddRule(table, chain string, args []string) error {
	return f.add("AddRule", table, chain, args, false)
}

// InsertRule is AddRule, except that the rule goes first among chain's
// rules: just before the first rule of chain in the table's last block, or
// where AddRule would put it if chain has none there. It is written as an
// "-A" line too, so Rules lists it and DeleteRules removes it. (A
// hand-written "-I chain" line elsewhere in the block still ends up before it
// when the file is restored.)
func (f *File) InsertRule(table, chain string, args []string) error {
	return f.add("InsertRule", table, chain, args, true)
}

func (f *File) add(caller, table, chain string, args []string, first bool) error {
	if err := ValidRule(table, chain, args); err != nil {
		return fmt.Errorf("iptables.%s: %w", caller, err)
	}
	eol := f.dominantEOL()
	rule := "-A " + chain
	if len(args) > 0 {
		rule += " " + FormatArgs(args)
	}
	decl := ":" + chain + " - [0:0]"
	builtin := slices.Contains(builtins[table], chain)

	var last *block
	bs := f.blocks()
	for i := range bs {
		if bs[i].table == table {
			last = &bs[i]
		}
	}
	if last == nil {
		texts := []string{"*" + table}
		for _, c := range builtins[table] {
			texts = append(texts, ":"+c+" ACCEPT [0:0]")
		}
		if !builtin {
			texts = append(texts, decl)
		}
		f.insert(len(f.lines), eol, append(texts, rule, "COMMIT")...)
		return nil
	}

	at, lastDecl, declared, firstRule := last.commit, last.head, builtin, -1
	if at < 0 {
		at = last.head + 1
	}
	for i := last.head + 1; i < last.end; i++ {
		text := f.lines[i].text
		if c, _, ok := chainDecl(text); ok {
			lastDecl = i
			declared = declared || c == chain
		} else if c, _, ok := option(command(text), "-N", "--new-chain"); ok && c == chain {
			declared = true
		} else if r, ok := f.rule(table, i); ok && r.Chain == chain && firstRule < 0 {
			firstRule = i
		}
		if last.commit < 0 && strings.TrimLeft(text, " \t") != "" && text[0] != '#' {
			at = i + 1 // no COMMIT: after the last line that is not blank or a comment
		}
	}
	if first && firstRule >= 0 {
		at = firstRule
	}
	if !declared {
		f.insert(lastDecl+1, eol, decl)
		if at > lastDecl {
			at++ // the rule goes after the declaration
		}
	}
	f.insert(at, eol, rule)
	return nil
}

// DeleteRules removes every rule line of table for which match returns true,
// and returns how many it removed. Chain declarations and blocks stay, also
// those AddRule created: an empty chain or block is harmless and may be
// someone else's.
func (f *File) DeleteRules(table string, match func(Rule) bool) int {
	drop := map[int]bool{}
	for _, b := range f.blocks() {
		if b.table != table {
			continue
		}
		for i := b.head + 1; i < b.end; i++ {
			if r, ok := f.rule(table, i); ok && match(r) {
				drop[i] = true
			}
		}
	}
	if len(drop) == 0 {
		return 0
	}
	out := f.lines[:0] // filter in place; we own f.lines
	for i, l := range f.lines {
		if !drop[i] {
			out = append(out, l)
		}
	}
	clear(f.lines[len(out):])
	f.lines = out
	return len(drop)
}

// insert puts new lines with line ending eol before index at.
func (f *File) insert(at int, eol string, texts ...string) {
	if at == len(f.lines) && at > 0 && f.lines[at-1].eol == "" {
		f.lines[at-1].eol = eol // otherwise our first line would join the last one
	}
	ls := make([]line, len(texts))
	for i, t := range texts {
		ls[i] = line{t, eol}
	}
	f.lines = slices.Insert(f.lines, at, ls...)
}

// dominantEOL is the line ending for added lines.
func (f *File) dominantEOL() string {
	return lineend.Dominant(f.lines, func(l line) string { return l.eol })
}

// fields splits s at runs of spaces and tabs, as strtok(s, " \t\n") does in
// iptables-restore.
func fields(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == ' ' || r == '\t' })
}

// SplitArgs splits a command line into arguments exactly as iptables-restore
// 1.8 does: spaces, tabs and newlines separate; a double quote opens a quoted
// part (also in the middle of a word: a"b c" is `ab c`), inside which
// whitespace is kept and a backslash makes the next character literal (\" is
// a quote, \\ a backslash); the closing quote ends the argument, so "" is an
// empty argument and "a"b is two. Outside quotes a backslash is an ordinary
// character. An unterminated quote is an error, as it is for the tool.
func SplitArgs(s string) ([]string, error) {
	var args []string
	var cur strings.Builder
	inQuote, escaped := false, false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case escaped:
			cur.WriteByte(c)
			escaped = false
		case inQuote && c == '\\':
			escaped = true
		case inQuote && c == '"':
			inQuote = false
			args = append(args, cur.String())
			cur.Reset()
		case inQuote:
			cur.WriteByte(c)
		case c == '"':
			inQuote = true
		case c == ' ' || c == '\t' || c == '\n':
			if cur.Len() > 0 {
				args = append(args, cur.String())
				cur.Reset()
			}
		default:
			cur.WriteByte(c)
		}
	}
	if inQuote {
		return nil, fmt.Errorf("unterminated quote in %q", s)
	}
	if cur.Len() > 0 {
		args = append(args, cur.String())
	}
	return args, nil
}

var quoteEscaper = strings.NewReplacer(`\`, `\\`, `"`, `\"`)

// FormatArgs renders args for a rule line the way AddRule writes them: joined
// by single spaces; an arg that is empty or holds a space, tab, newline or
// double quote is put in double quotes, with '"' and '\' inside escaped by a
// backslash (as iptables-save writes comments). Everything else is written as
// is, so "10.0.0.0/8" and "RELATED,ESTABLISHED" stay readable.
// SplitArgs(FormatArgs(args)) equals args for every args.
func FormatArgs(args []string) string {
	out := make([]string, len(args))
	for i, a := range args {
		if a != "" && !strings.ContainsAny(a, " \t\n\"") {
			out[i] = a
			continue
		}
		out[i] = `"` + quoteEscaper.Replace(a) + `"`
	}
	return strings.Join(out, " ")
}
