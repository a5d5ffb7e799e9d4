// Moved to @statehouse/test-services (shared by the bench and the tests that start services).
export { freePort } from "@statehouse/test-services";
