package testenv

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"sync/atomic"
	"testing"
	"time"
)

// AWSEndpoint returns the endpoint of the AWS emulator (moto's server) that
// scripts/test.sh starts for the AWS packages' tests
// (SPACEPODS_TEST_AWS_ENDPOINT). The script also exports a region and
// static test credentials (AWS_REGION, AWS_ACCESS_KEY_ID…), which the SDK's
// default chain finds as it would on a real machine; tests hand the
// endpoint to awsclient.Config.EndpointURL, the same switch as
// --aws-endpoint-url.
func AWSEndpoint(t testing.TB) string {
	t.Helper()
	u := os.Getenv("SPACEPODS_TEST_AWS_ENDPOINT")
	if u == "" {
		Missing(t, "AWS emulator (SPACEPODS_TEST_AWS_ENDPOINT)",
			"run scripts/test.sh, which starts moto's server (scripts/lib.sh start_moto) and sets it")
	}
	for _, v := range []string{"AWS_REGION", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"} {
		if os.Getenv(v) == "" {
			Missing(t, v, "scripts/lib.sh start_moto exports a region and test credentials with the endpoint; export them too")
		}
	}
	return u
}

var awsNames atomic.Int64

// AWSName returns a name unique to this test run for AWS objects that
// share one emulator with other tests and packages: prefix, then a
// process- and time-derived suffix. It fits AWS's shortest name limits
// (32 characters for target groups) when prefix is at most 12.
func AWSName(prefix string) string {
	return fmt.Sprintf("%s-%x%x", prefix, (time.Now().UnixNano()/1e6)&0xffffff^int64(os.Getpid()&0xfff), awsNames.Add(1))
}

// StartMoto starts a moto server of the test's own on a free loopback port
// and returns its endpoint, for a test that changes moto's global settings
// (such as turning IAM checks on) and so must not share the run's server.
// It is stopped when the test ends. scripts/test.sh exports the server's
// path (SPACEPODS_TEST_MOTO_SERVER).
func StartMoto(t *testing.T) string {
	t.Helper()
	AWSEndpoint(t) // region and credentials, and the same skip rule
	bin := os.Getenv("SPACEPODS_TEST_MOTO_SERVER")
	if bin == "" {
		Missing(t, "moto_server (SPACEPODS_TEST_MOTO_SERVER)", "run scripts/test.sh, which installs moto and sets it")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	// moto binds the port next; a race with another process is unlikely
	// and fails loudly below.
	_ = l.Close()
	cmd := exec.Command(bin, "-H", "127.0.0.1", "-p", strconv.Itoa(port)) //nolint:gosec // G702: the path is the test script's own moto_server (SPACEPODS_TEST_MOTO_SERVER), not input
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", bin, err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }() // its exit is checked through done
	t.Cleanup(func() {
		_ = cmd.Process.Kill() // we started it; nothing to do if it already ended
		<-done
	})
	endpoint := fmt.Sprintf("http://127.0.0.1:%d", port)
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get(endpoint + "/moto-api/")
		if err == nil {
			_ = resp.Body.Close()
			return endpoint
		}
		select {
		case <-done:
			t.Fatalf("moto_server exited: %s", out.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("moto_server did not answer within 60 s: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
