// Package deploy holds the files an operator deploys credbroker with, and
// their tests (no code of its own):
//
//   - credbroker.yaml: a production settings file for serve --config;
//   - systemd/credbroker.service: a sandboxed systemd unit;
//   - Dockerfile: a static binary on an empty image, run as a non-root user;
//   - kubernetes/credbroker.yaml: a Deployment of three brokers on one
//     PostgreSQL database, the URL and the master key from a Secret,
//     readiness on /readyz.
//
// The tests check each file structurally, verify the unit with
// systemd-analyze, build the binary the Dockerfile describes and check it
// is static, and start it with the Kubernetes example's settings.
package deploy
