// Moved to @statehouse/test-services (shared by the bench and the tests that start services).
export { ensureAptPackages, type AptNeed } from "@statehouse/test-services";
