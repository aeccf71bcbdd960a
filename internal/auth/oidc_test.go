package auth

import (
	"testing"

	"github.com/spacepods/spacepods/internal/spacepods"
)

func TestOIDC_RoleIsTheHighestOfTheMappedGroups(t *testing.T) {
	roles, err := ParseRoleMappings([]string{"acme=viewer", "acme:platform=admin", "acme:web=developer"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, def string
		groups    []string
		want      string
	}{
		{"org member", "", []string{"acme"}, spacepods.RoleViewer},
		{"team beats org", "", []string{"acme", "acme:web"}, spacepods.RoleDeveloper},
		{"highest of two teams", "", []string{"acme:web", "acme:platform", "acme"}, spacepods.RoleAdmin},
		{"case does not matter", "", []string{"ACME:Platform"}, spacepods.RoleAdmin},
		{"no mapped group, no default", "", []string{"other"}, ""},
		{"no mapped group, default", spacepods.RoleViewer, []string{"other"}, spacepods.RoleViewer},
		{"mapped group beats the default", spacepods.RoleDeveloper, []string{"acme"}, spacepods.RoleViewer},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o, err := NewOIDC(OIDCConfig{Issuer: "http://idp", ClientID: "c", ClientSecret: "s", RedirectURL: "http://sp/cb", Roles: roles, DefaultRole: tc.def}, &Service{}, nil)
			if err != nil {
				t.Fatal(err)
			}
			if got := o.role(tc.groups); got != tc.want {
				t.Fatalf("role(%v) = %q, want %q", tc.groups, got, tc.want)
			}
		})
	}
	for _, bad := range []string{"acme", "acme=root", "=admin"} {
		if _, err := ParseRoleMappings([]string{bad}); spacepods.ErrorCode(err) != spacepods.EINVALID {
			t.Errorf("%q: %v, want EINVALID", bad, err)
		}
	}
	if _, err := NewOIDC(OIDCConfig{Issuer: "http://idp"}, &Service{}, nil); spacepods.ErrorCode(err) != spacepods.EINVALID {
		t.Errorf("missing client: %v", err)
	}
}
