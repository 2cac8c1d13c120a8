package provider

import (
	"context"
	"fmt"

	"github.com/hashicorp/terraform-plugin-framework-validators/int64validator"
	"github.com/hashicorp/terraform-plugin-framework/datasource/schema"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	rschema "github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/conntrack-ops/terraform-provider-conntrack/internal/sshx"
)

// connectionModel is how every resource and data source names its host.
type connectionModel struct {
	Host types.String `tfsdk:"host"`
	Port types.Int64  `tfsdk:"port"`
	User types.String `tfsdk:"user"`
}

func (m connectionModel) endpoint() sshx.Endpoint {
	return sshx.Endpoint{Host: m.Host.ValueString(), Port: int(m.Port.ValueInt64()), User: m.User.ValueString()}
}

// connectionDataSourceAttributes are host, port and user for a data source.
func connectionDataSourceAttributes() map[string]schema.Attribute {
	return map[string]schema.Attribute{
		"host": schema.StringAttribute{Required: true, Validators: []validator.String{hostValidator},
			MarkdownDescription: "Host name or IP address to connect to over SSH."},
		"port": schema.Int64Attribute{Optional: true, Validators: []validator.Int64{int64validator.Between(1, 65535)},
			MarkdownDescription: "SSH port. Defaults to the provider's `port`."},
		"user": schema.StringAttribute{Optional: true, Validators: []validator.String{userValidator},
			MarkdownDescription: "SSH user. Defaults to the provider's `user`."},
	}
}

// connectionResourceAttributes are host, port and user for a resource; a
// new host is a new resource.
func connectionResourceAttributes() map[string]rschema.Attribute {
	return map[string]rschema.Attribute{
		"host": rschema.StringAttribute{Required: true, Validators: []validator.String{hostValidator},
			PlanModifiers:       []planmodifier.String{stringplanmodifier.RequiresReplace()},
			MarkdownDescription: "Host name or IP address to connect to over SSH. Changing it replaces the resource."},
		"port": rschema.Int64Attribute{Optional: true, Validators: []validator.Int64{int64validator.Between(1, 65535)},
			MarkdownDescription: "SSH port. Defaults to the provider's `port`."},
		"user": rschema.StringAttribute{Optional: true, Validators: []validator.String{userValidator},
			MarkdownDescription: "SSH user. Defaults to the provider's `user`."},
	}
}

// providerDataFrom type-checks what Configure handed over; nil means the
// provider is not configured yet (validation runs).
func providerDataFrom(data any, diags *diag.Diagnostics) *providerData {
	if data == nil {
		return nil
	}
	pd, ok := data.(*providerData)
	if !ok {
		diags.AddError("Unexpected Resource Configure Type",
			fmt.Sprintf("Expected *providerData, got: %T. Please report this issue to the provider developers.", data))
		return nil
	}
	return pd
}

// client returns the shared connection to the model's host, or adds an
// error diagnostic naming the host.
func (pd *providerData) client(ctx context.Context, conn connectionModel, diags *diag.Diagnostics) *sshx.Client {
	c, err := pd.pool.Get(ctx, conn.endpoint())
	if err != nil {
		diags.AddError(fmt.Sprintf("Cannot connect to %s", conn.Host.ValueString()), detail(err))
		return nil
	}
	pd.insecure.warn(c.Endpoint().Address(), diags)
	return c
}
