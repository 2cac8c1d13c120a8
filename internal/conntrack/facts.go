// Package conntrack is the domain layer for managing Linux netfilter
// connection tracking. It never does I/O itself: it builds the shell scripts
// a transport runs on the remote host and parses what they print.
package conntrack

import (
	"errors"
	"fmt"
	"math"
	"path"
	"slices"
	"strconv"
	"strings"
)

// ModuleState says how the conntrack code is present in the running kernel.
type ModuleState string

// The possible module states.
const (
	ModuleLoaded    ModuleState = "loaded"    // loadable module, present in /proc/modules
	ModuleBuiltin   ModuleState = "builtin"   // compiled into the kernel
	ModuleAvailable ModuleState = "available" // a module file exists under /lib/modules/$(uname -r) but it is not loaded
	ModuleAbsent    ModuleState = "absent"
)

// ModuleStates lists every ModuleState in display order (docs and validators use it).
var ModuleStates = []ModuleState{ModuleLoaded, ModuleBuiltin, ModuleAvailable, ModuleAbsent}

// Naming is the family of names the kernel uses for the conntrack sysctls.
type Naming string

// The two sysctl naming families.
const (
	NamingModern Naming = "nf_conntrack" // /proc/sys/net/netfilter/nf_conntrack_*
	NamingLegacy Naming = "ip_conntrack" // kernels <= 2.6.19: /proc/sys/net/ipv4/netfilter/ip_conntrack_*
)

// Stats are the conntrack event counters of /proc/net/stat/nf_conntrack,
// summed over all CPUs.
type Stats struct {
	Found, Invalid, InsertFailed, Drop, EarlyDrop, SearchRestart uint64
	// ClashResolve (column clashres, since 2020: bc92470413f3 and "proc:
	// rename stat column") counts insert races resolved by reusing the
	// entry that won; nil when the kernel's header has no such column.
	ClashResolve *uint64
	// ChainTooLong (column chainlength, Linux 5.15: d7e7747ac5c2) counts
	// insertions refused because the hash chain was too long; nil when the
	// kernel's header has no such column.
	ChainTooLong *uint64
}

// Facts is everything FactsScript learns about a host.
type Facts struct {
	KernelRelease string
	Machine       string // uname -m
	ArchBits      int    // 64 or 32 (0 when unknown), from Machine, else from getconf LONG_BIT
	MemoryBytes   int64  // MemTotal from /proc/meminfo
	OSID          string // /etc/os-release ID
	OSIDLike      string // /etc/os-release ID_LIKE
	OSFamily      string // "rhel", "debian" or "other"
	FileLayout    string // where persistent config lives: "rhel" or "debian"
	InitialNetns  *bool  // whether the facts come from the initial network namespace; nil when it cannot be told
	Module        ModuleState
	Naming        Naming // "" when the conntrack sysctls are absent
	Count         *int64 // nil when conntrack is absent or the file is missing
	Max           *int64 // nil when conntrack is absent or the file is missing
	Buckets       *int64 // the hashsize parameter where readable (root), else nf_conntrack_buckets; nil when conntrack is absent
	Stats         *Stats // nil when the stat file is missing
}

// FillPercent is Count/Max*100 rounded to 2 decimals; nil when either is
// unknown or Max is not positive.
func (f Facts) FillPercent() *float64 {
	if f.Count == nil || f.Max == nil || *f.Max <= 0 {
		return nil
	}
	p := math.Round(float64(*f.Count)/float64(*f.Max)*100*100) / 100
	return &p
}

// HasConntrack reports whether the conntrack sysctls exist, i.e. whether
// conntrack is usable right now (as opposed to merely loadable).
func (f Facts) HasConntrack() bool { return f.Naming != "" }

const marker = "@@ctfacts:"

// factsScript prints sections, each introduced by a marker line preceded by a
// newline, so a file without a trailing newline cannot swallow the next marker.
// File sections appear only when the file exists; command sections always.
//
// Rules: dash, busybox and old bash compatible; only cat, stat, grep, find,
// test, uname and getconf; nothing that may autoload a module (sysctl -a,
// the packet filter tools, modprobe...), since merely touching conntrack
// through them would change the host we are inspecting. stderr goes to
// /dev/null and the last command always succeeds, but a file that exists
// and cannot be read adds an "unreadable:PATH" section with the reason, which
// splitSections turns into an *UnreadableError: a file the read cannot open
// is an error, never an empty file. No single quotes, so a
// transport can wrap it in '...' verbatim. Files are read with cat, never
// the shell's read: that reads a byte at a time, and a /proc/sys file
// answers a read past its first byte with nothing ("2" for 262144).
const factsScript = `exec 2>/dev/null
` + scriptMemos + `r=$(uname -r)
` + sectionFn + factsFuncs + `s begin
` + factsProbes + `s end
`

// scriptMemos unsets what a script computes once and keeps ($ns, $nfk), so
// that nothing in the login's environment passes for it.
const scriptMemos = `ns=; nfk=
`

// sectionFn defines s, which starts a section.
const sectionFn = `s() { printf "\n@@ctfacts:%s\n" "$1"; }
`

// fileFuncs: u reports an unreadable file, f prints a file's section when
// the file exists.
const fileFuncs = `u() { s "unreadable:$1"; cat -- "$1" 2>&1 >/dev/null | head -n 1; }
f() { if [ -e "$2" ]; then s "$1"; cat "$2" || u "$2"; fi; }
`

// factsFuncs are the facts script's helpers: fileFuncs and ct, the
// conntrack values of one naming. The hashsize module parameter is 0600 on
// current kernels, so it is read only where this user can read it (root,
// sudo): the buckets sysctl, readable by anyone, is what every user gets,
// and a read-only monitoring login works without sudo.
const factsFuncs = fileFuncs + `ct() {
	f "${1}_count" "${2}_count"
	f "${1}_max" "${2}_max"
	f "${1}_buckets" "${2}_buckets"
	if [ -e "${2}_max" ]; then s "${1}_max_mode"; stat -c %a "${2}_max"; fi
	if [ -r "/sys/module/${3}/parameters/hashsize" ]; then f "${1}_hashsize" "/sys/module/${3}/parameters/hashsize"; fi
	f "${1}_stat" "/proc/net/stat/${3}"
}
`

// factsProbes are the facts script's sections.
const factsProbes = `s uname_r; printf "%s" "$r"
s uname_m; uname -m
s long_bit; getconf LONG_BIT
s memtotal; grep "^MemTotal:" /proc/meminfo
if [ -e /etc/os-release ]; then f os_release /etc/os-release; else f os_release /usr/lib/os-release; fi
s exists
for p in /etc/sysconfig /etc/debian_version /etc/iptables /proc/modules \
	/sys/module/nf_conntrack /sys/module/nf_conntrack/initstate \
	/sys/module/ip_conntrack /sys/module/ip_conntrack/initstate; do
	if [ -e "$p" ]; then echo "$p"; fi
done
ct nf /proc/sys/net/netfilter/nf_conntrack nf_conntrack
ct ip /proc/sys/net/ipv4/netfilter/ip_conntrack ip_conntrack
s proc_modules; grep -E "^(nf|ip)_conntrack " /proc/modules
s modules_builtin; grep -E "(^|/)(nf|ip)_conntrack[.]ko" "/lib/modules/$r/modules.builtin"
s module_file; find "/lib/modules/$r/kernel/net" "(" -name "nf_conntrack.ko*" -o -name "ip_conntrack.ko*" ")" -print -quit
`

// readPrelude starts the scripts that need no host facts but the kernel
// release ($r) and the file layout (os-release and the layout's
// directories): four forks where the whole facts script takes about fifteen,
// on every host for every read.
const readPrelude = `exec 2>/dev/null
` + scriptMemos + `r=$(uname -r)
` + sectionFn + fileFuncs + `s begin
if [ -e /etc/os-release ]; then f os_release /etc/os-release; else f os_release /usr/lib/os-release; fi
s exists
for p in /etc/sysconfig /etc/debian_version /etc/iptables; do
	if [ -e "$p" ]; then echo "$p"; fi
done
`

// parseLayout returns the file layout ("rhel" or "debian") from the
// os_release and exists sections.
func parseLayout(sec sections) string {
	osr := parseOSRelease(sec.lines("os_release"))
	exists := map[string]bool{}
	for _, p := range sec.lines("exists") {
		exists[p] = true
	}
	return fileLayout(osFamily(osr["ID"], osr["ID_LIKE"]), exists)
}

// FactsScript returns a POSIX sh script (run as `sh -c SCRIPT`) that prints
// every host fact in ONE remote round trip. It only reads files and runs
// uname and getconf, never anything that could load a kernel module; it
// exits 0 with nothing on stderr even when files are missing. Parse its
// stdout with ParseFacts.
func FactsScript() string { return factsScript }

// sections maps a section name to its raw content.
type sections map[string]string

// splitSections cuts script output into sections. Anything before the begin
// marker (a chatty login profile, say) is ignored; a missing end marker means
// the output was cut short, which must not pass for "file missing". Content
// is kept raw; readers trim it, which also drops the \r a pty adds.
func splitSections(out string) (sections, error) {
	sec := sections{}
	var name string
	var body []string
	begun, ended := false, false
	for _, line := range strings.Split(out, "\n") {
		if !strings.HasPrefix(line, marker) {
			if begun {
				body = append(body, line)
			}
			continue
		}
		if begun {
			sec[name] = strings.Join(body, "\n")
		}
		name, body = strings.TrimSpace(line[len(marker):]), nil
		switch name {
		case "begin":
			begun = true
		case "end":
			ended = begun
		}
	}
	if !begun {
		return nil, errors.New("conntrack facts: output has no " + marker + "begin marker; not from FactsScript")
	}
	if !ended {
		return nil, errors.New("conntrack facts: output has no " + marker + "end marker; truncated")
	}
	var unreadable []error
	for name, body := range sec {
		if path, ok := strings.CutPrefix(name, "unreadable:"); ok {
			reason, _, _ := strings.Cut(strings.TrimSpace(body), "\n")
			unreadable = append(unreadable, &UnreadableError{Path: path, Reason: strings.TrimSpace(reason)})
		}
	}
	if len(unreadable) > 0 {
		slices.SortFunc(unreadable, func(a, b error) int { return strings.Compare(a.Error(), b.Error()) })
		return nil, errors.Join(unreadable...)
	}
	return sec, nil
}

// UnreadableError is a file that exists on the host and that the read could
// not read: an error, never an empty or absent file.
type UnreadableError struct {
	Path   string
	Reason string // cat's message, e.g. "Permission denied"
}

func (e *UnreadableError) Error() string {
	reason := e.Reason
	if i := strings.LastIndex(reason, ": "); i >= 0 {
		reason = reason[i+2:]
	}
	if reason == "" {
		reason = "read failed"
	}
	return fmt.Sprintf("cannot read %s: %s", e.Path, reason)
}

func (s sections) has(name string) bool { _, ok := s[name]; return ok }

// line returns the trimmed first non-blank line of a section.
func (s sections) line(name string) string {
	for _, l := range strings.Split(s[name], "\n") {
		if l = strings.TrimSpace(l); l != "" {
			return l
		}
	}
	return ""
}

// lines returns the trimmed non-blank lines of a section.
func (s sections) lines(name string) []string {
	var ls []string
	for _, l := range strings.Split(s[name], "\n") {
		if l = strings.TrimSpace(l); l != "" {
			ls = append(ls, l)
		}
	}
	return ls
}

// int parses a decimal number section; an absent or empty section (the file
// is missing or unreadable) is nil.
func (s sections) int(name string) (*int64, error) {
	v := s.line(name)
	if v == "" {
		return nil, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return nil, fmt.Errorf("conntrack facts: %s: %w", name, err)
	}
	return &n, nil
}

// ParseFacts parses the output of FactsScript. Missing files are normal and
// leave fields zero or nil; it fails only on output that is not (complete)
// FactsScript output or on an unparsable number in a file that is present.
func ParseFacts(out string) (Facts, error) {
	sec, err := splitSections(out)
	if err != nil {
		return Facts{}, err
	}
	var f Facts
	f.KernelRelease = sec.line("uname_r")
	f.Machine = sec.line("uname_m")
	f.ArchBits = archBits(f.Machine, sec.line("long_bit"))
	if f.MemoryBytes, err = parseMemTotal(sec.line("memtotal")); err != nil {
		return Facts{}, err
	}

	osr := parseOSRelease(sec.lines("os_release"))
	f.OSID, f.OSIDLike = osr["ID"], osr["ID_LIKE"]
	f.OSFamily = osFamily(f.OSID, f.OSIDLike)
	exists := map[string]bool{}
	for _, p := range sec.lines("exists") {
		exists[p] = true
	}
	f.FileLayout = fileLayout(f.OSFamily, exists)

	// Kernels with the ip_conntrack compat sysctls also have the modern ones,
	// so modern wins.
	var p string
	switch {
	case sec.has("nf_max"):
		f.Naming, p = NamingModern, "nf"
	case sec.has("ip_max"):
		f.Naming, p = NamingLegacy, "ip"
	}
	if p != "" {
		if f.Count, err = sec.int(p + "_count"); err != nil {
			return Facts{}, err
		}
		if f.Max, err = sec.int(p + "_max"); err != nil {
			return Facts{}, err
		}
		// hashsize first where it was read: kernels with 3183ab8997a4
		// and without f6351c3f1c27 (4.19 before 4.19.169, 5.4 before
		// 5.4.91, mainline before 5.11) show a stale nf_conntrack_buckets
		// after a write to hashsize (kube-proxy's, this provider's).
		if f.Buckets, err = sec.int(p + "_hashsize"); err != nil {
			return Facts{}, err
		}
		if f.Buckets == nil {
			if f.Buckets, err = sec.int(p + "_buckets"); err != nil {
				return Facts{}, err
			}
		}
		if f.InitialNetns, err = initialNetns(sec.line(p + "_max_mode")); err != nil {
			return Facts{}, err
		}
	}

	// The stat file is per netns and exists as soon as conntrack is up; the
	// ip_conntrack one is the compat copy on kernels that have both.
	stat := "nf_stat"
	if !sec.has(stat) {
		stat = "ip_stat"
	}
	if f.Stats, err = parseStats(sec.lines(stat)); err != nil {
		return Facts{}, fmt.Errorf("conntrack facts: %s: %w", stat, err)
	}

	f.Module = moduleState(sec, exists, f.HasConntrack())
	return f, nil
}

// bitsByMachine maps uname -m to the kernel's word size. uname -m describes
// the kernel, which is what the sizing rule is about; getconf LONG_BIT
// describes userland (32 on a 32-bit userland over a 64-bit kernel) and is
// only the fallback.
var bitsByMachine = map[string]int{
	"x86_64": 64, "amd64": 64, "aarch64": 64, "arm64": 64, "ppc64": 64, "ppc64le": 64,
	"s390x": 64, "riscv64": 64, "mips64": 64, "loongarch64": 64, "sparc64": 64,
	"i386": 32, "i486": 32, "i586": 32, "i686": 32, "armv5tel": 32, "armv6l": 32,
	"armv7l": 32, "mips": 32, "mipsel": 32, "ppc": 32, "s390": 32, "riscv32": 32,
}

func archBits(machine, longBit string) int {
	if b, ok := bitsByMachine[machine]; ok {
		return b
	}
	switch longBit {
	case "32":
		return 32
	case "64":
		return 64
	}
	return 0
}

// parseMemTotal reads "MemTotal:  24684092 kB".
func parseMemTotal(line string) (int64, error) {
	fs := strings.Fields(line)
	if len(fs) < 2 {
		return 0, nil
	}
	kb, err := strconv.ParseInt(fs[1], 10, 64)
	if err != nil || kb < 0 || kb > math.MaxInt64/1024 {
		return 0, fmt.Errorf("conntrack facts: bad MemTotal %q", line)
	}
	return kb * 1024, nil
}

// parseOSRelease reads os-release KEY=VALUE lines, unquoting values the way
// the os-release format (a shell-compatible subset) allows.
func parseOSRelease(lines []string) map[string]string {
	m := map[string]string{}
	for _, l := range lines {
		k, v, ok := strings.Cut(l, "=")
		if !ok || strings.HasPrefix(k, "#") {
			continue
		}
		m[strings.TrimSpace(k)] = unquote(strings.TrimSpace(v))
	}
	return m
}

func unquote(v string) string {
	if len(v) < 2 {
		return v
	}
	switch q := v[0]; {
	case q == '\'' && v[len(v)-1] == '\'':
		return v[1 : len(v)-1]
	case q == '"' && v[len(v)-1] == '"':
		v = v[1 : len(v)-1]
		var b strings.Builder
		for i := 0; i < len(v); i++ {
			if v[i] == '\\' && i+1 < len(v) {
				i++
			}
			b.WriteByte(v[i])
		}
		return b.String()
	}
	return v
}

var (
	rhelIDs   = []string{"rhel", "centos", "fedora", "rocky", "almalinux", "ol", "amzn"}
	rhelLike  = []string{"rhel", "fedora", "centos"}
	debianIDs = []string{"debian", "ubuntu"}
)

// osFamily classifies by ID first, so a distribution is never moved to
// another family by what it merely claims to be like.
func osFamily(id, idLike string) string {
	id = strings.ToLower(id)
	like := strings.Fields(strings.ToLower(idLike))
	switch {
	case slices.Contains(rhelIDs, id):
		return "rhel"
	case slices.Contains(debianIDs, id):
		return "debian"
	case anyIn(like, rhelLike):
		return "rhel"
	case anyIn(like, debianIDs):
		return "debian"
	}
	return "other"
}

// fileLayout guesses, for distributions we do not know, where persistent
// config belongs from the directories that exist.
func fileLayout(family string, exists map[string]bool) string {
	switch {
	case family == "rhel" || family == "debian":
		return family
	case exists["/etc/sysconfig"]:
		return "rhel"
	case exists["/etc/debian_version"] || exists["/etc/iptables"]:
		return "debian"
	}
	return "rhel"
}

// initialNetns: in a non-initial network namespace the kernel makes
// nf_conntrack_max read-only (0444); in the initial one it is 0644.
func initialNetns(mode string) (*bool, error) {
	if mode == "" {
		return nil, nil
	}
	m, err := strconv.ParseUint(mode, 8, 32)
	if err != nil {
		return nil, fmt.Errorf("conntrack facts: bad mode %q", mode)
	}
	initial := m&0o200 != 0
	return &initial, nil
}

// parseStats sums each column of /proc/net/stat/nf_conntrack over the CPU
// lines. Columns are found by header name because the set and order vary
// between kernel versions; a column the kernel lacks sums to 0, except the
// two that only newer kernels have, which are then nil.
func parseStats(lines []string) (*Stats, error) {
	if len(lines) == 0 {
		return nil, nil
	}
	header := strings.Fields(lines[0])
	sums := make([]uint64, len(header))
	for _, l := range lines[1:] {
		for i, v := range strings.Fields(l) {
			if i >= len(header) {
				break
			}
			n, err := strconv.ParseUint(v, 16, 64)
			if err != nil {
				return nil, err
			}
			sums[i] += n
		}
	}
	optCol := func(name string) *uint64 {
		for i, h := range header {
			if h == name {
				return &sums[i]
			}
		}
		return nil
	}
	col := func(name string) uint64 {
		if v := optCol(name); v != nil {
			return *v
		}
		return 0
	}
	return &Stats{
		ClashResolve:  optCol("clashres"),
		ChainTooLong:  optCol("chainlength"),
		Found:         col("found"),
		Invalid:       col("invalid"),
		InsertFailed:  col("insert_failed"),
		Drop:          col("drop"),
		EarlyDrop:     col("early_drop"),
		SearchRestart: col("search_restart"),
	}, nil
}

var moduleNames = []string{"nf_conntrack", "ip_conntrack"}

// moduleState decides in order: loaded, built in, available, absent.
func moduleState(sec sections, exists map[string]bool, hasSysctls bool) ModuleState {
	for _, l := range sec.lines("proc_modules") {
		if slices.Contains(moduleNames, strings.Fields(l)[0]) {
			return ModuleLoaded
		}
	}
	for _, n := range moduleNames {
		// initstate exists only for loadable modules, so it also tells a
		// loaded module when /proc/modules is unreadable.
		if exists["/sys/module/"+n+"/initstate"] {
			return ModuleLoaded
		}
	}
	for _, l := range sec.lines("modules_builtin") {
		if b := path.Base(l); b == "nf_conntrack.ko" || b == "ip_conntrack.ko" {
			return ModuleBuiltin
		}
	}
	for _, n := range moduleNames {
		// A built-in with parameters gets /sys/module/<name> but no
		// initstate. This is also how a CONFIG_MODULES=n kernel (no
		// /proc/modules, no modules.builtin) shows it.
		if exists["/sys/module/"+n] {
			return ModuleBuiltin
		}
	}
	hasFile := false
	for _, l := range sec.lines("module_file") {
		if b := path.Base(l); strings.HasPrefix(b, "nf_conntrack.ko") || strings.HasPrefix(b, "ip_conntrack.ko") {
			hasFile = true
		}
	}
	switch {
	case hasSysctls && hasFile:
		// Conntrack runs, so the module must be loaded even though
		// /proc/modules and sysfs did not show it (a masked container).
		return ModuleLoaded
	case hasSysctls:
		// Conntrack runs, and nothing says it is a module.
		return ModuleBuiltin
	case hasFile:
		return ModuleAvailable
	}
	return ModuleAbsent
}

func anyIn(words, list []string) bool {
	for _, w := range words {
		if slices.Contains(list, w) {
			return true
		}
	}
	return false
}

// ParseFailures returns what -> why for each "@@fail\tWHAT\tWHY" line a
// script printed (UnloadScript: module -> rmmod's error; ServiceApplyScript:
// "service action" -> its output).
func ParseFailures(out string) map[string]string {
	failed := map[string]string{}
	for _, line := range strings.Split(out, "\n") {
		if f := strings.SplitN(line, "\t", 3); len(f) == 3 && f[0] == "@@fail" {
			failed[f[1]] = strings.TrimSpace(f[2])
		}
	}
	return failed
}
