package provider

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/hashicorp/terraform-plugin-framework/providerserver"
	"github.com/hashicorp/terraform-plugin-go/tfprotov6"
)

// NewServer returns the provider's protocol 6 server factory: the
// framework's server, whose RPCs let go of their contexts when they return
// (releasingServer). main serves it; the acceptance tests run it in-process.
func NewServer(version string) func() (tfprotov6.ProviderServer, error) {
	framework := providerserver.NewProtocol6WithError(New(version)())
	return func() (tfprotov6.ProviderServer, error) {
		s, err := framework()
		if err != nil {
			return nil, err
		}
		return releasingServer{s}, nil
	}
}

// releasingServer is the framework's server, except that every
// diagnostic it answers is cleaned of terminal escapes and capped
// (cleanDiagnostics), and that each RPC that
// Terraform calls once per resource instance gets a context that is cut
// from the RPC's own when the RPC returns (releasable).
//
// terraform-plugin-framework (v1.19.0) keeps the cancel function of every
// RPC's context until StopProvider, which Terraform sends only on an
// interrupt, and with it the whole context: the per-RPC loggers of
// terraform-plugin-go and the framework, their fields and buffers, some
// 15-20 KB per RPC. A walk makes several RPCs per resource instance, so the
// provider grew by tens of MB per 100 hosts (DECISIONS.md, Memory). What
// the framework keeps now is a cancelled context with nothing behind it.
//
// The wrapper implements tfprotov6.ProviderServer only, not the optional
// list resource, action and state store interfaces: the provider has none
// of them.
type releasingServer struct {
	tfprotov6.ProviderServer
}

var _ tfprotov6.ProviderServer = releasingServer{}

func (s releasingServer) ConfigureProvider(ctx context.Context, req *tfprotov6.ConfigureProviderRequest) (*tfprotov6.ConfigureProviderResponse, error) {
	resp, err := s.ProviderServer.ConfigureProvider(ctx, req)
	if resp != nil {
		cleanDiagnostics(resp.Diagnostics)
	}
	return resp, err
}

// released calls f with a context that forwards to ctx until f returns.
func released[Req, Resp any](ctx context.Context, f func(context.Context, Req) (Resp, error), req Req) (Resp, error) {
	r := newReleasable(ctx)
	defer r.release()
	return f(r, req)
}

func (s releasingServer) ValidateResourceConfig(ctx context.Context, req *tfprotov6.ValidateResourceConfigRequest) (*tfprotov6.ValidateResourceConfigResponse, error) {
	resp, err := released(ctx, s.ProviderServer.ValidateResourceConfig, req)
	if resp != nil {
		cleanDiagnostics(resp.Diagnostics)
	}
	return resp, err
}

func (s releasingServer) UpgradeResourceState(ctx context.Context, req *tfprotov6.UpgradeResourceStateRequest) (*tfprotov6.UpgradeResourceStateResponse, error) {
	resp, err := released(ctx, s.ProviderServer.UpgradeResourceState, req)
	if resp != nil {
		cleanDiagnostics(resp.Diagnostics)
	}
	return resp, err
}

func (s releasingServer) ReadResource(ctx context.Context, req *tfprotov6.ReadResourceRequest) (*tfprotov6.ReadResourceResponse, error) {
	resp, err := released(ctx, s.ProviderServer.ReadResource, req)
	if resp != nil {
		cleanDiagnostics(resp.Diagnostics)
	}
	return resp, err
}

func (s releasingServer) PlanResourceChange(ctx context.Context, req *tfprotov6.PlanResourceChangeRequest) (*tfprotov6.PlanResourceChangeResponse, error) {
	resp, err := released(ctx, s.ProviderServer.PlanResourceChange, req)
	if resp != nil {
		cleanDiagnostics(resp.Diagnostics)
	}
	return resp, err
}

func (s releasingServer) ApplyResourceChange(ctx context.Context, req *tfprotov6.ApplyResourceChangeRequest) (*tfprotov6.ApplyResourceChangeResponse, error) {
	resp, err := released(ctx, s.ProviderServer.ApplyResourceChange, req)
	if resp != nil {
		cleanDiagnostics(resp.Diagnostics)
	}
	return resp, err
}

func (s releasingServer) ImportResourceState(ctx context.Context, req *tfprotov6.ImportResourceStateRequest) (*tfprotov6.ImportResourceStateResponse, error) {
	resp, err := released(ctx, s.ProviderServer.ImportResourceState, req)
	if resp != nil {
		cleanDiagnostics(resp.Diagnostics)
	}
	return resp, err
}

func (s releasingServer) MoveResourceState(ctx context.Context, req *tfprotov6.MoveResourceStateRequest) (*tfprotov6.MoveResourceStateResponse, error) {
	resp, err := released(ctx, s.ProviderServer.MoveResourceState, req)
	if resp != nil {
		cleanDiagnostics(resp.Diagnostics)
	}
	return resp, err
}

func (s releasingServer) UpgradeResourceIdentity(ctx context.Context, req *tfprotov6.UpgradeResourceIdentityRequest) (*tfprotov6.UpgradeResourceIdentityResponse, error) {
	resp, err := released(ctx, s.ProviderServer.UpgradeResourceIdentity, req)
	if resp != nil {
		cleanDiagnostics(resp.Diagnostics)
	}
	return resp, err
}

func (s releasingServer) ValidateDataResourceConfig(ctx context.Context, req *tfprotov6.ValidateDataResourceConfigRequest) (*tfprotov6.ValidateDataResourceConfigResponse, error) {
	resp, err := released(ctx, s.ProviderServer.ValidateDataResourceConfig, req)
	if resp != nil {
		cleanDiagnostics(resp.Diagnostics)
	}
	return resp, err
}

func (s releasingServer) ReadDataSource(ctx context.Context, req *tfprotov6.ReadDataSourceRequest) (*tfprotov6.ReadDataSourceResponse, error) {
	resp, err := released(ctx, s.ProviderServer.ReadDataSource, req)
	if resp != nil {
		cleanDiagnostics(resp.Diagnostics)
	}
	return resp, err
}

func (s releasingServer) CallFunction(ctx context.Context, req *tfprotov6.CallFunctionRequest) (*tfprotov6.CallFunctionResponse, error) {
	// Functions read no host: their errors hold no host text.
	return released(ctx, s.ProviderServer.CallFunction, req)
}

// releasable is a context that is its parent until released, and then a
// cancelled context with no values and no parent: whoever still holds it
// holds nothing else.
type releasable struct {
	parent atomic.Pointer[parentContext]
}

type parentContext struct{ context.Context }

// releasedContext is what a releasable forwards to once released.
var releasedContext = func() *parentContext {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return &parentContext{ctx}
}()

func newReleasable(parent context.Context) *releasable {
	r := &releasable{}
	r.parent.Store(&parentContext{parent})
	return r
}

func (r *releasable) release() { r.parent.Store(releasedContext) }

func (r *releasable) Deadline() (time.Time, bool) { return r.parent.Load().Deadline() }
func (r *releasable) Done() <-chan struct{}       { return r.parent.Load().Done() }
func (r *releasable) Err() error                  { return r.parent.Load().Err() }
func (r *releasable) Value(key any) any           { return r.parent.Load().Value(key) }
