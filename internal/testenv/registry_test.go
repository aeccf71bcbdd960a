package testenv_test

import (
	"net/http"
	"testing"

	"github.com/spacepods/spacepods/internal/testenv"
)

func TestStartRegistry_AnswersTheDistributionAPI(t *testing.T) {
	r := testenv.StartRegistry(t, testenv.RegistryOptions{})
	resp, err := http.Get(r.URL + "/v2/_catalog")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /v2/_catalog: %s", resp.Status)
	}
}
