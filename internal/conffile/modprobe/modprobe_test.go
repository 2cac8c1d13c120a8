package modprobe

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/conntrack-ops/terraform-provider-conntrack/internal/conffile/corpus"
)

func corpusFiles(tb testing.TB) []corpus.File { return corpus.Load(tb, 12) }

// Table inputs with the quirks the corpus lacks (CRLF, no final newline,
// empty) or has only once; also used as fuzz seeds.
var quirkInputs = map[string]string{
	"empty":                  "",
	"only newline":           "\n",
	"comments only":          "# one\n#two\n  # indented\n",
	"crlf":                   "# c\r\noptions nf_conntrack hashsize=1\r\nblacklist nf_conntrack\r\n",
	"no final newline":       "options nf_conntrack hashsize=1",
	"crlf no final newline":  "blacklist foo\r\nblacklist bar",
	"cr at eof":              "blacklist foo\r",
	"crlf file, cr at eof":   "a\r\nb\r",
	"tabs and runs":          "options\t\tnf_conntrack \t hashsize=1\t\tnf_conntrack_helper=0  \n",
	"continuation":           "options nf_conntrack nf_conntrack_helper=0 \\\n    hashsize=1\ninstall x a \\\n  b\n",
	"continuation at eof":    "options a b=1 \\",
	"comment continued":      "# note \\\noptions nf_conntrack hashsize=1\n",
	"crlf backslash":         "options a b=1 \\\r\noptions nf_conntrack hashsize=1\r\n",
	"escaped backslash":      "options a b=1 \\\\\noptions nf_conntrack hashsize=1\n",
	"quoted":                 "options nf_conntrack foo=\"a b\" hashsize=1 \"bar=c d\"\n",
	"nul and high bytes":     "options nf_conntrack h\x00=1\xa0hashsize=2\xff\n",
	"bare keywords":          "options\nblacklist\ninstall\ninstall nf_conntrack\noptions nf_conntrack\n",
	"other keywords":         "alias nf_conntrack off\nremove nf_conntrack /bin/true\nsoftdep nf_conntrack pre: x\n",
	"blank lines and spaces": "\n\n   \n\t\n",
}

func TestRoundTrip(t *testing.T) {
	for _, c := range corpusFiles(t) {
		if got := Parse(c.Data).Bytes(); !bytes.Equal(got, c.Data) {
			t.Errorf("%s: round trip changed the file", c.Name)
		}
	}
	for name, in := range quirkInputs {
		if got := Parse([]byte(in)).Bytes(); string(got) != in {
			t.Errorf("%s: round trip = %q, want %q", name, got, in)
		}
	}
}

// TestParseLogicalLines pins how physical lines join into logical ones, the
// model every edit relies on.
func TestParseLogicalLines(t *testing.T) {
	tests := []struct {
		in   string
		want []string // text of each logical line
	}{
		{"", nil},
		{"a\nb", []string{"a", "b"}},
		{"a\r\nb\r\n", []string{"a", "b"}},
		{"a \\\n  b\nc\n", []string{"a   b", "c"}},
		{"a \\\n\\\n b\n", []string{"a  b"}},
		// An escaped backslash does not continue the line.
		{"a \\\\\nb\n", []string{`a \`, "b"}},
		// Before \r\n the backslash escapes the \r, as in kmod: no join.
		{"a \\\r\nb\r\n", []string{"a ", "b"}},
		// Other escapes: the backslash goes, the byte stays.
		{`a\ b\#` + "\n", []string{"a b#"}},
		{"# c \\\noptions m p=1\n", []string{"# c options m p=1"}},
		{"x \\", []string{"x "}},
		{"x\r", []string{"x"}},
	}
	for _, tt := range tests {
		var got []string
		for _, l := range Parse([]byte(tt.in)).lines {
			got = append(got, l.text)
		}
		if strings.Join(got, "|") != strings.Join(tt.want, "|") || len(got) != len(tt.want) {
			t.Errorf("Parse(%q) lines = %q, want %q", tt.in, got, tt.want)
		}
	}

	// The corpus continuations: three physical lines are one install line.
	f := Parse(readTestdata(t, "keepalived-ipvs.conf-options-install-continuation"))
	if len(f.lines) != 2 {
		t.Fatalf("keepalived: %d logical lines, want 2", len(f.lines))
	}
	cmd, ok := f.Install("ip_vs_ftp")
	want := "/sbin/modprobe iptable_nat  &&                          /sbin/modprobe nf_conntrack_ftp  &&                          /sbin/modprobe --ignore-install ip_vs_ftp"
	if !ok || cmd != want {
		t.Errorf("keepalived Install(ip_vs_ftp) = %q, %v; want %q", cmd, ok, want)
	}
	f = Parse(readTestdata(t, "cachyos-nvidia.conf-options-continuation"))
	if v, ok := f.Option("nvidia", "NVreg_DynamicPowerManagement"); !ok || v != "0x02" {
		t.Errorf("cachyos Option(nvidia, NVreg_DynamicPowerManagement) = %q, %v; want 0x02", v, ok)
	}
}

func readTestdata(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestOption(t *testing.T) {
	tests := []struct {
		in, module, param string
		want              string
		ok                bool
	}{
		{"", "nf_conntrack", "hashsize", "", false},
		{"options nf_conntrack hashsize=65536\n", "nf_conntrack", "hashsize", "65536", true},
		{"options nf_conntrack nf_conntrack_helper=0 hashsize=1024\n", "nf_conntrack", "hashsize", "1024", true},
		{"options nf_conntrack nf_conntrack_helper=0 hashsize=1024\n", "nf_conntrack", "nf_conntrack_helper", "0", true},
		// The last occurrence over all lines wins.
		{"options nf_conntrack hashsize=1 hashsize=2\noptions nf_conntrack hashsize=3\n", "nf_conntrack", "hashsize", "3", true},
		{"options nf_conntrack hashsize=3\noptions nf_conntrack hashsize=1 hashsize=2\n", "nf_conntrack", "hashsize", "2", true},
		// '-' and '_' are equal in module names and in parameter names.
		{"options nf-conntrack hashsize=7\n", "nf_conntrack", "hashsize", "7", true},
		{"options nf_conntrack hashsize=7\n", "nf-conntrack", "hashsize", "7", true},
		{"options nf_conntrack nf-conntrack-helper=1\n", "nf_conntrack", "nf_conntrack_helper", "1", true},
		// Not a match: other module, other param, comment, other keyword.
		{"options nf_conntrack_ipv4 hashsize=1\n", "nf_conntrack", "hashsize", "", false},
		{"options nf_conntrack hashsize_x=1\n", "nf_conntrack", "hashsize", "", false},
		{"#options nf_conntrack hashsize=1\n", "nf_conntrack", "hashsize", "", false},
		{"  # options nf_conntrack hashsize=1\n", "nf_conntrack", "hashsize", "", false},
		{"option nf_conntrack hashsize=1\n", "nf_conntrack", "hashsize", "", false},
		{"Options nf_conntrack hashsize=1\n", "nf_conntrack", "hashsize", "", false},
		{"# see \\\noptions nf_conntrack hashsize=1\n", "nf_conntrack", "hashsize", "", false},
		// Blanks, CRLF, continuation, quotes, flags.
		{"\t options \t nf_conntrack\t\thashsize=5  \n", "nf_conntrack", "hashsize", "5", true},
		{"options nf_conntrack hashsize=5\r\n", "nf_conntrack", "hashsize", "5", true},
		{"options nf_conntrack a=1 \\\n   hashsize=9\n", "nf_conntrack", "hashsize", "9", true},
		{"options m s=\"a b\" t=2\n", "m", "s", "a b", true},
		{"options m \"s=a b\" t=2\n", "m", "s", "a b", true},
		{"options m \"s=a b\" t=2\n", "m", "t", "2", true},
		{"options m debug\n", "m", "debug", "", true},
		{"options m hashsize=1\vx=2\n", "m", "x", "2", true},
	}
	for _, tt := range tests {
		got, ok := Parse([]byte(tt.in)).Option(tt.module, tt.param)
		if got != tt.want || ok != tt.ok {
			t.Errorf("Option(%q, %q) on %q = %q, %v; want %q, %v", tt.module, tt.param, tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func TestSetOption(t *testing.T) {
	const m, p, v = "nf_conntrack", "hashsize", "131072"
	tests := []struct {
		name, in      string
		module, param string // default m, p
		value, want   string // value default v
	}{
		{name: "empty file", in: "", want: "options nf_conntrack hashsize=131072\n"},
		{name: "update", in: "options nf_conntrack hashsize=65536\n", want: "options nf_conntrack hashsize=131072\n"},
		{name: "already set", in: "options nf_conntrack hashsize=131072\n", want: "options nf_conntrack hashsize=131072\n"},
		{name: "keeps other param after", in: "options nf_conntrack nf_conntrack_helper=0 hashsize=1024\n",
			want: "options nf_conntrack nf_conntrack_helper=0 hashsize=131072\n"},
		{name: "keeps other param before", in: "options nf_conntrack hashsize=1024  nf_conntrack_helper=0\n",
			want: "options nf_conntrack hashsize=131072  nf_conntrack_helper=0\n"},
		{name: "absent: appended, other param line kept", in: "options nf_conntrack nf_conntrack_helper=0\n",
			want: "options nf_conntrack nf_conntrack_helper=0\noptions nf_conntrack hashsize=131072\n"},
		{name: "duplicates across lines",
			in:   "options nf_conntrack hashsize=1\n# c\noptions nf_conntrack expect_hashsize=5 hashsize=2\noptions nf_conntrack hashsize=3\nblacklist x\n",
			want: "options nf_conntrack hashsize=131072\n# c\noptions nf_conntrack expect_hashsize=5\nblacklist x\n"},
		{name: "duplicates on one line", in: "options nf_conntrack hashsize=1 a=1 hashsize=2\n",
			want: "options nf_conntrack hashsize=131072 a=1\n"},
		{name: "first is already right, later removed", in: "options nf_conntrack hashsize=131072\noptions nf_conntrack hashsize=2\n",
			want: "options nf_conntrack hashsize=131072\n"},
		{name: "dash in file", in: "options nf-conntrack hashsize=1\n", want: "options nf-conntrack hashsize=131072\n"},
		{name: "dash in argument", in: "options nf_conntrack hashsize=1\n", module: "nf-conntrack",
			want: "options nf_conntrack hashsize=131072\n"},
		{name: "dash in argument, appended as given", in: "", module: "nf-conntrack", want: "options nf-conntrack hashsize=131072\n"},
		{name: "dash in param name", in: "options nf_conntrack nf-conntrack-helper=0\n", param: "nf_conntrack_helper", value: "1",
			want: "options nf_conntrack nf_conntrack_helper=1\n"},
		{name: "other module untouched", in: "options nf_conntrack_ipv4 hashsize=1\n",
			want: "options nf_conntrack_ipv4 hashsize=1\noptions nf_conntrack hashsize=131072\n"},
		{name: "no final newline", in: "blacklist foo", want: "blacklist foo\noptions nf_conntrack hashsize=131072\n"},
		{name: "no final newline, owned", in: "options nf_conntrack hashsize=1", want: "options nf_conntrack hashsize=131072"},
		{name: "crlf in place", in: "# c\r\noptions nf_conntrack hashsize=1\r\n", want: "# c\r\noptions nf_conntrack hashsize=131072\r\n"},
		{name: "crlf appended", in: "# c\r\nblacklist x\r\n", want: "# c\r\nblacklist x\r\noptions nf_conntrack hashsize=131072\r\n"},
		{name: "crlf no final newline", in: "# c\r\nblacklist x", want: "# c\r\nblacklist x\r\noptions nf_conntrack hashsize=131072\r\n"},
		{name: "mostly lf wins", in: "a\r\nb\nc\n", want: "a\r\nb\nc\noptions nf_conntrack hashsize=131072\n"},
		{name: "tabs kept", in: "options\tnf_conntrack\thashsize=1\tnf_conntrack_helper=0\n",
			want: "options\tnf_conntrack\thashsize=131072\tnf_conntrack_helper=0\n"},
		{name: "owned continuation becomes one line",
			in:   "options nf_conntrack nf_conntrack_helper=0 \\\n    hashsize=1\nblacklist x\n",
			want: "options nf_conntrack nf_conntrack_helper=0     hashsize=131072\nblacklist x\n"},
		{name: "continuation not owned is untouched",
			in:   "options nvidia A=0 \\\n    hashsize=2\n",
			want: "options nvidia A=0 \\\n    hashsize=2\noptions nf_conntrack hashsize=131072\n"},
		{name: "owned continuation already right is untouched",
			in:   "options nf_conntrack a=0 \\\n    hashsize=131072\n",
			want: "options nf_conntrack a=0 \\\n    hashsize=131072\n"},
		{name: "comment swallowing a line is not an options line",
			in:   "# note \\\noptions nf_conntrack hashsize=1\n",
			want: "# note \\\noptions nf_conntrack hashsize=1\noptions nf_conntrack hashsize=131072\n"},
		{name: "continued last line without newline",
			in:   "options a b=1 \\",
			want: "options a b=1 \\\n\noptions nf_conntrack hashsize=131072\n"},
		{name: "quoted params kept", in: "options nf_conntrack s=\"a b\" hashsize=1 \"t=c d\"\n",
			want: "options nf_conntrack s=\"a b\" hashsize=131072 \"t=c d\"\n"},
		{name: "quoted param replaced", in: "options nf_conntrack \"hashsize=1 2\" x=1\n",
			want: "options nf_conntrack hashsize=131072 x=1\n"},
		{name: "bare flag gets a value", in: "options nf_conntrack hashsize\n", want: "options nf_conntrack hashsize=131072\n"},
		{name: "escaped backslash survives a rewrite", in: "options nf_conntrack a=x\\\\y hashsize=1\n",
			want: "options nf_conntrack a=x\\\\y hashsize=131072\n"},
		{name: "invalid value: no change", in: "options nf_conntrack hashsize=1\n", value: "1 2",
			want: "options nf_conntrack hashsize=1\n"},
		{name: "invalid param: no change", in: "", param: "hash-size", want: ""},
		{name: "invalid module: no change", in: "", module: "nf*", want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			module, param, value := or(tt.module, m), or(tt.param, p), or(tt.value, v)
			f := Parse([]byte(tt.in))
			f.SetOption(module, param, value)
			if got := string(f.Bytes()); got != tt.want {
				t.Fatalf("SetOption(%q, %q, %q) on %q:\ngot  %q\nwant %q", module, param, value, tt.in, got, tt.want)
			}
			if ValidValue(value) != nil || ValidParam(param) != nil || ValidModuleName(module) != nil {
				return
			}
			if got, ok := Parse(f.Bytes()).Option(module, param); !ok || got != value {
				t.Errorf("Option after SetOption = %q, %v; want %q", got, ok, value)
			}
		})
	}
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func TestDeleteOption(t *testing.T) {
	tests := []struct {
		name, in, want string
		changed        bool
	}{
		{"absent", "options nf_conntrack nf_conntrack_helper=0\n", "options nf_conntrack nf_conntrack_helper=0\n", false},
		{"empty file", "", "", false},
		{"single", "# c\noptions nf_conntrack hashsize=65536\nblacklist x\n", "# c\nblacklist x\n", true},
		{"keeps other param (last)", "options nf_conntrack nf_conntrack_helper=0 hashsize=1024\n", "options nf_conntrack nf_conntrack_helper=0\n", true},
		{"keeps other param (first)", "options nf_conntrack hashsize=1024 nf_conntrack_helper=0\n", "options nf_conntrack nf_conntrack_helper=0\n", true},
		{"keeps trailing blanks", "options nf_conntrack a=1 hashsize=1024  \n", "options nf_conntrack a=1  \n", true},
		{"every line", "options nf_conntrack hashsize=1\noptions nf-conntrack a=1 hashsize=2 hashsize=3\noptions nf_conntrack hashsize=4\n",
			"options nf-conntrack a=1\n", true},
		{"other module untouched", "options nf_conntrack_ipv4 hashsize=1\n", "options nf_conntrack_ipv4 hashsize=1\n", false},
		{"owned continuation", "options nf_conntrack a=1 \\\n  hashsize=2 \\\n  b=3\n", "options nf_conntrack a=1   b=3\n", true},
		{"owned continuation dropped", "x\noptions nf_conntrack \\\n  hashsize=2\ny\n", "x\ny\n", true},
		{"crlf", "a\r\noptions nf_conntrack b=1 hashsize=2\r\n", "a\r\noptions nf_conntrack b=1\r\n", true},
		{"last line without newline", "a\noptions nf_conntrack hashsize=2", "a\n", true},
		{"vertical tab separator kept valid", "options nf_conntrack hashsize=1\vb=2\n", "options nf_conntrack b=2\n", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := Parse([]byte(tt.in))
			changed := f.DeleteOption("nf_conntrack", "hashsize")
			if got := string(f.Bytes()); got != tt.want || changed != tt.changed {
				t.Fatalf("DeleteOption on %q:\ngot  %q, %v\nwant %q, %v", tt.in, got, changed, tt.want, tt.changed)
			}
			g := Parse(f.Bytes())
			if v, ok := g.Option("nf_conntrack", "hashsize"); ok {
				t.Errorf("Option after DeleteOption = %q, true", v)
			}
			if f.DeleteOption("nf_conntrack", "hashsize") {
				t.Errorf("second DeleteOption reported a change")
			}
		})
	}
}

func TestBlacklist(t *testing.T) {
	tests := []struct {
		name, in string
		on       bool
		want     string
		changed  bool
	}{
		{"add to empty", "", true, "blacklist nf_conntrack\n", true},
		{"add appends once", "blacklist x\n", true, "blacklist x\nblacklist nf_conntrack\n", true},
		{"add when present", "blacklist nf_conntrack\n", true, "blacklist nf_conntrack\n", false},
		{"add when present with dash", "blacklist nf-conntrack\n", true, "blacklist nf-conntrack\n", false},
		{"add: comment does not count", "# blacklist nf_conntrack\n", true, "# blacklist nf_conntrack\nblacklist nf_conntrack\n", true},
		{"add: no final newline", "# c", true, "# c\nblacklist nf_conntrack\n", true},
		{"add: crlf", "# c\r\n", true, "# c\r\nblacklist nf_conntrack\r\n", true},
		{"add: a CR at eof is completed, not doubled", "a\r\nb\r", true, "a\r\nb\r\nblacklist nf_conntrack\r\n", true},
		{"add: trailing backslash at eof", "a \\", true, "a \\\n\nblacklist nf_conntrack\n", true},
		{"remove every line",
			"blacklist nf_conntrack\n# blacklist nf_conntrack\n\tblacklist\tnf-conntrack  extra\nblacklist nf_conntrack_ipv4\nblacklist nf_conntrack\n",
			false, "# blacklist nf_conntrack\nblacklist nf_conntrack_ipv4\n", true},
		{"remove when absent", "blacklist nf_conntrack_ipv4\n", false, "blacklist nf_conntrack_ipv4\n", false},
		{"remove continued line", "blacklist \\\n nf_conntrack\nx\n", false, "x\n", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := Parse([]byte(tt.in))
			changed := f.SetBlacklist("nf_conntrack", tt.on)
			if got := string(f.Bytes()); got != tt.want || changed != tt.changed {
				t.Fatalf("SetBlacklist(%v) on %q:\ngot  %q, %v\nwant %q, %v", tt.on, tt.in, got, changed, tt.want, tt.changed)
			}
			if got := Parse(f.Bytes()).Blacklisted("nf_conntrack"); got != tt.on {
				t.Errorf("Blacklisted after SetBlacklist(%v) = %v", tt.on, got)
			}
			if f.SetBlacklist("nf_conntrack", tt.on) || string(f.Bytes()) != tt.want {
				t.Errorf("second SetBlacklist(%v) changed the file: %q", tt.on, f.Bytes())
			}
		})
	}
	if Parse([]byte("blacklist nf_conntrack\n")).Blacklisted("nf_conntrack_ipv4") {
		t.Error("Blacklisted(nf_conntrack_ipv4) matched blacklist nf_conntrack")
	}
	f := Parse(nil)
	if f.SetBlacklist("bad name", true) || len(f.Bytes()) != 0 {
		t.Error("SetBlacklist with an invalid module name changed the file")
	}
}

func TestInstall(t *testing.T) {
	tests := []struct {
		in      string
		want    string
		ok      bool
		module  string
		comment string
	}{
		{"", "", false, "", ""},
		{"install nf_conntrack /bin/false\n", "/bin/false", true, "", ""},
		{"install nf-conntrack   /bin/true  \n", "/bin/true", true, "", "dash, blanks trimmed"},
		{"install nf_conntrack /bin/true\ninstall nf_conntrack /bin/false\n", "/bin/true", true, "", "first wins"},
		{"install nf_conntrack\ninstall nf_conntrack /bin/false\n", "/bin/false", true, "", "no command: ignored like kmod"},
		{"install nf_conntrack_ipv4 /bin/true\n", "", false, "", ""},
		{"#install nf_conntrack /bin/true\n", "", false, "", ""},
		{"remove nf_conntrack /bin/true\n", "", false, "", ""},
		{"install nf_conntrack a \\\n  b\n", "a   b", true, "", "continuation"},
		{"install m echo a\\\\b\\ c\n", `echo a\b c`, true, "m", "escapes resolved"},
	}
	for _, tt := range tests {
		got, ok := Parse([]byte(tt.in)).Install(or(tt.module, "nf_conntrack"))
		if got != tt.want || ok != tt.ok {
			t.Errorf("Install on %q (%s) = %q, %v; want %q, %v", tt.in, tt.comment, got, ok, tt.want, tt.ok)
		}
	}
}

func TestSetInstall(t *testing.T) {
	tests := []struct {
		name, in, cmd, want string
	}{
		{"add", "", "/bin/false", "install nf_conntrack /bin/false\n"},
		{"add after other module", "install nf_conntrack_ipv4 /bin/true\n", "/bin/false",
			"install nf_conntrack_ipv4 /bin/true\ninstall nf_conntrack /bin/false\n"},
		{"replace", "# c\ninstall nf_conntrack /bin/true\n# d\n", "/bin/false", "# c\ninstall nf_conntrack /bin/false\n# d\n"},
		{"replace keeps spacing before command", "install  nf-conntrack\t/bin/true  \n", "/bin/false", "install  nf-conntrack\t/bin/false\n"},
		{"unchanged when same", "install  nf_conntrack   /bin/false \n", "/bin/false", "install  nf_conntrack   /bin/false \n"},
		{"later ones removed", "install nf_conntrack /bin/true\nx\ninstall nf-conntrack /bin/true\n", "/bin/false",
			"install nf_conntrack /bin/false\nx\n"},
		{"first already right, later removed", "install nf_conntrack /bin/false\ninstall nf_conntrack /bin/true\n", "/bin/false",
			"install nf_conntrack /bin/false\n"},
		{"owned continuation becomes one line", "install nf_conntrack /sbin/modprobe a && \\\n   /bin/true\nx\n", "/bin/false",
			"install nf_conntrack /bin/false\nx\n"},
		{"continuation already right is kept", "install nf_conntrack a \\\n  b\n", "a   b", "install nf_conntrack a \\\n  b\n"},
		{"crlf", "a\r\ninstall nf_conntrack /bin/true\r\n", "/bin/false", "a\r\ninstall nf_conntrack /bin/false\r\n"},
		{"backslash escaped", "", `echo a\b`, "install nf_conntrack echo a\\\\b\n"},
		{"commandless line left alone", "install nf_conntrack\n", "/bin/false", "install nf_conntrack\ninstall nf_conntrack /bin/false\n"},
		{"invalid command: no change", "install nf_conntrack /bin/true\n", "/bin/false\nblacklist x", "install nf_conntrack /bin/true\n"},
		{"blank command: no change", "", " ", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := Parse([]byte(tt.in))
			f.SetInstall("nf_conntrack", tt.cmd)
			if got := string(f.Bytes()); got != tt.want {
				t.Fatalf("SetInstall(%q) on %q:\ngot  %q\nwant %q", tt.cmd, tt.in, got, tt.want)
			}
			if ValidCommand(tt.cmd) != nil {
				return
			}
			if got, ok := Parse(f.Bytes()).Install("nf_conntrack"); !ok || got != tt.cmd {
				t.Errorf("Install after SetInstall = %q, %v; want %q", got, ok, tt.cmd)
			}
		})
	}
}

func TestDeleteInstall(t *testing.T) {
	tests := []struct {
		in, want string
		changed  bool
	}{
		{"", "", false},
		{"install nf_conntrack /bin/false\n", "", true},
		{"a\ninstall nf_conntrack /bin/true\ninstall nf-conntrack \\\n /bin/false\n#install nf_conntrack x\nb", "a\n#install nf_conntrack x\nb", true},
		{"install nf_conntrack_ipv4 /bin/true\nremove nf_conntrack x\n", "install nf_conntrack_ipv4 /bin/true\nremove nf_conntrack x\n", false},
	}
	for _, tt := range tests {
		f := Parse([]byte(tt.in))
		changed := f.DeleteInstall("nf_conntrack")
		if got := string(f.Bytes()); got != tt.want || changed != tt.changed {
			t.Errorf("DeleteInstall on %q = %q, %v; want %q, %v", tt.in, got, changed, tt.want, tt.changed)
		}
		if _, ok := Parse(f.Bytes()).Install("nf_conntrack"); ok {
			t.Errorf("Install found after DeleteInstall on %q", tt.in)
		}
	}
}

func TestValid(t *testing.T) {
	check := func(fn func(string) error, good, bad []string) {
		t.Helper()
		for _, s := range good {
			if err := fn(s); err != nil {
				t.Errorf("%q rejected: %v", s, err)
			}
		}
		for _, s := range bad {
			if fn(s) == nil {
				t.Errorf("%q accepted", s)
			}
		}
	}
	check(ValidModuleName,
		[]string{"nf_conntrack", "nf-conntrack", "ip_vs", "A9", strings.Repeat("a", 64)},
		[]string{"", strings.Repeat("a", 65), "nf conntrack", "nf*", "a.b", "a/b", "a\n", "ä", "-r", "--help"})
	check(ValidParam,
		[]string{"hashsize", "nf_conntrack_helper", "NVreg_X1"},
		[]string{"", "hash-size", "a=b", "a b", "a.b"})
	check(ValidValue,
		[]string{"131072", "0x02", "a,b,c", "-1", "a=b", "/bin/false"},
		[]string{"", "1 2", "1\t", "\"1\"", "'1'", `1\`, "1#", "\n", "\x00", "à", "1\xa0"})
	check(ValidCommand,
		[]string{"/bin/false", "/bin/true", `echo a\b`, "/sbin/modprobe --ignore-install x && { y; }", "echo # not a comment"},
		[]string{"", " ", " /bin/false", "/bin/false ", "a\nb", "a\rb", "a\x00", "a\tb"})
}
