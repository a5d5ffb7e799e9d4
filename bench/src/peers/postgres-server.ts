// Moved to @statehouse/test-services (shared by the bench and the tests that start services).
export { ensurePostgresInstalled, startPostgres, type PostgresServer } from "@statehouse/test-services";
