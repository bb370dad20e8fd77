// Package bench is credbroker's benchmark suite: the load runs, the
// in-process scenarios, the statistics, the figures and the report that
// scripts/bench writes to BENCHMARKS.md.
//
// The load generator is vegeta (github.com/tsenart/vegeta/v12), used as a
// library in closed loop: a fixed number of keep-alive connections, each
// sending its next request as soon as the previous one was answered. The
// same generator, with the same settings, drives credbroker and the
// baseline of each scenario in the same run, so that the ratio between
// them says what credbroker costs on top of the floor.
//
// This directory is a module of its own (go.mod here, with a replace
// directive to the repository root), so that vegeta and what it brings stay
// out of the requirements of the credbroker module and its binary. Its
// tests run from this directory: scripts/test and scripts/bench do so.
//
// The suite itself is TestSuite in suite_test.go, behind the build tag
// "bench" so that it never runs as part of scripts/test: it starts the real
// peers of package internal/testpeers (MinIO for STS, ec2-metadata-mock,
// PostgreSQL) on loopback, the credbroker binary, and the baselines. The
// plain tests of this package check the building blocks and the two exact
// properties that scripts/test keeps asserting: a simulated hour of one
// 900-second session costs at most five STS calls and never serves an
// expired credential.
package bench
