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
	// Boot lists the conntrack assignments the host applies at boot, in
	// the order it applies them.
	Boot []BootSetting
	// BootFiles are the sysctl files present in the boot directories (and
	// /etc/sysctl.conf), read or not.
	BootFiles []string
	// BootLinks maps the boot files that are symlinks to the file really
	// read (/etc/sysctl.d/99-sysctl.conf -> /etc/sysctl.conf, a mask ->
	// /dev/null), whether or not that file sets anything yet.
	BootLinks map[string]string
	// Systemd: PID 1 is systemd, so systemd-sysctl applies the files at
	// boot; otherwise the init scripts' `sysctl --system` does.
	Systemd bool
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
s boot_files
for p in ` + bootFiles + `; do if [ -L "$p" ]; then printf "%s\t%s\n" "$p" "$(readlink -f "$p")"; elif [ -e "$p" ]; then echo "$p"; fi; done
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
	// Every boot file, links with their target, the file that is really read.
	linkTarget := map[string]string{}
	for _, row := range sec.lines("boot_files") {
		file, target, isLink := strings.Cut(row, "\t")
		l.BootFiles = append(l.BootFiles, file)
		if isLink {
			linkTarget[file] = target
		}
	}
	l.BootLinks = linkTarget
	// grep says "path:line" (through a link: the link's path).
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
	l.Boot = bootOrder(rows, l.BootFiles, linkTarget, l.Systemd)
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

// bootOrder turns "file<TAB>realpath<TAB>line" rows into the assignments
// the host applies at boot, in order. Both readers, systemd-sysctl
// (sysctl.d(5)) and procps's `sysctl --system` that SysV init scripts run,
// take each file name from the highest-precedence directory that has it (a
// /dev/null link there masks the name) and apply the names sorted across
// directories. `sysctl --system` then reads /etc/sysctl.conf last;
// systemd-sysctl has not read it since v207, except through a sysctl.d
// link to it (Debian 12's and RHEL's 99-sysctl.conf; Debian 13 ships none).
// files are every boot file present, links their targets.
func bootOrder(rows, files []string, links map[string]string, systemd bool) []BootSetting {
	var out []BootSetting
	for _, row := range rows {
		parts := strings.SplitN(row, "\t", 3)
		if len(parts) != 3 {
			continue
		}
		key, value, ok := parseAssignment(parts[2])
		if !ok || !applied(parts[0], files, links, systemd) {
			continue
		}
		out = append(out, BootSetting{File: parts[0], RealPath: parts[1], Key: key, Value: value, order: bootName(parts[0])})
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].order < out[j].order })
	return out
}

// applied reports whether the boot reader applies file: /etc/sysctl.conf
// only under `sysctl --system`, a sysctl.d file when no same-named file of
// a higher-precedence directory (present in files) masks it and it is not
// itself a /dev/null mask.
func applied(file string, files []string, links map[string]string, systemd bool) bool {
	if file == EtcSysctlConf {
		return !systemd
	}
	if links[file] == "/dev/null" {
		return false
	}
	for _, f := range files {
		if f != EtcSysctlConf && path.Base(f) == path.Base(file) && dirRank(path.Dir(f)) < dirRank(path.Dir(file)) {
			return false
		}
	}
	return true
}

// ReadAtBoot reports whether the host applies file at boot, as it is now or
// once written, and if not, why not.
func (l Limits) ReadAtBoot(file string) (bool, string) {
	if file == EtcSysctlConf && l.Systemd {
		for link, target := range l.BootLinks {
			if target == EtcSysctlConf && applied(link, l.BootFiles, l.BootLinks, true) {
				return true, ""
			}
		}
		return false, "systemd-sysctl reads only the sysctl.d directories, and no link there points to " + EtcSysctlConf +
			" (Debian 13 and Ubuntu 24.10 ship none)"
	}
	if applied(file, l.BootFiles, l.BootLinks, l.Systemd) {
		return true, ""
	}
	if l.BootLinks[file] == "/dev/null" {
		return false, file + " is a link to /dev/null, which masks the name"
	}
	return false, "a file of the same name in a directory read before it masks it"
}

// EtcSysctlConf is the classic sysctl file, which systemd-sysctl reads only
// through a sysctl.d link.
const EtcSysctlConf = "/etc/sysctl.conf"

// bootName is a file's place in the boot order: its name, with
// /etc/sysctl.conf after every sysctl.d name.
func bootName(file string) string {
	if file == EtcSysctlConf {
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
	// Under systemd-sysctl, ownFile read through a link runs at the link's
	// place, even while it sets nothing yet (a create's plan); `sysctl
	// --system` reads /etc/sysctl.conf again last.
	if l.Systemd {
		for link, target := range l.BootLinks {
			if target == ownFile && link != ownFile {
				own = bootName(link)
			}
		}
	}
	var files, reported []string
	for _, s := range l.Boot {
		if s.order > own && s.RealPath != ownFile && s.Key == key && s.Value != value && !slices.Contains(reported, s.RealPath) {
			files, reported = append(files, s.File), append(reported, s.RealPath)
		}
	}
	return files
}
