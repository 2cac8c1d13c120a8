//go:build oracle

package shellvars

import (
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

var frags = []string{
	"# comment with 'quote", "# comment with \"quote", "#A=commented", "  # B=x",
	"K=abc", "K=a\\ b", "K=a\\", "K=", "K=a#b", "K=\"a b\"", "K='a b'", "K=\"a\\\"b\"", "K=\"a'b\"", "K='a\"b'",
	"K=\"a\"'b'c", "export K=\"x\"", "  K=1 # c", "K=1 # c 'x", "K=\"multi", "end\"", "end'",
	"echo 'x", "echo \"y", "echo \\", "true # it's", ":", "'", "\"", "echo $'\\''",
	"echo \\'", "echo \\\"", "echo a#'", "echo a;#'", "K=\"x\\\\\"", "K='x\\'", "\tK=\"t\"\t#c",
	"K=\"a\\\nb\"", "echo `", "`", "K=\"`\"", "K='#'", "K=\"a\" # it's", "echo x \\", "# c \\",
	"K=a\\\\", "K=\\\\", "echo \"a\\\\\"", "echo 'a\\\\'", "",
	"K=\"$(echo \")\")\"", "K=`echo \"x\"`", "K=$(echo a # )", "K=\"${B:-\"}\"}\"", "(", "echo $(",
	"( K=2 )", "K=$((1+2))", "K=\"a$(echo b)c\"", "K=\"x`echo y`\"", "echo ${x:-'}", "K=${x:-'}'}",
}

func TestBashOracle(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "f")
	r := rand.New(rand.NewSource(11))
	keys := []string{"A", "B", "C"}
	for iter := 0; iter < 5000; iter++ {
		n := 1 + r.Intn(8)
		var sb strings.Builder
		for i := 0; i < n; i++ {
			fr := frags[r.Intn(len(frags))]
			fr = strings.ReplaceAll(fr, "K", keys[r.Intn(len(keys))])
			sb.WriteString(fr)
			if i < n-1 || r.Intn(2) == 0 {
				sb.WriteString("\n")
			}
		}
		src := sb.String()
		os.WriteFile(p, []byte(src), 0o644)
		out, _ := exec.Command("env", "-i", "bash", "--norc", "--noprofile", "-c",
			`. "$1" >/dev/null 2>&1; for k in A B C; do if [ "${!k+x}" ]; then printf '%s=%s\0' "$k" "${!k}"; fi; done`, "_", p).Output()
		want := map[string]string{}
		for _, kv := range strings.Split(string(out), "\x00") {
			if k, v, ok := strings.Cut(kv, "="); ok {
				want[k] = v
			}
		}
		f := Parse([]byte(src))
		for _, k := range keys {
			got, ok := f.Get(k)
			w, wok := want[k]
			if ok && wok && strings.ContainsAny(got, "$`") {
				continue
			}
			if ok != wok || got != w {
				t.Errorf("file %q: Get(%s) = %q,%v; bash %q,%v", src, k, got, ok, w, wok)
			}
		}
	}
}
