package gitea

import "github.com/spacepods/spacepods/internal/forge"

func init() {
	forge.Register(Kind, func(cfg forge.Config) (forge.Forge, error) {
		return New(Config{URL: cfg.URL, Token: cfg.Token, HTTPClient: cfg.HTTPClient})
	})
}
