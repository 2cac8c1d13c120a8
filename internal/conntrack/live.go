package conntrack

import "strings"

// LiveWrite is one running value to set: a /proc/sys or /sys file and its value.
type LiveWrite struct {
	Path  string
	Value string
}

// LiveResult is what the kernel did with a LiveWrite.
type LiveResult struct {
	LiveWrite
	Err string // the shell's message when the write itself failed
	Now string // the value read back afterwards
	// Reported: the script got to this write and said how it went (an
	// apply cut short or timed out reports nothing for the rest).
	Reported bool
}

// OK is true when the kernel holds the value asked for. sysctl(8) and
// `echo >` can report success while the kernel keeps the old value, so only
// the read-back counts.
func (r LiveResult) OK() bool { return r.Err == "" && r.Now == r.Value }

// liveScript writes each path/value pair of its arguments, then reads the
// file back; it always exits 0 and reports per pair.
const liveScript = `while [ $# -gt 1 ]; do
	p=$1; v=$2; shift 2
	if ! err=$( { printf "%s\n" "$v" > "$p"; } 2>&1 ); then printf "@@fail\t%s\t%s\n" "$p" "$(echo $err)"; fi
	printf "@@now\t%s\t%s\n" "$p" "$(cat "$p" 2>/dev/null)"
done
`

// LiveScript returns the script and arguments that apply writes in order.
func LiveScript(writes []LiveWrite) (string, []string) {
	args := make([]string, 0, 2*len(writes))
	for _, w := range writes {
		args = append(args, w.Path, w.Value)
	}
	return liveScript, args
}

// ParseLive pairs the script's report with the writes.
func ParseLive(out string, writes []LiveWrite) []LiveResult {
	fails, now := map[string]string{}, map[string]string{}
	for _, line := range strings.Split(out, "\n") {
		parts := strings.SplitN(line, "\t", 3)
		if len(parts) != 3 {
			continue
		}
		switch parts[0] {
		case "@@fail":
			fails[parts[1]] = strings.TrimSpace(parts[2])
		case "@@now":
			// Multi-value files (ip_local_port_range) separate with tabs.
			now[parts[1]] = strings.Join(strings.Fields(parts[2]), " ")
		}
	}
	results := make([]LiveResult, len(writes))
	for i, w := range writes {
		_, failed := fails[w.Path]
		_, read := now[w.Path]
		results[i] = LiveResult{LiveWrite: w, Err: fails[w.Path], Now: now[w.Path], Reported: failed || read}
	}
	return results
}

// GuardedLiveScript is LiveScript as the body of a guarded change: it
// reports @@done once every write was attempted.
func GuardedLiveScript(writes []LiveWrite) (string, []string) {
	script, args := LiveScript(writes)
	return script + "printf \"@@done\\n\"\n", args
}
