// The bash oracle: random files built from tricky fragments are sourced by
// bash, and what bash assigns must be what Get reads, before and after a
// Set. Every run checks 300 files (a few seconds); ORACLE_FILES=2000 digs
// deeper.
package shellvars

import (
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// oracleFragments are lines (K is replaced by a key) that bash and this
// package must read alike. Left out on purpose, because the package does
// not claim to read them as bash does: syntax errors (bash stops there),
// several assignments in one statement ("A=1 B=2"), arrays, and a CR at the
// end of a line.
var oracleFragments = []string{
	"", ":", "# comment with 'quote", "# comment with \"quote", "#K=commented", "  # K=x", "# c \\",
	"K=abc", "K=", "K=a#b", "K=a\\ b", "K=a\\\\", "K=\\\\", "K=a\\\nb", "K='#'",
	"K=\"a b\"", "K='a b'", "K=\"a\\\"b\"", "K=\"a'b\"", "K='a\"b'", "K=\"a\"'b'c", "K='x\\'", "K=\"x\\\\\"",
	"export K=\"x\"", "  K=1 # c", "K=1 # c 'x", "\tK=\"t\"\t#c", "K=\"a\" # it's", "K=1 \\\n# c",
	"K=\"multi", "K='multi", "end\"", "end'", "'", "\"", "`", "K=\"a\\\nb\"",
	"echo 'x", "echo \"y", "echo \\'", "echo \\\"", "echo a#'", "echo a;#'", "true # it's",
	"echo \"a\\\\\"", "echo 'a\\\\'", "echo $'\\''", "echo `", "echo x \\\n  y", "echo \\\nK=1",
	"K=\"$(echo \")\")\"", "K=`echo \"x\"`", "K=\"`\"", "K=$(echo a # )", "K=\"${B:-\"}\"}\"", "K=${x:-'}'}",
	"K=$((1+2))", "K=\"a$(echo b)c\"", "K=\"x`echo y`\"", "K=${X:-a b}", "echo ${x:-'}", "echo $(", "(", "( K=2 )",
}

func TestBashOracle(t *testing.T) {
	if _, err := exec.LookPath("bash"); err != nil {
		t.Fatal("bash is needed for the oracle (Debian has it)")
	}
	p := filepath.Join(t.TempDir(), "f")
	source := func(b []byte) map[string]string {
		t.Helper()
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		out, _ := exec.Command("env", "-i", "bash", "--norc", "--noprofile", "-c",
			`. "$1" >/dev/null 2>&1; for k in A B C; do [ "${!k+x}" ] && printf '%s=%s\0' "$k" "${!k}"; done`, "_", p).Output()
		m := map[string]string{}
		for _, kv := range strings.Split(string(out), "\x00") {
			if k, v, ok := strings.Cut(kv, "="); ok {
				m[k] = v
			}
		}
		return m
	}
	// agree reports where f and bash's view of the same file differ. A
	// value with an expansion is compared for presence only: Get does not
	// evaluate it.
	agree := func(f *File, bash map[string]string) []string {
		var diffs []string
		for _, k := range []string{"A", "B", "C"} {
			got, ok := f.Get(k)
			want, wok := bash[k]
			if ok != wok || got != want && !strings.ContainsAny(got, "$`") {
				diffs = append(diffs, k+": Get "+strconvQ(got, ok)+", bash "+strconvQ(want, wok))
			}
		}
		return diffs
	}
	keys := []string{"A", "B", "C"}
	setValues := []string{"x", "", "a b", "it's", "#x", " lead", "ip_conntrack nf_nat_ftp"}
	r := rand.New(rand.NewSource(1))
	files := 300
	if n, err := strconv.Atoi(os.Getenv("ORACLE_FILES")); err == nil && n > 0 {
		files = n
	}
	for iter := 0; iter < files; iter++ {
		var sb strings.Builder
		for i, n := 0, 1+r.Intn(8); i < n; i++ {
			sb.WriteString(strings.ReplaceAll(oracleFragments[r.Intn(len(oracleFragments))], "K", keys[r.Intn(len(keys))]))
			if i < n-1 || r.Intn(2) == 0 {
				sb.WriteString("\n")
			}
		}
		src := []byte(sb.String())
		f := Parse(src)
		if d := agree(f, source(src)); d != nil {
			t.Errorf("file %q: %v", src, d)
			continue
		}
		k, v := keys[r.Intn(len(keys))], setValues[r.Intn(len(setValues))]
		f.Set(k, v)
		out := f.Bytes()
		bash := source(out)
		if got, ok := bash[k]; !ok || got != v {
			t.Errorf("file %q: after Set(%s, %q) bash reads %s\n%q", src, k, v, strconvQ(got, ok), out)
		}
		if d := agree(Parse(out), bash); d != nil {
			t.Errorf("file %q after Set(%s, %q):\n%q: %v", src, k, v, out, d)
		}
	}
}

func strconvQ(v string, ok bool) string {
	if !ok {
		return "unset"
	}
	return `"` + v + `"`
}
