package provider

import (
	"context"
	"fmt"

	"github.com/hashicorp/terraform-plugin-framework-validators/int64validator"
	"github.com/hashicorp/terraform-plugin-framework/function"

	"github.com/conntrack-ops/terraform-provider-conntrack/internal/conntrack"
)

var _ function.Function = (*tableMemoryBytesFunction)(nil)

// NewTableMemoryBytesFunction is provider::conntrack::table_memory_bytes.
func NewTableMemoryBytesFunction() function.Function { return &tableMemoryBytesFunction{} }

type tableMemoryBytesFunction struct{}

func (f *tableMemoryBytesFunction) Metadata(_ context.Context, _ function.MetadataRequest, resp *function.MetadataResponse) {
	resp.Name = "table_memory_bytes"
}

func (f *tableMemoryBytesFunction) Definition(_ context.Context, _ function.DefinitionRequest, resp *function.DefinitionResponse) {
	resp.Definition = function.Definition{
		Summary: "The kernel memory a full conntrack table costs",
		MarkdownDescription: fmt.Sprintf("Returns the kernel memory, in bytes, that a full table of `max` entries with `buckets` hash buckets takes: "+
			"`max` × %d + `buckets` × 8. %d bytes is the object size of the kernel's `nf_conntrack` slab cache (one `struct nf_conn` "+
			"rounded up to a cache line) as `/proc/slabinfo` shows it on Debian 12's x86_64 kernel (Linux 6.1); older kernels "+
			"were measured at 304 to 384 bytes. Each bucket is one pointer, 8 bytes. On 32-bit kernels both are smaller, so the result is an upper bound there. "+
			"The memory is not swappable: entries are allocated as connections are tracked, the hash table at once.", conntrack.EntryBytes, conntrack.EntryBytes),
		Parameters: []function.Parameter{
			function.Int64Parameter{Name: "max", Validators: []function.Int64ParameterValidator{int64validator.Between(1, maxSysctlInt)},
				MarkdownDescription: "The table size, `nf_conntrack_max`: from 1 to 2147483647."},
			function.Int64Parameter{Name: "buckets", Validators: []function.Int64ParameterValidator{int64validator.Between(0, 1<<30)},
				MarkdownDescription: "Hash buckets, `nf_conntrack_buckets`: from 0 (entries only) to 1073741824."},
		},
		Return: function.Int64Return{},
	}
}

func (f *tableMemoryBytesFunction) Run(ctx context.Context, req function.RunRequest, resp *function.RunResponse) {
	var conntrackMax, buckets int64
	resp.Error = req.Arguments.Get(ctx, &conntrackMax, &buckets)
	if resp.Error != nil {
		return
	}
	resp.Error = resp.Result.Set(ctx, conntrack.TableMemoryBytes(conntrackMax, buckets))
}
