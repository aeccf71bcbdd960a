package databases

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/spacepods/spacepods/internal/spacepods"
)

// runSeed runs seed on conn in one transaction through the simple query
// protocol, so that the seed may hold many statements. A statement that fails
// becomes an EINVALID error with PostgreSQL's message and where in the seed it
// happened.
func runSeed(ctx context.Context, conn *pgx.Conn, seed string) error {
	if _, err := conn.Exec(ctx, "BEGIN"); err != nil {
		return err
	}
	mrr := conn.PgConn().Exec(ctx, seed)
	done := 0
	for mrr.NextResult() {
		if _, err := mrr.ResultReader().Close(); err == nil {
			done++
		}
	}
	if err := mrr.Close(); err != nil {
		_, _ = conn.Exec(ctx, "ROLLBACK")
		return seedError(seed, done, err)
	}
	_, err := conn.Exec(ctx, "COMMIT")
	if err != nil {
		return seedError(seed, done, err)
	}
	return nil
}

// seedError turns a PostgreSQL error from the seed into an EINVALID error
// saying where: the exact line and column when the server reports a position
// (syntax and name errors), else the line where the failing statement starts
// (done statements had completed before it).
func seedError(seed string, done int, err error) error {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return fmt.Errorf("run seed: %w", err)
	}
	var where string
	switch starts := statementStarts(seed); {
	case pgErr.Position > 0:
		line, col := lineCol(seed, charOffset(seed, int(pgErr.Position)-1))
		where = fmt.Sprintf("line %d, column %d", line, col)
	case done < len(starts):
		line, _ := lineCol(seed, starts[done])
		where = fmt.Sprintf("statement %d, starting at line %d", done+1, line)
	default:
		where = "commit"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "seed SQL failed at %s: %s (SQLSTATE %s)", where, pgErr.Message, pgErr.Code)
	if pgErr.Detail != "" {
		fmt.Fprintf(&b, "; detail: %s", pgErr.Detail)
	}
	if pgErr.Hint != "" {
		fmt.Fprintf(&b, "; hint: %s", pgErr.Hint)
	}
	if pgErr.Where != "" {
		fmt.Fprintf(&b, "; context: %s", pgErr.Where)
	}
	return spacepods.Errorf(spacepods.EINVALID, "%s", b.String())
}

// charOffset returns the byte offset of the n-th (0-based) character of s;
// PostgreSQL counts positions in characters.
func charOffset(s string, n int) int {
	for i := range s {
		if n == 0 {
			return i
		}
		n--
	}
	return len(s)
}

// lineCol returns the 1-based line and character column of byte offset off.
func lineCol(s string, off int) (line, col int) {
	if off > len(s) {
		off = len(s)
	}
	before := s[:off]
	line = strings.Count(before, "\n") + 1
	lineStart := strings.LastIndexByte(before, '\n') + 1
	return line, utf8.RuneCountInString(before[lineStart:]) + 1
}

// statementStarts returns the byte offsets at which the non-empty statements
// of sql start, skipping comments and whitespace and not splitting inside
// string literals, quoted identifiers or dollar-quoted bodies. It is only used
// to point at a failing statement, so best effort (BEGIN ATOMIC bodies are
// not understood) is enough.
func statementStarts(sql string) []int {
	var starts []int
	start := -1
	i := 0
	for i < len(sql) {
		c := sql[i]
		switch {
		case c == '-' && strings.HasPrefix(sql[i:], "--"):
			if j := strings.IndexByte(sql[i:], '\n'); j >= 0 {
				i += j + 1
			} else {
				i = len(sql)
			}
			continue
		case c == '/' && strings.HasPrefix(sql[i:], "/*"):
			i = skipBlockComment(sql, i)
			continue
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f':
			i++
			continue
		case c == ';':
			if start >= 0 {
				starts = append(starts, start)
				start = -1
			}
			i++
			continue
		}
		if start < 0 {
			start = i
		}
		switch {
		case c == '\'':
			escapes := i > 0 && (sql[i-1] == 'E' || sql[i-1] == 'e') && (i < 2 || !identChar(sql[i-2]))
			i = skipQuoted(sql, i, '\'', escapes)
		case c == '"':
			i = skipQuoted(sql, i, '"', false)
		case c == '$' && (i == 0 || !identChar(sql[i-1])):
			i = skipDollar(sql, i)
		case identChar(c):
			for i < len(sql) && (identChar(sql[i]) || sql[i] == '$') {
				i++
			}
		default:
			i++
		}
	}
	if start >= 0 {
		starts = append(starts, start)
	}
	return starts
}

func identChar(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c >= 0x80
}

// skipBlockComment returns the offset after the (nestable) comment at i.
func skipBlockComment(s string, i int) int {
	depth := 0
	for i < len(s) {
		switch {
		case strings.HasPrefix(s[i:], "/*"):
			depth++
			i += 2
		case strings.HasPrefix(s[i:], "*/"):
			depth--
			i += 2
			if depth == 0 {
				return i
			}
		default:
			i++
		}
	}
	return i
}

// skipQuoted returns the offset after the literal opened by q at i; a doubled
// q is an escaped q, and so is a backslash-escaped one in E-prefixed strings.
func skipQuoted(s string, i int, q byte, backslash bool) int {
	i++
	for i < len(s) {
		switch {
		case backslash && s[i] == '\\':
			i += 2
		case s[i] == q && i+1 < len(s) && s[i+1] == q:
			i += 2
		case s[i] == q:
			return i + 1
		default:
			i++
		}
	}
	return i
}

// skipDollar returns the offset after the $tag$…$tag$ body at i, or i+1 when
// the '$' opens none (a parameter like $1).
func skipDollar(s string, i int) int {
	j := i + 1
	if j < len(s) && s[j] >= '0' && s[j] <= '9' {
		return i + 1
	}
	for j < len(s) && identChar(s[j]) {
		j++
	}
	if j >= len(s) || s[j] != '$' {
		return i + 1
	}
	tag := s[i : j+1]
	if k := strings.Index(s[j+1:], tag); k >= 0 {
		return j + 1 + k + len(tag)
	}
	return len(s)
}
