// The standard grpc.health.v1.Health service: Check answers SERVING for the
// whole server ("") and for statehouse.v1.StatehouseService; Watch sends the
// status now and NOT_SERVING when shutdown begins.
import { Code, type ServiceImpl } from "@connectrpc/connect";
import { ErrorCode, type GrpcHealth, HealthCheckResponse_ServingStatus, RetentionService, StatehouseService } from "@statehouse/api";
import { abortReason, rpcError, toRpcError, type ErrorLogger } from "./rpc-errors.js";
import type { StreamSlots } from "./stream-slots.js";

export interface HealthServiceDeps {
  log: ErrorLogger;
  streams: StreamSlots;
  /** Aborted when shutdown begins. */
  shutdownSignal: AbortSignal;
}

const SERVICES = new Set(["", StatehouseService.typeName, RetentionService.typeName]);

export function createHealthService(deps: HealthServiceDeps): ServiceImpl<typeof GrpcHealth> {
  function status(service: string): HealthCheckResponse_ServingStatus {
    if (!SERVICES.has(service)) {
      throw rpcError(Code.NotFound, ErrorCode.INVALID_REQUEST, `unknown service ${JSON.stringify(service)}`, { field: "service" });
    }
    return deps.shutdownSignal.aborted ? HealthCheckResponse_ServingStatus.NOT_SERVING : HealthCheckResponse_ServingStatus.SERVING;
  }

  return {
    check(req) {
      return { status: status(req.service) };
    },
    async *watch(req, ctx) {
      try {
        using _slot = deps.streams.acquire();
        yield { status: status(req.service) };
        if (deps.shutdownSignal.aborted) return;
        const signal = AbortSignal.any([ctx.signal, deps.shutdownSignal]);
        await new Promise<void>((resolve) => signal.addEventListener("abort", () => resolve(), { once: true }));
        if (ctx.signal.aborted) throw abortReason(ctx.signal);
        yield { status: HealthCheckResponse_ServingStatus.NOT_SERVING };
      } catch (error) {
        throw toRpcError(error, deps.log, "grpc.health.v1.Health/Watch");
      }
    },
  };
}
