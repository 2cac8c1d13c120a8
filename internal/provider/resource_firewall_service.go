package provider

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/hashicorp/terraform-plugin-framework-validators/setvalidator"
	"github.com/hashicorp/terraform-plugin-framework-validators/stringvalidator"
	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/boolplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/setdefault"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/hashicorp/terraform-plugin-log/tflog"

	"github.com/conntrack-ops/terraform-provider-conntrack/internal/conntrack"
	"github.com/conntrack-ops/terraform-provider-conntrack/internal/converge"
)

var (
	_ resource.ResourceWithConfigure   = (*firewallServiceResource)(nil)
	_ resource.ResourceWithImportState = (*firewallServiceResource)(nil)
	_ resource.ResourceWithModifyPlan  = (*firewallServiceResource)(nil)
)

var defaultFirewallServices = []string{"iptables", "ip6tables"}

// NewFirewallServiceResource is the conntrack_firewall_service resource.
func NewFirewallServiceResource() resource.Resource { return &firewallServiceResource{} }

type firewallServiceResource struct {
	data *providerData
}

type firewallServiceModel struct {
	connectionModel
	ID         types.String `tfsdk:"id"`
	Services   types.Set    `tfsdk:"services"`
	Enabled    types.Bool   `tfsdk:"enabled"`
	Running    types.Bool   `tfsdk:"running"`
	InitSystem types.String `tfsdk:"init_system"`
	States     types.Map    `tfsdk:"states"`
}

var serviceStateType = types.ObjectType{AttrTypes: map[string]attr.Type{
	"installed": types.BoolType, "enabled": types.BoolType, "running": types.BoolType,
}}

func (m *firewallServiceModel) services(ctx context.Context) []string {
	if m.Services.IsNull() || m.Services.IsUnknown() {
		return slices.Clone(defaultFirewallServices)
	}
	var s []string
	m.Services.ElementsAs(ctx, &s, false)
	slices.Sort(s)
	return s
}

// initSystem is the declared init system, else the one the host runs.
func (m *firewallServiceModel) initSystem(h *conntrack.ServiceHost) string {
	return converge.InitSystemOf(m.declaredInit(), h)
}

func (m *firewallServiceModel) declaredInit() string {
	if m.InitSystem.IsNull() || m.InitSystem.IsUnknown() {
		return ""
	}
	return m.InitSystem.ValueString()
}

func (r *firewallServiceResource) Metadata(_ context.Context, req resource.MetadataRequest, resp *resource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_firewall_service"
}

func (r *firewallServiceResource) Schema(_ context.Context, _ resource.SchemaRequest, resp *resource.SchemaResponse) {
	attrs := connectionResourceAttributes()
	unmanaged := " Unset means unmanaged: nothing changes, and the state shows what the host has (null when the services differ)."
	for name, a := range map[string]schema.Attribute{
		"id": schema.StringAttribute{Computed: true, MarkdownDescription: "The host: the import ID.",
			PlanModifiers: []planmodifier.String{stringplanmodifier.UseStateForUnknown()}},
		"services": schema.SetAttribute{Optional: true, Computed: true, ElementType: types.StringType,
			Default: setdefault.StaticValue(stringSet(defaultFirewallServices)),
			Validators: []validator.Set{setvalidator.SizeAtLeast(1),
				setvalidator.ValueStringsAre(stringvalidator.OneOf(conntrack.FirewallServices...))},
			MarkdownDescription: "The firewall services, any of " + enumDoc(conntrack.FirewallServices) +
				". Defaults to `iptables` and `ip6tables`. A service removed from the set is left as it is."},
		"enabled": schema.BoolAttribute{Optional: true, Computed: true,
			PlanModifiers: []planmodifier.Bool{boolplanmodifier.UseStateForUnknown()},
			MarkdownDescription: "Whether the services start at boot (`systemctl enable`/`disable`; on SysV `chkconfig on`/`off` or " +
				"`update-rc.d enable`/`disable`). Reads `true` only when every listed service is enabled, `false` when none is." + unmanaged},
		"running": schema.BoolAttribute{Optional: true, Computed: true,
			PlanModifiers: []planmodifier.Bool{boolplanmodifier.UseStateForUnknown()},
			MarkdownDescription: "Whether the services run now (`systemctl start`/`stop`, on SysV `service NAME start`/`stop`). Stopping " +
				"iptables-services flushes every table and, unless `IPTABLES_MODULES_UNLOAD=\"no\"` (see `conntrack_iptables_config`), " +
				"unloads the netfilter modules, conntrack included: remedy 1. Reads `true` only when every listed service runs, `false` when " +
				"none does." + unmanaged + " A start is guarded (the started firewall loads persisted rules that can cut SSH): unless a new SSH login confirms it within 30 seconds, the host stops the service again (and disables it, if this apply enabled it) and restores the tables it replaced."},
		"init_system": schema.StringAttribute{Optional: true, Computed: true,
			Validators:    []validator.String{stringvalidator.OneOf(conntrack.InitSystems...)},
			PlanModifiers: []planmodifier.String{stringplanmodifier.UseStateForUnknown()},
			MarkdownDescription: "How the services are managed: " + enumDoc(conntrack.InitSystems) + ". Detected when unset: `systemd` " +
				"when it is PID 1 (`/run/systemd/system` exists), else `sysv`, with `chkconfig` (RHEL) or `update-rc.d` (Debian) for boot links."},
		"states": schema.MapNestedAttribute{Computed: true,
			NestedObject: schema.NestedAttributeObject{Attributes: map[string]schema.Attribute{
				"installed": schema.BoolAttribute{Computed: true, MarkdownDescription: "The init system knows the service."},
				"enabled":   schema.BoolAttribute{Computed: true, MarkdownDescription: "It starts at boot."},
				"running":   schema.BoolAttribute{Computed: true, MarkdownDescription: "It runs now."},
			}},
			MarkdownDescription: "Each listed service as the init system reports it."},
	} {
		attrs[name] = a
	}
	resp.Schema = schema.Schema{
		MarkdownDescription: "Stops and disables (or starts and enables) the firewall services: remedy 1, \"stop the firewall so nothing " +
			"is tracked\". Reads the state from the init system and the file system only, never from the iptables CLI: on a host whose " +
			"firewall is stopped, `iptables -nL` (and so `service iptables status`) loads the netfilter modules and starts tracking again. " +
			"Destroy changes nothing on the host.",
		Attributes: attrs,
	}
}

func (r *firewallServiceResource) Configure(_ context.Context, req resource.ConfigureRequest, resp *resource.ConfigureResponse) {
	r.data = providerDataFrom(req.ProviderData, &resp.Diagnostics)
}

// readServices is the services' state, from the walk's snapshot of the
// host.
func (r *firewallServiceResource) readServices(ctx context.Context, m *firewallServiceModel, diags *diag.Diagnostics) *conntrack.ServiceHost {
	return readHost(ctx, r.data, m.connectionModel, m.snapRead(ctx), wording{}, diags)
}

// snapRead is the model's read in the host's snapshot (every snapshot
// reads the firewall services); it counts the rules in the default rules
// files.
func (m *firewallServiceModel) snapRead(ctx context.Context) snapRead[conntrack.ServiceHost] {
	services := m.services(ctx)
	deps := []string{scopeKernel}
	for _, v := range []int{4, 6} {
		deps = append(deps, fileScopes(conntrack.RulesFile("rhel", v), conntrack.RulesFile("debian", v))...)
	}
	return snapRead[conntrack.ServiceHost]{obj: converge.ObjServices, deps: deps,
		view: func(s *conntrack.Snapshot) (*conntrack.ServiceHost, error) { return converge.ServicesOf(s, services) }}
}

// observe sets the state from a read: per service, and aggregated (see
// aggregate) against the declared values.
func (m *firewallServiceModel) observe(ctx context.Context, h *conntrack.ServiceHost, declared serviceDeclared) {
	init := m.initSystem(h)
	m.setStates(ctx, h.States(init), declared)
	m.Services = stringSet(m.services(ctx))
	m.InitSystem = types.StringValue(init)
	m.ID = m.Host
}

// setStates sets states and the aggregates enabled and running from each
// listed service's state.
func (m *firewallServiceModel) setStates(ctx context.Context, states map[string]conntrack.ServiceState, declared serviceDeclared) {
	elems := map[string]attr.Value{}
	var enabled, running []bool
	for _, svc := range m.services(ctx) {
		st := states[svc]
		elems[svc] = types.ObjectValueMust(serviceStateType.AttrTypes, map[string]attr.Value{
			"installed": types.BoolValue(st.Installed), "enabled": types.BoolValue(st.Enabled), "running": types.BoolValue(st.Running),
		})
		enabled, running = append(enabled, st.Enabled), append(running, st.Running)
	}
	m.States = types.MapValueMust(serviceStateType, elems)
	m.Enabled, m.Running = aggregate(enabled, declared.Enabled), aggregate(running, declared.Running)
}

// statesOf is the per-service state the model's states map holds.
func (m *firewallServiceModel) statesOf() map[string]conntrack.ServiceState {
	out := map[string]conntrack.ServiceState{}
	if m.States.IsNull() || m.States.IsUnknown() {
		return out
	}
	for svc, v := range m.States.Elements() {
		o, ok := v.(types.Object)
		if !ok || o.IsNull() || o.IsUnknown() {
			continue
		}
		a := o.Attributes()
		get := func(name string) (bool, bool) {
			b, ok := a[name].(types.Bool)
			return b.ValueBool(), ok && !b.IsNull() && !b.IsUnknown()
		}
		installed, ok1 := get("installed")
		enabled, ok2 := get("enabled")
		running, ok3 := get("running")
		if ok1 && ok2 && ok3 {
			out[svc] = conntrack.ServiceState{Installed: installed, Enabled: enabled, Running: running}
		}
	}
	return out
}

// serviceDeclared is what the configuration last applied declared (nil:
// unmanaged), kept in private state so that Read can say a declared value
// drifted even when only some services moved.
type serviceDeclared struct {
	Enabled *bool `json:"enabled,omitempty"`
	Running *bool `json:"running,omitempty"`
}

// privateServiceDeclared is the private-state key of serviceDeclared.
const privateServiceDeclared = "declared"

func loadServiceDeclared(ctx context.Context, p privateState, diags *diag.Diagnostics) serviceDeclared {
	var d serviceDeclared
	b, dd := p.GetKey(ctx, privateServiceDeclared)
	diags.Append(dd...)
	if len(b) > 0 {
		_ = json.Unmarshal(b, &d)
	}
	return d
}

// aggregate is one boolean for several services. A declared value reads as
// itself when every service has it, else as its opposite, so that the plan
// shows `~ running = true -> false` when one service of two was started. An
// unmanaged one reads true (all), false (none) or null (mixed).
func aggregate(values []bool, declared *bool) types.Bool {
	switch {
	case declared != nil && !slices.Contains(values, !*declared):
		return types.BoolValue(*declared)
	case declared != nil:
		return types.BoolValue(!*declared)
	case !slices.Contains(values, false):
		return types.BoolValue(true)
	case !slices.Contains(values, true):
		return types.BoolValue(false)
	}
	return types.BoolNull()
}

func (r *firewallServiceResource) Read(ctx context.Context, req resource.ReadRequest, resp *resource.ReadResponse) {
	var m firewallServiceModel
	resp.Diagnostics.Append(req.State.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	h := r.readServices(ctx, &m, &resp.Diagnostics)
	if h == nil {
		return
	}
	r.data.guardWarnings(&resp.Diagnostics, m.Host.ValueString(), h.Guard)
	prior := m
	m.observe(ctx, h, loadServiceDeclared(ctx, req.Private, &resp.Diagnostics))
	for _, a := range []struct {
		name        string
		prior, read types.Bool
	}{{"enabled", prior.Enabled, m.Enabled}, {"running", prior.Running, m.Running}} {
		if !a.prior.IsNull() && !a.read.Equal(a.prior) {
			resp.Diagnostics.AddWarning(fmt.Sprintf("The firewall services of %s drifted", m.Host.ValueString()),
				fmt.Sprintf("%s was %s, the host now has %s. Apply to converge.", a.name, a.prior, describeStates(&m, a.name)))
		}
	}
	resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
}

// describeStates says, per service, whether it is enabled (or running).
func describeStates(m *firewallServiceModel, property string) string {
	var parts []string
	for svc, v := range m.States.Elements() {
		b, _ := v.(types.Object).Attributes()[property].(types.Bool)
		word := property
		if !b.ValueBool() {
			word = "not " + property
		}
		parts = append(parts, svc+" "+word)
	}
	slices.Sort(parts)
	return strings.Join(parts, ", ")
}

func (r *firewallServiceResource) ModifyPlan(ctx context.Context, req resource.ModifyPlanRequest, resp *resource.ModifyPlanResponse) {
	if req.Plan.Raw.IsNull() || r.data == nil {
		return
	}
	var plan, config firewallServiceModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	resp.Diagnostics.Append(req.Config.Get(ctx, &config)...)
	if resp.Diagnostics.HasError() || plan.Host.IsUnknown() || plan.Port.IsUnknown() || plan.Services.IsUnknown() || config.InitSystem.IsUnknown() {
		return
	}
	var prior firewallServiceModel
	if !req.State.Raw.IsNull() {
		resp.Diagnostics.Append(req.State.Get(ctx, &prior)...)
	}
	h := r.readServices(ctx, &plan, &resp.Diagnostics)
	if h == nil {
		return
	}
	r.data.guardWarnings(&resp.Diagnostics, plan.Host.ValueString(), h.Guard)
	host := plan.Host.ValueString()
	init := plan.initSystem(h)
	switch {
	case init == conntrack.InitSystemd && !h.Systemd:
		resp.Diagnostics.AddAttributeError(path.Root("init_system"), fmt.Sprintf("%s does not run systemd", host),
			"/run/systemd/system does not exist, so systemctl cannot manage its services. Remove init_system to use the SysV scripts.")
		return
	case init == conntrack.InitSysV && h.SysVTool == "" && !config.Enabled.IsNull():
		resp.Diagnostics.AddAttributeError(path.Root("enabled"), fmt.Sprintf("%s has neither chkconfig nor update-rc.d", host),
			"A SysV service is enabled at boot with one of them. Remove enabled to manage only whether the services run.")
		return
	}
	if plan.InitSystem.IsUnknown() {
		resp.Diagnostics.Append(resp.Plan.SetAttribute(ctx, path.Root("init_system"), init)...)
	}
	resp.Diagnostics.Append(resp.Plan.SetAttribute(ctx, path.Root("id"), plan.Host)...)
	states := h.States(init)
	if !resp.Diagnostics.HasError() {
		r.planStates(ctx, &plan, &prior, &config, init, states, resp)
	}
	for _, svc := range plan.services(ctx) {
		st := states[svc]
		if !st.Installed && (config.Enabled.ValueBool() || config.Running.ValueBool()) {
			resp.Diagnostics.AddAttributeError(path.Root("services"), fmt.Sprintf("%s is not installed on %s", svc, host),
				fmt.Sprintf("The %s init system knows no %s service, so it cannot be enabled or started. Install it, or remove it from services.", init, svc))
		}
		if svc == "nftables" && st.Running && !config.Running.IsNull() && !config.Running.ValueBool() {
			resp.Diagnostics.AddAttributeWarning(path.Root("running"), fmt.Sprintf("Stopping nftables on %s flushes the whole ruleset", host),
				"The nftables service stops with `nft flush ruleset`: every table goes, those other tools added too (Docker, Kubernetes, "+
					"fail2ban), not only the ones of /etc/nftables.conf. Those tools may need a restart to add theirs again.")
		}
		if n := h.FlushedRules(svc); n > 0 && st.Running && !config.Running.IsNull() && !config.Running.ValueBool() {
			resp.Diagnostics.AddAttributeWarning(path.Root("running"), fmt.Sprintf("Stopping %s on %s flushes NOTRACK rules", svc, host),
				fmt.Sprintf("The rules files hold %d rule(s) of conntrack_notrack_rule; stopping %s removes them from the kernel (they stay in "+
					"the files and come back when it starts). While it is stopped those resources show drift: with the firewall stopped, "+
					"declare either the service or the rules, not both.", n, svc))
		}
	}
}

// planStates plans states as the apply will leave them: each service as
// the last refresh saw it (the plan's read for a service new to the list or
// another init system), with the declared values; enabled and running
// follow, where unmanaged and not already planned from the state. So only
// what the apply changes shows in the plan, never "known after apply".
func (r *firewallServiceResource) planStates(ctx context.Context, plan, prior, config *firewallServiceModel, init string,
	read map[string]conntrack.ServiceState, resp *resource.ModifyPlanResponse) {
	if config.Enabled.IsUnknown() || config.Running.IsUnknown() {
		// states is known after apply, as the declaration; so is an
		// unmanaged aggregate of other services.
		for name, v := range map[string]types.Bool{"enabled": config.Enabled, "running": config.Running} {
			if v.IsNull() && !prior.Services.Equal(plan.Services) {
				resp.Diagnostics.Append(resp.Plan.SetAttribute(ctx, path.Root(name), types.BoolUnknown())...)
			}
		}
		return
	}
	known := map[string]conntrack.ServiceState{}
	if !prior.InitSystem.IsNull() && prior.InitSystem.ValueString() == init {
		known = prior.statesOf()
	}
	want := map[string]conntrack.ServiceState{}
	for _, svc := range plan.services(ctx) {
		st, ok := known[svc]
		if !ok {
			st = read[svc]
		}
		if !config.Enabled.IsNull() {
			st.Enabled = config.Enabled.ValueBool()
		}
		if !config.Running.IsNull() {
			st.Running = config.Running.ValueBool()
		}
		want[svc] = st
	}
	predicted := *plan
	predicted.setStates(ctx, want, serviceDeclared{Enabled: config.Enabled.ValueBoolPointer(), Running: config.Running.ValueBoolPointer()})
	resp.Diagnostics.Append(resp.Plan.SetAttribute(ctx, path.Root("states"), predicted.States)...)
	// An unmanaged aggregate keeps the state's value while the services
	// stay (UseStateForUnknown): releasing a value records nothing.
	for _, a := range []struct {
		name              string
		cur, declared, to types.Bool
	}{{"enabled", plan.Enabled, config.Enabled, predicted.Enabled}, {"running", plan.Running, config.Running, predicted.Running}} {
		if a.declared.IsNull() && (a.cur.IsUnknown() || !prior.Services.Equal(plan.Services)) {
			resp.Diagnostics.Append(resp.Plan.SetAttribute(ctx, path.Root(a.name), a.to)...)
		}
	}
}

func (r *firewallServiceResource) Create(ctx context.Context, req resource.CreateRequest, resp *resource.CreateResponse) {
	r.converge(ctx, req.Plan, req.Config, resp.Private, &resp.State, &resp.Diagnostics)
}

func (r *firewallServiceResource) Update(ctx context.Context, req resource.UpdateRequest, resp *resource.UpdateResponse) {
	r.converge(ctx, req.Plan, req.Config, resp.Private, &resp.State, &resp.Diagnostics)
}

// converge starts, stops, enables and disables the services as declared,
// in one remote command, then reads them back and checks. It returns the
// planned values where the plan knew them (the read-back fills the rest):
// a service no one declared may move between the plan and the apply, and
// the next refresh shows that.
func (r *firewallServiceResource) converge(ctx context.Context, planIn, configIn stateGetter, private privateSetter, state stateSetter, diags *diag.Diagnostics) {
	var plan, config firewallServiceModel
	diags.Append(planIn.Get(ctx, &plan)...)
	diags.Append(configIn.Get(ctx, &config)...)
	if diags.HasError() {
		return
	}
	host := plan.Host.ValueString()
	ctx = tflog.SetField(ctx, "host", host)
	h := r.data.host(ctx, plan.connectionModel, diags)
	if h == nil {
		return
	}
	ch := converge.ServicesChange{Services: plan.services(ctx), InitSystem: plan.declaredInit(),
		Enabled: config.Enabled.ValueBoolPointer(), Running: config.Running.ValueBoolPointer(),
		Label: fmt.Sprintf("starting %s (conntrack_firewall_service)", strings.Join(plan.services(ctx), ", "))}
	// Announced: the host's guarded changes of this walk wait for it to
	// share one confirming login.
	ctx, done := converge.Expect(ctx, h)
	defer done()
	res, err := converge.Services(ctx, h, ch, baseRead(ctx, r.data, plan.connectionModel, plan.snapRead(ctx)))
	if len(res.Actions) > 0 {
		r.data.changed(plan.connectionModel, scopeKernel)
	}
	for _, a := range res.Actions {
		if why, failed := res.Failed[a.Service+" "+a.Action]; failed {
			diags.AddError(fmt.Sprintf("Cannot %s %s on %s", a.Action, a.Service, host), why)
		}
	}
	if err != nil {
		hostError(diags, host, err, wording{})
		return
	}
	if !guardDiagnostics(diags, host, "The firewall service start",
		"A started firewall loads its persisted rules: check that they accept SSH from where Terraform runs.", res.Guard, 30) {
		return
	}
	declared := serviceDeclared{Enabled: config.Enabled.ValueBoolPointer(), Running: config.Running.ValueBoolPointer()}
	got := plan
	got.observe(ctx, res.Read, declared)
	// Verify: a stop script can exit 0 and leave the service running.
	for _, a := range []struct {
		name           string
		declared, read types.Bool
	}{{"enabled", config.Enabled, got.Enabled}, {"running", config.Running, got.Running}} {
		if !a.declared.IsNull() && !a.read.Equal(a.declared) && !diags.HasError() {
			diags.AddError(fmt.Sprintf("The firewall services of %s did not converge", host),
				fmt.Sprintf("%s should be %s, but the host reports %s.", a.name, a.declared, describeStates(&got, a.name)))
		}
	}
	b, _ := json.Marshal(declared)
	diags.Append(private.SetKey(ctx, privateServiceDeclared, b)...)
	if diags.HasError() {
		diags.Append(state.Set(ctx, &got)...)
		return
	}
	if !plan.States.IsUnknown() {
		got.States = plan.States
	}
	for _, v := range []struct{ planned, got *types.Bool }{{&plan.Enabled, &got.Enabled}, {&plan.Running, &got.Running}} {
		if !v.planned.IsUnknown() {
			*v.got = *v.planned
		}
	}
	diags.Append(state.Set(ctx, &got)...)
}

// Delete leaves the services as they are: restarting a firewall because a
// resource left the configuration would surprise more than it helps.
func (r *firewallServiceResource) Delete(context.Context, resource.DeleteRequest, *resource.DeleteResponse) {
}

// ImportState takes "host" (iptables and ip6tables) or "host,service,...".
func (r *firewallServiceResource) ImportState(ctx context.Context, req resource.ImportStateRequest, resp *resource.ImportStateResponse) {
	host, rest, listed := strings.Cut(req.ID, ",")
	services := defaultFirewallServices
	if listed {
		services = strings.Split(rest, ",")
	}
	err := checkImportID(req.ID)
	if err == nil {
		err = hostValidatorCheck(host)
	}
	for _, svc := range services {
		if err == nil && !slices.Contains(conntrack.FirewallServices, svc) {
			err = fmt.Errorf("%q is not one of %s", svc, strings.Join(conntrack.FirewallServices, ", "))
		}
	}
	if err != nil {
		resp.Diagnostics.AddError("Invalid import ID", fmt.Sprintf("Import conntrack_firewall_service as `host` or `host,service,...`: %v", err))
		return
	}
	resp.Diagnostics.Append(resp.State.SetAttribute(ctx, path.Root("host"), host)...)
	resp.Diagnostics.Append(resp.State.SetAttribute(ctx, path.Root("services"), stringSet(services))...)
	resp.Diagnostics.Append(resp.State.SetAttribute(ctx, path.Root("id"), host)...)
}
