// Command spacepods is the Spacepods control plane (spacepods server) and its CLI.
package main

import (
	"os"

	"github.com/spacepods/spacepods/internal/cli"
)

func main() { os.Exit(cli.Execute()) }
