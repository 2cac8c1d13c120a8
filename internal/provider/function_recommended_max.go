package provider

import (
	"context"

	"github.com/hashicorp/terraform-plugin-framework-validators/int64validator"
	"github.com/hashicorp/terraform-plugin-framework/function"

	"github.com/conntrack-ops/terraform-provider-conntrack/internal/conntrack"
)

var _ function.Function = (*recommendedMaxFunction)(nil)

// archBits are the kernel word sizes the sizing rule knows.
var archBits = []int64{32, 64}

// NewRecommendedMaxFunction is provider::conntrack::recommended_max.
func NewRecommendedMaxFunction() function.Function { return &recommendedMaxFunction{} }

type recommendedMaxFunction struct{}

func (f *recommendedMaxFunction) Metadata(_ context.Context, _ function.MetadataRequest, resp *function.MetadataResponse) {
	resp.Name = "recommended_max"
}

func (f *recommendedMaxFunction) Definition(_ context.Context, _ function.DefinitionRequest, resp *function.DefinitionResponse) {
	resp.Definition = function.Definition{
		Summary: "The rule of thumb for nf_conntrack_max from a host's memory",
		MarkdownDescription: "Returns the classic rule of thumb for `net.netfilter.nf_conntrack_max`: memory bytes / 16384 / (arch bits / 32), " +
			"the same number data source `conntrack_host` reports as `recommended_max`, computed without reading the host, " +
			"so a fleet can be sized from an inventory. Use it as `max` of `conntrack_limits`.",
		Parameters: []function.Parameter{
			function.Int64Parameter{Name: "memory_bytes", Validators: []function.Int64ParameterValidator{int64validator.AtLeast(1)},
				MarkdownDescription: "Total memory of the host in bytes (`MemTotal`, as `memory_bytes` of `conntrack_host`). At least 1."},
			function.Int64Parameter{Name: "arch_bits", Validators: []function.Int64ParameterValidator{int64validator.OneOf(archBits...)},
				MarkdownDescription: "Kernel word size in bits: `32` or `64` (as `arch_bits` of `conntrack_host`)."},
		},
		Return: function.Int64Return{},
	}
}

func (f *recommendedMaxFunction) Run(ctx context.Context, req function.RunRequest, resp *function.RunResponse) {
	var memoryBytes, bits int64
	resp.Error = req.Arguments.Get(ctx, &memoryBytes, &bits)
	if resp.Error != nil {
		return
	}
	rec := conntrack.RecommendedMax(memoryBytes, int(bits))
	if rec < 1 {
		resp.Error = function.NewArgumentFuncError(0, "memory_bytes is below 16384 bytes per 32 bits of word size: the rule of thumb gives no table at all.")
		return
	}
	resp.Error = resp.Result.Set(ctx, rec)
}
