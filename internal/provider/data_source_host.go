package provider

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/hashicorp/terraform-plugin-framework-validators/int64validator"
	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/datasource"
	"github.com/hashicorp/terraform-plugin-framework/datasource/schema"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/hashicorp/terraform-plugin-log/tflog"

	"github.com/conntrack-ops/terraform-provider-conntrack/internal/conntrack"
	"github.com/conntrack-ops/terraform-provider-conntrack/internal/converge"
)

var _ datasource.DataSourceWithConfigure = (*hostDataSource)(nil)

// NewHostDataSource is the conntrack_host data source.
func NewHostDataSource() datasource.DataSource { return &hostDataSource{} }

type hostDataSource struct {
	data *providerData
}

type hostModel struct {
	connectionModel
	ID                    types.String  `tfsdk:"id"`
	KernelRelease         types.String  `tfsdk:"kernel_release"`
	ArchBits              types.Int64   `tfsdk:"arch_bits"`
	MemoryBytes           types.Int64   `tfsdk:"memory_bytes"`
	OSFamily              types.String  `tfsdk:"os_family"`
	FileLayout            types.String  `tfsdk:"file_layout"`
	InitialNetns          types.Bool    `tfsdk:"initial_netns"`
	ConntrackModule       types.String  `tfsdk:"conntrack_module"`
	ConntrackNaming       types.String  `tfsdk:"conntrack_naming"`
	ConntrackCount        types.Int64   `tfsdk:"conntrack_count"`
	ConntrackMax          types.Int64   `tfsdk:"conntrack_max"`
	Buckets               types.Int64   `tfsdk:"buckets"`
	FillPercent           types.Float64 `tfsdk:"fill_percent"`
	RecommendedMax        types.Int64   `tfsdk:"recommended_max"`
	RecommendedBuckets    types.Int64   `tfsdk:"recommended_buckets"`
	RecommendedBucketsMax types.Int64   `tfsdk:"recommended_buckets_max"`
	SizingRule            types.String  `tfsdk:"sizing_rule"`
	LoadFactor            types.Float64 `tfsdk:"load_factor"`
	Stats                 *statsModel   `tfsdk:"stats"`
	Firewall              *stackModel   `tfsdk:"firewall"`
	Top                   types.Int64   `tfsdk:"top"`
	TableSummary          *summaryModel `tfsdk:"table_summary"`
}

type stackModel struct {
	Iptables          types.String                 `tfsdk:"iptables"`
	Ip6tables         types.String                 `tfsdk:"ip6tables"`
	NftablesTables    types.List                   `tfsdk:"nftables_tables"`
	IptablesNftTables types.List                   `tfsdk:"iptables_nft_tables"`
	FirewalldBackend  types.String                 `tfsdk:"firewalld_backend"`
	Init              types.String                 `tfsdk:"init"`
	Services          map[string]serviceStateModel `tfsdk:"services"`
}

type serviceStateModel struct {
	Installed types.Bool `tfsdk:"installed"`
	Enabled   types.Bool `tfsdk:"enabled"`
	Running   types.Bool `tfsdk:"running"`
}

type summaryModel struct {
	Source            types.String     `tfsdk:"source"`
	EntriesScanned    types.Int64      `tfsdk:"entries_scanned"`
	Truncated         types.Bool       `tfsdk:"truncated"`
	Top               []groupModel     `tfsdk:"top"`
	NotrackCandidates []candidateModel `tfsdk:"notrack_candidates"`
}

type groupModel struct {
	Protocol types.String  `tfsdk:"protocol"`
	State    types.String  `tfsdk:"state"`
	Port     types.Int64   `tfsdk:"port"`
	Entries  types.Int64   `tfsdk:"entries"`
	Percent  types.Float64 `tfsdk:"percent"`
}

type candidateModel struct {
	Protocol types.String  `tfsdk:"protocol"`
	Port     types.Int64   `tfsdk:"port"`
	Entries  types.Int64   `tfsdk:"entries"`
	Percent  types.Float64 `tfsdk:"percent"`
}

type statsModel struct {
	Found         types.Int64 `tfsdk:"found"`
	Invalid       types.Int64 `tfsdk:"invalid"`
	InsertFailed  types.Int64 `tfsdk:"insert_failed"`
	Drop          types.Int64 `tfsdk:"drop"`
	EarlyDrop     types.Int64 `tfsdk:"early_drop"`
	SearchRestart types.Int64 `tfsdk:"search_restart"`
	ClashResolve  types.Int64 `tfsdk:"clash_resolve"`
	ChainTooLong  types.Int64 `tfsdk:"chaintoolong"`
}

func (d *hostDataSource) Metadata(_ context.Context, req datasource.MetadataRequest, resp *datasource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_host"
}

func (d *hostDataSource) Schema(_ context.Context, _ datasource.SchemaRequest, resp *datasource.SchemaResponse) {
	attrs := connectionDataSourceAttributes()
	str := func(desc string) schema.Attribute {
		return schema.StringAttribute{Computed: true, MarkdownDescription: desc}
	}
	num := func(desc string) schema.Attribute {
		return schema.Int64Attribute{Computed: true, MarkdownDescription: desc}
	}
	boolean := func(desc string) schema.Attribute {
		return schema.BoolAttribute{Computed: true, MarkdownDescription: desc}
	}
	pct := func(desc string) schema.Attribute {
		return schema.Float64Attribute{Computed: true, MarkdownDescription: desc}
	}
	tables := func(desc string) schema.Attribute {
		return schema.ListAttribute{Computed: true, ElementType: types.StringType, MarkdownDescription: desc}
	}
	for name, a := range map[string]schema.Attribute{
		"firewall": schema.SingleNestedAttribute{Computed: true,
			MarkdownDescription: "Which firewall stack the host runs, to choose the NOTRACK resource per host. Read in the same remote command, " +
				"without loading a module: nftables tables are listed only when `nf_tables` is already loaded or built in, and the iptables variant comes " +
				"from the name the `iptables` command resolves to (`iptables-nft -V` would load `nfnetlink`).",
			Attributes: map[string]schema.Attribute{
				"iptables": str("Which iptables `iptables` is: " + enumDoc(conntrack.IptablesVariants) + ". `legacy` is the x_tables backend " +
					"(xtables-legacy-multi, or any iptables before 1.8); `nft` keeps its rules as nftables tables (xtables-nft-multi)."),
				"ip6tables": str("The same for `ip6tables`."),
				"nftables_tables": tables("The nftables tables (`FAMILY NAME`, sorted) that iptables-nft did not create: native rulesets " +
					"(`inet filter` of /etc/nftables.conf, `inet firewalld`, ...). Where `iptables` or `ip6tables` is `nft`, a table of family " +
					"`ip`, `ip6`, `arp` or `bridge` with one of iptables' table names (filter, nat, mangle, raw, security, broute) counts as " +
					"iptables-nft's and is listed in `iptables_nft_tables` instead; on a legacy host every table is native. Empty when " +
					"`nf_tables` is not loaded (there are no tables then); null when they cannot be listed (`nft` not installed, or the session is not root)."),
				"iptables_nft_tables": tables("The nftables tables taken as iptables-nft's (see `nftables_tables`): non-empty means rules are " +
					"kept through iptables-nft."),
				"firewalld_backend": str("firewalld's `FirewallBackend` in /etc/firewalld/firewalld.conf: `nftables` (also when the file does not set it, " +
					"firewalld's default since 0.6) or `iptables`; null when the file does not exist."),
				"init": str("The init system whose view `services` gives: " + enumDoc(conntrack.InitSystems) + "."),
				"services": schema.MapNestedAttribute{Computed: true,
					MarkdownDescription: "The firewall services " + enumDoc(conntrack.FirewallServices) + " as `init` sees them (as `conntrack_firewall_service` reads them).",
					NestedObject: schema.NestedAttributeObject{Attributes: map[string]schema.Attribute{
						"installed": boolean("The service exists (a unit or an init script)."),
						"enabled":   boolean("It starts at boot."),
						"running":   boolean("It runs now (systemd: active; SysV: its lock file)."),
					}}},
			}},
		"top": schema.Int64Attribute{Optional: true, Validators: []validator.Int64{int64validator.Between(0, conntrack.TopMax)},
			MarkdownDescription: fmt.Sprintf("Opt-in: summarise what fills the table into `table_summary`, with the `top` biggest groups. "+
				"One more remote command, which reads /proc/net/nf_conntrack on the host for at most %d seconds (or half the provider's "+
				"`command_timeout` when that is shorter) and returns only the summary. 0 or absent: off. At most %d.",
				int(conntrack.SummaryBudget.Seconds()), conntrack.TopMax)},
		"table_summary": schema.SingleNestedAttribute{Computed: true,
			MarkdownDescription: "What fills the table, when `top` is set and conntrack is active; null otherwise. Counted on the host " +
				"by one `awk` over /proc/net/nf_conntrack (this network namespace's table), never `conntrack -L` (its netlink socket loads " +
				"`nf_conntrack_netlink`) nor `ss` (sock_diag loads `inet_diag`).",
			Attributes: map[string]schema.Attribute{
				"source":          str("The file read: `/proc/net/nf_conntrack` (`/proc/net/ip_conntrack` on kernels up to 2.6.19); null when neither exists (a kernel built without `CONFIG_NF_CONNTRACK_PROCFS`)."),
				"entries_scanned": num("Entries read. Less than `conntrack_count` when `truncated`, and it may differ a little anyway: entries come and go during the read."),
				"truncated": boolean("The read stopped at its time limit: the counts are of the first `entries_scanned` entries. The table is listed in hash order, " +
					"so they are a sample of the whole table, not its oldest part."),
				"top": schema.ListNestedAttribute{Computed: true,
					MarkdownDescription: "The biggest groups of entries by protocol, state and destination port, most entries first, at most `top`.",
					NestedObject: schema.NestedAttributeObject{Attributes: map[string]schema.Attribute{
						"protocol": str("`tcp`, `udp`, `icmp`, `icmpv6`, `sctp`, ... as the kernel names it."),
						"state": str("The TCP (SCTP, DCCP) state, e.g. `ESTABLISHED`, `TIME_WAIT`, `SYN_SENT`; for protocols without one " +
							"`UNREPLIED` (nothing came back yet) or `REPLIED`."),
						"port":    num("Destination port of the original direction; 0 for protocols without ports (ICMP)."),
						"entries": num("Entries in the group."),
						"percent": pct("`entries` as a percentage of `entries_scanned`, two decimals."),
					}}},
				"notrack_candidates": schema.ListNestedAttribute{Computed: true,
					MarkdownDescription: fmt.Sprintf("Local listening ports (TCP sockets in LISTEN, bound UDP sockets, from /proc/net/tcp, tcp6, udp, udp6) "+
						"whose entries dominate the table: the entries with that destination port are at least %d%% of `entries_scanned` "+
						"and at least %d. Most entries first. These are the services a NOTRACK rule takes out of the table.",
						conntrack.CandidateShare, conntrack.CandidateMinEntries),
					NestedObject: schema.NestedAttributeObject{Attributes: map[string]schema.Attribute{
						"protocol": str("`tcp` or `udp`."),
						"port":     num("The listening port."),
						"entries":  num("Entries whose destination port it is, any state."),
						"percent":  pct("`entries` as a percentage of `entries_scanned`, two decimals."),
					}}},
			}},
		"id":             str("The host, as given."),
		"kernel_release": str("Kernel release (`uname -r`)."),
		"arch_bits":      num("Kernel word size in bits (64 or 32), from `uname -m`; used by the sizing rule."),
		"memory_bytes":   num("Total memory (`MemTotal` in /proc/meminfo) in bytes."),
		"os_family":      str("OS family from /etc/os-release: `rhel`, `debian` or `other`."),
		"file_layout": str("Which file layout the host uses: `rhel` (/etc/sysconfig/iptables, iptables-config) or `debian` " +
			"(/etc/iptables/rules.v4|v6). Resources default to it."),
		"initial_netns": schema.BoolAttribute{Computed: true, MarkdownDescription: "Whether the SSH session runs in the initial network namespace, " +
			"so that global conntrack settings (`nf_conntrack_max`, buckets, hash size) can be changed. `false` in a container or a network namespace, " +
			"where the kernel makes them read-only; null when it cannot be told (conntrack absent)."},
		"conntrack_module": str("How conntrack is present: " + enumDoc(conntrack.ModuleStates) + ". `available` means a module file exists but is not " +
			"loaded; `absent` that the kernel has none."),
		"conntrack_naming": str("`nf_conntrack` (modern) or `ip_conntrack` (kernels up to 2.6.19, `net.ipv4.netfilter.ip_conntrack_*`); null when conntrack is not active."),
		"conntrack_count":  num("Connections tracked now (`nf_conntrack_count`); null when conntrack is not active."),
		"conntrack_max":    num("Table size (`net.netfilter.nf_conntrack_max`); when the count reaches it the kernel logs `nf_conntrack: table full, dropping packet`."),
		"buckets": num("Hash table buckets: the `hashsize` module parameter where the SSH user can read it (root, or `sudo`), else " +
			"`net.netfilter.nf_conntrack_buckets`, which any user can read (the parameter is root-only on current kernels), so a read-only " +
			"monitoring login needs no sudo. The two agree except on kernels without f6351c3f1c27 (4.19 before 4.19.169, 5.4 before 5.4.91, " +
			"mainline before 5.11), whose sysctl reads stale after a `hashsize` write."),
		"fill_percent": schema.Float64Attribute{Computed: true, MarkdownDescription: "`conntrack_count` as a percentage of `conntrack_max`, two decimals."},
		"recommended_max": num("The rule of thumb for `nf_conntrack_max`: memory bytes / 16384 / (arch bits / 32). " +
			"Use it as `max` of `conntrack_limits` to size every host of a fleet by its own memory."),
		"sizing_rule": str("Which hash sizing rule fits the host's kernel: " + enumDoc(conntrack.SizingRules) + ". `modern` on Linux >= 5.15 and on " +
			"any kernel whose /proc/net/stat/nf_conntrack has the `chainlength` column (a vendor backport): there the kernel's default is " +
			"buckets = max (d532bcd0b269) and it refuses to insert into a hash chain grown too long (d7e7747ac5c2), so buckets >= max. " +
			"`classic` on older kernels: the 2016 rule of thumb, max / 8. A release that cannot be read counts as `modern`."),
		"recommended_buckets": num("Recommended buckets for `recommended_max` by `sizing_rule`: `modern`, `recommended_max` (the kernel's own pairing, " +
			"load factor 2); `classic`, `recommended_max` / 8."),
		"recommended_buckets_max": num("Upper end of the sensible bucket range: `modern`, 2 x `recommended_max` (load factor 1); `classic`, " +
			"`recommended_max` / 2."),
		"load_factor": schema.Float64Attribute{Computed: true, MarkdownDescription: fmt.Sprintf("2 x `conntrack_max` / `buckets`, two decimals: "+
			"the entries in each hash chain when the table is full (every connection is hashed once per direction). The kernel's default since 5.15 "+
			"is 2; `conntrack_limits` warns above %d on `modern` kernels, where long chains refuse new connections (`stats.chaintoolong`). "+
			"Null when max or buckets is unknown.", conntrack.MaxLoadFactor)},
		"stats": schema.SingleNestedAttribute{Computed: true,
			MarkdownDescription: "Counters of /proc/net/stat/nf_conntrack summed over all CPUs, since boot, in this network namespace; " +
				"null when conntrack is not active. A growing `drop` or `early_drop` means the table is full; see the health-checks guide for the others.",
			Attributes: map[string]schema.Attribute{
				"found":   num("Successful lookups."),
				"invalid": num("Packets that could not be tracked."),
				"insert_failed": num("Entries that could not be inserted: a hash chain too long (also counted in `chaintoolong`), or two packets " +
					"of a new flow that raced on two CPUs where clash resolution could not settle it (the UDP DNS races of Kubernetes nodes). " +
					"A full table counts in `drop` and `early_drop`, not here: growth alone does not mean the table was full."),
				"drop":           num("Packets dropped because the table was full and no entry could be evicted."),
				"early_drop":     num("Entries evicted early to make room in a full table."),
				"search_restart": num("Lookups restarted because the table changed under them."),
				"clash_resolve": num("Insert races resolved by using the entry that won (column `clashres`, kernels since 2020): normal on busy UDP " +
					"hosts, no packet lost. Null when the kernel has no such column."),
				"chaintoolong": num("Insertions refused because the hash chain was too long (column `chainlength`, Linux 5.15: d7e7747ac5c2): " +
					"the packet is dropped with room left in the table. Growth means too few buckets for the table (see `load_factor`). " +
					"Null when the kernel has no such column, and so no such limit."),
			}},
	} {
		attrs[name] = a
	}
	resp.Schema = schema.Schema{
		MarkdownDescription: "Facts about a host's connection tracking, read live over SSH in one remote command that only reads " +
			"(it never loads a module): kernel, memory, whether conntrack is loaded, how full the table is, its drop counters, " +
			"the recommended table and hash sizes for the host's memory, and which firewall stack the host runs. " +
			"With `top`, one more command summarises what fills the table.",
		Attributes: attrs,
	}
}

func (d *hostDataSource) Configure(_ context.Context, req datasource.ConfigureRequest, resp *datasource.ConfigureResponse) {
	d.data = providerDataFrom(req.ProviderData, &resp.Diagnostics)
}

// hostReadNeed is what the data source asks of the walk's snapshot besides
// the facts: the firewall stack. The snapshot's defaults hold it, so a
// data source beside resources does not read the host a second time.
var hostReadNeed = conntrack.SnapshotRequest{Stack: true}

func (d *hostDataSource) Read(ctx context.Context, req datasource.ReadRequest, resp *datasource.ReadResponse) {
	var m hostModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	host := m.Host.ValueString()
	ctx = tflog.SetField(ctx, "host", host)
	// The facts are part of the walk's snapshot of the host.
	read := snapRead[hostRead]{obj: converge.ObjFacts, deps: []string{scopeKernel, scopeSysctl}, need: hostReadNeed,
		view: func(s *conntrack.Snapshot) (*hostRead, error) {
			f, err := converge.FactsOf(s)
			if err != nil {
				return nil, err
			}
			st, err := converge.StackOf(s)
			if err != nil {
				return nil, err
			}
			return &hostRead{facts: f, stack: *st}, nil
		}}
	r := readHost(ctx, d.data, m.connectionModel, read, wording{}, &resp.Diagnostics)
	if r == nil {
		return
	}
	facts := r.facts
	tflog.Debug(ctx, "read host facts", map[string]any{"kernel": facts.KernelRelease, "conntrack": string(facts.Module)})
	if !facts.HasConntrack() {
		resp.Diagnostics.AddWarning(fmt.Sprintf("Connection tracking is not active on %s", host),
			fmt.Sprintf("%s has no /proc/sys/net/netfilter/nf_conntrack_max (conntrack module: %s), so count, max, buckets and stats are null. "+
				"That is expected where conntrack was removed on purpose; otherwise the module is not loaded yet "+
				"(it loads with the first stateful firewall rule, or `modprobe nf_conntrack`).", host, facts.Module))
	}
	m.fill(facts)
	m.Firewall = newStackModel(r.stack)
	m.TableSummary = nil
	if top := m.Top.ValueInt64(); top > 0 && facts.HasConntrack() {
		h := d.data.host(ctx, m.connectionModel, &resp.Diagnostics)
		if h == nil {
			return
		}
		budget := conntrack.SummaryBudget
		if t, ok := h.(interface{ CommandTimeout() time.Duration }); ok && t.CommandTimeout()/2 < budget {
			budget = t.CommandTimeout() / 2
		}
		start := time.Now()
		sum, err := converge.ReadSummary(ctx, h, int(top), budget)
		if err != nil {
			resp.Diagnostics.AddError(fmt.Sprintf("Cannot summarise the conntrack table of %s", host), detail(err))
			return
		}
		tflog.Debug(ctx, "summarised the conntrack table", map[string]any{"entries": sum.Scanned, "truncated": sum.Truncated, "took": time.Since(start).String()})
		m.TableSummary = newSummaryModel(*sum)
	}
	resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
}

// hostRead is the data source's view of the host's snapshot.
type hostRead struct {
	facts conntrack.Facts
	stack conntrack.Stack
}

func newStackModel(st conntrack.Stack) *stackModel {
	list := func(v []string) types.List {
		if v == nil {
			return types.ListNull(types.StringType)
		}
		elems := make([]attr.Value, len(v))
		for i, s := range v {
			elems[i] = types.StringValue(s)
		}
		return types.ListValueMust(types.StringType, elems)
	}
	m := &stackModel{
		Iptables: types.StringValue(string(st.Iptables)), Ip6tables: types.StringValue(string(st.Ip6tables)),
		NftablesTables: list(st.NftTables), IptablesNftTables: list(st.IptablesNftTables),
		FirewalldBackend: types.StringNull(), Init: types.StringValue(st.Init), Services: map[string]serviceStateModel{},
	}
	if st.FirewalldConf {
		m.FirewalldBackend = types.StringValue(st.FirewalldBackend)
	}
	for name, s := range st.Services {
		m.Services[name] = serviceStateModel{Installed: types.BoolValue(s.Installed), Enabled: types.BoolValue(s.Enabled), Running: types.BoolValue(s.Running)}
	}
	return m
}

func newSummaryModel(sum conntrack.TableSummary) *summaryModel {
	m := &summaryModel{Source: types.StringNull(), EntriesScanned: types.Int64Value(sum.Scanned), Truncated: types.BoolValue(sum.Truncated),
		Top: []groupModel{}, NotrackCandidates: []candidateModel{}}
	if sum.Source != "" {
		m.Source = types.StringValue(sum.Source)
	}
	for _, g := range sum.Top {
		m.Top = append(m.Top, groupModel{Protocol: types.StringValue(g.Protocol), State: types.StringValue(g.State), Port: types.Int64Value(int64(g.Port)),
			Entries: types.Int64Value(g.Count), Percent: types.Float64Value(conntrack.Percent(g.Count, sum.Scanned))})
	}
	for _, c := range sum.Candidates {
		m.NotrackCandidates = append(m.NotrackCandidates, candidateModel{Protocol: types.StringValue(c.Protocol), Port: types.Int64Value(int64(c.Port)),
			Entries: types.Int64Value(c.Count), Percent: types.Float64Value(c.Percent)})
	}
	return m
}

func (m *hostModel) fill(f conntrack.Facts) {
	m.ID = m.Host
	m.KernelRelease = types.StringValue(f.KernelRelease)
	m.ArchBits = types.Int64Value(int64(f.ArchBits))
	m.MemoryBytes = types.Int64Value(f.MemoryBytes)
	m.OSFamily = types.StringValue(f.OSFamily)
	m.FileLayout = types.StringValue(f.FileLayout)
	m.InitialNetns = types.BoolPointerValue(f.InitialNetns)
	m.ConntrackModule = types.StringValue(string(f.Module))
	m.ConntrackNaming = types.StringNull()
	if f.HasConntrack() {
		m.ConntrackNaming = types.StringValue(string(f.Naming))
	}
	m.ConntrackCount = types.Int64PointerValue(f.Count)
	m.ConntrackMax = types.Int64PointerValue(f.Max)
	m.Buckets = types.Int64PointerValue(f.Buckets)
	m.FillPercent = types.Float64PointerValue(f.FillPercent())
	rec := conntrack.RecommendedMax(f.MemoryBytes, f.ArchBits)
	rule := f.Sizing()
	buckets, most := conntrack.RecommendedBuckets(rule, rec)
	m.RecommendedMax, m.RecommendedBuckets, m.RecommendedBucketsMax = types.Int64Value(rec), types.Int64Value(buckets), types.Int64Value(most)
	m.SizingRule = types.StringValue(string(rule))
	m.LoadFactor = types.Float64Null()
	if f.Max != nil && f.Buckets != nil && *f.Buckets > 0 && *f.Max >= 0 {
		m.LoadFactor = types.Float64Value(conntrack.LoadFactor(*f.Max, *f.Buckets))
	}
	m.Stats = nil
	if s := f.Stats; s != nil {
		m.Stats = &statsModel{
			Found: counter(s.Found), Invalid: counter(s.Invalid), InsertFailed: counter(s.InsertFailed),
			Drop: counter(s.Drop), EarlyDrop: counter(s.EarlyDrop), SearchRestart: counter(s.SearchRestart),
			ClashResolve: optCounter(s.ClashResolve), ChainTooLong: optCounter(s.ChainTooLong),
		}
	}
}

// counter clamps a kernel counter into Terraform's int64.
func counter(v uint64) types.Int64 {
	if v > 1<<63-1 {
		v = 1<<63 - 1
	}
	return types.Int64Value(int64(v))
}

// optCounter is counter, null for a column the kernel does not have.
func optCounter(v *uint64) types.Int64 {
	if v == nil {
		return types.Int64Null()
	}
	return counter(*v)
}

// enumDoc renders allowed values for docs from the same list the code uses.
func enumDoc[T ~string](values []T) string {
	quoted := make([]string, len(values))
	for i, v := range values {
		quoted[i] = "`" + string(v) + "`"
	}
	return strings.Join(quoted, ", ")
}
