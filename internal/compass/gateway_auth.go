package compass

import (
	"context"
	"fmt"

	"github.com/switchboardhq/switchboard/internal/application"
	"github.com/switchboardhq/switchboard/internal/compass/generated"
)

// Gateway authentication settings (gateway_auth.graphqls): a Switchboard addition.

func (r appResolver) GatewayAuth(ctx context.Context, obj *generated.Application) (*generated.GatewayAuth, error) {
	a, ok := r.opt.Store.Get(scopeOf(ctx).solution, obj.ID)
	if !ok {
		return nil, fmt.Errorf("application %s: %w", obj.ID, application.ErrNotFound)
	}
	return toGatewayAuth(a.GatewayAuthOf()), nil
}

func (m mutation) SetApplicationGatewayAuth(ctx context.Context, id string, in generated.GatewayAuthInput) (*generated.Application, error) {
	out, err := m.opt.Store.SetGatewayAuth(ctx, scopeOf(ctx).solution, id, fromGatewayAuthInput(in))
	if err != nil {
		return nil, err
	}
	m.opt.Logger.Info("application gateway authentication set", "solution", out.Solution, "application", out.Name, "id", out.ID)
	return toApplication(out), nil
}

func toGatewayAuth(ga application.GatewayAuth) *generated.GatewayAuth {
	out := &generated.GatewayAuth{ClientCredentials: ga.ClientCredentials}
	if o := ga.OIDC; o != nil {
		out.Oidc = &generated.GatewayOidc{Issuer: o.Issuer, Audience: o.Audience, ClientClaim: o.ClientClaim, Client: o.Client}
	}
	if m := ga.MTLS; m != nil {
		out.Mtls = &generated.GatewayMtls{CaPem: m.CAPEM, CommonName: optional(m.CommonName), DNSName: optional(m.DNSName), URI: optional(m.URI)}
	}
	return out
}

func fromGatewayAuthInput(in generated.GatewayAuthInput) application.GatewayAuth {
	out := application.GatewayAuth{ClientCredentials: in.ClientCredentials == nil || *in.ClientCredentials}
	if o := in.Oidc; o != nil {
		out.OIDC = &application.OIDCTrust{Issuer: o.Issuer, Audience: o.Audience, ClientClaim: value(o.ClientClaim), Client: o.Client}
	}
	if m := in.Mtls; m != nil {
		out.MTLS = &application.CertTrust{CAPEM: m.CaPem, CommonName: value(m.CommonName), DNSName: value(m.DNSName), URI: value(m.URI)}
	}
	return out
}
