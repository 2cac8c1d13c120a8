package provider

import (
	"context"
	"fmt"
	"time"

	"github.com/hashicorp/terraform-plugin-framework/schema/validator"

	"github.com/conntrack-ops/terraform-provider-conntrack/internal/conntrack"
)

// durationValidator accepts Go durations greater than zero ("10s", "1m30s").
type durationValidator struct{}

func (durationValidator) Description(context.Context) string {
	return "must be a duration such as 10s, 2m or 1m30s, greater than zero"
}

func (v durationValidator) MarkdownDescription(ctx context.Context) string { return v.Description(ctx) }

func (v durationValidator) ValidateString(ctx context.Context, req validator.StringRequest, resp *validator.StringResponse) {
	if req.ConfigValue.IsNull() || req.ConfigValue.IsUnknown() {
		return
	}
	s := req.ConfigValue.ValueString()
	if err := checkText(s, 64); err != nil {
		resp.Diagnostics.AddAttributeError(req.Path, "Invalid duration", fmt.Sprintf("%s %s: it %s.", req.Path, v.Description(ctx), err))
		return
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		resp.Diagnostics.AddAttributeError(req.Path, "Invalid duration",
			fmt.Sprintf("%s %s.", quoted(s), v.Description(ctx)))
	}
}

// portValidator checks "80" and "1000:2000".
type portValidator struct{}

// commentValidator keeps comments safe for iptables, shells and files.
type commentValidator struct{}

func (portValidator) Description(context.Context) string {
	return "a port 1-65535 or a range low:high"
}
func (v portValidator) MarkdownDescription(ctx context.Context) string { return v.Description(ctx) }
func (portValidator) ValidateString(_ context.Context, req validator.StringRequest, resp *validator.StringResponse) {
	if req.ConfigValue.IsNull() || req.ConfigValue.IsUnknown() {
		return
	}
	if err := conntrack.ValidatePort(req.ConfigValue.ValueString()); err != nil {
		resp.Diagnostics.AddAttributeError(req.Path, "Invalid port", err.Error()+".")
	}
}

func (commentValidator) Description(context.Context) string {
	return "letters, digits, spaces and _ . , : / + = @ -"
}
func (v commentValidator) MarkdownDescription(ctx context.Context) string { return v.Description(ctx) }
func (commentValidator) ValidateString(_ context.Context, req validator.StringRequest, resp *validator.StringResponse) {
	if req.ConfigValue.IsNull() || req.ConfigValue.IsUnknown() {
		return
	}
	if err := conntrack.ValidateComment(req.ConfigValue.ValueString()); err != nil {
		resp.Diagnostics.AddAttributeError(req.Path, "Invalid comment", "The comment must "+err.Error()+".")
	}
}
