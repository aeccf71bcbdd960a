package builder

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"path"
	"sort"
	"strings"
	"time"

	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"
)

// contextTime is every file's mtime in a build context: the same content
// then makes the same context whatever the commit's date, so that Docker's
// layer cache holds across commits.
var contextTime = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

// contextTree returns the tree of the build context dir ("." = root) in a
// commit, after checking that the Dockerfile (relative to it) is there.
func contextTree(c *object.Commit, dir, dockerfile string) (*object.Tree, error) {
	root, err := c.Tree()
	if err != nil {
		return nil, err
	}
	tree := root
	if dir != "." {
		if tree, err = root.Tree(dir); err != nil {
			return nil, fmt.Errorf("the build context %s is not a directory in commit %s: fix build.context in the manifest, or build another ref", dir, c.Hash.String()[:12])
		}
	}
	f, err := tree.File(dockerfile)
	if err != nil || !f.Mode.IsFile() {
		return nil, fmt.Errorf("there is no %s in commit %s: add it, or name the Dockerfile with build.dockerfile in the manifest", path.Join(dir, dockerfile), c.Hash.String()[:12])
	}
	return tree, nil
}

// writeContext writes the build context (the files of tree) as a tar to
// w, leaving out what its .dockerignore excludes, as the docker CLI does:
// the Dockerfile and .dockerignore themselves are always sent. The
// Dockerfile gets one LABEL instruction with labels at its end (its last
// stage): the Engine's legacy builder turns the API's labels into one step
// (one container) per label, this into one. It returns the number of files
// and bytes sent.
func writeContext(w io.Writer, tree *object.Tree, dockerfile string, labels map[string]string, warnf func(format string, args ...any)) (files int, size int64, err error) {
	pm, err := dockerignore(tree)
	if err != nil {
		return 0, 0, err
	}
	tw := tar.NewWriter(w)
	walker := object.NewTreeWalker(tree, true, nil)
	defer walker.Close()
	for {
		name, entry, err := walker.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return files, size, err
		}
		if entry.Mode == filemode.Dir {
			continue
		}
		if pm != nil && name != dockerfile && name != ".dockerignore" {
			if skip, err := pm.MatchesOrParentMatches(name); err != nil {
				return files, size, fmt.Errorf(".dockerignore: %w", err)
			} else if skip {
				continue
			}
		}
		hdr := &tar.Header{Name: name, ModTime: contextTime, Format: tar.FormatPAX}
		switch entry.Mode {
		case filemode.Submodule:
			warnf("warning: %s is a git submodule; submodules are not fetched, so it is left out of the build context\n", name)
			continue
		case filemode.Symlink:
			blob, err := tree.TreeEntryFile(&entry)
			if err != nil {
				return files, size, err
			}
			target, err := blob.Contents()
			if err != nil {
				return files, size, err
			}
			hdr.Typeflag, hdr.Linkname, hdr.Mode = tar.TypeSymlink, target, 0o777
			if err := tw.WriteHeader(hdr); err != nil {
				return files, size, err
			}
			files++
			continue
		case filemode.Executable:
			hdr.Mode = 0o755
		default:
			hdr.Mode = 0o644
		}
		f, err := tree.TreeEntryFile(&entry)
		if err != nil {
			return files, size, err
		}
		var n int64
		if name == dockerfile {
			n, err = writeDockerfile(tw, hdr, f, labels)
		} else {
			n, err = writeFile(tw, hdr, f)
		}
		if err != nil {
			return files, size, err
		}
		files++
		size += n
	}
	return files, size, tw.Close()
}

func writeFile(tw *tar.Writer, hdr *tar.Header, f *object.File) (int64, error) {
	hdr.Typeflag, hdr.Size = tar.TypeReg, f.Size
	if err := tw.WriteHeader(hdr); err != nil {
		return 0, err
	}
	r, err := f.Reader()
	if err != nil {
		return 0, err
	}
	defer func() { _ = r.Close() }() // a read error surfaces through Copy
	return io.Copy(tw, r)
}

func writeDockerfile(tw *tar.Writer, hdr *tar.Header, f *object.File, labels map[string]string) (int64, error) {
	text, err := f.Contents()
	if err != nil {
		return 0, err
	}
	body := []byte(text + "\n" + labelInstruction(labels))
	hdr.Typeflag, hdr.Size = tar.TypeReg, int64(len(body))
	if err := tw.WriteHeader(hdr); err != nil {
		return 0, err
	}
	n, err := tw.Write(body)
	return int64(n), err
}

// labelInstruction is one LABEL instruction setting labels, in key order.
func labelInstruction(labels map[string]string) string {
	if len(labels) == 0 {
		return ""
	}
	keys := make([]string, 0, len(labels))
	for k := range labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	quote := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", " ")
	var b strings.Builder
	b.WriteString("LABEL")
	for _, k := range keys {
		fmt.Fprintf(&b, ` "%s"="%s"`, quote.Replace(k), quote.Replace(labels[k]))
	}
	b.WriteString("\n")
	return b.String()
}

// dockerignore reads the context's .dockerignore (nil when it has none).
func dockerignore(tree *object.Tree) (*patternmatcher.PatternMatcher, error) {
	f, err := tree.File(".dockerignore")
	if err != nil {
		return nil, nil //nolint:nilerr // no .dockerignore: nothing is excluded
	}
	r, err := f.Reader()
	if err != nil {
		return nil, err
	}
	defer func() { _ = r.Close() }() // read-only
	patterns, err := ignorefile.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf(".dockerignore: %w", err)
	}
	if len(patterns) == 0 {
		return nil, nil
	}
	pm, err := patternmatcher.New(patterns)
	if err != nil {
		return nil, fmt.Errorf(".dockerignore: %w", err)
	}
	return pm, nil
}
