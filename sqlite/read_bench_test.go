package sqlite_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/credbroker/credbroker"
	"github.com/credbroker/credbroker/sqlite"
)

// BenchmarkReadConnector measures the store read a broker makes when its
// connector cache has expired: one connector by name among n, in
// parallel on the read-only connections. The inserts are not timed.
func BenchmarkReadConnector(b *testing.B) {
	for _, n := range []int{100, 1000} {
		b.Run(fmt.Sprintf("connectors=%d", n), func(b *testing.B) {
			ctx := context.Background()
			s, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "bench.db"))
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { s.Close() })
			for i := range n {
				c := &credbroker.Connector{
					ID: fmt.Sprintf("con_%016x", i), Name: fmt.Sprintf("deploy-%05d", i),
					Principal: credbroker.PrincipalAssumedRole, Base: credbroker.BaseKeys, Region: "us-east-1",
					RoleARN: "arn:aws:iam::123456789012:role/deploy", Secret: credbroker.Sealed{KeyVersion: 1, Blob: make([]byte, 80)},
					PolicyARNs: []string{"arn:aws:iam::aws:policy/ReadOnlyAccess"}, AllowPlans: []string{"OPS-*"},
					Scope: credbroker.Scope{Kind: credbroker.ScopeProject, Key: "OPS"},
				}
				if err := s.CreateConnector(ctx, c, nil); err != nil {
					b.Fatal(err)
				}
			}
			names := make([]string, n)
			for i := range names {
				names[i] = fmt.Sprintf("deploy-%05d", i)
			}
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				i := 0
				for pb.Next() {
					if _, err := s.GetConnector(ctx, names[i%n]); err != nil {
						b.Error(err)
						return
					}
					i += 7
				}
			})
		})
	}
}
