package conntrack

import (
	"slices"
	"strconv"
	"strings"
)

// ClassicBlacklist is the conntrack family as the classic "remove connection
// tracking" recipe lists it. nf_conntrack_ipv4/ipv6 merged into
// nf_conntrack in Linux 4.19; on newer kernels they simply do not exist.
var ClassicBlacklist = []string{
	"nf_conntrack", "nf_conntrack_ipv4", "nf_conntrack_ipv6", "xt_conntrack",
	"nf_conntrack_ftp", "xt_state", "iptable_nat", "ipt_REDIRECT", "nf_nat",
}

// LoadedModule is one line of /proc/modules.
type LoadedModule struct {
	Name     string
	RefCount int
	UsedBy   []string // modules that hold this one
}

// ParseProcModules reads /proc/modules: "name size refcount holders, state addr".
func ParseProcModules(s string) map[string]LoadedModule {
	mods := map[string]LoadedModule{}
	for _, line := range strings.Split(s, "\n") {
		f := strings.Fields(line)
		if len(f) < 4 {
			continue
		}
		m := LoadedModule{Name: f[0]}
		m.RefCount, _ = strconv.Atoi(f[2])
		for _, h := range strings.Split(f[3], ",") {
			if h != "" && h != "-" {
				m.UsedBy = append(m.UsedBy, h)
			}
		}
		mods[m.Name] = m
	}
	return mods
}

// Holder is a reason a module cannot simply be unloaded.
type Holder struct {
	Module string // the module held
	By     string // the holding module, or "" for references without a module (firewall rules, sockets)
	Refs   int
}

// UnloadOrder returns the loaded modules among targets in an order that
// rmmod accepts (holders first), and what holds them from outside the
// targets: modules not in the list (xt_CT, nf_nat's users), or references
// no module accounts for (rules using xt_conntrack, say). With force, the
// outside holder modules are unloaded too (put first); references stay
// blockers, since no rmmod can release them.
func UnloadOrder(loaded map[string]LoadedModule, targets []string, force bool) (order []string, holders []Holder) {
	want := map[string]bool{}
	for _, t := range targets {
		if _, ok := loaded[t]; ok {
			want[t] = true
		}
	}
	// With force, everything that holds a target is a target too.
	for changed := force; changed; {
		changed = false
		for t := range want {
			for _, h := range loaded[t].UsedBy {
				if _, ok := loaded[h]; ok && !want[h] {
					want[h], changed = true, true
				}
			}
		}
	}
	done := map[string]bool{}
	var visit func(string)
	visit = func(m string) {
		if done[m] {
			return
		}
		done[m] = true
		for _, h := range loaded[m].UsedBy {
			if want[h] {
				visit(h)
			}
		}
		order = append(order, m)
	}
	names := make([]string, 0, len(want))
	for m := range want {
		names = append(names, m)
	}
	slices.Sort(names)
	for _, m := range names {
		visit(m)
		lm := loaded[m]
		for _, h := range lm.UsedBy {
			if !want[h] {
				holders = append(holders, Holder{Module: m, By: h})
			}
		}
		if extra := lm.RefCount - len(lm.UsedBy); extra > 0 {
			holders = append(holders, Holder{Module: m, Refs: extra})
		}
	}
	return order, holders
}

// modulesProbes follow readPrelude for a module blacklist read:
// $1 the modprobe.d file, then the module names. Whether a module is built
// in shows in modules.builtin or as a /sys/module entry without initstate;
// whether it could load, in modules.dep. Both indexes are read once and
// matched by the shell, not by a grep or find per module. The persisted
// rules that need connection tracking come from one grep over every rules
// file: its pattern leaves out comment lines (first non-blank "#"), at
// most 20 lines a file.
const modulesProbes = `fx blacklist "$1"; shift
s proc_modules_all; cat /proc/modules
s module_kind
builtin=$(cat "/lib/modules/$r/modules.builtin")
dep=$(cat "/lib/modules/$r/modules.dep")
for m in "$@"; do
	case "$builtin" in *"/$m.ko"*) echo "$m builtin"; continue ;; esac
	if [ -e "/sys/module/$m/initstate" ]; then echo "$m module"
	elif [ -d "/sys/module/$m" ]; then echo "$m builtin"
	else case "$dep" in *"/$m.ko"*) echo "$m available" ;; *) echo "$m absent" ;; esac
	fi
done
s initramfs_tools; for t in update-initramfs dracut lsinitramfs lsinitrd; do command -v "$t"; done
s conntrack_users
grep -m 20 -n -H -E -e "^[[:space:]]*([^#[:space:]].*)?(-m +(state|conntrack)|-j +(CT|NOTRACK)|--ctstate|(^|[^a-z_#])ct +(state|status)|notrack)" \
	/etc/sysconfig/iptables /etc/sysconfig/ip6tables /etc/iptables/rules.v4 /etc/iptables/rules.v6 \
	/etc/nftables.conf /etc/sysconfig/nftables.conf /etc/nftables.d/*.nft /etc/nftables/*.nft
`

// ModulesScript is the script and arguments of one module blacklist read.
func ModulesScript(file string, modules []string) (string, []string) {
	return readPrelude + fileProbe + modulesProbes + "s end\n", append([]string{file}, modules...)
}

// ModuleHost is what a module blacklist read gathers.
type ModuleHost struct {
	File   File
	Loaded map[string]LoadedModule
	// Kind maps each asked-for module to builtin, module (loaded), available or absent.
	Kind  map[string]string
	Tools []string // initramfs tools found (paths)
	// ConntrackUsers are lines of the persisted rulesets (iptables rules
	// files of both layouts, nftables configs) that need connection
	// tracking when the firewall loads them at boot (20 per tool at most).
	ConntrackUsers []FileLine
}

// FileLine is one line of a file.
type FileLine struct {
	Path string
	Line int
	Text string
}

// ConntrackModule says whether disabling module takes connection tracking
// (or the matches and targets rulesets use for it) away.
func ConntrackModule(module string) bool {
	return strings.HasPrefix(module, "nf_conntrack") || strings.HasPrefix(module, "ip_conntrack") ||
		slices.Contains([]string{"xt_conntrack", "xt_state", "xt_CT", "nft_ct"}, module)
}

// ParseModules parses the output of ModulesScript.
func ParseModules(out, file string) (ModuleHost, error) {
	sec, err := splitSections(out)
	if err != nil {
		return ModuleHost{}, err
	}
	h := ModuleHost{Loaded: ParseProcModules(sec["proc_modules_all"]), Kind: map[string]string{}, Tools: sec.lines("initramfs_tools")}
	if h.File, err = parseFile(sec["file_blacklist"], file); err != nil {
		return ModuleHost{}, err
	}
	for _, l := range sec.lines("module_kind") {
		if name, kind, ok := strings.Cut(l, " "); ok {
			h.Kind[name] = kind
		}
	}
	for _, l := range sec.lines("conntrack_users") {
		// grep -n -H: PATH:LINE:TEXT
		p, rest, ok := strings.Cut(l, ":")
		num, text, ok2 := strings.Cut(rest, ":")
		n, err := strconv.Atoi(num)
		if ok && ok2 && err == nil {
			h.ConntrackUsers = append(h.ConntrackUsers, FileLine{Path: p, Line: n, Text: strings.TrimSpace(text)})
		}
	}
	return h, nil
}

// unloadScript unloads its arguments in order with rmmod (modprobe -r
// would also try to remove dependencies the user did not list), reporting
// each failure with rmmod's reason and going on with the next.
const unloadScript = `for m in "$@"; do
	if ! err=$(rmmod "$m" 2>&1); then printf "@@fail\t%s\t%s\n" "$m" "$(echo $err)"; fi
done
`

// UnloadScript is the script that unloads modules in the given order.
func UnloadScript() string { return unloadScript }
