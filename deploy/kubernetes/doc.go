// Package kubernetes holds no code: its YAML files are Kubernetes
// manifests for distributed Flurry (a StatefulSet of three JetStream NATS
// servers, Deployments of controllers and gateways, a DaemonSet of
// invokers on nodes with Docker Engine), and secrets.sh prints the
// Secrets they mount. Its test parses the manifests and checks that they
// hold together: every name referenced exists, every port a flag or probe
// names is one the container declares, every credential a flag reads is
// mounted. The manifests have not been applied to a cluster
// (docs/operations.md).
package kubernetes
