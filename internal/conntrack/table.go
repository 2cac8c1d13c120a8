package conntrack

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// What fills the table: a summary of the tracked connections made on the
// host itself, so that only a few lines come back however big the table.

// Bounds of a table summary.
const (
	// TopMax is the most groups a summary returns.
	TopMax = 100
	// SummaryBudget is how long the host may spend reading the table;
	// what it read by then is summarised, and the summary says so.
	SummaryBudget = 10 * time.Second
	// listenMax is the most listening ports whose entries come back.
	listenMax = 50
)

// Candidate rule: a local listening port "dominates" the table when the
// entries whose destination port it is make up at least CandidateShare
// percent of the entries read, and at least CandidateMinEntries of them.
const (
	CandidateShare      = 10
	CandidateMinEntries = 100
)

// TableGroup is one protocol, state and destination port with its entries.
type TableGroup struct {
	Protocol string // tcp, udp, icmp, ...
	// State is the TCP (SCTP, DCCP) state; for protocols without one,
	// UNREPLIED (no packet came back yet) or REPLIED.
	State string
	Port  int // the original direction's destination port; 0 when the protocol has none
	Count int64
}

// Candidate is a local listening port whose entries dominate the table.
type Candidate struct {
	Protocol string // tcp or udp
	Port     int
	Count    int64
	Percent  float64 // of the entries read, two decimals
}

// TableSummary is what SummaryScript reports.
type TableSummary struct {
	// Source is the file read: /proc/net/nf_conntrack, or
	// /proc/net/ip_conntrack on kernels up to 2.6.19; "" when neither
	// exists (conntrack not loaded, or a kernel built without
	// CONFIG_NF_CONNTRACK_PROCFS).
	Source string
	// Scanned are the entries read; Truncated says the read stopped at
	// SummaryBudget, so the counts are of the first Scanned entries.
	Scanned   int64
	Truncated bool
	// Top are the biggest groups, most entries first (ties by protocol,
	// state, port).
	Top []TableGroup
	// Listening are the entries of each local listening port (TCP listen,
	// bound UDP) that has any, most first; Candidates those that dominate.
	Listening  []Candidate
	Candidates []Candidate
}

// summaryScript: $1 top N, $2 the budget in seconds, $3 listenMax, $4
// and $5 the awk programs (arguments, so that the script has no single
// quote, like the other scripts). It reads the
// table from /proc, never with `conntrack -L`: that asks the kernel over
// netlink, which loads nf_conntrack_netlink, and a read loads no module.
// For the same reason the listening sockets come from /proc/net/tcp* and
// udp*, not ss (sock_diag loads inet_diag). One awk pass counts entries
// by protocol, state and destination port (memory grows with the groups,
// not the entries); sort and a second awk keep N groups and listenMax
// ports, so the output is bounded whatever the table holds. The read
// stops at the budget (timeout kills cat; awk summarises what came) and
// the exit status says so: a read cut mid-line ends in a partial line,
// so the status comes on a line of its own, and only whole entries (their
// last field is use=N) count. The table is printed in hash order, so a
// partial read is a sample of the whole, not its oldest part.
const summaryScript = `exec 2>/dev/null
s() { printf "\n@@ctfacts:%s\n" "$1"; }
s begin
f=/proc/net/nf_conntrack; [ -e "$f" ] || f=/proc/net/ip_conntrack
s source; if [ -e "$f" ]; then echo "$f"; else s end; exit 0; fi
s summary
{ if command -v timeout >/dev/null; then timeout "$2" cat "$f"; else cat "$f"; fi; r=$?; echo; echo "@@rc $r"; } |
	LC_ALL=C awk "$4" | LC_ALL=C sort -k2,2nr -k3 | awk -v n="$1" -v m="$3" "$5"
s end
`

// summaryCount is the first awk program of summaryScript: it counts the
// entries by group, and by destination port for the listening ports.
const summaryCount = `function hex(h,  i, n) { n = 0; h = toupper(h); for (i = 1; i <= length(h); i++) n = n * 16 + index("0123456789ABCDEF", substr(h, i, 1)) - 1; return n }
function listen(file, proto, state,  line, a, b, n) {
	while ((getline line < file) > 0) { split(line, a, " "); if (a[4] == state) { n = split(a[2], b, ":"); l[proto " " hex(b[n])] = 1 } }
	close(file)
}
BEGIN { listen("/proc/net/tcp", "tcp", "0A"); listen("/proc/net/tcp6", "tcp", "0A"); listen("/proc/net/udp", "udp", "07"); listen("/proc/net/udp6", "udp", "07"); rc = "none" }
$1 == "@@rc" { rc = $2; next }
$NF ~ /^use=/ {
	i = ($1 == "ipv4" || $1 == "ipv6") ? 3 : 1
	st = $(i + 3)
	if (index(st, "=")) st = index($0, "[UNREPLIED]") ? "UNREPLIED" : "REPLIED"
	dp = 0
	for (j = i + 3; j <= NF; j++) if (substr($j, 1, 6) == "dport=") { dp = substr($j, 7) + 0; break }
	t++; g[$i " " st " " dp]++; p[$i " " dp]++
}
END {
	print "n", t + 0; print "r", rc
	for (k in g) print "g", g[k], k
	for (k in p) if (k in l) print "p", p[k], k
}`

// summaryKeep is the second: the first n groups and m ports of the sorted
// counts, and the totals.
const summaryKeep = `$1 == "g" { if (g++ < n) print; next } $1 == "p" { if (p++ < m) print; next } { print }`

// SummaryScript returns the script of a table summary of the top
// groups, within budget, and its arguments.
func SummaryScript(top int, budget time.Duration) (string, []string) {
	secs := int(math.Ceil(budget.Seconds()))
	if secs < 1 {
		secs = 1
	}
	return summaryScript, []string{strconv.Itoa(top), strconv.Itoa(secs), strconv.Itoa(listenMax), summaryCount, summaryKeep}
}

// ParseSummary parses the output of SummaryScript.
func ParseSummary(out string) (TableSummary, error) {
	sec, err := splitSections(out)
	if err != nil {
		return TableSummary{}, err
	}
	sum := TableSummary{Source: sec.line("source"), Top: []TableGroup{}, Listening: []Candidate{}, Candidates: []Candidate{}}
	if sum.Source == "" {
		return sum, nil
	}
	if !sec.has("summary") {
		return TableSummary{}, fmt.Errorf("table summary: no summary of %s", sum.Source)
	}
	seen := map[string]bool{}
	for _, l := range sec.lines("summary") {
		f := strings.Fields(l)
		bad := func() error { return fmt.Errorf("table summary: unexpected line %q", l) }
		if len(f) < 2 {
			return TableSummary{}, bad()
		}
		if f[0] == "r" && len(f) == 2 {
			// The read's exit status: 124 is timeout's when it stopped
			// the read at the budget.
			switch f[1] {
			case "0":
			case "124":
				sum.Truncated = true
			default:
				return TableSummary{}, fmt.Errorf("cannot read %s (exit status %s); reading the table needs root", sum.Source, f[1])
			}
			seen["r"] = true
			continue
		}
		n, err := strconv.ParseInt(f[1], 10, 64)
		if err != nil || n < 0 {
			return TableSummary{}, bad()
		}
		switch {
		case f[0] == "n" && len(f) == 2:
			sum.Scanned, seen["n"] = n, true
		case f[0] == "g" && len(f) == 5:
			port, err := strconv.Atoi(f[4])
			if err != nil || port < 0 || port > 65535 || f[2] == "" {
				return TableSummary{}, bad()
			}
			sum.Top = append(sum.Top, TableGroup{Protocol: f[2], State: f[3], Port: port, Count: n})
		case f[0] == "p" && len(f) == 4:
			port, err := strconv.Atoi(f[3])
			if err != nil || port < 0 || port > 65535 {
				return TableSummary{}, bad()
			}
			sum.Listening = append(sum.Listening, Candidate{Protocol: f[2], Port: port, Count: n})
		default:
			return TableSummary{}, bad()
		}
	}
	if !seen["n"] || !seen["r"] {
		return TableSummary{}, fmt.Errorf("table summary of %s: the totals are missing", sum.Source)
	}
	slices.SortStableFunc(sum.Top, func(a, b TableGroup) int {
		if a.Count != b.Count {
			return cmpDesc(a.Count, b.Count)
		}
		if c := strings.Compare(a.Protocol, b.Protocol); c != 0 {
			return c
		}
		if c := strings.Compare(a.State, b.State); c != 0 {
			return c
		}
		return a.Port - b.Port
	})
	sortCandidates(sum.Listening)
	for i := range sum.Listening {
		sum.Listening[i].Percent = Percent(sum.Listening[i].Count, sum.Scanned)
	}
	sum.Candidates = Candidates(sum.Listening, sum.Scanned)
	return sum, nil
}

// Candidates are the listening ports whose entries dominate a table of
// scanned entries: at least CandidateShare percent of them and at least
// CandidateMinEntries.
func Candidates(listening []Candidate, scanned int64) []Candidate {
	out := []Candidate{}
	for _, c := range listening {
		if c.Count >= CandidateMinEntries && c.Count*100 >= scanned*CandidateShare {
			c.Percent = Percent(c.Count, scanned)
			out = append(out, c)
		}
	}
	sortCandidates(out)
	return out
}

func sortCandidates(cs []Candidate) {
	slices.SortStableFunc(cs, func(a, b Candidate) int {
		if a.Count != b.Count {
			return cmpDesc(a.Count, b.Count)
		}
		if c := strings.Compare(a.Protocol, b.Protocol); c != 0 {
			return c
		}
		return a.Port - b.Port
	})
}

func cmpDesc(a, b int64) int {
	if a > b {
		return -1
	}
	return 1
}

// Percent is n of total in percent, two decimals; 0 when total is 0.
func Percent(n, total int64) float64 {
	if total <= 0 {
		return 0
	}
	return math.Round(float64(n)*10000/float64(total)) / 100
}
