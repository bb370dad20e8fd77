//go:build !unix

package sqlite

// writeProblem finds nothing where the file system cannot be asked; the
// SQLite error code alone then says what went wrong.
func writeProblem(string) string { return "" }
