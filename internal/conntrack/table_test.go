package conntrack

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// runSummary runs the summary script with dash, busybox sh or bash over
// table (a file standing for /proc/net/nf_conntrack).
func runSummary(t *testing.T, shell []string, table string, top int, budget time.Duration) TableSummary {
	t.Helper()
	script, args := SummaryScript(top, budget)
	script = strings.ReplaceAll(script, "/proc/net/nf_conntrack", table)
	argv := append(append(shell, "-c", script, "sh"), args...)
	out, err := exec.Command(argv[0], argv[1:]...).Output()
	if err != nil {
		t.Fatalf("%v: %v", shell, err)
	}
	sum, err := ParseSummary(string(out))
	if err != nil {
		t.Fatalf("%v: %v\n%s", shell, err, out)
	}
	return sum
}

func shells(t *testing.T) [][]string {
	var out [][]string
	for _, s := range [][]string{{"dash"}, {"bash", "--posix"}, {"busybox", "sh"}} {
		if _, err := exec.LookPath(s[0]); err == nil {
			out = append(out, s)
		}
	}
	if len(out) == 0 {
		t.Fatal("no POSIX shell on this machine")
	}
	return out
}

func TestSummaryScriptCountsGroups(t *testing.T) {
	t.Parallel()
	for _, sh := range shells(t) {
		sum := runSummary(t, sh, "testdata/nf_conntrack.txt", 10, time.Second)
		want := []TableGroup{
			{"tcp", "TIME_WAIT", 8080, 2}, {"icmp", "REPLIED", 0, 1}, {"tcp", "ESTABLISHED", 22, 1},
			{"udp", "REPLIED", 53, 1}, {"udp", "UNREPLIED", 53, 1},
		}
		if sum.Source != "testdata/nf_conntrack.txt" || sum.Scanned != 6 || sum.Truncated || !reflect.DeepEqual(sum.Top, want) {
			t.Errorf("%v: got %+v, want 6 entries in %v", sh, sum, want)
		}
		// Top N cuts the groups on the host.
		if sum := runSummary(t, sh, "testdata/nf_conntrack.txt", 2, time.Second); !reflect.DeepEqual(sum.Top, want[:2]) || sum.Scanned != 6 {
			t.Errorf("%v: top 2: got %+v", sh, sum.Top)
		}
	}
}

// A million entries, summarised in bounded output; a table that takes
// longer than the budget is cut and says so.
func TestSummaryScriptLargeTable(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("writes a 150 MB table")
	}
	dir := t.TempDir()
	table := filepath.Join(dir, "nf_conntrack")
	f, err := os.Create(table)
	if err != nil {
		t.Fatal(err)
	}
	const n = 1_000_000
	for i := 0; i < n; i++ {
		port := 53
		if i%10 == 0 {
			port = 1024 + i%5000
		}
		fmt.Fprintf(f, "ipv4     2 udp      17 29 src=10.0.0.1 dst=10.0.0.2 sport=%d dport=%d [UNREPLIED] src=10.0.0.2 dst=10.0.0.1 sport=%d dport=%d mark=0 zone=0 use=2\n",
			1024+i%60000, port, port, 1024+i%60000)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	script, args := SummaryScript(10, time.Minute)
	script = strings.ReplaceAll(script, "/proc/net/nf_conntrack", table)
	start := time.Now()
	out, err := exec.Command("sh", append([]string{"-c", script, "sh"}, args...)...).Output()
	if err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	sum, err := ParseSummary(string(out))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d entries summarised in %v, %d bytes of output", sum.Scanned, took, len(out))
	if sum.Scanned != n || sum.Truncated || len(sum.Top) != 10 || sum.Top[0] != (TableGroup{"udp", "UNREPLIED", 53, n * 9 / 10}) {
		t.Errorf("got %d scanned, truncated %v, top %+v", sum.Scanned, sum.Truncated, sum.Top)
	}
	if len(out) > 2000 {
		t.Errorf("%d bytes of output for top 10, want bounded", len(out))
	}

	// A budget of one second over a table that never ends.
	script, args = SummaryScript(3, time.Second)
	script = strings.ReplaceAll(script, `cat "$f"`, `yes "$(head -n 1 `+table+`)"`)
	start = time.Now()
	out, err = exec.Command("sh", append([]string{"-c", script, "sh"}, args...)...).Output()
	if err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("a 1 s budget took %v", took)
	}
	if sum, err = ParseSummary(string(out)); err != nil || !sum.Truncated || sum.Scanned == 0 || len(sum.Top) != 1 {
		t.Errorf("endless table: %+v, %v", sum, err)
	}
}

func TestParseSummary(t *testing.T) {
	t.Parallel()
	out := marker + "begin\n" + marker + "source\n/proc/net/nf_conntrack\n" + marker + "summary\n" +
		"n 1000\nr 0\ng 600 udp UNREPLIED 53\ng 300 tcp TIME_WAIT 80\ng 100 tcp ESTABLISHED 22\n" +
		"p 600 udp 53\np 300 tcp 80\np 99 tcp 22\n" + marker + "end\n"
	sum, err := ParseSummary(out)
	if err != nil {
		t.Fatal(err)
	}
	want := []Candidate{{"udp", 53, 600, 60}, {"tcp", 80, 300, 30}}
	if !reflect.DeepEqual(sum.Candidates, want) {
		t.Errorf("candidates %+v, want %+v", sum.Candidates, want)
	}
	if len(sum.Listening) != 3 || sum.Listening[2].Percent != 9.9 {
		t.Errorf("listening %+v", sum.Listening)
	}

	for name, c := range map[string]struct {
		out     string
		wantErr string
	}{
		"no source":   {marker + "begin\n" + marker + "source\n" + marker + "end\n", ""},
		"truncated":   {marker + "begin\n" + marker + "source\n/proc/net/nf_conntrack\n" + marker + "summary\nn 3\n", "end marker"},
		"no totals":   {marker + "begin\n" + marker + "source\n/x\n" + marker + "summary\ng 1 tcp X 1\n" + marker + "end\n", "totals"},
		"unreadable":  {marker + "begin\n" + marker + "source\n/x\n" + marker + "summary\nn 0\nr 1\n" + marker + "end\n", "cannot read /x"},
		"bad port":    {marker + "begin\n" + marker + "source\n/x\n" + marker + "summary\nn 1\nr 0\ng 1 tcp X 70000\n" + marker + "end\n", "unexpected"},
		"bad line":    {marker + "begin\n" + marker + "source\n/x\n" + marker + "summary\nn 1\nr 0\nzz\n" + marker + "end\n", "unexpected"},
		"no summary":  {marker + "begin\n" + marker + "source\n/x\n" + marker + "end\n", "no summary"},
		"time budget": {marker + "begin\n" + marker + "source\n/x\n" + marker + "summary\nn 5\nr 124\n" + marker + "end\n", ""},
	} {
		_, err := ParseSummary(c.out)
		if (err == nil) != (c.wantErr == "") || (err != nil && !strings.Contains(err.Error(), c.wantErr)) {
			t.Errorf("%s: err %v, want %q", name, err, c.wantErr)
		}
	}
}

func TestCandidates(t *testing.T) {
	t.Parallel()
	listening := []Candidate{{"tcp", 80, 100, 0}, {"udp", 53, 99, 0}, {"tcp", 443, 1000, 0}}
	// 10% of 1000 and at least 100 entries: 80 (exactly 10%) and 443; 53 has too few.
	got := Candidates(listening, 1000)
	want := []Candidate{{"tcp", 443, 1000, 100}, {"tcp", 80, 100, 10}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v, want %+v", got, want)
	}
	if got := Candidates(listening, 1001); len(got) != 1 {
		t.Errorf("80 is under 10%% of 1001: %+v", got)
	}
}

func FuzzParseSummary(f *testing.F) {
	f.Add("n 3\nr 0\ng 2 tcp TIME_WAIT 80\np 2 tcp 80\n")
	f.Add("n 0\nr 124\n")
	f.Add("g -1 tcp X 1\n")
	f.Fuzz(func(t *testing.T, body string) {
		out := marker + "begin\n" + marker + "source\n/proc/net/nf_conntrack\n" + marker + "summary\n" + body + "\n" + marker + "end\n"
		sum, err := ParseSummary(out)
		if err != nil {
			return
		}
		for i, g := range sum.Top {
			if g.Count < 0 || g.Port < 0 || g.Port > 65535 || (i > 0 && sum.Top[i-1].Count < g.Count) {
				t.Fatalf("bad group order or value: %+v", sum.Top)
			}
		}
		for _, c := range sum.Candidates {
			if c.Count < CandidateMinEntries || c.Count*100 < sum.Scanned*CandidateShare {
				t.Fatalf("candidate %+v does not dominate %d entries", c, sum.Scanned)
			}
		}
	})
}
