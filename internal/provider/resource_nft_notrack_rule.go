package provider

import (
	"context"
	"fmt"
	"slices"
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
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/int64default"
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
	_ resource.ResourceWithConfigure        = (*nftNotrackResource)(nil)
	_ resource.ResourceWithImportState      = (*nftNotrackResource)(nil)
	_ resource.ResourceWithModifyPlan       = (*nftNotrackResource)(nil)
	_ resource.ResourceWithConfigValidators = (*nftNotrackResource)(nil)
)

// NewNftNotrackRuleResource is the conntrack_nft_notrack_rule resource.
func NewNftNotrackRuleResource() resource.Resource { return &nftNotrackResource{} }

type nftNotrackResource struct {
	data *providerData
}

type nftNotrackModel struct {
	ID              types.String `tfsdk:"id"`
	Host            types.String `tfsdk:"host"`
	SSHPort         types.Int64  `tfsdk:"ssh_port"`
	User            types.String `tfsdk:"user"`
	Name            types.String `tfsdk:"name"`
	Protocol        types.String `tfsdk:"protocol"`
	Port            types.String `tfsdk:"port"`
	Source          types.String `tfsdk:"source"`
	Destination     types.String `tfsdk:"destination"`
	Chains          types.Set    `tfsdk:"chains"`
	Direction       types.String `tfsdk:"direction"`
	RulesFile       types.String `tfsdk:"rules_file"`
	ConfigFile      types.String `tfsdk:"config_file"`
	RollbackTimeout types.Int64  `tfsdk:"rollback_timeout"`
	Table           types.String `tfsdk:"table"`
	States          types.Map    `tfsdk:"states"`
}

func (m *nftNotrackModel) connection() connectionModel {
	return connectionModel{Host: m.Host, Port: m.SSHPort, User: m.User}
}

func (m *nftNotrackModel) rule(ctx context.Context) conntrack.NftRule {
	var chains []string
	if !m.Chains.IsNull() && !m.Chains.IsUnknown() {
		m.Chains.ElementsAs(ctx, &chains, false)
	}
	slices.Sort(chains)
	return conntrack.NftRule{Name: m.Name.ValueString(), Protocol: m.Protocol.ValueString(), Port: m.Port.ValueString(),
		Source: m.Source.ValueString(), Destination: m.Destination.ValueString(), Chains: chains, Direction: m.Direction.ValueString()}
}

// ruleHooks are the chains r has rules in (forward: prerouting only).
func ruleHooks(r conntrack.NftRule) []string { return r.Hooks() }

func (m *nftNotrackModel) paths() converge.NftPaths {
	known := func(v types.String) string {
		if v.IsNull() || v.IsUnknown() {
			return ""
		}
		return v.ValueString()
	}
	return converge.NftPaths{RulesFile: known(m.RulesFile), ConfigFile: known(m.ConfigFile)}
}

// wantStates is states as an apply leaves it.
func (m *nftNotrackModel) wantStates(ctx context.Context) types.Map {
	elems := map[string]attr.Value{}
	for _, chain := range ruleHooks(m.rule(ctx)) {
		elems[chain] = types.StringValue(notrackInPlace)
	}
	return types.MapValueMust(types.StringType, elems)
}

var nftNameValidator = checkFunc{title: "Invalid name", check: conntrack.ValidateNftName,
	desc: "must be 1 to 32 lower-case letters, digits and _, starting with a letter"}

var nftAddrValidator = checkFunc{title: "Invalid address", check: func(s string) error {
	if err := checkText(s, 64); err != nil {
		return err
	}
	_, err := conntrack.AddrFamily(s)
	return err
}, desc: "must be an IPv4 or IPv6 address or CIDR prefix"}

var nftFileRule = pathRule{dirs: []string{"/etc"}, what: "must be a file under /etc"}

func (r *nftNotrackResource) Metadata(_ context.Context, req resource.MetadataRequest, resp *resource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_nft_notrack_rule"
}

func (r *nftNotrackResource) Schema(_ context.Context, _ resource.SchemaRequest, resp *resource.SchemaResponse) {
	replace := []planmodifier.String{stringplanmodifier.RequiresReplace()}
	resp.Schema = schema.Schema{
		MarkdownDescription: "Marks traffic untracked on nftables (remedy 3 for `nf_conntrack: table full, dropping packet` on hosts " +
			"that run nftables or firewalld): packets that match never enter the conntrack table. The rule is a table of its own, " +
			"`inet " + conntrack.NftTablePrefix + "<name>` (IPv4 and IPv6), with a base chain per hook (`prerouting`, `output`) at the raw " +
			"priority (-300) holding the `notrack` rules of `direction`. No other tool's table is touched: firewalld's `inet firewalld` and a " +
			"distribution's `inet filter` stay as they are, and `firewall-cmd --reload` leaves this table alone. The table is persisted " +
			"in a file of its own that replaces the table whole when loaded, included by the host's nftables configuration (the " +
			"`include` line is added when missing; every other byte stays), so an `nftables` service restart loads it again. It is " +
			"applied with `nft -f` (atomic) under the same lock-out guard as `conntrack_notrack_rule`: the host saves the table and " +
			"the files and restores them by itself unless a new SSH login confirms the change within `rollback_timeout`.",
		Attributes: map[string]schema.Attribute{
			"id": schema.StringAttribute{Computed: true, PlanModifiers: []planmodifier.String{stringplanmodifier.UseStateForUnknown()},
				MarkdownDescription: "`host,name`: the import ID."},
			"host": schema.StringAttribute{Required: true, Validators: []validator.String{hostValidator}, PlanModifiers: replace,
				MarkdownDescription: "Host name or IP address to connect to over SSH. Changing it replaces the resource."},
			"ssh_port": schema.Int64Attribute{Optional: true, Validators: []validator.Int64{int64validator.Between(1, 65535)},
				MarkdownDescription: "SSH port (named so because `port` is the rule's). Defaults to the provider's `port`."},
			"user": schema.StringAttribute{Optional: true, Validators: []validator.String{userValidator},
				MarkdownDescription: "SSH user. Defaults to the provider's `user`."},
			"name": schema.StringAttribute{Required: true, PlanModifiers: replace, Validators: []validator.String{nftNameValidator},
				MarkdownDescription: "Name of the rule, unique per host: it names the table (`inet " + conntrack.NftTablePrefix + "<name>`) " +
					"and the rules file. 1 to 32 lower-case letters, digits and `_`, starting with a letter. Changing it replaces the resource."},
			"protocol": schema.StringAttribute{Required: true,
				Validators:          []validator.String{stringvalidator.OneOf(conntrack.NotrackProtocols...)},
				MarkdownDescription: "Protocol to match: " + enumDoc(conntrack.NotrackProtocols) + "."},
			"port": schema.StringAttribute{Optional: true, Validators: []validator.String{portValidator{}},
				MarkdownDescription: "Port (`80`) or range (`1000:2000`), only with `tcp` or `udp`: the service's port. `direction` says " +
					"at which hook it is the destination port and at which the source port (by default, `server`: the destination port " +
					"in `prerouting`, traffic to a local service, and the source port in `output`, the service's replies)."},
			"source": schema.StringAttribute{Optional: true, Validators: []validator.String{nftAddrValidator},
				MarkdownDescription: "Source address or CIDR to match, IPv4 or IPv6 (of the same family as `destination`)."},
			"destination": schema.StringAttribute{Optional: true, Validators: []validator.String{nftAddrValidator},
				MarkdownDescription: "Destination address or CIDR to match, IPv4 or IPv6 (of the same family as `source`)."},
			"chains": schema.SetAttribute{Optional: true, Computed: true, ElementType: types.StringType,
				Default: setdefault.StaticValue(types.SetValueMust(types.StringType, []attr.Value{types.StringValue("output"), types.StringValue("prerouting")})),
				Validators: []validator.Set{setvalidator.SizeAtLeast(1),
					setvalidator.ValueStringsAre(stringvalidator.OneOf(conntrack.NftChains...))},
				MarkdownDescription: "Hooks to add the rule at, some of " + enumDoc(conntrack.NftChains) + ". Defaults to both: " +
					"`prerouting` for packets arriving (and forwarded), `output` for packets the host sends."},
			"direction": schema.StringAttribute{Optional: true, Computed: true, Default: stringdefault.StaticString(conntrack.DirectionServer),
				Validators:          []validator.String{stringvalidator.OneOf(conntrack.NotrackDirections...)},
				MarkdownDescription: directionDoc(false) + " A direction other than `server` is named at the end of the rules' comment."},
			"rules_file": schema.StringAttribute{Optional: true, Computed: true, PlanModifiers: replace,
				Validators: []validator.String{pathValidator(nftFileRule)},
				MarkdownDescription: "File the table persists in. Defaults by the host's layout: `/etc/nftables.d/conntrack-tf-<name>.nft` " +
					"on Debian-like hosts (the directory is made when missing), `/etc/nftables/conntrack-tf-<name>.nft` on RHEL-like hosts. " +
					"The provider owns the whole file; destroy removes it only if it is still the file this rule wrote (its header names the rule), " +
					"and otherwise leaves it in place with a warning. " + nftFileRule.what + ", canonical."},
			"config_file": schema.StringAttribute{Optional: true, Computed: true, PlanModifiers: replace,
				Validators: []validator.String{pathValidator(nftFileRule)},
				MarkdownDescription: "The nftables configuration that includes `rules_file`: `/etc/nftables.conf` on Debian-like hosts, " +
					"`/etc/sysconfig/nftables.conf` on RHEL-like hosts (what their `nftables` service loads). The `include` line is added " +
					"at its end when missing and removed on destroy; every other byte stays. " + nftFileRule.what + ", canonical."},
			"rollback_timeout": schema.Int64Attribute{Optional: true, Computed: true, Default: int64default.StaticInt64(30),
				Validators: []validator.Int64{int64validator.Between(5, 600)},
				MarkdownDescription: "Seconds after which the host restores its previous table and files unless a new SSH login after " +
					"the change succeeded. Defaults to `30`."},
			"table": schema.StringAttribute{Computed: true, PlanModifiers: []planmodifier.String{stringplanmodifier.UseStateForUnknown()},
				MarkdownDescription: "The rule's table as nft names it: `inet " + conntrack.NftTablePrefix + "<name>`."},
			"states": schema.MapAttribute{Computed: true, ElementType: types.StringType,
				MarkdownDescription: "Where the rules of each of `chains` that `direction` puts rules in are on the host: " + notrackStatesDoc + " (the running table, " +
					"the rules file with its include line). A rule lost or changed on one side shows as a change of its chain here, e.g. " +
					"`~ \"prerouting\" = \"persisted only\" -> \"" + notrackInPlace + "\"`; `chains` stays as declared."},
		},
	}
}

func (r *nftNotrackResource) ConfigValidators(context.Context) []resource.ConfigValidator {
	return []resource.ConfigValidator{nftConfigValidator{}}
}

type nftConfigValidator struct{}

func (nftConfigValidator) Description(context.Context) string {
	return "port only with tcp or udp; source and destination of one family; a direction with a rule in chains"
}
func (v nftConfigValidator) MarkdownDescription(ctx context.Context) string {
	return v.Description(ctx)
}
func (nftConfigValidator) ValidateResource(ctx context.Context, req resource.ValidateConfigRequest, resp *resource.ValidateConfigResponse) {
	var m nftNotrackModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	if !m.Port.IsNull() && m.Protocol.ValueString() == "all" {
		resp.Diagnostics.AddAttributeError(path.Root("port"), "port needs a protocol",
			`A port can only be matched with protocol "tcp" or "udp", not "all".`)
	}
	validateDirection(ctx, m.Direction, m.Chains, &resp.Diagnostics)
	if m.Source.IsNull() || m.Source.IsUnknown() || m.Destination.IsNull() || m.Destination.IsUnknown() {
		return
	}
	s, errS := conntrack.AddrFamily(m.Source.ValueString())
	d, errD := conntrack.AddrFamily(m.Destination.ValueString())
	if errS == nil && errD == nil && s != d {
		resp.Diagnostics.AddAttributeError(path.Root("destination"), "Source and destination of different families",
			fmt.Sprintf("source is IPv%d and destination IPv%d: one rule matches one family (use two resources for both).", s, d))
	}
}

func (r *nftNotrackResource) Configure(_ context.Context, req resource.ConfigureRequest, resp *resource.ConfigureResponse) {
	r.data = providerDataFrom(req.ProviderData, &resp.Diagnostics)
}

var nftWording = wording{dirAttr: path.Root("rules_file")}

// snapRead is the model's read in the host's snapshot: the ruleset and
// the rule's files.
func (m *nftNotrackModel) snapRead() snapRead[conntrack.NftHost] {
	name, p := m.Name.ValueString(), m.paths()
	req := converge.NftRequest(name, p)
	return snapRead[conntrack.NftHost]{obj: converge.ObjNft, need: req,
		deps: append([]string{scopeKernel}, fileScopes(req.Files...)...),
		view: func(s *conntrack.Snapshot) (*conntrack.NftHost, error) { return converge.NftOf(s, name, p) }}
}

func (r *nftNotrackResource) read(ctx context.Context, m *nftNotrackModel, diags *diag.Diagnostics) *conntrack.NftHost {
	return readHost(ctx, r.data, m.connection(), m.snapRead(), nftWording, diags)
}

func (r *nftNotrackResource) Read(ctx context.Context, req resource.ReadRequest, resp *resource.ReadResponse) {
	var m nftNotrackModel
	resp.Diagnostics.Append(req.State.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	host := m.Host.ValueString()
	ctx = tflog.SetField(ctx, "host", host)
	h := r.read(ctx, &m, &resp.Diagnostics)
	if h == nil {
		return
	}
	r.data.guardWarnings(&resp.Diagnostics, host, h.Guard)
	if h.ListError != "" {
		resp.Diagnostics.AddError(fmt.Sprintf("Cannot list the nftables ruleset of %s", host), h.ListError)
		return
	}
	if m.Protocol.IsNull() {
		// An import: what the rule matches comes from the host.
		got, ok := conntrack.ImportedNftRule(m.Name.ValueString(), *h)
		if !ok {
			resp.Diagnostics.AddError(fmt.Sprintf("No NOTRACK table %q on %s", m.Name.ValueString(), host),
				fmt.Sprintf("Neither the running ruleset nor %s holds a table inet %s%s of this provider.", h.Rules.Path, conntrack.NftTablePrefix, m.Name.ValueString()))
			return
		}
		str := func(s string) types.String {
			if s == "" {
				return types.StringNull()
			}
			return types.StringValue(s)
		}
		m.Protocol, m.Port, m.Source, m.Destination = types.StringValue(got.Protocol), str(got.Port), str(got.Source), str(got.Destination)
		var chains []attr.Value
		for _, c := range got.Chains {
			chains = append(chains, types.StringValue(c))
		}
		m.Chains = types.SetValueMust(types.StringType, chains)
		m.Direction = types.StringValue(got.Direction)
	}
	if m.Direction.IsNull() {
		// A state written before direction existed: the direction the
		// host's table names, else server (what every rule was then).
		m.Direction = types.StringValue(conntrack.DirectionServer)
		if got, ok := conntrack.ImportedNftRule(m.Name.ValueString(), *h); ok {
			m.Direction = types.StringValue(got.Direction)
		}
	}
	rule := m.rule(ctx)
	o := conntrack.ObserveNft(rule, *h)
	if !o.TableLive && !h.Rules.Exists {
		resp.Diagnostics.AddWarning(fmt.Sprintf("NOTRACK table %s is gone from %s", rule.FamilyTable(), host),
			fmt.Sprintf("Neither the running ruleset nor %s has it; the plan adds it again.", h.Rules.Path))
		resp.State.RemoveResource(ctx)
		return
	}
	persisted := o.File && o.Included
	states := map[string]attr.Value{}
	for _, chain := range ruleHooks(rule) {
		states[chain] = types.StringValue(notrackNeither)
		switch {
		case o.Live[chain] && persisted:
			states[chain] = types.StringValue(notrackInPlace)
		case persisted:
			states[chain] = types.StringValue(notrackFileOnly)
			resp.Diagnostics.AddWarning(fmt.Sprintf("NOTRACK rule missing from the running nftables ruleset of %s", host),
				fmt.Sprintf("The %s rule of table %s is not running as declared (deleted or edited by hand, or the ruleset was flushed). Apply to load it again.",
					chain, rule.FamilyTable()))
		case o.Live[chain]:
			states[chain] = types.StringValue(notrackLiveOnly)
			resp.Diagnostics.AddWarning(fmt.Sprintf("NOTRACK rule not persisted on %s", host),
				fmt.Sprintf("The %s rule of table %s runs, but %s does not hold it as written or %s does not include it, so it would be gone after a reboot or an nftables restart. Apply to write it again.",
					chain, rule.FamilyTable(), h.Rules.Path, h.Config.Path))
		default:
			resp.Diagnostics.AddWarning(fmt.Sprintf("NOTRACK rule missing on %s", host),
				fmt.Sprintf("The %s rule of table %s is neither running nor persisted as declared. Apply to add it again.", chain, rule.FamilyTable()))
		}
	}
	m.States = types.MapValueMust(types.StringType, states)
	m.RulesFile, m.ConfigFile = types.StringValue(h.Rules.Path), types.StringValue(h.Config.Path)
	m.Table = types.StringValue(rule.FamilyTable())
	m.ID = types.StringValue(host + "," + rule.Name)
	resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
}

func (r *nftNotrackResource) ModifyPlan(ctx context.Context, req resource.ModifyPlanRequest, resp *resource.ModifyPlanResponse) {
	if req.Plan.Raw.IsNull() || r.data == nil {
		return
	}
	var plan nftNotrackModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	if resp.Diagnostics.HasError() || plan.Host.IsUnknown() || plan.Name.IsUnknown() {
		return
	}
	rule := plan.rule(ctx)
	resp.Diagnostics.Append(resp.Plan.SetAttribute(ctx, path.Root("id"), types.StringValue(plan.Host.ValueString()+","+rule.Name))...)
	resp.Diagnostics.Append(resp.Plan.SetAttribute(ctx, path.Root("table"), types.StringValue(rule.FamilyTable()))...)
	if !plan.Chains.IsUnknown() && !plan.Direction.IsUnknown() {
		resp.Diagnostics.Append(resp.Plan.SetAttribute(ctx, path.Root("states"), plan.wantStates(ctx))...)
	}
	if !req.State.Raw.IsNull() && !plan.RulesFile.IsUnknown() && !plan.ConfigFile.IsUnknown() {
		return // an existing rule: Read has just looked at the host
	}
	host := plan.Host.ValueString()
	h := r.read(ctx, &plan, &resp.Diagnostics)
	if h == nil {
		return
	}
	r.data.guardWarnings(&resp.Diagnostics, host, h.Guard)
	if h.Nft == "" {
		resp.Diagnostics.AddError(fmt.Sprintf("nft is not installed on %s", host),
			"conntrack_nft_notrack_rule loads its table with nft: install the nftables package, or use conntrack_notrack_rule on an iptables host.")
		return
	}
	if plan.RulesFile.IsUnknown() {
		resp.Diagnostics.Append(resp.Plan.SetAttribute(ctx, path.Root("rules_file"), types.StringValue(h.Rules.Path))...)
	}
	if plan.ConfigFile.IsUnknown() {
		resp.Diagnostics.Append(resp.Plan.SetAttribute(ctx, path.Root("config_file"), types.StringValue(h.Config.Path))...)
	}
	if drops := conntrack.DropsUntrackedNft(h.Ruleset, conntrack.NftFilterHook(rule.Direction)); len(drops) > 0 {
		resp.Diagnostics.AddWarning(fmt.Sprintf("Untracked packets will be dropped on %s", host),
			fmt.Sprintf("The filter chain %s accepts by connection state (ct state established,related) and drops or rejects the rest, "+
				"and nothing in its table accepts ct state untracked: the packets this rule marks untracked match neither new nor "+
				"established there and are dropped. Accept them before the drop (ct state untracked accept), or add untracked to the "+
				"state the chain accepts.", strings.Join(drops, ", ")))
	}
}

func (r *nftNotrackResource) Create(ctx context.Context, req resource.CreateRequest, resp *resource.CreateResponse) {
	var plan nftNotrackModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	if resp.Diagnostics.HasError() {
		return
	}
	if r.converge(ctx, &plan, nil, &resp.Diagnostics) {
		resp.Diagnostics.Append(resp.State.Set(ctx, &plan)...)
	}
}

func (r *nftNotrackResource) Update(ctx context.Context, req resource.UpdateRequest, resp *resource.UpdateResponse) {
	var plan, prior nftNotrackModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	resp.Diagnostics.Append(req.State.Get(ctx, &prior)...)
	if resp.Diagnostics.HasError() {
		return
	}
	if r.converge(ctx, &plan, &prior, &resp.Diagnostics) {
		resp.Diagnostics.Append(resp.State.Set(ctx, &plan)...)
	}
}

func (r *nftNotrackResource) Delete(ctx context.Context, req resource.DeleteRequest, resp *resource.DeleteResponse) {
	var prior nftNotrackModel
	resp.Diagnostics.Append(req.State.Get(ctx, &prior)...)
	if resp.Diagnostics.HasError() {
		return
	}
	r.converge(ctx, nil, &prior, &resp.Diagnostics)
}

// converge makes the host hold plan's table and files (none when plan is
// nil) instead of prior's, under the lock-out guard (converge.Nft).
func (r *nftNotrackResource) converge(ctx context.Context, plan, prior *nftNotrackModel, diags *diag.Diagnostics) bool {
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
	own := func(x *nftNotrackModel) *conntrack.NftRule {
		if x == nil {
			return nil
		}
		rule := x.rule(ctx)
		return &rule
	}
	seconds := m.RollbackTimeout.ValueInt64()
	if seconds == 0 {
		seconds = 30
	}
	ch := converge.NftChange{Plan: own(plan), Prior: own(prior), Name: m.Name.ValueString(), Paths: m.paths(),
		Rollback: time.Duration(seconds) * time.Second, Label: nftLabel(ctx, plan, prior)}
	snap := m.snapRead()
	// Announced, as the other guarded changes are: the host's guarded
	// changes of this walk wait for it to share one confirming login.
	ctx, done := converge.Expect(ctx, h)
	defer done()
	res, err := converge.Nft(ctx, h, ch, baseRead(ctx, r.data, m.connection(), snap))
	r.data.changed(m.connection(), snap.deps...)
	if err != nil {
		hostError(diags, host, err, nftWording)
		return false
	}
	if plan != nil {
		plan.RulesFile, plan.ConfigFile = types.StringValue(res.RulesFile), types.StringValue(res.ConfigFile)
		plan.Table = types.StringValue(plan.rule(ctx).FamilyTable())
		plan.ID = types.StringValue(host + "," + plan.Name.ValueString())
		if plan.States.IsUnknown() {
			plan.States = plan.wantStates(ctx)
		}
	}
	if res.Refused != "" {
		diags.AddError(fmt.Sprintf("nft refused the NOTRACK table on %s", host), "nft -f said: "+res.Refused)
	}
	if res.Kept != "" {
		diags.AddWarning(fmt.Sprintf("Kept %s on %s", res.Kept, host),
			fmt.Sprintf("The table and the include line of conntrack_nft_notrack_rule %q were removed, but %s is not the rules file it wrote (its second line does not name the rule), so it was left as it is. Remove it yourself if it is no longer needed.", m.Name.ValueString(), res.Kept))
	}
	return guardDiagnostics(diags, host, "The nftables change",
		"If untracked packets are dropped by a filter chain, accept ct state untracked for SSH before adding this rule.", res.Guard, seconds) && res.Refused == ""
}

// nftLabel names a change in the host's rollback record.
func nftLabel(ctx context.Context, plan, prior *nftNotrackModel) string {
	switch {
	case prior == nil:
		return fmt.Sprintf("adding nftables NOTRACK table %s (conntrack_nft_notrack_rule)", plan.rule(ctx).FamilyTable())
	case plan == nil:
		return fmt.Sprintf("removing nftables NOTRACK table %s (conntrack_nft_notrack_rule)", prior.rule(ctx).FamilyTable())
	}
	return fmt.Sprintf("updating nftables NOTRACK table %s (conntrack_nft_notrack_rule)", plan.rule(ctx).FamilyTable())
}

// ImportState takes host,name; what the rule matches is read from the host.
func (r *nftNotrackResource) ImportState(ctx context.Context, req resource.ImportStateRequest, resp *resource.ImportStateResponse) {
	host, name, ok := strings.Cut(req.ID, ",")
	if !ok || checkHost(host) != nil || conntrack.ValidateNftName(name) != nil {
		resp.Diagnostics.AddError("Invalid import ID",
			fmt.Sprintf("Import conntrack_nft_notrack_rule as host,name (e.g. `10.0.0.11,web`), not %s.", quoted(req.ID)))
		return
	}
	m := nftNotrackModel{
		ID: types.StringValue(req.ID), Host: types.StringValue(host), Name: types.StringValue(name),
		SSHPort: types.Int64Null(), User: types.StringNull(),
		Protocol: types.StringNull(), Port: types.StringNull(), Source: types.StringNull(), Destination: types.StringNull(),
		Chains: types.SetNull(types.StringType), Direction: types.StringNull(), RulesFile: types.StringNull(), ConfigFile: types.StringNull(),
		RollbackTimeout: types.Int64Value(30), Table: types.StringNull(), States: types.MapNull(types.StringType),
	}
	resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
}
