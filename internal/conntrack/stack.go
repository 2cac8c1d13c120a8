package conntrack

import (
	"fmt"
	"slices"
	"strings"
)

// IptablesVariant is which iptables the host's `iptables` command is.
type IptablesVariant string

// The iptables variants.
const (
	IptablesLegacy IptablesVariant = "legacy" // x_tables in the kernel (xtables-legacy-multi, or any iptables before 1.8)
	IptablesNft    IptablesVariant = "nft"    // iptables-nft: rules kept as nftables tables (xtables-nft-multi)
	IptablesNone   IptablesVariant = "none"   // no iptables command
)

// IptablesVariants lists every IptablesVariant in display order.
var IptablesVariants = []IptablesVariant{IptablesLegacy, IptablesNft, IptablesNone}

// FirewalldDefaultBackend is firewalld's backend when firewalld.conf does
// not set FirewallBackend (firewalld 0.6 and later).
const FirewalldDefaultBackend = "nftables"

// Stack is which firewall stack a host runs: the packet filter tools, the
// nftables tables present and the firewall services.
type Stack struct {
	Iptables  IptablesVariant
	Ip6tables IptablesVariant
	// NftReadable: the nftables tables could be listed without loading a
	// module (nf_tables loaded or built in, and nft installed). When
	// nf_tables is neither, there are no tables: NftTables is empty and
	// NftReadable true. When nft is missing, both lists are nil.
	NftReadable bool
	// NftTables are the tables ("family name") that iptables-nft did not
	// create; IptablesNftTables those it did (see SplitNftTables).
	NftTables, IptablesNftTables []string
	// FirewalldConf is whether /etc/firewalld/firewalld.conf exists, and
	// FirewalldBackend its FirewallBackend (FirewalldDefaultBackend when
	// the file does not set it, "" when there is no file).
	FirewalldConf    bool
	FirewalldBackend string
	// Services are the FirewallServices as the running init system sees them.
	Services map[string]ServiceState
	Init     string
}

// stackProbes print the firewall stack (after readPrelude or in the
// snapshot). Nothing here may load a module: "nft list tables" runs only
// when nf_tables is loaded or built in (or the kernel has no loadable
// modules), since it asks the kernel for the nf_tables subsystem, which
// loads it; "iptables -V" of iptables-nft opens a netfilter netlink socket
// (loads nfnetlink), so the variant comes from the name the command
// resolves to, and -V runs only for a name that does not tell (iptables
// before 1.8, legacy) on a host where nf_tables is there anyway. Names
// are prefixed (k*) not to meet the other probes' variables and
// functions; programs are looked up in $PATH by kw, not command -v, which
// would name the firewall probe's shell function nft.
const stackProbes = `kw() { kf=; IFS=:; for kd in $PATH; do if [ -x "$kd/$1" ]; then kf=$kd/$1; break; fi; done; unset IFS; [ -n "$kf" ] && echo "$kf"; }
` + nfTablesUsable + `kn=; if nfok; then kn=1; fi
s stack_nf_tables; echo "${kn:-no}"
for kc in iptables ip6tables; do
	kp=$(kw "$kc") || continue
	kt=$(readlink -f "$kp"); s "stack_$kc"; echo "${kt:-$kp}"
	case ${kt:-$kp} in *nft*|*legacy*) ;; *) if [ -n "$kn" ]; then "$kp" -V; fi ;; esac
done
if [ -n "$kn" ] && kx=$(kw nft); then s stack_nft_tables; "$kx" list tables; kr=$?; s stack_nft_rc; echo "$kr"; fi
fx firewalld_conf /etc/firewalld/firewalld.conf
`

// parseStack parses the stack sections; services come from the services read.
func parseStack(sec sections, svc ServiceHost) (Stack, error) {
	st := Stack{Init: InitSysV, Services: map[string]ServiceState{}}
	if svc.Systemd {
		st.Init = InitSystemd
	}
	for _, name := range FirewallServices {
		st.Services[name] = svc.States(st.Init)[name]
	}
	nfTables := sec.line("stack_nf_tables") == "1"
	st.Iptables = iptablesVariant(sec.lines("stack_iptables"))
	st.Ip6tables = iptablesVariant(sec.lines("stack_ip6tables"))
	switch {
	case !nfTables:
		st.NftReadable, st.NftTables, st.IptablesNftTables = true, []string{}, []string{}
	case sec.has("stack_nft_rc") && sec.line("stack_nft_rc") == "0":
		tables, err := parseNftTables(sec.lines("stack_nft_tables"))
		if err != nil {
			return Stack{}, err
		}
		st.NftReadable = true
		st.NftTables, st.IptablesNftTables = SplitNftTables(tables, st.Iptables == IptablesNft || st.Ip6tables == IptablesNft)
	}
	conf, err := parseFile(sec["file_firewalld_conf"], "/etc/firewalld/firewalld.conf")
	if err != nil {
		return Stack{}, err
	}
	if conf.Exists && !conf.IsDir {
		st.FirewalldConf, st.FirewalldBackend = true, FirewalldBackend(string(conf.Content))
	}
	return st, nil
}

// iptablesVariant decides from the resolved command path and, for a
// name that does not tell, the -V line that follows it.
func iptablesVariant(lines []string) IptablesVariant {
	if len(lines) == 0 {
		return IptablesNone
	}
	base := lines[0][strings.LastIndexByte(lines[0], '/')+1:]
	switch {
	case strings.Contains(base, "nft"):
		return IptablesNft
	case strings.Contains(base, "legacy"):
		return IptablesLegacy
	}
	// iptables before 1.8 (xtables-multi, iptables-multi, a plain binary)
	// knows only the legacy backend; 1.8 says "(nf_tables)" or "(legacy)".
	for _, l := range lines[1:] {
		if strings.Contains(l, "(nf_tables)") {
			return IptablesNft
		}
	}
	return IptablesLegacy
}

// parseNftTables reads `nft list tables`: "table FAMILY NAME" lines.
func parseNftTables(lines []string) ([]string, error) {
	tables := []string{}
	for _, l := range lines {
		f := strings.Fields(l)
		if len(f) != 3 || f[0] != "table" {
			return nil, fmt.Errorf("nft list tables: unexpected line %q", l)
		}
		tables = append(tables, f[1]+" "+f[2])
	}
	slices.Sort(tables)
	return slices.Compact(tables), nil
}

// iptablesNftOwn are the tables iptables-nft (and arptables-nft,
// ebtables-nft) create, by family: iptables' own table names. Native
// nftables rulesets use their own names, or the inet family, which
// iptables-nft never uses.
var iptablesNftOwn = map[string][]string{
	"ip":     {"filter", "nat", "mangle", "raw", "security"},
	"ip6":    {"filter", "nat", "mangle", "raw", "security"},
	"arp":    {"filter"},
	"bridge": {"filter", "nat", "broute"},
}

// SplitNftTables splits "family name" tables into native ones and those
// iptables-nft created. Only where iptables is the nft variant is a table
// with one of iptables' names taken as its own: on a legacy host an
// "ip nat" table is a hand-written nftables ruleset.
func SplitNftTables(tables []string, iptablesNft bool) (native, iptables []string) {
	native, iptables = []string{}, []string{}
	for _, t := range tables {
		fam, name, _ := strings.Cut(t, " ")
		if iptablesNft && slices.Contains(iptablesNftOwn[fam], name) {
			iptables = append(iptables, t)
		} else {
			native = append(native, t)
		}
	}
	return native, iptables
}

// FirewalldBackend is the FirewallBackend of a firewalld.conf (the last
// assignment, quotes removed, lower case), else FirewalldDefaultBackend.
func FirewalldBackend(conf string) string {
	backend := FirewalldDefaultBackend
	for _, l := range strings.Split(conf, "\n") {
		k, v, ok := strings.Cut(strings.TrimSpace(l), "=")
		if !ok || strings.TrimSpace(k) != "FirewallBackend" {
			continue
		}
		if v = strings.ToLower(unquote(strings.TrimSpace(v))); v != "" {
			backend = v
		}
	}
	return backend
}
