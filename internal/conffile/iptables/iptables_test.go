package iptables

import (
	"bytes"
	"slices"
	"strings"
	"testing"

	"github.com/conntrack-ops/terraform-provider-conntrack/internal/conffile/corpus"
)

func corpusFiles(tb testing.TB) []corpus.File { return corpus.Load(tb, 17) }

// The two rules the corpus edit tests add, as the provider would: tagged
// with a comment that holds a space, so it must be quoted.
var (
	preArgs = []string{"-p", "tcp", "--dport", "8080", "-m", "comment", "--comment", "conntrack-tf:abc 1", "-j", "CT", "--notrack"}
	outArgs = []string{"-p", "udp", "--dport", "53", "-m", "comment", "--comment", "conntrack-tf:abc 2", "-j", "CT", "--notrack"}
	preLine = `-A PREROUTING -p tcp --dport 8080 -m comment --comment "conntrack-tf:abc 1" -j CT --notrack`
	outLine = `-A OUTPUT -p udp --dport 53 -m comment --comment "conntrack-tf:abc 2" -j CT --notrack`
)

// comment returns the value of the first "--comment" in args.
func comment(args []string) string {
	if i := slices.Index(args, "--comment"); i >= 0 && i+1 < len(args) {
		return args[i+1]
	}
	return ""
}

func ours(r Rule) bool { return strings.HasPrefix(comment(r.Args), "conntrack-tf:") }

// lines returns the file's lines with their line endings.
func lines(f *File) []string {
	var out []string
	for _, l := range f.lines {
		out = append(out, l.text+l.eol)
	}
	return out
}

// others returns the lines, with endings, that are not rules of table for
// which match is true: the part of the file an edit of those rules must not
// change.
func others(f *File, table string, match func(Rule) bool) []string {
	owned := map[int]bool{}
	for _, b := range f.blocks() {
		for i := b.head + 1; i < b.end && b.table == table; i++ {
			if r, ok := f.rule(table, i); ok && match(r) {
				owned[i] = true
			}
		}
	}
	var out []string
	for i, l := range f.lines {
		if !owned[i] {
			out = append(out, l.text+l.eol)
		}
	}
	return out
}

// sameOthers checks that after holds the lines of before in the same order,
// unchanged, plus only lines for which extra is true. The one change allowed
// to a line of before: the final line, if it had no line ending, may gain one
// (a line added after it would otherwise join it).
func sameOthers(tb testing.TB, before, after []string, extra func(string) bool) {
	tb.Helper()
	i := 0
	for j, a := range after {
		if i < len(before) {
			b := before[i]
			last := i == len(before)-1 && !strings.HasSuffix(b, "\n")
			if a == b || last && (a == b+"\n" || a == b+"\r\n") {
				i++
				continue
			}
		}
		if extra == nil || !extra(a) {
			tb.Fatalf("line %d of the edited file %q is neither the next unedited line %d (%q) nor an allowed new line\nbefore %q\nafter  %q",
				j, a, i, at(before, i), before, after)
		}
	}
	if i < len(before) {
		tb.Fatalf("unedited line %d (%q) is missing from the edited file\nbefore %q\nafter  %q", i, before[i], before, after)
	}
}

func at(s []string, i int) string {
	if i < len(s) {
		return s[i]
	}
	return "<end>"
}

// allCommitted fails unless every table block of b ends with COMMIT.
func allCommitted(tb testing.TB, b []byte) {
	tb.Helper()
	for _, blk := range Parse(b).blocks() {
		if blk.commit < 0 {
			tb.Fatalf("table %s (line %d) has no COMMIT after the edit", blk.table, blk.head+1)
		}
	}
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
	for name, in := range map[string]string{
		"empty":                     "",
		"only newline":              "\n",
		"crlf":                      "*raw\r\n:PREROUTING ACCEPT [0:0]\r\n-A PREROUTING -j CT --notrack\r\nCOMMIT\r\n",
		"mixed endings and lone cr": "*raw\r\n:OUTPUT ACCEPT [0:0]\n-A OUTPUT -j ACCEPT\rCOMMIT",
		"no trailing newline":       "*filter\n-A INPUT -j ACCEPT\nCOMMIT",
		"comments only":             "# sample\n#\n   # indented\n",
		"comments around tables":    "# head\n*nat\nCOMMIT\n# Completed\n# Generated\n*filter\n# inside\nCOMMIT\n# tail",
		"counters -c":               "*mangle\n:PREROUTING ACCEPT [5:300]\n[1:2] -A PREROUTING -j MARK --set-mark 1\n[0:0]-A PREROUTING -j ACCEPT\nCOMMIT\n",
		"append long":               "*nat\n--append POSTROUTING --out-interface eth0 -j MASQUERADE \n--append=OUTPUT -j ACCEPT\nCOMMIT\n",
		"quoted comments":           "*filter\n-A INPUT -m comment --comment \"two words\" -j ACCEPT\n-A INPUT -m comment --comment \"a \\\"quoted\\\" \\\\ word\" -j ACCEPT\n-A INPUT -m comment --comment \"User: \" -j ACCEPT\nCOMMIT\n",
		"unterminated quote":        "*filter\n-A INPUT -m comment --comment \"open\nCOMMIT\n",
		"user chains":               "*filter\n:INPUT DROP [0:0]\n:DOCKER - [0:0]\n:invalid_ext -\n-N mine\n-A DOCKER -j RETURN\nCOMMIT\n",
		"blank lines between":       "*nat\nCOMMIT\n\n\n*raw\nCOMMIT\n\n",
		"hand-written commands":     "*filter\n-P INPUT DROP\n-I FORWARD -m string --algo bm --string \"x.com\" -j DROP\n\t -A INPUT -j LOG   \nCOMMIT \n",
		"no commit":                 "*filter\n-A INPUT -j ACCEPT\n*nat\n",
		"garbage":                   "*\n:\n[\n[1:2\nCOMMIT\n-A\n\xff\xfe\x00\n",
	} {
		t.Run(name, func(t *testing.T) {
			if got := string(Parse([]byte(in)).Bytes()); got != in {
				t.Fatalf("got %q, want %q", got, in)
			}
		})
	}
}

func TestTablesAndRules(t *testing.T) {
	in := "" +
		"# -A INPUT -j before-any-table\n" +
		"*filter\n" +
		":INPUT DROP [0:0]\n" +
		":ufw - [0:0]\n" +
		"-A INPUT -i lo -j ACCEPT\n" +
		"#-A INPUT -j commented-out\n" +
		"  # -A INPUT -j indented-comment\n" +
		"[3:4] -A INPUT -m comment --comment \"a \\\"b\\\" c\" -j ACCEPT\r\n" +
		"--append ufw -j RETURN \n" +
		"-Aufw -j DROP\n" +
		"--append=ufw -j REJECT\n" +
		"-I INPUT -j inserted\n" +
		"-P INPUT ACCEPT\n" +
		"-A INPUT -m comment --comment \"open -j broken\n" +
		"-A\n" +
		"-p tcp -A INPUT -j options-first\n" +
		"COMMIT\n" +
		"-A INPUT -j after-commit\n" +
		"*raw\n" +
		"-A PREROUTING -j CT --notrack\n" +
		"COMMIT\n" +
		"*filter\n" +
		"-A INPUT -j second-block"
	f := Parse([]byte(in))
	if got, want := f.Tables(), []string{"filter", "raw"}; !slices.Equal(got, want) {
		t.Errorf("Tables() = %q, want %q", got, want)
	}
	want := []Rule{
		{"filter", "INPUT", []string{"-i", "lo", "-j", "ACCEPT"}, "-A INPUT -i lo -j ACCEPT"},
		{"filter", "INPUT", []string{"-m", "comment", "--comment", `a "b" c`, "-j", "ACCEPT"}, `[3:4] -A INPUT -m comment --comment "a \"b\" c" -j ACCEPT`},
		{"filter", "ufw", []string{"-j", "RETURN"}, "--append ufw -j RETURN "},
		{"filter", "ufw", []string{"-j", "DROP"}, "-Aufw -j DROP"},
		{"filter", "ufw", []string{"-j", "REJECT"}, "--append=ufw -j REJECT"},
		{"filter", "INPUT", []string{"-j", "second-block"}, "-A INPUT -j second-block"},
	}
	checkRules(t, f.Rules("filter"), want)
	checkRules(t, f.Rules("raw"), []Rule{{"raw", "PREROUTING", []string{"-j", "CT", "--notrack"}, "-A PREROUTING -j CT --notrack"}})
	checkRules(t, f.Rules("nat"), nil)
}

func checkRules(t *testing.T, got, want []Rule) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d rules, want %d:\ngot  %q\nwant %q", len(got), len(want), got, want)
	}
	for i := range got {
		g, w := got[i], want[i]
		if g.Table != w.Table || g.Chain != w.Chain || !slices.Equal(g.Args, w.Args) || g.Raw != w.Raw {
			t.Errorf("rule %d = %q\nwant      %q", i, g, w)
		}
	}
}

func TestPolicy(t *testing.T) {
	f := Parse([]byte("" +
		"*filter\n" +
		":INPUT ACCEPT [0:0]\n" +
		":FORWARD DROP [3:4]\n" +
		":OUTPUT ACCEPT\n" +
		":mine - [0:0]\n" +
		"-P INPUT DROP\n" +
		"--policy OUTPUT REJECT\n" +
		"COMMIT\n" +
		"*nat\n" +
		":PREROUTING ACCEPT [0:0]\n" +
		"COMMIT\n" +
		"-P PREROUTING DROP\n")) // outside any table: not in force
	for _, tc := range []struct {
		table, chain, want string
		ok                 bool
	}{
		{"filter", "INPUT", "DROP", true}, // a later -P wins
		{"filter", "FORWARD", "DROP", true},
		{"filter", "OUTPUT", "REJECT", true},
		{"filter", "mine", "-", true},
		{"filter", "PREROUTING", "", false},
		{"nat", "PREROUTING", "ACCEPT", true},
		{"raw", "PREROUTING", "", false},
	} {
		if got, ok := f.Policy(tc.table, tc.chain); got != tc.want || ok != tc.ok {
			t.Errorf("Policy(%s, %s) = %q, %v; want %q, %v", tc.table, tc.chain, got, ok, tc.want, tc.ok)
		}
	}
}

// TestCorpusRules checks Rules against rule counts taken from the files with
// grep/awk (lines starting with "-A", "--append" or "[pkts:bytes] -A",
// counted per *table section), and a few rules in detail.
func TestCorpusRules(t *testing.T) {
	data := map[string][]byte{}
	for _, c := range corpusFiles(t) {
		data[c.Name] = c.Data
	}
	for name, want := range map[string]map[string]int{
		"all-tables-blank-lines-counters.v4":          {"nat": 0, "mangle": 0, "raw": 0, "filter": 5},
		"fedora27-firewalld-counters.v4":              {"mangle": 13, "raw": 10, "filter": 50},
		"home-router-raw-ct-notrack.v4":               {"filter": 88, "nat": 8, "mangle": 6, "raw": 116},
		"shorewall-raw-comments.v4":                   {"nat": 2, "mangle": 7, "raw": 22, "filter": 373},
		"sysconfig-iptables-handwritten-long-options": {"nat": 3, "filter": 13}, // --append counted, -I and -P not
		"wireless-ap-raw-ct-helper.v4":                {"raw": 3, "filter": 55},
		"pastebin-no-trailing-newline.v4":             {"mangle": 0, "nat": 19, "filter": 21},
		"ufw-before.rules-comments":                   {"filter": 24},
	} {
		f := Parse(data[name])
		if len(f.Tables()) != len(want) {
			t.Errorf("%s: Tables() = %q, want %d tables", name, f.Tables(), len(want))
		}
		for table, n := range want {
			if got := len(f.Rules(table)); got != n {
				t.Errorf("%s: %d %s rules, want %d", name, got, table, n)
			}
		}
	}

	wireless := Parse(data["wireless-ap-raw-ct-helper.v4"])
	var users []Rule
	for _, r := range wireless.Rules("filter") {
		if strings.HasPrefix(r.Chain, "VPN_USERS_") {
			users = append(users, r)
		}
	}
	checkRules(t, users, []Rule{
		{"filter", "VPN_USERS_IN", []string{"-i", "ppp0", "-m", "comment", "--comment", "User: ", "-j", "ACCEPT"}, `-A VPN_USERS_IN -i ppp0 -m comment --comment "User: " -j ACCEPT`},
		{"filter", "VPN_USERS_OUT", []string{"-o", "ppp0", "-m", "comment", "--comment", "User: ", "-j", "ACCEPT"}, `-A VPN_USERS_OUT -o ppp0 -m comment --comment "User: " -j ACCEPT`},
	})

	fedora := Parse(data["fedora27-firewalld-counters.v4"])
	checkRules(t, fedora.Rules("mangle")[:1], []Rule{
		{"mangle", "PREROUTING", []string{"-j", "PREROUTING_direct"}, "[1:2] -A PREROUTING -j PREROUTING_direct"},
	})

	hand := Parse(data["sysconfig-iptables-handwritten-long-options"])
	checkRules(t, hand.Rules("nat")[:1], []Rule{
		{"nat", "POSTROUTING", []string{"--out-interface", "eth0", "-j", "MASQUERADE"}, "--append POSTROUTING --out-interface eth0 -j MASQUERADE "},
	})
	if p, ok := hand.Policy("filter", "INPUT"); p != "DROP" || !ok {
		t.Errorf("handwritten Policy(filter, INPUT) = %q, %v; want DROP from its -P line", p, ok)
	}
	home := Parse(data["home-router-raw-ct-notrack.v4"])
	if p, ok := home.Policy("raw", "PREROUTING"); p != "ACCEPT" || !ok {
		t.Errorf("home-router Policy(raw, PREROUTING) = %q, %v; want ACCEPT (declared without counters)", p, ok)
	}
}

func TestSplitArgs(t *testing.T) {
	// Expectations checked against iptables-legacy-restore 1.8.9 and
	// iptables-legacy-save (see restore_test.go for the live check).
	for _, tc := range []struct {
		in   string
		want []string
	}{
		{"", nil},
		{" \t ", nil},
		{"-A INPUT -j ACCEPT", []string{"-A", "INPUT", "-j", "ACCEPT"}},
		{"\t -A   INPUT\t-j DROP   ", []string{"-A", "INPUT", "-j", "DROP"}},
		{`--comment "two words"`, []string{"--comment", "two words"}},
		{`--comment "User: "`, []string{"--comment", "User: "}},
		{`--comment ""`, []string{"--comment", ""}},
		{`"" ""`, []string{"", ""}},
		{`"a\"b c\\d\e"`, []string{`a"b c\de`}},
		{`a\b`, []string{`a\b`}},
		{`"it\'s"`, []string{"it's"}},
		{`x"y z"w`, []string{"xy z", "w"}}, // the closing quote ends the argument
		{`"a"b`, []string{"a", "b"}},
		{"a\nb", []string{"a", "b"}},
		{"\"a\nb\"", []string{"a\nb"}},
		{"a\vb\rc", []string{"a\vb\rc"}}, // only space, tab and newline separate
	} {
		got, err := SplitArgs(tc.in)
		if err != nil || !slices.Equal(got, tc.want) || (got == nil) != (tc.want == nil) {
			t.Errorf("SplitArgs(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
	for _, in := range []string{`"`, `--comment "open`, `"a\"`, `"a\`} {
		if got, err := SplitArgs(in); err == nil {
			t.Errorf("SplitArgs(%q) = %q, nil; want an unterminated-quote error", in, got)
		}
	}
}

func TestFormatArgs(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, ""},
		{[]string{"-j", "CT", "--notrack"}, "-j CT --notrack"},
		{[]string{"-s", "10.0.0.0/8", "--ctstate", "RELATED,ESTABLISHED", "-i", "eth0.+"}, "-s 10.0.0.0/8 --ctstate RELATED,ESTABLISHED -i eth0.+"},
		{[]string{"--comment", "two words"}, `--comment "two words"`},
		{[]string{"--comment", "User: "}, `--comment "User: "`},
		{[]string{"--comment", ""}, `--comment ""`},
		{[]string{"--comment", `say "hi"`}, `--comment "say \"hi\""`},
		{[]string{"--comment", `a"b`}, `--comment "a\"b"`},
		{[]string{"--comment", `back\slash`}, `--comment back\slash`},
		{[]string{"--comment", `back\ slash`}, `--comment "back\\ slash"`},
		{[]string{"--comment", "tab\there"}, "--comment \"tab\there\""},
	} {
		got := FormatArgs(tc.args)
		if got != tc.want {
			t.Errorf("FormatArgs(%q) = %s, want %s", tc.args, got, tc.want)
		}
		if back, err := SplitArgs(got); err != nil || !slices.Equal(back, tc.args) {
			t.Errorf("SplitArgs(FormatArgs(%q)) = %q, %v", tc.args, back, err)
		}
	}
}

func TestValidRule(t *testing.T) {
	for _, tc := range []struct {
		table, chain string
		args         []string
	}{
		{"raw", "PREROUTING", preArgs},
		{"filter", "DOCKER-USER", nil},
		{"security", "INPUT", []string{"-j", "SECMARK", "--selctx", "x"}},
		{"nat", strings.Repeat("c", 28), []string{""}},
		{"mangle", "a.b:c+d_e", []string{"--comment", "tab\tand \"quote\" and \\"}},
	} {
		if err := ValidRule(tc.table, tc.chain, tc.args); err != nil {
			t.Errorf("ValidRule(%q, %q, %q) = %v, want nil", tc.table, tc.chain, tc.args, err)
		}
	}
	for _, tc := range []struct {
		table, chain string
		args         []string
	}{
		{"", "INPUT", nil},
		{"Raw", "PREROUTING", nil},
		{"broute", "BROUTING", nil},
		{"raw", "", nil},
		{"raw", strings.Repeat("c", 29), nil},
		{"raw", "-X", nil},
		{"raw", "!X", nil},
		{"raw", "a b", nil},
		{"raw", "a\tb", nil},
		{"raw", `a"b`, nil},
		{"raw", "é", nil},
		{"raw", "a\x7f", nil},
		{"raw", "OUTPUT", []string{"--comment", "a\nb"}},
		{"raw", "OUTPUT", []string{"--comment", "a\rb"}},
		{"raw", "OUTPUT", []string{"a\x00"}},
	} {
		if err := ValidRule(tc.table, tc.chain, tc.args); err == nil {
			t.Errorf("ValidRule(%q, %q, %q) = nil, want an error", tc.table, tc.chain, tc.args)
		}
	}
}

func TestAddRule(t *testing.T) {
	const rawBlock = "*raw\n:PREROUTING ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n"
	for _, tc := range []struct {
		name, in     string
		table, chain string
		args         []string
		want         string
	}{
		{"before COMMIT", "*raw\n:PREROUTING ACCEPT [0:0]\n-A PREROUTING -j A\n\n# end\nCOMMIT\n# Completed\n",
			"raw", "PREROUTING", []string{"-j", "B"},
			"*raw\n:PREROUTING ACCEPT [0:0]\n-A PREROUTING -j A\n\n# end\n-A PREROUTING -j B\nCOMMIT\n# Completed\n"},
		{"quoted args", "*raw\nCOMMIT\n", "raw", "OUTPUT", outArgs, "*raw\n" + outLine + "\nCOMMIT\n"},
		{"no args", "*raw\nCOMMIT\n", "raw", "OUTPUT", nil, "*raw\n-A OUTPUT\nCOMMIT\n"},
		{"other tables untouched", "*nat\nCOMMIT\n*raw\nCOMMIT\n*filter\nCOMMIT\n", "raw", "OUTPUT", []string{"-j", "X"},
			"*nat\nCOMMIT\n*raw\n-A OUTPUT -j X\nCOMMIT\n*filter\nCOMMIT\n"},
		{"last of duplicate blocks", "*raw\nCOMMIT\n*raw\nCOMMIT\n", "raw", "OUTPUT", []string{"-j", "X"},
			"*raw\nCOMMIT\n*raw\n-A OUTPUT -j X\nCOMMIT\n"},
		{"COMMIT with trailing blank", "*raw\nCOMMIT \n", "raw", "OUTPUT", []string{"-j", "X"}, "*raw\n-A OUTPUT -j X\nCOMMIT \n"},
		{"COMMIT without newline", "*raw\nCOMMIT", "raw", "OUTPUT", []string{"-j", "X"}, "*raw\n-A OUTPUT -j X\nCOMMIT"},
		{"crlf", "*raw\r\n:OUTPUT ACCEPT [0:0]\r\nCOMMIT\r\n", "raw", "OUTPUT", []string{"-j", "X"},
			"*raw\r\n:OUTPUT ACCEPT [0:0]\r\n-A OUTPUT -j X\r\nCOMMIT\r\n"},

		{"new raw block", "*filter\nCOMMIT\n", "raw", "PREROUTING", preArgs,
			"*filter\nCOMMIT\n" + rawBlock + preLine + "\nCOMMIT\n"},
		{"new block in empty file", "", "raw", "PREROUTING", []string{"-j", "X"}, rawBlock + "-A PREROUTING -j X\nCOMMIT\n"},
		{"new block after comments only", "# nothing yet\n", "raw", "PREROUTING", []string{"-j", "X"},
			"# nothing yet\n" + rawBlock + "-A PREROUTING -j X\nCOMMIT\n"},
		{"new block, no trailing newline", "*filter\nCOMMIT\n# Completed", "raw", "PREROUTING", []string{"-j", "X"},
			"*filter\nCOMMIT\n# Completed\n" + rawBlock + "-A PREROUTING -j X\nCOMMIT\n"},
		{"new block, crlf", "*filter\r\nCOMMIT\r\n# Completed", "raw", "OUTPUT", []string{"-j", "X"},
			"*filter\r\nCOMMIT\r\n# Completed\r\n*raw\r\n:PREROUTING ACCEPT [0:0]\r\n:OUTPUT ACCEPT [0:0]\r\n-A OUTPUT -j X\r\nCOMMIT\r\n"},
		{"new filter block", "", "filter", "INPUT", []string{"-j", "X"},
			"*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n-A INPUT -j X\nCOMMIT\n"},
		{"new mangle block", "", "mangle", "FORWARD", []string{"-j", "X"},
			"*mangle\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\n-A FORWARD -j X\nCOMMIT\n"},
		{"new nat block", "", "nat", "POSTROUTING", []string{"-j", "X"},
			"*nat\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\n-A POSTROUTING -j X\nCOMMIT\n"},
		{"new block with user chain", "", "raw", "ct-tf", []string{"-j", "X"},
			rawBlock + ":ct-tf - [0:0]\n-A ct-tf -j X\nCOMMIT\n"},

		{"undeclared built-in needs no declaration", "*raw\n:PREROUTING ACCEPT [0:0]\n:mine - [0:0]\nCOMMIT\n", "raw", "OUTPUT", []string{"-j", "X"},
			"*raw\n:PREROUTING ACCEPT [0:0]\n:mine - [0:0]\n-A OUTPUT -j X\nCOMMIT\n"},
		{"undeclared user chain declared after last chain line", "*raw\n:PREROUTING ACCEPT [0:0]\n:mine - [0:0]\n-A PREROUTING -j mine\nCOMMIT\n", "raw", "ct-tf", []string{"-j", "X"},
			"*raw\n:PREROUTING ACCEPT [0:0]\n:mine - [0:0]\n:ct-tf - [0:0]\n-A PREROUTING -j mine\n-A ct-tf -j X\nCOMMIT\n"},
		{"declared user chain", "*raw\n:ct-tf - [0:0]\n:z - [0:0]\nCOMMIT\n", "raw", "ct-tf", []string{"-j", "X"},
			"*raw\n:ct-tf - [0:0]\n:z - [0:0]\n-A ct-tf -j X\nCOMMIT\n"},
		{"user chain made by -N", "*raw\n-N ct-tf\nCOMMIT\n", "raw", "ct-tf", []string{"-j", "X"}, "*raw\n-N ct-tf\n-A ct-tf -j X\nCOMMIT\n"},
		{"user chain declared only in an earlier block", "*raw\n:ct-tf - [0:0]\nCOMMIT\n*raw\nCOMMIT\n", "raw", "ct-tf", []string{"-j", "X"},
			"*raw\n:ct-tf - [0:0]\nCOMMIT\n*raw\n:ct-tf - [0:0]\n-A ct-tf -j X\nCOMMIT\n"},
		{"user chain in a block without chain lines", "*raw\n-A OUTPUT -j A\nCOMMIT\n", "raw", "ct-tf", []string{"-j", "X"},
			"*raw\n:ct-tf - [0:0]\n-A OUTPUT -j A\n-A ct-tf -j X\nCOMMIT\n"},
		{"a chain of another table is not declared here", "*filter\n:ct-tf - [0:0]\nCOMMIT\n*raw\nCOMMIT\n", "raw", "ct-tf", []string{"-j", "X"},
			"*filter\n:ct-tf - [0:0]\nCOMMIT\n*raw\n:ct-tf - [0:0]\n-A ct-tf -j X\nCOMMIT\n"},

		{"no COMMIT, end of file", "*raw\n-A OUTPUT -j A", "raw", "OUTPUT", []string{"-j", "X"}, "*raw\n-A OUTPUT -j A\n-A OUTPUT -j X\n"},
		{"no COMMIT, before trailing comments", "*raw\n-A OUTPUT -j A\n\n# Completed\n", "raw", "OUTPUT", []string{"-j", "X"},
			"*raw\n-A OUTPUT -j A\n-A OUTPUT -j X\n\n# Completed\n"},
		{"no COMMIT, next table follows", "*raw\n-A OUTPUT -j A\n*filter\nCOMMIT\n", "raw", "OUTPUT", []string{"-j", "X"},
			"*raw\n-A OUTPUT -j A\n-A OUTPUT -j X\n*filter\nCOMMIT\n"},
		{"no COMMIT, header only", "*raw", "raw", "ct-tf", []string{"-j", "X"}, "*raw\n:ct-tf - [0:0]\n-A ct-tf -j X\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := Parse([]byte(tc.in))
			if err := f.AddRule(tc.table, tc.chain, tc.args); err != nil {
				t.Fatal(err)
			}
			if got := string(f.Bytes()); got != tc.want {
				t.Fatalf("AddRule(%s, %s, %q) on %q:\ngot  %q\nwant %q", tc.table, tc.chain, tc.args, tc.in, got, tc.want)
			}
			found := false
			for _, r := range Parse(f.Bytes()).Rules(tc.table) {
				found = found || r.Chain == tc.chain && slices.Equal(r.Args, tc.args)
			}
			if !found {
				t.Fatalf("Rules(%s) after AddRule lacks the rule", tc.table)
			}
		})
	}
}

func TestInsertRule(t *testing.T) {
	x := []string{"-j", "X"}
	for _, tc := range []struct {
		name, in, table, chain, want string
	}{
		{"first of the chain's rules", "*filter\n:INPUT DROP [0:0]\n-A FORWARD -j F\n# c\n[1:2] -A INPUT -j A\n-A INPUT -j B\nCOMMIT\n", "filter", "INPUT",
			"*filter\n:INPUT DROP [0:0]\n-A FORWARD -j F\n# c\n-A INPUT -j X\n[1:2] -A INPUT -j A\n-A INPUT -j B\nCOMMIT\n"},
		{"long form counts", "*filter\n--append INPUT -j A\nCOMMIT\n", "filter", "INPUT", "*filter\n-A INPUT -j X\n--append INPUT -j A\nCOMMIT\n"},
		{"-I lines do not count", "*filter\n-I INPUT -j A\nCOMMIT\n", "filter", "INPUT", "*filter\n-I INPUT -j A\n-A INPUT -j X\nCOMMIT\n"},
		{"chain without rules", "*filter\n-A FORWARD -j F\nCOMMIT\n", "filter", "INPUT", "*filter\n-A FORWARD -j F\n-A INPUT -j X\nCOMMIT\n"},
		{"last block only", "*filter\n-A INPUT -j A\nCOMMIT\n*filter\nCOMMIT\n", "filter", "INPUT",
			"*filter\n-A INPUT -j A\nCOMMIT\n*filter\n-A INPUT -j X\nCOMMIT\n"},
		{"undeclared chain", "*raw\n:y - [0:0]\n-A x -j A\nCOMMIT\n", "raw", "x", "*raw\n:y - [0:0]\n:x - [0:0]\n-A x -j X\n-A x -j A\nCOMMIT\n"},
		{"undeclared chain, rules before the chain lines", "*raw\n-A x -j A\n:y - [0:0]\nCOMMIT\n", "raw", "x", "*raw\n-A x -j X\n-A x -j A\n:y - [0:0]\n:x - [0:0]\nCOMMIT\n"},
		{"new table", "", "filter", "INPUT", "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n-A INPUT -j X\nCOMMIT\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := Parse([]byte(tc.in))
			if err := f.InsertRule(tc.table, tc.chain, x); err != nil {
				t.Fatal(err)
			}
			if got := string(f.Bytes()); got != tc.want {
				t.Fatalf("InsertRule(%s, %s) on %q:\ngot  %q\nwant %q", tc.table, tc.chain, tc.in, got, tc.want)
			}
		})
	}
}

// TestCorpusInsertRule puts a rule first in filter INPUT of every corpus
// file and takes it out again.
func TestCorpusInsertRule(t *testing.T) {
	args := []string{"-m", "conntrack", "--ctstate", "UNTRACKED", "-m", "comment", "--comment", "conntrack-tf:abc", "-j", "ACCEPT"}
	for _, c := range corpusFiles(t) {
		t.Run(c.Name, func(t *testing.T) {
			f := Parse(c.Data)
			hadFilter := slices.Contains(f.Tables(), "filter")
			if err := f.InsertRule("filter", "INPUT", args); err != nil {
				t.Fatal(err)
			}
			allCommitted(t, f.Bytes())
			i := slices.IndexFunc(f.Rules("filter"), func(r Rule) bool { return r.Chain == "INPUT" })
			if r := f.Rules("filter")[i]; !slices.Equal(r.Args, args) {
				t.Fatalf("first filter INPUT rule is %q, want ours", r.Raw)
			}
			if n := f.DeleteRules("filter", ours); n != 1 {
				t.Fatalf("DeleteRules = %d, want 1", n)
			}
			if got := f.Bytes(); hadFilter && !bytes.Equal(got, c.Data) {
				t.Fatalf("after InsertRule + DeleteRules:\ngot  %q\nwant %q", got, c.Data)
			}
		})
	}
}

// TestAddRuleRefusesInvalidInput: a value that slipped past plan-time
// validation (the IPv6 zone with a newline of issue #11) is an error, never a
// panic, and the file is left byte for byte.
func TestAddRuleRefusesInvalidInput(t *testing.T) {
	const in = "*raw\n:OUTPUT ACCEPT [0:0]\nCOMMIT\n"
	for _, tc := range []struct {
		table, chain string
		args         []string
	}{
		{"raw", "OUTPUT", []string{"--comment", "a\n*filter"}},
		{"raw", "OUTPUT", []string{"-d", "fe80::1%eth0\n-A INPUT -j DROP"}},
		{"raw", "OUTPUT", []string{"-s", "1.2.3.4\r"}},
		{"raw", "OUTPUT", []string{"-s", "a\x00"}},
		{"raw", "-OUTPUT", nil},
		{"raw", "", nil},
		{"nosuchtable", "OUTPUT", nil},
	} {
		for name, add := range map[string]func(*File, string, string, []string) error{"AddRule": (*File).AddRule, "InsertRule": (*File).InsertRule} {
			f := Parse([]byte(in))
			if err := add(f, tc.table, tc.chain, tc.args); err == nil {
				t.Errorf("%s(%q, %q, %q) = nil, want an error", name, tc.table, tc.chain, tc.args)
			}
			if got := string(f.Bytes()); got != in {
				t.Errorf("%s changed the file on error: %q", name, got)
			}
		}
	}
}

func TestDeleteRules(t *testing.T) {
	in := "" +
		"*filter\n" +
		"-A INPUT -m comment --comment \"conntrack-tf:x\" -j ACCEPT\n" + // another table: kept
		"COMMIT\n" +
		"*raw\n" +
		":PREROUTING ACCEPT [0:0]\n" +
		"#-A PREROUTING -m comment --comment conntrack-tf:commented -j CT --notrack\n" +
		"[1:2] -A PREROUTING -m comment --comment conntrack-tf:counted -j CT --notrack\r\n" +
		"-A PREROUTING -j keep\n" +
		"--append OUTPUT -m comment --comment \"conntrack-tf:long form\" -j CT --notrack\n" +
		"-I OUTPUT -m comment --comment conntrack-tf:insert -j CT --notrack\n" + // not a rule we own
		"COMMIT\n" +
		"-A OUTPUT -m comment --comment conntrack-tf:outside -j CT --notrack\n" + // outside any table
		"*raw\n" +
		"-A OUTPUT -m comment --comment conntrack-tf:last"
	want := "" +
		"*filter\n" +
		"-A INPUT -m comment --comment \"conntrack-tf:x\" -j ACCEPT\n" +
		"COMMIT\n" +
		"*raw\n" +
		":PREROUTING ACCEPT [0:0]\n" +
		"#-A PREROUTING -m comment --comment conntrack-tf:commented -j CT --notrack\n" +
		"-A PREROUTING -j keep\n" +
		"-I OUTPUT -m comment --comment conntrack-tf:insert -j CT --notrack\n" +
		"COMMIT\n" +
		"-A OUTPUT -m comment --comment conntrack-tf:outside -j CT --notrack\n" +
		"*raw\n"
	f := Parse([]byte(in))
	if n := f.DeleteRules("raw", ours); n != 3 {
		t.Errorf("DeleteRules = %d, want 3", n)
	}
	if got := string(f.Bytes()); got != want {
		t.Fatalf("after DeleteRules:\ngot  %q\nwant %q", got, want)
	}
	if n := f.DeleteRules("raw", ours); n != 0 {
		t.Errorf("second DeleteRules = %d, want 0", n)
	}
	if n := f.DeleteRules("nat", func(Rule) bool { return true }); n != 0 || string(f.Bytes()) != want {
		t.Errorf("DeleteRules on a missing table = %d and changed the file", n)
	}
}

// TestCorpusAddDelete adds two raw rules to every corpus file and deletes
// them again. Files with a raw table come back byte for byte; files without
// one keep the *raw block AddRule appended, now empty (DeleteRules removes
// rules, never blocks), after a line ending if the file lacked a final one.
func TestCorpusAddDelete(t *testing.T) {
	for _, c := range corpusFiles(t) {
		t.Run(c.Name, func(t *testing.T) {
			f := Parse(c.Data)
			hadRaw := slices.Contains(f.Tables(), "raw")
			before := lines(f)
			rawBefore := f.Rules("raw")

			if err := f.AddRule("raw", "PREROUTING", preArgs); err != nil {
				t.Fatal(err)
			}
			if err := f.AddRule("raw", "OUTPUT", outArgs); err != nil {
				t.Fatal(err)
			}
			edited := f.Bytes()
			allCommitted(t, edited)

			for _, g := range []*File{f, Parse(edited)} {
				want := append(slices.Clone(rawBefore),
					Rule{"raw", "PREROUTING", preArgs, preLine},
					Rule{"raw", "OUTPUT", outArgs, outLine})
				checkRules(t, g.Rules("raw"), want)
			}

			eol := f.dominantEOL()
			after := lines(f)
			if !hadRaw {
				block := []string{"*raw" + eol, ":PREROUTING ACCEPT [0:0]" + eol, ":OUTPUT ACCEPT [0:0]" + eol, preLine + eol, outLine + eol, "COMMIT" + eol}
				if n := len(after) - len(block); n < 0 || !slices.Equal(after[n:], block) {
					t.Fatalf("file without raw table: new block not at the end:\n%q", after)
				}
				after = after[:len(after)-len(block)]
			} else {
				// The two rules are the last lines before the raw COMMIT.
				i := slices.Index(after, preLine+eol)
				if i < 0 || at(after, i+1) != outLine+eol || !strings.HasPrefix(at(after, i+2), "COMMIT") {
					t.Fatalf("added rules are not just before the raw COMMIT:\n%q", after)
				}
				after = slices.Delete(after, i, i+2)
			}
			sameOthers(t, before, after, nil)

			if n := f.DeleteRules("raw", ours); n != 2 {
				t.Fatalf("DeleteRules = %d, want 2", n)
			}
			want := c.Data
			if !hadRaw {
				want = slices.Clone(c.Data)
				if len(want) > 0 && want[len(want)-1] != '\n' {
					want = append(want, eol...)
				}
				want = append(want, strings.ReplaceAll("*raw\n:PREROUTING ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\nCOMMIT\n", "\n", eol)...)
			}
			if got := f.Bytes(); !bytes.Equal(got, want) {
				t.Fatalf("after AddRule + DeleteRules (had raw: %v):\ngot  %q\nwant %q", hadRaw, got, want)
			}
		})
	}
}

// TestCorpusUserChain adds a rule to an undeclared user chain of raw: the
// declaration goes after the raw block's last chain line and stays after
// DeleteRules.
func TestCorpusUserChain(t *testing.T) {
	for _, c := range corpusFiles(t) {
		f := Parse(c.Data)
		if !slices.Contains(f.Tables(), "raw") {
			continue
		}
		t.Run(c.Name, func(t *testing.T) {
			before := lines(f)
			if err := f.AddRule("raw", "conntrack-tf", preArgs); err != nil {
				t.Fatal(err)
			}
			got := f.Rules("raw")
			if r := got[len(got)-1]; r.Chain != "conntrack-tf" || !slices.Equal(r.Args, preArgs) {
				t.Fatalf("last raw rule = %q", r)
			}
			bs := f.blocks()
			var raw block
			for _, b := range bs {
				if b.table == "raw" {
					raw = b
				}
			}
			d := slices.IndexFunc(f.lines, func(l line) bool { return l.text == ":conntrack-tf - [0:0]" })
			if d <= raw.head || d >= raw.commit {
				t.Fatalf("declaration at line %d, outside the last raw block (lines %d-%d)", d+1, raw.head+1, raw.commit+1)
			}
			for i := d + 1; i < raw.commit; i++ {
				if _, _, ok := chainDecl(f.lines[i].text); ok {
					t.Fatalf("declaration at line %d is not after the last chain line %d", d+1, i+1)
				}
			}
			if _, _, ok := chainDecl(f.lines[d-1].text); !ok {
				t.Fatalf("declaration at line %d does not follow a chain line: %q", d+1, f.lines[d-1].text)
			}
			f.DeleteRules("raw", ours)
			sameOthers(t, before, lines(f), func(l string) bool { return l == ":conntrack-tf - [0:0]\n" })
			if len(lines(f)) != len(before)+1 {
				t.Fatalf("%d lines after delete, want %d (the declaration stays)", len(lines(f)), len(before)+1)
			}
		})
	}
}
