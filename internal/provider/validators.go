package provider

import (
	"context"
	"fmt"
	"time"

	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
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
