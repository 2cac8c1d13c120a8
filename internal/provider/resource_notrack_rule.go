package provider

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/terraform-plugin-framework-validators/int64validator"
	"github.com/hashicorp/terraform-plugin-framework-validators/setvalidator"
	"github.com/hashicorp/terraform-plugin-framework-validators/stringvalidator"
	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/booldefault"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/int64default"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/int64planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/setdefault"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringdefault"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/hashicorp/terraform-plugin-log/tflog"

	"github.com/conntrack-ops/terraform-provider-conntrack/internal/conntrack"
	"github.com/conntrack-ops/terraform-provider-conntrack/internal/converge"
)

var (
	_ resource.ResourceWithConfigure        = (*notrackResource)(nil)
	_ resource.ResourceWithImportState      = (*notrackResource)(nil)
	_ resource.ResourceWithModifyPlan       = (*notrackResource)(nil)
	_ resource.ResourceWithConfigValidators = (*notrackResource)(nil)
)

// NewNotrackRuleResource is the conntrack_notrack_rule resource.
func NewNotrackRuleResource() resource.Resource { return &notrackResource{} }

type notrackResource struct {
	data *providerData
}

type notrackModel struct {
	ID                    types.String `tfsdk:"id"`
	Host                  types.String `tfsdk:"host"`
	SSHPort               types.Int64  `tfsdk:"ssh_port"`
	User                  types.String `tfsdk:"user"`
	Protocol              types.String `tfsdk:"protocol"`
	Port                  types.String `tfsdk:"port"`
	Source                types.String `tfsdk:"source"`
	Destination           types.String `tfsdk:"destination"`
	Chains                types.Set    `tfsdk:"chains"`
	Direction             types.String `tfsdk:"direction"`
	IPVersion             types.Int64  `tfsdk:"ip_version"`
	Target                types.String `tfsdk:"target"`
	Comment               types.String `tfsdk:"comment"`
	RulesFile             types.String `tfsdk:"rules_file"`
	RollbackTimeout       types.Int64  `tfsdk:"rollback_timeout"`
	EnsureUntrackedAccept types.Bool   `tfsdk:"ensure_untracked_accept"`
	RuleID                types.String `tfsdk:"rule_id"`
	States                types.Map    `tfsdk:"states"`
}

// Where a chain's rule is, as states reports it: planned as
// notrackInPlace, so a rule lost on one side plans
// `~ "PREROUTING" = "persisted only" -> "live and persisted"`.
const (
	notrackInPlace   = "live and persisted"
	notrackFileOnly  = "persisted only"
	notrackLiveOnly  = "live only"
	notrackNeither   = "absent"
	notrackStatesDoc = "`" + notrackInPlace + "`, `" + notrackFileOnly + "`, `" + notrackLiveOnly + "` or `" + notrackNeither + "`"
)

// wantStates is states as the apply leaves it: every chain's rules live
// and persisted.
func (m *notrackModel) wantStates(ctx context.Context) types.Map {
	elems := map[string]attr.Value{}
	for _, chain := range ruleChains(m.rule(ctx)) {
		elems[chain] = types.StringValue(notrackInPlace)
	}
	return types.MapValueMust(types.StringType, elems)
}

// ruleChains are the chains r has rules in: its chains, less those its
// direction puts no rule in (forward: OUTPUT).
func ruleChains(r conntrack.NotrackRule) []string {
	var out []string
	for _, cr := range r.Rules() {
		if !slices.Contains(out, cr.Chain) {
			out = append(out, cr.Chain)
		}
	}
	return out
}

func (m *notrackModel) connection() connectionModel {
	return connectionModel{Host: m.Host, Port: m.SSHPort, User: m.User}
}

func (m *notrackModel) rule(ctx context.Context) conntrack.NotrackRule {
	var chains []string
	if !m.Chains.IsNull() && !m.Chains.IsUnknown() {
		m.Chains.ElementsAs(ctx, &chains, false)
	}
	slices.Sort(chains)
	return conntrack.NotrackRule{
		IPVersion: int(m.IPVersion.ValueInt64()), Protocol: m.Protocol.ValueString(), Port: m.Port.ValueString(),
		Source: m.Source.ValueString(), Destination: m.Destination.ValueString(),
		Chains: chains, Direction: m.Direction.ValueString(), Target: m.Target.ValueString(), Comment: m.Comment.ValueString(),
	}
}

// directionDoc documents the direction attribute of both NOTRACK
// resources from the rule builder's own table; upper names iptables'
// chains, lower nft's hooks.
func directionDoc(upper bool) string {
	what := map[string]string{
		conntrack.DirectionServer:  "the host serves `port` (the usual server recipe, and the default)",
		conntrack.DirectionClient:  "the host connects to `port` elsewhere (a proxy, a recursive resolver, a scraper)",
		conntrack.DirectionForward: "the host forwards traffic to `port` between others (a router, a NAT gateway, a Kubernetes node); these rules also match traffic to the host itself",
		conntrack.DirectionBoth:    "`server` and `client` together",
	}
	reach := "the filter table's INPUT chain (FORWARD for `forward`), which must accept them (see `ensure_untracked_accept`)"
	if !upper {
		reach = "the filter chains at the `input` hook (`forward` for `forward`), which must accept them"
	}
	var b strings.Builder
	b.WriteString("Which packets of a flow to `port` are untracked, so that neither the request nor the reply creates a conntrack entry " +
		"(untracking one direction only fills the table with one-sided entries). One of " + enumDoc(conntrack.NotrackDirections) + ":")
	for _, d := range conntrack.NotrackDirections {
		fmt.Fprintf(&b, "\n  - `%s`: %s. Rules: %s.", d, what[d], conntrack.DirectionDoc(d, upper))
	}
	b.WriteString("\n\n  A rule is added only where `chains` allows (a direction with no rule left is an error at plan time). Without a port " +
		"the rules of a chain are one rule, so `server`, `client` and `both` make the same rules. `source` and `destination` are " +
		"matched as written in every rule: they are not swapped for the replies. Untracked packets reach " + reach + ". " +
		"Changing `direction` updates the rules in place. Defaults to `server`.")
	return b.String()
}

func (r *notrackResource) Metadata(_ context.Context, req resource.MetadataRequest, resp *resource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_notrack_rule"
}

func (r *notrackResource) Schema(_ context.Context, _ resource.SchemaRequest, resp *resource.SchemaResponse) {
	replace := []planmodifier.String{stringplanmodifier.RequiresReplace()}
	resp.Schema = schema.Schema{
		MarkdownDescription: "Marks traffic untracked with a raw-table rule (remedy 3 for `nf_conntrack: table full, dropping packet`): " +
			"packets that match never enter the conntrack table. The rule is applied to the running firewall and persisted in the " +
			"host's rules file. Each iptables rule carries an owner tag (`-m comment --comment \"conntrack-tf:<rule_id> ...\"`), so " +
			"reads and deletes touch only this resource's rules. Before changing live rules the host saves the tables the change touches and " +
			"the rules file and arms a timer of its own; unless a new SSH login confirms a complete change within `rollback_timeout`, the " +
			"host restores both by itself, the apply fails, and the next plan reports the rollback.",
		Attributes: map[string]schema.Attribute{
			"id": schema.StringAttribute{Computed: true, PlanModifiers: []planmodifier.String{stringplanmodifier.UseStateForUnknown()},
				MarkdownDescription: "`host,ip_version,protocol,port,source,destination`: the import ID."},
			"host": schema.StringAttribute{Required: true, Validators: []validator.String{hostValidator}, PlanModifiers: replace,
				MarkdownDescription: "Host name or IP address to connect to over SSH. Changing it replaces the resource."},
			"ssh_port": schema.Int64Attribute{Optional: true, Validators: []validator.Int64{int64validator.Between(1, 65535)},
				MarkdownDescription: "SSH port (named so because `port` is the rule's). Defaults to the provider's `port`."},
			"user": schema.StringAttribute{Optional: true, Validators: []validator.String{userValidator},
				MarkdownDescription: "SSH user. Defaults to the provider's `user`."},
			"protocol": schema.StringAttribute{Required: true, PlanModifiers: replace,
				Validators:          []validator.String{stringvalidator.OneOf(conntrack.NotrackProtocols...)},
				MarkdownDescription: "Protocol to match: " + enumDoc(conntrack.NotrackProtocols) + "."},
			"port": schema.StringAttribute{Optional: true, PlanModifiers: replace, Validators: []validator.String{portValidator{}},
				MarkdownDescription: "Port (`80`) or range (`1000:2000`), only with `tcp` or `udp`: the service's port. `direction` says " +
					"in which chain it is the destination port and in which the source port (by default, `server`: the destination port " +
					"in PREROUTING, traffic to a local service, and the source port in OUTPUT, the service's replies)."},
			"source": schema.StringAttribute{Optional: true, PlanModifiers: replace,
				MarkdownDescription: "Source address or CIDR to match, of `ip_version`."},
			"destination": schema.StringAttribute{Optional: true, PlanModifiers: replace,
				MarkdownDescription: "Destination address or CIDR to match, of `ip_version`."},
			"chains": schema.SetAttribute{Optional: true, Computed: true, ElementType: types.StringType,
				Default: setdefault.StaticValue(types.SetValueMust(types.StringType, []attr.Value{types.StringValue("OUTPUT"), types.StringValue("PREROUTING")})),
				Validators: []validator.Set{setvalidator.SizeAtLeast(1),
					setvalidator.ValueStringsAre(stringvalidator.OneOf(conntrack.NotrackChains...))},
				MarkdownDescription: "Raw-table chains to add the rule to, some of " + enumDoc(conntrack.NotrackChains) + ". Defaults to both: " +
					"PREROUTING for packets arriving (and forwarded), OUTPUT for packets the host sends."},
			"direction": schema.StringAttribute{Optional: true, Computed: true, Default: stringdefault.StaticString(conntrack.DirectionServer),
				Validators:          []validator.String{stringvalidator.OneOf(conntrack.NotrackDirections...)},
				MarkdownDescription: directionDoc(true)},
			"ip_version": schema.Int64Attribute{Optional: true, Computed: true, Default: int64default.StaticInt64(4),
				PlanModifiers:       []planmodifier.Int64{int64planmodifier.RequiresReplace()},
				Validators:          []validator.Int64{int64validator.OneOf(4, 6)},
				MarkdownDescription: "4 (iptables) or 6 (ip6tables). Defaults to `4`."},
			"target": schema.StringAttribute{Optional: true, Computed: true, Default: stringdefault.StaticString("CT"),
				Validators: []validator.String{stringvalidator.OneOf(conntrack.NotrackTargets...)},
				MarkdownDescription: "`CT` for `-j CT --notrack` (the current form) or `NOTRACK` (the legacy target). iptables-nft prints both " +
					"as `-j CT --notrack`; they read back as the same rule. Defaults to `CT`."},
			"comment": schema.StringAttribute{Optional: true, Validators: []validator.String{commentValidator{}},
				MarkdownDescription: "Text added after the owner tag in the rule's comment."},
			"rules_file": schema.StringAttribute{Optional: true, Computed: true, PlanModifiers: replace,
				Validators: []validator.String{rulesFileValidator},
				MarkdownDescription: "Rules file the rule persists in. Defaults by the host's layout: `/etc/sysconfig/iptables` " +
					"(`ip6tables` for IPv6) on RHEL-like hosts, `/etc/iptables/rules.v4` (`rules.v6`) on Debian-like hosts (iptables-persistent). " +
					"The rule goes into the `*raw` table, created when missing; every other table, chain, rule, comment and counter stays byte for byte. " +
					"Must be an absolute path under `/etc`, canonical (no `.` or `..` parts, no doubled or trailing `/`)."},
			"rollback_timeout": schema.Int64Attribute{Optional: true, Computed: true, Default: int64default.StaticInt64(30),
				Validators: []validator.Int64{int64validator.Between(5, 600)},
				MarkdownDescription: "Seconds after which the host restores its previous ruleset unless a new SSH login after the change " +
					"succeeded. Defaults to `30`."},
			"ensure_untracked_accept": schema.BoolAttribute{Optional: true, Computed: true, Default: booldefault.StaticBool(false),
				MarkdownDescription: "Also insert `-m conntrack --ctstate UNTRACKED -j ACCEPT` first in the filter table's INPUT chain (FORWARD with " +
					"`direction = \"forward\"`, where the untracked packets pass). " +
					"Untracked packets match neither NEW nor ESTABLISHED, so a firewall that drops by default and accepts by state drops " +
					"them: the classic trap of this remedy. The plan warns when the host looks like that. Defaults to `false`."},
			"rule_id": schema.StringAttribute{Computed: true, PlanModifiers: []planmodifier.String{stringplanmodifier.UseStateForUnknown()},
				MarkdownDescription: "The owner tag's ID: a hash of what the rule matches."},
			"states": schema.MapAttribute{Computed: true, ElementType: types.StringType,
				MarkdownDescription: "Where the rules of each of `chains` that `direction` puts rules in are on the host: " + notrackStatesDoc + " (the running raw table, " +
					"the rules file). A rule lost on one side shows as a change of its chain here, e.g. `~ \"PREROUTING\" = \"persisted only\" " +
					"-> \"" + notrackInPlace + "\"`; `chains` stays as declared."},
		},
	}
}

func (r *notrackResource) ConfigValidators(context.Context) []resource.ConfigValidator {
	return []resource.ConfigValidator{notrackConfigValidator{}}
}

type notrackConfigValidator struct{}

func (notrackConfigValidator) Description(context.Context) string {
	return "port only with tcp or udp; addresses of ip_version; a direction with a rule in chains"
}
func (v notrackConfigValidator) MarkdownDescription(ctx context.Context) string {
	return v.Description(ctx)
}
func (notrackConfigValidator) ValidateResource(ctx context.Context, req resource.ValidateConfigRequest, resp *resource.ValidateConfigResponse) {
	var m notrackModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	if !m.Port.IsNull() && m.Protocol.ValueString() == "all" {
		resp.Diagnostics.AddAttributeError(path.Root("port"), "port needs a protocol",
			`A port can only be matched with protocol "tcp" or "udp", not "all".`)
	}
	version := int64(4)
	if !m.IPVersion.IsNull() && !m.IPVersion.IsUnknown() {
		version = m.IPVersion.ValueInt64()
	}
	for name, v := range map[string]types.String{"source": m.Source, "destination": m.Destination} {
		if v.IsNull() || v.IsUnknown() {
			continue
		}
		if err := conntrack.ValidateCIDR(v.ValueString(), int(version)); err != nil {
			resp.Diagnostics.AddAttributeError(path.Root(name), "Invalid "+name, err.Error()+".")
		}
	}
	validateDirection(ctx, m.Direction, m.Chains, &resp.Diagnostics)
}

// validateDirection reports, at direction, a direction that puts no rule
// in the declared chains (forward with chains = ["OUTPUT"]).
func validateDirection(ctx context.Context, direction types.String, chains types.Set, diags *diag.Diagnostics) {
	if direction.IsNull() || direction.IsUnknown() || chains.IsNull() || chains.IsUnknown() {
		return
	}
	var list []string
	diags.Append(chains.ElementsAs(ctx, &list, false)...)
	if !slices.Contains(conntrack.NotrackDirections, direction.ValueString()) || len(list) == 0 {
		return // the attribute validators say why
	}
	if err := conntrack.ValidateDirection(direction.ValueString(), list); err != nil {
		diags.AddAttributeError(path.Root("direction"), "direction puts no rule in chains", err.Error()+".")
	}
}

func (r *notrackResource) Configure(_ context.Context, req resource.ConfigureRequest, resp *resource.ConfigureResponse) {
	r.data = providerDataFrom(req.ProviderData, &resp.Diagnostics)
}

// readFirewall is the model's rules file and running rules, from the
// walk's snapshot of the host.
func (r *notrackResource) readFirewall(ctx context.Context, m *notrackModel, diags *diag.Diagnostics) *conntrack.Firewall {
	return readHost(ctx, r.data, m.connection(), m.snapRead(), notrackWording, diags)
}

var notrackWording = wording{dirAttr: path.Root("rules_file"),
	writeHint: "The directory of the rules file does not exist, so nothing on this host loads rules from it at boot. Use conntrack_nft_notrack_rule " +
		"(nftables), or set rules_file to the file the host's firewall loads. Debian's iptables-persistent loads /etc/iptables/rules.v4, " +
		"but it conflicts with ufw: installing it removes ufw."}

// snapRead is the model's read in the host's snapshot: the rules file and
// the running rules of one IP version.
func (m *notrackModel) snapRead() snapRead[conntrack.Firewall] {
	declared, v := m.declaredRulesFile(), int(m.IPVersion.ValueInt64())
	return snapRead[conntrack.Firewall]{obj: converge.ObjFirewall,
		need: conntrack.SnapshotRequest{Firewall: []conntrack.FirewallRead{{RulesFile: declared, IPVersion: v}}},
		deps: append([]string{scopeKernel}, fileScopes(m.rulesFiles()...)...),
		view: func(s *conntrack.Snapshot) (*conntrack.Firewall, error) { return converge.FirewallOf(s, declared, v) }}
}

// rulesFiles are the files the model's rules may be in: the declared one,
// else both layouts' defaults.
func (m *notrackModel) rulesFiles() []string {
	if f := m.declaredRulesFile(); f != "" {
		return []string{f}
	}
	v := int(m.IPVersion.ValueInt64())
	return []string{conntrack.RulesFile("rhel", v), conntrack.RulesFile("debian", v)}
}

func (m *notrackModel) declaredRulesFile() string {
	if m.RulesFile.IsNull() || m.RulesFile.IsUnknown() {
		return ""
	}
	return m.RulesFile.ValueString()
}

// owned is what the model owns on the host.
func (m *notrackModel) owned(ctx context.Context) *conntrack.OwnedRules {
	if m == nil {
		return nil
	}
	return &conntrack.OwnedRules{Rule: m.rule(ctx), AcceptUntracked: m.EnsureUntrackedAccept.ValueBool()}
}

func (r *notrackResource) Read(ctx context.Context, req resource.ReadRequest, resp *resource.ReadResponse) {
	var m notrackModel
	resp.Diagnostics.Append(req.State.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	ctx = tflog.SetField(ctx, "host", m.Host.ValueString())
	fw := r.readFirewall(ctx, &m, &resp.Diagnostics)
	if fw == nil {
		return
	}
	r.data.guardWarnings(&resp.Diagnostics, m.Host.ValueString(), fw.Guard)
	rule := m.rule(ctx)
	p := conntrack.ObserveRule(rule, *fw)
	if m.Direction.IsNull() {
		// An import, or a state written before direction existed: the
		// direction is the one whose rules the host holds (server, what every
		// rule was before, when none's are).
		d := p.Direction
		if d == "" {
			d = conntrack.DirectionServer
		}
		m.Direction = types.StringValue(d)
		rule = m.rule(ctx)
		p = conntrack.ObserveRule(rule, *fw)
	}
	if !p.Any {
		resp.Diagnostics.AddWarning(fmt.Sprintf("NOTRACK rule %s is gone from %s", rule.ID(), m.Host.ValueString()),
			fmt.Sprintf("Neither the running raw table nor %s has it; the plan adds it again.", fw.Rules.Path))
		resp.State.RemoveResource(ctx)
		return
	}
	// chains stays as declared; states says where each chain's rule is, so
	// a rule missing on either side plans a change of its chain.
	states := map[string]attr.Value{}
	for _, chain := range ruleChains(rule) {
		states[chain] = types.StringValue(notrackNeither)
		switch {
		case p.Live[chain] && p.File[chain]:
			states[chain] = types.StringValue(notrackInPlace)
		case p.File[chain]:
			states[chain] = types.StringValue(notrackFileOnly)
			resp.Diagnostics.AddWarning(fmt.Sprintf("NOTRACK rule missing from the running firewall of %s", m.Host.ValueString()),
				fmt.Sprintf("The %s rule %s is in %s but not in the running raw table (deleted by hand, or the firewall was restarted without the file). Apply to add it again.",
					chain, rule.ID(), fw.Rules.Path))
		case p.Live[chain]:
			states[chain] = types.StringValue(notrackLiveOnly)
			resp.Diagnostics.AddWarning(fmt.Sprintf("NOTRACK rule missing from %s on %s", fw.Rules.Path, m.Host.ValueString()),
				fmt.Sprintf("The %s rule %s runs but is not in %s, so it would be gone after a reboot or a firewall restart. Apply to write it again.",
					chain, rule.ID(), fw.Rules.Path))
		default:
			resp.Diagnostics.AddWarning(fmt.Sprintf("NOTRACK rule missing on %s", m.Host.ValueString()),
				fmt.Sprintf("The %s rule %s is neither running nor in %s. Apply to add it again.", chain, rule.ID(), fw.Rules.Path))
		}
	}
	m.States = types.MapValueMust(types.StringType, states)
	if p.Comment != "" {
		m.Comment = types.StringValue(p.Comment)
	}
	m.RulesFile = types.StringValue(fw.Rules.Path)
	m.RuleID = types.StringValue(rule.ID())
	resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
}

func (r *notrackResource) ModifyPlan(ctx context.Context, req resource.ModifyPlanRequest, resp *resource.ModifyPlanResponse) {
	if req.Plan.Raw.IsNull() || r.data == nil {
		return
	}
	var plan notrackModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	if resp.Diagnostics.HasError() || plan.Host.IsUnknown() || plan.Protocol.IsUnknown() || plan.Port.IsUnknown() ||
		plan.Source.IsUnknown() || plan.Destination.IsUnknown() || plan.IPVersion.IsUnknown() {
		return
	}
	rule := plan.rule(ctx)
	plan.RuleID = types.StringValue(rule.ID())
	plan.ID = types.StringValue(importID(plan.Host.ValueString(), rule))
	resp.Diagnostics.Append(resp.Plan.SetAttribute(ctx, path.Root("rule_id"), plan.RuleID)...)
	resp.Diagnostics.Append(resp.Plan.SetAttribute(ctx, path.Root("id"), plan.ID)...)
	if !plan.Chains.IsUnknown() && !plan.Direction.IsUnknown() {
		resp.Diagnostics.Append(resp.Plan.SetAttribute(ctx, path.Root("states"), plan.wantStates(ctx))...)
	}
	if !plan.RulesFile.IsUnknown() && !plan.EnsureUntrackedAccept.IsUnknown() && !req.State.Raw.IsNull() {
		return // an existing rule: Read has just looked at the host
	}
	fw := r.readFirewall(ctx, &plan, &resp.Diagnostics)
	if fw == nil {
		return
	}
	r.data.guardWarnings(&resp.Diagnostics, plan.Host.ValueString(), fw.Guard)
	if fw.Command == "" {
		cmd := conntrack.IptablesCommand(int(plan.IPVersion.ValueInt64()))
		resp.Diagnostics.AddAttributeError(path.Root("host"), fmt.Sprintf("%s has no %s command", plan.Host.ValueString(), cmd),
			"The host has no iptables tools (RHEL 10 and minimal images install only nftables). Use conntrack_nft_notrack_rule, "+
				"which marks the same traffic untracked in an nftables table of its own, or install the iptables tools.")
		return
	}
	if plan.RulesFile.IsUnknown() {
		resp.Diagnostics.Append(resp.Plan.SetAttribute(ctx, path.Root("rules_file"), types.StringValue(fw.Rules.Path))...)
	}
	if chain := conntrack.FilterChain(rule.Direction); !plan.EnsureUntrackedAccept.ValueBool() && conntrack.DropsUntracked(fw.LiveFilter, chain) {
		resp.Diagnostics.AddWarning(fmt.Sprintf("Untracked packets will be dropped on %s", plan.Host.ValueString()),
			fmt.Sprintf("The filter table's %s chain drops or rejects by default and nothing accepts state UNTRACKED, so the packets this rule "+
				"marks untracked match neither NEW nor ESTABLISHED and are dropped. Set ensure_untracked_accept = true, or accept them yourself "+
				"(-m conntrack --ctstate UNTRACKED -j ACCEPT in %s).", chain, chain))
	}
}

func importID(host string, r conntrack.NotrackRule) string {
	return strings.Join([]string{host, strconv.Itoa(r.IPVersion), r.Protocol, r.Port, r.Source, r.Destination}, ",")
}

func (r *notrackResource) Create(ctx context.Context, req resource.CreateRequest, resp *resource.CreateResponse) {
	var plan notrackModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	if resp.Diagnostics.HasError() {
		return
	}
	if r.converge(ctx, &plan, nil, &resp.Diagnostics) {
		resp.Diagnostics.Append(resp.Private.SetKey(ctx, "created", []byte("1"))...)
		resp.Diagnostics.Append(resp.State.Set(ctx, &plan)...)
	}
}

func (r *notrackResource) Update(ctx context.Context, req resource.UpdateRequest, resp *resource.UpdateResponse) {
	var plan, prior notrackModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	resp.Diagnostics.Append(req.State.Get(ctx, &prior)...)
	if resp.Diagnostics.HasError() {
		return
	}
	if r.converge(ctx, &plan, &prior, &resp.Diagnostics) {
		resp.Diagnostics.Append(resp.State.Set(ctx, &plan)...)
	}
}

func (r *notrackResource) Delete(ctx context.Context, req resource.DeleteRequest, resp *resource.DeleteResponse) {
	var prior notrackModel
	resp.Diagnostics.Append(req.State.Get(ctx, &prior)...)
	if resp.Diagnostics.HasError() {
		return
	}
	r.converge(ctx, nil, &prior, &resp.Diagnostics)
}

// converge makes the host hold plan's rules (none when plan is nil) instead
// of prior's: the rules file first, then the live rules under the
// lock-out protection (see converge.Notrack). It reports success.
func (r *notrackResource) converge(ctx context.Context, plan, prior *notrackModel, diags *diag.Diagnostics) bool {
	m := plan
	if m == nil {
		m = prior
	}
	host := m.Host.ValueString()
	ctx = tflog.SetField(ctx, "host", host)
	h := r.data.host(ctx, m.connection(), diags)
	if h == nil {
		return false
	}
	seconds := m.RollbackTimeout.ValueInt64()
	ch := converge.NotrackChange{Plan: plan.owned(ctx), Prior: prior.owned(ctx), RulesFile: m.declaredRulesFile(),
		IPVersion: int(m.IPVersion.ValueInt64()), Rollback: time.Duration(seconds) * time.Second,
		Label: notrackLabel(ctx, plan, prior)}
	// Announced: the host's guarded changes of this walk wait for it to
	// share one confirming login.
	ctx, done := converge.Expect(ctx, h)
	defer done()
	res, err := converge.Notrack(ctx, h, ch, baseRead(ctx, r.data, m.connection(), m.snapRead()))
	r.data.changed(m.connection(), append([]string{scopeKernel}, fileScopes(m.rulesFiles()...)...)...)
	if err != nil {
		hostError(diags, host, err, notrackWording)
		return false
	}
	if plan != nil {
		plan.RulesFile = types.StringValue(res.RulesFile)
		if plan.States.IsUnknown() {
			plan.States = plan.wantStates(ctx)
		}
	}
	for chain, msg := range res.Refused {
		diags.AddError(fmt.Sprintf("iptables refused a rule on %s", host), fmt.Sprintf("The %s change failed: %s", chain, msg))
	}
	if seconds == 0 {
		seconds = 30
	}
	return guardDiagnostics(diags, host, "The firewall change",
		"If untracked packets are dropped by the filter table, set ensure_untracked_accept = true, or accept state UNTRACKED for SSH before adding this rule.", res.Guard, seconds) && len(res.Refused) == 0
}

// notrackLabel names a notrack rule change in the host's rollback record.
func notrackLabel(ctx context.Context, plan, prior *notrackModel) string {
	switch {
	case prior == nil:
		return fmt.Sprintf("adding NOTRACK rule %s (conntrack_notrack_rule)", plan.rule(ctx).ID())
	case plan == nil:
		return fmt.Sprintf("removing NOTRACK rule %s (conntrack_notrack_rule)", prior.rule(ctx).ID())
	}
	return fmt.Sprintf("updating NOTRACK rule %s (conntrack_notrack_rule)", plan.rule(ctx).ID())
}

// ImportState takes host,ip_version,protocol,port,source,destination.
func (r *notrackResource) ImportState(ctx context.Context, req resource.ImportStateRequest, resp *resource.ImportStateResponse) {
	if err := checkNotrackImportID(req.ID); err != nil {
		resp.Diagnostics.AddError("Invalid import ID", fmt.Sprintf("Import conntrack_notrack_rule as host,ip_version,protocol,port,source,destination: %v.", err))
		return
	}
	parts := strings.Split(req.ID, ",")
	if len(parts) != 6 {
		resp.Diagnostics.AddError("Invalid import ID",
			"Import conntrack_notrack_rule as host,ip_version,protocol,port,source,destination with empty fields for what the rule does not match, "+
				"e.g. `10.0.0.11,4,tcp,8080,,`.")
		return
	}
	version, err := strconv.Atoi(parts[1])
	if err != nil || (version != 4 && version != 6) || hostValidatorCheck(parts[0]) != nil || !slices.Contains(conntrack.NotrackProtocols, parts[2]) {
		resp.Diagnostics.AddError("Invalid import ID", fmt.Sprintf("%q: want host,4|6,tcp|udp|all,port,source,destination.", req.ID))
		return
	}
	str := func(s string) types.String {
		if s == "" {
			return types.StringNull()
		}
		return types.StringValue(s)
	}
	m := notrackModel{
		ID: types.StringValue(req.ID), Host: types.StringValue(parts[0]), IPVersion: types.Int64Value(int64(version)),
		Protocol: types.StringValue(parts[2]), Port: str(parts[3]), Source: str(parts[4]), Destination: str(parts[5]),
		Chains:          types.SetValueMust(types.StringType, []attr.Value{types.StringValue("OUTPUT"), types.StringValue("PREROUTING")}),
		Direction:       types.StringNull(), // read from the host's rules
		Target:          types.StringValue("CT"),
		RulesFile:       types.StringNull(),
		RollbackTimeout: types.Int64Value(30), EnsureUntrackedAccept: types.BoolValue(false),
		RuleID: types.StringNull(), Comment: types.StringNull(), SSHPort: types.Int64Null(), User: types.StringNull(),
		States: types.MapNull(types.StringType),
	}
	resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
}
