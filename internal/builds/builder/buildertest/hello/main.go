// Command hello is the program the builder's test repositories build into
// an image FROM scratch: it prints a line and exits.
package main

import "fmt"

func main() { fmt.Println("hello from a built image") }
