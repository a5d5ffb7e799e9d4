// The generated statehouse.v1 API (protoc-gen-es output under ./gen, never
// edited, never committed: `npm run generate` writes it). This module is the
// single place the daemon, the SDK, e2e and bench import it from; the
// generated module *is* this package's public surface, hence the re-export.
export * from "./gen/statehouse/v1/statehouse_pb.js";
export * from "./gen/statehouse/v1/auth_pb.js";
export * from "./gen/statehouse/v1/retention_pb.js";
export * from "./gen/statehouse/v1/backup_pb.js";
export {
  file_grpc_health_v1_health,
  HealthCheckRequestSchema,
  HealthCheckResponseSchema,
  HealthCheckResponse_ServingStatus,
  Health as GrpcHealth,
} from "./gen/grpc/health/v1/health_pb.js";
export type { HealthCheckRequest, HealthCheckResponse } from "./gen/grpc/health/v1/health_pb.js";
