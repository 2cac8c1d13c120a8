package provider

import (
	"math/big"
	"strings"
	"testing"

	"github.com/hashicorp/terraform-plugin-framework/providerserver"
	"github.com/hashicorp/terraform-plugin-go/tfprotov6"
	"github.com/hashicorp/terraform-plugin-go/tftypes"
	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"
	"github.com/hashicorp/terraform-plugin-testing/tfversion"

	"github.com/conntrack-ops/terraform-provider-conntrack/internal/conntrack"
)

// callFunction calls a provider function through the provider's protocol 6
// server, as Terraform does, so parameter validators run too.
func callFunction(t *testing.T, name string, args ...int64) (int64, *tfprotov6.FunctionError) {
	t.Helper()
	server := providerserver.NewProtocol6(New("test")())()
	dvs := make([]*tfprotov6.DynamicValue, len(args))
	for i, a := range args {
		dv, err := tfprotov6.NewDynamicValue(tftypes.Number, tftypes.NewValue(tftypes.Number, new(big.Float).SetInt64(a)))
		if err != nil {
			t.Fatal(err)
		}
		dvs[i] = &dv
	}
	resp, err := server.CallFunction(t.Context(), &tfprotov6.CallFunctionRequest{Name: name, Arguments: dvs})
	if err != nil {
		t.Fatal(err)
	}
	if resp.Error != nil {
		return 0, resp.Error
	}
	v, err := resp.Result.Unmarshal(tftypes.Number)
	if err != nil {
		t.Fatal(err)
	}
	var f big.Float
	if err := v.As(&f); err != nil {
		t.Fatal(err)
	}
	n, acc := f.Int64()
	if acc != big.Exact {
		t.Fatalf("%s returned %s, not an integer", name, f.String())
	}
	return n, nil
}

func TestFunctions(t *testing.T) {
	t.Parallel()
	const gib = int64(1) << 30
	tests := []struct {
		name string
		args []int64
		want int64
	}{
		{"recommended_max", []int64{8 * gib, 64}, 262144},
		{"recommended_max", []int64{8 * gib, 32}, 524288},
		{"recommended_max", []int64{16384, 32}, 1},
		// The rule of Linux >= 5.15: one bucket per entry (the kernel's default).
		{"recommended_buckets", []int64{262144}, 262144},
		{"recommended_buckets", []int64{1}, 1},
		{"recommended_buckets", []int64{maxSysctlInt}, conntrack.MaxBuckets},
		{"table_memory_bytes", []int64{262144, 32768}, 262144*conntrack.EntryBytes + 32768*8},
		{"table_memory_bytes", []int64{1, 0}, conntrack.EntryBytes},
		{"table_memory_bytes", []int64{maxSysctlInt, 1 << 30}, maxSysctlInt*conntrack.EntryBytes + (1<<30)*8},
	}
	for _, tt := range tests {
		got, ferr := callFunction(t, tt.name, tt.args...)
		if ferr != nil {
			t.Errorf("%s%v: %s", tt.name, tt.args, ferr.Text)
		} else if got != tt.want {
			t.Errorf("%s%v = %d, want %d", tt.name, tt.args, got, tt.want)
		}
	}
}

// The functions and the data source share one sizing rule.
func TestFunctions_matchDataSource(t *testing.T) {
	t.Parallel()
	const mem, bits = int64(24684092 * 1024), 64
	var m hostModel
	m.fill(conntrack.Facts{MemoryBytes: mem, ArchBits: bits})
	rec, _ := callFunction(t, "recommended_max", mem, bits)
	buckets, _ := callFunction(t, "recommended_buckets", rec)
	if rec != m.RecommendedMax.ValueInt64() || buckets != m.RecommendedBuckets.ValueInt64() {
		t.Fatalf("functions give max %d buckets %d, the data source %s and %s", rec, buckets, m.RecommendedMax, m.RecommendedBuckets)
	}
}

func TestFunctions_invalidArguments(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		args     []int64
		argument int64
		want     string
	}{
		{"recommended_max", []int64{0, 64}, 0, "at least 1"},
		{"recommended_max", []int64{8192, 64}, 0, "below 16384 bytes"},
		{"recommended_max", []int64{1 << 30, 16}, 1, "value must be one of"},
		{"recommended_buckets", []int64{0}, 0, "between 1 and 2147483647"},
		{"recommended_buckets", []int64{1 << 31}, 0, "between 1 and 2147483647"},
		{"table_memory_bytes", []int64{0, 0}, 0, "between 1 and 2147483647"},
		{"table_memory_bytes", []int64{65536, -1}, 1, "between 0 and 1073741824"},
	}
	for _, tt := range tests {
		_, ferr := callFunction(t, tt.name, tt.args...)
		switch {
		case ferr == nil:
			t.Errorf("%s%v: no error", tt.name, tt.args)
		case ferr.FunctionArgument == nil || *ferr.FunctionArgument != tt.argument:
			t.Errorf("%s%v: error %q not on argument %d", tt.name, tt.args, ferr.Text, tt.argument)
		case !strings.Contains(ferr.Text, tt.want):
			t.Errorf("%s%v: error %q does not say %q", tt.name, tt.args, ferr.Text, tt.want)
		}
	}
}

// The functions through the real CLI: Terraform >= 1.8 and OpenTofu (make
// test-matrix); Terraform 1.5.7 (make test) has no provider functions.
func TestAccFunction_sizeFleet(t *testing.T) {
	t.Parallel()
	const gib = int64(1) << 30
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: protoV6ProviderFactories,
		TerraformVersionChecks:   []tfversion.TerraformVersionCheck{tfversion.SkipBelow(tfversion.Version1_8_0)},
		Steps: []resource.TestStep{{
			Config: `
locals {
  inventory = { small = 2147483648, large = 68719476736 }
  max       = { for h, mem in local.inventory : h => provider::conntrack::recommended_max(mem, 64) }
}
output "max" {
  value = local.max
}
output "buckets" {
  value = provider::conntrack::recommended_buckets(local.max["large"])
}
output "memory" {
  value = provider::conntrack::table_memory_bytes(local.max["large"], provider::conntrack::recommended_buckets(local.max["large"]))
}`,
			ConfigStateChecks: []statecheck.StateCheck{
				statecheck.ExpectKnownOutputValue("max", knownvalue.MapExact(map[string]knownvalue.Check{
					"small": knownvalue.Int64Exact(2 * gib / 16384 / 2), "large": knownvalue.Int64Exact(64 * gib / 16384 / 2),
				})),
				// buckets = max, the rule of kernels >= 5.15.
				statecheck.ExpectKnownOutputValue("buckets", knownvalue.Int64Exact(64*gib/16384/2)),
				statecheck.ExpectKnownOutputValue("memory", knownvalue.Int64Exact(64*gib/16384/2*conntrack.EntryBytes+64*gib/16384/2*8)),
			},
		}},
	})
}

func TestAccFunction_invalidArgument(t *testing.T) {
	t.Parallel()
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: protoV6ProviderFactories,
		TerraformVersionChecks:   []tfversion.TerraformVersionCheck{tfversion.SkipBelow(tfversion.Version1_8_0)},
		Steps: []resource.TestStep{{
			Config:      `output "max" { value = provider::conntrack::recommended_max(8589934592, 48) }`,
			ExpectError: errorLike("arch_bits", "value must be one of"),
		}},
	})
}
