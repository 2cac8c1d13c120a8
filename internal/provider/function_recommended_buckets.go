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
		MarkdownDescription: "Returns the recommended number of hash buckets (the `hashsize` module parameter) for a table of `max` entries: " +
			"`max` / 8, eight entries per bucket, as `recommended_buckets` of data source `conntrack_host`. " +
			"The sensible range goes up to `max` / 2. Use it as `buckets` of `conntrack_limits`.",
		Parameters: []function.Parameter{
			function.Int64Parameter{Name: "max", Validators: []function.Int64ParameterValidator{int64validator.Between(8, maxSysctlInt)},
				MarkdownDescription: "The table size, `nf_conntrack_max`: from 8 (one bucket) to 2147483647."},
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
	buckets, _ := conntrack.RecommendedBuckets(conntrackMax)
	resp.Error = resp.Result.Set(ctx, buckets)
}
