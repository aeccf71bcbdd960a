package github

import "github.com/spacepods/spacepods/internal/forge"

func init() {
	forge.Register(Kind, func(cfg forge.Config) (forge.Forge, error) { return New(cfg) })
}
