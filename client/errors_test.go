package client_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/spacepods/spacepods/client"
	"github.com/spacepods/spacepods/internal/httpjson"
	"github.com/spacepods/spacepods/internal/router"
	"github.com/spacepods/spacepods/internal/spacepods"
)

// TestClients_DecodeAnErrorEnvelopeToTheSameCode: the API client and the
// router's control client read one error answer the same way, envelope or
// not, because both go through internal/httpjson.
func TestClients_DecodeAnErrorEnvelopeToTheSameCode(t *testing.T) {
	codes := []string{spacepods.EINVALID, spacepods.EUNAUTHORIZED, spacepods.EFORBIDDEN, spacepods.ENOTFOUND,
		spacepods.ECONFLICT, spacepods.ETOOLARGE, spacepods.EMEDIATYPE, spacepods.ELIMIT, spacepods.EINTERNAL,
		spacepods.ENOTIMPL, spacepods.EUNAVAILABLE}
	for _, code := range codes {
		for _, envelope := range []bool{true, false} {
			ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if envelope {
					httpjson.WriteError(w, spacepods.Errorf(code, "the message of %s", code))
					return
				}
				http.Error(w, "plain text", httpjson.StatusOf(code))
			}))
			ctx := context.Background()
			_, apiErr := client.New(ts.URL, "tok").ListPods(ctx)
			_, routerErr := router.NewClient(ts.URL, "tok").Groups(ctx)
			ts.Close()
			for who, err := range map[string]error{"client": apiErr, "router.Client": routerErr} {
				if got := spacepods.ErrorCode(err); got != code {
					t.Errorf("%s, envelope %v: code %q, want %q (%v)", who, envelope, got, code, err)
				}
				if envelope && spacepods.ErrorMessage(err) != "the message of "+code {
					t.Errorf("%s: message %q", who, spacepods.ErrorMessage(err))
				}
			}
		}
	}
}
