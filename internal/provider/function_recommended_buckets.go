package provider

import (
	"context"

	"github.com/hashicorp/terraform-plugin-framework-validators/int64validator"
	"github.com/hashicorp/terraform-plugin-framework/function"

	"github.com/conntrack-ops/terraform-provider-conntrack/internal/conntrack"
)

var _ function.Function = (*recommendedBucketsFunction)(nil)

// NewRecommendedBucketsFunction is provider::conntrack::recommended_buckets.
func NewRecommendedBucketsFunction() function.Function { return &recommendedBucketsFunction{} }

type recommendedBucketsFunction struct{}

func (f *recommendedBucketsFunction) Metadata(_ context.Context, _ function.MetadataRequest, resp *function.MetadataResponse) {
	resp.Name = "recommended_buckets"
}

func (f *recommendedBucketsFunction) Definition(_ context.Context, _ function.DefinitionRequest, resp *function.DefinitionResponse) {
	resp.Definition = function.Definition{
		Summary: "The recommended hash table size for a conntrack table size",
		MarkdownDescription: "Returns the recommended number of hash buckets (the `hashsize` module parameter) for a table of `max` entries " +
			"by the rule of Linux >= 5.15 (`sizing_rule = \"modern\"` of data source `conntrack_host`): `max` itself, at most 2^30. Those kernels " +
			"default to buckets = max (d532bcd0b269: every entry is hashed twice, so that is 2 entries a chain in a full table) and refuse to " +
			"insert into a chain that grew too long (d7e7747ac5c2), so fewer buckets drop connections before the table is full. " +
			"A function does not read the host, so it cannot tell an older kernel: for those the classic rule is `floor(max / 8)`, which " +
			"is what this function returned before kernels changed (and what `recommended_buckets` of `conntrack_host` returns for a " +
			"`classic` host). Use it as `buckets` of `conntrack_limits`.",
		Parameters: []function.Parameter{
			function.Int64Parameter{Name: "max", Validators: []function.Int64ParameterValidator{int64validator.Between(1, maxSysctlInt)},
				MarkdownDescription: "The table size, `nf_conntrack_max`: from 1 to 2147483647."},
		},
		Return: function.Int64Return{},
	}
}

func (f *recommendedBucketsFunction) Run(ctx context.Context, req function.RunRequest, resp *function.RunResponse) {
	var conntrackMax int64
	resp.Error = req.Arguments.Get(ctx, &conntrackMax)
	if resp.Error != nil {
		return
	}
	buckets, _ := conntrack.RecommendedBuckets(conntrack.SizingModern, conntrackMax)
	resp.Error = resp.Result.Set(ctx, buckets)
}
