package conntrack

import (
	"fmt"
	"path"
	"slices"
	"sort"
	"strings"
)

// SysctlKey is the full sysctl name of a conntrack setting given by its
// short name ("max", "tcp_timeout_established") under the host's naming.
func SysctlKey(n Naming, short string) string {
	if n == NamingLegacy {
		return "net.ipv4.netfilter.ip_conntrack_" + short
	}
	return "net.netfilter.nf_conntrack_" + short
}

// ProcPath is where the running value of a sysctl key lives.
func ProcPath(key string) string { return "/proc/sys/" + strings.ReplaceAll(key, ".", "/") }

// ModuleName is the conntrack module whose hashsize parameter sets the buckets.
func ModuleName(n Naming) string {
	if n == NamingLegacy {
		return "ip_conntrack"
	}
	return "nf_conntrack"
}

// HashsizePath is the live hash table size, writable in the initial netns.
func HashsizePath(n Naming) string {
	return "/sys/module/" + ModuleName(n) + "/parameters/hashsize"
}

// LimitsPaths are the files a conntrack_limits resource persists into.
type LimitsPaths struct {
	SysctlFile      string
	ModprobeFile    string
	ModulesLoadFile string
}

// File is a remote file as read: exact bytes.
type File struct {
	Path    string
	Exists  bool
	IsDir   bool
	Content []byte
}

// BootSetting is one conntrack assignment in a file systemd-sysctl (or
// `sysctl --system`) reads at boot.
type BootSetting struct {
	File     string // path as listed
	RealPath string // after symlinks
	Key      string // dotted sysctl key
	Value    string
	order    string
}

// Limits is everything a conntrack_limits read needs, from one remote command.
type Limits struct {
	Facts Facts
	// Running maps short names ("max", "udp_timeout") to the running values
	// of every conntrack sysctl the host exposes under its naming.
	Running     map[string]string
	Sysctl      File
	Modprobe    File
	ModulesLoad File
	// Boot lists conntrack assignments of every boot-time sysctl file, in
	// the order they are applied at boot.
	Boot []BootSetting
	// BootLinks maps the boot files that are symlinks to the file really
	// read (/etc/sysctl.d/99-sysctl.conf -> /etc/sysctl.conf), whether or
	// not that file sets anything yet.
	BootLinks map[string]string
	Systemd   bool
	// Guard are the rolled-back limits changes recorded since the last
	// read.
	Guard []GuardOutcome
}

// sysctlDirs are read at boot in this precedence (a name in an earlier
// directory masks the same name in a later one); files run in name order.
var sysctlDirs = []string{"/etc/sysctl.d", "/run/sysctl.d", "/usr/local/lib/sysctl.d", "/usr/lib/sysctl.d", "/lib/sysctl.d"}

// limitsProbes extends the facts script. Positional parameters: $1 sysctl
// file, $2 modprobe file, $3 modules-load file.
const limitsProbes = `fx sysctl "$1"
fx modprobe "$2"
fx modules_load "$3"
s running
grep -H "" /proc/sys/net/netfilter/nf_conntrack_* /proc/sys/net/ipv4/netfilter/ip_conntrack_*
s boot
grep -H -E "conntrack" ` + bootFiles + `
s boot_links
for p in ` + bootFiles + `; do if [ -L "$p" ]; then printf "%s\t%s\n" "$p" "$(readlink -f "$p")"; fi; done
s systemd; if [ -d /run/systemd/system ]; then echo yes; fi
gk=limits
` + guardOutcomes

// bootFiles are the files systemd-sysctl and `sysctl --system` read.
const bootFiles = "/etc/sysctl.d/*.conf /run/sysctl.d/*.conf /usr/local/lib/sysctl.d/*.conf /usr/lib/sysctl.d/*.conf /lib/sysctl.d/*.conf /etc/sysctl.conf"

// fileProbe defines fx NAME PATH: a file section ending in an "x" right
// after the last byte, so that exact bytes (no trailing newline, CRLF)
// survive the section format.
const fileProbe = `fx() { s "file_$1"; if [ -d "$2" ]; then echo dir; elif [ -e "$2" ]; then echo file; cat "$2" || u "$2"; echo x; else echo none; fi; }
`

// LimitsScript returns the script for one conntrack_limits read and the
// arguments to pass it. Like FactsScript it only reads.
func LimitsScript(p LimitsPaths) (script string, args []string) {
	return strings.TrimSuffix(factsScript, "s end\n") + fileProbe + limitsProbes + "s end\n",
		[]string{p.SysctlFile, p.ModprobeFile, p.ModulesLoadFile}
}

// ParseLimits parses the output of LimitsScript.
func ParseLimits(out string, p LimitsPaths) (Limits, error) {
	facts, err := ParseFacts(out)
	if err != nil {
		return Limits{}, err
	}
	sec, _ := splitSections(out) // ParseFacts has checked it
	l := Limits{Facts: facts, Running: map[string]string{}, Systemd: sec.line("systemd") == "yes", Guard: parseGuardOutcomes(sec)}
	for _, f := range []struct {
		name string
		path string
		dst  *File
	}{{"sysctl", p.SysctlFile, &l.Sysctl}, {"modprobe", p.ModprobeFile, &l.Modprobe}, {"modules_load", p.ModulesLoadFile, &l.ModulesLoad}} {
		if *f.dst, err = parseFile(sec["file_"+f.name], f.path); err != nil {
			return Limits{}, err
		}
	}
	prefix := ModuleName(facts.Naming) + "_"
	// "path:value", one grep for every setting: a process per file would
	// cost more than the rest of the read.
	for _, line := range sec.lines("running") {
		file, value, _ := strings.Cut(line, ":")
		if short, ok := strings.CutPrefix(path.Base(file), prefix); ok && facts.HasConntrack() {
			l.Running[short] = strings.TrimSpace(value)
		}
	}
	// grep says "path:line"; links (99-sysctl.conf -> ../sysctl.conf) come
	// with their target, the file that is really read.
	linkTarget := map[string]string{}
	for _, row := range sec.lines("boot_links") {
		if link, target, ok := strings.Cut(row, "\t"); ok {
			linkTarget[link] = target
		}
	}
	l.BootLinks = linkTarget
	var rows []string
	for _, row := range sec.lines("boot") {
		file, line, ok := strings.Cut(row, ":")
		if !ok {
			continue
		}
		target := linkTarget[file]
		if target == "" {
			target = file
		}
		rows = append(rows, file+"\t"+target+"\t"+line)
	}
	l.Boot = bootOrder(rows)
	return l, nil
}

func parseFile(body, path string) (File, error) {
	f := File{Path: path}
	head, rest, _ := strings.Cut(body, "\n")
	switch head = strings.TrimSpace(head); head {
	case "none", "":
		return f, nil
	case "dir":
		f.Exists, f.IsDir = true, true
		return f, nil
	}
	content, ok := strings.CutSuffix(strings.TrimSuffix(rest, "\n"), "x")
	if head != "file" || !ok {
		return f, fmt.Errorf("conntrack limits: reading %s: the file's end marker is missing", path)
	}
	f.Exists, f.Content = true, []byte(content)
	return f, nil
}

// bootOrder turns "file<TAB>realpath<TAB>line" rows into assignments in the
// order systemd-sysctl applies them: files by name across all directories,
// a name in a higher-precedence directory masking the others, and
// /etc/sysctl.conf last unless a sysctl.d link (99-sysctl.conf) places it.
func bootOrder(rows []string) []BootSetting {
	var out []BootSetting
	winner := map[string]string{} // file name -> path that is read
	for _, row := range rows {
		parts := strings.SplitN(row, "\t", 3)
		if len(parts) != 3 {
			continue
		}
		key, value, ok := parseAssignment(parts[2])
		if !ok {
			continue
		}
		s := BootSetting{File: parts[0], RealPath: parts[1], Key: key, Value: value, order: bootName(parts[0])}
		if w, seen := winner[s.order]; seen && w != s.File && dirRank(path.Dir(w)) <= dirRank(path.Dir(s.File)) {
			continue // masked by the same name in a higher-precedence directory
		}
		winner[s.order] = s.File
		out = append(out, s)
	}
	// A masked file listed before its masker is dropped now.
	kept := out[:0]
	for _, s := range out {
		if winner[s.order] == s.File {
			kept = append(kept, s)
		}
	}
	out = kept
	// /etc/sysctl.conf read through a sysctl.d link runs at the link's place.
	for _, s := range out {
		if s.File != etcSysctlConf && s.RealPath == etcSysctlConf {
			kept := out[:0]
			for _, t := range out {
				if t.File != etcSysctlConf {
					kept = append(kept, t)
				}
			}
			out = kept
			break
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].order < out[j].order })
	return out
}

const etcSysctlConf = "/etc/sysctl.conf"

// bootName is a file's place in the boot order: its name, with
// /etc/sysctl.conf after every sysctl.d name.
func bootName(file string) string {
	if file == etcSysctlConf {
		return "\xff"
	}
	return path.Base(file)
}

func dirRank(dir string) int {
	for i, d := range sysctlDirs {
		if d == dir {
			return i
		}
	}
	return len(sysctlDirs)
}

// parseAssignment reads one sysctl.conf line: "key = value", "-key=value";
// comments (# or ;) and other lines are not assignments.
func parseAssignment(line string) (key, value string, ok bool) {
	line = strings.TrimSpace(line)
	if line == "" || line[0] == '#' || line[0] == ';' {
		return "", "", false
	}
	k, v, found := strings.Cut(line, "=")
	if !found {
		return "", "", false
	}
	k = strings.TrimPrefix(strings.TrimSpace(k), "-")
	return strings.ReplaceAll(k, "/", "."), strings.TrimSpace(v), k != ""
}

// LaterOverrides returns the boot files applied after ownFile that set key
// to something other than value: at boot they would win.
func (l Limits) LaterOverrides(ownFile, key, value string) []string {
	own := bootName(ownFile)
	// ownFile read through a link runs at the link's place, even while it
	// sets nothing yet (a create's plan).
	for link, target := range l.BootLinks {
		if target == ownFile && link != ownFile {
			own = bootName(link)
		}
	}
	for _, s := range l.Boot {
		if s.RealPath == ownFile && s.File != ownFile {
			own = s.order
		}
	}
	var files []string
	for _, s := range l.Boot {
		if s.order > own && s.RealPath != ownFile && s.Key == key && s.Value != value && !slices.Contains(files, s.File) {
			files = append(files, s.File)
		}
	}
	return files
}
