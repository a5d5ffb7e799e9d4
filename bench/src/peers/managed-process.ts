// Moved to @statehouse/test-services (shared by the bench and the tests that start services).
export { ManagedProcess, waitFor, type ManagedProcessOptions } from "@statehouse/test-services";
