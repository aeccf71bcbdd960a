package catalog

import (
	"context"
	"strings"

	"github.com/spacepods/spacepods/internal/store"
)

// AppsOfRepo lists the apps whose manifest names repo ("owner/name",
// compared without case, as forges do): what a webhook of that repository
// concerns.
func (s *Service) AppsOfRepo(ctx context.Context, repo string) ([]string, error) {
	var out []string
	const page = 1000
	for after := ""; ; {
		apps, err := s.List(ctx, store.ListOptions{After: after, Limit: page})
		if err != nil {
			return nil, err
		}
		for _, a := range apps {
			if strings.EqualFold(a.Repo, repo) {
				out = append(out, a.Name)
			}
		}
		if len(apps) < page {
			return out, nil
		}
		after = apps[len(apps)-1].Name
	}
}
