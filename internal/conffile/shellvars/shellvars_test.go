package shellvars

import (
	"bytes"
	"reflect"
	"testing"

	"github.com/conntrack-ops/terraform-provider-conntrack/internal/conffile/corpus"
)

func corpusFiles(tb testing.TB) []corpus.File { return corpus.Load(tb, 6) }

// others returns every statement that does not assign one of keys, in
// order: the part of the file an edit of keys must not change.
func others(f *File, keys ...string) []stmt {
	var out []stmt
	for _, st := range f.stmts {
		owned := false
		for _, k := range keys {
			owned = owned || st.assigns(k)
		}
		if !owned {
			out = append(out, stmt{text: st.text, eol: st.eol})
		}
	}
	return out
}

// sameOthers checks that the non-owned statements are the same sequence,
// byte for byte. The one change allowed: a last statement that no newline
// ends gets one when a line is appended after it (otherwise the two would
// merge).
func sameOthers(tb testing.TB, before, after []stmt) {
	tb.Helper()
	if len(before) != len(after) {
		tb.Fatalf("non-owned statements: %d before, %d after\nbefore %+v\nafter  %+v", len(before), len(after), before, after)
	}
	for i, b := range before {
		a := after[i]
		if a == b {
			continue
		}
		last := i == len(before)-1
		if last && a.text == b.text && (b.eol == "" && (a.eol == "\n" || a.eol == "\r\n") || b.eol == "\r" && a.eol == "\r\n") {
			continue
		}
		tb.Fatalf("non-owned statement %d changed: %q%q -> %q%q", i, b.text, b.eol, a.text, a.eol)
	}
}

// values returns every key's effective value.
func values(f *File) map[string]string {
	m := map[string]string{}
	for _, k := range f.Keys() {
		m[k], _ = f.Get(k)
	}
	return m
}

// roundTripCases are also fuzz seeds.
var roundTripCases = map[string]string{
	"empty":                   "",
	"only newline":            "\n",
	"crlf":                    "A=\"1\"\r\nB='2'\r\n",
	"mixed endings":           "A=1\r\nB=2\nC=3",
	"lone cr":                 "A=1\rB=2\n",
	"cr at eof":               "A=1\r\nB=2\r",
	"no trailing eol":         "A=\"1\"\nB=\"2\"",
	"export":                  "export A=\"1\"\n  export\tB=2\nexport C\n",
	"single quotes":           "A='a b'\nB='it''s'\n",
	"bare values":             "A=yes\nB=\nC=a\\ b\n",
	"trailing comments":       "A=\"1\" # why\nB=2\t#x\nC=3#not a comment\n",
	"commented-out keys":      "#A=\"1\"\n# B=2\n  #C=3\n",
	"shell code":              "if [ -f /x ]; then\n  A=1\nfi\n. /etc/other\nA=1 cmd\nA=1; B=2\n",
	"multi-line string":       "A=\"one\nB=two\"\nC=3\n",
	"backslash continuation":  "A=one\\\nB=two\nC=3\n",
	"unterminated quote":      "A=1\nB=\"open\n",
	"expansions":              "A=\"$B\"\nC=`date`\nD=$(cmd \"x\")\nE=$'a\\'b'\n",
	"whitespace lines":        "  \n\t\n \r\n",
	"utf8 and binary":         "# don’t\n\xff\xfe=\x00\nA=\"\xff\"\n",
	"comment with open quote": "# don't\nA=1\n",
}

func TestRoundTripCorpus(t *testing.T) {
	for _, c := range corpusFiles(t) {
		t.Run(c.Name, func(t *testing.T) {
			if got := Parse(c.Data).Bytes(); !bytes.Equal(got, c.Data) {
				t.Fatalf("round trip changed the file:\ngot  %q\nwant %q", got, c.Data)
			}
		})
	}
}

func TestRoundTripTable(t *testing.T) {
	for name, in := range roundTripCases {
		t.Run(name, func(t *testing.T) {
			if got := string(Parse([]byte(in)).Bytes()); got != in {
				t.Fatalf("got %q, want %q", got, in)
			}
		})
	}
}

// TestCorpusGet checks every assignment of the real files. The expected
// values are what bash reports after sourcing each file (set -a; . file;
// env), listed in file order.
func TestCorpusGet(t *testing.T) {
	type kv struct{ k, v string }
	stock := func(unload bool, stop, restart string) []kv {
		s := []kv{{"IPTABLES_MODULES", ""}}
		if unload {
			s = append(s, kv{"IPTABLES_MODULES_UNLOAD", "yes"})
		}
		return append(s,
			kv{"IPTABLES_SAVE_ON_STOP", stop}, kv{"IPTABLES_SAVE_ON_RESTART", restart},
			kv{"IPTABLES_SAVE_COUNTER", "no"}, kv{"IPTABLES_STATUS_NUMERIC", "yes"},
			kv{"IPTABLES_STATUS_VERBOSE", "no"}, kv{"IPTABLES_STATUS_LINENUMBERS", "yes"})
	}
	want := map[string][]kv{
		"planetlab-2010-commented-out-keys": {{"IPTABLES_MODULES", "ip_conntrack vnet_tun"}},
		"planetlab-modules-ip_conntrack": {
			{"IPTABLES_MODULES", "ip_conntrack"}, {"IPTABLES_MODULES_UNLOAD", "yes"},
			{"IPTABLES_SAVE_ON_STOP", "no"}, {"IPTABLES_SAVE_ON_RESTART", "no"},
			{"IPTABLES_SAVE_COUNTER", "no"}, {"IPTABLES_STATUS_NUMERIC", "no"},
			{"IPTABLES_STATUS_VERBOSE", "yes"}, {"IPTABLES_STATUS_LINENUMBERS", "yes"},
		},
		"pld-ip6tables-config": {
			{"IP6TABLES_SAVE_ON_STOP", "no"}, {"IP6TABLES_SAVE_COUNTER", "yes"},
			{"IP6TABLES_STATUS_NUMERIC", "yes"}, {"IP6TABLES_STATUS_VERBOSE", "no"},
			{"IP6TABLES_STATUS_LINENUMBERS", "no"},
		},
		"puppet-managed-save-on-stop-yes": stock(true, "yes", "yes"),
		"rhel6-stock-iptables-config":     stock(true, "no", "no"),
		"rhel7-stock-iptables-config":     stock(false, "no", "no"), // RHEL 7 dropped MODULES_UNLOAD
	}
	// Commented out in some file; never assigned by it.
	absent := []string{
		"IPTABLES_MODULES_UNLOAD", "IPTABLES_SAVE_ON_STOP", "IPTABLES_SYSCTL_LOAD_LIST",
		"IPTABLES_RESTORE_WAIT", "IPTABLES_RESTORE_WAIT_INTERVAL", "IP6TABLES_MODULES",
	}
	files := corpusFiles(t)
	if len(files) != len(want) {
		t.Fatalf("%d corpus files, %d expectations", len(files), len(want))
	}
	for _, c := range files {
		t.Run(c.Name, func(t *testing.T) {
			exp, ok := want[c.Name]
			if !ok {
				t.Fatalf("no expectation for %s", c.Name)
			}
			f := Parse(c.Data)
			var keys []string
			assigned := map[string]bool{}
			for _, e := range exp {
				keys = append(keys, e.k)
				assigned[e.k] = true
				if got, ok := f.Get(e.k); !ok || got != e.v {
					t.Errorf("Get(%s) = %q, %v; want %q, true", e.k, got, ok, e.v)
				}
			}
			if got := f.Keys(); !reflect.DeepEqual(got, keys) {
				t.Errorf("Keys() = %q\nwant     %q", got, keys)
			}
			for _, k := range absent {
				if v, ok := f.Get(k); ok && !assigned[k] {
					t.Errorf("Get(%s) = %q, true; it is only commented out", k, v)
				}
			}
		})
	}
}

func TestGet(t *testing.T) {
	in := "" +
		"#A=commented\n" +
		"# B=\"commented\"\n" +
		"  #C=3\n" +
		"D=\"double quoted\"\n" +
		"E='single quoted'\n" +
		"F=bare\n" +
		"G=\n" +
		"H=\"\"\n" +
		"  export I=\"exported\" # with a comment\n" +
		"J=a#b\n" +
		"K=\"a\"'b'c\\ d\n" +
		"L=\"esc \\\" \\\\ \\$ \\` \\n\"\n" +
		"M='no \\ escapes \"'\n" +
		"N=\"$HOME/x\"\n" +
		"O=`uname -r`\n" +
		"P=$'a\\'b'\n" +
		"AB=${X:-a b}\n" +
		"AC=$(echo a b)\n" +
		"Q=1\r\n" +
		"F=last\n" +
		"R=1 cmd\n" +
		"S=1; T=2\n" +
		"export U\n" +
		"V+=1\n" +
		"W=\"multi\n" +
		"X=inside\"\n" +
		"Y=a\\\n" +
		"Z=joined\n" +
		"lower_case=ok\n" +
		"_9=ok\n" +
		"9A=no\n" +
		"exportAA=1\n"
	f := Parse([]byte(in))
	for _, tc := range []struct {
		key, want string
		ok        bool
	}{
		{"A", "", false},
		{"B", "", false},
		{"C", "", false},
		{"D", "double quoted", true},
		{"E", "single quoted", true},
		{"F", "last", true}, // last assignment wins
		{"G", "", true},
		{"H", "", true},
		{"I", "exported", true},
		{"J", "a#b", true},
		{"K", "abc d", true},
		{"L", "esc \" \\ $ ` \\n", true},
		{"M", "no \\ escapes \"", true},
		{"N", "$HOME/x", true},
		{"O", "`uname -r`", true},
		{"P", "$'a\\'b'", true},
		{"AB", "${X:-a b}", true}, // one word: blanks inside ${...} and $(...) do not end it
		{"AC", "$(echo a b)", true},
		{"Q", "1", true}, // CRLF line ending
		{"R", "", false}, // environment of a command
		{"S", "", false},
		{"T", "", false},
		{"U", "", false},
		{"V", "", false},
		{"W", "multi\nX=inside", true}, // multi-line value
		{"X", "", false},               // inside W's string
		{"Y", "aZ=joined", true},       // backslash-newline joins lines
		{"Z", "", false},
		{"lower_case", "ok", true},
		{"_9", "ok", true},
		{"9A", "", false},
		{"exportAA", "1", true},
		{"AA", "", false},
		{"", "", false},
	} {
		got, ok := f.Get(tc.key)
		if got != tc.want || ok != tc.ok {
			t.Errorf("Get(%q) = %q, %v; want %q, %v", tc.key, got, ok, tc.want, tc.ok)
		}
	}
	wantKeys := []string{"D", "E", "F", "G", "H", "I", "J", "K", "L", "M", "N", "O", "P", "AB", "AC", "Q", "W", "Y", "lower_case", "_9", "exportAA"}
	if got := f.Keys(); !reflect.DeepEqual(got, wantKeys) {
		t.Errorf("Keys() = %q\nwant     %q", got, wantKeys)
	}
}

// TestStatements checks where the lexer ends a statement, which decides
// what is an assignment: a "NAME=value" line inside another statement's
// string is not one, and an assignment may span lines.
func TestStatements(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     map[string]string // every key's value
	}{
		{"comment ends at newline despite backslash", "# x \\\nA=1\n", map[string]string{"A": "1"}},
		{"trailing comment at end of file", "B=2\nA=1 # c", map[string]string{"A": "1", "B": "2"}},
		{"trailing comment ends at newline", "A=1 # x \\\nB=2\n", map[string]string{"A": "1", "B": "2"}},
		{"quote in a comment line", "# don't\nA=1\n", map[string]string{"A": "1"}},
		{"quote in a trailing comment", "echo x # it's\nA=1\n", map[string]string{"A": "1"}},
		{"quote in code", "echo it's\nA=1\n'\nB=2\n", map[string]string{"B": "2"}},
		{"hash inside a word is no comment", "echo a#'\nA=1\n'\nB=2\n", map[string]string{"B": "2"}},
		{"hash after semicolon is a comment", "echo a;#'\nA=1\n", map[string]string{"A": "1"}},
		{"escaped quote", "echo \\'\nA=1\n", map[string]string{"A": "1"}},
		{"escaped quote in double quotes", "echo \"\\\"\"\nA=1\n", map[string]string{"A": "1"}},
		{"single quotes do not escape", "echo '\\'\nA=1\n", map[string]string{"A": "1"}},
		{"ansi-c quote escapes", "echo $'\\''\nA=1\n", map[string]string{"A": "1"}},
		{"backquotes", "echo `\nA=1\n`\nB=2\n", map[string]string{"B": "2"}},
		{"backquote in double quotes", "echo \"`\"\nA=1\n`\"\nB=2\n", map[string]string{"B": "2"}},
		{"command substitution in double quotes", "echo \"$(printf '\"')\"\nA=1\n\"\nB=2\n", map[string]string{"A": "1"}},
		{"command substitution", "echo $(echo \")\"\nA=1\n)\nB=2\n", map[string]string{"B": "2"}},
		{"comment in command substitution", "echo $(a # )\nA=1\n)\nB=2\n", map[string]string{"B": "2"}},
		{"parameter expansion", "echo \"${X:-\"}\"}\"\nA=1\n", map[string]string{"A": "1"}},
		{"subshell", "(\nA=1\n)\nB=2\n", map[string]string{"B": "2"}},
		{"multi-line double quotes", "A=\"1\n2\n3\"\nB=4\n", map[string]string{"A": "1\n2\n3", "B": "4"}},
		{"multi-line single quotes", "A='x\\\ny' # c\nB=4\n", map[string]string{"A": "x\\\ny", "B": "4"}},
		{"backslash-newline in double quotes", "A=\"x\\\nB=1\"\nC=2\n", map[string]string{"A": "xB=1", "C": "2"}},
		{"backslash-newline, bare", "A=one\\\ntwo\nB=2\n", map[string]string{"A": "onetwo", "B": "2"}},
		{"backslash-newline then assignment", "A=x\\\n B=1\nC=2\n", map[string]string{"C": "2"}},
		{"backslash-newline around the name", "\\\nexport \\\nA=1 \\\n# c\nB=2\n", map[string]string{"A": "1", "B": "2"}},
		{"lone backslash then comment", "echo a \\\n# c '\nA=1\n", map[string]string{"A": "1"}},
		{"backslash mid-word then hash", "echo a\\\n#'\nA=1\n'\nB=2\n", map[string]string{"B": "2"}},
		{"backslash before CRLF escapes the CR", "A=1\\\r\nB=2\r\n", map[string]string{"A": "1\\", "B": "2"}},
		{"backslash at end of file", "B=2\nA=a\\", map[string]string{"A": "a\\", "B": "2"}},
		{"unterminated quote at end of file", "A=1\nB=\"x\nC=3\n", map[string]string{"A": "1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := values(Parse([]byte(tc.in))); !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("values of %q = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestValidKey(t *testing.T) {
	for _, k := range []string{"IPTABLES_MODULES", "IP6TABLES_SAVE_ON_STOP", "_", "_X", "lower", "a1"} {
		if err := ValidKey(k); err != nil {
			t.Errorf("ValidKey(%q) = %v, want nil", k, err)
		}
	}
	for _, k := range []string{"", "1A", "A-B", "A B", "A=", " A", "A ", "A.B", "$A", "Ä", "A\n", "export A"} {
		if err := ValidKey(k); err == nil {
			t.Errorf("ValidKey(%q) = nil, want an error", k)
		}
	}
}

func TestValidValue(t *testing.T) {
	for _, v := range []string{"", "no", "ip_conntrack nf_nat_ftp", ".nf_conntrack .bridge-nf", "it's", " a\tb ", "#x", "ü"} {
		if err := ValidValue(v); err != nil {
			t.Errorf("ValidValue(%q) = %v, want nil", v, err)
		}
	}
	for _, v := range []string{"a\nb", "a\r", "a\x00", `a"b`, `a\b`, "$HOME", "`id`", "a$"} {
		if err := ValidValue(v); err == nil {
			t.Errorf("ValidValue(%q) = nil, want an error", v)
		}
	}
}

func TestSet(t *testing.T) {
	for _, tc := range []struct {
		name, in, key, value, want string
	}{
		{"double quotes kept", "# c\nA=\"1\"\nB=\"2\"\n", "A", "x y", "# c\nA=\"x y\"\nB=\"2\"\n"},
		{"single quotes kept", "A='1'\n", "A", "x y", "A='x y'\n"},
		{"single quotes to double for a quote", "A='1'\n", "A", "it's", "A=\"it's\"\n"},
		{"bare kept", "A=1\n", "A", "yes", "A=yes\n"},
		{"bare to double when needed", "A=1\n", "A", "x y", "A=\"x y\"\n"},
		{"bare to double for a hash", "A=1\n", "A", "#x", "A=\"#x\"\n"},
		{"empty bare", "A=\nB=1\n", "A", "ip_conntrack", "A=ip_conntrack\nB=1\n"},
		{"to empty, double", "A=\"x\"\n", "A", "", "A=\"\"\n"},
		{"to empty, bare", "A=x\n", "A", "", "A=\n"},
		{"export, indentation, comment kept", "\t export  A=\"1\"   # why\n", "A", "2", "\t export  A=\"2\"   # why\n"},
		{"comment right after empty value", "A= # why\n", "A", "a b", "A=\"a b\" # why\n"},
		{"mixed quoting takes the first style", "A=\"a\"'b'c\n", "A", "x", "A=\"x\"\n"},
		{"expansion replaced", "A=\"$A foo\"\n", "A", "bar", "A=\"bar\"\n"},
		{"crlf kept", "A=\"1\"\r\nB=\"2\"\r\n", "A", "5", "A=\"5\"\r\nB=\"2\"\r\n"},
		{"duplicates collapse to the first", "A=\"1\"\nB=2\nexport A=3\nA='4' # c\nC=5\n", "A", "9", "A=\"9\"\nB=2\nC=5\n"},
		{"last line without eol rewritten in place", "B=2\nA=\"1\"", "A", "5", "B=2\nA=\"5\""},
		{"duplicate on last line without eol", "A=1\nB=2\nA=3", "A", "5", "A=5\nB=2\n"},
		{"commented-out key untouched, new line appended", "#A=\"1\"\n# A=2\nB=3\n", "A", "5", "#A=\"1\"\n# A=2\nB=3\nA=\"5\"\n"},
		{"shell code untouched", "A=1 cmd\nif x; then A=2; fi\n", "A", "5", "A=1 cmd\nif x; then A=2; fi\nA=\"5\"\n"},
		{"string content untouched", "B=\"\nA=1\n\"\n", "A", "5", "B=\"\nA=1\n\"\nA=\"5\"\n"},
		{"case matters", "a=1\n", "A", "5", "a=1\nA=\"5\"\n"},
		{"append", "B=2\n", "A", "5", "B=2\nA=\"5\"\n"},
		{"append bare-safe value still double-quoted", "B=2\n", "A", "yes", "B=2\nA=\"yes\"\n"},
		{"append empty", "B=2\n", "A", "", "B=2\nA=\"\"\n"},
		{"append to empty file", "", "A", "5", "A=\"5\"\n"},
		{"append to file without trailing eol", "B=2", "A", "5", "B=2\nA=\"5\"\n"},
		{"append to crlf file", "B=2\r\n", "A", "5", "B=2\r\nA=\"5\"\r\n"},
		{"append to crlf file without trailing eol", "B=2\r\nC=3", "A", "5", "B=2\r\nC=3\r\nA=\"5\"\r\n"},
		{"append to crlf file ending in cr", "B=2\r\nC=3\r", "A", "5", "B=2\r\nC=3\r\nA=\"5\"\r\n"},
		{"append to lf file ending in cr", "B=2\nC=3\r", "A", "5", "B=2\nC=3\r\nA=\"5\"\n"},
		{"append uses the dominant eol", "x\r\ny\r\nz\n", "A", "5", "x\r\ny\r\nz\nA=\"5\"\r\n"},
		{"append before an unterminated quote", "B=1\nC=\"open\nD=2\n", "A", "5", "B=1\nA=\"5\"\nC=\"open\nD=2\n"},
		{"append before a final continuation", "B=1\necho \\", "A", "5", "B=1\nA=\"5\"\necho \\"},
		{"append before a final backslash assignment", "A=a\\", "B", "5", "B=\"5\"\nA=a\\"},
		{"final backslash assignment rewritten", "B=1\nA=a\\", "A", "5", "B=1\nA=5"},
		{"multi-line value rewritten on one line", "A=\"a \\\nb\" # c\nB=1\n", "A", "x y", "A=\"x y\" # c\nB=1\n"},
		{"multi-line duplicate removed", "A=1\nA='x\ny'\nB=2\n", "A", "5", "A=5\nB=2\n"},
		{"append into a file that is one open quote", "'", "A", "5", "A=\"5\"\n'"},
		{"append after whitespace-only last line", "B=2\n  ", "A", "5", "B=2\n  \nA=\"5\"\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := Parse([]byte(tc.in))
			f.Set(tc.key, tc.value)
			if got := string(f.Bytes()); got != tc.want {
				t.Fatalf("Set(%q, %q) on %q:\ngot  %q\nwant %q", tc.key, tc.value, tc.in, got, tc.want)
			}
			for _, g := range []*File{f, Parse(f.Bytes())} {
				if got, ok := g.Get(tc.key); !ok || got != tc.value {
					t.Fatalf("Get after Set = %q, %v; want %q", got, ok, tc.value)
				}
			}
		})
	}
}

// TestSetAfterUnterminated: once Set has rewritten a last statement that
// ended in a backslash, a line appended later goes after it.
func TestSetAfterUnterminated(t *testing.T) {
	f := Parse([]byte("A=a\\"))
	f.Set("A", "5")
	f.Set("B", "x")
	if got, want := string(f.Bytes()), "A=5\nB=\"x\"\n"; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}

func TestSetInvalidIsNoOp(t *testing.T) {
	in := "A=1\n"
	f := Parse([]byte(in))
	for _, kv := range [][2]string{{"", "1"}, {"A B", "1"}, {"1A", "1"}, {"A", "$B"}, {"A", "x\ny"}, {"A", `"`}} {
		f.Set(kv[0], kv[1])
		if got := string(f.Bytes()); got != in {
			t.Fatalf("Set(%q, %q) changed the file: %q", kv[0], kv[1], got)
		}
	}
}

func TestDelete(t *testing.T) {
	for _, tc := range []struct {
		name, in, key, want string
		removed             bool
	}{
		{"single", "# c\nA=\"1\"\nB=2\n", "A", "# c\nB=2\n", true},
		{"duplicates in every style", "A=1\nB=2\nexport A='3'\n  A=\"4\" # c\nAB=5\n", "A", "B=2\nAB=5\n", true},
		{"crlf", "A=1\r\nB=2\r\n", "A", "B=2\r\n", true},
		{"last line without eol", "B=2\nA=1", "A", "B=2\n", true},
		{"absent", "B=2\n", "A", "B=2\n", false},
		{"commented-out and code lines stay", "#A=1\n# A=2\nA=1 cmd\nexport A\n", "A", "#A=1\n# A=2\nA=1 cmd\nexport A\n", false},
		{"string content stays", "B='\nA=1\n'\n", "A", "B='\nA=1\n'\n", false},
		{"multi-line", "A=\"x\ny\"\nB=1\nA=a\\\nb\n", "A", "B=1\n", true},
		{"empty file", "", "A", "", false},
		{"empty key", "x\n\n", "", "x\n\n", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := Parse([]byte(tc.in))
			if got := f.Delete(tc.key); got != tc.removed {
				t.Errorf("Delete(%q) = %v, want %v", tc.key, got, tc.removed)
			}
			if got := string(f.Bytes()); got != tc.want {
				t.Fatalf("after Delete(%q): got %q, want %q", tc.key, got, tc.want)
			}
			if v, ok := f.Get(tc.key); ok {
				t.Fatalf("Get after Delete = %q, true", v)
			}
		})
	}
}

// TestCorpusEdits edits every real file: Set of an existing key (the one
// the provider manages, when present) and of a new key, then Delete of
// both, checking that every line the edits do not own stays, in order.
func TestCorpusEdits(t *testing.T) {
	const newKey, newValue = "IPTABLES_CONNTRACK_TEST", "ip_conntrack nf_nat_ftp"
	const setValue = "nf_conntrack nf_conntrack_ftp"
	for _, c := range corpusFiles(t) {
		t.Run(c.Name, func(t *testing.T) {
			f := Parse(c.Data)
			if _, ok := f.Get(newKey); ok {
				t.Fatalf("corpus file already sets %s; pick another new key", newKey)
			}
			all := f.Keys()
			if len(all) == 0 {
				t.Fatal("corpus file has no assignment")
			}
			existing := all[len(all)-1]
			if _, ok := f.Get("IPTABLES_MODULES"); ok {
				existing = "IPTABLES_MODULES"
			}
			keys := []string{newKey, existing}
			var prefix, suffix, eol string
			position := -1
			for i, l := range f.stmts {
				if l.key == existing {
					prefix, suffix, eol = l.text[:l.vs], l.text[l.ve:], l.eol
					position = len(others(&File{stmts: f.stmts[:i]}, keys...))
					break
				}
			}
			before := others(f, keys...)
			vals := values(f)
			delete(vals, existing)

			f.Set(newKey, newValue)
			f.Set(existing, setValue)
			sameOthers(t, before, others(f, keys...))

			re := Parse(f.Bytes())
			for _, g := range []*File{f, re} {
				if got, ok := g.Get(newKey); !ok || got != newValue {
					t.Fatalf("Get(%s) = %q, %v; want %q", newKey, got, ok, newValue)
				}
				if got, ok := g.Get(existing); !ok || got != setValue {
					t.Fatalf("Get(%s) = %q, %v; want %q", existing, got, ok, setValue)
				}
				got := values(g)
				delete(got, existing)
				delete(got, newKey)
				if !reflect.DeepEqual(got, vals) {
					t.Fatalf("other keys changed:\ngot  %q\nwant %q", got, vals)
				}
			}
			// The new key is appended last, with the file's line ending.
			last := f.stmts[len(f.stmts)-1]
			if want := newKey + `="` + newValue + `"`; last.text != want || last.eol != f.dominantEOL() {
				t.Fatalf("appended line %q%q, want %q%q", last.text, last.eol, want, f.dominantEOL())
			}
			// The existing key keeps one line, where its first one was,
			// in its author's style (these files double-quote).
			n := 0
			for i, l := range f.stmts {
				if l.key != existing {
					continue
				}
				n++
				if got := len(others(&File{stmts: f.stmts[:i]}, keys...)); got != position {
					t.Errorf("%s moved: %d non-owned lines before it, want %d", existing, got, position)
				}
				if got, want := l.text+l.eol, prefix+`"`+setValue+`"`+suffix+eol; got != want {
					t.Errorf("%s rewritten as %q, want %q", existing, got, want)
				}
			}
			if n != 1 {
				t.Errorf("%s has %d assignment lines after Set, want 1", existing, n)
			}

			for _, k := range keys {
				if !f.Delete(k) {
					t.Fatalf("Delete(%s) = false", k)
				}
				if v, ok := f.Get(k); ok {
					t.Fatalf("Get(%s) after Delete = %q", k, v)
				}
				if f.Delete(k) {
					t.Fatalf("second Delete(%s) = true", k)
				}
			}
			sameOthers(t, before, others(f, keys...))
			if got := values(Parse(f.Bytes())); !reflect.DeepEqual(got, vals) {
				t.Fatalf("after Delete, keys are\n%q\nwant\n%q", got, vals)
			}

			// Set then Delete of a key the file lacks gives the file back,
			// plus at most the newline its last line needed.
			g := Parse(c.Data)
			g.Set(newKey, newValue)
			g.Delete(newKey)
			got := g.Bytes()
			extra := string(got[min(len(c.Data), len(got)):])
			if !bytes.HasPrefix(got, c.Data) || (extra != "" && extra != "\n" && extra != "\r\n") ||
				extra != "" && bytes.HasSuffix(c.Data, []byte("\n")) {
				t.Fatalf("Set+Delete of a new key did not restore the file:\ngot  %q\nwant %q", got, c.Data)
			}
		})
	}
}
