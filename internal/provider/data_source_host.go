package provider

import (
	"context"
	"fmt"
	"strings"

	"github.com/hashicorp/terraform-plugin-framework/datasource"
	"github.com/hashicorp/terraform-plugin-framework/datasource/schema"
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
	Stats                 *statsModel   `tfsdk:"stats"`
}

type statsModel struct {
	Found         types.Int64 `tfsdk:"found"`
	Invalid       types.Int64 `tfsdk:"invalid"`
	InsertFailed  types.Int64 `tfsdk:"insert_failed"`
	Drop          types.Int64 `tfsdk:"drop"`
	EarlyDrop     types.Int64 `tfsdk:"early_drop"`
	SearchRestart types.Int64 `tfsdk:"search_restart"`
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
	for name, a := range map[string]schema.Attribute{
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
		"buckets":          num("Hash table buckets (`nf_conntrack_buckets`, the `hashsize` module parameter)."),
		"fill_percent":     schema.Float64Attribute{Computed: true, MarkdownDescription: "`conntrack_count` as a percentage of `conntrack_max`, two decimals."},
		"recommended_max": num("The rule of thumb for `nf_conntrack_max`: memory bytes / 16384 / (arch bits / 32). " +
			"Use it as `max` of `conntrack_limits` to size every host of a fleet by its own memory."),
		"recommended_buckets":     num("Recommended buckets: `recommended_max` / 8."),
		"recommended_buckets_max": num("Upper end of the sensible bucket range: `recommended_max` / 2."),
		"stats": schema.SingleNestedAttribute{Computed: true,
			MarkdownDescription: "Counters of /proc/net/stat/nf_conntrack summed over all CPUs, since boot; null when conntrack is not active. " +
				"A growing `drop` or `early_drop` means the table is full.",
			Attributes: map[string]schema.Attribute{
				"found":          num("Successful lookups."),
				"invalid":        num("Packets that could not be tracked."),
				"insert_failed":  num("Entries that could not be inserted (a race or a full table)."),
				"drop":           num("Packets dropped because the table was full and no entry could be evicted."),
				"early_drop":     num("Entries evicted early to make room in a full table."),
				"search_restart": num("Lookups restarted because the table changed under them."),
			}},
	} {
		attrs[name] = a
	}
	resp.Schema = schema.Schema{
		MarkdownDescription: "Facts about a host's connection tracking, read live over SSH in one remote command that only reads files " +
			"(it never loads a module): kernel, memory, whether conntrack is loaded, how full the table is, its drop counters, " +
			"and the recommended table and hash sizes for the host's memory.",
		Attributes: attrs,
	}
}

func (d *hostDataSource) Configure(_ context.Context, req datasource.ConfigureRequest, resp *datasource.ConfigureResponse) {
	d.data = providerDataFrom(req.ProviderData, &resp.Diagnostics)
}

func (d *hostDataSource) Read(ctx context.Context, req datasource.ReadRequest, resp *datasource.ReadResponse) {
	var m hostModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	host := m.Host.ValueString()
	ctx = tflog.SetField(ctx, "host", host)
	// The facts are part of the walk's snapshot of the host.
	read := snapRead[conntrack.Facts]{obj: converge.ObjFacts, deps: []string{scopeKernel, scopeSysctl},
		view: func(s *conntrack.Snapshot) (*conntrack.Facts, error) {
			f, err := converge.FactsOf(s)
			return &f, err
		}}
	f := readHost(ctx, d.data, m.connectionModel, read, wording{}, &resp.Diagnostics)
	if f == nil {
		return
	}
	facts := *f
	tflog.Debug(ctx, "read host facts", map[string]any{"kernel": facts.KernelRelease, "conntrack": string(facts.Module)})
	if !facts.HasConntrack() {
		resp.Diagnostics.AddWarning(fmt.Sprintf("Connection tracking is not active on %s", host),
			fmt.Sprintf("%s has no /proc/sys/net/netfilter/nf_conntrack_max (conntrack module: %s), so count, max, buckets and stats are null. "+
				"That is expected where conntrack was removed on purpose; otherwise the module is not loaded yet "+
				"(it loads with the first stateful firewall rule, or `modprobe nf_conntrack`).", host, facts.Module))
	}
	m.fill(facts)
	resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
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
	lo, hi := conntrack.RecommendedBuckets(rec)
	m.RecommendedMax, m.RecommendedBuckets, m.RecommendedBucketsMax = types.Int64Value(rec), types.Int64Value(lo), types.Int64Value(hi)
	m.Stats = nil
	if s := f.Stats; s != nil {
		m.Stats = &statsModel{
			Found: counter(s.Found), Invalid: counter(s.Invalid), InsertFailed: counter(s.InsertFailed),
			Drop: counter(s.Drop), EarlyDrop: counter(s.EarlyDrop), SearchRestart: counter(s.SearchRestart),
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

// enumDoc renders allowed values for docs from the same list the code uses.
func enumDoc[T ~string](values []T) string {
	quoted := make([]string, len(values))
	for i, v := range values {
		quoted[i] = "`" + string(v) + "`"
	}
	return strings.Join(quoted, ", ")
}
