// Package flurryv1 is Flurry's wire contract: the gRPC services
// ActionService, InvocationService, ActivationService, DeadLetterService and
// AdminService (namespace administration, ADR 022), their messages, the
// grpc-gateway REST bindings (under /v1/namespaces/{namespace}/... and
// /v1/admin/...) and the merged OpenAPI document (OpenAPI).
//
// Everything here except doc.go and openapi.go is generated from the .proto
// files beside it by scripts/proto.sh (buf with plugins pinned in go.mod) and
// committed; scripts/check-proto.sh fails when the committed code drifts.
// This package holds no logic: the gateway implements the services.
package flurryv1
